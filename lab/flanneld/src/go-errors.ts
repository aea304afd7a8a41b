// Go error values: GoError carries exactly the text the Go daemon would print (its Error()),
// and failed file operations get Go's *PathError texts ("open PATH: no such file or directory").

/** An error whose message is exactly the text the Go daemon would print. */
export class GoError extends Error {}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
};

/** The text of Go's *PathError for a failed file operation `op` on `path`. */
export function goFsError(e: unknown, op: string, path: string): string {
  if (e instanceof GoError) return e.message;
  const err = e as NodeJS.ErrnoException | null | undefined;
  const text = err?.code === undefined ? undefined : ERRNO_TEXT[err.code];
  return text ? `${err?.code === 'EISDIR' ? 'read' : op} ${path}: ${text}` : String(err?.message);
}
