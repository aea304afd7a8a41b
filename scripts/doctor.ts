#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// doctor: when something is broken, on the node. Observes it as drift does, plus its own
// probes (the other etcd key space, flanneld's log, the pods' links), and says why: one finding
// per cause, with its evidence (a route, a rule, a key, a log line), the likely cause and ONE
// command that fixes it. Changes nothing.
// Exit: 0 nothing wrong, 1 findings, 2 usage/config error, 3 could not examine.

import { invalid } from '../lib/core/errors.ts';
import { rooted } from '../lib/core/paths.ts';
import { netnsPath } from '../lib/core/validate.ts';
import { doctorExit, formatDoctorReport } from '../lib/doctor/index.ts';
import { commonFlags, defineFlags, etcdFlags, nodeFlags } from '../lib/cli/flags.ts';
import { print, note } from '../lib/cli/output.ts';
import { fixInvocation } from '../lib/cli/invocation.ts';
import { nodeCheckFlags, nodeTarget } from '../lib/cli/node-target.ts';
import { hostFile } from '../lib/cli/settings.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/cli/script.ts';
import type { Host } from '../lib/host/host.ts';
import { parseSource } from '../lib/steps/certs.ts';
import { examineNode } from '../lib/steps/doctor.ts';

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

export async function main(argv: string[], base: Host): Promise<number> {
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f, cluster, node, host } = loaded;
  const v = f.values;
  const { expect, conn, paths, persist } = await nodeTarget(host, s, v, cluster, node);
  const logFile = await hostFile(host, s.root, '--log', v.log, '/data/logs/flanneld/flanneld.stdout.log');
  // what the operator named must be there: a silently ignored flag reads as "looked, nothing wrong"
  if (f.explicit.has('log') && !(await host.stat(logFile)))
    throw invalid('--log', v.log, 'no such file (under --root)', '/data/logs/flanneld/flanneld.stdout.log');
  for (const ns of v['pod-netns'] ?? [])
    if (!(await host.stat(netnsPath('--pod-netns', ns))))
      throw invalid('--pod-netns', ns, 'no such network namespace (ip netns list shows them)', 'cni-1234');
  const certsFrom = parseSource(v['certs-from']);
  if (certsFrom.kind === 'dir' && !(await host.stat(rooted(s.root, certsFrom.dir))))
    throw invalid('--certs-from', v['certs-from'], 'no such directory', 'root@hdss7-200:/opt/certs');
  for (const w of s.warnings) note(`doctor: ${w}`);
  const { obs, checks, probes, findings } = await examineNode({
    host,
    expect,
    conn,
    api: s.etcd.api,
    prefix: s.etcd.prefix,
    healthzPort: s.healthzPort,
    podNetns: v['pod-netns'] ?? [],
    paths: {
      ...paths,
      persist,
      logFile,
      cafile: rooted(s.root, s.etcd.cafile),
      certfile: rooted(s.root, s.etcd.certfile),
      keyfile: rooted(s.root, s.etcd.keyfile),
    },
    context: {
      flannelVersion: s.flannelVersion,
      etcd: {
        endpoints: conn.endpoints,
        ...(conn.cafile && { cafile: conn.cafile, certfile: conn.certfile, keyfile: conn.keyfile }),
      },
      healthzPort: s.healthzPort,
      peers: cluster?.nodes ?? [],
      run: fixInvocation({
        scriptUrl: import.meta.url,
        settings: s,
        values: v,
        explicit: f.explicit,
        expect,
        endpoints: conn.endpoints,
        certsFrom: v['certs-from'],
      }),
    },
  });
  const exit = doctorExit(findings);
  if (s.json) {
    const out = {
      node: expect.name,
      exit,
      findings,
      checks: checks.map((c) => ({ id: c.id, status: c.status, reason: c.reason })),
      childProcesses: obs.processes + probes.processes,
    };
    print(`${JSON.stringify(out, null, 2)}\n`);
  } else if (!(s.quiet && exit === 0)) {
    // -q: silent when nothing is wrong, as every script
    print(`${formatDoctorReport(expect.name, findings, checks)}\n`);
  }
  return exit;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main, 'spawn');
