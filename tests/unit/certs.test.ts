import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CERT_FINDING_IDS, certSetOk, checkCertSet, type CertSetInput, type Finding } from '../../lib/model/certs.ts';
import { CERT_CHECK_OF, certsChecks } from '../../lib/checks/certs.ts';
import { deriveContext } from '../../lib/checks/context.ts';
import type { NodeObservation } from '../../lib/host/observe.ts';
import { hdss721, runbookFlanneld } from '../support/expectation.ts';

// Real certificates, made by the system openssl into a temp dir. Dates are tested by moving
// `now`, not by backdating: a 1-day certificate is expired two days from now.
let dir = '';
const pem: Record<string, string> = {};
const DAY = 86_400_000;
// set after the certificates are made: notBefore is their creation second
let start = new Date();

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** An EC key (fast) unless `rsa`, in the traditional "BEGIN RSA PRIVATE KEY" form. */
function key(name: string, rsa = false): void {
  if (rsa) openssl('genrsa', '-traditional', '-out', `${name}.key`, '2048');
  else openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
}

function ca(name: string, cn: string): void {
  key(name);
  openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '3650',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
}

/** A leaf signed by `issuer`; `ext` lines go to the extension file (empty: no extensions). */
function leaf(name: string, issuer: string, opts: { days?: number; ext?: string[]; rsa?: boolean } = {}): void {
  key(name, opts.rsa);
  openssl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  const ext = opts.ext ?? ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature'];
  const args = [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${issuer}.pem`,
    '-CAkey',
    `${issuer}.key`,
    '-CAcreateserial',
    '-days',
    String(opts.days ?? 365),
    '-out',
    `${name}.pem`,
  ];
  if (ext.length) {
    writeFileSync(join(dir, `${name}.ext`), `${ext.join('\n')}\n`);
    args.push('-extfile', `${name}.ext`);
  }
  openssl(...args);
}

const read = (f: string) => readFileSync(join(dir, f), 'utf8');

function check(over: Partial<CertSetInput> = {}): Finding[] {
  return checkCertSet({
    caPem: pem.ca!,
    certPem: pem.client!,
    keyPem: pem.clientKey!,
    keyMode: 0o100600,
    now: start,
    ...over,
  });
}

function finding(findings: Finding[], id: string): Finding {
  const f = findings.find((x) => x.id === id);
  assert.ok(f, `no finding ${id} in ${JSON.stringify(findings)}`);
  return f;
}

describe('certs', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'frcerts-'));
    ca('ca', 'flannel-test-ca');
    ca('other-ca', 'other-ca');
    ca('twin-ca', 'flannel-test-ca'); // same name as ca, another key
    leaf('client', 'ca');
    leaf('short', 'ca', { days: 1 });
    leaf('month', 'ca', { days: 20 });
    leaf('foreign', 'other-ca');
    leaf('twin', 'twin-ca');
    leaf('server', 'ca', { ext: ['extendedKeyUsage=serverAuth'] });
    leaf('noeku', 'ca', { ext: [] });
    leaf('rsa', 'ca', { rsa: true });
    key('stray');
    openssl('pkey', '-in', 'client.key', '-aes256', '-passout', 'pass:secret', '-out', 'client-enc.key');
    for (const n of ['ca', 'other-ca', 'client', 'short', 'month', 'foreign', 'twin', 'server', 'noeku', 'rsa']) {
      pem[n] = read(`${n}.pem`);
      pem[`${n}.key`] = read(`${n}.key`);
    }
    pem.clientKey = read('client.key');
    pem.rsaKey = read('rsa.key');
    pem.strayKey = read('stray.key');
    pem.encKey = read('client-enc.key');
    start = new Date();
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('passes a good set, every check ok', () => {
    const findings = check();
    assert.deepEqual(
      findings.map((f) => [f.id, f.level]),
      [
        ['ca-readable', 'ok'],
        ['cert-readable', 'ok'],
        ['key-readable', 'ok'],
        ['ca-is-ca', 'ok'],
        ['ca-validity', 'ok'],
        ['cert-signed-by-ca', 'ok'],
        ['key-matches-cert', 'ok'],
        ['cert-validity', 'ok'],
        ['cert-client-auth', 'ok'],
        ['key-mode', 'ok'],
      ],
    );
    assert.ok(certSetOk(findings));
    assert.match(finding(findings, 'cert-validity').message, /^client\.pem: valid until .* \((364|365) days left\)$/);
    const bundle = check({ caPem: pem['other-ca']! + pem.ca!, certPem: pem.rsa!, keyPem: pem.rsaKey! });
    assert.ok(certSetOk(bundle), JSON.stringify(bundle));
  });

  test('finds what is wrong and names the file at fault', () => {
    const cases: [string, Partial<CertSetInput>, string, 'warn' | 'error', RegExp][] = [
      [
        'another CA',
        { certPem: pem.foreign!, keyPem: pem['foreign.key']! },
        'cert-signed-by-ca',
        'error',
        /^client\.pem: issued by "other-ca", not by the CA in ca\.pem/,
      ],
      [
        'a CA of the same name',
        { certPem: pem.twin!, keyPem: pem['twin.key']! },
        'cert-signed-by-ca',
        'error',
        /^client\.pem: names "flannel-test-ca" as issuer but was not signed by the key of that CA in ca\.pem/,
      ],
      [
        'a key of another cert',
        { keyPem: pem.strayKey! },
        'key-matches-cert',
        'error',
        /^client-key\.pem: is not the key of client\.pem/,
      ],
      [
        'an RSA key for an EC cert',
        { keyPem: pem.rsaKey! },
        'key-matches-cert',
        'error',
        /^client-key\.pem: is not the key of client\.pem/,
      ],
      [
        'an expired issuing CA in a bundle',
        { caPem: pem.ca! + pem['other-ca']!, now: new Date(start.getTime() + 4000 * DAY), certPem: pem.client! },
        'ca-validity',
        'error',
        /^ca\.pem: "flannel-test-ca" is not valid now/,
      ],
      [
        'expired',
        { certPem: pem.short!, keyPem: pem['short.key']!, now: new Date(start.getTime() + 2 * DAY) },
        'cert-validity',
        'error',
        /^client\.pem: expired on \d{4}-.*; issue a new certificate$/,
      ],
      [
        'not yet valid',
        { now: new Date(start.getTime() - 2 * DAY) },
        'cert-validity',
        'error',
        /^client\.pem: not valid before .*; check this host's clock$/,
      ],
      [
        'expiring tomorrow',
        { certPem: pem.short!, keyPem: pem['short.key']! },
        'cert-validity',
        'warn',
        /^client\.pem: expires in 0 day\(s\)/,
      ],
      [
        'expiring within 30 days',
        { certPem: pem.month!, keyPem: pem['month.key']! },
        'cert-validity',
        'warn',
        /^client\.pem: expires in (19|20) day\(s\)/,
      ],
      [
        'server-only EKU',
        { certPem: pem.server!, keyPem: pem['server.key']! },
        'cert-client-auth',
        'error',
        /^client\.pem: extended key usage does not allow clientAuth \(it lists serverAuth\)/,
      ],
      [
        'a group-readable key',
        { keyMode: 0o100640 },
        'key-mode',
        'error',
        /^client-key\.pem: mode 0640 lets other users read the key; chmod 0600 client-key\.pem$/,
      ],
      ['a world-readable key', { keyMode: 0o100644 }, 'key-mode', 'error', /mode 0644/],
      [
        'a passphrase on the key',
        { keyPem: pem.encKey! },
        'key-readable',
        'error',
        /^client-key\.pem: the key is passphrase-protected; flanneld cannot read it/,
      ],
      [
        'cert and key swapped',
        { certPem: pem.clientKey!, keyPem: pem.client! },
        'cert-readable',
        'error',
        /^client\.pem: holds a private key, not a certificate \(files swapped\?\)$/,
      ],
      [
        'cert and key swapped (key side)',
        { certPem: pem.clientKey!, keyPem: pem.client! },
        'key-readable',
        'error',
        /^client-key\.pem: holds a certificate, not a private key/,
      ],
      [
        'the client cert as CA',
        { caPem: pem.client! },
        'ca-is-ca',
        'error',
        /^ca\.pem: "client" is not a CA certificate/,
      ],
      [
        'an expired CA',
        { now: new Date(start.getTime() + 4000 * DAY) },
        'ca-validity',
        'error',
        /^ca\.pem: "flannel-test-ca" is not valid now/,
      ],
      ['no PEM at all', { caPem: 'hello\n' }, 'ca-readable', 'error', /^ca\.pem: no PEM certificate/],
      [
        'a broken PEM block',
        { certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' },
        'cert-readable',
        'error',
        /^client\.pem: a CERTIFICATE block is not a valid X\.509 certificate$/,
      ],
      [
        'a broken key block',
        { keyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' },
        'key-readable',
        'error',
        /^client-key\.pem: the PRIVATE KEY block cannot be decoded$/,
      ],
    ];
    for (const [what, over, id, level, re] of cases) {
      const findings = check(over);
      const f = finding(findings, id);
      assert.equal(f.level, level, what);
      assert.equal(f.ok, false, what);
      assert.match(f.message, re, what);
      assert.equal(certSetOk(findings), level !== 'error', what);
    }
  });

  test('accepts a certificate without extended key usage, and a 0400 key', () => {
    assert.equal(finding(check({ certPem: pem.noeku!, keyPem: pem['noeku.key']! }), 'cert-client-auth').level, 'ok');
    assert.equal(finding(check({ keyMode: 0o100400 }), 'key-mode').level, 'ok');
    assert.equal(
      check({ keyMode: undefined }).some((f) => f.id === 'key-mode'),
      false,
      'no mode, no check',
    );
  });

  test('names the files as given', () => {
    const f = finding(
      check({
        keyPem: pem.strayKey!,
        files: { key: '/opt/flannel/cert/client-key.pem', cert: '/opt/flannel/cert/client.pem' },
      }),
      'key-matches-cert',
    );
    assert.equal(
      f.message,
      '/opt/flannel/cert/client-key.pem: is not the key of /opt/flannel/cert/client.pem (copied from another certificate?)',
    );
  });

  test('never puts key material in a message', () => {
    const keys = [pem.clientKey!, pem.rsaKey!, pem.strayKey!, pem.encKey!];
    const secretLines = keys.flatMap((k) => k.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----')));
    const inputs: Partial<CertSetInput>[] = [
      {},
      { keyPem: pem.strayKey! },
      { keyPem: pem.encKey! },
      { certPem: pem.clientKey!, keyPem: pem.client! },
      {
        caPem: pem.rsaKey!,
        certPem: pem.strayKey!,
        keyPem: pem.rsaKey!.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'),
      },
    ];
    for (const over of inputs) {
      for (const f of check(over)) {
        assert.doesNotMatch(f.message, /-----|BEGIN /, f.message);
        for (const line of secretLines) assert.ok(!f.message.includes(line.slice(0, 16)), f.message);
      }
    }
  });
});

// drift's three certificate checks group checkCertSet's findings by a table, not by a guess on
// their ids: a client certificate without clientAuth (which certs refuses) was once ok to drift
describe("drift's certs checks", () => {
  const e = hdss721({ flanneld: { ...runbookFlanneld('https://10.4.7.12:2379'), cafile: './cert/ca.pem' } });
  const obs = (files: NodeObservation['files']): NodeObservation => ({
    at: new Date(),
    etcd: { ok: false, error: 'not asked' },
    routes: { ok: false, error: 'not asked' },
    iptablesSave: { ok: false, error: 'not asked' },
    ruleset: { ok: false, error: 'not asked' },
    ifaces: { ok: false, error: 'not asked' },
    supervisor: { ok: false, error: 'not asked' },
    healthz: { ok: false, error: 'not asked' },
    files,
    processes: 0,
  });
  const certChecks = (files: NodeObservation['files']) =>
    Object.fromEntries(certsChecks.run(deriveContext(e, obs(files))).map((c) => [c.id, c.status]));

  test('a client certificate whose extended key usage does not allow clientAuth is certs.chain drift', () => {
    assert.deepEqual(certChecks({ ca: pem.ca!, cert: pem.server!, key: pem['server.key']!, keyMode: 0o600 }), {
      'certs.chain': 'drift',
      'certs.expiry': 'ok',
      'certs.key-mode': 'ok',
    });
    assert.deepEqual(certChecks({ ca: pem.ca!, cert: pem.client!, key: pem['client.key']!, keyMode: 0o600 }), {
      'certs.chain': 'ok',
      'certs.expiry': 'ok',
      'certs.key-mode': 'ok',
    });
  });

  test('every finding checkCertSet can give has its check', () => {
    for (const id of CERT_FINDING_IDS) assert.ok(CERT_CHECK_OF[id], id);
  });
});
