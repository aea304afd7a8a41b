// etcd access for both API versions flannel uses, over TLS, failing fast.
//   v2: the keys API over HTTP(S) (flannel v0.11-v0.17 read only this): one recursive GET
//       gives the config and every lease in ONE range read.
//   v3: etcd3 (gRPC) with a per-call deadline, because etcd3's dialTimeout is never read
//       and a blackholed host would otherwise hang a cron run for minutes.
// Every failure is an EtcdError whose `kind` says what is wrong (which TLS file, v2 off,
// unreachable), so `doctor` can name the cause and a script can exit 3 with one clear line.

import https from 'node:https';
import http from 'node:http';
import { RuntimeError, invalid } from '../core/errors.ts';
import { shellLine, shellQuote, type Command } from '../core/command.ts';
import { checkCertSet, type CertFindingId } from '../model/certs.ts';
import type { Host } from './host.ts';

export interface EtcdConnection {
  readonly endpoints: readonly string[];
  readonly cafile?: string;
  readonly certfile?: string;
  readonly keyfile?: string;
  /** whole-request deadline per endpoint (default 3000 ms) */
  readonly timeoutMs?: number;
  /** all endpoints of one request together (default ETCD_REQUEST_BUDGET_MS) */
  readonly budgetMs?: number;
}

/**
 * How long one v2 request may take over all its endpoints, tried in turn: 20 blackholed
 * endpoints at 2.5 s each held a cron run for 50 s. Two silent members and a third still get
 * asked; the endpoints left when it is spent are named as not asked.
 */
export const ETCD_REQUEST_BUDGET_MS = 6000;
/** An attempt shorter than this could not finish a TLS handshake: the budget counts as spent. */
const MIN_ATTEMPT_MS = 500;

export interface EtcdTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export type EtcdErrorKind =
  | 'unreachable' // connection refused / no route
  | 'timeout' // no answer within the deadline
  | 'tls-ca' // the server's certificate is not signed by --cafile
  | 'tls-client-cert' // the server refused our client certificate (or we sent none)
  | 'tls-scheme' // http:// to a TLS port or https:// to a plain port
  | 'tls-other'
  | 'v2-disabled' // etcd 3.4 without --enable-v2
  | 'no-quorum' // the member answered, but has no leader: its data may be stale
  | 'key-not-found'
  | 'compare-failed' // compare-and-swap lost: somebody else wrote first
  | 'http';

export class EtcdError extends RuntimeError {
  constructor(
    readonly kind: EtcdErrorKind,
    readonly endpoint: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'EtcdError';
  }
}

/** A PEM file is a few KB; one over this is not a certificate or key (a paste accident, a log). */
export const MAX_PEM_BYTES = 64 * 1024;

/**
 * Read the TLS files named by --cafile/--certfile/--keyfile, through the node's Host (in remote
 * mode they are read over the connection into memory: the key is never written here). A
 * missing or oversized file is a usage error.
 */
export async function loadTls(host: Host, conn: EtcdConnection): Promise<EtcdTls> {
  const read = async (flag: string, path?: string): Promise<Buffer | undefined> => {
    if (!path) return undefined;
    const st = await host.stat(path);
    if (!st) throw invalid(flag, path, 'cannot read (ENOENT)', '/opt/flannel/cert/ca.pem');
    if (st.type !== 'file') throw invalid(flag, path, `is not a file (${st.type})`, '/opt/flannel/cert/ca.pem');
    if (st.size > MAX_PEM_BYTES)
      throw invalid(flag, path, `is ${st.size} bytes; a PEM file is at most ${MAX_PEM_BYTES}`);
    const text = await host.readFile(path, { maxBytes: MAX_PEM_BYTES });
    if (text === undefined) throw invalid(flag, path, 'cannot read (ENOENT)', '/opt/flannel/cert/ca.pem');
    return Buffer.from(text, 'utf8');
  };
  const [ca, cert, key] = await Promise.all([
    read('--cafile', conn.cafile),
    read('--certfile', conn.certfile),
    read('--keyfile', conn.keyfile),
  ]);
  const tls = { ca, cert, key };
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    throw invalid(
      tls.cert ? '--keyfile' : '--certfile',
      conn.keyfile ?? conn.certfile ?? '',
      'client certificate and key go together',
      '--certfile client.pem --keyfile client-key.pem',
    );
  }
  return tls;
}

