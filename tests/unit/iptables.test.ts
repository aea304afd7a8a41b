// lib/iptables.ts: parser, rules as data, snat-fix planner and checks. Fixtures are the real
// daemons' `iptables-save`, cut byte-exact from the observed v0.11.0 and
// v0.20.2 runs (docs/flannel-facts.md, fixtures) (h21's section of NN-*-iptables.txt unless the name says h22; 33- is the
// banner-less dump in 33-ipmasq-leftovers.txt). Hand-written inputs follow what iptables
// 1.8.9 printed in a throwaway namespace.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ip4Net } from '../../lib/core/ip4.ts';
import { OutputError, UsageError } from '../../lib/core/errors.ts';
import {
  countSnatRules,
  countRule,
  dockerMasqRule,
  flannelForwardChainRules,
  flannelForwardRules,
  flannelIpMasqRules,
  flannelMasqChainRules,
  forwardAllowed,
  judgeFlows,
  legacyTablesPresent,
  podFlows,
  ruleMatchesFlow,
  formatRule,
  parseIptablesSave,
  planSnatCommands,
  planSnatFix,
  rejectRules,
  ruleKey,
  rulesOf,
  runbookSnatRule,
  type Rule,
  type Ruleset,
  type SnatPlan,
} from '../../lib/model/iptables.ts';
import { DOCKER, FLANNEL_MASQ, REJECT, SNAT } from '../fixtures/iptables/runbook-rules.ts';

const fixture = (p: string) => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8');
const net = (s: string) => Ip4Net.parse(s);
const N = net('172.7.0.0/16');
const S21 = net('172.7.21.0/24');
const lines = (rs: readonly Rule[]) => rs.map(formatRule);
const allRules = (rs: Ruleset) => rs.tables.flatMap((t) => t.chains.flatMap((c) => c.rules));

// iptables-save text from table blocks: {nat: {POSTROUTING: [...]}, filter: {...}}.
function save(tables: Record<string, Record<string, string[]>>, policies: Record<string, string> = {}): string {
  const builtins: Record<string, string[]> = {
    filter: ['INPUT', 'FORWARD', 'OUTPUT'],
    nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  };
  return Object.entries(tables)
    .map(([t, chains]) => {
      const names = [...new Set([...(builtins[t] ?? []), ...Object.keys(chains)])];
      const decl = names.map((c) => `:${c} ${(builtins[t] ?? []).includes(c) ? (policies[c] ?? 'ACCEPT') : '-'} [0:0]`);
      const rules = names.flatMap((c) => (chains[c] ?? []).map((r) => `-A ${c} ${r}`));
      return [`*${t}`, ...decl, ...rules, 'COMMIT', ''].join('\n');
    })
    .join('');
}

// The runbook's node before step 6: Docker's rule, iptables-services' REJECTs, flannel's
// FORWARD rules appended after them.
const RUNBOOK_NODE = save({
  nat: { POSTROUTING: [DOCKER] },
  filter: {
    INPUT: ['-m state --state RELATED,ESTABLISHED -j ACCEPT', '-i lo -j ACCEPT', REJECT],
    FORWARD: [REJECT, '-s 172.7.0.0/16 -j ACCEPT', '-d 172.7.0.0/16 -j ACCEPT'],
  },
});

// What iptables-restore --noflush does with our payload, in memory: -I at a position,
// -D the first rule with the same words. The namespace test checks the real thing.
function applyPlan(rs: Ruleset, plan: SnatPlan): Ruleset {
  const copy: Ruleset = {
    tables: rs.tables.map((t) => ({ name: t.name, chains: t.chains.map((c) => ({ ...c, rules: [...c.rules] })) })),
  };
  for (const ch of plan.changes) {
    let table = copy.tables.find((t) => t.name === ch.rule.table);
    if (!table) {
      table = { name: ch.rule.table, chains: [] };
      copy.tables.push(table);
    }
    let chain = table.chains.find((c) => c.name === ch.rule.chain);
    if (!chain) {
      chain = { name: ch.rule.chain, policy: 'ACCEPT', rules: [] };
      table.chains.push(chain);
    }
    if (ch.action === 'insert') {
      assert.ok(ch.position! <= chain.rules.length + 1, 'iptables: Index of insertion too big');
      chain.rules.splice(ch.position! - 1, 0, ch.rule);
    } else {
      const i = chain.rules.findIndex((r) => ruleKey(r) === ruleKey(ch.rule));
      assert.ok(i >= 0, `iptables: Bad rule (does a matching rule exist in that chain?): ${formatRule(ch.rule)}`);
      chain.rules.splice(i, 1);
    }
  }
  return copy;
}

