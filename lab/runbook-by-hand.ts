// The runbook (docs/runbook.md) done by hand, as written, in the lab: what an operator types on
// each node, with the paths moved under the node's root and two lab necessities:
//   - certs: client-key.pem is copied too (the runbook forgets it; flanneld.sh needs it)
//   - snat-fix: the REJECT rules are deleted only when present (the lab can be built
//     without them), and iptables-save goes to <root>/etc/sysconfig/iptables
// It is the reference the toolkit's step scripts are compared with, and what `npm run lab`
// runs until those scripts exist. It does not depend on which flanneld the tarball holds.

import { mkdir, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { RuntimeError } from '../lib/core/errors.ts';
import type { Lab, LabNode } from './lab.ts';
import { FLANNEL_VERSION, TARBALL_NAME } from './topology.ts';
import { waitFor } from './proc.ts';
import { missingHostGwRoutes } from './verify.ts';

export interface RunbookByHandOptions {
  /** the value of /coreos.com/network/config (default the runbook's host-gw config) */
  readonly config?: string;
  /** flannel.ini startsecs (runbook: 30) */
  readonly startSecs?: number;
  /** after `supervisorctl update`, wait until every node has its host-gw routes (default true) */
  readonly waitRoutes?: boolean;
  /** also wait until supervisord says RUNNING (startsecs after the start; default false) */
  readonly waitRunning?: boolean;
  /** how long to wait for the routes (default 60 s) */
  readonly routesTimeoutMs?: number;
  /** run step 6, the snat-fix (default true) */
  readonly snatFix?: boolean;
  /** one line per step, with its duration */
  readonly log?: (line: string) => void;
}

export const RUNBOOK_CONFIG = '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}';

const opt = (n: LabNode, ...p: string[]) => join(n.root, 'opt', ...p);

async function step(log: RunbookByHandOptions['log'], what: string, f: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  await f();
  log?.(`${what} (${((performance.now() - t0) / 1000).toFixed(2)}s)`);
}

/** /opt/flannel/flanneld.sh exactly as in the runbook (relative paths: directory=/opt/flannel). */
export function runbookFlanneldSh(lab: Lab, n: LabNode): string {
  return `${[
    '#!/bin/sh',
    './flanneld \\',
    `  --public-ip=${n.ip} \\`,
    `  --etcd-endpoints=${lab.etcd.endpoints.join(',')} \\`,
    '  --etcd-keyfile=./cert/client-key.pem \\',
    '  --etcd-certfile=./cert/client.pem \\',
    '  --etcd-cafile=./cert/ca.pem \\',
    `  --iface=${n.iface} \\`,
    '  --subnet-file=./subnet.env \\',
    '  --healthz-port=2401',
  ].join('\n')}\n`;
}

/** The runbook's subnet.env: docker0's subnet, so that flanneld reclaims it. */
export function runbookSubnetEnv(lab: Lab, n: LabNode): string {
  const len = n.subnet.split('/')[1];
  return `${[`FLANNEL_NETWORK=${lab.topology.network}`, `FLANNEL_SUBNET=${n.bridgeIp}/${len}`, 'FLANNEL_MTU=1500', 'FLANNEL_IPMASQ=false'].join('\n')}\n`;
}

/** The runbook's /etc/supervisord.d/flannel.ini with the node's paths. */
export function runbookFlannelIni(n: LabNode, startSecs = 30): string {
  return `${[
    `[program:${n.program}]`,
    `command=${opt(n, 'flannel', 'flanneld.sh')}`,
    'numprocs=1',
    `directory=${opt(n, 'flannel')}`,
    'autostart=true',
    'autorestart=true',
    `startsecs=${startSecs}`,
    'startretries=3',
    'exitcodes=0,2',
    'stopsignal=QUIT',
    'stopwaitsecs=10',
    'user=root',
    'redirect_stderr=true',
    `stdout_logfile=${join(n.root, 'data', 'logs', 'flanneld', 'flanneld.stdout.log')}`,
    'stdout_logfile_maxbytes=64MB',
    'stdout_logfile_backups=4',
    'stdout_capture_maxbytes=1MB',
    'stdout_events_enabled=false',
  ].join('\n')}\n`;
}

export async function runbookByHand(lab: Lab, o: RunbookByHandOptions = {}): Promise<void> {
  const log = o.log;
  const nodes = lab.nodes;
  const sh = async (n: LabNode, argv: readonly string[], cwd?: string) => lab.exec(n.netns, argv, cwd ? { cwd } : {});

  // the runbook's wget; curl where wget is not installed (lab/setup.sh guarantees only curl)
  const hasWget =
    (await lab.exec(nodes[0]!.netns, ['sh', '-c', 'command -v wget'], { okStatus: [1, 127] })).status === 0;
  const fetch = (url: string, out: string) =>
    hasWget ? ['wget', '-q', '-O', out, url] : ['curl', '-fsS', '-o', out, url];

  await step(
    log,
    `1 install: wget the release from hdss7-200, untar into /opt/flannel-${FLANNEL_VERSION}, link /opt/flannel`,
    () =>
      Promise.all(
        nodes.map(async (n) => {
          const src = opt(n, 'src');
          await mkdir(src, { recursive: true });
          await sh(n, fetch(lab.tarball.url, join(src, TARBALL_NAME)), src);
          await sh(n, ['mkdir', opt(n, `flannel-${FLANNEL_VERSION}`)]);
          await sh(n, ['tar', 'xf', join(src, TARBALL_NAME), '-C', `${opt(n, `flannel-${FLANNEL_VERSION}`)}/`]);
          await sh(n, ['ln', '-s', `${opt(n, `flannel-${FLANNEL_VERSION}`)}/`, opt(n, 'flannel')]);
          await sh(n, ['mkdir', opt(n, 'flannel', 'cert')]);
        }),
      ),
  );

  await step(log, '2 certs: scp ca.pem, client.pem, client-key.pem from hdss7-200:/opt/certs', () =>
    Promise.all(
      nodes.map((n) =>
        sh(
          n,
          [
            'scp',
            ...lab.certHost.sshOptions,
            ...['ca.pem', 'client.pem', 'client-key.pem'].map(
              (f) => `${lab.certHost.user}@${lab.certHost.name}:${lab.certHost.certsDir}/${f}`,
            ),
            '.',
          ],
          opt(n, 'flannel', 'cert'),
        ),
      ),
    ),
  );

  const first = nodes[0]!;
  await step(
    log,
    `3 etcd config: ETCDCTL_API=2 etcdctl set /coreos.com/network/config (on ${first.name})`,
    async () => {
      const v2 = [
        'etcdctl',
        '--no-sync',
        '--endpoints',
        lab.etcd.endpoints.join(','),
        '--ca-file',
        './cert/ca.pem',
        '--cert-file',
        './cert/client.pem',
        '--key-file',
        './cert/client-key.pem',
      ];
      const env = { ...process.env, ETCDCTL_API: '2' };
      const cwd = opt(first, 'flannel');
      await lab.exec(first.netns, [...v2, 'set', '/coreos.com/network/config', o.config ?? RUNBOOK_CONFIG], {
        env,
        cwd,
      });
      const got = await lab.exec(first.netns, [...v2, 'get', '/coreos.com/network/config'], { env, cwd });
      if (got.stdout.trim() !== (o.config ?? RUNBOOK_CONFIG))
        throw new RuntimeError(`etcdctl get /coreos.com/network/config: got ${JSON.stringify(got.stdout.trim())}`);
    },
  );

  await step(
    log,
    '4 start: subnet.env, flanneld.sh, flannel.ini, mkdir /data/logs/flanneld, supervisorctl update',
    () =>
      Promise.all(
        nodes.map(async (n) => {
          await writeFile(opt(n, 'flannel', 'subnet.env'), runbookSubnetEnv(lab, n));
          await writeFile(opt(n, 'flannel', 'flanneld.sh'), runbookFlanneldSh(lab, n));
          await chmod(opt(n, 'flannel', 'flanneld.sh'), 0o755);
          await writeFile(join(n.root, 'etc', 'supervisord.d', 'flannel.ini'), runbookFlannelIni(n, o.startSecs));
          await sh(n, ['mkdir', '-p', join(n.root, 'data', 'logs', 'flanneld')]);
          await lab.supervisorctl(n, ['update']);
        }),
      ),
  );

  if (o.waitRoutes ?? true) {
    await step(
      log,
      "5 verify: (supervisorctl status says RUNNING;) every node has a host-gw route to every other node's subnet",
      () =>
        Promise.all(
          nodes.map(async (n) => {
            const log = join(n.root, 'data', 'logs', 'flanneld', 'flanneld.stdout.log');
            if (o.waitRunning)
              await waitFor(
                `${n.program} RUNNING on ${n.name} (see ${log})`,
                async () => {
                  const st = await lab.supervisorctl(n, ['status', n.program], { okStatus: [1, 2, 3] });
                  return /\bRUNNING\b/.test(st.stdout) ? true : undefined;
                },
                { timeoutMs: o.routesTimeoutMs ?? 60_000, everyMs: 200 },
              );
            await waitFor(
              `host-gw routes on ${n.name} (see ${log})`,
              async () => ((await missingHostGwRoutes(lab, n)).length === 0 ? true : undefined),
              { timeoutMs: o.routesTimeoutMs ?? 60_000, everyMs: 200 },
            );
          }),
        ),
    );
  }

  if (o.snatFix ?? true) {
    await step(
      log,
      '6 snat-fix: masquerade only traffic leaving 172.7.0.0/16, drop the REJECT rules, iptables-save',
      () =>
        Promise.all(
          nodes.map(async (n) => {
            const ipt = (...args: string[]) => lab.exec(n.netns, ['iptables', ...args]);
            await ipt('-t', 'nat', '-D', 'POSTROUTING', '-s', n.subnet, '!', '-o', 'docker0', '-j', 'MASQUERADE');
            await ipt(
              '-t',
              'nat',
              '-I',
              'POSTROUTING',
              '-s',
              n.subnet,
              '!',
              '-d',
              lab.topology.network,
              '!',
              '-o',
              'docker0',
              '-j',
              'MASQUERADE',
            );
            for (const chain of ['INPUT', 'FORWARD']) {
              const rule = [chain, '-j', 'REJECT', '--reject-with', 'icmp-host-prohibited'];
              const present = await lab.exec(n.netns, ['iptables', '-t', 'filter', '-C', ...rule], { okStatus: [1] });
              if (present.status === 0) await ipt('-t', 'filter', '-D', ...rule);
            }
            const saved = await lab.exec(n.netns, ['iptables-save']);
            await mkdir(join(n.root, 'etc', 'sysconfig'), { recursive: true });
            await writeFile(join(n.root, 'etc', 'sysconfig', 'iptables'), saved.stdout);
          }),
        ),
    );
  }
}
