// The snat-fix payload against the real iptables, in throwaway network namespaces (never the
// host's rules): load the runbook node's rules, apply planSnatFix's one
// `iptables-restore --noflush` payload, read iptables-save back, plan again (must be empty).
// Both backends when present: nft (Debian's default) and legacy. Root only; skipped otherwise.

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Ip4Net } from '../../lib/core/ip4.ts';
import {
  countSnatRules,
  formatRule,
  forwardAllowed,
  parseIptablesSave,
  planSnatCommands,
  planSnatFix,
  rulesOf,
  type Ruleset,
} from '../../lib/model/iptables.ts';
import { DOCKER, FLANNEL_MASQ, REJECT, SNAT } from '../fixtures/iptables/runbook-rules.ts';

// Namespaces are named frbipt-<pid>-<random>: the pid tells a crashed run's leftovers
// (process gone) from a concurrent run's live namespaces, which are left alone.
const PREFIX = 'frbipt-';

function run(argv: readonly string[], input?: string) {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

function must(argv: readonly string[], input?: string): string {
  const r = run(argv, input);
  assert.equal(r.status, 0, `${argv.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

const have = (cmd: string) => run(['sh', '-c', `command -v ${cmd}`]).status === 0;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function makeNs(t: TestContext): string {
  const name = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  must(['ip', 'netns', 'add', name]);
  t.after(() => {
    run(['ip', 'netns', 'del', name]);
  });
  return name;
}

const skip =
  process.getuid?.() !== 0 ? 'needs root: creates network namespaces' : !have('ip') ? 'needs iproute2 (ip)' : false;

const N = Ip4Net.parse('172.7.0.0/16');
const S21 = Ip4Net.parse('172.7.21.0/24');

// The runbook node before step 6: iptables-services' /etc/sysconfig/iptables, Docker's
// masquerade rule, flannel v0.11's FORWARD rules appended after the REJECT.
const RUNBOOK_NODE = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING ${DOCKER}
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT ${REJECT}
-A FORWARD ${REJECT}
-A FORWARD -s 172.7.0.0/16 -j ACCEPT
-A FORWARD -d 172.7.0.0/16 -j ACCEPT
COMMIT
`;

const backends = [
  { name: 'nft', save: 'iptables-save', restore: 'iptables-restore', iptables: 'iptables' },
  { name: 'legacy', save: 'iptables-legacy-save', restore: 'iptables-legacy-restore', iptables: 'iptables-legacy' },
];

describe('iptables-restore --noflush with the snat-fix payload (network namespaces)', { skip }, () => {
  before(() => {
    for (const line of must(['ip', 'netns', 'list']).split('\n')) {
      const m = /^(frbipt-(\d+)-[0-9a-f]+)\b/.exec(line);
      if (m && !alive(Number(m[2]))) run(['ip', 'netns', 'del', m[1]!]);
    }
  });
  after(() => {
    const left = must(['ip', 'netns', 'list'])
      .split('\n')
      .filter((l) => l.startsWith(`${PREFIX}${process.pid}-`));
    assert.deepEqual(left, [], 'every namespace of this run was deleted');
  });

  for (const b of backends) {
    const skipB = have(b.restore) && have(b.save) ? false : `${b.restore} is not installed`;
    describe(`${b.name} backend`, { skip: skipB }, () => {
      const inNs = (ns: string, argv: readonly string[], input?: string) =>
        must(['ip', 'netns', 'exec', ns, ...argv], input);
      const observe = (ns: string): Ruleset => parseIptablesSave(inNs(ns, [b.save]));
      // The plan's command, with the backend's binary in place of iptables-restore.
      const apply = (ns: string, plan: ReturnType<typeof planSnatFix>) => {
        const [cmd, ...more] = planSnatCommands(plan);
        assert.equal(more.length, 0);
        assert.deepEqual(cmd!.argv, ['iptables-restore', '--noflush']);
        inNs(ns, [b.restore, ...cmd!.argv.slice(1)], cmd!.input);
      };
      const chain = (rs: Ruleset, table: string, name: string) => rulesOf(rs, table, name).map(formatRule);

      test('the runbook node: one payload fixes it, the second plan is empty', (t) => {
        const ns = makeNs(t);
        inNs(ns, [b.restore], RUNBOOK_NODE);
        const opts = { subnet: S21, network: N, dropReject: true };
        const before = observe(ns);
        assert.equal(forwardAllowed(before, N).ok, false);
        const plan = planSnatFix(before, opts);
        assert.equal(
          plan.payload,
          `*nat\n-I POSTROUTING 1 ${SNAT}\n-D POSTROUTING ${DOCKER}\nCOMMIT\n*filter\n-D INPUT ${REJECT}\n-D FORWARD ${REJECT}\nCOMMIT\n`,
        );
        apply(ns, plan);

        const afterFix = observe(ns);
        assert.deepEqual(chain(afterFix, 'nat', 'POSTROUTING'), [`-A POSTROUTING ${SNAT}`]);
        assert.deepEqual(chain(afterFix, 'filter', 'INPUT'), [
          '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT',
          '-A INPUT -i lo -j ACCEPT',
        ]);
        assert.deepEqual(chain(afterFix, 'filter', 'FORWARD'), [
          '-A FORWARD -s 172.7.0.0/16 -j ACCEPT',
          '-A FORWARD -d 172.7.0.0/16 -j ACCEPT',
        ]);
        const counted = countSnatRules(afterFix, opts);
        assert.deepEqual([counted.snat.count, counted.dockerMasq.count], [1, 0]);
        assert.equal(forwardAllowed(afterFix, N).ok, true);

        const again = planSnatFix(afterFix, opts);
        assert.deepEqual([again.changes, again.payload, planSnatCommands(again)], [[], '', []]);
      });

      test("Docker's rule below another jump: the SNAT rule takes its place, above flannel's --ip-masq rules", (t) => {
        const ns = makeNs(t);
        inNs(
          ns,
          [b.restore],
          [
            '*nat',
            ':POSTROUTING ACCEPT [0:0]',
            ':KUBE-POSTROUTING - [0:0]',
            '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
            `-A POSTROUTING ${DOCKER}`,
            ...FLANNEL_MASQ.map((r) => `-A POSTROUTING ${r}`),
            'COMMIT',
            '',
          ].join('\n'),
        );
        const opts = { subnet: S21, network: N, dropReject: false };
        const plan = planSnatFix(observe(ns), opts);
        assert.equal(plan.payload, `*nat\n-I POSTROUTING 2 ${SNAT}\n-D POSTROUTING ${DOCKER}\nCOMMIT\n`);
        apply(ns, plan);
        const afterFix = observe(ns);
        assert.deepEqual(chain(afterFix, 'nat', 'POSTROUTING'), [
          '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
          `-A POSTROUTING ${SNAT}`,
          ...FLANNEL_MASQ.map((r) => `-A POSTROUTING ${r}`),
        ]);
        assert.deepEqual(planSnatFix(afterFix, opts).payload, '');
      });

      test('dockerd restarted and inserted its rule again: only that rule goes', (t) => {
        const ns = makeNs(t);
        inNs(ns, [b.restore], `*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING ${SNAT}\nCOMMIT\n`);
        // What dockerd does at start: insert its rule at the top.
        inNs(ns, [b.iptables, '-t', 'nat', '-I', 'POSTROUTING', ...DOCKER.split(' ')]);
        const opts = { subnet: S21, network: N, dropReject: false };
        const plan = planSnatFix(observe(ns), opts);
        assert.equal(plan.payload, `*nat\n-D POSTROUTING ${DOCKER}\nCOMMIT\n`);
        apply(ns, plan);
        assert.deepEqual(chain(observe(ns), 'nat', 'POSTROUTING'), [`-A POSTROUTING ${SNAT}`]);
      });

      test('a payload that fails changes nothing: insert and delete share one transaction', (t) => {
        const ns = makeNs(t);
        inNs(ns, [b.restore], RUNBOOK_NODE);
        const beforeText = chain(observe(ns), 'nat', 'POSTROUTING');
        const plan = planSnatFix(observe(ns), { subnet: S21, network: N, dropReject: false });
        // The insert succeeds, then a delete fails (its rule is gone): all or nothing.
        const broken = plan.payload.replace('COMMIT\n', '-D POSTROUTING -s 10.99.0.0/16 -j RETURN\nCOMMIT\n');
        const r = run(['ip', 'netns', 'exec', ns, b.restore, '--noflush'], broken);
        assert.notEqual(r.status, 0);
        assert.deepEqual(chain(observe(ns), 'nat', 'POSTROUTING'), beforeText);
        assert.deepEqual(beforeText, [`-A POSTROUTING ${DOCKER}`]);
      });
    });
  }
});
