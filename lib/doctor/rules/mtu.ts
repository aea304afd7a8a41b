// MTU: subnet.env against the backend, docker0, its ports and the pods.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import { shellLine } from '../../core/command.ts';
import { SUBNET_ENV_LEASE } from '../../checks/subnet-env.ts';
import { resultOf } from '../../checks/types.ts';
import type { Link } from '../../host/observe.ts';
import { backendMtu } from '../../model/netconfig.ts';
import { parseEnv, wrong } from './common.ts';

export const mtuRules: DoctorRule = {
  name: 'mtu',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { e, obs: o, probes: p, checks, derived, T } = s;
    const { config, dev } = derived;
    const env = parseEnv(o.files.subnetEnv);
    // ---- MTU: subnet.env against the backend, docker0, its ports and the pods
    if (env) {
      const links = p.links.ok ? p.links.value : [];
      const fromBackend = config && dev ? backendMtu(config.backend, dev.mtu) : undefined;
      const target = fromBackend ?? env.mtu;
      const evidence: string[] = [`${e.paths.subnetEnv}: FLANNEL_MTU=${env.mtu}`];
      const fixes: string[] = [];
      const problems: string[] = [];
      if (fromBackend !== undefined && fromBackend !== env.mtu) {
        problems.push(
          `FLANNEL_MTU=${env.mtu}, but ${config!.backend.type} on ${e.iface} (mtu ${dev!.mtu}) gives ${fromBackend}`,
        );
        evidence.push(`${e.iface} mtu ${dev!.mtu} -> ${config!.backend.type} MTU ${fromBackend}`);
        fixes.push(T('drift', ['--fix']));
      }
      const br = links.find((l) => l.name === e.bridge);
      if (br && br.mtu !== target) {
        problems.push(`${e.bridge} mtu ${br.mtu}`);
        evidence.push(`${e.bridge} mtu ${br.mtu}`);
        fixes.push(shellLine(['ip', 'link', 'set', 'dev', e.bridge, 'mtu', String(target)]));
      }
      for (const port of links.filter((l) => l.master === e.bridge && l.mtu !== target)) {
        problems.push(`${port.name} (port of ${e.bridge}) mtu ${port.mtu}`);
        evidence.push(`${port.name} (port of ${e.bridge}) mtu ${port.mtu}`);
        fixes.push(shellLine(['ip', 'link', 'set', 'dev', port.name, 'mtu', String(target)]));
      }
      for (const pod of p.pods) {
        const podLinks: Link[] = pod.links.ok ? pod.links.value.filter((l) => l.name !== 'lo') : [];
        for (const l of podLinks.filter((x) => x.mtu !== target)) {
          problems.push(`pod ${pod.netns} ${l.name} mtu ${l.mtu}`);
          evidence.push(`netns ${pod.netns}: ${l.name} mtu ${l.mtu}`);
          fixes.push(
            shellLine(['ip', 'netns', 'exec', pod.netns, 'ip', 'link', 'set', 'dev', l.name, 'mtu', String(target)]),
          );
        }
      }
      if (problems.length) {
        const envCheck = resultOf(checks, SUBNET_ENV_LEASE);
        const onlyMtu =
          envCheck?.status === 'drift' &&
          envCheck.detail?.state === 'differs' &&
          envCheck.detail.problems.every((x) => x.field === 'FLANNEL_MTU');
        add({
          id: 'mtu.mismatch',
          what: `MTU mismatch: the pod network's MTU is ${target}, but ${problems.join('; ')}`,
          evidence,
          cause: `dockerd's --mtu must equal FLANNEL_MTU (mk-docker-opts.sh passes it), and pods inherit it: a larger MTU than the path's loses big packets (TCP stalls after the handshake, big pings are lost), a smaller one only wastes; the bridge or a pod was changed by hand, or dockerd started without --mtu`,
          fix: fixes.join(' && '),
          then: `make it last: dockerd --mtu=${target}; pods created before get their MTU only when they are recreated`,
          checks: [...(onlyMtu ? ['subnet-env.lease'] : []), ...(wrong(checks, 'mtu.bridge') ? ['mtu.bridge'] : [])],
        });
      }
    }
    return out;
  },
};
