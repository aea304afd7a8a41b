// The house plan (lib/README.md), enforced: a lib/ module imports only from its own layer and
// the layers below it, nothing in the repository imports in a circle, no script or planner
// reaches node:fs or child_process for a host path (only host/ does), and no file points at
// material outside the repository.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const LAYERS = ['core', 'model', 'host', 'checks', 'doctor', 'steps', 'cli'];

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((n) => {
    const p = join(dir, n);
    if (n === 'node_modules' || n === 'fixtures' || n.startsWith('.')) return [];
    return statSync(join(ROOT, p)).isDirectory() ? files(p) : /\.(ts|mjs)$/.test(n) ? [p] : [];
  });
}

/** Relative imports of a file, resolved to repository paths (type-only imports count too). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)].map((m) =>
    relative(ROOT, resolve(dirname(join(ROOT, file)), m[1]!)),
  );
}

const layerOf = (f: string) => (f.startsWith('lib/') ? LAYERS.indexOf(f.split('/')[1]!) : -1);

describe('layers', () => {
  const lib = files('lib');

  test('every lib/ module sits in a layer folder', () => {
    assert.deepEqual(
      lib.filter((f) => layerOf(f) < 0),
      [],
    );
  });

  test('no lib/ import climbs to a higher layer', () => {
    const climbs = lib.flatMap((f) =>
      importsOf(f)
        .filter((to) => to.startsWith('lib/') && layerOf(to) > layerOf(f))
        .map((to) => `${f} -> ${to}`),
    );
    assert.deepEqual(climbs, []);
  });

  test('nothing imports in a circle (lib, scripts, lab)', () => {
    const all = [...lib, ...files('scripts'), ...files('lab')];
    const graph = new Map(all.map((f) => [f, importsOf(f).filter((t) => all.includes(t))]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of all) visit(f, []);
    assert.deepEqual(cycles, []);
  });

  test('only host/ touches the node: no node:fs or child_process in scripts, steps, checks, doctor or model', () => {
    const touching = [
      ...files('scripts'),
      ...lib.filter((f) => !f.startsWith('lib/host/') && !f.startsWith('lib/cli/')),
    ].filter((f) => /from 'node:(fs|fs\/promises|child_process)'/.test(readFileSync(join(ROOT, f), 'utf8')));
    assert.deepEqual(touching, []);
  });

  test('no file points at material outside the repository', () => {
    const self = relative(ROOT, import.meta.filename);
    const pointing = [...lib, ...files('scripts'), ...files('lab'), ...files('tests')].filter(
      (f) =>
        f !== self &&
        /\.\.\/shared|\/work\/shared|FLANNEL-FACTS|RUNBOOK\.md|observed-flanneld-v/.test(
          readFileSync(join(ROOT, f), 'utf8'),
        ),
    );
    assert.deepEqual(pointing, []);
  });
});
