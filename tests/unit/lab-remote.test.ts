// lab/remote.ts and the control host in lab/topology.ts, the pure parts: where the control
// host sits, the ssh client config and known_hosts it holds, the argv of a node's sshd.
// tests/ns/ssh-host.test.ts builds the real thing.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MOUNT_AND_SSHD, nodeSshdArgv, renderKnownHosts, renderSshClientConfig } from '../../lab/remote.ts';
import { planNetnsBatch, planTopology } from '../../lab/topology.ts';

describe('lab remote mode', () => {
  test('control: true adds one namespace on l2 at 10.4.7.10 (default route via the gateway); the default plan has none', () => {
    const plain = planTopology({ prefix: 'frb0000', dir: '/x' });
    assert.equal(plain.control, undefined);
    assert.ok(!plain.namespaces.some((n) => n.role === 'control'));
    const t = planTopology({ prefix: 'frb0000', dir: '/x', control: true });
    assert.deepEqual(t.control, { name: 'control', netns: 'frb0000-ctl', ip: '10.4.7.10' });
    const ns = t.namespaces.find((n) => n.role === 'control')!;
    assert.deepEqual(planNetnsBatch(ns, t.veths), [
      'link set lo up',
      'link set eth0 up',
      'addr add 10.4.7.10/16 dev eth0',
      'route replace default via 10.4.0.1',
    ]);
    assert.ok(t.veths.some((v) => v.a.netns === 'frb0000-ctl' && v.b.netns === 'frb0000-l2' && v.b.master === 'br0'));
    assert.equal(t.hosts.length, plain.hosts.length, 'the control host is no cluster host');
  });

  test("the control host's ssh config: a Host entry per node name and address, the identity, strict known hosts", () => {
    const nodes = [
      { name: 'hdss7-21', ip: '10.4.7.21', hostPub: 'ssh-ed25519 AAAA21 lab hdss7-21' },
      { name: 'hdss7-22', ip: '10.4.7.22', hostPub: 'ssh-ed25519 AAAA22 lab hdss7-22' },
    ];
    assert.equal(
      renderSshClientConfig({ prefix: 'frb0000', nodes, identity: '/x/ssh/id_ed25519', knownHosts: '/x/control/kh' }),
      [
        "# flannel-runbook lab frb0000: the control host's ssh client config (ssh -F this file)",
        'Host hdss7-21 10.4.7.21',
        '    HostName 10.4.7.21',
        'Host hdss7-22 10.4.7.22',
        '    HostName 10.4.7.22',
        'Host *',
        '    User root',
        '    IdentityFile /x/ssh/id_ed25519',
        '    IdentitiesOnly yes',
        '    UserKnownHostsFile /x/control/kh',
        '    GlobalKnownHostsFile /dev/null',
        '    StrictHostKeyChecking yes',
        '    BatchMode yes',
        '',
      ].join('\n'),
    );
    assert.equal(
      renderKnownHosts(nodes),
      'hdss7-21,10.4.7.21 ssh-ed25519 AAAA21\nhdss7-22,10.4.7.22 ssh-ed25519 AAAA22\n',
    );
  });

  test("a node's sshd: a private mount namespace, its /root and the layers mounted, then sshd in the foreground", () => {
    const argv = nodeSshdArgv('/x/hdss7-21/etc/ssh/sshd_config', '/x/hdss7-21/root', [
      { dir: '/usr/sbin', layer: '/x/remote/layers/2', hidden: [], replaced: ['ip', 'bridge'] },
      { dir: '/usr/bin', layer: '/x/remote/layers/3', hidden: ['node', 'nodejs'], replaced: ['ip'] },
    ]);
    assert.deepEqual(argv, [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      MOUNT_AND_SSHD,
      'sh',
      '/x/hdss7-21/etc/ssh/sshd_config',
      '/x/hdss7-21/root',
      '/usr/sbin',
      '/x/remote/layers/2',
      '/usr/bin',
      '/x/remote/layers/3',
    ]);
    assert.match(MOUNT_AND_SSHD, /mount -t overlay frb-remote -o "ro,lowerdir=\$2:\$1" "\$1"/);
    assert.match(MOUNT_AND_SSHD, /exec \/usr\/sbin\/sshd -D -e -f "\$conf"$/);
  });
});
