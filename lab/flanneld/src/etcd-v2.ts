// etcd v2 as flanneld v0.11.0 speaks it: the Go client (coreos/etcd/client: endpoints tried in
// order from the pinned one, 5xx counted as failures, "client: etcd cluster is unavailable or
// misconfigured; error #0: ...", "100: Key not found (/coreos.com) [3]") and flannel's
// subnet/etcdv2/registry.go on top (config, subnets, create with prevExist=false, watches with
// ?wait=true&waitIndex=N).
import { type EtcdClientConfig, EtcdHttpClient, type HttpResponse } from './etcd-http.ts';
import { log } from './glog.ts';
import { isCanceled } from './go-context.ts';
import { GoError } from './go-errors.ts';
import { goJsonSyntaxError } from './go-json.ts';
import { parseRfc3339Ns } from './go-time.ts';
import { type IP4Net, parseSubnetKey } from './ip4.ts';
import { http } from './node-builtins.ts';
import {
  joinPath,
  type Lease,
  type LeaseAttrs,
  type LeaseEvent,
  type LeaseSnapshot,
  leaseAttrsJSON,
  parseLeaseAttrs,
  type Registry,
  removedLease,
  type WatchStep,
} from './subnet-lease.ts';

/** A node of the v2 keys API. */
interface V2Node {
  key: string;
  value?: string;
  expiration?: string;
  modifiedIndex: number;
  nodes?: V2Node[];
}

/** A keys API response; `index` is the X-Etcd-Index header. */
interface V2Response {
  action: string;
  node: V2Node;
  index: number;
}

/** The body of a keys API error. */
interface V2ErrorBody {
  errorCode: number;
  message?: string;
  cause?: string;
  index?: number;
}

/** An etcd v2 API error ({"errorCode":100,...}); Error() as the Go client prints it. */
class EtcdError extends GoError {
  readonly code: number;
  readonly index: number | undefined;
  constructor(body: V2ErrorBody, headerIndex: number | undefined) {
    const index = body.index ?? headerIndex;
    super(`${body.errorCode}: ${body.message} (${body.cause ?? ''}) [${index}]`);
    this.code = body.errorCode;
    this.index = index;
  }
}

const ERR_KEY_NOT_FOUND = 100;

export const ERR_EVENT_INDEX_CLEARED = 401;

export const isEtcdError = (e: unknown): e is EtcdError => e instanceof EtcdError;

/**
 * The Go etcd v2 client (coreos/etcd/client) as flannel v0.11.0 configures it: endpoints tried
 * in order from the pinned one, 1 s dial timeout, no request timeout, cluster errors joined as
 * "client: etcd cluster is unavailable or misconfigured; error #0: ...\n".
 */
