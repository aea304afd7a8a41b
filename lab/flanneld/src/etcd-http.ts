// The HTTP(S) transport both etcd clients share: endpoints parsed as Go's url.Parse takes
// --etcd-endpoints, one request to one endpoint with Go's 1 s dial timeout and the client
// certificate, and failures reported with the texts Go's net/http and crypto/tls give
// ("dial tcp ...: connect: connection refused", "x509: certificate signed by unknown
// authority", "remote error: tls: bad certificate", "EOF", ...).
import type { Agent, ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { RequestOptions } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { errCanceled } from './go-context.ts';
import { GoError } from './go-errors.ts';
import { goQuote } from './go-json.ts';
import { goTimeRFC3339 } from './go-time.ts';
import { parseIP4 } from './ip4.ts';
import { http, https } from './node-builtins.ts';

/** An etcd endpoint as url.Parse leaves it ("protocol" with its colon, as WHATWG URL has it). */
export interface Endpoint {
  protocol: string;
  hostname: string;
  port: string;
  host: string;
  pathname: string;
  raw: string;
}

/** The client certificate, its key and the CA, as read from --etcd-certfile / -keyfile / -cafile. */
export interface TlsMaterial {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
}

/** What an etcd client (and its registry) is made from. */
export interface EtcdClientConfig {
  endpoints: string[];
  prefix: string;
  tls: TlsMaterial;
  username: string;
  password: string;
}

/** One HTTP response, its body read to the end. */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What a failed request's error text depends on beside the error. */
interface RequestInfo {
  dialTimeout: boolean;
  bodyAborted: boolean;
  /** the local address:port once connected */
  local: string | null;
  peerCert: PeerCertificate | null;
}

/** The fields of Node's request errors that decide Go's text. */
interface NetError {
  code?: string;
  syscall?: string;
  message?: string;
  cert?: { subjectaltname?: string };
}

const GO_TLS_ALERTS: Record<string, string> = {
  CLOSE_NOTIFY: 'close notify',
  UNEXPECTED_MESSAGE: 'unexpected message',
  BAD_RECORD_MAC: 'bad record MAC',
  DECRYPTION_FAILED: 'decryption failed',
  RECORD_OVERFLOW: 'record overflow',
  DECOMPRESSION_FAILURE: 'decompression failure',
  HANDSHAKE_FAILURE: 'handshake failure',
  BAD_CERTIFICATE: 'bad certificate',
  UNSUPPORTED_CERTIFICATE: 'unsupported certificate',
  CERTIFICATE_REVOKED: 'revoked certificate',
  CERTIFICATE_EXPIRED: 'expired certificate',
  CERTIFICATE_UNKNOWN: 'unknown certificate',
  ILLEGAL_PARAMETER: 'illegal parameter',
  UNKNOWN_CA: 'unknown certificate authority',
  ACCESS_DENIED: 'access denied',
  DECODE_ERROR: 'error decoding message',
  DECRYPT_ERROR: 'error decrypting message',
  PROTOCOL_VERSION: 'protocol version not supported',
  INSUFFICIENT_SECURITY: 'insufficient security level',
  INTERNAL_ERROR: 'internal error',
  USER_CANCELLED: 'user canceled',
  NO_RENEGOTIATION: 'no renegotiation',
  CERTIFICATE_REQUIRED: 'certificate required',
  UNRECOGNIZED_NAME: 'unrecognized name',
  NO_APPLICATION_PROTOCOL: 'no application protocol',
};

/** The text of the Go error net/http + crypto/tls would report for a failed request. */
export function goNetError(e: unknown, ep: Endpoint, info: RequestInfo): string {
  const err = e as NetError | null | undefined;
  const hp = `${ep.hostname.replace(/^\[|\]$/g, '')}:${ep.port || (ep.protocol === 'https:' ? 443 : 80)}`;
  const hostport =
    hp.includes(':') && hp.split(':').length > 2
      ? `[${hp.slice(0, hp.lastIndexOf(':'))}]${hp.slice(hp.lastIndexOf(':'))}`
      : hp;
  const code = err?.code;
  if (info.dialTimeout) return `dial tcp ${hostport}: i/o timeout`;
  if (info.bodyAborted) return 'unexpected EOF';
  switch (code) {
    case 'ECONNREFUSED':
      return `dial tcp ${hostport}: connect: connection refused`;
    case 'EHOSTUNREACH':
      return `dial tcp ${hostport}: connect: no route to host`;
    case 'ENETUNREACH':
      return `dial tcp ${hostport}: connect: network is unreachable`;
    case 'EADDRNOTAVAIL':
      return `dial tcp ${hostport}: connect: cannot assign requested address`;
    case 'ETIMEDOUT':
      return `dial tcp ${hostport}: connect: connection timed out`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${ep.hostname}: no such host`;
    case 'ECONNRESET':
    case 'EPIPE':
      if (err?.syscall === 'read' && info.local)
        return `read tcp ${info.local}->${hostport}: read: connection reset by peer`;
      return 'EOF';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_SIGNATURE_FAILURE':
    case 'UNABLE_TO_DECRYPT_CERT_SIGNATURE':
      return 'x509: certificate signed by unknown authority';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID': {
      const cert = info.peerCert;
      if (cert?.valid_to) {
        const now = new Date();
        const to = new Date(cert.valid_to);
        const from = new Date(cert.valid_from);
        if (code === 'CERT_HAS_EXPIRED')
          return `x509: certificate has expired or is not yet valid: current time ${goTimeRFC3339(now)} is after ${goTimeRFC3339(to)}`;
        return `x509: certificate has expired or is not yet valid: current time ${goTimeRFC3339(now)} is before ${goTimeRFC3339(from)}`;
      }
      return 'x509: certificate has expired or is not yet valid';
    }
    case 'ERR_TLS_CERT_ALTNAME_INVALID': {
      const san = err?.cert?.subjectaltname || '';
      const ips = [...san.matchAll(/IP Address:([^,\s]+)/g)].map((m) => m[1]);
      const host = ep.hostname.replace(/^\[|\]$/g, '');
      if (parseIP4(host) !== null) {
        if (ips.length === 0)
          return `x509: cannot validate certificate for ${host} because it doesn't contain any IP SANs`;
        return `x509: certificate is valid for ${ips.join(', ')}, not ${host}`;
      }
      const names = [...san.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]);
      if (names.length === 0) return 'x509: certificate relies on legacy Common Name field, use SANs instead';
      return `x509: certificate is valid for ${names.join(', ')}, not ${host}`;
    }
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_HTTP_REQUEST':
      return 'tls: first record does not look like a TLS handshake';
    case 'ERR_OSSL_X509_KEY_VALUES_MISMATCH':
      return 'tls: private key does not match public key';
    default: {
      const alert = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(.+)$/.exec(code || '');
      if (alert)
        return `remote error: tls: ${GO_TLS_ALERTS[alert[1]!] || alert[1]!.toLowerCase().replaceAll('_', ' ')}`;
      if (code === 'EPROTO' && /wrong version number/.test(err?.message as string))
        return 'tls: first record does not look like a TLS handshake';
      return err?.message ? err.message : String(e);
    }
  }
}

