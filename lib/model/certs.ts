// The runbook's step 2 copies ca.pem, client.pem (and, it forgets, client-key.pem) and checks
// nothing. checkCertSet() checks what flanneld's TLS handshake with etcd will need, offline:
// the client certificate chains to the CA, the key is the certificate's, the certificate is
// valid now (and for how long), it may be used for client auth, and the key is private.
// node's X509Certificate checks neither chains nor dates by itself (ECOSYSTEM-NOTES), so
// each is done here explicitly. Messages name the file and never quote key material.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';

export type Level = 'ok' | 'warn' | 'error';

/** Every finding id checkCertSet() gives; drift groups them into its three cert checks. */
export const CERT_FINDING_IDS = [
  'ca-readable',
  'cert-readable',
  'key-readable',
  'ca-is-ca',
  'ca-validity',
  'cert-signed-by-ca',
  'key-matches-cert',
  'cert-validity',
  'cert-client-auth',
  'key-mode',
] as const;
export type CertFindingId = (typeof CERT_FINDING_IDS)[number];

export interface Finding {
  /** stable id, e.g. cert-signed-by-ca */
  readonly id: CertFindingId;
  readonly ok: boolean;
  readonly level: Level;
  readonly message: string;
}

export interface CertSetInput {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** st_mode of the key file (only the permission bits are read); omitted: not checked */
  readonly keyMode?: number;
  readonly now: Date;
  /** file names used in messages; default the runbook's ca.pem, client.pem, client-key.pem */
  readonly files?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  /** warn when fewer days are left; default 30 */
  readonly warnDays?: number;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';
const DAY = 86_400_000;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const PEM_ANY_KEY = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

function ok(id: CertFindingId, message: string): Finding {
  return { id, ok: true, level: 'ok', message };
}
function warn(id: CertFindingId, message: string): Finding {
  return { id, ok: false, level: 'warn', message };
}
function error(id: CertFindingId, message: string): Finding {
  return { id, ok: false, level: 'error', message };
}

/** Every certificate of a PEM bundle (X509Certificate alone reads only the first). */
function certificates(pem: string): X509Certificate[] {
  return [...pem.matchAll(new RegExp(PEM_CERT.source, 'g'))].map((m) => new X509Certificate(m[0]));
}

/** Why a PEM cannot be read as certificates: said without quoting it. */
function readCerts(id: CertFindingId, file: string, pem: string, out: Finding[]): X509Certificate[] | undefined {
  if (PEM_ANY_KEY.test(pem) && !PEM_CERT.test(pem)) {
    out.push(error(id, `${file}: holds a private key, not a certificate (files swapped?)`));
    return undefined;
  }
  let certs: X509Certificate[];
  try {
    certs = certificates(pem);
  } catch {
    out.push(error(id, `${file}: a CERTIFICATE block is not a valid X.509 certificate`));
    return undefined;
  }
  if (certs.length === 0) {
    out.push(error(id, `${file}: no PEM certificate (-----BEGIN CERTIFICATE-----) found`));
    return undefined;
  }
  return certs;
}

function readKey(file: string, pem: string, out: Finding[]): KeyObject | undefined {
  const id = 'key-readable';
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    out.push(
      error(
        id,
        `${file}: the key is passphrase-protected; flanneld cannot read it (decrypt it: openssl pkey -in ${file} -out ${file})`,
      ),
    );
    return undefined;
  }
  if (!PEM_ANY_KEY.test(pem)) {
    const what = /-----BEGIN CERTIFICATE-----/.test(pem)
      ? 'holds a certificate, not a private key (files swapped?)'
      : 'no PEM private key (-----BEGIN PRIVATE KEY-----) found';
    out.push(error(id, `${file}: ${what}`));
    return undefined;
  }
  try {
    const key = createPrivateKey({ key: pem, format: 'pem' });
    out.push(ok(id, `${file}: a private key (${key.asymmetricKeyType ?? 'unknown type'})`));
    return key;
  } catch {
    // the error text of the decoder is not shown: it is of no use and could echo input
    out.push(error(id, `${file}: the PRIVATE KEY block cannot be decoded`));
    return undefined;
  }
}

function dateOf(text: string): Date {
  return new Date(text);
}

/** `CN=x` of a distinguished name as node prints it (one RDN a line), else the whole name. */
function cnOf(dn: string): string {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(dn);
  return cn ? `"${cn[1]}"` : `"${dn.replace(/\n/g, ', ')}"`;
}

function subjectCN(c: X509Certificate): string {
  return cnOf(c.subject);
}

/** How the client (or CA) certificate stands on `now`. */
function validity(id: CertFindingId, file: string, c: X509Certificate, now: Date, warnDays: number): Finding[] {
  const from = dateOf(c.validFrom);
  const to = dateOf(c.validTo);
  if (now < from) {
    return [
      error(id, `${file}: not valid before ${from.toISOString()} (now ${now.toISOString()}); check this host's clock`),
    ];
  }
  if (now > to) {
    return [error(id, `${file}: expired on ${to.toISOString()}; issue a new certificate`)];
  }
  const days = Math.floor((to.getTime() - now.getTime()) / DAY);
  if (days < warnDays) return [warn(id, `${file}: expires in ${days} day(s), on ${to.toISOString()}; renew it`)];
  return [ok(id, `${file}: valid until ${to.toISOString()} (${days} days left)`)];
}

