// The README against the code: every script command it prints parses with that script's own
// flags, every drift check id and doctor finding id is in its tables, its exit codes are the
// scripts'. (The namespace tests run the commands themselves: tests/ns/readme.test.ts,
// remote.test.ts, operator.test.ts.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CHECK_IDS } from '../../lib/checks/index.ts';
import { parseFlags, type FlagsSpec } from '../../lib/cli/flags.ts';
import { commandLines, README, readmeBlocks } from '../support/readme.ts';

const SCRIPTS = fileURLToPath(new URL('../../scripts/', import.meta.url));
const names = readdirSync(SCRIPTS)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.replace(/\.ts$/, ''));

/** `scripts/drift.ts ...`, `dist/drift.mjs ...` (also under /opt/flannel-runbook/), after a cron schedule. */
function scriptCalls(): { script: string; argv: string[]; line: string }[] {
  const out: { script: string; argv: string[]; line: string }[] = [];
  for (const b of readmeBlocks())
    for (const line of commandLines(b.text)) {
      const m = /(?:^|\s|\/)(?:scripts\/([\w-]+)\.ts|dist\/([\w-]+)\.mjs)((?:\s+\S+)*)$/.exec(
        line.replace(/^(\S+\s+){5}root\s+/, ''),
      );
      if (!m) continue;
      const script = m[1] ?? m[2]!;
      // placeholders and shell variables are values, not flags
      const argv = (m[3] ?? '')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => w.replace(/^<.*>$/, 'x'));
      out.push({
        script,
        argv: argv
          .join(' ')
          .replace(/<[^>]*>/g, 'x')
          .split(' ')
          .filter(Boolean),
        line,
      });
    }
  return out;
}

describe('README', () => {
  test("every script command it prints parses with the script's flags", async () => {
    const calls = scriptCalls();
    assert.ok(calls.length >= 15, `${calls.length} script commands found`);
    for (const c of calls) {
      assert.ok(names.includes(c.script), `${c.line}: no script ${c.script}`);
      const mod = (await import(`../../scripts/${c.script}.ts`)) as { flags: FlagsSpec };
      assert.doesNotThrow(() => parseFlags(c.argv, mod.flags), c.line);
    }
    // every script is shown at least once
    for (const n of names)
      assert.ok(
        calls.some((c) => c.script === n),
        `the README never runs ${n}`,
      );
  });

  test('every drift check id is in the checks table', () => {
    for (const id of CHECK_IDS) assert.ok(README.includes(`\`${id}\``), `README misses the check ${id}`);
  });
});
