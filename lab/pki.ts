// The lab's certificates, made with openssl as the runbook's cert host (hdss7-200) made them
// with cfssl: one CA; per etcd member a certificate for serving and for peering (IP SANs for
// the member address and 127.0.0.1, EKU serverAuth+clientAuth); one client certificate
// (EKU clientAuth) that flanneld and the toolkit present. And the lab's ssh keys: a host key
// for the cert host's sshd and the client identity that logs in as root with it.

import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { run } from './proc.ts';

export interface Pki {
  readonly dir: string;
  readonly ca: string;
  readonly caKey: string;
  /** the client certificate flanneld and the toolkit use (EKU clientAuth) */
  readonly client: string;
  readonly clientKey: string;
  /** per etcd member (by host name): serving and peer certificate */
  readonly members: Readonly<Record<string, { readonly cert: string; readonly key: string }>>;
}

export interface SshKeys {
  /** the cert host's sshd host key (private) */
  readonly hostKey: string;
  readonly hostPub: string;
  /** the lab's client identity (private key, 0600) */
  readonly identity: string;
  readonly identityPub: string;
}

const DAYS = '3650';

function caConf(): string {
  return `${[
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    'x509_extensions = v3',
    '[dn]',
    'O = flannel-runbook lab',
    'CN = flannel-runbook lab CA',
    '[v3]',
    'basicConstraints = critical,CA:TRUE',
    'keyUsage = critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid:always',
  ].join('\n')}\n`;
}

function leafExt(eku: string, sans: readonly string[]): string {
  return `${[
    '[v3]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage = ${eku}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid,issuer',
    ...(sans.length ? [`subjectAltName = ${sans.map((s) => `IP:${s}`).join(',')}`] : []),
  ].join('\n')}\n`;
}

async function leaf(dir: string, base: string, cn: string, eku: string, sans: readonly string[], signal?: AbortSignal) {
  const key = join(dir, `${base}-key.pem`);
  const csr = join(dir, `${base}.csr`);
  const cert = join(dir, `${base}.pem`);
  const ext = join(dir, `${base}.ext`);
  await writeFile(ext, leafExt(eku, sans));
  await run(
    [
      'openssl',
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/O=flannel-runbook lab/CN=${cn}`,
    ],
    { signal },
  );
  await chmod(key, 0o600);
  await run(
    [
      'openssl',
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      join(dir, 'ca.pem'),
      '-CAkey',
      join(dir, 'ca-key.pem'),
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      DAYS,
      '-sha256',
      '-extfile',
      ext,
      '-extensions',
      'v3',
      '-out',
      cert,
    ],
    { signal },
  );
  return { cert, key };
}

/** Makes the CA, the members' certificates and the client certificate in `dir`. */
export async function makePki(
  dir: string,
  members: readonly { name: string; ip: string; etcdName: string }[],
  signal?: AbortSignal,
): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const conf = join(dir, 'ca.cnf');
  await writeFile(conf, caConf());
  await run(
    [
      'openssl',
      'req',
      '-x509',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      DAYS,
      '-config',
      conf,
      '-keyout',
      join(dir, 'ca-key.pem'),
      '-out',
      join(dir, 'ca.pem'),
    ],
    { signal },
  );
  await chmod(join(dir, 'ca-key.pem'), 0o600);
  const [client, ...certs] = await Promise.all([
    leaf(dir, 'client', 'k8s-node', 'clientAuth', [], signal),
    ...members.map((m) =>
      leaf(dir, `etcd-peer-${m.name}`, m.etcdName, 'serverAuth,clientAuth', [m.ip, '127.0.0.1'], signal),
    ),
  ]);
  const byName: Record<string, { cert: string; key: string }> = {};
  members.forEach((m, i) => {
    byName[m.name] = certs[i]!;
  });
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    client: client!.cert,
    clientKey: client!.key,
    members: byName,
  };
}

/** The cert host's ed25519 host key and the lab's ed25519 client identity. */
export async function makeSshKeys(dir: string, comment: string, signal?: AbortSignal): Promise<SshKeys> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const identity = join(dir, 'id_ed25519');
  await Promise.all([
    run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `${comment} host key`, '-f', hostKey], { signal }),
    run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `${comment} root`, '-f', identity], { signal }),
  ]);
  await Promise.all([chmod(hostKey, 0o600), chmod(identity, 0o600)]);
  return {
    hostKey,
    hostPub: (await readFile(`${hostKey}.pub`, 'utf8')).trim(),
    identity,
    identityPub: (await readFile(`${identity}.pub`, 'utf8')).trim(),
  };
}
