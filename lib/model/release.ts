// A flannel release: its tag, its tarball (where it is downloaded from, what it must hold),
// and the files a node adds to its release directory. The install step is steps/install.ts.

import { invalid } from '../core/errors.ts';

export const DEFAULT_RELEASE_URL =
  'https://github.com/coreos/flannel/releases/download/{version}/flannel-{version}-linux-amd64.tar.gz';

/** Files a node adds to its release directory; an upgrade carries them to the new one. */
export const NODE_FILES = [
  'subnet.env',
  'flanneld.sh',
  'cert/ca.pem',
  'cert/client.pem',
  'cert/client-key.pem',
] as const;

export function parseVersion(text: string, field = '--version'): string {
  if (!/^v\d+\.\d+\.\d+$/.test(text ?? ''))
    throw invalid(field, text, 'must be a flannel release tag vMAJOR.MINOR.PATCH', 'v0.11.0');
  return text;
}

export function parseSha256(text: string, field = '--sha256'): string {
  const hex = (text ?? '').trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw invalid(
      field,
      text,
      'must be 64 hex digits (sha256sum of the tarball)',
      'the output of `sha256sum flannel-v0.11.0-linux-amd64.tar.gz` on a trusted copy',
    );
  return hex;
}

export function releaseUrl(version: string, template = DEFAULT_RELEASE_URL): string {
  return template.replaceAll('{version}', version);
}

/**
 * Check a release tarball's entry list (`tar -tzf`): flat, with an executable-to-be
 * `flanneld`, nothing absolute or climbing out with `..`.
 */
export function checkTarballEntries(listing: string, field: string): void {
  const entries = listing
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const bad = entries.find((e) => e.startsWith('/') || e.split('/').includes('..'));
  if (bad) throw invalid(field, bad, 'a release tarball entry must stay inside the release directory', 'flanneld');
  if (!entries.some((e) => e.replace(/^\.\//, '') === 'flanneld')) {
    throw invalid(
      field,
      entries.slice(0, 4).join(' '),
      'holds no flanneld at its top level: not a flannel release tarball',
      'flannel-v0.11.0-linux-amd64.tar.gz (flanneld, mk-docker-opts.sh, README.md)',
    );
  }
}
