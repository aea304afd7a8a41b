// Host paths under --root. The lab runs several hosts on one filesystem, each with its own
// root directory; every host path a script reads or writes (defaults and path flags alike) is
// taken under it. A path given relative to where the operator stands is not a host path.

import { posix } from 'node:path';
import { invalid } from './errors.ts';

/**
 * A host path as it lies under `root`: rooted('/tmp/x', '/opt/flannel') = '/tmp/x/opt/flannel'.
 * The path is normalised first, so `..` cannot climb out of the root.
 */
export function rooted(root: string, path: string): string {
  if (!root.startsWith('/')) throw invalid('--root', root, 'must be an absolute directory', '/tmp/lab/hdss7-21');
  if (!path.startsWith('/')) return path;
  return posix.join(posix.normalize(root), posix.normalize(path));
}

/** The host path (as the node names it) of a rooted path: unrooted('/tmp/x', '/tmp/x/opt') = '/opt'. */
export function unrooted(root: string, path: string): string {
  const r = posix.normalize(root);
  if (r === '/') return path;
  return path === r ? '/' : path.startsWith(`${r}/`) ? path.slice(r.length) : path;
}
