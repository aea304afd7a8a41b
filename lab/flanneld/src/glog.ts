// glog lines on stderr, as flanneld writes them: "I0122 12:00:00.123456    4242 main.go:244] ..."
// (severity, local time with microseconds, pid, the file:line tag of the real source), and the
// capnslog line etcd's pkg/transport prints. The tags are the ones the real daemons print (see
// the logs under tests/fixtures/ and docs/flannel-facts.md); tags of lines the observed runs never
// showed are counted from the v0.11.0 / v0.20.2 source layout.
import { nowNs, pad } from './go-time.ts';

const PID = process.pid;

type Severity = 'I' | 'W' | 'E';

/** glog header time: local time with microseconds. */
function glogTime(ns: bigint): string {
  const d = new Date(Number(ns / 1000000n));
  const us = Number((ns / 1000n) % 1000000n);
  return `${pad(d.getMonth() + 1)}${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(us, 6)}`;
}

function emit(sev: Severity, tag: string, msg: string): void {
  let line = `${sev}${glogTime(nowNs())} ${String(PID).padStart(7)} ${tag}] ${msg}`;
  if (!line.endsWith('\n')) line += '\n';
  process.stderr.write(line);
}

/** glog.Infof / Warningf / Errorf: `tag` is the real source's file:line (see version.ts's T). */
export const log = {
  info: (tag: string, msg: string): void => emit('I', tag, msg),
  warn: (tag: string, msg: string): void => emit('W', tag, msg),
  error: (tag: string, msg: string): void => emit('E', tag, msg),
};

/** The line etcd's pkg/transport prints through capnslog when a CA file is given. */
export function capnslogLine(msg: string): void {
  const ns = nowNs();
  const d = new Date(Number(ns / 1000000n));
  const us = Number((ns / 1000n) % 1000000n);
  const ts = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(us, 6)}`;
  process.stderr.write(`${ts} I | ${msg}\n`);
}
