// Loads key/values into etcd's v2 key space in parallel, run INSIDE a lab namespace (etcd
// answers only there): `ip netns exec NS node --import tsx lab/bench/v2-load.ts < job.json`.
// job.json: {endpoint, ca, cert, key, concurrency?, entries: [{key, value, ttl?}]}. One keep-alive TLS
// agent, `concurrency` PUTs in flight (etcd batches the raft proposals), each a plain set
// (idempotent: a second load rewrites the same values). Prints `loaded N in MS ms`.
// Exit: 0, 3 when etcd refuses a PUT.

import { readFileSync } from 'node:fs';
import https from 'node:https';
import { mapBounded } from '../../lib/core/map-bounded.ts';

interface Job {
  readonly endpoint: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly concurrency?: number;
  readonly entries: readonly { key: string; value: string; ttl?: number }[];
}

function put(agent: https.Agent, base: URL, key: string, value: string, ttl?: number): Promise<void> {
  const body = new URLSearchParams({ value, ...(ttl !== undefined && { ttl: String(ttl) }) }).toString();
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: base.hostname,
        port: base.port,
        path: `/v2/keys${key}`,
        method: 'PUT',
        agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          (res.statusCode ?? 0) < 300
            ? resolve()
            : reject(new Error(`PUT ${key}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<number> {
  const job = JSON.parse(readFileSync(0, 'utf8')) as Job;
  const base = new URL(job.endpoint);
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: job.concurrency ?? 32,
    ca: readFileSync(job.ca),
    cert: readFileSync(job.cert),
    key: readFileSync(job.key),
  });
  const t0 = performance.now();
  await mapBounded(job.entries, job.concurrency ?? 32, (e) => put(agent, base, e.key, e.value, e.ttl));
  agent.destroy();
  process.stdout.write(`loaded ${job.entries.length} in ${Math.round(performance.now() - t0)} ms\n`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  process.stderr.write(`v2-load: ${(e as Error).message}\n`);
  process.exitCode = 3;
}
