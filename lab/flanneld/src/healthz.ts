// main.mustRunHealthz: GET /healthz -> 200 "flanneld is running", other paths 404, unclean paths
// redirected as Go's ServeMux does, Go's header order, a dual-stack listener for 0.0.0.0 ("*:2401"
// in ss); a port in use -> Go's panic, exit 2.
import type { Server } from 'node:http';
import { log } from './glog.ts';
import type { FlagSet } from './go-flags.ts';
import { exitNow } from './host-commands.ts';
import { http } from './node-builtins.ts';
import { T } from './version.ts';

const BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: 'bind: address already in use',
  EADDRNOTAVAIL: 'bind: cannot assign requested address',
  EACCES: 'bind: permission denied',
};

/** Go's net/http ServeMux: /healthz only; unclean paths are redirected. */
export function startHealthz(opts: FlagSet): Server {
  const hip = opts.get('healthz-ip');
  const port = opts.get('healthz-port');
  const address = hip.includes(':') ? `[${hip}]:${port}` : `${hip}:${port}`;
  log.info(T('main.go:587', 'main.go:522'), `Start healthz server on ${address}`);
  const server = http.createServer((req, res) => {
    res.removeHeader('Connection');
    const url = req.url || '/';
    const q = url.indexOf('?');
    const p = q >= 0 ? url.slice(0, q) : url;
    const clean = cleanURLPath(p);
    const date = new Date().toUTCString();
    if (req.method !== 'CONNECT' && clean !== p) {
      const loc = clean + (q >= 0 ? url.slice(q) : '');
      const body = req.method === 'GET' || req.method === 'HEAD' ? `<a href="${loc}">Moved Permanently</a>.\n\n` : '';
      const h = ['Content-Type', 'text/html; charset=utf-8', 'Location', loc, 'Date', date];
      if (body) h.push('Content-Length', String(Buffer.byteLength(body)));
      res.writeHead(301, h);
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    if (p === '/healthz') {
      res.writeHead(200, ['Date', date, 'Content-Length', '19', 'Content-Type', 'text/plain; charset=utf-8']);
      return res.end(req.method === 'HEAD' ? undefined : 'flanneld is running');
    }
    res.writeHead(404, [
      'Content-Type',
      'text/plain; charset=utf-8',
      'X-Content-Type-Options',
      'nosniff',
      'Date',
      date,
      'Content-Length',
      '19',
    ]);
    res.end(req.method === 'HEAD' ? undefined : '404 page not found\n');
  });
  server.keepAliveTimeout = 0;
  const fatal = (err: NodeJS.ErrnoException): void => {
    const text = (err.code !== undefined && BIND_ERRORS[err.code]) || err.message;
    const msg = `listen tcp ${address}: ${text}`;
    log.error(T('main.go:595', 'main.go:530'), `Start healthz server error. ${msg}`);
    process.stderr.write(
      `panic: ${msg}\n\ngoroutine 23 [running]:\nmain.mustRunHealthz()\n\tflannel/main.go:596 +0x233\n`,
    );
    exitNow(2);
  };
  // Go listens on a dual-stack socket for 0.0.0.0 ("*:2401" in ss)
  const wildcard = hip === '0.0.0.0' || hip === '';
  const listen = (host: string, fallback: boolean): void => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (fallback && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) return listen('0.0.0.0', false);
      fatal(err);
    });
    server.listen({ host, port, backlog: 4096, ipv6Only: false });
  };
  listen(wildcard ? '::' : hip, wildcard);
  server.unref();
  return server;
}

/** path.Clean of a request path, as ServeMux redirects to it (the trailing slash kept). */
function cleanURLPath(p: string): string {
  if (p === '') return '/';
  if (p[0] !== '/') p = `/${p}`;
  const segs: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segs.pop();
    else segs.push(s);
  }
  let out = `/${segs.join('/')}`;
  if (p.endsWith('/') && out !== '/') out += '/';
  return out;
}