/**
 * The checks, in the order an operator would fix them. Each finding names the file at fault.
 * A check that cannot run (its input could not be read) is left out rather than reported twice.
 */
export function checkCertSet(input: CertSetInput): Finding[] {
  const caFile = input.files?.ca ?? 'ca.pem';
  const certFile = input.files?.cert ?? 'client.pem';
  const keyFile = input.files?.key ?? 'client-key.pem';
  const warnDays = input.warnDays ?? 30;
  const out: Finding[] = [];

  const cas = readCerts('ca-readable', caFile, input.caPem, out);
  if (cas) out.push(ok('ca-readable', `${caFile}: ${cas.length} certificate(s), first ${subjectCN(cas[0]!)}`));
  const certs = readCerts('cert-readable', certFile, input.certPem, out);
  const cert = certs?.[0];
  if (cert) out.push(ok('cert-readable', `${certFile}: ${subjectCN(cert)}, issued by ${cnOf(cert.issuer)}`));
  const key = readKey(keyFile, input.keyPem, out);

  // signature AND names: verify() alone would accept a certificate re-signed with the same
  // key under another CA name, checkIssued() alone proves nothing about the signature
  const issuer = cas && cert ? cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey)) : undefined;

  if (cas) {
    // judged on the CA that signed the client certificate when there is one: other CAs of a
    // bundle do not take part in this handshake
    const judged = issuer ? [issuer] : cas;
    if (judged.every((c) => !c.ca)) {
      out.push(
        error(
          'ca-is-ca',
          `${caFile}: ${subjectCN(judged[0]!)} is not a CA certificate (basicConstraints CA:TRUE missing); is it the client certificate?`,
        ),
      );
    } else {
      out.push(ok('ca-is-ca', `${caFile}: holds a CA certificate`));
    }
    const invalidNow = judged.filter((c) => input.now > dateOf(c.validTo) || input.now < dateOf(c.validFrom));
    if (invalidNow.length > 0) {
      const c = invalidNow[0]!;
      out.push(
        error(
          'ca-validity',
          `${caFile}: ${subjectCN(c)} is not valid now (valid ${dateOf(c.validFrom).toISOString()} to ${dateOf(c.validTo).toISOString()})`,
        ),
      );
    } else {
      out.push(ok('ca-validity', `${caFile}: valid now`));
    }
  }

  if (cas && cert) {
    if (issuer) {
      out.push(ok('cert-signed-by-ca', `${certFile}: signed by ${subjectCN(issuer)} in ${caFile}`));
    } else {
      // same issuer name but another key: a CA re-created under the old name (checkIssued
      // also compares the key identifiers, so compare the names alone here)
      const named = cas.some((ca) => ca.subject === cert.issuer);
      out.push(
        error(
          'cert-signed-by-ca',
          named
            ? `${certFile}: names ${cnOf(cert.issuer)} as issuer but was not signed by the key of that CA in ${caFile} (a CA re-created under the same name?)`
            : `${certFile}: issued by ${cnOf(cert.issuer)}, not by the CA in ${caFile}; etcd will refuse it (tls: bad certificate)`,
        ),
      );
    }
  }

  if (cert && key) {
    if (safely(() => cert.checkPrivateKey(key)))
      out.push(ok('key-matches-cert', `${keyFile}: is the key of ${certFile}`));
    else
      out.push(
        error('key-matches-cert', `${keyFile}: is not the key of ${certFile} (copied from another certificate?)`),
      );
  }

  if (cert) {
    out.push(...validity('cert-validity', certFile, cert, input.now, warnDays));
    // keyUsage is node's name for the extended key usage OIDs; undefined when absent
    const eku = cert.keyUsage as string[] | undefined;
    if (!eku || eku.length === 0) {
      out.push(ok('cert-client-auth', `${certFile}: no extended key usage, so any use is allowed`));
    } else if (eku.includes(CLIENT_AUTH) || eku.includes(ANY_EKU)) {
      out.push(ok('cert-client-auth', `${certFile}: extended key usage allows clientAuth`));
    } else {
      out.push(
        error(
          'cert-client-auth',
          `${certFile}: extended key usage does not allow clientAuth (it lists ${eku.map(ekuName).join(', ')}); etcd refuses it as a client certificate`,
        ),
      );
    }
  }

  if (input.keyMode !== undefined) {
    const perm = input.keyMode & 0o777;
    const shown = perm.toString(8).padStart(4, '0');
    if ((perm & 0o077) !== 0) {
      out.push(error('key-mode', `${keyFile}: mode ${shown} lets other users read the key; chmod 0600 ${keyFile}`));
    } else {
      out.push(ok('key-mode', `${keyFile}: mode ${shown}`));
    }
  }
  return out;
}

/** false instead of a throw (an RSA key against an EC certificate, say). */
function safely(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}

function ekuName(oid: string): string {
  const names: Record<string, string> = {
    '1.3.6.1.5.5.7.3.1': 'serverAuth',
    '1.3.6.1.5.5.7.3.2': 'clientAuth',
    '1.3.6.1.5.5.7.3.3': 'codeSigning',
    '1.3.6.1.5.5.7.3.4': 'emailProtection',
    '1.3.6.1.5.5.7.3.8': 'timeStamping',
    '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  };
  return names[oid] ?? oid;
}

/** True when no finding is an error (warnings pass). */
export function certSetOk(findings: readonly Finding[]): boolean {
  return findings.every((f) => f.level !== 'error');
}
