import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  planInstall,
  planRollback,
  parseSha256,
  parseVersion,
  releaseUrl,
  type ReleaseState,
} from '../../lib/release.ts';
import { formatPlan } from '../../lib/plan.ts';
import { UsageError } from '../../lib/errors.ts';

const layout = { optDir: '/opt', version: 'v0.11.0' };
const url = { kind: 'url' as const, url: releaseUrl('v0.11.0') };
const fresh: ReleaseState = { current: { kind: 'missing' }, versionInstalled: false, nodeFiles: [] };
const SHA = 'a'.repeat(64);

describe('release', () => {
  test('the default URL is the GitHub release of that version', () => {
    assert.equal(
      releaseUrl('v0.11.0'),
      'https://github.com/coreos/flannel/releases/download/v0.11.0/flannel-v0.11.0-linux-amd64.tar.gz',
    );
  });

  test('a fresh node: download, verify, unpack in staging, move into place, then switch the link last', () => {
    const actions = planInstall({ layout, source: url, sha256: SHA }, fresh);
    const script = formatPlan(actions);
    const order = [
      'curl -fsSL',
      'sha256sum -c',
      'tar -xzf',
      'test -x /opt/.flannel-v0.11.0.partial/flanneld',
      'mv -T /opt/.flannel-v0.11.0.partial /opt/flannel-v0.11.0',
      'ln -sfn flannel-v0.11.0 /opt/flannel.tmp',
    ];
    let at = -1;
    for (const s of order) {
      const i = script.indexOf(s);
      assert.ok(i > at, `${s} should come after the previous step`);
      at = i;
    }
    assert.equal(actions.at(-1)?.kind, 'link');
    assert.ok(!script.includes('flannel.previous'), 'nothing to remember on a fresh node');
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
    const script = formatPlan(planInstall({ layout, source: url }, state));
    assert.match(
      script,
      /install -D -m 0600 \/opt\/flannel-v0\.10\.0\/cert\/client-key\.pem \/opt\/flannel-v0\.11\.0\/cert\/client-key\.pem\.tmp/,
    );
    assert.match(script, /ln -sfn flannel-v0\.10\.0 \/opt\/flannel\.previous\.tmp/);
    assert.ok(script.indexOf('flannel.previous') < script.indexOf('ln -sfn flannel-v0.11.0 /opt/flannel.tmp'));
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
    const script = formatPlan(planRollback({ optDir: '/opt' }, state));
    assert.match(
      script,
      /ln -sfn flannel-v0\.11\.0 \/opt\/flannel\.previous\.tmp[\s\S]*ln -sfn flannel-v0\.10\.0 \/opt\/flannel\.tmp/,
    );
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
