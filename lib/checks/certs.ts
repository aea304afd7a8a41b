// The etcd client certificates (only when etcd is spoken over TLS): client.pem chains to
// ca.pem and matches client-key.pem, may be used for client auth, has more than 30 days left,
// and the key is readable by root only. Every finding of model/certs.ts lands in exactly one
// of the three checks (a table, not a guess by name).

import { checkCertSet, type CertFindingId, type Finding } from '../model/certs.ts';
import type { CheckContext } from './context.ts';
import { checkKey, drift, ok, type Check, type CheckArea } from './types.ts';

export interface CertsDetail {
  readonly findings: readonly Pick<Finding, 'id' | 'level' | 'message'>[];
  readonly missing?: readonly string[];
}

export const CERTS_CHAIN = checkKey<CertsDetail>('certs.chain');
export const CERTS_EXPIRY = checkKey<CertsDetail>('certs.expiry');
export const CERTS_KEY_MODE = checkKey<CertsDetail>('certs.key-mode');
const IDS = [CERTS_CHAIN.id, CERTS_EXPIRY.id, CERTS_KEY_MODE.id];

/** Which drift check reports each certificate finding (exhaustive: a new finding id must be placed). */
export const CERT_CHECK_OF: Readonly<Record<CertFindingId, string>> = {
  'ca-readable': CERTS_CHAIN.id,
  'cert-readable': CERTS_CHAIN.id,
  'key-readable': CERTS_CHAIN.id,
  'ca-is-ca': CERTS_CHAIN.id,
  'cert-signed-by-ca': CERTS_CHAIN.id,
  'key-matches-cert': CERTS_CHAIN.id,
  'cert-client-auth': CERTS_CHAIN.id,
  'ca-validity': CERTS_EXPIRY.id,
  'cert-validity': CERTS_EXPIRY.id,
  'key-mode': CERTS_KEY_MODE.id,
};

const OK_LINE: Record<string, string> = {
  [CERTS_CHAIN.id]: 'client.pem chains to ca.pem, client-key.pem is its key',
  [CERTS_EXPIRY.id]: 'valid',
  [CERTS_KEY_MODE.id]: 'client-key.pem readable by root only',
};

function run(ctx: CheckContext): Check[] {
  const e = ctx.expect;
  const f = ctx.obs.files;
  if (e.flanneld.cafile === undefined) return IDS.map((id) => ok(id, 'plain http etcd: no certificates in use'));
  if (!f.ca || !f.cert || !f.key) {
    const missing = [!f.ca && 'ca.pem', !f.cert && 'client.pem', !f.key && 'client-key.pem'].filter(
      (x): x is string => typeof x === 'string',
    );
    return [
      drift<CertsDetail>(CERTS_CHAIN.id, `missing: ${missing.join(', ')} (scripts/certs.ts copies all three)`, {
        detail: { findings: [], missing },
      }),
    ];
  }
  const findings = checkCertSet({
    caPem: f.ca,
    certPem: f.cert,
    keyPem: f.key,
    now: ctx.obs.at,
    warnDays: e.certWarnDays,
    ...(f.keyMode !== undefined && { keyMode: f.keyMode }),
  });
  return IDS.map((id) => {
    const mine = findings.filter((x) => CERT_CHECK_OF[x.id] === id);
    const bad = mine.filter((x) => !x.ok);
    const detail = { findings: mine.map(({ id: fid, level, message }) => ({ id: fid, level, message })) };
    if (bad.length) return drift<CertsDetail>(id, bad.map((x) => x.message).join('; '), { detail });
    const days = id === CERTS_EXPIRY.id ? mine.find((x) => x.id === 'cert-validity')?.message : undefined;
    return ok<CertsDetail>(id, days ?? OK_LINE[id]!, detail);
  });
}

export const certsChecks: CheckArea = { name: 'certs', ids: IDS, fixStage: 3, run };