/**
 * url.Parse as the Go client applies it to --etcd-endpoints: "10.4.7.21:2379" (no scheme) is
 * refused at start-up; an unknown scheme fails each request.
 */
export function parseEndpoint(s: string): Endpoint {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(s);
  if (!scheme) {
    const firstSeg = s.split('/')[0]!;
    if (firstSeg.includes(':'))
      throw new GoError(`parse ${goQuote(s)}: first path segment in URL cannot contain colon`);
    return { protocol: ':', hostname: '', port: '', host: '', pathname: s, raw: s };
  }
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new GoError(`parse ${goQuote(s)}: invalid URL`);
  }
  return { protocol: u.protocol, hostname: u.hostname, port: u.port, host: u.host, pathname: u.pathname, raw: s };
}

/**
 * The HTTP side of an etcd client: its endpoints (the pinned one first), the TLS material and
 * basic auth, keep-alive agents, and one exchange with one endpoint.
 */
export class EtcdHttpClient {
  readonly endpoints: Endpoint[];
  /** the endpoint that answered last: tried first */
  pinned: number;
  tls: TlsMaterial;
  /** the Authorization header */
  auth: string | null;
  private readonly agents: Record<string, Agent>;

  constructor(cfg: EtcdClientConfig) {
    this.endpoints = cfg.endpoints.map(parseEndpoint);
    this.pinned = 0;
    this.tls = cfg.tls;
    this.auth = cfg.username ? `Basic ${Buffer.from(`${cfg.username}:${cfg.password}`).toString('base64')}` : null;
    this.agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  }

