import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  mkdirSync,
  writeFileSync,
  lstatSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPlan, copy, formatPlan, link, makeDir, run, write, type Action } from '../../lib/plan.ts';
import { zxRunner } from '../../lib/runner.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'frb-plan-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function actionsIn(root: string): Action[] {
  return [
    makeDir(join(root, 'opt/flannel-v0.11.0'), 'release dir'),
    write(join(root, 'opt/flannel-v0.11.0/subnet.env'), 'FLANNEL_NETWORK=172.7.0.0/16\n', 'subnet.env'),
    write(join(root, 'opt/flannel-v0.11.0/key.pem'), "secret'$x\n", 'key', 0o600),
    copy(join(root, 'src.txt'), join(root, 'opt/flannel-v0.11.0/copied.txt'), 'copy', 0o640),
    link(join(root, 'opt/flannel-v0.11.0'), join(root, 'opt/flannel'), 'switch the link'),
    run({ argv: ['touch', join(root, 'opt/flannel/touched')], why: 'a command' }),
  ];
}

function snapshot(root: string) {
  const p = (s: string) => join(root, s);
  return {
    env: readFileSync(p('opt/flannel/subnet.env'), 'utf8'),
    key: readFileSync(p('opt/flannel/key.pem'), 'utf8'),
    keyMode: statSync(p('opt/flannel/key.pem')).mode & 0o777,
    copyMode: statSync(p('opt/flannel/copied.txt')).mode & 0o777,
    link: readlinkSync(p('opt/flannel')),
    touched: lstatSync(p('opt/flannel/touched')).isFile(),
  };
}

describe('plan', () => {
  test('applyPlan and the printed --dry-run script give the same files, modes and links', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    for (const r of [a, b]) {
      mkdirSync(r, { recursive: true });
      writeFileSync(join(r, 'src.txt'), 'copied\n');
    }
    await applyPlan(actionsIn(a), zxRunner);
    execFileSync('bash', ['-c', formatPlan(actionsIn(b))]);
    const sa = snapshot(a);
    const sb = snapshot(b);
    assert.deepEqual({ ...sa, link: sa.link.replace(a, '') }, { ...sb, link: sb.link.replace(b, '') });
    assert.equal(sa.keyMode, 0o600);
    assert.equal(sa.copyMode, 0o640);
  });

  test('switching a link replaces it and never nests a link inside the old target directory', async () => {
    const r = join(dir, 'c');
    mkdirSync(join(r, 'v1'), { recursive: true });
    mkdirSync(join(r, 'v2'), { recursive: true });
    await applyPlan([link(join(r, 'v1'), join(r, 'cur'), 'first')], zxRunner);
    await applyPlan([link(join(r, 'v2'), join(r, 'cur'), 'second')], zxRunner);
    assert.equal(readlinkSync(join(r, 'cur')), join(r, 'v2'));
    assert.throws(() => lstatSync(join(r, 'v1', 'v2')));
    assert.throws(() => lstatSync(join(r, 'v1', 'cur')));
  });

  test('an empty plan prints nothing', () => {
    assert.equal(formatPlan([]), '');
  });
});
