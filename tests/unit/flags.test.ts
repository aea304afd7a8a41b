import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { commonFlags, defineFlags, etcdFlags, formatHelp, nodeFlags, parseFlags } from '../../lib/cli/flags.ts';
import { required, resolveSettings } from '../../lib/cli/settings.ts';
import { runbookCluster, selectNode } from '../../lib/model/cluster.ts';
import { UsageError } from '../../lib/core/errors.ts';
import { rooted } from '../../lib/core/paths.ts';

const spec = defineFlags({ ...commonFlags, ...etcdFlags, ...nodeFlags });
const words = (line: string) => (line === '' ? [] : line.split(' '));

describe('flags', () => {
  test('parses each flag form into typed values', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['--public-ip 10.4.7.21', { 'public-ip': '10.4.7.21' }],
      ['--public-ip=10.4.7.21', { 'public-ip': '10.4.7.21' }],
      ['--dry-run', { 'dry-run': true }],
      ['--dry-run=false', { 'dry-run': false }],
      ['--no-dry-run', { 'dry-run': false }],
      ['--dry-run true', { 'dry-run': true }],
      ['-h -q', { help: true, quiet: true }],
      ['--healthz-port 2402', { 'healthz-port': 2402 }],
      [
        '--endpoints https://10.4.7.12:2379,https://10.4.7.21:2379',
        { endpoints: ['https://10.4.7.12:2379', 'https://10.4.7.21:2379'] },
      ],
      ['--etcd-api v3', { 'etcd-api': 'v3' }],
      ['--iface=a=b', { iface: 'a=b' }],
    ];
    for (const [line, want] of cases) {
      const { values, explicit } = parseFlags(words(line), spec);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(values[k as keyof typeof values], v, `${line}: ${k}`);
      assert.deepEqual([...explicit].sort(), Object.keys(want).sort(), line);
    }
  });

  test('fills defaults and remembers which flags were given', () => {
    const { values, explicit, positionals } = parseFlags([], spec);
    assert.equal(values.root, '/');
    assert.equal(values['dry-run'], false);
    assert.equal(values.cafile, '/opt/flannel/cert/ca.pem');
    assert.equal(values.certfile, '/opt/flannel/cert/client.pem');
    assert.equal(values.keyfile, '/opt/flannel/cert/client-key.pem');
    assert.equal(values['etcd-prefix'], '/coreos.com/network');
    assert.equal(values['etcd-api'], 'auto');
    assert.equal(values.bridge, 'docker0');
    assert.equal(values['healthz-port'], 2401);
    assert.equal(values['public-ip'], undefined);
    assert.equal(values.endpoints, undefined);
    assert.equal(explicit.size, 0);
    assert.deepEqual(positionals, []);
    // the spec types the values: defaulted flags are never undefined
    const port: number = values['healthz-port'];
    const dry: boolean = values['dry-run'];
    const endpoints: string[] | undefined = values.endpoints;
    assert.deepEqual([port, dry, endpoints], [2401, false, undefined]);
  });

  test('takes positionals only when the script says so, and all words after --', () => {
    assert.deepEqual(parseFlags(['--json', 'a', 'b'], spec, { positionals: 2 }).positionals, ['a', 'b']);
    assert.deepEqual(parseFlags(['--', '--json'], spec, { positionals: 1 }).positionals, ['--json']);
  });

  test('rejects mistakes with one line naming the flag', () => {
    const cases: [string, string | RegExp][] = [
      ['--fo', 'unknown flag --fo; see --help'],
      ['--fo=1', 'unknown flag --fo; see --help'],
      ['-x', 'unknown flag -x; see --help'],
      ['--constructor', 'unknown flag --constructor; see --help'],
      ['--no-public-ip', 'unknown flag --no-public-ip; did you mean --public-ip? see --help'],
      ['--dryrun', 'unknown flag --dryrun; did you mean --dry-run? see --help'],
      ['--dry_run', 'unknown flag --dry_run; did you mean --dry-run? see --help'],
      ['--healtz-port 1', 'unknown flag --healtz-port; did you mean --healthz-port? see --help'],
      ['--public-ip', '--public-ip: needs a value, e.g. --public-ip 10.4.7.21'],
      ['--public-ip --iface eth0', '--public-ip: needs a value, e.g. --public-ip 10.4.7.21'],
      ['--public-ip= --iface eth0', /^--public-ip "": must not be empty, e\.g\. 10\.4\.7\.21$/],
      ['--iface eth0 --iface eth1', '--iface: given twice; give it once, e.g. --iface eth0'],
      ['--dry-run --no-dry-run', /^--dry-run: given twice/],
      ['--dry-run=yes', '--dry-run "yes": a switch is true or false, e.g. --dry-run'],
      ['--no-dry-run=true', '--no-dry-run: takes no value, e.g. --no-dry-run'],
      ['--healthz-port 24o1', '--healthz-port "24o1": must be an integer 1-65535, e.g. 2401'],
      ['--healthz-port 0x10', /^--healthz-port "0x10": must be an integer/],
      ['--healthz-port 65536', /^--healthz-port "65536": must be an integer 1-65535/],
      ['--etcd-api v4', '--etcd-api "v4": must be one of v2, v3, auto, e.g. v2'],
      [
        '--endpoints https://a:1,,https://b:2',
        /^--endpoints "https:\/\/a:1,,https:\/\/b:2": is a comma-separated list without empty items/,
      ],
      ['stray', 'unexpected argument "stray": this script takes only flags; see --help'],
    ];
    for (const [line, want] of cases) {
      assert.throws(
        () => parseFlags(words(line), spec),
        (e: unknown) =>
          e instanceof UsageError && (typeof want === 'string' ? e.message === want : want.test(e.message)),
        line,
      );
    }
  });

  test('prefixes host paths with the root, without climbing out of it', () => {
    const cases: [string, string, string][] = [
      ['/tmp/x', '/opt/flannel', '/tmp/x/opt/flannel'],
      ['/tmp/x/', '/opt/flannel/', '/tmp/x/opt/flannel/'],
      ['/', '/opt/flannel', '/opt/flannel'],
      ['/tmp/x', '/../../etc/passwd', '/tmp/x/etc/passwd'],
      ['/tmp/x', '/opt/../etc', '/tmp/x/etc'],
      ['/tmp/x', './cluster.json', './cluster.json'],
      ['/tmp/x', 'cert/ca.pem', 'cert/ca.pem'],
    ];
    for (const [root, path, want] of cases) assert.equal(rooted(root, path), want, `${root} ${path}`);
    assert.throws(() => rooted('tmp/x', '/opt'), /^UsageError: --root "tmp\/x": must be an absolute directory/);
  });

  test('resolves flags over the cluster file over defaults, into parsed values', () => {
    const cluster = runbookCluster();
    const node = selectNode(cluster, { localIps: ['10.4.7.22'] });
    const s = resolveSettings(parseFlags(words('--iface eth1 --root /tmp/lab/h22'), spec), cluster, node);
    assert.equal(s.root, '/tmp/lab/h22');
    assert.equal(s.node.name, 'hdss7-22');
    assert.equal(s.node.program, 'flanneld-7-22');
    assert.equal(s.node.publicIp?.toString(), '10.4.7.22');
    assert.equal(s.node.subnet?.toString(), '172.7.22.0/24');
    assert.equal(s.node.iface, 'eth1', 'flag over cluster');
    assert.equal(s.network?.toString(), '172.7.0.0/16');
    assert.deepEqual(s.etcd.endpoints, cluster.etcd.endpoints);
    assert.equal(s.etcd.apiSetting, 'auto');
    assert.equal(s.etcd.api, 'v2', 'v0.11.0 speaks v2');
    assert.equal(s.etcd.cafile, '/opt/flannel/cert/ca.pem');
    assert.deepEqual(s.backend, { Type: 'host-gw' });
    assert.equal(s.bridge, 'docker0');
    assert.equal(s.healthzPort, 2401);

    const over = resolveSettings(
      parseFlags(
        words('--endpoints http://127.0.0.1:2379 --etcd-api v3 --healthz-port 2402 --public-ip 10.4.7.99'),
        spec,
      ),
      cluster,
      node,
    );
    assert.deepEqual(over.etcd.endpoints, ['http://127.0.0.1:2379']);
    assert.equal(over.etcd.api, 'v3');
    assert.equal(over.healthzPort, 2402);
    assert.equal(over.node.publicIp?.toString(), '10.4.7.99');
    assert.deepEqual(s.warnings, []);
    assert.match(over.warnings.join('\n'), /^etcd\.api "v3": flannel v0\.11\.0 reads only the etcd v2 key space/);
  });

  test('resolves from flags alone, leaving unknown values unset', () => {
    const s = resolveSettings(
      parseFlags(words('--public-ip 10.4.7.21 --subnet 172.7.21.0/24 --network 172.7.0.0/16 --dry-run --json'), spec),
    );
    assert.equal(s.root, '/');
    assert.equal(s.dryRun, true);
    assert.equal(s.json, true);
    assert.equal(s.node.publicIp?.toString(), '10.4.7.21');
    assert.equal(s.node.iface, undefined);
    assert.deepEqual(s.etcd.endpoints, []);
    assert.equal(s.backend, undefined);
    assert.throws(
      () => required(s.etcd.endpoints, '--endpoints', 'https://10.4.7.12:2379'),
      /^UsageError: --endpoints: required; pass it, or --cluster FILE \(with --node NAME\), e\.g\. --endpoints https:\/\/10\.4\.7\.12:2379$/,
    );
    assert.equal(required(s.node.publicIp, '--public-ip', '10.4.7.21').toString(), '10.4.7.21');
  });

  test('rejects values that parse as flags but not as settings', () => {
    const cases: [string, RegExp][] = [
      ['--public-ip 10.4.7', /^--public-ip "10\.4\.7": must be an IPv4 address .*, e\.g\. 10\.4\.7\.21$/],
      [
        '--subnet 172.7.21.5/24',
        /^--subnet "172\.7\.21\.5\/24": host bits are set: write the lease 172\.7\.21\.0\/24 or its FLANNEL_SUBNET form 172\.7\.21\.1\/24, e\.g\. 172\.7\.21\.0\/24$/,
      ],
      ['--network 172.7.0.0/33', /^--network "172\.7\.0\.0\/33": prefix must be 0-32/],
      [
        '--network 172.7.0.0/16 --subnet 172.8.21.0/24',
        /^--subnet "172\.8\.21\.0\/24": must lie inside the network 172\.7\.0\.0\/16/,
      ],
      [
        '--network 172.7.0.0/16 --public-ip 172.7.21.5',
        /^--public-ip "172\.7\.21\.5": must be the host's address, outside the pod network/,
      ],
      ['--endpoints 10.4.7.12:2379', /^--endpoints "10\.4\.7\.12:2379": must start with http:\/\/ or https:\/\//],
      ['--etcd-prefix /coreos.com/network/', /^--etcd-prefix .*no trailing or double/],
      ['--iface eth0:1', /^--iface "eth0:1": must be an interface name/],
      ['--bridge docker0/x', /^--bridge "docker0\/x": must be an interface name/],
    ];
    for (const [line, re] of cases) {
      assert.throws(
        () => resolveSettings(parseFlags(words(line), spec)),
        (e: unknown) => e instanceof UsageError && re.test(e.message),
        line,
      );
    }
  });

  test('a switch whose own name starts with no- (--no-wait) is that switch, not the negation of another', () => {
    const spec2 = defineFlags({ 'no-wait': { type: 'boolean', help: 'x' }, wait: { type: 'boolean', help: 'y' } });
    assert.deepEqual(parseFlags(['--no-wait'], spec2).values, { 'no-wait': true, wait: false });
    assert.deepEqual(parseFlags(['--no-no-wait'], spec2).values, { 'no-wait': false, wait: false });
  });

  test("a subnet in the lease form and in the runbook's FLANNEL_SUBNET form mean the same lease", () => {
    const lease = resolveSettings(parseFlags(words('--network 172.7.0.0/16 --subnet 172.7.21.0/24'), spec));
    const runbook = resolveSettings(parseFlags(words('--network 172.7.0.0/16 --subnet 172.7.21.1/24'), spec));
    assert.equal(lease.node.subnet!.toString(), '172.7.21.0/24');
    assert.equal(runbook.node.subnet!.toString(), '172.7.21.0/24');
    assert.throws(
      () => resolveSettings(parseFlags(words('--subnet 172.7.21.1'), spec)),
      /^UsageError: --subnet "172\.7\.21\.1": must be a CIDR/,
    );
  });

  test('formats --help with every flag, its default and an example', () => {
    const help = formatHelp(
      'flannel-install',
      'Step 1: install flanneld.',
      defineFlags({ ...commonFlags, ...etcdFlags }),
      'flannel-install --cluster cluster.json --dry-run',
    );
    const lines = help.split('\n');
    assert.equal(lines[0], 'usage: flannel-install [flags]');
    assert.equal(lines[2], 'Step 1: install flanneld.');
    assert.ok(
      lines.some((l) => /^ {2}-h, --help +show this help$/.test(l)),
      help,
    );
    assert.ok(
      lines.some((l) => /^ {6}--root DIR +treat DIR as \/ .*\(default \/\)$/.test(l)),
      help,
    );
    assert.ok(
      lines.some((l) => /--etcd-api API +etcd API; .*\(one of v2, v3, auto; default auto\)$/.test(l)),
      help,
    );
    assert.ok(
      lines.some((l) =>
        /--cafile FILE .*\(default: from flanneld\.sh when no flag or cluster file gives it; else \/opt\/flannel\/cert\/ca\.pem\)$/.test(
          l,
        ),
      ),
      help,
    );
    assert.equal(lines.at(-2), '  flannel-install --cluster cluster.json --dry-run');
    // descriptions start in one column
    const cols = lines
      .filter((l) => /^ {2}(-\w, | {4})--/.test(l))
      .map((l) => /^ {2}(?:-\w, | {4})--[\w-]+(?: [A-Z[\]@:]+)? +/.exec(l)![0].length);
    assert.equal(cols.length, 18);
    assert.equal(new Set(cols).size, 1);
  });
});
