import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { explainLog, parseLogLine } from '../../lib/model/flanneld-log.ts';

const FIX = 'tests/fixtures/logs';
const log = (name: string) => readFileSync(join(FIX, name), 'utf8');

describe('flanneld-log', () => {
  test('parses a glog line into level, source and message', () => {
    const l = parseLogLine(
      "E1126 12:21:40.123456   10819 main.go:382] Couldn't fetch network config: 100: Key not found (/coreos.com) [3]",
    );
    assert.equal(l.level, 'E');
    assert.equal(l.source, 'main.go:382');
    assert.equal(l.message, "Couldn't fetch network config: 100: Key not found (/coreos.com) [3]");
    assert.equal(parseLogLine('panic: boom').level, '?');
  });

  const cases: [string, string][] = [
    ['v0.11.0-11-v3only-flanneld-h21.log', 'config-v2-missing'],
    ['v0.11.0-50-tls-neg-http-scheme.log', 'tls-scheme'],
    ['v0.11.0-51-tls-neg-nocerts.log', 'tls-unknown-ca'],
    ['v0.11.0-52-tls-neg-ca-only.log', 'tls-bad-certificate'],
    ['v0.20.2-31-v2only-flanneld-h21.log', 'config-v3-missing'],
    ['v0.11.0-80-misc-errors.txt', 'iface-missing'],
  ];
  for (const [file, id] of cases) {
    test(`recognises ${id} in the real daemon's log ${file}`, () => {
      const ids = explainLog(log(file)).map((e) => e.known?.id);
      assert.ok(ids.includes(id), `${id} not in ${ids.join(',')}`);
    });
  }

  test('a clean start explains nothing', () => {
    assert.deepEqual(explainLog(log('v0.11.0-21-hostgw-flanneld-h21.log')), []);
  });

  test('a repeated error is reported once', () => {
    const found = explainLog(log('v0.11.0-11-v3only-flanneld-h21.log')).filter(
      (e) => e.known?.id === 'config-v2-missing',
    );
    assert.equal(found.length, 1);
  });

  test('every fixture log is one of the real daemon outputs', () => {
    assert.ok(readdirSync(FIX).length >= 7);
  });
});
