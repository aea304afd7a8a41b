// supervisord, asked on the node: the program's state over supervisord's own XML-RPC socket
// (no process started: the cron path runs every minute), or through `supervisorctl status`
// where the Host cannot reach the socket directly (an SSH Host) or the conf names none.

import { RuntimeError } from '../core/errors.ts';
import {
  parseProcessInfoResponse,
  parseSupervisorStatus,
  processInfoRequest,
  supervisorctlArgv,
  supervisorSocketOf,
  type ProgramStatus,
} from '../model/supervisor.ts';
import type { Host } from './host.ts';

const SOCKET_TIMEOUT_MS = 2000;

export async function programStatus(
  host: Host,
  conf: string,
  program: string,
): Promise<{ status: ProgramStatus | undefined; processes: number }> {
  const text = await host.readFile(conf, { maxBytes: 1 << 20 });
  if (text === undefined) throw new RuntimeError(`supervisord config ${conf} not found: is supervisord installed?`);
  const socket = supervisorSocketOf(text, conf);
  // a Host that cannot ask the socket itself (an ssh node without python) answers undefined: supervisorctl
  const res = socket && host.localRequest ? await askSocket(host.localRequest.bind(host), socket, program) : undefined;
  if (res) {
    if (res.status !== 200) throw new RuntimeError(`supervisord answered HTTP ${res.status} on ${socket}`);
    return { status: parseProcessInfoResponse(program, res.body), processes: 0 };
  }
  const out = await host.run({
    argv: supervisorctlArgv(conf, 'status', program),
    why: 'flanneld state',
    okStatus: [1, 2, 3, 4],
    readOnly: true,
  });
  return { status: parseSupervisorStatus(out.stdout).find((s) => s.program === program), processes: 1 };
}

/** getProcessInfo over supervisord's socket; undefined when the Host cannot make such a request (ENOTSUP). */
async function askSocket(
  request: NonNullable<Host['localRequest']>,
  socket: string,
  program: string,
): Promise<{ status: number; body: string } | undefined> {
  try {
    return await request({
      socketPath: socket,
      method: 'POST',
      path: '/RPC2',
      body: processInfoRequest(program),
      contentType: 'text/xml',
      timeoutMs: SOCKET_TIMEOUT_MS,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    if (code === 'ENOTSUP') return undefined;
    throw new RuntimeError(`supervisord not answering on ${socket} (${code}): is supervisord running?`);
  }
}
