// --root means every host path: each path flag of each script, given as the node names it,
// is read or written under --root, and nothing outside it is (but /proc, which is per network
// namespace, the staging dir in the temp directory, and the operator's own ssh files).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { captureOutput } from '../../lib/cli/output.ts';
import type { Host } from '../../lib/host/host.ts';
import { main as certs } from '../../scripts/certs.ts';
import { main as doctor } from '../../scripts/doctor.ts';
import { main as drift } from '../../scripts/drift.ts';
import { main as install } from '../../scripts/install.ts';
import { main as snatFix } from '../../scripts/snat-fix.ts';
import { main as start } from '../../scripts/start.ts';
import { MemoryHost } from '../support/memory-host.ts';
import { h21Args } from '../support/h21-host.ts';

const R = '/lab/h21';
type Main = (argv: string[], host: Host) => Promise<number>;

/** Run main on a host that has only the root dir, ignore how it ends, return what it touched. */
async function touched(main: Main, argv: string[]): Promise<string[]> {
  const host = new MemoryHost().put(`${R}/.keep`, '');
  host.files.delete(`${R}/.keep`);
  await captureOutput(() => main(['--root', R, ...argv], host)).catch(() => undefined);
  return [...host.touched];
}

const outside = (paths: readonly string[]) =>
  paths.filter((p) => !p.startsWith(`${R}/`) && p !== R && !p.startsWith('/proc/') && !p.startsWith(tmpdir()));

describe('--root reaches every path flag', () => {
  const cases: { script: string; main: Main; flag: string; value: string; extra?: string[] }[] = [
    {
      script: 'snat-fix',
      main: snatFix,
      flag: '--persist',
      value: '/etc/my-rules',
      extra: ['--subnet', '172.7.21.0/24', '--network', '172.7.0.0/16'],
    },
    {
      script: 'drift',
      main: drift,
      flag: '--textfile',
      value: '/var/lib/x.prom',
      extra: [...h21Args('http://127.0.0.1:1')],
    },
    {
      script: 'drift',
      main: drift,
      flag: '--lock',
      value: '/run/x.lock',
      extra: [...h21Args('http://127.0.0.1:1')],
    },
    {
      script: 'drift',
      main: drift,
      flag: '--supervisor-conf',
      value: '/etc/s.conf',
      extra: [...h21Args('http://127.0.0.1:1')],
    },
    {
      script: 'doctor',
      main: doctor,
      flag: '--log',
      value: '/var/log/f.log',
      extra: [...h21Args('http://127.0.0.1:1')],
    },
    {
      script: 'start',
      main: start,
      flag: '--supervisor-conf',
      value: '/etc/s.conf',
      extra: [
        '--endpoints',
        'http://127.0.0.1:1',
        '--public-ip',
        '10.4.7.21',
        '--subnet',
        '172.7.21.0/24',
        '--iface',
        'eth0',
      ],
    },
    { script: 'certs', main: certs, flag: '--from', value: '/srv/certs' },
    {
      script: 'drift',
      main: drift,
      flag: '--cafile',
      value: '/etc/pki/ca.pem',
      extra: [...h21Args('https://127.0.0.1:1')],
    },
    { script: 'install', main: install, flag: '--tarball', value: '/srv/flannel.tgz' },
  ];
  for (const c of cases) {
    test(`${c.script} ${c.flag} ${c.value} is ${R}${c.value}, and nothing outside ${R} is touched`, async () => {
      const paths = await touched(c.main, [...(c.extra ?? []), c.flag, c.value]);
      assert.ok(paths.includes(`${R}${c.value}`), `${R}${c.value} not in ${paths.join(', ')}`);
      assert.deepEqual(outside(paths), []);
    });
  }

  test('a relative host path flag, a directory, and a root that is not there are refused with one line', async () => {
    const host = new MemoryHost().put(`${R}/etc/sysconfig/.keep`, '');
    const args = ['--subnet', '172.7.21.0/24', '--network', '172.7.0.0/16'];
    await assert.rejects(
      snatFix(['--root', R, ...args, '--persist', 'rules'], host),
      /--persist "rules": must be an absolute path/,
    );
    await assert.rejects(
      snatFix(['--root', R, ...args, '--persist', '/etc/sysconfig'], host),
      /--persist "\/etc\/sysconfig": is a directory/,
    );
    await assert.rejects(
      snatFix(['--root', '/nonexistent', ...args], host),
      /--root "\/nonexistent": no such directory/,
    );
    await assert.rejects(
      snatFix(['--root', `${R}/etc/sysconfig/.keep`, ...args], host),
      /--root ".*\.keep": is a file, not a directory/,
    );
    assert.deepEqual(host.ran, []);
  });
});
