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
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  capture,
  copy,
  formatPlan,
  link,
  makeDir,
  move,
  remove,
  run,
  write,
  type Action,
} from '../../lib/core/plan.ts';
import { applyPlan } from '../../lib/host/apply.ts';
import { LocalHost } from '../../lib/host/local.ts';
import { RecordingHost } from '../../lib/host/recording.ts';

const local = new LocalHost();

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
    capture(
      { argv: ['printf', '*filter\nCOMMIT\n'], why: 'rules', readOnly: true },
      join(root, 'opt/flannel/rules'),
      'a command output saved whole',
      { mode: 0o600, expect: 'COMMIT' },
    ),
    write(join(root, 'opt/flannel/old.txt'), 'old\n', 'to move'),
    move(join(root, 'opt/flannel/old.txt'), join(root, 'opt/flannel/moved.txt'), 'moved'),
    write(join(root, 'opt/flannel/gone.txt'), 'gone\n', 'to remove'),
    remove(join(root, 'opt/flannel/gone.txt'), 'removed'),
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
    rules: readFileSync(p('opt/flannel/rules'), 'utf8'),
    rulesMode: statSync(p('opt/flannel/rules')).mode & 0o777,
    moved: readFileSync(p('opt/flannel/moved.txt'), 'utf8'),
    names: readdirSync(p('opt/flannel-v0.11.0')).sort(),
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
    await applyPlan(actionsIn(a), local);
    execFileSync('bash', ['-c', formatPlan(actionsIn(b))]);
    const sa = snapshot(a);
    const sb = snapshot(b);
    assert.deepEqual({ ...sa, link: sa.link.replace(a, '') }, { ...sb, link: sb.link.replace(b, '') });
    assert.equal(sa.keyMode, 0o600);
    assert.equal(sa.copyMode, 0o640);
    assert.equal(sa.rulesMode, 0o600);
    // nothing left behind by the atomic writes, and nothing printed leaves a temp file either
    assert.deepEqual(sa.names, ['copied.txt', 'key.pem', 'moved.txt', 'rules', 'subnet.env', 'touched']);
  });

  test('--dry-run prints what a RecordingHost recorded: the very plan, and nothing changes', async () => {
    const r = join(dir, 'rec');
    mkdirSync(r, { recursive: true });
    const rec = new RecordingHost(local);
    await applyPlan(actionsIn(r), rec);
    assert.equal(rec.script(), formatPlan(actionsIn(r)));
    assert.deepEqual(readdirSync(r), []);
  });

  test('switching a link replaces it and never nests a link inside the old target directory', async () => {
    const r = join(dir, 'c');
    mkdirSync(join(r, 'v1'), { recursive: true });
    mkdirSync(join(r, 'v2'), { recursive: true });
    await applyPlan([link(join(r, 'v1'), join(r, 'cur'), 'first')], local);
    await applyPlan([link(join(r, 'v2'), join(r, 'cur'), 'second')], local);
    assert.equal(readlinkSync(join(r, 'cur')), join(r, 'v2'));
    assert.throws(() => lstatSync(join(r, 'v1', 'v2')));
    assert.throws(() => lstatSync(join(r, 'v1', 'cur')));
  });

  test('an empty plan prints nothing', () => {
    assert.equal(formatPlan([]), '');
  });
});
