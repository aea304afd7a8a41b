// drift's local cache of what it last read from etcd v3, so that the cron run (every minute on
// every node) asks etcd only for what changed since, instead of reading every lease again: at
// 5,000 nodes a full read is ~1 MB, ~83 of them a second (docs/etcd-cache.md).
//
// The file (default /var/lib/flannel-runbook/etcd-cache.json under --root, mode 0600, written
// atomically through the Host) holds, for ONE etcd cluster (endpoints, cluster ID) and prefix:
// the store revision of the last read, every key under `<prefix>/` with its mod revision and,
// for the config and the leases, its value (what every node reads from etcd anyway), and the
// lease drift --publish reuses. Never key material: nothing of --cafile/--certfile/--keyfile.
//
// A later run asks, in ONE linearizable range read of the prefix with min_mod_revision =
// revision + 1, for the keys changed since and the number of keys there are now; etcd counts
// the whole range even when the filter leaves nothing to send. From the cached keys, the changed
// ones and that count, applyDelta() tells whether any key was deleted: if none was, the new
// state is the cache with the changed keys put in, exactly; if some was (or another cluster, or
// a revision that went back, answered), the run reads everything, as without a cache.
// A file that is not this format, damaged (its digest), for another cluster or prefix, not a
// regular file, or writable by anyone but its owner is ignored and rewritten: never trusted.

import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { Host } from './host.ts';

export const DEFAULT_CACHE_PATH = '/var/lib/flannel-runbook/etcd-cache.json';
export const CACHE_FORMAT = 'flannel-runbook/etcd-cache/1';
/** 5,000 leases are ~1 MB; a file far larger is not ours. */
const MAX_CACHE_BYTES = 64 << 20;

/** Which etcd and which prefix a cache is of. */
export interface CacheIdentity {
  readonly endpoints: readonly string[];
  /** `/coreos.com/network` (no trailing slash) */
  readonly prefix: string;
}

export interface SnapshotKv {
  readonly key: string;
  /** null for a key under the prefix that is neither the config nor a lease: only its presence counts */
  readonly value: string | null;
  readonly modRevision: string;
}

/** Every key under `<prefix>/` at one store revision, sorted by key. */
export interface V3Snapshot {
  readonly clusterId: string;
  readonly revision: string;
  readonly kvs: readonly SnapshotKv[];
}

/** The lease drift --publish attaches its report to, kept alive instead of granted anew every run. */
export interface PublishLease {
  readonly id: string;
  readonly ttl: number;
}

export interface CacheContent {
  readonly clusterId?: string;
  readonly snapshot?: V3Snapshot;
  readonly publishLease?: PublishLease;
}

/** One range answer: `count` is every key in the range, `kvs` those the min_mod_revision filter kept. */
export interface RangeAnswer {
  readonly clusterId: string;
  readonly revision: string;
  readonly count: number;
  readonly kvs: readonly SnapshotKv[];
}

/** How a run learnt the network state (drift --json: `etcdRead`). */
export type CacheRead =
  | { readonly kind: 'unchanged'; readonly keys: number; readonly revision: string }
  | { readonly kind: 'delta'; readonly keys: number; readonly changed: number; readonly revision: string }
  | { readonly kind: 'full'; readonly keys: number; readonly revision: string; readonly why: string };

export type DeltaOutcome =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'delta'; readonly snapshot: V3Snapshot; readonly changed: number }
  | { readonly kind: 'full-read'; readonly why: string };

const byKey = (a: SnapshotKv, b: SnapshotKv) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** A full range read of the prefix as a snapshot. */
export function snapshotOf(answer: RangeAnswer): V3Snapshot {
  return { clusterId: answer.clusterId, revision: answer.revision, kvs: [...answer.kvs].sort(byKey) };
}

/**
 * What the min_mod_revision read means for the cached snapshot `prev` (pure). Keys not in the
 * answer are unchanged or deleted: the count says how many were deleted, and only when none
 * was is the merged snapshot the store's state.
 */
