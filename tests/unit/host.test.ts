// lib/host: the Host every step acts through. The two command engines (zx for the steps, plain
// spawn for the cron path) keep one contract: argv and stdin untouched, CommandError on a bad
// status, a missing program said plainly, a timeout that kills the whole process group. The
// recording Host runs observations and records changes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { formatCommand, shellQuote } from '../../lib/core/command.ts';
import { CommandError, TimeoutError } from '../../lib/core/errors.ts';
import { formatPlan } from '../../lib/core/plan.ts';
import { spawnExec, zxExec } from '../../lib/host/local.ts';
import { RecordingHost } from '../../lib/host/recording.ts';
import { MemoryHost } from '../support/memory-host.ts';

describe('commands as data', () => {
  test('shellQuote leaves plain words alone and quotes the rest so bash reads them back', () => {
    const cases: [string, string][] = [
      ['172.7.21.0/24', '172.7.21.0/24'],
      ['--public-ip=10.4.7.21', '--public-ip=10.4.7.21'],
      ['', "''"],
      ['a b', "'a b'"],
      ["it's", "'it'\\''s'"],
      ['$HOME', "'$HOME'"],
      ['{"Network": "172.7.0.0/16"}', `'{"Network": "172.7.0.0/16"}'`],
    ];
    for (const [word, quoted] of cases) {
      assert.equal(shellQuote(word), quoted);
      assert.equal(execFileSync('bash', ['-c', `printf %s ${quoted}`]).toString(), word);
    }
  });

  test('formatCommand puts the why above the command and stdin in a quoted heredoc', () => {
    const text = formatCommand({
      argv: ['ip', '-batch', '-'],
      input: 'route replace 172.7.22.0/24 via 10.4.7.22 dev eth0\n',
      why: 'routes for 1 lease',
    });
    assert.equal(
      text,
      "# routes for 1 lease\nip -batch - <<'FLANNEL_RUNBOOK_EOF'\nroute replace 172.7.22.0/24 via 10.4.7.22 dev eth0\nFLANNEL_RUNBOOK_EOF",
    );
  });

  test('a plan of nothing prints nothing; of something, set -e first, and it runs in bash', () => {
    assert.equal(formatPlan([]), '');
    const script = formatPlan([
      { kind: 'run', cmd: { argv: ['sh', '-c', 'cat; echo "$1"', 'sh', "x'y"], input: '$not expanded', why: 'w' } },
    ]);
    assert.match(script, /^set -e\n# w\n/);
    assert.equal(execFileSync('bash', ['-c', script]).toString(), "$not expanded\nx'y\n");
  });
});

for (const [name, exec] of [
  ['zx', zxExec],
  ['spawn', spawnExec],
] as const) {
  describe(`LocalHost engine ${name}`, () => {
    test('passes stdin and argv untouched and returns stdout', async () => {
      const r = await exec({ argv: ['sh', '-c', 'cat; printf "%s" "$1"', 'sh', "a 'b' $c"], input: 'in\n', why: 't' });
      assert.equal(r.stdout, "in\na 'b' $c");
      assert.equal(r.status, 0);
    });

    test('a bad status is a CommandError with argv, status and stderr (exit 3), unless it is an answer', async () => {
      await assert.rejects(exec({ argv: ['sh', '-c', 'echo boom >&2; exit 4'], why: 't' }), (e: unknown) => {
        assert.ok(e instanceof CommandError);
        assert.equal(e.status, 4);
        assert.match(e.stderr, /boom/);
        assert.equal(e.exitCode, 3);
        return true;
      });
      assert.equal((await exec({ argv: ['sh', '-c', 'exit 1'], why: 't', okStatus: [1] })).status, 1);
    });

    test('a missing program is said plainly, with the PATH it was looked for in', async () => {
      await assert.rejects(
        exec({ argv: ['no-such-tool-frb'], why: 't' }),
        (e: unknown) => e instanceof CommandError && /^no-such-tool-frb not found in PATH \(/.test(e.message),
      );
    });

    test('past its timeout the command and its children are killed: TimeoutError naming the command', async () => {
      const marker = `frb-timeout-${name}-${process.pid}`;
      const t0 = Date.now();
      await assert.rejects(
        exec({ argv: ['sh', '-c', `sleep 30 & sleep 31; : ${marker}`], why: 't', timeoutMs: 300 }),
        (e: unknown) =>
          e instanceof TimeoutError && /^sh -c .* did not finish within 300 ms/.test(e.message) && e.exitCode === 3,
      );
      assert.ok(Date.now() - t0 < 5000, 'killed promptly');
      await new Promise((r) => setTimeout(r, 200));
      // the backgrounded grandchild died with its group
      const left = execFileSync('sh', ['-c', `pgrep -f '[f]${marker.slice(1)}' || true`])
        .toString()
        .trim();
      assert.equal(left, '');
    });
  });
}

describe('LocalHost engine spawn, pipes held from outside the group', () => {
  test("past its timeout it is reported within a second, though its pipes stay open (an ssh master holds a mux client's)", async () => {
    const t0 = Date.now();
    // setsid: a process of another group keeps stdout and stderr open for 3 s after the kill
    await assert.rejects(
      spawnExec({ argv: ['sh', '-c', 'setsid sleep 3 & sleep 30'], why: 't', timeoutMs: 300 }),
      (e: unknown) => e instanceof TimeoutError,
    );
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
  });
});

describe('RecordingHost', () => {
  test('observations run on the host underneath; changes are recorded, answered with success and not made', async () => {
    const base = new MemoryHost({ '/etc/x': 'old\n' }).answer(['ip', '-j', 'route'], { stdout: '[]' });
    const rec = new RecordingHost(base);
    assert.equal((await rec.run({ argv: ['ip', '-j', 'route', 'show'], why: 'routes', readOnly: true })).stdout, '[]');
    assert.deepEqual(await rec.run({ argv: ['false'], why: 'never runs' }), { stdout: '', stderr: '', status: 0 });
    await rec.writeFile('/etc/x', 'new\n', { mode: 0o644, why: 'a change' });
    assert.equal(await rec.readFile('/etc/x'), 'new\n', 'the run reads back what it wrote');
    assert.equal(await base.readFile('/etc/x'), 'old\n', 'the host is untouched');
    assert.deepEqual(
      base.ran.map((c) => c.argv[0]),
      ['ip'],
    );
    assert.deepEqual(
      rec.actions.map((a) => a.kind),
      ['run', 'write'],
    );
  });
});