/** Cert findings that no etcd can accept, whatever CA it trusts: the file to fix, named before etcd is asked. */
const LOCAL_TLS_FAULTS: ReadonlyMap<CertFindingId, '--cafile' | '--certfile' | '--keyfile'> = new Map([
  ['ca-readable', '--cafile'],
  ['cert-readable', '--certfile'],
  ['key-readable', '--keyfile'],
  ['key-matches-cert', '--keyfile'],
  ['cert-validity', '--certfile'],
  ['cert-client-auth', '--certfile'],
]);

/**
 * The TLS files checked here, before a step asks etcd: a file no handshake can work with (not
 * a certificate, a key that is not the certificate's or is passphrase-protected, a certificate
 * expired or not for client auth) is a usage error naming the flag, the file and what is wrong,
 * instead of an OpenSSL error per endpoint. Which CA signed what is left to etcd to judge (it
 * may trust another CA for its clients): that failure names --cafile or --certfile as it comes.
 */
export function checkTlsFiles(tls: EtcdTls, conn: EtcdConnection, now = new Date()): void {
  if (!tls.ca || !tls.cert || !tls.key) return;
  const files = {
    ca: conn.cafile ?? 'ca.pem',
    cert: conn.certfile ?? 'client.pem',
    key: conn.keyfile ?? 'client-key.pem',
  };
  const findings = checkCertSet({
    caPem: tls.ca.toString('utf8'),
    certPem: tls.cert.toString('utf8'),
    keyPem: tls.key.toString('utf8'),
    now,
    files,
  });
  const bad = findings.find((f) => f.level === 'error' && LOCAL_TLS_FAULTS.has(f.id));
  if (!bad) return;
  const flag = LOCAL_TLS_FAULTS.get(bad.id)!;
  const file = flag === '--cafile' ? files.ca : flag === '--certfile' ? files.cert : files.key;
  const what = bad.message.startsWith(`${file}: `) ? bad.message.slice(file.length + 2) : bad.message;
  throw invalid(flag, file, `${what}; etcd was not asked`);
}

const TLS_CA_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
]);

/** Map a Node network/TLS error to what is wrong, naming the file to look at. */
export function classifyError(err: unknown, endpoint: string, conn: EtcdConnection): EtcdError {
  if (err instanceof EtcdError) return err;
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = e?.code ?? '';
  const msg = String(e?.message ?? err);
  const at = `etcd ${endpoint}`;
  if (
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EADDRNOTAVAIL'
  )
    return new EtcdError('unreachable', endpoint, `${at}: unreachable (${code})`, code);
  if (
    code === 'ETIMEDOUT' ||
    code === 'ESOCKETTIMEDOUT' ||
    code === 'ECONNABORTED' ||
    code === 'ABORT_ERR' ||
    /timeout|timed out/i.test(msg)
  )
    return new EtcdError('timeout', endpoint, `${at}: no answer within ${conn.timeoutMs ?? 3000} ms`, code);
  // trusted, but issued for other names: --cafile is right, the endpoint is not one of them
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = (e as { cert?: { subjectaltname?: string } }).cert?.subjectaltname;
    return new EtcdError(
      'tls-other',
      endpoint,
      `${at}: TLS: the server's certificate does not name ${new URL(endpoint).hostname}${names ? ` (it names ${names})` : ''}; use an endpoint address its certificate names`,
      code,
    );
  }
  if (TLS_CA_CODES.has(code))
    return new EtcdError(
      'tls-ca',
      endpoint,
      `${at}: TLS: the server's certificate is not trusted by --cafile ${conn.cafile ?? '(none given)'} (${code})`,
      code,
    );
  if (
    /alert (bad certificate|certificate required|unknown ca|handshake failure)|ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|HANDSHAKE_FAILURE)/i.test(
      msg + code,
    )
  )
    return new EtcdError(
      'tls-client-cert',
      endpoint,
      conn.certfile
        ? `${at}: TLS: the server refused the client certificate --certfile ${conn.certfile} (not signed by the CA etcd trusts, or not for client auth)`
        : `${at}: TLS: the server requires a client certificate; give --certfile and --keyfile`,
      code,
    );
  if (
    code === 'EPROTO' ||
    code === 'ECONNRESET' ||
    /wrong version number|packet length too long|socket hang up/i.test(msg)
  ) {
    const scheme = endpoint.startsWith('https')
      ? 'https:// but the port speaks plain HTTP'
      : 'http:// but the port speaks TLS (use https://)';
    return new EtcdError('tls-scheme', endpoint, `${at}: TLS: endpoint is ${scheme}`, code);
  }
  if (/ssl|tls|certificate/i.test(msg + code)) return new EtcdError('tls-other', endpoint, `${at}: TLS: ${msg}`, code);
  return new EtcdError('unreachable', endpoint, `${at}: ${msg}`, code);
}