describe('iptables', () => {
  describe('parseIptablesSave on the real daemon output', () => {
    test('v0.11.0 host-gw: filter only, flannel FORWARD rules appended', () => {
      const rs = parseIptablesSave(fixture('v0.11.0/22-hostgw-nomasq-iptables.save'));
      assert.deepEqual(
        rs.tables.map((t) => [t.name, t.chains.map((c) => `${c.name} ${c.policy}`)]),
        [['filter', ['INPUT ACCEPT', 'FORWARD ACCEPT', 'OUTPUT ACCEPT']]],
      );
      assert.deepEqual(rulesOf(rs, 'filter', 'FORWARD'), flannelForwardRules(N));
      assert.deepEqual(rs.tables[0]!.chains[0]!.counters, { packets: 0, bytes: 0 });
    });
    const masq: { file: string; subnet: string }[] = [
      { file: 'v0.11.0/31-hostgw-ipmasq-iptables.save', subnet: '172.7.21.0/24' },
      { file: 'v0.11.0/31-hostgw-ipmasq-iptables-h22.save', subnet: '172.7.22.0/24' },
      { file: 'v0.11.0/33-ipmasq-leftovers-iptables.save', subnet: '172.7.21.0/24' },
    ];
    for (const c of masq) {
      test(`v0.11.0 --ip-masq: ${c.file} holds exactly flannelIpMasqRules`, () => {
        const rs = parseIptablesSave(fixture(c.file));
        assert.deepEqual(rulesOf(rs, 'nat', 'POSTROUTING'), flannelIpMasqRules(N, net(c.subnet)));
        assert.deepEqual(rulesOf(rs, 'filter', 'FORWARD'), flannelForwardRules(N));
      });
    }
    test('v0.20.2: FLANNEL-FWD and FLANNEL-POSTRTG chains with comments', () => {
      const fwd = parseIptablesSave(fixture('v0.20.2/12-hostgw-nomasq-iptables.save'));
      assert.deepEqual(allRules(fwd), flannelForwardChainRules(N));
      assert.equal(fwd.tables[0]!.chains[3]!.policy, '-');
      const masqRs = parseIptablesSave(fixture('v0.20.2/20-hostgw-ipmasq-iptables.save'));
      assert.deepEqual(allRules(masqRs), [...flannelForwardChainRules(N), ...flannelMasqChainRules(N, S21)]);
      assert.deepEqual(rulesOf(masqRs, 'filter', 'FLANNEL-FWD')[0]!.spec, [
        '-s',
        '172.7.0.0/16',
        '-m',
        'comment',
        '--comment',
        'flanneld forward',
        '-j',
        'ACCEPT',
      ]);
    });
    const all = [
      'v0.11.0/22-hostgw-nomasq-iptables.save',
      'v0.11.0/31-hostgw-ipmasq-iptables.save',
      'v0.11.0/33-ipmasq-leftovers-iptables.save',
      'v0.20.2/12-hostgw-nomasq-iptables.save',
      'v0.20.2/20-hostgw-ipmasq-iptables.save',
    ];
    for (const file of all) {
      test(`formatRule prints every rule of ${file} exactly as iptables-save did`, () => {
        const text = fixture(file);
        assert.deepEqual(
          lines(allRules(parseIptablesSave(text))),
          text.split('\n').filter((l) => l.startsWith('-A ')),
        );
      });
    }
  });

  describe('parseIptablesSave on other shapes', () => {
    test('reads quoted words as iptables-restore does, and prints them back the same', () => {
      // iptables 1.8.9's own output for comments `a b "c"`, `simple`, `x'y`, `` and `tab\there back\slash`.
      const text = [
        '# Generated by iptables-save v1.8.9 (nf_tables) on Thu Nov 26 13:08:12 2026',
        '*nat',
        ':POSTROUTING ACCEPT [0:0]',
        '-A POSTROUTING -m comment --comment "a b \\"c\\"" -j RETURN',
        '-A POSTROUTING -m comment --comment simple -j RETURN',
        '-A POSTROUTING -m comment --comment "x\\\'y" -j RETURN',
        '-A POSTROUTING -m comment --comment "" -j RETURN',
        '-A POSTROUTING -m comment --comment "tab\\\\there back\\\\slash" -j RETURN',
        '-A POSTROUTING -m comment --comment "10.4.7.21" -j RETURN',
        '-A POSTROUTING -p tcp -m multiport --dports 80,443 -m mark --mark 0x4000/0x4000 -j RETURN',
        'COMMIT',
        '# Completed on Thu Nov 26 13:08:12 2026',
        '',
      ].join('\n');
      const rules = rulesOf(parseIptablesSave(text), 'nat', 'POSTROUTING');
      assert.deepEqual(
        rules.map((r) => r.spec[3]),
        ['a b "c"', 'simple', "x'y", '', 'tab\\there back\\slash', '10.4.7.21', 'multiport'],
      );
      assert.deepEqual(
        lines(rules),
        text.split('\n').filter((l) => l.startsWith('-A ')),
      );
    });
    test('reads `iptables-save -c` counters, a legacy banner and the nft warning', () => {
      const text = [
        '# Warning: iptables-legacy tables present, use iptables-legacy-save to see them',
        '# Generated by iptables-save v1.4.21 on Thu Nov 26 13:08:18 2026',
        '*filter',
        ':INPUT ACCEPT [120:9600]',
        ':FORWARD DROP [3:180]',
        ':OUTPUT ACCEPT [0:0]',
        ':DOCKER-USER - [0:0]',
        '[7:420] -A FORWARD -j DOCKER-USER',
        '[0:0] -A DOCKER-USER -j RETURN',
        'COMMIT',
        '',
      ].join('\n');
      const rs = parseIptablesSave(text);
      const fwd = rs.tables[0]!.chains[1]!;
      assert.deepEqual([fwd.policy, fwd.counters], ['DROP', { packets: 3, bytes: 180 }]);
      assert.deepEqual(fwd.rules, [
        { table: 'filter', chain: 'FORWARD', spec: ['-j', 'DOCKER-USER'], counters: { packets: 7, bytes: 420 } },
      ]);
      assert.equal(rs.tables[0]!.chains[3]!.rules[0]!.chain, 'DOCKER-USER');
    });
    test('reads empty output (no tables loaded) as an empty ruleset', () => {
      assert.deepEqual(parseIptablesSave(''), { tables: [] });
      assert.deepEqual(rulesOf(parseIptablesSave(''), 'nat', 'POSTROUTING'), []);
    });
  });

  describe('parseIptablesSave rejects garbage with one line naming the line number', () => {
    const cases: { name: string; text: string; message: RegExp }[] = [
      {
        name: 'a rule outside a table',
        text: '-A FORWARD -j ACCEPT\n',
        message:
          /^iptables-save line 1 "-A FORWARD -j ACCEPT": outside a table: no "\*table" line before it \(or after the last COMMIT\), e\.g\. \*filter$/,
      },
      {
        name: 'a rule after COMMIT',
        text: '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n-A FORWARD -j ACCEPT\n',
        message: /^iptables-save line 4 .*: outside a table/,
      },
      {
        name: 'a rule on an undeclared chain',
        text: '*filter\n:FORWARD ACCEPT [0:0]\n-A FLANNEL-FWD -s 172.7.0.0/16 -j ACCEPT\nCOMMIT\n',
        message:
          /^iptables-save line 3 ".*": chain FLANNEL-FWD is not declared in table filter \(no ":FLANNEL-FWD \.\.\." line above\), e\.g\. :FLANNEL-FWD ACCEPT \[0:0\]$/,
      },
      {
        name: 'a missing COMMIT at the end',
        text: '*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j RETURN\n',
        message: /^iptables-save line 4 "end of input": table nat \(line 1\) has no COMMIT, e\.g\. COMMIT$/,
      },
      {
        name: 'a missing COMMIT before the next table',
        text: '*nat\n:POSTROUTING ACCEPT [0:0]\n*filter\nCOMMIT\n',
        message: /^iptables-save line 3 "\*filter": table nat \(line 1\) has no COMMIT before the next table/,
      },
      {
        name: 'a table twice (two dumps pasted together)',
        text: '*nat\nCOMMIT\n*nat\nCOMMIT\n',
        message: /^iptables-save line 3 "\*nat": table nat appears twice/,
      },
      {
        name: 'a bad chain line',
        text: '*filter\n:FORWARD\nCOMMIT\n',
        message: /^iptables-save line 2 ":FORWARD": a chain line is ":NAME POLICY \[packets:bytes\]"/,
      },
      {
        name: 'a bad policy',
        text: '*filter\n:FORWARD REJECT [0:0]\nCOMMIT\n',
        message: /^iptables-save line 2 ".*": policy REJECT is not ACCEPT, DROP or "-"/,
      },
      {
        name: 'a chain declared twice',
        text: '*filter\n:FORWARD ACCEPT [0:0]\n:FORWARD DROP [0:0]\nCOMMIT\n',
        message: /^iptables-save line 3 ".*": chain FORWARD declared twice in table filter$/,
      },
      {
        name: 'an unterminated quote',
        text: '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m comment --comment "flanneld forward -j ACCEPT\nCOMMIT\n',
        message:
          /^iptables-save line 3 ".*": unterminated quote at column 33, e\.g\. -m comment --comment "flanneld forward"$/,
      },
      {
        name: 'an unterminated quote after counters',
        text: '*filter\n:FORWARD ACCEPT [0:0]\n[12:345] -A FORWARD -m comment --comment "x\nCOMMIT\n',
        message: /^iptables-save line 3 ".*": unterminated quote at column 42,/,
      },
      {
        name: 'an iptables-restore command that iptables-save never prints',
        text: '*nat\n:POSTROUTING ACCEPT [0:0]\n-I POSTROUTING 1 -j RETURN\nCOMMIT\n',
        message: /^iptables-save line 3 "-I POSTROUTING 1 -j RETURN": not a line iptables-save prints/,
      },
      {
        name: 'a bad table name',
        text: '*NAT\nCOMMIT\n',
        message: /^iptables-save line 1 "\*NAT": a table name is lower-case letters, e\.g\. \*nat$/,
      },
      {
        name: '`iptables -S` output instead of iptables-save',
        text: '-P INPUT ACCEPT\n-P FORWARD ACCEPT\n',
        message: /^iptables-save line 1 "-P INPUT ACCEPT": outside a table/,
      },
    ];
    for (const c of cases) {
      test(`rejects ${c.name}`, () => {
        assert.throws(
          () => parseIptablesSave(c.text),
          (e: unknown) => {
            assert.ok(e instanceof OutputError, 'unreadable output is exit 3, not a usage error');
            assert.match(e.message, c.message);
            assert.ok(!e.message.includes('\n'), 'one line');
            return true;
          },
        );
      });
    }
  });

  describe('rules as data', () => {
    const cases: { name: string; rules: Rule[]; want: string[] }[] = [
      { name: 'runbookSnatRule', rules: [runbookSnatRule(S21, N)], want: [`-t nat -A POSTROUTING ${SNAT}`] },
      {
        name: 'runbookSnatRule from subnet.env form and another bridge',
        rules: [runbookSnatRule(net('172.7.22.1/24'), N, 'cni0')],
        want: ['-t nat -A POSTROUTING -s 172.7.22.0/24 ! -d 172.7.0.0/16 ! -o cni0 -j MASQUERADE'],
      },
      { name: 'dockerMasqRule', rules: [dockerMasqRule(S21)], want: [`-t nat -A POSTROUTING ${DOCKER}`] },
      {
        name: 'rejectRules',
        rules: rejectRules(),
        want: [`-t filter -A INPUT ${REJECT}`, `-t filter -A FORWARD ${REJECT}`],
      },
      {
        name: 'flannelIpMasqRules without --random-fully',
        rules: flannelIpMasqRules(N, S21, { randomFully: false }),
        want: FLANNEL_MASQ.map((r) => `-t nat -A POSTROUTING ${r.replace(' --random-fully', '')}`),
      },
    ];
    for (const c of cases) {
      test(`${c.name} is written as iptables-save prints it`, () => {
        assert.deepEqual(c.rules.map(ruleKey), c.want);
      });
    }
    test("countRule counts exact copies in the rule's own chain", () => {
      const rs = parseIptablesSave(save({ nat: { POSTROUTING: [DOCKER, SNAT, DOCKER], OUTPUT: [SNAT] } }));
      assert.equal(countRule(rs, dockerMasqRule(S21)), 2);
      assert.equal(countRule(rs, runbookSnatRule(S21, N)), 1);
      assert.equal(countRule(rs, rejectRules()[0]!), 0);
      assert.equal(countRule(parseIptablesSave(''), dockerMasqRule(S21)), 0);
    });
  });

  describe('planSnatFix', () => {
    const cases: {
      name: string;
      text: string;
      dropReject?: boolean;
      bridge?: string;
      payload: string;
      kept?: number;
    }[] = [
      {
        name: "the runbook node with dropReject: insert where Docker's rule is, then delete it, then the REJECTs",
        text: RUNBOOK_NODE,
        dropReject: true,
        payload: `*nat\n-I POSTROUTING 1 ${SNAT}\n-D POSTROUTING ${DOCKER}\nCOMMIT\n*filter\n-D INPUT ${REJECT}\n-D FORWARD ${REJECT}\nCOMMIT\n`,
      },
      {
        name: 'the runbook node without dropReject: the REJECTs stay and are reported',
        text: RUNBOOK_NODE,
        payload: `*nat\n-I POSTROUTING 1 ${SNAT}\n-D POSTROUTING ${DOCKER}\nCOMMIT\n`,
        kept: 2,
      },
      {
        name: "Docker's rule below kube-proxy's jump, above flannel's --ip-masq rules: the SNAT rule takes its place",
        text: save({
          nat: {
            POSTROUTING: [
              '-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
              DOCKER,
              ...FLANNEL_MASQ,
            ],
            'KUBE-POSTROUTING': [],
          },
        }),
        payload: `*nat\n-I POSTROUTING 2 ${SNAT}\n-D POSTROUTING ${DOCKER}\nCOMMIT\n`,
      },
      {
        name: 'no Docker rule and no SNAT rule: insert at the top',
        text: save({ nat: { POSTROUTING: FLANNEL_MASQ } }),
        payload: `*nat\n-I POSTROUTING 1 ${SNAT}\nCOMMIT\n`,
      },
      {
        name: 'no nat table at all: insert at the top',
        text: '',
        payload: `*nat\n-I POSTROUTING 1 ${SNAT}\nCOMMIT\n`,
      },
      {
        name: "Docker's rule twice: every copy goes",
        text: save({ nat: { POSTROUTING: ['-j RETURN -m comment --comment other', DOCKER, DOCKER] } }),
        payload: `*nat\n-I POSTROUTING 2 ${SNAT}\n-D POSTROUTING ${DOCKER}\n-D POSTROUTING ${DOCKER}\nCOMMIT\n`,
      },
      {
        name: 'dockerd restarted and put its rule back above ours: only the delete',
        text: save({ nat: { POSTROUTING: [DOCKER, SNAT] } }),
        payload: `*nat\n-D POSTROUTING ${DOCKER}\nCOMMIT\n`,
      },
      {
        name: 'the SNAT rule twice: delete the extra copy, never insert',
        text: save({ nat: { POSTROUTING: [SNAT, ...FLANNEL_MASQ, SNAT] } }),
        payload: `*nat\n-D POSTROUTING ${SNAT}\nCOMMIT\n`,
      },
      {
        name: 'another bridge name (cni0)',
        text: save({ nat: { POSTROUTING: ['-s 172.7.21.0/24 ! -o cni0 -j MASQUERADE', DOCKER] } }),
        bridge: 'cni0',
        payload:
          '*nat\n-I POSTROUTING 1 -s 172.7.21.0/24 ! -d 172.7.0.0/16 ! -o cni0 -j MASQUERADE\n-D POSTROUTING -s 172.7.21.0/24 ! -o cni0 -j MASQUERADE\nCOMMIT\n',
      },
      {
        name: 'rules the toolkit does not own are never touched',
        text: save({
          nat: {
            POSTROUTING: [
              '-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
              '-s 172.7.21.0/24 ! -o docker0 -j MASQUERADE --random-fully',
              '-s 172.7.21.0/24 -o eth0 -j MASQUERADE',
              SNAT,
            ],
          },
          filter: {
            INPUT: ['-p tcp -j REJECT --reject-with tcp-reset', '-j REJECT --reject-with icmp-port-unreachable'],
            FORWARD: ['-i docker0 -j REJECT --reject-with icmp-host-prohibited', '-j DROP'],
            OUTPUT: [REJECT],
          },
        }),
        dropReject: true,
        payload: '',
      },
    ];
    for (const c of cases) {
      test(c.name, () => {
        const rs = parseIptablesSave(c.text);
        const opts = {
          subnet: S21,
          network: N,
          dropReject: c.dropReject ?? false,
          ...(c.bridge ? { bridge: c.bridge } : {}),
        };
        const plan = planSnatFix(rs, opts);
        assert.equal(plan.payload, c.payload);
        assert.equal(plan.kept.length, c.kept ?? 0);
        assert.ok(
          plan.changes.every((ch) => ch.why.length > 0),
          'every change has a why',
        );
        // Applied, it converges: the second plan is empty and the end state is the fix.
        const after = applyPlan(rs, plan);
        const again = planSnatFix(after, opts);
        assert.deepEqual([again.changes, again.payload], [[], '']);
        const snat = runbookSnatRule(S21, N, c.bridge);
        assert.equal(countRule(after, snat), 1);
        assert.equal(countRule(after, dockerMasqRule(S21, c.bridge)), 0);
      });
    }

    test("the SNAT rule lands where Docker's rule was, above flannel's rules", () => {
      const rs = parseIptablesSave(
        save({ nat: { POSTROUTING: ['-j KUBE-POSTROUTING', DOCKER, ...FLANNEL_MASQ], 'KUBE-POSTROUTING': [] } }),
      );
      const after = applyPlan(rs, planSnatFix(rs, { subnet: S21, network: N, dropReject: false }));
      assert.deepEqual(
        rulesOf(after, 'nat', 'POSTROUTING').map((r) => r.spec.join(' ')),
        ['-j KUBE-POSTROUTING', SNAT, ...FLANNEL_MASQ],
      );
    });

    test('changes carry their action, rule, position and why', () => {
      const plan = planSnatFix(parseIptablesSave(RUNBOOK_NODE), { subnet: S21, network: N, dropReject: true });
      assert.deepEqual(
        plan.changes.map((c) => [c.action, ruleKey(c.rule), c.position, c.why]),
        [
          [
            'insert',
            `-t nat -A POSTROUTING ${SNAT}`,
            1,
            "masquerade pod traffic only when it leaves 172.7.0.0/16; goes in at 1, where Docker's rule is, before that one goes",
          ],
          [
            'delete',
            `-t nat -A POSTROUTING ${DOCKER}`,
            undefined,
            "Docker's rule masquerades pod-to-pod traffic to other nodes",
          ],
          [
            'delete',
            `-t filter -A INPUT ${REJECT}`,
            undefined,
            "iptables-services' catch-all REJECT in INPUT (--reject drop: the host's INPUT is now open)",
          ],
          [
            'delete',
            `-t filter -A FORWARD ${REJECT}`,
            undefined,
            "iptables-services' catch-all REJECT in FORWARD rejects pod traffic before flannel's ACCEPT rules (--reject drop)",
          ],
        ],
      );
    });

    test('reports the REJECTs it keeps without dropReject', () => {
      const plan = planSnatFix(parseIptablesSave(RUNBOOK_NODE), { subnet: S21, network: N, dropReject: false });
      assert.deepEqual(
        plan.kept.map((k) => [ruleKey(k.rule), k.why]),
        [
          [
            `-t filter -A INPUT ${REJECT}`,
            'INPUT ends in a catch-all REJECT; kept (--reject keep; snat-fix --reject drop removes it)',
          ],
          [
            `-t filter -A FORWARD ${REJECT}`,
            'FORWARD ends in a catch-all REJECT that rejects forwarded pod traffic; kept (--reject keep; snat-fix --reject drop removes it)',
          ],
        ],
      );
    });

    test('planSnatCommands: one iptables-restore --noflush, or nothing', () => {
      const plan = planSnatFix(parseIptablesSave(RUNBOOK_NODE), { subnet: S21, network: N, dropReject: false });
      assert.deepEqual(planSnatCommands(plan), [
        {
          argv: ['iptables-restore', '--noflush'],
          input: `*nat\n-I POSTROUTING 1 ${SNAT}\n-D POSTROUTING ${DOCKER}\nCOMMIT\n`,
          why: 'snat-fix in one transaction per table (insert 1, delete 1); --noflush keeps every other rule',
        },
      ]);
      assert.deepEqual(planSnatCommands({ changes: [], payload: '', kept: [] }), []);
    });

    const bad: { name: string; opts: Parameters<typeof planSnatFix>[1]; message: RegExp }[] = [
      {
        name: 'a subnet outside the network',
        opts: { subnet: net('10.9.1.0/24'), network: N, dropReject: false },
        message:
          /^subnet "10\.9\.1\.0\/24": must lie inside the flannel network 172\.7\.0\.0\/16, e\.g\. 172\.7\.21\.0\/24 in 172\.7\.0\.0\/16$/,
      },
      {
        name: 'a bridge name that is no interface name',
        opts: { subnet: S21, network: N, bridge: 'docker0 -j ACCEPT', dropReject: false },
        message: /^bridge "docker0 -j ACCEPT": must be an interface name/,
      },
    ];
    for (const c of bad) {
      test(`refuses ${c.name}`, () => {
        assert.throws(
          () => planSnatFix(parseIptablesSave(''), c.opts),
          (e: unknown) => e instanceof UsageError && c.message.test(e.message),
        );
      });
    }
  });

  describe('countSnatRules', () => {
    const cases: { name: string; text: string; want: [number, number] }[] = [
      { name: 'the runbook node before the fix', text: RUNBOOK_NODE, want: [0, 1] },
      { name: 'after the fix', text: save({ nat: { POSTROUTING: [SNAT] } }), want: [1, 0] },
      { name: 'dockerd restarted', text: save({ nat: { POSTROUTING: [DOCKER, SNAT] } }), want: [1, 1] },
      { name: 'the SNAT rule twice', text: save({ nat: { POSTROUTING: [SNAT, SNAT] } }), want: [2, 0] },
    ];
    for (const c of cases) {
      test(`counts ${c.name}`, () => {
        const n = countSnatRules(parseIptablesSave(c.text), { subnet: S21, network: N });
        assert.deepEqual([n.snat.count, n.dockerMasq.count], c.want);
        assert.equal(formatRule(n.snat.rule), `-A POSTROUTING ${SNAT}`);
        assert.equal(formatRule(n.dockerMasq.rule), `-A POSTROUTING ${DOCKER}`);
      });
    }
  });

  describe('forwardAllowed', () => {
    const FLANNEL_FWD = ['-s 172.7.0.0/16 -j ACCEPT', '-d 172.7.0.0/16 -j ACCEPT'];
    const cases: { name: string; text: string; ok: boolean; reason?: string }[] = [
      { name: 'v0.11.0 flannel rules', text: fixture('v0.11.0/22-hostgw-nomasq-iptables.save'), ok: true },
      {
        name: 'v0.20.2 FLANNEL-FWD reached by its jump',
        text: fixture('v0.20.2/12-hostgw-nomasq-iptables.save'),
        ok: true,
        reason:
          'pod traffic from 172.7.0.0/16 accepted by `-A FLANNEL-FWD -s 172.7.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT` (reached from FORWARD); to 172.7.0.0/16 accepted by `-A FLANNEL-FWD -d 172.7.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT` (reached from FORWARD)',
      },
      {
        name: "iptables-services' REJECT before flannel's appended ACCEPTs (the runbook node)",
        text: RUNBOOK_NODE,
        ok: false,
        reason: `pod traffic from 172.7.0.0/16 stopped by \`-A FORWARD ${REJECT}\` before any ACCEPT for it; to 172.7.0.0/16 stopped by \`-A FORWARD ${REJECT}\` before any ACCEPT for it`,
      },
      { name: 'the REJECT after the ACCEPTs', text: save({ filter: { FORWARD: [...FLANNEL_FWD, REJECT] } }), ok: true },
      {
        name: 'policy DROP (Docker >= 1.13) and no flannel rules',
        text: save({ filter: {} }, { FORWARD: 'DROP' }),
        ok: false,
        reason:
          'pod traffic from 172.7.0.0/16: no ACCEPT rule and the FORWARD policy is DROP; to 172.7.0.0/16: no ACCEPT rule and the FORWARD policy is DROP',
      },
      {
        name: 'policy DROP with flannel rules',
        text: save({ filter: { FORWARD: FLANNEL_FWD } }, { FORWARD: 'DROP' }),
        ok: true,
      },
      {
        name: 'policy DROP with only the -s rule',
        text: save({ filter: { FORWARD: [FLANNEL_FWD[0]!] } }, { FORWARD: 'DROP' }),
        ok: false,
        reason:
          'pod traffic from 172.7.0.0/16 accepted by `-A FORWARD -s 172.7.0.0/16 -j ACCEPT`; to 172.7.0.0/16: no ACCEPT rule and the FORWARD policy is DROP',
      },
      {
        name: 'policy ACCEPT and no rules',
        text: save({ filter: {} }),
        ok: true,
        reason:
          'pod traffic from 172.7.0.0/16 accepted by the FORWARD policy ACCEPT; to 172.7.0.0/16 accepted by the FORWARD policy ACCEPT',
      },
      {
        name: 'no filter table',
        text: save({ nat: {} }),
        ok: true,
        reason: 'no filter FORWARD chain: nothing filters forwarded traffic',
      },
      {
        name: 'conditional DROPs and Docker chains that cannot decide',
        text: save(
          {
            filter: {
              FORWARD: [
                '-m conntrack --ctstate INVALID -j DROP',
                '-j DOCKER-USER',
                '-j DOCKER-ISOLATION-STAGE-1',
                '-o docker0 -j DOCKER',
                ...FLANNEL_FWD,
              ],
              'DOCKER-USER': ['-j RETURN', '-j DROP'],
              'DOCKER-ISOLATION-STAGE-1': ['-i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2', '-j RETURN'],
              'DOCKER-ISOLATION-STAGE-2': ['-o docker0 -j DROP', '-j RETURN'],
              DOCKER: [],
            },
          },
          { FORWARD: 'DROP' },
        ),
        ok: true,
      },
      {
        name: 'a wider ACCEPT covering the network',
        text: save({ filter: { FORWARD: ['-s 172.0.0.0/8 -j ACCEPT', '-d 172.0.0.0/8 -j ACCEPT', REJECT] } }),
        ok: true,
      },
      {
        name: 'a negated or narrower ACCEPT does not count',
        text: save({
          filter: {
            FORWARD: [
              '! -s 172.7.0.0/16 -j ACCEPT',
              '-s 172.7.21.0/24 -j ACCEPT',
              '-d 172.7.0.0/16 -j ACCEPT',
              '-j DROP',
            ],
          },
        }),
        ok: false,
        reason:
          'pod traffic from 172.7.0.0/16 stopped by `-A FORWARD -j DROP` before any ACCEPT for it; to 172.7.0.0/16 accepted by `-A FORWARD -d 172.7.0.0/16 -j ACCEPT`',
      },
      {
        name: 'v0.20 chain whose jump was deleted, policy DROP',
        text: save({ filter: { 'FLANNEL-FWD': FLANNEL_FWD } }, { FORWARD: 'DROP' }),
        ok: false,
      },
      {
        name: 'a REJECT inside a jumped-to chain',
        text: save({ filter: { FORWARD: ['-j INPUT_direct', ...FLANNEL_FWD], INPUT_direct: [REJECT] } }),
        ok: false,
        reason: `pod traffic from 172.7.0.0/16 stopped by \`-A INPUT_direct ${REJECT}\` (reached from FORWARD) before any ACCEPT for it; to 172.7.0.0/16 stopped by \`-A INPUT_direct ${REJECT}\` (reached from FORWARD) before any ACCEPT for it`,
      },
    ];
    for (const c of cases) {
      test(`${c.ok ? 'allows' : 'blocks'}: ${c.name}`, () => {
        const f = forwardAllowed(parseIptablesSave(c.text), N);
        assert.equal(f.ok, c.ok, f.reason);
        if (c.reason) assert.equal(f.reason, c.reason);
      });
    }
  });

  describe('judgeFlows: what FORWARD does to each pod flow, in rule order with the policy', () => {
    const FLANNEL_FWD = ['-s 172.7.0.0/16 -j ACCEPT', '-d 172.7.0.0/16 -j ACCEPT'];
    const flows = podFlows({
      own: S21,
      peers: [net('172.7.22.0/24'), net('172.7.23.0/24')],
      bridge: 'docker0',
      devOf: () => 'eth0',
    });
    const judge = (text: string) =>
      judgeFlows(parseIptablesSave(text), 'filter', 'FORWARD', flows).map((d, i) => ({
        flow: flows[i]!.name,
        target: d.target,
        rule: d.rule && formatRule(d.rule),
      }));
    test('the flows: to this subnet from each peer (in on the route dev, out on the bridge) and back', () => {
      assert.deepEqual(
        flows.map((f) => [f.name, f.in, f.out]),
        [
          ['172.7.22.0/24 -> 172.7.21.0/24', 'eth0', 'docker0'],
          ['172.7.21.0/24 -> 172.7.22.0/24', 'docker0', 'eth0'],
          ['172.7.23.0/24 -> 172.7.21.0/24', 'eth0', 'docker0'],
          ['172.7.21.0/24 -> 172.7.23.0/24', 'docker0', 'eth0'],
        ],
      );
    });
    test("issue 14.1: `-I FORWARD 1 -d <this node's subnet> -j DROP` stops every flow to it, flannel's ACCEPTs below or not", () => {
      const r = judge(save({ filter: { FORWARD: ['-d 172.7.21.0/24 -j DROP', ...FLANNEL_FWD] } }));
      assert.deepEqual(
        r.filter((x) => x.target !== 'ACCEPT').map((x) => [x.flow, x.rule]),
        [
          ['172.7.22.0/24 -> 172.7.21.0/24', '-A FORWARD -d 172.7.21.0/24 -j DROP'],
          ['172.7.23.0/24 -> 172.7.21.0/24', '-A FORWARD -d 172.7.21.0/24 -j DROP'],
        ],
      );
      // forwardAllowed (the whole network at once) cannot see it: the rule covers part of it
      assert.equal(
        forwardAllowed(
          parseIptablesSave(save({ filter: { FORWARD: ['-d 172.7.21.0/24 -j DROP', ...FLANNEL_FWD] } })),
          N,
        ).ok,
        true,
      );
    });
    test('a DROP for one peer subnet stops only that peer', () => {
      const r = judge(save({ filter: { FORWARD: ['-s 172.7.23.0/24 -j DROP', ...FLANNEL_FWD] } }));
      assert.deepEqual(
        r.filter((x) => x.target !== 'ACCEPT').map((x) => x.flow),
        ['172.7.23.0/24 -> 172.7.21.0/24'],
      );
    });
    test('interfaces decide: -i docker0 DROP stops what leaves the pods, ! -o eth0 nothing here', () => {
      const r = judge(save({ filter: { FORWARD: ['! -o eth0 -j DROP', '-i docker0 -j REJECT', ...FLANNEL_FWD] } }));
      assert.deepEqual(
        r.map((x) => x.target),
        ['DROP', 'REJECT', 'DROP', 'REJECT'],
      );
    });
    test('a rule on part of a flow (a port, a state, a /32) does not decide it; the next one does', () => {
      const text = save({
        filter: {
          FORWARD: [
            '-p tcp -m tcp --dport 80 -j DROP',
            '-d 172.7.21.5/32 -j DROP',
            '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
            '-j DROP',
          ],
        },
      });
      const d = judgeFlows(parseIptablesSave(text), 'filter', 'FORWARD', flows);
      assert.deepEqual(
        d.map((x) => x.target),
        ['DROP', 'DROP', 'DROP', 'DROP'],
      );
      assert.equal(formatRule(d[0]!.rule!), '-A FORWARD -j DROP');
      assert.deepEqual(d[0]!.partial.map(formatRule), [
        '-A FORWARD -p tcp -m tcp --dport 80 -j DROP',
        '-A FORWARD -d 172.7.21.5/32 -j DROP',
      ]);
    });
    test('jumps: a DROP in a user chain decides, its RETURN goes back; the policy when nothing does', () => {
      const text = save(
        {
          filter: {
            FORWARD: ['-j DOCKER-USER', '-j FWD_public'],
            'DOCKER-USER': ['-j RETURN'],
            FWD_public: ['-d 172.7.21.0/24 -j REJECT --reject-with icmp-host-prohibited', '-j RETURN'],
          },
        },
        { FORWARD: 'DROP' },
      );
      assert.deepEqual(
        judge(text).map((x) => [x.target, x.rule]),
        [
          ['REJECT', '-A FWD_public -d 172.7.21.0/24 -j REJECT --reject-with icmp-host-prohibited'],
          ['DROP', undefined],
          ['REJECT', '-A FWD_public -d 172.7.21.0/24 -j REJECT --reject-with icmp-host-prohibited'],
          ['DROP', undefined],
        ],
      );
    });
    test("the runbook node: iptables-services' REJECT ahead of flannel's appended ACCEPTs stops every flow", () => {
      assert.ok(judge(RUNBOOK_NODE).every((x) => x.target === 'REJECT' && x.rule === `-A FORWARD ${REJECT}`));
    });
    test('the real v0.11.0 and v0.20.2 rules forward every flow', () => {
      for (const f of ['v0.11.0/22-hostgw-nomasq-iptables.save', 'v0.20.2/12-hostgw-nomasq-iptables.save'])
        assert.ok(
          judge(fixture(f)).every((x) => x.target === 'ACCEPT'),
          f,
        );
    });
    test("nat POSTROUTING: Docker's blanket rule masquerades pod-to-pod flows, the runbook's rule does not", () => {
      const out = flows.filter((f) => f.in === 'docker0');
      const nat = (rules: string[]) =>
        judgeFlows(parseIptablesSave(save({ nat: { POSTROUTING: rules } })), 'nat', 'POSTROUTING', out).map(
          (d) => d.target,
        );
      assert.deepEqual(nat([DOCKER]), ['MASQUERADE', 'MASQUERADE']);
      assert.deepEqual(nat([SNAT]), ['ACCEPT', 'ACCEPT']);
    });
    test('ruleMatchesFlow: negations, wildcards, what cannot be judged', () => {
      const f = flows[0]!;
      assert.equal(ruleMatchesFlow(['!', '-s', '172.7.0.0/16'], f), 'no');
      assert.equal(ruleMatchesFlow(['-i', 'eth+'], f), 'yes');
      assert.equal(ruleMatchesFlow(['-i', 'flannel+'], f), 'no');
      assert.equal(ruleMatchesFlow(['-s', '172.7.22.128/25'], f), 'maybe');
      assert.equal(ruleMatchesFlow(['-p', 'all', '-d', '172.7.21.0/24'], f), 'yes');
      assert.equal(ruleMatchesFlow(['-m', 'state', '--state', 'NEW'], f), 'maybe');
    });
  });

  test('legacyTablesPresent: the warning iptables-nft-save writes to stderr (iptables 1.8.9)', () => {
    assert.equal(
      legacyTablesPresent('# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n'),
      true,
    );
    assert.equal(legacyTablesPresent(''), false);
    assert.equal(legacyTablesPresent('# Generated by iptables-save v1.8.9 (nf_tables)'), false);
  });
});
