// The network config, in the key space flannel reads: written through the other API (v3 for
// v0.11, v2 for v0.18+), or nowhere.

import type { EtcdApi } from '../../model/lease.ts';
import { deleteKeyCommand } from '../commands.ts';
import { wrong } from './common.ts';
import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';

export const configRules: DoctorRule = {
  name: 'config',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { ctx, e, obs: o, probes: p, T, logEvidence, checks } = s;
    const etcd = o.etcd.ok ? o.etcd.value : undefined;
    // ---- the network config, in the key space flannel reads
    if (etcd && etcd.config === undefined) {
      const other = p.otherKeySpace;
      const otherApi: EtcdApi = e.api === 'v2' ? 'v3' : 'v2';
      const inOther = other?.ok && other.value.config !== undefined ? other.value.config : undefined;
      const absent = `${e.api} ${e.prefix}/config: not found (the key space flannel ${ctx.flannelVersion} reads)`;
      if (inOther !== undefined && e.api === 'v2') {
        add({
          id: 'config.written-v3',
          what: `the network config is in etcd's v3 key space, but flannel ${ctx.flannelVersion} reads only v2`,
          evidence: [`v3 ${e.prefix}/config = ${inOther}`, absent, ...logEvidence('config-v2-missing')],
          cause:
            "it was written with the v3 API (`etcdctl put`; ETCDCTL_API=3 is etcdctl's default since etcd 3.4); the two key spaces are separate, so flanneld logs `Couldn't fetch network config: 100: Key not found` every second and never takes a lease",
          fix: T('etcd-config', ['--etcd-api', 'v2'], 'cluster'),
          then: `flanneld picks it up within a second; the v3 copy can go: ETCDCTL_API=3 etcdctl del ${e.prefix}/config`,
          checks: ['etcd.config'],
        });
      } else if (inOther !== undefined) {
        add({
          id: 'config.written-v2',
          what: `the network config is in etcd's v2 key space, but flannel ${ctx.flannelVersion} reads only v3`,
          evidence: [`v2 ${e.prefix}/config = ${inOther}`, absent, ...logEvidence('config-v3-missing')],
          cause:
            "it was written with the v2 API (`etcdctl set`, the runbook's command); flannel v0.18 and later read only v3 and log `flannel config not found in etcd store. Did you create your config using etcdv3 API?`",
          fix: T('etcd-config', ['--migrate', 'v2-to-v3'], 'cluster'),
          checks: ['etcd.config'],
        });
      } else if (p.otherPrefixes?.ok && p.otherPrefixes.value.length) {
        const found = p.otherPrefixes.value;
        // the cluster runs under another prefix (its config and leases are there, none here):
        // this node's --etcd-prefix is what is wrong, and writing a config here would split it off
        const live = found.length === 1 && found[0]!.leases > 0 && etcd.leases.length === 0 ? found[0] : undefined;
        const livePrefix = live?.key.slice(0, -'/config'.length);
        add({
          id: 'config.wrong-prefix',
          what: `no network config at ${e.prefix}/config, but ${found.map((x) => x.key).join(', ')} ${found.length > 1 ? 'hold' : 'holds'} one: ${live ? `the cluster runs under ${livePrefix} (${live.leases} lease${live.leases === 1 ? '' : 's'} there, none under ${e.prefix})` : 'it was written under another key'}`,
          evidence: [
            absent,
            ...found.map(
              (x) => `${x.api} ${x.key} = ${x.config} (${x.leases} lease${x.leases === 1 ? '' : 's'} beside it)`,
            ),
            ...logEvidence('config-v2-missing', 'config-v3-missing'),
          ],
          cause: live
            ? `flanneld reads exactly <--etcd-prefix>/config: this node's flanneld.sh names --etcd-prefix=${e.prefix}, where nothing is, while the other nodes use ${livePrefix}; flanneld logs \`Key not found\` every second and takes no lease (failure case C04)`
            : `flanneld reads exactly <--etcd-prefix>/config (${e.prefix}/config): the config went under another prefix (a distribution's /atomic.io/network, a transposed path, a missing /config), so flanneld logs \`Key not found\` every second and takes no lease (failure case C04)`,
          fix: live ? T('start', ['--etcd-prefix', livePrefix!]) : T('etcd-config', [], 'cluster'),
          then: live
            ? `start rewrites flanneld.sh with --etcd-prefix=${livePrefix} and restarts flanneld, which takes its lease there; give the same --etcd-prefix (or the cluster file's etcd.prefix) to the other scripts`
            : `etcd-config writes it at ${e.prefix}/config; the stray copy can go: ${found.map((x) => deleteKeyCommand(ctx, x.api, x.key)).join(' && ')}`,
          checks: live
            ? ['etcd.config', 'lease.own', 'flanneld.flags'].filter((id) => id === 'etcd.config' || wrong(checks, id))
            : ['etcd.config'],
        });
      } else {
        add({
          id: 'config.missing',
          what: `no network config at ${e.prefix}/config in either etcd key space`,
          evidence: [
            absent,
            other
              ? other.ok
                ? `${otherApi} ${e.prefix}/config: not found either`
                : `${otherApi}: not probed (${other.error})`
              : `${otherApi}: not probed`,
            ...logEvidence('config-v2-missing', 'config-v3-missing'),
          ],
          cause:
            'runbook step 3 (etcd-config) was never run against this etcd, or the config was deleted; flanneld waits for it forever (healthz answers meanwhile)',
          fix: T('etcd-config', [], 'cluster'),
          checks: ['etcd.config'],
        });
      }
    }
    // ---- a config flannel cannot use (its own checks: SubnetLen, SubnetMin/Max, the backend)
    if (etcd && etcd.config !== undefined && s.derived.configError !== undefined) {
      add({
        id: 'config.invalid',
        what: `the network config in etcd is not one flannel can use: ${s.derived.configError}`,
        evidence: [`${e.api} ${e.prefix}/config = ${etcd.config}`],
        cause:
          'flannel checks the config when it reads it (SubnetLen within the network and at most /30, SubnetMin/SubnetMax on a SubnetLen boundary and in order, a known backend): a flanneld that starts on this config exits or takes no lease, and one already running keeps the config it read (failure case C18)',
        fix: T('etcd-config', ['--force'], 'cluster'),
        then: `etcd-config writes the ${s.ctx.peers.length ? "cluster file's" : 'given'} config after the same checks; flanneld reads the config only at start, so restart the ones that failed on it`,
        checks: ['etcd.config'],
      });
    }
    // every check that is wrong only because there is no usable config is this finding's
    const noConfig = checks
      .filter((c) => c.status !== 'ok' && c.id !== 'etcd.config' && c.blockedBy?.kind === 'config')
      .map((c) => c.id);
    // without a config flanneld takes no lease: this node's missing lease is the same cause
    const noLease = s.derived.mine.length
      ? []
      : ['lease.own', 'lease.ttl', 'subnet-env.lease'].filter((id) =>
          checks.some((c) => c.id === id && c.status !== 'ok'),
        );
    const i = out.findIndex((f) => f.id.startsWith('config.'));
    if (i >= 0) out[i] = { ...out[i]!, checks: [...new Set([...out[i]!.checks, ...noConfig, ...noLease])] };
    return out;
  },
};