export interface V2Response {
  readonly endpoint: string;
  readonly status: number;
  readonly body: string;
  /** X-Etcd-Index: the store's index when it answered */
  readonly etcdIndex?: number;
}

function requestOnce(
  endpoint: string,
  method: string,
  path: string,
  body: string | undefined,
  tls: EtcdTls,
  conn: EtcdConnection,
): Promise<V2Response> {
  const url = new URL(path, endpoint);
  const mod = url.protocol === 'https:' ? https : http;
  const timeoutMs = conn.timeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method,
        agent: false,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        signal: AbortSignal.timeout(timeoutMs),
        headers:
          body === undefined
            ? {}
            : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const idx = Number(res.headers['x-etcd-index']);
          resolve({
            endpoint,
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            etcdIndex: Number.isFinite(idx) ? idx : undefined,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One v2 keys API request, trying each endpoint in turn until one answers. The answer
 * (any HTTP status) is returned; only transport failures move on to the next endpoint.
 */
export async function v2Request(
  conn: EtcdConnection,
  tls: EtcdTls,
  method: 'GET' | 'PUT' | 'DELETE',
  key: string,
  params: Record<string, string | number | boolean | undefined> = {},
  form?: Record<string, string>,
): Promise<V2Response> {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.set(k, String(v));
  const path = `/v2/keys${key.startsWith('/') ? key : `/${key}`}${qs.size ? `?${qs}` : ''}`;
  const body = form ? new URLSearchParams(form).toString() : undefined;
  const failures: EtcdError[] = [];
  const budgetMs = conn.budgetMs ?? ETCD_REQUEST_BUDGET_MS;
  const deadline = Date.now() + budgetMs;
  for (const [i, endpoint] of conn.endpoints.entries()) {
    const left = deadline - Date.now();
    if (left < MIN_ATTEMPT_MS) {
      const rest = conn.endpoints.slice(i);
      failures.push(
        new EtcdError(
          'timeout',
          rest.join(','),
          `etcd ${rest.join(', ')}: not asked (the ${budgetMs / 1000} s budget of one etcd request was spent)`,
        ),
      );
      break;
    }
    const attempt = { ...conn, timeoutMs: Math.min(conn.timeoutMs ?? 3000, left) };
    try {
      const res = await requestOnce(endpoint, method, path, body, tls, attempt);
      // etcd 3.4 without --enable-v2 answers the v2 paths with a plain-text 404
      if (res.status === 404 && !res.body.trimStart().startsWith('{')) {
        throw new EtcdError(
          'v2-disabled',
          endpoint,
          `etcd ${endpoint}: the v2 API is off (etcd 3.4 needs --enable-v2=true; flannel < v0.18 reads only v2)`,
        );
      }
      // a quorum read on a member that lost its leader: not an answer for the cluster
      if (res.status >= 500) {
        const err = parseV2Error(res.body);
        throw new EtcdError(
          'no-quorum',
          endpoint,
          `etcd ${endpoint}: answered ${res.status}${err ? ` (${err.message}${err.cause ? `: ${err.cause}` : ''})` : ''}`,
        );
      }
      return res;
    } catch (e) {
      const err = classifyError(e, endpoint, attempt);
      // a definite answer about this cluster's setup is not improved by asking another member
      if (err.kind === 'v2-disabled') throw err;
      failures.push(err);
    }
  }
  throw allFailed(failures);
}

/**
 * One error for a request no endpoint answered, naming every endpoint and what each said.
 * Its kind is the one they share, else the first TLS kind (a file to fix), else unreachable.
 */
export function allFailed(failures: readonly EtcdError[]): EtcdError {
  if (failures.length === 0) return new EtcdError('unreachable', '', 'etcd: no endpoints');
  if (failures.length === 1) return failures[0]!;
  const kinds = new Set(failures.map((f) => f.kind));
  const kind =
    kinds.size === 1 ? failures[0]!.kind : (failures.find((f) => f.kind.startsWith('tls-'))?.kind ?? 'unreachable');
  const each = failures.map((f) => f.message.replace(/^etcd /, '')).join('; ');
  return new EtcdError(kind, failures.map((f) => f.endpoint).join(','), `etcd: no endpoint answered: ${each}`);
}

export interface V2Error {
  readonly errorCode: number;
  readonly message: string;
  readonly cause?: string;
  readonly index?: number;
}

/** The v2 error body (`{"errorCode":100,"message":"Key not found",...}`), if the answer is one. */
export function parseV2Error(body: string): V2Error | undefined {
  try {
    const j = JSON.parse(body);
    return typeof j?.errorCode === 'number' ? j : undefined;
  } catch {
    return undefined;
  }
}

export interface V2PutOptions {
  /** false: create only (fails if it exists); true: update only */
  readonly prevExist?: boolean;
  /** compare-and-swap on the value we read */
  readonly prevValue?: string;
  readonly prevIndex?: number;
  readonly ttl?: number;
}

/** PUT a key; a lost compare-and-swap is an EtcdError of kind 'compare-failed'. */
export async function v2Put(
  conn: EtcdConnection,
  tls: EtcdTls,
  key: string,
  value: string,
  opts: V2PutOptions = {},
): Promise<V2Response> {
  const res = await v2Request(
    conn,
    tls,
    'PUT',
    key,
    { prevExist: opts.prevExist, prevValue: opts.prevValue, prevIndex: opts.prevIndex },
    {
      value,
      ...(opts.ttl !== undefined ? { ttl: String(opts.ttl) } : {}),
    },
  );
  if (res.status === 200 || res.status === 201) return res;
  const err = parseV2Error(res.body);
  if (err && (err.errorCode === 101 || err.errorCode === 105)) {
    throw new EtcdError(
      'compare-failed',
      res.endpoint,
      `etcd: ${key} changed while we wrote it (${err.message}${err.cause ? `: ${err.cause}` : ''}); read it again and retry`,
    );
  }
  throw new EtcdError(
    'http',
    res.endpoint,
    `etcd ${res.endpoint}: PUT ${key} answered ${res.status}: ${err?.message ?? res.body.slice(0, 200)}`,
  );
}

// ---------------------------------------------------------------- command lines
// The one place etcd command lines are built (--dry-run scripts, doctor's fix lines): curl for
// the v2 keys API, etcdctl (v3) for the rest. They name the TLS files by path: key material
// never appears in a printed line.

/** TLS files as curl options (curl 7.29 has --cacert/--cert/--key). */
function curlTls(conn: EtcdConnection): string[] {
  return [
    ...(conn.cafile ? ['--cacert', conn.cafile] : []),
    ...(conn.certfile ? ['--cert', conn.certfile] : []),
    ...(conn.keyfile ? ['--key', conn.keyfile] : []),
  ];
}

/** `curl ... -X METHOD ENDPOINT/v2/keys/KEY?QUERY [--data-urlencode ...]` against one endpoint. */
export function v2CurlArgv(
  conn: EtcdConnection,
  endpoint: string,
  method: 'GET' | 'PUT' | 'DELETE',
  key: string,
  query: Record<string, string | number | boolean | undefined> = {},
  form: Record<string, string> = {},
): string[] {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
  const url = `${endpoint}/v2/keys${key}${qs.size ? `?${qs}` : ''}`;
  return [
    'curl',
    '-sS',
    '--fail-with-body',
    ...curlTls(conn),
    '-X',
    method,
    url,
    ...Object.entries(form).flatMap(([k, v]) => ['--data-urlencode', `${k}=${v}`]),
  ];
}

/** `etcdctl --endpoints=... [--cacert= --cert= --key=] ARGS...` (ETCDCTL_API=3, etcdctl's default). */
export function etcdctlArgv(conn: EtcdConnection, ...args: string[]): string[] {
  return [
    'etcdctl',
    `--endpoints=${conn.endpoints.join(',')}`,
    ...(conn.cafile ? [`--cacert=${conn.cafile}`] : []),
    ...(conn.certfile ? [`--cert=${conn.certfile}`] : []),
    ...(conn.keyfile ? [`--key=${conn.keyfile}`] : []),
    ...args,
  ];
}

/** A shell word for `ENDPOINT/v2/keys/KEY?QUERY` with the endpoint in "$ep" (the printed loops). */
function epUrl(key: string, query: Record<string, string | number | boolean | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
  return `"$ep"${shellQuote(`/v2/keys${key}${qs.size ? `?${qs}` : ''}`)}`;
}

/** `for ep in A B C; do` over the connection's endpoints. */
function forEachEndpoint(conn: EtcdConnection): string {
  return `for ep in ${conn.endpoints.map(shellQuote).join(' ')}; do`;
}

/**
 * The `curl` command equal to a v2 PUT, for --dry-run output (key material stays in its files).
 * Printed as a loop that asks each endpoint in turn, as the toolkit does, until one answers:
 * an answer other than 200/201 (412: the config changed meanwhile) stops the script.
 */
export function v2PutCommand(
  conn: EtcdConnection,
  key: string,
  value: string,
  opts: V2PutOptions,
  why: string,
): Command {
  const query = { prevExist: opts.prevExist, prevValue: opts.prevValue, prevIndex: opts.prevIndex };
  const form = { value, ...(opts.ttl !== undefined && { ttl: String(opts.ttl) }) };
  const argv = v2CurlArgv(conn, conn.endpoints[0]!, 'PUT', key, query, form);
  const curl = [
    'curl',
    '-sS',
    ...curlTls(conn),
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-X',
    'PUT',
    ...Object.entries(form).flatMap(([k, v]) => ['--data-urlencode', `${k}=${v}`]),
  ];
  const printAs = [
    'code=',
    forEachEndpoint(conn),
    `  code=$(${shellLine(curl)} ${epUrl(key, query)}) || continue`,
    '  break',
    'done',
    'case "$code" in 200|201) ;; "") echo "no etcd endpoint answered" >&2; exit 1 ;; 412) echo "etcd answered HTTP 412: the key changed meanwhile; run the step again" >&2; exit 1 ;; *) echo "etcd answered HTTP $code" >&2; exit 1 ;; esac',
  ].join('\n');
  return { argv, why, printAs };
}

/** The shell test that `key` holds exactly `value` (a pasted etcd-config's "already done?"). */
export function keyHoldsTest(conn: EtcdConnection, api: 'v2' | 'v3', key: string, value: string): string {
  if (api === 'v3')
    return `${shellLine(etcdctlArgv(conn, 'get', '--print-value-only', key))} 2>/dev/null | grep -qxF ${shellQuote(value)}`;
  // etcd's v2 JSON carries the value as a JSON string: search for it so encoded
  const needle = `"value":${JSON.stringify(value)}`;
  const get = shellLine(['curl', '-fsS', ...curlTls(conn)]);
  return `( ${forEachEndpoint(conn)} ${get} ${epUrl(key, { quorum: true })} && exit 0; done; exit 1 ) 2>/dev/null | grep -qF ${shellQuote(needle)}`;
}

/** A command line that deletes one key through `api` (doctor's lease fixes). */
export function deleteKeyArgv(conn: EtcdConnection, api: 'v2' | 'v3', key: string): string[] {
  return api === 'v2' ? v2CurlArgv(conn, conn.endpoints[0]!, 'DELETE', key) : etcdctlArgv(conn, 'del', key);
}

// ---------------------------------------------------------------- v3

export interface V3Kv {
  readonly key: string;
  readonly value: string;
  readonly lease: string;
  readonly modRevision: string;
}

type Etcd3Client = import('etcd3').Etcd3;

let dep0123Silenced = false;
/**
 * grpc-js sets the TLS server name to the endpoint's IP, and Node warns (DEP0123) on every
 * such connection: noise in cron mail that the operator can do nothing about. Only that
 * warning is dropped.
 */
function silenceDep0123(): void {
  if (dep0123Silenced) return;
  dep0123Silenced = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const opt = rest[0];
    const code = typeof opt === 'object' && opt !== null ? (opt as { code?: unknown }).code : rest[1];
    if (code === 'DEP0123') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/**
 * Run `fn` with an etcd3 client whose every unary call has a deadline, then close it.
 * The client stack is imported here, lazily: a v2-only run never loads it (etcd3-stack.ts).
 */
export async function withV3<T>(
  conn: EtcdConnection,
  tls: EtcdTls,
  fn: (client: Etcd3Client) => Promise<T>,
): Promise<T> {
  silenceDep0123();
  const { Etcd3, noop } = await import('./etcd3-stack.ts');
  const timeoutMs = conn.timeoutMs ?? 3000;
  const hosts = conn.endpoints.map((e) => e.replace(/^https?:\/\//, ''));
  let client: Etcd3Client;
  try {
    client = new Etcd3({
      hosts,
      credentials: tls.ca ? { rootCertificate: tls.ca, certChain: tls.cert, privateKey: tls.key } : undefined,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      faultHandling: { host: () => noop, global: noop },
    });
  } catch (e) {
    throw new EtcdError(
      'tls-other',
      conn.endpoints[0] ?? '',
      `etcd: cannot use the TLS files (${(e as Error).message}); check --certfile/--keyfile are a matching pair`,
    );
  }
  try {
    return await fn(client);
  } catch (e) {
    throw classifyV3Error(e, conn);
  } finally {
    client.close();
  }
}

function classifyV3Error(err: unknown, conn: EtcdConnection): EtcdError {
  if (err instanceof EtcdError) return err;
  const msg = String((err as Error)?.message ?? err);
  const endpoint = conn.endpoints.join(',');
  if (/deadline exceeded/i.test(msg))
    return new EtcdError('timeout', endpoint, `etcd ${endpoint}: no answer within ${conn.timeoutMs ?? 3000} ms (v3)`);
  if (/ECONNREFUSED|No connection established|UNAVAILABLE.*connect/i.test(msg) && !/certificate|SSL|TLS/i.test(msg))
    return new EtcdError('unreachable', endpoint, `etcd ${endpoint}: unreachable (v3): ${msg.split('\n')[0]}`);
  if (/self.signed|unable to verify|certificate verify failed|CERTIFICATE_VERIFY_FAILED/i.test(msg))
    return new EtcdError(
      'tls-ca',
      endpoint,
      `etcd ${endpoint}: TLS: the server's certificate is not trusted by --cafile ${conn.cafile ?? '(none)'}`,
    );
  if (/bad certificate|certificate required|unknown ca/i.test(msg))
    return new EtcdError(
      'tls-client-cert',
      endpoint,
      `etcd ${endpoint}: TLS: the server refused the client certificate ${conn.certfile ?? '(none given)'}`,
    );
  return new EtcdError('unreachable', endpoint, `etcd ${endpoint}: ${msg.split('\n')[0]}`);
}

/** One range read of everything under `prefix` (v3). */
export async function v3GetPrefix(conn: EtcdConnection, tls: EtcdTls, prefix: string): Promise<V3Kv[]> {
  return withV3(conn, tls, async (client) => {
    const res = await client.getAll().prefix(prefix).exec();
    return res.kvs.map((kv) => ({
      key: kv.key.toString(),
      value: kv.value.toString(),
      lease: String(kv.lease),
      modRevision: String(kv.mod_revision),
    }));
  });
}
