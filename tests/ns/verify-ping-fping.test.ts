// verify-ping with each prober on a lab (root only): ping (a PATH without fping), Debian's fping
// 5.1, and fping 3.10 and 4.2 (tests/fixtures/fping/bin: CentOS 7's EPEL has a 3.x or 4.x).
// The same targets give the same rows (target, node, route, loss, verdict and its reason), the
// same lines and the same exit code whichever ran; only what is measured (RTT) and what fping
// cannot see (the reply's TTL) differ. Targets: the peer's pod and docker0 (answer), an address
// the peer's pod drops (silent), one in the flannel network without a lease, the outside host.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { nodeArgs, runbookWithScripts, writeClusterFile } from '../../lab/runbook-steps.ts';

process.env.SHLVL ??= '1';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST = join(ROOT, 'dist', 'verify-ping.mjs');
const OLD_FPING = join(ROOT, 'tests', 'fixtures', 'fping', 'bin');
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;
const hasFping = (() => {
  try {
    execFileSync('fping', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface Row {
  target: string;
  node: string;
  route: string;
  loss: number | null;
  rttMs: number | null;
  ttl: number | null;
  ok: boolean;
  reason: string;
}

let lab: Lab;
let cluster: string;
let h21: LabNode;
let h22: LabNode;
let scratch: string;
/** PATH for each prober: only the programs verify-ping runs (ip, ping, fping) and node */
const paths = new Map<string, string>();

/** A PATH directory with ip, ping and node, and fping when `fping` names one. */
function pathDir(name: string, fping?: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  for (const p of ['ip', 'ping', 'node']) {
    const at = execFileSync('bash', ['-c', `command -v ${p}`], { encoding: 'utf8' }).trim();
    symlinkSync(p === 'node' ? process.execPath : at, join(dir, p));
  }
  if (fping) symlinkSync(fping, join(dir, 'fping'));
  return dir;
}

async function verify(prober: string, targets: readonly string[], extra: readonly string[] = []) {
  const argv = ['node', DIST, ...nodeArgs(cluster, h21), '--targets', targets.join(','), ...extra];
  const env = { ...process.env, PATH: paths.get(prober)! };
  const [json, text] = await Promise.all([
    lab.exec(h21.netns, [...argv, '--json'], { env, okStatus: [1, 3], timeoutMs: 60_000 }),
    lab.exec(h21.netns, argv, { env, okStatus: [1, 3], timeoutMs: 60_000 }),
  ]);
  let j: { ok: boolean; prober: string; rows: Row[] };
  try {
    j = JSON.parse(json.stdout);
  } catch {
    throw new Error(`verify-ping (${prober}) exit ${json.status}: ${json.stderr}`);
  }
  return { status: json.status, textStatus: text.status, ...j, text: text.stdout };
}

/** What must be the same whichever prober ran: all of a row but RTT and TTL. */
const same = (rows: Row[]) => rows.map(({ rttMs: _r, ttl: _t, ...rest }) => rest);
/** The table without its RTT and TTL columns (cut where the header has them), other lines as they are. */
function maskedText(text: string): string {
  const lines = text.split('\n');
  const header = lines[0] ?? '';
  const rtt = header.indexOf('RTT');
  const verdict = header.indexOf('VERDICT');
  if (rtt < 0 || verdict < 0) return text;
  const rows = lines.findIndex((l, i) => i > 0 && !/^\d/.test(l));
  return lines
    .map((l, i) => (i < (rows < 0 ? lines.length : rows) ? `${l.slice(0, rtt)}|${l.slice(verdict)}` : l))
    .join('\n');
}

describe('verify-ping: fping and ping give the same rows', {
  skip: notRoot || (!hasFping && 'fping not installed (lab/setup.sh installs it)'),
}, () => {
  let targets: string[];
  before(async () => {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'ignore' });
    lab = await createLab({});
    await runbookWithScripts(lab, { startsecs: 2 });
    cluster = writeClusterFile(lab);
    [h21, h22] = lab.nodes as [LabNode, LabNode];
    scratch = mkdtempSync(join(tmpdir(), `${lab.prefix}-probers-`));
    paths.set('ping', pathDir('ping'));
    paths.set(
      'fping-5.1',
      pathDir('fping-5.1', execFileSync('bash', ['-c', 'command -v fping'], { encoding: 'utf8' }).trim()),
    );
    paths.set('fping-3.10', pathDir('fping-3.10', join(OLD_FPING, 'fping-3.10')));
    paths.set('fping-4.2', pathDir('fping-4.2', join(OLD_FPING, 'fping-4.2')));
    // a silent address: on the peer's pod, dropped there
    const silent = h22.pod.ip.replace(/\.\d+$/, '.190');
    await lab.exec(h22.pod.netns, ['ip', 'addr', 'add', `${silent}/32`, 'dev', 'lo']);
    await lab.exec(h22.pod.netns, ['iptables', '-I', 'INPUT', '-d', silent, '-j', 'DROP']);
    // no lease, so no route but the default: the gateway answers ICMP Net Unreachable. Not from a
    // missing route there: the kernel limits those errors with a machine-wide token bucket
    // (net.ipv4.route.error_cost/error_burst: 5, then one a second), so which run got one was
    // luck. A REJECT in the gateway's FORWARD sends the same error through icmp_send, whose
    // per-host limit this namespace may switch off.
    await lab.exec(lab.gateway.netns, ['ip', 'route', 'add', '172.7.99.0/24', 'dev', 'eth1']);
    await lab.exec(lab.gateway.netns, [
      'iptables',
      '-I',
      'FORWARD',
      '-d',
      '172.7.99.0/24',
      '-j',
      'REJECT',
      '--reject-with',
      'icmp-net-unreachable',
    ]);
    await lab.exec(lab.gateway.netns, ['sysctl', '-qw', 'net.ipv4.icmp_ratelimit=0']);
    targets = [h22.pod.ip, h22.bridgeIp, silent, '172.7.99.1', lab.outside.ip];
  });
  after(async () => {
    await lab?.destroy();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('ping and fping 5.1, 4.2 and 3.10: the same rows, lines and exit code; each says which prober ran', async () => {
    const ping = await verify('ping', targets);
    assert.equal(ping.prober, 'ping');
    assert.equal(ping.status, 1, ping.text);
    // what the rows say, with ping
    const byTarget = new Map(ping.rows.map((r) => [r.target, r]));
    assert.deepEqual(
      [byTarget.get(h22.pod.ip)!.ok, byTarget.get(h22.bridgeIp)!.ok, byTarget.get(lab.outside.ip)!.ok],
      [true, true, true],
    );
    assert.equal(byTarget.get(h22.pod.ip)!.ttl, 63);
    assert.match(byTarget.get(targets[2]!)!.reason, /^no reply \(100% loss\)$/);
    assert.equal(byTarget.get('172.7.99.1')!.reason, 'no lease for it; Destination Net Unreachable (from 10.4.0.1)');
    for (const fping of ['fping-5.1', 'fping-4.2', 'fping-3.10']) {
      const f = await verify(fping, targets);
      assert.equal(f.prober, 'fping', fping);
      assert.deepEqual(same(f.rows), same(ping.rows), fping);
      assert.equal(f.status, ping.status, fping);
      assert.equal(f.textStatus, ping.textStatus, fping);
      assert.equal(maskedText(f.text), maskedText(ping.text), fping);
      // fping reports no TTL; the RTT is measured
      assert.ok(f.rows.every((r) => r.ttl === null));
      assert.ok(f.rows.filter((r) => r.loss === 0).every((r) => typeof r.rttMs === 'number'));
    }
  });

  test('two probes per target, and from the pod (--from-netns): still the same rows', async () => {
    for (const extra of [
      ['--count', '2'],
      ['--from-netns', h21.pod.netns],
    ]) {
      const ping = await verify('ping', targets, extra);
      const f = await verify('fping-5.1', targets, extra);
      assert.deepEqual(same(f.rows), same(ping.rows), extra.join(' '));
      assert.equal(f.status, ping.status);
    }
  });

  test('--prober ping with fping installed uses ping (and gives the TTL); --prober fping without it fails, saying how to install it', async () => {
    const p = await verify('fping-5.1', [h22.pod.ip], ['--prober', 'ping']);
    assert.deepEqual([p.prober, p.rows[0]!.ttl, p.status], ['ping', 63, 0]);
    const r = await lab.exec(
      h21.netns,
      ['node', DIST, ...nodeArgs(cluster, h21), '--targets', h22.pod.ip, '--prober', 'fping'],
      { env: { ...process.env, PATH: paths.get('ping')! }, okStatus: [3] },
    );
    assert.match(r.stderr, /fping not found in PATH: install it \(Debian: apt-get install fping/);
  });
});
