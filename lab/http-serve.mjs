#!/usr/bin/env node
// flannel-runbook lab: a tiny static HTTP server (GET/HEAD), the cert host's stand-in for
// github.com's release downloads. Usage: http-serve.mjs --root DIR [--listen IP] [--port N]
// URL paths map to files under DIR; anything else (directories, .., missing files) is 404.
// One access-log line per request on stdout.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    listen: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '8080' },
  },
});
if (!values.root) {
  process.stderr.write('usage: http-serve.mjs --root DIR [--listen IP] [--port N]\n');
  process.exit(2);
}
const root = resolve(values.root);

const server = createServer((req, res) => {
  const done = (status) =>
    console.log(`${new Date().toISOString()} ${req.socket.remoteAddress} ${req.method} ${req.url} ${status}`);
  let path;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    path = '';
  }
  const file = resolve(root, `.${path}`);
  let st;
  if (file.startsWith(root + sep)) {
    try {
      st = statSync(file);
    } catch {}
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return done(405);
  }
  if (!st?.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
    return done(404);
  }
  res.writeHead(200, {
    'content-type': file.endsWith('.tar.gz') ? 'application/octet-stream' : 'text/plain',
    'content-length': st.size,
    'last-modified': st.mtime.toUTCString(),
  });
  done(200);
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).pipe(res);
});
server.listen(Number(values.port), values.listen, () =>
  console.log(`serving ${root} on http://${values.listen}:${values.port}/`),
);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
