// The catalogue table (docs/doctor-catalogue-table.md, the README's section on doctor and the
// failure catalogue) against the namespace cases that rebuild it (tests/ns/doctor-cases.ts, run
// by tests/ns/doctor.test.ts, doctor-2.test.ts and doctor-vxlan.test.ts): every one of the 39 cases has a
// row; a row with findings has a lab case per finding; a row without says why; every lab case
// that names a catalogue case is in its row. Needs no root: it reads, the lab files break.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HOSTGW_CASES, OWN_TESTS, VXLAN_CASES } from './doctor-cases.ts';

const table = readFileSync(new URL('../../docs/doctor-catalogue-table.md', import.meta.url), 'utf8');
const catalogue = readFileSync(new URL('../../docs/failure-catalogue.md', import.meta.url), 'utf8');

interface Row {
  readonly id: string;
  readonly findings: readonly string[];
  readonly how: string;
}
const rows: Row[] = table
  .split('\n')
  .filter((l) => /^\| C\d\d /.test(l))
  .map((l) => {
    const cells = l.split('|').map((x) => x.trim());
    return { id: cells[1]!, findings: [...cells[3]!.matchAll(/`([a-z0-9.-]+)`/g)].map((m) => m[1]!), how: cells[4]! };
  });
const cases = [...HOSTGW_CASES, ...VXLAN_CASES, ...OWN_TESTS];

describe('the doctor catalogue table', () => {
  test('one row per case of the failure catalogue, C01..C39, in order', () => {
    const ids = [...catalogue.matchAll(/^### (C\d\d) /gm)].map((m) => m[1]!);
    assert.equal(ids.length, 39);
    assert.deepEqual(
      rows.map((r) => r.id),
      ids,
    );
  });
  test('every finding of a row is rebuilt by a lab case of that catalogue case', () => {
    for (const r of rows)
      for (const f of r.findings)
        assert.ok(
          cases.some((k) => k.finding === f && k.catalogue?.includes(r.id)),
          `${r.id}: no lab case breaks it for ${f}`,
        );
  });
  test('a row without a finding says why, and the case it names is negative (C17) or cannot be rebuilt', () => {
    for (const r of rows.filter((x) => x.findings.length === 0)) {
      assert.ok(r.how.length > 20, `${r.id}: no reason`);
      const lab = cases.filter((k) => k.catalogue?.includes(r.id));
      // C17 is harmless: its case asserts doctor finds nothing
      assert.ok(
        lab.every((k) => k.finding === ''),
        `${r.id}: a lab case names a finding the table lacks`,
      );
    }
  });
  test('every lab case that names a catalogue case is in its row', () => {
    for (const k of cases)
      for (const id of k.catalogue ?? []) {
        const r = rows.find((x) => x.id === id);
        assert.ok(r, id);
        if (k.finding) assert.ok(r.findings.includes(k.finding), `${id}: the table lacks ${k.finding}`);
      }
  });
  test('each case reproducible yes or partly that a node can see has a finding', () => {
    const summary = catalogue
      .split('\n')
      .filter((l) => /^\| C\d\d \|/.test(l))
      .map((l) => l.split('|').map((x) => x.trim()));
    for (const [, id, , seen, repro] of summary) {
      if (!/^(yes|partly)/.test(repro!) || seen === 'no') continue;
      const r = rows.find((x) => x.id === id)!;
      if (id === 'C17') continue;
      assert.ok(r.findings.length > 0, `${id} (${seen}/${repro}) has no finding`);
    }
  });
});
