// etcd v3 as flanneld v0.20.2 speaks it, through etcd's gRPC gateway (JSON over HTTP(S) on the
// client port: /v3/kv/range, /v3/kv/put, /v3/kv/txn, /v3/kv/deleterange, /v3/lease/grant,
// /v3/lease/timetolive, /v3/watch): clientv3's silent retries, its retry-interceptor warning on
// cancel, and flannel's subnet/etcd/registry.go (a new lease grant per create and renewal; only
// the first event of a watch response read).
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { RequestOptions } from 'node:https';
import { type Endpoint, type EtcdClientConfig, EtcdHttpClient, type HttpResponse } from './etcd-http.ts';
import { log } from './glog.ts';
import { errCanceled, isCanceled, sleep } from './go-context.ts';
import { GoError } from './go-errors.ts';
import { nowNs } from './go-time.ts';
import { type IP4Net, parseSubnetKey } from './ip4.ts';
import { http, https } from './node-builtins.ts';
import {
  joinPath,
  type Lease,
  type LeaseAttrs,
  type LeaseSnapshot,
  leaseAttrsJSON,
  parseLeaseAttrs,
  type Registry,
  removedLease,
  type WatchStep,
} from './subnet-lease.ts';

/** The gateway's JSON (int64s as strings, bytes as base64), the fields the stand-in reads. */
interface V3Header {
  revision: string;
}
interface V3KeyValue {
  key: string;
  value?: string;
  lease?: string;
  mod_revision?: string;
}
interface V3RangeResponse {
  header: V3Header;
  kvs?: V3KeyValue[];
}
interface V3Event {
  type?: 'PUT' | 'DELETE';
  kv: V3KeyValue;
}
interface V3WatchResponse {
  header: V3Header;
  events: V3Event[];
}

// v0.20.2 speaks etcd's v3 gRPC API. The stand-in speaks the same API through etcd's gRPC
// gateway (JSON over HTTP(S) on the client port, /v3/... in etcd 3.4): no dependency, the same
// key space, the same lease grants, the same watch revisions.
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

const unb64 = (s: string | undefined): string => Buffer.from(s || '', 'base64').toString('utf8');

/** clientv3.WithPrefix's range end: the key with its last byte incremented. */
function prefixEnd(key: string): string {
  const b = Buffer.from(key, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1).toString('base64');
    }
  }
  return b64('\0');
}

/** What the Go client's retry interceptor would say about the last failed connection. */
function grpcConnectionError(msg: string): string {
  if (/connect: |dial tcp|i\/o timeout/.test(msg))
    return `connection error: desc = "transport: Error while dialing ${msg}"`;
  if (/x509|tls: /.test(msg)) return `connection error: desc = "transport: authentication handshake failed: ${msg}"`;
  return 'connection closed';
}

/**
 * clientv3 as flannel v0.20.2 configures it, over the gateway: a request goes to every endpoint
 * in turn and, while none answers, is retried every second without a word and without a
 * deadline (the real client blocks in its balancer; flanneld logs nothing). Without both a
 * client certificate and a key, flanneld drops TLS altogether (its CA file is then ignored).
 */
class EtcdV3Client extends EtcdHttpClient {
  /** no client certificate: TLS dropped */
  private readonly plain: boolean;
  private readonly username: string;
  private readonly password: string;
  /** the last connection failure, for the retry interceptor's line at cancel time */
  private lastFailure: { ep: Endpoint; msg: string } | null;

  constructor(cfg: EtcdClientConfig) {
    super(cfg);
    this.plain = !(cfg.tls?.cert && cfg.tls.key);
    if (this.plain) this.tls = {};
    this.username = cfg.username;
    this.password = cfg.password;
    this.auth = null;
    this.lastFailure = null;
  }

  /** The endpoint as the gRPC dial sees it: https without certificates is dialled in plain text. */
  dialable(ep: Endpoint): Endpoint {
    return this.plain && ep.protocol === 'https:' ? { ...ep, protocol: 'http:', port: ep.port || '443' } : ep;
  }

