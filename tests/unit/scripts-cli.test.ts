// Every step script, as a user runs it: directly executable from any directory, `--help`
// with a real example (exit 0), an unknown flag refused in one line (exit 2).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const dir = fileURLToPath(new URL('../../scripts/', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const scripts = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.replace(/\.ts$/, ''));

function run(script: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // cwd '/': the scripts must not depend on being started from the checkout
    execFile(join(dir, `${script}.ts`), args, { cwd: '/' }, (err, stdout, stderr) => {
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('scripts', () => {
  test('there is one script per runbook step, plus drift, doctor, fleet and the whole runbook', () => {
    for (const s of [
      'install',
      'certs',
      'etcd-config',
      'start',
      'snat-fix',
      'verify-ping',
      'drift',
      'doctor',
      'fleet',
      'runbook',
    ])
      assert.ok(scripts.includes(s), s);
  });
  for (const s of scripts) {
    test(`${s}: --help shows usage and a real example, from any directory`, async () => {
      const r = await run(s, ['--help']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^usage: ${s} \\[flags\\]`));
      assert.match(r.stdout, new RegExp(`\\nexample:\\n  scripts/${s}\\.ts \\S|\\nexample:\\n  .*${s}`));
      // a step acts on one host (--root); runbook.ts on the cluster file's nodes (each its "root")
      if (s === 'runbook') assert.match(r.stdout, /--cluster FILE/);
      else assert.match(r.stdout, /--root DIR/);
    });
    test(`${s}: --version prints the toolkit's version (install: without a value)`, async () => {
      const r = await run(s, ['--version']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${s} (flannel-runbook) ${pkg.version}\n`);
    });
    test(`${s}: an unknown flag is one line on stderr and exit 2`, async () => {
      const r = await run(s, ['--no-such-flag']);
      assert.equal(r.status, 2);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `${s}: unknown flag --no-such-flag; see --help\n`);
    });
  }
});
