import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  compareFlanneldFlags,
  flanneldFlags,
  parseFlanneldSh,
  programNameFor,
  renderFlanneldSh,
  renderSupervisorIni,
  renderSystemdUnit,
  type FlanneldSettings,
  type ProgramSettings,
} from '../../lib/model/flanneld-files.ts';
import { UsageError } from '../../lib/core/errors.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/flanneld-files/${name}`, import.meta.url), 'utf8');

// the runbook's inputs for hdss7-21 (docs/runbook.md, 4. start)
const runbookSh: FlanneldSettings = {
  publicIp: '10.4.7.21',
  endpoints: ['https://10.4.7.12:2379', 'https://10.4.7.21:2379', 'https://10.4.7.22:2379'],
  keyfile: './cert/client-key.pem',
  certfile: './cert/client.pem',
  cafile: './cert/ca.pem',
  iface: 'eth0',
  subnetFile: './subnet.env',
  healthzPort: 2401,
};
const runbookIni: ProgramSettings = {
  program: 'flanneld-7-21',
  command: '/opt/flannel/flanneld.sh',
  directory: '/opt/flannel',
  logFile: '/data/logs/flanneld/flanneld.stdout.log',
};

describe('flanneld-files', () => {
  test('renders the runbook flanneld.sh byte for byte', () => {
    assert.equal(renderFlanneldSh(runbookSh), fixture('runbook-flanneld.sh.golden'));
  });

  test('renders the runbook flannel.ini byte for byte', () => {
    assert.equal(renderSupervisorIni(runbookIni), fixture('runbook-flannel.ini.golden'));
  });

  test('writes --etcd-prefix only when it is not the default, --ip-masq only when true', () => {
    const cases: [Partial<FlanneldSettings>, string[]][] = [
      [{ etcdPrefix: '/coreos.com/network', ipMasq: false }, []],
      [{ etcdPrefix: '/lab/network' }, ['etcd-prefix']],
      [{ ipMasq: true }, ['ip-masq']],
    ];
    const base = new Set(flanneldFlags(runbookSh).map((f) => f.name));
    for (const [extra, added] of cases) {
      const names = flanneldFlags({ ...runbookSh, ...extra })
        .map((f) => f.name)
        .filter((n) => !base.has(n));
      assert.deepEqual(names, added, JSON.stringify(extra));
    }
    const sh = renderFlanneldSh({ ...runbookSh, etcdPrefix: '/lab/network', ipMasq: true });
    assert.match(sh, /--etcd-endpoints=\S+ \\\n {2}--etcd-prefix=\/lab\/network \\\n/);
    assert.match(sh, /--healthz-port=2401 \\\n {2}--ip-masq\n$/);
  });

  test('quotes values that the shell would split or expand', () => {
    const sh = renderFlanneldSh({
      ...runbookSh,
      subnetFile: "./my subnet's.env",
      extraArgs: ['--iface-regex=^eth[0-9]$'],
    });
    assert.match(sh, /--subnet-file='\.\/my subnet'\\''s\.env' \\\n/);
    assert.match(sh, /--iface-regex='\^eth\[0-9\]\$'\n$/);
    // and reads back to the very values
    const flags = parseFlanneldSh(sh).flags;
    assert.equal(flags.find((f) => f.name === 'subnet-file')?.value, "./my subnet's.env");
    assert.equal(flags.find((f) => f.name === 'iface-regex')?.value, '^eth[0-9]$');
  });

  test('execs flanneld when asked, so the stop signal reaches flanneld and not /bin/sh', () => {
    assert.match(renderFlanneldSh({ ...runbookSh, exec: true }), /^#!\/bin\/sh\nexec \.\/flanneld \\\n/);
    assert.equal(parseFlanneldSh(renderFlanneldSh({ ...runbookSh, exec: true })).exec, true);
  });

  test('rejects bad flanneld.sh settings with a one-line error naming the field', () => {
    const cases: [Partial<FlanneldSettings> & Record<string, unknown>, RegExp][] = [
      [{ publicIp: '10.4.7' }, /^publicIp "10\.4\.7": must be an IPv4 address .*, e\.g\. 10\.4\.7\.21$/],
      [{ endpoints: [] }, /^endpoints \[\]: must list at least one etcd URL/],
      [
        { endpoints: ['10.4.7.12:2379'] },
        /^endpoints\[0\] "10\.4\.7\.12:2379": must start with http:\/\/ or https:\/\//,
      ],
      [{ endpoints: ['unix://etcd.sock'] }, /^endpoints\[0\] "unix:\/\/etcd\.sock": scheme must be http or https/],
      [{ endpoints: ['https://10.4.7.12:2379,https://10.4.7.21:2379'] }, /^endpoints\[0\] .*one URL, without commas/],
      [{ endpoints: ['https://a:1', 'https://a:1'] }, /lists the same URL twice/],
      [{ iface: 'eth0 eth1' }, /^iface "eth0 eth1": must be an interface name/],
      [{ iface: 'averyveryverylongname' }, /^iface .*must be an interface name/],
      [{ healthzPort: 0 }, /^healthzPort 0: must be a port number 1-65535/],
      [{ healthzPort: 2401.5 }, /^healthzPort 2401\.5: must be a port number/],
      [{ etcdPrefix: '/coreos.com/network/' }, /^etcdPrefix .*no trailing or double "\/"/],
      [{ subnetFile: './subnet.env\nrm -rf /' }, /^subnetFile .*control characters/],
      [{ keyfile: undefined }, /^keyfile\/certfile: give both or neither/],
      [{ extraArgs: ['--public-ip=10.4.7.99'] }, /^extraArgs "--public-ip=10\.4\.7\.99": --public-ip is already set/],
      [{ extraArgs: ['eth1'] }, /^extraArgs "eth1": must be flags/],
      [{ ipMasq: 'yes' as unknown as boolean }, /^ipMasq "yes": must be true or false/],
    ];
    for (const [bad, re] of cases) {
      assert.throws(
        () => renderFlanneldSh({ ...runbookSh, ...bad }),
        (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'),
        JSON.stringify(bad),
      );
    }
  });

  test('escapes % for supervisord and quotes a command path with blanks', () => {
    const ini = renderSupervisorIni({
      ...runbookIni,
      command: '/opt/flannel 2/flanneld.sh',
      logFile: '/data/logs/100%/f.log',
    });
    assert.match(ini, /^command='\/opt\/flannel 2\/flanneld\.sh'$/m);
    assert.match(ini, /^stdout_logfile=\/data\/logs\/100%%\/f\.log$/m);
  });

  test('rejects bad supervisord settings', () => {
    const cases: [Partial<ProgramSettings>, RegExp][] = [
      [{ program: 'flanneld:7-21' }, /^program "flanneld:7-21": must be 1-64 of/],
      [{ program: 'flanneld 7-21' }, /^program /],
      [{ program: '' }, /^program "": must be a non-empty string/],
      [
        { command: 'flanneld.sh' },
        /^command "flanneld\.sh": must be an absolute path, e\.g\. \/opt\/flannel\/flanneld\.sh$/,
      ],
      [{ directory: '/opt/flannel\n[program:x]' }, /^directory .*control characters/],
      [{ logFile: '/data/logs/f.log ;comment' }, /^logFile .*" ;" or " #"/],
      [{ startSecs: -1 }, /^startSecs -1: must be an integer 0-3600/],
      [{ user: 'root; rm' }, /^user /],
    ];
    for (const [bad, re] of cases) {
      assert.throws(
        () => renderSupervisorIni({ ...runbookIni, ...bad }),
        (e: unknown) => e instanceof UsageError && re.test(e.message),
        JSON.stringify(bad),
      );
    }
  });

  test('renders a systemd unit that runs the same flanneld.sh', () => {
    const unit = renderSystemdUnit(runbookIni);
    for (const line of [
      'ExecStart=/opt/flannel/flanneld.sh',
      'WorkingDirectory=/opt/flannel',
      'Restart=on-failure',
      'After=network-online.target etcd.service',
      'Wants=network-online.target',
      'StandardOutput=append:/data/logs/flanneld/flanneld.stdout.log',
      'WantedBy=multi-user.target',
    ]) {
      assert.ok(unit.split('\n').includes(line), line);
    }
    assert.match(renderSystemdUnit({ ...runbookIni, logFile: '/var/log/50%.log' }), /append:\/var\/log\/50%%\.log/);
    assert.throws(
      () => renderSystemdUnit({ ...runbookIni, command: '/opt/my flannel/flanneld.sh' }),
      /^UsageError: command .*must not contain blanks/,
    );
    assert.throws(() => renderSystemdUnit({ ...runbookIni, directory: '/opt/$HOME' }), /"\$"/);
  });

  test('names the supervisord program after the node', () => {
    const cases: [string, string][] = [
      ['hdss7-21', 'flanneld-7-21'],
      ['hdss7-22', 'flanneld-7-22'],
      ['hdss7-200', 'flanneld-7-200'],
      ['hdss7-21.host.com', 'flanneld-7-21'],
      ['node-a', 'flanneld-node-a'],
      ['k8s-node1', 'flanneld-k8s-node1'],
      ['worker3', 'flanneld-worker3'],
      ['10-4-7-21', 'flanneld-10-4-7-21'],
    ];
    for (const [node, program] of cases) assert.equal(programNameFor(node), program, node);
    for (const bad of ['', '-x', 'a/b', 'a:b', 'a b']) {
      assert.throws(() => programNameFor(bad), UsageError, bad);
    }
  });

  test('parses the flags of the runbook flanneld.sh in order', () => {
    const parsed = parseFlanneldSh(fixture('runbook-flanneld.sh.golden'));
    assert.equal(parsed.command, './flanneld');
    assert.equal(parsed.exec, false);
    assert.deepEqual(parsed.args, []);
    assert.deepEqual(parsed.flags, flanneldFlags(runbookSh));
  });

  test('parses the forms flanneld (Go flag) accepts', () => {
    const cases: [string, { name: string; value: string }[]][] = [
      [
        './flanneld -public-ip 10.4.7.21 --iface=eth0',
        [
          { name: 'public-ip', value: '10.4.7.21' },
          { name: 'iface', value: 'eth0' },
        ],
      ],
      [
        'exec /opt/flannel/flanneld --ip-masq --iface eth0',
        [
          { name: 'ip-masq', value: 'true' },
          { name: 'iface', value: 'eth0' },
        ],
      ],
      ['./flanneld --ip-masq=false', [{ name: 'ip-masq', value: 'false' }]],
      ['./flanneld --ip-masq=1', [{ name: 'ip-masq', value: 'true' }]],
      ['FLANNELD_X=1 ./flanneld "--subnet-file=/run/a b.env"', [{ name: 'subnet-file', value: '/run/a b.env' }]],
      [
        '# ./flanneld --iface=eth9\ncd /opt/flannel && ./flanneld --iface=eth1 # trailing',
        [{ name: 'iface', value: 'eth1' }],
      ],
      [
        './flanneld \\\n  --iface=eth0 \\\n  --iface=eth1',
        [
          { name: 'iface', value: 'eth0' },
          { name: 'iface', value: 'eth1' },
        ],
      ],
    ];
    for (const [text, flags] of cases) assert.deepEqual(parseFlanneldSh(text).flags, flags, text);
    assert.deepEqual(parseFlanneldSh('./flanneld --iface=eth0 extra -- x').args, ['extra', '--', 'x']);
  });

  test('refuses scripts it cannot read', () => {
    const cases: [string, RegExp][] = [
      ['', /no command runs flanneld/],
      ['#!/bin/sh\n# ./flanneld --iface=eth0\n', /no command runs flanneld/],
      ['#!/bin/sh\nflanneld-wrapper --iface=eth0\n', /no command runs flanneld/],
      ["./flanneld --iface='eth0", /unterminated single quote/],
      ['./flanneld --iface="eth0', /unterminated double quote/],
      ['./flanneld ---iface=eth0', /"---iface=eth0": is not a flag/],
    ];
    for (const [text, re] of cases)
      assert.throws(
        () => parseFlanneldSh(text),
        (e: unknown) => e instanceof UsageError && re.test(e.message),
        text,
      );
  });

  test('compares expected and actual flags, ignoring order and explicit defaults', () => {
    const expected = flanneldFlags(runbookSh);
    const same = parseFlanneldSh(fixture('runbook-flanneld.sh.golden')).flags;
    assert.deepEqual(compareFlanneldFlags(expected, [...same].reverse()), []);
    assert.deepEqual(
      compareFlanneldFlags(expected, [
        ...same,
        { name: 'etcd-prefix', value: '/coreos.com/network' },
        { name: 'ip-masq', value: 'false' },
      ]),
      [],
    );
    const drifted = parseFlanneldSh(
      fixture('runbook-flanneld.sh.golden')
        .replace('10.4.7.21 ', '10.4.7.22 ')
        .replace('  --healthz-port=2401', '  --ip-masq'),
    ).flags;
    assert.deepEqual(compareFlanneldFlags(expected, drifted), [
      { name: 'public-ip', expected: '10.4.7.21', actual: '10.4.7.22' },
      { name: 'healthz-port', expected: '2401', actual: '0' },
      { name: 'ip-masq', expected: 'false', actual: 'true' },
    ]);
    assert.deepEqual(compareFlanneldFlags(expected, [...same, { name: 'v', value: '2' }]), [
      { name: 'v', actual: '2' },
    ]);
  });
});