export function applyDelta(prev: V3Snapshot, answer: RangeAnswer): DeltaOutcome {
  if (answer.clusterId !== prev.clusterId)
    return {
      kind: 'full-read',
      why: `another etcd cluster answered (ID ${answer.clusterId}, cached ${prev.clusterId})`,
    };
  if (BigInt(answer.revision) < BigInt(prev.revision))
    return {
      kind: 'full-read',
      why: `etcd's revision ${answer.revision} is behind the cached ${prev.revision} (restored from a backup?)`,
    };
  const cached = new Map(prev.kvs.map((kv) => [kv.key, kv]));
  const added = answer.kvs.filter((kv) => !cached.has(kv.key)).length;
  const deleted = prev.kvs.length + added - answer.count;
  if (deleted !== 0)
    return {
      kind: 'full-read',
      why:
        deleted > 0
          ? `${deleted} key(s) deleted since revision ${prev.revision}`
          : `etcd counts ${answer.count} keys, more than the cache and the changes make (${prev.kvs.length + added})`,
    };
  if (answer.kvs.length === 0) return { kind: 'unchanged' };
  for (const kv of answer.kvs) cached.set(kv.key, kv);
  return {
    kind: 'delta',
    snapshot: { clusterId: prev.clusterId, revision: answer.revision, kvs: [...cached.values()].sort(byKey) },
    changed: answer.kvs.length,
  };
}

interface CacheFile {
  readonly format: string;
  readonly api: 'v3';
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly clusterId: string | null;
  readonly revision: string | null;
  readonly count: number;
  /** [key, value or null, mod revision] */
  readonly kvs: readonly (readonly [string, string | null, string])[];
  readonly publishLease: PublishLease | null;
}

const sortedEndpoints = (id: CacheIdentity) => [...id.endpoints].sort();
const digestOf = (body: CacheFile) => `sha256:${createHash('sha256').update(JSON.stringify(body)).digest('hex')}`;

/** The file's text for `content` (pure): its fields in a fixed order, then their digest. */
export function formatCache(identity: CacheIdentity, content: CacheContent): string {
  const s = content.snapshot;
  const body: CacheFile = {
    format: CACHE_FORMAT,
    api: 'v3',
    endpoints: sortedEndpoints(identity),
    prefix: identity.prefix,
    clusterId: s?.clusterId ?? content.clusterId ?? null,
    revision: s?.revision ?? null,
    count: s?.kvs.length ?? 0,
    kvs: (s?.kvs ?? []).map((kv) => [kv.key, kv.value, kv.modRevision] as const),
    publishLease: content.publishLease ? { id: content.publishLease.id, ttl: content.publishLease.ttl } : null,
  };
  return `${JSON.stringify({ ...body, digest: digestOf(body) })}\n`;
}

const isDecimal = (x: unknown): x is string => typeof x === 'string' && /^\d{1,20}$/.test(x);

/**
 * The cache in `text`, if it is one for `identity` and intact; else why it is ignored (pure).
 * Every field is checked and the digest recomputed over them: nothing in the file is taken on
 * trust, because drift would believe its leases.
 */
export function parseCache(text: string, identity: CacheIdentity): { content: CacheContent } | { ignored: string } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ignored: 'not JSON (damaged?)' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || doc.format !== CACHE_FORMAT)
    return { ignored: `not a ${CACHE_FORMAT} file` };
  const ep = doc.endpoints;
  if (
    doc.api !== 'v3' ||
    doc.prefix !== identity.prefix ||
    !Array.isArray(ep) ||
    JSON.stringify(ep) !== JSON.stringify(sortedEndpoints(identity))
  )
    return { ignored: `for another etcd or prefix (${JSON.stringify(ep)} ${JSON.stringify(doc.prefix)})` };
  const kvs = doc.kvs;
  const lease = doc.publishLease as Record<string, unknown> | null;
  const fieldsOk =
    (doc.clusterId === null || isDecimal(doc.clusterId)) &&
    (doc.revision === null || isDecimal(doc.revision)) &&
    Array.isArray(kvs) &&
    doc.count === kvs.length &&
    kvs.every(
      (kv: unknown) =>
        Array.isArray(kv) &&
        kv.length === 3 &&
        typeof kv[0] === 'string' &&
        kv[0].startsWith(`${identity.prefix}/`) &&
        (kv[1] === null || typeof kv[1] === 'string') &&
        isDecimal(kv[2]),
    ) &&
    (lease === null ||
      (typeof lease === 'object' &&
        isDecimal(lease.id) &&
        typeof lease.ttl === 'number' &&
        Number.isInteger(lease.ttl) &&
        lease.ttl > 0));
  if (!fieldsOk) return { ignored: 'a field is missing or of the wrong kind (damaged?)' };
  const body: CacheFile = {
    format: CACHE_FORMAT,
    api: 'v3',
    endpoints: ep as string[],
    prefix: identity.prefix,
    clusterId: doc.clusterId as string | null,
    revision: doc.revision as string | null,
    count: doc.count as number,
    kvs: kvs as [string, string | null, string][],
    publishLease: lease ? { id: lease.id as string, ttl: lease.ttl as number } : null,
  };
  if (doc.digest !== digestOf(body)) return { ignored: 'its digest does not match its content (damaged or edited)' };
  const clusterId = body.clusterId ?? undefined;
  return {
    content: {
      ...(clusterId !== undefined && { clusterId }),
      ...(clusterId !== undefined &&
        body.revision !== null && {
          snapshot: {
            clusterId,
            revision: body.revision,
            kvs: body.kvs.map(([key, value, modRevision]) => ({ key, value, modRevision })),
          },
        }),
      ...(clusterId !== undefined && body.publishLease && { publishLease: body.publishLease }),
    },
  };
}

