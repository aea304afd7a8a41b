// The etcd client's TLS material, read at start-up as etcd's pkg/transport does: unreadable
// files fail with Go's texts ("Failed to create SubnetManager: open ..."), tls.X509KeyPair's PEM
// checks, the key pair checked by OpenSSL now rather than at the first request.
import type { ClientRequest } from 'node:http';
import { capnslogLine } from './glog.ts';
import { GoError, goFsError } from './go-errors.ts';
import type { TlsMaterial } from './etcd-http.ts';
import type { FlagSet } from './go-flags.ts';
import { fs, https } from './node-builtins.ts';
import { V020 } from './version.ts';

/** etcd's pkg/transport TLS set-up, with Go's texts for unreadable or bad files. */
export function loadEtcdTLS(opts: FlagSet): TlsMaterial {
  const keyfile = opts.get('etcd-keyfile');
  const certfile = opts.get('etcd-certfile');
  const cafile = opts.get('etcd-cafile');
  const tls: TlsMaterial = {};
  if (keyfile || certfile) {
    if (!keyfile || !certfile)
      throw new GoError(`KeyFile and CertFile must both be present[key: ${keyfile}, cert: ${certfile}]`);
    const read = (p: string): Buffer => {
      try {
        return fs.readFileSync(p);
      } catch (e) {
        throw new GoError(goFsError(e, 'open', p));
      }
    };
    const cert = read(certfile);
    const key = read(keyfile);
    checkKeyPair(cert.toString('latin1'), key.toString('latin1'));
    tls.cert = cert;
    tls.key = key;
    probeTLSMaterial(tls);
  }
  if (cafile) {
    try {
      tls.ca = fs.readFileSync(cafile);
    } catch (e) {
      throw new GoError(goFsError(e, 'open', cafile));
    }
    // (etcd v2's pkg/transport says this; v0.20.2's v3 client does not)
    if (!V020)
      capnslogLine('warning: ignoring ServerName for user-provided CA for backwards compatibility is deprecated');
  }
  return tls;
}

/** tls.X509KeyPair's PEM checks. */
function checkKeyPair(certPem: string, keyPem: string): void {
  const blocks = (s: string): string[] => [...s.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]!);
  const cb = blocks(certPem);
  if (cb.length === 0) throw new GoError('tls: failed to find any PEM data in certificate input');
  if (!cb.includes('CERTIFICATE')) {
    if (cb.some((b) => b.endsWith('PRIVATE KEY')))
      throw new GoError(
        'tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched',
      );
    throw new GoError(
      `tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping PEM blocks of the following types: [${cb.join(' ')}]`,
    );
  }
  const kb = blocks(keyPem);
  if (kb.length === 0) throw new GoError('tls: failed to find any PEM data in key input');
  if (!kb.some((b) => b === 'PRIVATE KEY' || b.endsWith(' PRIVATE KEY'))) {
    if (kb.includes('CERTIFICATE'))
      throw new GoError('tls: found a certificate rather than a key in the PEM for the private key');
    throw new GoError(
      `tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after skipping PEM blocks of the following types: [${kb.join(' ')}]`,
    );
  }
}

/** Builds (never connects) a TLS request so that OpenSSL checks the key pair now, as Go does. */
function probeTLSMaterial(tls: TlsMaterial): void {
  let req: ClientRequest;
  try {
    req = https.request({
      hostname: 'tls-probe.invalid',
      port: 1,
      cert: tls.cert,
      key: tls.key,
      agent: false,
      lookup: () => {},
    });
  } catch (e) {
    if (e && (e as NodeJS.ErrnoException).code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH')
      throw new GoError('tls: private key does not match public key');
    throw new GoError(`tls: failed to parse private key`);
  }
  req.on('error', () => {});
  req.destroy();
}