  close(): void {
    for (const a of Object.values(this.agents)) a.destroy();
  }

  /** One HTTP exchange with one endpoint: resolves {status, headers, body}; `json` is a JSON body (v3 gateway). */
  once(
    ep: Endpoint,
    method: string,
    path: string,
    query: Record<string, string>,
    form: Record<string, string> | null,
    signal: AbortSignal,
    json?: unknown,
  ): Promise<HttpResponse> {
    if (ep.protocol !== 'http:' && ep.protocol !== 'https:') {
      return Promise.reject(new GoError(`unsupported protocol scheme ${goQuote(ep.protocol.slice(0, -1))}`));
    }
    return new Promise((resolve, reject) => {
      const qs = new URLSearchParams(Object.entries(query).sort(([a], [b]) => (a < b ? -1 : 1))).toString();
      const base = ep.pathname.replace(/\/$/, '');
      const headers: Record<string, string | number> = {};
      let body: string | null = null;
      if (form) {
        body = new URLSearchParams(form).toString();
        headers['Content-Type'] = 'application/x-www-form-urlencoded';
        headers['Content-Length'] = Buffer.byteLength(body);
      } else if (json !== undefined) {
        body = JSON.stringify(json);
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = Buffer.byteLength(body);
      }
      if (this.auth) headers.Authorization = this.auth;
      const opts: RequestOptions = {
        protocol: ep.protocol,
        hostname: ep.hostname.replace(/^\[|\]$/g, ''),
        port: ep.port || (ep.protocol === 'https:' ? 443 : 80),
        method,
        path: base + path + (qs ? `?${qs}` : ''),
        headers,
        agent: this.agents[ep.protocol],
      };
      if (ep.protocol === 'https:') Object.assign(opts, this.tls);
      const info: RequestInfo = { dialTimeout: false, bodyAborted: false, local: null, peerCert: null };
      const request = (ep.protocol === 'https:' ? https.request : http.request) as (
        o: RequestOptions,
        cb: (res: IncomingMessage) => void,
      ) => ClientRequest;
      let req: ClientRequest | undefined;
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return reject(errCanceled);
        reject(new GoError(goNetError(e, ep, info)));
      };
      const onAbort = (): void => {
        req?.destroy(new Error('aborted'));
      };
      try {
        req = request(opts, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('aborted', () => {
            info.bodyAborted = true;
          });
          res.on('error', (e) => {
            info.bodyAborted = true;
            fail(e);
          });
          res.on('end', () => {
            if (settled) return;
            if (!res.complete) {
              info.bodyAborted = true;
              return fail(new Error('unexpected EOF'));
            }
            settled = true;
            signal.removeEventListener('abort', onAbort);
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('close', () => {
            if (!settled && !res.complete) {
              info.bodyAborted = true;
              fail(new Error('unexpected EOF'));
            }
          });
        });
      } catch (e) {
        return fail(e);
      }
      const sent = req;
      sent.on('socket', (sock) => {
        if (sock.connecting) {
          sock.setTimeout(1000, () => {
            info.dialTimeout = true;
            sent.destroy(new Error('dial timeout'));
          });
          sock.once('connect', () => {
            sock.setTimeout(0);
            info.local = `${sock.localAddress}:${sock.localPort}`;
          });
        } else {
          info.local = `${sock.localAddress}:${sock.localPort}`;
        }
        const tlsSock = sock as TLSSocket;
        if (typeof tlsSock.getPeerCertificate === 'function') {
          tlsSock.once('secureConnect', () => {
            try {
              info.peerCert = tlsSock.getPeerCertificate();
            } catch {
              // ignore
            }
          });
        }
      });
      sent.on('error', (e) => {
        const tlsSock = sent.socket as TLSSocket | null;
        if (ep.protocol === 'https:' && tlsSock && typeof tlsSock.getPeerCertificate === 'function' && !info.peerCert) {
          try {
            info.peerCert = tlsSock.getPeerCertificate();
          } catch {
            // ignore
          }
        }
        fail(e);
      });
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      sent.end(body ?? undefined);
    });
  }
}