export class EtcdV2Client extends EtcdHttpClient {
  /** httpClusterClient.Do: every endpoint from the pinned one; 5xx counts as a failure. */
  async do(
    method: string,
    path: string,
    query: Record<string, string>,
    form: Record<string, string> | null,
    signal: AbortSignal,
  ): Promise<HttpResponse> {
    const errors: string[] = [];
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const k = (this.pinned + i) % n;
      const ep = this.endpoints[k]!;
      let res: HttpResponse;
      try {
        res = await this.once(ep, method, path, query, form, signal);
      } catch (e) {
        if (isCanceled(e)) throw e;
        errors.push((e as Error).message);
        continue;
      }
      if (Math.floor(res.status / 100) === 5) {
        const epStr = `${ep.protocol}//${ep.host}${ep.pathname === '/' ? '' : ep.pathname}`;
        if (res.status === 500 || res.status === 503) errors.push(`client: etcd member ${epStr} has no leader`);
        else errors.push(`client: etcd member ${epStr} returns server error [${http.STATUS_CODES[res.status]}]`);
        continue;
      }
      this.pinned = k;
      return res;
    }
    let msg = 'client: etcd cluster is unavailable or misconfigured';
    errors.forEach((e, i) => {
      msg += `; error #${i}: ${e}\n`;
    });
    throw new GoError(msg);
  }

  /** KeysAPI call: resolves the decoded response; etcd errors become EtcdError. */
  async keys(
    method: string,
    key: string,
    query: Record<string, string>,
    form: Record<string, string> | null,
    signal: AbortSignal,
  ): Promise<V2Response> {
    const path = `/v2/keys${key
      .split('/')
      .map((p) => encodeURIComponent(p))
      .join('/')}`;
    const res = await this.do(method, path, query, form, signal);
    const headerIndex: number | undefined =
      res.headers['x-etcd-index'] !== undefined ? Number(res.headers['x-etcd-index']) : undefined;
    if (res.status === 200 || res.status === 201) {
      if (res.body.length === 0) throw new GoError('client: response body is empty');
      let parsed: V2Response;
      try {
        parsed = JSON.parse(res.body) as V2Response;
      } catch {
        throw new GoError(
          goJsonSyntaxError(res.body) ||
            'client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.',
        );
      }
      parsed.index = headerIndex ?? 0;
      return parsed;
    }
    let body: V2ErrorBody | null;
    try {
      body = JSON.parse(res.body) as V2ErrorBody | null;
    } catch {
      body = null;
    }
    if (!body || typeof body !== 'object' || body.errorCode === undefined) {
      throw new GoError('client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.');
    }
    throw new EtcdError(body, headerIndex);
  }

  get(
    key: string,
    { recursive = false, quorum = false }: { recursive?: boolean; quorum?: boolean },
    signal: AbortSignal,
  ): Promise<V2Response> {
    return this.keys(
      'GET',
      key,
      { quorum: String(quorum), recursive: String(recursive), sorted: 'false' },
      null,
      signal,
    );
  }

  /** setAction: prevExist / prevIndex as query, value and ttl in the form body. */
  set(
    key: string,
    value: string,
    { prevExist, prevIndex = 0, ttlSeconds = 0 }: { prevExist?: boolean; prevIndex?: number; ttlSeconds?: number },
    signal: AbortSignal,
  ): Promise<V2Response> {
    const query: Record<string, string> = {};
    if (prevIndex) query.prevIndex = String(prevIndex);
    if (prevExist !== undefined) query.prevExist = String(prevExist);
    const form: Record<string, string> = { value };
    if (ttlSeconds > 0) form.ttl = String(ttlSeconds);
    return this.keys('PUT', key, query, form, signal);
  }

  delete(key: string, signal: AbortSignal): Promise<V2Response> {
    return this.keys('DELETE', key, { dir: 'false', recursive: 'false' }, null, signal);
  }

  /** One watch step: waits for the first event after `afterIndex`. */
  async watch(key: string, afterIndex: number, recursive: boolean, signal: AbortSignal): Promise<V2Response> {
    for (;;) {
      const query: Record<string, string> = { wait: 'true', waitIndex: String(afterIndex + 1) };
      if (recursive) query.recursive = 'true';
      try {
        return await this.keys('GET', key, query, null, signal);
      } catch (e) {
        if ((e as Error).message === 'client: response body is empty') continue;
        throw e;
      }
    }
  }
}

/** A lease as flannel's subnet.Lease: subnet, attrs and expiration (BigInt ns, 0n = none). */
function nodeToLease(node: V2Node): Lease {
  const sn = parseSubnetKey(node.key);
  if (!sn) throw new GoError(`failed to parse subnet key ${node.key}`);
  return {
    subnet: sn,
    attrs: parseLeaseAttrs(node.value ?? ''),
    expiration: node.expiration ? (parseRfc3339Ns(node.expiration) ?? 0n) : 0n,
    asof: node.modifiedIndex,
  };
}

/**
 * subnet/etcdv2/registry.go. EtcdV3Registry (v0.20 mode) implements the same methods:
 * getNetworkConfig, getSubnets, getSubnet, createSubnet, updateSubnet, deleteSubnet,
 * watchSubnets, watchSubnet.
 */
export class EtcdV2Registry implements Registry {
  private readonly prefix: string;
  readonly client: EtcdV2Client;