  /** One gateway call (POST path with a JSON body): the decoded response. */
  async call<R>(path: string, body: unknown, signal: AbortSignal): Promise<R> {
    if (this.username && !this.auth && path !== '/v3/auth/authenticate') {
      const r = await this.call<{ token: string }>(
        '/v3/auth/authenticate',
        { name: this.username, password: this.password },
        signal,
      );
      this.auth = r.token;
    }
    for (;;) {
      const n = this.endpoints.length;
      for (let i = 0; i < n; i++) {
        const k = (this.pinned + i) % n;
        const ep = this.endpoints[k]!;
        let res: HttpResponse;
        try {
          res = await this.once(this.dialable(ep), 'POST', path, {}, null, signal, body);
        } catch (e) {
          if (isCanceled(e)) throw e;
          this.lastFailure = { ep, msg: (e as Error).message };
          continue;
        }
        if (res.status === 200) {
          this.pinned = k;
          this.lastFailure = null;
          try {
            return JSON.parse(res.body) as R;
          } catch {
            this.lastFailure = { ep, msg: 'connection closed' };
            continue;
          }
        }
        let msg = '';
        try {
          const b = JSON.parse(res.body) as { message?: string; error?: string };
          msg = b.message || b.error || '';
        } catch {
          // not the gateway (a v2-only etcd or another server): the gRPC dial would fail
          this.lastFailure = { ep, msg: 'connection closed' };
          continue;
        }
        throw new GoError(msg || `etcdserver: HTTP ${res.status}`);
      }
      if (!(await sleep(1000, signal))) throw errCanceled;
    }
  }

  /** The retry interceptor's warning, printed when a call that never got through is cancelled. */
  retryWarning(): string | null {
    if (!this.lastFailure) return null;
    const ep = this.lastFailure.ep;
    const hostport = `${ep.hostname}:${ep.port || (ep.protocol === 'https:' ? 443 : 80)}`;
    return JSON.stringify({
      level: 'warn',
      ts: new Date().toISOString(),
      logger: 'etcd-client',
      caller: 'v3/retry_interceptor.go:62',
      msg: 'retrying of unary invoker failed',
      target: `etcd-endpoints://0xc000326a80/${hostport}`,
      attempt: 0,
      error: `rpc error: code = Canceled desc = latest balancer error: last connection error: ${grpcConnectionError(this.lastFailure.msg)}`,
    });
  }

  /** A watch: a long-lived POST /v3/watch whose chunks are {"result": WatchResponse} lines. */
  watch(key: string, rangeEnd: string | null, startRevision: number): V3Watch {
    return new V3Watch(this, key, rangeEnd, startRevision);
  }
}

/**
 * One etcd v3 watch. Responses with events are queued for next(); a broken stream is reopened
 * after a second from the revision after the last one seen, silently, as clientv3 does.
 */
class V3Watch {
  /** the revision the stream is (re)opened at */
  private next_: number;
  private readonly queue: V3WatchResponse[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  private req: ClientRequest | null = null;
  /** the revision of the last response handed out (EtcdV3Registry's) */
  cursor: number | undefined;

  constructor(
    private readonly client: EtcdV3Client,
    private readonly key: string,
    private readonly rangeEnd: string | null,
    startRevision: number,
  ) {
    this.next_ = startRevision;
    this.open();
  }

  open(): void {
    if (this.closed) return;
    const c = this.client;
    const ep = c.dialable(c.endpoints[c.pinned]!);
    const create: Record<string, string> = { key: b64(this.key), start_revision: String(this.next_) };
    if (this.rangeEnd) create.range_end = this.rangeEnd;
    const body = JSON.stringify({ create_request: create });
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    };
    if (c.auth) headers.Authorization = c.auth;
    const opts: RequestOptions = {
      protocol: ep.protocol,
      hostname: ep.hostname.replace(/^\[|\]$/g, ''),
      port: ep.port || (ep.protocol === 'https:' ? 443 : 80),
      method: 'POST',
      path: `${ep.pathname.replace(/\/$/, '')}/v3/watch`,
      headers,
      agent: false,
    };
    if (ep.protocol === 'https:') Object.assign(opts, c.tls);
    const request = (ep.protocol === 'https:' ? https.request : http.request) as (
      o: RequestOptions,
      cb: (res: IncomingMessage) => void,
    ) => ClientRequest;
    let buf = '';
    const broken = (): void => {
      if (this.req !== req) return;
      this.req = null;
      // another member next time, as the balancer would
      c.pinned = (c.pinned + 1) % c.endpoints.length;
      setTimeout(() => this.open(), 1000).unref();
    };
    let req: ClientRequest;
    try {
      req = request(opts, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          for (nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) this.onLine(line);
          }
        });
        res.on('end', broken);
        res.on('error', broken);
        res.on('close', broken);
      });
    } catch {
      setTimeout(() => this.open(), 1000).unref();
      return;
    }
    this.req = req;
    req.on('error', broken);
    req.end(body);
  }

  private onLine(line: string): void {
    let msg: { result?: V3WatchResponse };
    try {
      msg = JSON.parse(line) as { result?: V3WatchResponse };
    } catch {
      return;
    }
    const r = msg.result;
    if (!r?.events || r.events.length === 0) return;
    this.next_ = Number(r.header.revision) + 1;
    this.queue.push(r);
    if (this.wake) this.wake();
  }

  /** The next response that holds events. */
  next(signal: AbortSignal): Promise<V3WatchResponse> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (signal.aborted) return reject(errCanceled);
        if (this.queue.length > 0) {
          signal.removeEventListener('abort', check);
          this.wake = null;
          return resolve(this.queue.shift()!);
        }
        this.wake = check;
      };
      signal.addEventListener('abort', check, { once: true });
      check();
    });
  }

  close(): void {
    this.closed = true;
    if (this.req) {
      const r = this.req;
      this.req = null;
      r.destroy();
    }
  }
}

