import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSha256, parseVersion, releaseUrl } from '../../lib/model/release.ts';
import { planInstall, planRollback, type ReleaseState } from '../../lib/steps/install.ts';
import { formatPlan, type Action } from '../../lib/core/plan.ts';
import { UsageError } from '../../lib/core/errors.ts';

const layout = { optDir: '/opt', version: 'v0.11.0' };
const url = { kind: 'url' as const, url: releaseUrl('v0.11.0') };
const fresh: ReleaseState = { current: { kind: 'missing' }, versionInstalled: false, nodeFiles: [] };
const SHA = 'a'.repeat(64);

/** An action as `kind subject` (a run by its program), for order assertions. */
function key(a: Action): string {
  switch (a.kind) {
    case 'run':
      return `run ${a.cmd.argv[0]}`;
    case 'link':
      return `link ${a.path} -> ${a.target}`;
    case 'rename':
      return `rename ${a.from} -> ${a.to}`;
    case 'capture':
    case 'write':
    case 'mkdir':
    case 'remove':
      return `${a.kind} ${a.path}`;
    case 'copy':
      return `copy ${a.to}`;
  }
}

describe('release', () => {
  test('the default URL is the GitHub release of that version', () => {
    assert.equal(
      releaseUrl('v0.11.0'),
      'https://github.com/coreos/flannel/releases/download/v0.11.0/flannel-v0.11.0-linux-amd64.tar.gz',
    );
  });

  test('a fresh node: download, verify, unpack in staging, move into place, then switch the link last', () => {
    const actions = planInstall({ layout, source: url, sha256: SHA }, fresh);
    const steps = actions.map(key);
    const order = [
      'run curl',
      'run sh', // sha256sum -c
      'run tar',
      'run test',
      'capture /opt/.flannel-v0.11.0.partial/.sha256',
      'rename /opt/.flannel-v0.11.0.partial -> /opt/flannel-v0.11.0',
      'link /opt/flannel -> flannel-v0.11.0',
    ];
    let at = -1;
    for (const s of order) {
      const i = steps.indexOf(s);
      assert.ok(i > at, `${s} should come after the previous step: ${steps.join(', ')}`);
      at = i;
    }
    assert.equal(actions.at(-1)?.kind, 'link');
    assert.ok(!steps.some((x) => x.includes('flannel.previous')), 'nothing to remember on a fresh node');
    // the printed form runs the same steps
    assert.match(formatPlan(actions), /sha256sum -c/);
  });

  test('installed and linked: nothing to do', () => {
    const state: ReleaseState = {
      current: { kind: 'link', target: '/opt/flannel-v0.11.0/' },
      versionInstalled: true,
      recordedSha256: SHA,
      nodeFiles: ['subnet.env'],
    };
    assert.deepEqual(planInstall({ layout, source: url, sha256: SHA }, state), []);
    assert.deepEqual(planInstall({ layout, source: url }, state), []);
  });

  test('an upgrade carries the node files over and remembers the previous release', () => {
    const state: ReleaseState = {
      current: { kind: 'link', target: '/opt/flannel-v0.10.0' },
      versionInstalled: false,
      nodeFiles: ['subnet.env', 'cert/client-key.pem'],
    };
    const actions = planInstall({ layout, source: url }, state);
    const key600 = actions.find(
      (a) =>
        a.kind === 'copy' &&
        a.from === '/opt/flannel-v0.10.0/cert/client-key.pem' &&
        a.to === '/opt/flannel-v0.11.0/cert/client-key.pem',
    );
    assert.ok(key600 && key600.kind === 'copy' && key600.mode === 0o600, 'the key is carried over, 0600');
    const steps = actions.map(key);
    assert.ok(steps.includes('link /opt/flannel.previous -> flannel-v0.10.0'));
    assert.ok(
      steps.indexOf('link /opt/flannel.previous -> flannel-v0.10.0') <
        steps.indexOf('link /opt/flannel -> flannel-v0.11.0'),
    );
  });

  test('refuses a real directory where the link should be, and a checksum that differs from the recorded one', () => {
    assert.throws(
      () => planInstall({ layout, source: url }, { ...fresh, current: { kind: 'dir' } }),
      (e: unknown) => e instanceof UsageError && /must be a link/.test(e.message),
    );
    const state: ReleaseState = {
      current: { kind: 'link', target: '/opt/flannel-v0.11.0' },
      versionInstalled: true,
      recordedSha256: 'b'.repeat(64),
      nodeFiles: [],
    };
    assert.throws(() => planInstall({ layout, source: url, sha256: SHA }, state), /differs from the sha256 recorded/);
  });

  test('rollback swaps the link and the previous link; without a previous release it refuses', () => {
    const state: ReleaseState = {
      current: { kind: 'link', target: '/opt/flannel-v0.11.0' },
      versionInstalled: true,
      previous: '/opt/flannel-v0.10.0',
      nodeFiles: [],
    };
    assert.deepEqual(planRollback({ optDir: '/opt' }, state).map(key), [
      'link /opt/flannel.previous -> flannel-v0.11.0',
      'link /opt/flannel -> flannel-v0.10.0',
    ]);
    assert.throws(() => planRollback({ optDir: '/opt' }, { ...state, previous: undefined }), /no previous release/);
  });

  test('bad versions and checksums are refused with the flag, value and an example', () => {
    for (const v of ['0.11.0', 'v0.11', 'latest', 'v0.11.0; rm -rf /', ''])
      assert.throws(() => parseVersion(v), /^UsageError: --version .*: must be a flannel release tag/);
    for (const s of ['abc', 'g'.repeat(64), 'a'.repeat(63), ''])
      assert.throws(() => parseSha256(s), /--sha256 .*: must be 64 hex digits/);
    assert.equal(parseSha256('A'.repeat(64)), 'a'.repeat(64));
  });
});
