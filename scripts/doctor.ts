#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// doctor: run by a person when pods cannot reach each other. Runs drift's checks (read-only:
// it never fixes) plus targeted probes: the etcd key space flannel does NOT read (config
// written with the other API), the etcd connection with the node's own ca/cert/key (which TLS
// file is wrong, v2 off), flanneld's log (the known error lines, a lease taken over), every
// link's MTU and the pods' (--pod-netns). For each finding it prints what is wrong, the
// evidence (route, rule, key or log line), the likely cause and ONE command that fixes it.
// Idempotent (it changes nothing). --json prints the findings as data.
// Exit: 0 nothing wrong, 1 findings, 2 usage/config error, 3 could not examine (etcd down, ...).

import { dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../lib/errors.ts';
import { commonFlags, defineFlags, etcdFlags, nodeFlags, rooted } from '../lib/flags.ts';
import { nodeCheckFlags, nodeTarget } from '../lib/node-expectation.ts';
import { checkNode } from '../lib/drift.ts';
import { diagnose, doctorExit, formatDoctorReport, type Invocation } from '../lib/doctor.ts';
import { storeTarget, type StoreTarget } from '../lib/network-store.ts';
import { observeDoctorProbes, observeNode } from '../lib/node-observe.ts';
import { spawnRunner, type Runner } from '../lib/runner.ts';
import { isEntryPoint, loadSettings, note, runScript } from '../lib/script.ts';

export const flags = defineFlags({
  ...commonFlags,
  ...etcdFlags,
  ...nodeFlags,
  ...nodeCheckFlags,
  log: {
    type: 'string',
    default: '/data/logs/flanneld/flanneld.stdout.log',
    placeholder: 'FILE',
    help: "flanneld's log, as the start step's supervisord ini writes it (under --root)",
  },
  'pod-netns': {
    type: 'list',
    placeholder: 'NS',
    help: "pods' network namespaces whose MTU must match FLANNEL_MTU (besides docker0's ports)",
    example: 'cni-1234,cni-5678',
  },
  'certs-from': {
    type: 'string',
    default: 'root@hdss7-200:/opt/certs',
    placeholder: 'SRC',
    help: 'where the certs fix copies the certificates from (scripts/certs.ts --from)',
  },
});

const info = {
  name: 'doctor',
  summary:
    "Say why this node's flannel network is wrong, with the evidence and the command that fixes it (changes nothing).",
  example: 'scripts/doctor.ts --cluster /etc/flannel-runbook/cluster.json',
  perNode: true,
};

/** Flags given on the command line that a fix command must carry too (the operator's overrides). */
const CARRIED = [
  'endpoints',
  'cafile',
  'certfile',
  'keyfile',
  'etcd-prefix',
  'etcd-api',
  'public-ip',
  'subnet',
  'iface',
  'network',
  'bridge',
  'healthz-port',
] as const;

export async function main(argv: string[], runner: Runner = spawnRunner): Promise<number> {
  const loaded = await loadSettings(argv, flags, info);
  if (!loaded) return 0;
  const { settings: s, flags: f, cluster, node } = loaded;
  const v = f.values;
  const { expect, conn, paths, persist } = nodeTarget(s, v, cluster, node);
  const { name, program, publicIp, subnet, iface, network } = expect;
  for (const w of s.warnings) note(`doctor: ${w}`);

  // an unreadable TLS file is a finding here (the runbook never copies client-key.pem), not a usage error
  let store: StoreTarget;
  let tlsFiles: string | undefined;
  try {
    store = storeTarget(conn, s.etcd.api, s.etcd.prefix);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    tlsFiles = err.message;
    store = { conn, tls: {}, api: s.etcd.api, prefix: s.etcd.prefix.replace(/\/+$/, '') };
  }
  let obs = await observeNode({
    store,
    program,
    healthzPort: s.healthzPort,
    paths: {
      ...paths,
      persist,
      cafile: rooted(s.root, s.etcd.cafile),
      certfile: rooted(s.root, s.etcd.certfile),
      keyfile: rooted(s.root, s.etcd.keyfile),
    },
    runner,
  });
  if (tlsFiles) obs = { ...obs, etcd: { ok: false, error: tlsFiles, kind: 'tls-files' } };
  const checks = checkNode(expect, obs);
  const probes = await observeDoctorProbes({
    store,
    obs,
    logFile: rooted(s.root, v.log),
    podNetns: v['pod-netns'] ?? [],
    runner,
  });

  // fixes are printed as the operator would run them on this node
  const carried = CARRIED.filter((k) => f.explicit.has(k)).flatMap((k) => [`--${k}`, [v[k]].flat().join(',')]);
  const root = s.root === '/' ? [] : ['--root', s.root];
  const clusterFile = s.clusterFile ? resolve(s.clusterFile) : undefined;
  const run: Invocation = {
    // the fix lines name the scripts where this one runs: scripts/*.ts, or the dist/*.mjs bundle
    scriptsDir: dirname(fileURLToPath(import.meta.url)),
    ext: extname(fileURLToPath(import.meta.url)),
    nodeArgs: clusterFile
      ? ['--cluster', clusterFile, '--node', name, ...carried, ...root]
      : mergeNodeFlags(
          carried,
          {
            'public-ip': publicIp.toString(),
            subnet: subnet.toString(),
            iface,
            network: network.toString(),
            endpoints: conn.endpoints.join(','),
          },
          root,
        ),
    clusterArgs: clusterFile
      ? ['--cluster', clusterFile, ...carried.filter((_, i, a) => isEtcdFlag(a, i)), ...root]
      : mergeNodeFlags(
          carried.filter((_, i, a) => isEtcdFlag(a, i)),
          { endpoints: conn.endpoints.join(','), network: network.toString(), backend: 'host-gw' },
          root,
        ),
    certsFrom: v['certs-from'],
  };
  const findings = diagnose(
    {
      expect,
      flannelVersion: s.flannelVersion,
      etcd: {
        endpoints: conn.endpoints,
        ...(conn.cafile && { cafile: conn.cafile, certfile: conn.certfile, keyfile: conn.keyfile }),
      },
      healthzPort: s.healthzPort,
      peers: cluster?.nodes ?? [],
      run,
    },
    obs,
    checks,
    probes,
  );
  const exit = doctorExit(findings);
  if (s.json) {
    const out = {
      node: name,
      exit,
      findings,
      checks: checks.map((c) => ({ id: c.id, status: c.status, reason: c.reason })),
      childProcesses: obs.processes + probes.processes,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatDoctorReport(name, findings, checks)}\n`);
  }
  return exit;
}

/** `--flag value` pairs, the carried ones first, then the defaults not carried, then --root. */
function mergeNodeFlags(
  carried: readonly string[],
  defaults: Record<string, string>,
  root: readonly string[],
): string[] {
  const out = [...carried];
  for (const [k, val] of Object.entries(defaults)) if (!out.includes(`--${k}`)) out.push(`--${k}`, val);
  return [...out, ...root];
}

/** etcd-config takes the etcd flags of the carried pairs, not the node ones. */
function isEtcdFlag(pairs: readonly string[], i: number): boolean {
  const flag = i % 2 === 0 ? pairs[i]! : pairs[i - 1]!;
  return ['--endpoints', '--cafile', '--certfile', '--keyfile', '--etcd-prefix', '--etcd-api', '--network'].includes(
    flag,
  );
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, (argv) => main(argv));
