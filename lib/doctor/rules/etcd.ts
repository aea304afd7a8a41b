// etcd as this node reaches it with its own files: which TLS file (or the endpoint scheme) is
// wrong, v2 switched off, or nothing answering; and, when etcd answers this probe, flanneld's
// own etcd errors in its log (then flanneld.sh names other endpoints or files).

import { shellLine } from '../../core/command.ts';
import { FLANNELD_FLAGS } from '../../checks/flanneld.ts';
import { resultOf } from '../../checks/types.ts';
import { etcdctlArgv } from '../../host/etcd.ts';
import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import { wrong } from './common.ts';

/** etcd's answer to the probe (host/etcd.ts error kinds), as the finding it is. */
const ETCD_FINDING: Record<string, string> = {
  'v2-disabled': 'etcd.v2-disabled',
  'tls-ca': 'etcd.tls-ca',
  'tls-client-cert': 'etcd.tls-client-cert',
  'tls-scheme': 'etcd.tls-scheme',
  'tls-other': 'etcd.tls-other',
  'tls-files': 'etcd.tls-other',
};
/** flanneld's own etcd errors in its log (model/flanneld-log.ts ids), as the finding they are */
const LOG_ETCD_FINDING: Record<string, string> = {
  'etcd-v2-disabled': 'etcd.v2-disabled',
  'tls-unknown-ca': 'etcd.tls-ca',
  'tls-bad-certificate': 'etcd.tls-client-cert',
  'tls-scheme': 'etcd.tls-scheme',
  'etcd-unreachable': 'etcd.unreachable',
};

const flip = (ep: string) =>
  ep.startsWith('http://') ? ep.replace(/^http:/, 'https:') : ep.replace(/^https:/, 'http:');

