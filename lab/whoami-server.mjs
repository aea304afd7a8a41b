#!/usr/bin/env node
// flannel-runbook lab: answers each TCP connection with the source address it sees, then
// closes. Proves what NAT did on the way: a pod on another node must be seen by its own pod
// address (no masquerade inside the pod network), the outside host must see the node address.
// Usage: whoami-server.mjs [--listen IP] [--port N]     client: bash -c 'cat </dev/tcp/IP/N'
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { listen: { type: 'string', default: '0.0.0.0' }, port: { type: 'string', default: '7777' } },
});
const server = createServer((sock) => {
  const who = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
  console.log(`${new Date().toISOString()} ${who}:${sock.remotePort}`);
  sock.on('error', () => {});
  sock.end(`${who}\n`);
});
server.listen(Number(values.port), values.listen, () => console.log(`whoami on ${values.listen}:${values.port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