/** A v3 key-value as flannel's subnet.Lease; the expiration from the lease's TimeToLive. */
async function kvToLease(client: EtcdV3Client, kv: V3KeyValue, signal: AbortSignal): Promise<Lease> {
  const key = unb64(kv.key);
  const sn = parseSubnetKey(key);
  if (!sn) throw new GoError(`failed to parse subnet key ${key}`);
  const attrs = parseLeaseAttrs(unb64(kv.value));
  let expiration = 0n;
  if (kv.lease && kv.lease !== '0') {
    const ttl = await client.call<{ TTL: string }>('/v3/lease/timetolive', { ID: kv.lease }, signal);
    const s = Number(ttl.TTL);
    if (s > 0) expiration = nowNs() + BigInt(s) * 1000000000n;
  }
  return { subnet: sn, attrs, expiration, asof: Number(kv.mod_revision || 0) };
}

/** subnet/etcd/registry.go of v0.20.2: every create and update grants a new lease of its own. */
export class EtcdV3Registry implements Registry {
  private readonly prefix: string;
  readonly client: EtcdV3Client;
  private readonly watches = new Map<string, V3Watch>();

  constructor(cfg: EtcdClientConfig) {
    this.prefix = cfg.prefix;
    this.client = new EtcdV3Client(cfg);
  }

  close(): void {
    for (const w of this.watches.values()) w.close();
    this.client.close();
  }

  /** The client's warning about a call cancelled before it got through. */
  retryWarning(): string | null {
    return this.client.retryWarning();
  }

  subnetKey(sn: IP4Net): string {
    return joinPath(this.prefix, 'subnets', sn.key());
  }

  async getNetworkConfig(signal: AbortSignal): Promise<string> {
    const r = await this.client.call<V3RangeResponse>(
      '/v3/kv/range',
      { key: b64(joinPath(this.prefix, 'config')) },
      signal,
    );
    if (!r.kvs || r.kvs.length === 0)
      throw new GoError('flannel config not found in etcd store. Did you create your config using etcdv3 API?');
    return unb64(r.kvs[0]!.value);
  }

  async getSubnets(signal: AbortSignal): Promise<LeaseSnapshot> {
    const key = joinPath(this.prefix, 'subnets');
    const r = await this.client.call<V3RangeResponse>(
      '/v3/kv/range',
      { key: b64(key), range_end: prefixEnd(key) },
      signal,
    );
    const leases: Lease[] = [];
    for (const kv of r.kvs || []) {
      try {
        leases.push(await kvToLease(this.client, kv, signal));
      } catch (e) {
        if (isCanceled(e)) throw e;
        log.warn('registry.go:218', `Ignoring bad subnet node: ${(e as Error).message}`);
      }
    }
    return { leases, index: Number(r.header.revision) };
  }

