import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { formatCommand, formatScript, RecordingRunner, shellQuote, spawnRunner, zxRunner } from '../../lib/runner.ts';
import { CommandError } from '../../lib/errors.ts';

describe('runner', () => {
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

  test('formatScript of nothing is empty, of something starts with set -e and runs in bash', () => {
    assert.equal(formatScript([]), '');
    const script = formatScript([
      { argv: ['sh', '-c', 'cat; echo "$1"', 'sh', "x'y"], input: '$not expanded', why: 'w' },
    ]);
    assert.match(script, /^set -e\n# w\n/);
    assert.equal(execFileSync('bash', ['-c', script]).toString(), "$not expanded\nx'y\n");
  });

  test('RecordingRunner records and answers success without running anything', async () => {
    const rec = new RecordingRunner();
    const r = await rec.run({ argv: ['false'], why: 'never runs' });
    assert.deepEqual(r, { stdout: '', stderr: '', status: 0 });
    assert.deepEqual(
      rec.commands.map((c) => c.argv),
      [['false']],
    );
  });

  test('zxRunner passes stdin and argv untouched and returns stdout', async () => {
    const r = await zxRunner({
      argv: ['sh', '-c', 'cat; printf "%s" "$1"', 'sh', "a 'b' $c"],
      input: 'in\n',
      why: 't',
    });
    assert.equal(r.stdout, "in\na 'b' $c");
    assert.equal(r.status, 0);
  });

  test('zxRunner throws CommandError with argv, status and stderr, unless the status is an answer', async () => {
    await assert.rejects(zxRunner({ argv: ['sh', '-c', 'echo boom >&2; exit 4'], why: 't' }), (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.equal(e.status, 4);
      assert.match(e.stderr, /boom/);
      assert.equal(e.exitCode, 3);
      return true;
    });
    const r = await zxRunner({ argv: ['sh', '-c', 'exit 1'], why: 'absent is an answer', okStatus: [1] });
    assert.equal(r.status, 1);
  });

  test('spawnRunner has the same contract without a shell: argv and stdin untouched, CommandError on a bad status', async () => {
    const r = await spawnRunner({
      argv: ['sh', '-c', 'cat; printf "%s" "$1"', 'sh', "a 'b' $c"],
      input: 'in\n',
      why: 't',
    });
    assert.equal(r.stdout, "in\na 'b' $c");
    await assert.rejects(
      spawnRunner({ argv: ['sh', '-c', 'echo boom >&2; exit 4'], why: 't' }),
      (e: unknown) => e instanceof CommandError && e.status === 4 && /boom/.test(e.stderr),
    );
    assert.equal((await spawnRunner({ argv: ['sh', '-c', 'exit 1'], why: 't', okStatus: [1] })).status, 1);
    await assert.rejects(
      spawnRunner({ argv: ['/nonexistent/binary'], why: 't' }),
      (e: unknown) => e instanceof CommandError && /ENOENT/.test(e.stderr),
    );
  });
});