export const etcdRules: DoctorRule = {
  name: 'etcd',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { ctx, e, obs: o, checks, probes: p, T, logEvidence, log } = s;
    const certFix = T('certs', ['--from', ctx.run.certsFrom]);
    const restartThen = `then restart flanneld so it reads them again: ${s.supervisorctl('restart')}`;
    const certsChain = wrong(checks, 'certs.chain');
    // the certs fix copies the whole set again: what else is wrong with these files goes with it
    const certsCovered = ['certs.chain', 'certs.expiry', 'certs.key-mode'].filter((id) => wrong(checks, id));
    // ---- etcd, as this probe reaches it with the node's own files
    if (!o.etcd.ok) {
      const kind = o.etcd.kind ?? 'unreachable';
      const id = ETCD_FINDING[kind] ?? 'etcd.unreachable';
      const covers = [
        'etcd.reachable',
        ...checks.filter((c) => c.status === 'error' && c.blockedBy?.kind === 'etcd').map((c) => c.id),
      ];
      const probe = `probe: ${o.etcd.error}`;
      // flanneld.sh naming other etcd flags than this probe used: flanneld may be fine, these flags are what fails
      const flagsCheck = resultOf(checks, FLANNELD_FLAGS);
      const diffs = flagsCheck?.status === 'drift' ? (flagsCheck.detail?.differences ?? []) : [];
      const etcdOnly = diffs.length > 0 && diffs.every((d) => d.name.startsWith('etcd-'));
      // the difference is the flags given here: start would write them into flanneld.sh (for an
      // endpoint nobody answers too), so the finding explains it and never offers that
      if (etcdOnly) covers.push('flanneld.flags');
      const flagsNote = etcdOnly
        ? ` (flanneld.sh names other etcd flags than this probe used: ${diffs.map((d) => `--${d.name}: have ${d.actual ?? '(absent)'}, want ${d.expected ?? '(absent)'}`).join('; ')}; if flanneld's log shows no TLS error, only the flags given here are wrong)`
        : '';
      const eps = ctx.etcd.endpoints.join(',');
      if (id === 'etcd.v2-disabled') {
        const other =
          p.otherKeySpace?.ok && p.otherKeySpace.value.config !== undefined
            ? [`v3 ${e.prefix}/config = ${p.otherKeySpace.value.config}`]
            : [];
        add({
          id,
          what: `etcd answers the v2 keys API with a plain-text 404: its v2 API is off, and flannel ${ctx.flannelVersion} speaks only v2`,
          evidence: [probe, ...other, ...logEvidence('etcd-v2-disabled')],
          cause:
            'etcd 3.4 and 3.5 serve the v2 API only with --enable-v2=true (3.5 is the last release that has it); flanneld logs `client: response is invalid json` every second and never gets a config or a lease',
          fix: "grep -qx 'ETCD_ENABLE_V2=true' /etc/default/etcd || echo 'ETCD_ENABLE_V2=true' >> /etc/default/etcd; systemctl restart etcd",
          then: `on every etcd member, one at a time; where etcd runs from a startup script (supervisord's etcd-server-7-12), add --enable-v2=true to its command line and restart that program instead. Or move to flannel >= v0.18 (etcd v3): ${T('etcd-config', ['--migrate', 'v2-to-v3'], 'cluster')} after installing it${flagsNote}`,
          checks: covers,
        });
      } else if (id === 'etcd.tls-ca') {
        add({
          id,
          what: `etcd's server certificate is not signed by the CA in ${ctx.etcd.cafile ?? '(no --cafile)'}: ca.pem is the wrong file`,
          evidence: [
            probe,
            ...(certsChain ? [`certs.chain: ${certsChain.reason}`] : []),
            ...logEvidence('tls-unknown-ca'),
          ],
          cause:
            "ca.pem is not the CA that signed the etcd members' certificates (copied from another cluster, or a certificate copied in its place); flanneld with it logs `x509: certificate signed by unknown authority`",
          fix: certFix,
          then: restartThen + flagsNote,
          checks: [...covers, ...certsCovered],
        });
      } else if (id === 'etcd.tls-client-cert') {
        add({
          id,
          what: `etcd refused the client certificate ${ctx.etcd.certfile ?? '(none given)'} (key ${ctx.etcd.keyfile ?? '(none)'}): client.pem/client-key.pem are the wrong files`,
          evidence: [
            probe,
            ...(certsChain ? [`certs.chain: ${certsChain.reason}`] : []),
            ...logEvidence('tls-bad-certificate'),
          ],
          cause:
            'client.pem is not signed by the CA etcd trusts (--trusted-ca-file), is not for client auth, or no certificate was sent (the runbook never copies client-key.pem); flanneld with it logs `remote error: tls: bad certificate`',
          fix: certFix,
          then: restartThen + flagsNote,
          checks: [...covers, ...certsCovered],
        });
      } else if (id === 'etcd.tls-scheme') {
        const fixed = ctx.etcd.endpoints.map(flip);
        add({
          id,
          what: `the etcd endpoints' scheme does not match the port: ${eps}`,
          evidence: [probe, ...logEvidence('tls-scheme')],
          cause: ctx.etcd.endpoints.some((x) => x.startsWith('http://'))
            ? 'http:// to a port that speaks TLS (etcd here serves https with client certificates): the server drops the connection, which flanneld logs as `error #0: EOF`'
            : 'https:// to a port that speaks plain HTTP',
          fix: T('start', ['--endpoints', fixed.join(',')]),
          then: `put the same endpoints in the cluster file (etcd.endpoints: ${JSON.stringify(fixed)}) so every script uses them${flagsNote}`,
          checks: covers,
        });
      } else if (id === 'etcd.tls-other') {
        add({
          id,
          what: `TLS to etcd fails before any answer: ${o.etcd.error}`,
          evidence: [probe, ...(certsChain ? [`certs.chain: ${certsChain.reason}`] : [])],
          cause: `the TLS files cannot be used: unreadable, not PEM, or ${ctx.etcd.certfile ?? 'client.pem'} and ${ctx.etcd.keyfile ?? 'client-key.pem'} are not a pair`,
          fix: certFix,
          then: restartThen + flagsNote,
          checks: [...covers, ...certsCovered],
        });
      } else if (
        o.supervisor.ok &&
        o.supervisor.value?.state === 'RUNNING' &&
        o.routes.ok &&
        o.routes.value.some((r) => e.network.containsNet(r.dst) && !r.dst.equals(e.subnet))
      ) {
        // flanneld keeps what it has while etcd is away: degraded, and a restart would lose it
        const port = /:(\d+)/.exec(ctx.etcd.endpoints[0] ?? '')?.[1] ?? '2379';
        const local = o.ruleset.ok
          ? o.ruleset.value.tables
              .filter((t) => t.name === 'filter')
              .flatMap((t) => t.chains.filter((c) => c.name === 'OUTPUT' || c.name === 'INPUT'))
              .flatMap((c) => c.rules)
              .filter((r) => new RegExp(`-p tcp .*--dport ${port}\\b.*-j (DROP|REJECT)`).test(r.spec.join(' ')))
          : [];
        add({
          id: 'etcd.outage-degraded',
          kind: local.length ? 'problem' : 'unexamined',
          what: `etcd does not answer this node (${o.etcd.error}); flanneld runs on with the routes it has: degraded, not broken`,
          evidence: [
            probe,
            `${e.program} RUNNING, ${o.routes.value.filter((r) => e.network.containsNet(r.dst)).length} routes into ${e.network} still in place`,
            ...local.map((r) => `filter ${r.chain}: -A ${r.chain} ${r.spec.join(' ')}`),
            ...logEvidence('etcd-unreachable', 'tls-scheme'),
          ],
          cause: local.length
            ? `this node's own firewall stops tcp/${port} to etcd: flanneld v0.11 keeps its routes and retries every second, but renews no lease and learns no new peer (failure case C25)`
            : 'etcd is down or cut off from this node: flanneld v0.11 keeps its routes and retries every second, so pods keep working; do NOT restart flanneld now: a new one waits for the config and has nothing (failure case C25)',
          fix: local.length
            ? local.map((r) => shellLine(['iptables', '-D', r.chain, ...r.spec])).join(' && ')
            : shellLine(etcdctlArgv(ctx.etcd, 'endpoint', 'health')),
          then: `${local.length ? 'flanneld gets through within a second; it logs nothing when it does' : 'bring the etcd members back (supervisorctl start etcd-server-... on their hosts); flanneld picks up on its own'}${flagsNote}`,
          // the saved rules differ by this rule: saving them now (drift --fix) would keep it
          checks: [...covers, ...(local.length && wrong(checks, 'iptables.persisted') ? ['iptables.persisted'] : [])],
        });
      } else {
        add({
          id: 'etcd.unreachable',
          kind: 'unexamined',
          what: `etcd did not answer: nothing could be compared with the leases (${o.etcd.error})`,
          evidence: [probe, ...logEvidence('etcd-unreachable')],
          cause:
            'etcd is down, the endpoints are wrong, or a firewall drops tcp/2379; flanneld keeps its routes meanwhile, but no lease can be renewed or learnt',
          fix: shellLine(etcdctlArgv(ctx.etcd, 'endpoint', 'health')),
          then: `start the members that are not healthy (supervisorctl start etcd-server-...), then run doctor again${flagsNote}`,
          checks: covers,
        });
      }
    } else {
      // the probe gets through: flanneld's own etcd errors mean flanneld.sh names other endpoints
      // or files; with flanneld.sh as expected they were an outage that is over (v0.11 logs
      // nothing when etcd comes back, so its last error stays in the log)
      const flags = wrong(checks, 'flanneld.flags');
      const etcdFlags = flags?.status === 'drift' && /--etcd-/.test(flags.reason);
      if (!etcdFlags && log?.recentEtcdErrors.length) {
        const last = log.recentEtcdErrors.reduce((a, b) => ((a.at?.getTime() ?? 0) >= (b.at?.getTime() ?? 0) ? a : b));
        const secs = last.at ? Math.max(0, Math.round((o.at.getTime() - last.at.getTime()) / 1000)) : undefined;
        add({
          id: 'etcd.recovered',
          kind: 'note',
          what: `flanneld logged etcd errors ${secs !== undefined ? `${secs} s ago` : 'lately'}; etcd answers now`,
          evidence: [
            ...log.recentEtcdErrors.map((x) => `${p.logFile}: ${x.line.raw}`),
            `probe with ${ctx.etcd.endpoints.join(',')} and the node's certificates: etcd answered`,
            'flanneld.flags: flanneld.sh names these endpoints and files',
          ],
          cause:
            'etcd was away for a while (a restart, a network blip): flanneld retried every second and got through again; v0.11 logs nothing when it does, so its last error line is what the log ends with',
          checks: [],
        });
        return out;
      }
      for (const [logId, id] of Object.entries(LOG_ETCD_FINDING)) {
        const cur = log?.current.get(logId);
        if (!cur || !flags) continue;
        add({
          id,
          what: `flanneld cannot use etcd: ${cur.known.meaning}`,
          evidence: [
            `${p.logFile}: ${cur.line.raw}`,
            ...(flags ? [`flanneld.flags: ${flags.reason}`] : []),
            `probe with ${ctx.etcd.endpoints.join(',')} and the node's certificates: etcd answered`,
          ],
          cause:
            "this probe gets through with the node's endpoints and certificates, so flanneld.sh names other endpoints or files than these (see flanneld.flags)",
          fix: T('start'),
          then: 'start rewrites flanneld.sh with the expected flags and restarts flanneld',
          checks: flags ? ['flanneld.flags'] : [],
        });
      }
    }
    return out;
  },
};
