// The flannel network in etcd, through the API a flannel release reads: the config key and
// the leases, read in ONE range read (v2: one recursive quorum GET; v3: one linearizable prefix
// range), and the config written with compare-and-swap so two writers cannot clobber each other.
// With drift's cache (etcd-cache.ts) the v3 range asks only for the keys changed since the
// cached revision; v2 has no such read and always reads everything.

import {
  checkTlsFiles,
  EtcdError,
  loadTls,
  parseV2Error,
  v2Put,
  v2PutCommand,
  v2Request,
  etcdctlArgv,
  withV3,
  type EtcdConnection,
  type EtcdTls,
} from './etcd.ts';
import { applyDelta, snapshotOf, type EtcdCache, type RangeAnswer, type V3Snapshot } from './etcd-cache.ts';
import { parseV2Tree, parseV3Kvs, type EtcdApi, type LeaseTree } from '../model/lease.ts';
import type { Command } from '../core/command.ts';
import type { Host } from './host.ts';

export interface StoreTarget {
  readonly conn: EtcdConnection;
  readonly tls: EtcdTls;
  readonly api: EtcdApi;
  /** `/coreos.com/network` */
  readonly prefix: string;
  /** drift's cache (v3): what the last run read, and where this run's read goes */
  readonly cache?: EtcdCache;
}

/**
 * Where the network lives in etcd, with the TLS files read. `checkTls`: the files are checked
 * here first (etcd.ts, checkTlsFiles: a step refuses unusable files with exit 2); drift and
 * doctor leave that to their certs checks, which report it with everything else.
 */
export async function storeTarget(
  host: Host,
  conn: EtcdConnection,
  api: EtcdApi,
  prefix: string,
  opts: { checkTls?: boolean } = {},
): Promise<StoreTarget> {
  const tls = await loadTls(host, conn);
  if (opts.checkTls) checkTlsFiles(tls, conn);
  return { conn, tls, api, prefix: prefix.replace(/\/+$/, '') };
}

export interface NetworkState extends LeaseTree {
  readonly api: EtcdApi;
  /** what compare-and-swap needs to replace the config: v2 modifiedIndex, v3 mod_revision */
  readonly configVersion?: string;
}

/** Config and leases under the prefix, in one read through `target.api`. */
export async function readNetworkState(target: StoreTarget): Promise<NetworkState> {
  const configKey = `${target.prefix}/config`;
  if (target.api === 'v2') {
    const res = await v2Request(target.conn, target.tls, 'GET', target.prefix, { recursive: true, quorum: true });
    if (res.status !== 200 && parseV2Error(res.body)?.errorCode !== 100) {
      throw new EtcdError(
        'http',
        res.endpoint,
        `etcd ${res.endpoint}: GET ${target.prefix} answered ${res.status}: ${res.body.slice(0, 200)}`,
      );
    }
    const tree = parseV2Tree(res.body, target.prefix);
    return { ...tree, api: 'v2', ...(tree.configIndex !== undefined && { configVersion: String(tree.configIndex) }) };
  }
  return withV3(target.conn, target.tls, async (client) => {
    const range = async (minModRevision?: string): Promise<RangeAnswer> => {
      // linearizable (etcd3's default, never .serializable()): a member without a leader fails, it does not answer from its own copy
      const q = client.getAll().prefix(`${target.prefix}/`);
      const res = await (minModRevision === undefined ? q : q.minModRevision(minModRevision)).exec();
      return {
        clusterId: res.header.cluster_id,
        revision: res.header.revision,
        count: Number(res.count),
        kvs: res.kvs.map((kv) => {
          const key = kv.key.toString();
          const flannels = key === configKey || key.startsWith(`${target.prefix}/subnets/`);
          return { key, value: flannels ? kv.value.toString() : null, modRevision: String(kv.mod_revision) };
        }),
      };
    };
    const cache = target.cache;
    let why = cache ? (cache.ignored ?? 'no cached revision') : 'no cache';
    const prev = cache?.snapshot;
    if (cache && prev) {
      const answer = await range((BigInt(prev.revision) + 1n).toString());
      const outcome = applyDelta(prev, answer);
      if (outcome.kind === 'unchanged') {
        cache.recordRead({ kind: 'unchanged', keys: prev.kvs.length, revision: answer.revision });
        return stateOf(prev, target.prefix);
      }
      if (outcome.kind === 'delta') {
        const snap = outcome.snapshot;
        cache.recordRead(
          { kind: 'delta', keys: snap.kvs.length, changed: outcome.changed, revision: snap.revision },
          snap,
        );
        return stateOf(snap, target.prefix);
      }
      why = outcome.why;
    }
    const snap = snapshotOf(await range());
    cache?.recordRead({ kind: 'full', keys: snap.kvs.length, revision: snap.revision, why }, snap);
    return stateOf(snap, target.prefix);
  });
}

/** The network state in a v3 snapshot of the prefix (a full read, or the cache brought up to date). */
function stateOf(snap: V3Snapshot, prefix: string): NetworkState {
  const kvs = snap.kvs.flatMap((kv) => (kv.value === null ? [] : [{ key: kv.key, value: kv.value }]));
  const tree = parseV3Kvs(kvs, prefix);
  const cfg = snap.kvs.find((k) => k.key === `${prefix}/config`);
  return { ...tree, api: 'v3', ...(cfg && { configVersion: cfg.modRevision }) };
}

/**
 * Write the config: create when `expectVersion` is undefined (fails if it appeared since we
 * read), else replace only if it is still at `expectVersion`. A lost race is an EtcdError
 * of kind 'compare-failed'.
 */
export async function writeNetworkConfig(target: StoreTarget, value: string, expectVersion?: string): Promise<void> {
  const key = `${target.prefix}/config`;
  if (target.api === 'v2') {
    await v2Put(
      target.conn,
      target.tls,
      key,
      value,
      expectVersion === undefined ? { prevExist: false } : { prevIndex: Number(expectVersion) },
    );
    return;
  }
  await withV3(target.conn, target.tls, async (client) => {
    const cmp =
      expectVersion === undefined ? client.if(key, 'Create', '==', 0) : client.if(key, 'Mod', '==', expectVersion);
    const res = await cmp.then(client.put(key).value(value)).commit();
    if (!res.succeeded) {
      throw new EtcdError(
        'compare-failed',
        target.conn.endpoints.join(','),
        `etcd: ${key} changed while we wrote it; read it again and retry`,
      );
    }
  });
}

/** The shell command equal to writeNetworkConfig, for --dry-run (file paths only, no key material). */
export function writeConfigCommand(
  target: StoreTarget,
  value: string,
  expectVersion: string | undefined,
  why: string,
): Command {
  const key = `${target.prefix}/config`;
  if (target.api === 'v2') {
    return v2PutCommand(
      target.conn,
      key,
      value,
      expectVersion === undefined ? { prevExist: false } : { prevIndex: Number(expectVersion) },
      why,
    );
  }
  const argv = etcdctlArgv(target.conn, 'txn');
  // etcdctl txn reads: compares, blank line, success requests, blank line, failure requests, blank line
  const compare = expectVersion === undefined ? `create("${key}") = "0"` : `mod("${key}") = "${expectVersion}"`;
  // etcdctl reads a double-quoted value with Go's unquoting; JSON string escapes are a subset
  return {
    argv,
    input: `${compare}\n\nput ${key} ${JSON.stringify(value)}\n\n\n`,
    why: `${why} (prints SUCCESS, or FAILURE if the config changed meanwhile)`,
  };
}