  async getSubnet(sn: IP4Net, signal: AbortSignal): Promise<{ lease: Lease; index: number }> {
    const r = await this.client.call<V3RangeResponse>('/v3/kv/range', { key: b64(this.subnetKey(sn)) }, signal);
    if (!r.kvs || r.kvs.length === 0) throw new GoError('key not found');
    return { lease: await kvToLease(this.client, r.kvs[0]!, signal), index: Number(r.header.revision) };
  }

  async grant(ttlSeconds: number, signal: AbortSignal): Promise<{ id: string; ttl: number }> {
    const g = await this.client.call<{ ID: string; TTL: string }>(
      '/v3/lease/grant',
      { TTL: String(ttlSeconds) },
      signal,
    );
    return { id: g.ID, ttl: Number(g.TTL) };
  }

  async createSubnet(sn: IP4Net, attrs: LeaseAttrs, ttlSeconds: number, signal: AbortSignal): Promise<bigint> {
    const key = b64(this.subnetKey(sn));
    const g = await this.grant(ttlSeconds, signal);
    const r = await this.client.call<{ succeeded?: boolean }>(
      '/v3/kv/txn',
      {
        compare: [{ key, target: 'VERSION', result: 'EQUAL', version: '0' }],
        success: [{ request_put: { key, value: b64(leaseAttrsJSON(attrs)), lease: g.id } }],
      },
      signal,
    );
    if (!r.succeeded) {
      await this.client.call('/v3/lease/revoke', { ID: g.id }, signal).catch(() => {});
      throw errKeyExists;
    }
    return nowNs() + BigInt(g.ttl) * 1000000000n;
  }

  async updateSubnet(
    sn: IP4Net,
    attrs: LeaseAttrs,
    ttlSeconds: number,
    _asof: number,
    signal: AbortSignal,
  ): Promise<bigint> {
    const put: Record<string, string> = { key: b64(this.subnetKey(sn)), value: b64(leaseAttrsJSON(attrs)) };
    let exp = 0n;
    if (ttlSeconds > 0) {
      const g = await this.grant(ttlSeconds, signal);
      put.lease = g.id;
      exp = nowNs() + BigInt(g.ttl) * 1000000000n;
    }
    await this.client.call('/v3/kv/put', put, signal);
    return exp;
  }

  async deleteSubnet(sn: IP4Net, signal: AbortSignal): Promise<void> {
    await this.client.call('/v3/kv/deleterange', { key: b64(this.subnetKey(sn)) }, signal);
  }

  /**
   * The next watch response after `since` (the first one replays revision `since` itself, as
   * clientv3.WithRev(since) does). Like v0.20.2, only the first event of a response is read:
   * the others (two leases put or deleted in one transaction, a revoked lease's keys) are lost.
   */
  async nextEvent(
    name: string,
    key: string,
    rangeEnd: string | null,
    since: number,
    signal: AbortSignal,
  ): Promise<WatchStep> {
    let w = this.watches.get(name);
    if (!w || w.cursor !== since) {
      if (w) w.close();
      w = this.client.watch(key, rangeEnd, since);
      this.watches.set(name, w);
    }
    const resp = await w.next(signal);
    w.cursor = Number(resp.header.revision);
    const ev = resp.events[0]!;
    const k = unb64(ev.kv.key);
    const sn = parseSubnetKey(k);
    if (!sn) throw new GoError(`${ev.type || 'PUT'} ${JSON.stringify(k)}: not a subnet, skipping`);
    if (ev.type === 'DELETE') return { event: removedLease(sn), index: w.cursor };
    return { event: { type: 'added', lease: await kvToLease(this.client, ev.kv, signal) }, index: w.cursor };
  }

  watchSubnets(since: number, signal: AbortSignal): Promise<WatchStep> {
    const key = joinPath(this.prefix, 'subnets');
    return this.nextEvent('subnets', key, prefixEnd(key), since, signal);
  }

  watchSubnet(since: number, sn: IP4Net, signal: AbortSignal): Promise<WatchStep> {
    return this.nextEvent(`subnet ${sn}`, this.subnetKey(sn), null, since, signal);
  }
}

export const errKeyExists = new GoError('key already exists');