  constructor(cfg: EtcdClientConfig) {
    this.prefix = cfg.prefix;
    this.client = new EtcdV2Client(cfg);
  }

  close(): void {
    this.client.close();
  }

  /** v2 says nothing more when a call is cancelled. */
  retryWarning(): string | null {
    return null;
  }

  subnetKey(sn: IP4Net): string {
    return joinPath(this.prefix, 'subnets', sn.key());
  }

  async getNetworkConfig(signal: AbortSignal): Promise<string> {
    const resp = await this.client.get(joinPath(this.prefix, 'config'), { quorum: true }, signal);
    return resp.node.value ?? '';
  }

  async getSubnets(signal: AbortSignal): Promise<LeaseSnapshot> {
    let resp: V2Response;
    try {
      resp = await this.client.get(joinPath(this.prefix, 'subnets'), { recursive: true, quorum: true }, signal);
    } catch (e) {
      if (isEtcdError(e) && e.code === ERR_KEY_NOT_FOUND) return { leases: [], index: e.index! };
      throw e;
    }
    const leases: Lease[] = [];
    for (const node of resp.node.nodes || []) {
      try {
        leases.push(nodeToLease(node));
      } catch (e) {
        log.warn('registry.go:138', `Ignoring bad subnet node: ${(e as Error).message}`);
      }
    }
    return { leases, index: resp.index };
  }

  async getSubnet(sn: IP4Net, signal: AbortSignal): Promise<{ lease: Lease; index: number }> {
    const resp = await this.client.get(this.subnetKey(sn), { quorum: true }, signal);
    return { lease: nodeToLease(resp.node), index: resp.index };
  }

  async createSubnet(sn: IP4Net, attrs: LeaseAttrs, ttlSeconds: number, signal: AbortSignal): Promise<bigint> {
    const resp = await this.client.set(
      this.subnetKey(sn),
      leaseAttrsJSON(attrs),
      { prevExist: false, ttlSeconds },
      signal,
    );
    return resp.node.expiration ? (parseRfc3339Ns(resp.node.expiration) ?? 0n) : 0n;
  }

  async updateSubnet(
    sn: IP4Net,
    attrs: LeaseAttrs,
    ttlSeconds: number,
    asof: number,
    signal: AbortSignal,
  ): Promise<bigint> {
    const resp = await this.client.set(
      this.subnetKey(sn),
      leaseAttrsJSON(attrs),
      { prevIndex: asof, ttlSeconds },
      signal,
    );
    return resp.node.expiration ? (parseRfc3339Ns(resp.node.expiration) ?? 0n) : 0n;
  }

  async deleteSubnet(sn: IP4Net, signal: AbortSignal): Promise<void> {
    await this.client.delete(this.subnetKey(sn), signal);
  }

  async watchSubnets(since: number, signal: AbortSignal): Promise<WatchStep> {
    const resp = await this.client.watch(joinPath(this.prefix, 'subnets'), since, true, signal);
    return { event: parseSubnetWatchResponse(resp), index: resp.node.modifiedIndex };
  }

  async watchSubnet(since: number, sn: IP4Net, signal: AbortSignal): Promise<WatchStep> {
    const resp = await this.client.watch(this.subnetKey(sn), since, false, signal);
    return { event: parseSubnetWatchResponse(resp), index: resp.node.modifiedIndex };
  }
}

/** "delete" and "expire" remove a lease; every other action (set, create, update...) adds one. */
function parseSubnetWatchResponse(resp: V2Response): LeaseEvent {
  const sn = parseSubnetKey(resp.node.key);
  if (!sn) throw new GoError(`${resp.action} ${JSON.stringify(resp.node.key)}: not a subnet, skipping`);
  if (resp.action === 'delete' || resp.action === 'expire') return removedLease(sn);
  const attrs = parseLeaseAttrs(resp.node.value ?? '');
  const expiration = resp.node.expiration ? (parseRfc3339Ns(resp.node.expiration) ?? 0n) : 0n;
  return { type: 'added', lease: { subnet: sn, attrs, expiration } };
}