/**
 * The cache for one run: what the file held (when trusted), what this run learnt, and the
 * write-back. Only drift (the cron path) uses one; doctor and verify-ping always read etcd whole.
 */
export class EtcdCache {
  private content: CacheContent;
  private dirty = false;
  /** how this run's network read went (set by readNetworkState) */
  lastRead?: CacheRead;

  private constructor(
    readonly path: string,
    readonly identity: CacheIdentity,
    content: CacheContent,
    /** why the file was not used, when it was not (missing, damaged, foreign, --no-cache) */
    readonly ignored?: string,
  ) {
    this.content = content;
  }

  /**
   * Read the cache at `path` through the host. `useSnapshot: false` (--no-cache) drops the
   * cached network state, so the run reads everything, but keeps the publish lease.
   */
  static async open(host: Host, path: string, identity: CacheIdentity, useSnapshot = true): Promise<EtcdCache> {
    const ignore = (why: string) => new EtcdCache(path, identity, {}, why);
    const st = await host.lstat(path).catch(() => undefined);
    if (!st) return ignore('no cache file yet');
    if (st.type !== 'file') return ignore(`${path} is not a regular file (${st.type})`);
    if (st.mode & 0o022) return ignore(`${path} is writable by others (mode ${st.mode.toString(8)})`);
    if (st.size > MAX_CACHE_BYTES) return ignore(`${path} is ${st.size} bytes: not a cache of ours`);
    const text = await host.readFile(path, { maxBytes: MAX_CACHE_BYTES }).catch(() => undefined);
    if (text === undefined) return ignore(`${path} cannot be read`);
    const parsed = parseCache(text, identity);
    if ('ignored' in parsed) return ignore(`${path}: ${parsed.ignored}`);
    if (useSnapshot) return new EtcdCache(path, identity, parsed.content);
    const { snapshot: _dropped, ...rest } = parsed.content;
    return new EtcdCache(path, identity, rest, '--no-cache');
  }

  /** The snapshot to ask etcd about, if the file held a trusted one. */
  get snapshot(): V3Snapshot | undefined {
    return this.content.snapshot;
  }

  /** The publish lease of the last runs and the cluster that granted it, if there is one. */
  cachedPublishLease(): { readonly lease: PublishLease; readonly clusterId: string } | undefined {
    const { publishLease, clusterId } = this.content;
    return publishLease && clusterId ? { lease: publishLease, clusterId } : undefined;
  }

  /** This run's read: a new snapshot is kept (and written back); the same one changes nothing. */
  recordRead(read: CacheRead, snapshot?: V3Snapshot): void {
    this.lastRead = read;
    if (!snapshot) return;
    const sameCluster = this.content.clusterId === snapshot.clusterId;
    this.content = {
      clusterId: snapshot.clusterId,
      snapshot,
      ...(sameCluster && this.content.publishLease && { publishLease: this.content.publishLease }),
    };
    this.dirty = true;
  }

  /** A newly granted publish lease, for the next runs. */
  recordPublishLease(clusterId: string, lease: PublishLease): void {
    this.content =
      this.content.clusterId === clusterId
        ? { ...this.content, publishLease: lease }
        : { clusterId, publishLease: lease };
    this.dirty = true;
  }

  /** Write the cache back when this run changed it: atomically, 0600, its directory made if missing. */
  async save(host: Host): Promise<boolean> {
    if (!this.dirty) return false;
    const dir = posix.dirname(this.path);
    if (!(await host.stat(dir))) await host.mkdir(dir, { mode: 0o755, why: "drift's etcd cache" });
    await host.writeFile(this.path, formatCache(this.identity, this.content), {
      mode: 0o600,
      why: 'what this drift run read from etcd, so the next one asks only for what changed',
    });
    this.dirty = false;
    return true;
  }
}
