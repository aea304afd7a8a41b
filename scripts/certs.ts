#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// certs: runbook step 2, on every node. Copies ca.pem, client.pem AND client-key.pem (the
// runbook forgets the key) with scp (host key checked, BatchMode) or from a local directory
// into a private staging dir; checks the set (client cert chains to the CA, key matches,
// valid now, clientAuth); installs it under /opt/flannel/cert with the key 0600.
// A set that fails the checks is refused and the installed files stay.
// Idempotent: the same set installed with the right modes -> nothing to do.
// Exit: 0 done / nothing to do, 2 bad input or a refused set (nothing changed), 3 a command failed.

import { rooted } from '../lib/core/paths.ts';
import { commonFlags, defineFlags, etcdFlags } from '../lib/cli/flags.ts';
import { note, printPlanned, report } from '../lib/cli/output.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/cli/script.ts';
import { applyPlan } from '../lib/host/apply.ts';
import { MAX_PEM_BYTES } from '../lib/host/etcd.ts';
import type { Host } from '../lib/host/host.ts';
import {
  certCheckCommands,
  certsDoneCommand,
  fetchCommand,
  fetchFailure,
  planCertsInstall,
  readStagedSet,
  resolveSource,
  STAGING_DIR_LINE,
  STAGING_VAR,
  withStaging,
} from '../lib/steps/certs.ts';
import { tmpdir } from 'node:os';

export const flags = defineFlags({
  ...commonFlags,
  cafile: etcdFlags.cafile,
  certfile: etcdFlags.certfile,
  keyfile: etcdFlags.keyfile,
  from: {
    type: 'string',
    placeholder: 'SRC',
    help: 'where the set is: USER@HOST:/opt/certs (scp) or a local directory',
    example: 'root@hdss7-200:/opt/certs',
  },
  identity: { type: 'string', placeholder: 'FILE', help: 'ssh private key for scp (-i)' },
  'known-hosts': {
    type: 'string',
    placeholder: 'FILE',
    help: "ssh known_hosts to check the cert host's key against (host keys are always checked)",
  },
});

const info = {
  name: 'certs',
  summary:
    'Runbook step 2: copy ca.pem, client.pem and client-key.pem, check the set, install it with the key readable by root only.',
  example: 'scripts/certs.ts --from root@hdss7-200:/opt/certs --identity ~/.ssh/id_ed25519',
  perNode: false,
};

export async function main(argv: string[], base: Host): Promise<number> {
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f, host, recording } = loaded;
  const v = f.values;
  const from = v.from ?? '';
  const src = await resolveSource(host, s.root, v.from, { identity: v.identity, knownHosts: v['known-hosts'] });
  const dest = {
    'ca.pem': rooted(s.root, s.etcd.cafile),
    'client.pem': rooted(s.root, s.etcd.certfile),
    'client-key.pem': rooted(s.root, s.etcd.keyfile),
  };

  const staging = await host.makeTempDir(tmpdir(), 'flannel-certs-');
  try {
    const sshOpts = {
      ...(v.identity && { identity: v.identity }),
      ...(v['known-hosts'] && { knownHosts: v['known-hosts'] }),
    };
    const fetch = fetchCommand(src, staging.path, sshOpts);
    const fetched = await host.run(fetch);
    if (fetched.status !== 0) throw fetchFailure(from, src, fetched.stderr, sshOpts);
    const { set, findings } = await readStagedSet(host, staging.path, from);
    for (const w of findings.filter((x) => x.level === 'warn')) note(`certs: warning: ${w.message}`);

    const installed = async (to: string) => {
      const st = await host.stat(to);
      return { to, ...(st && { pem: await host.readFile(to, { maxBytes: MAX_PEM_BYTES }), mode: st.mode & 0o777 }) };
    };
    const actions = planCertsInstall(staging.path, set, {
      'ca.pem': await installed(dest['ca.pem']),
      'client.pem': await installed(dest['client.pem']),
      'client-key.pem': await installed(dest['client-key.pem']),
    });
    const summary = findings.filter((x) => x.level === 'ok').map((x) => x.message);
    if (actions.length === 0) {
      report(s, { changed: false, files: Object.values(dest), checks: findings }, [
        `certs: nothing to do (${Object.values(dest).join(', ')} already hold this set)`,
      ]);
      return 0;
    }
    if (recording) {
      // the pasted script fetches into its own mktemp -d dir and checks the set as certs does
      await recording.run({
        argv: [],
        why: 'a private staging dir for the set (mktemp -d: unpredictable, 0700)',
        printAs: STAGING_DIR_LINE,
      });
      await recording.run({ ...fetch, readOnly: false });
      for (const check of certCheckCommands(STAGING_VAR)) await recording.run(check);
      await recording.run(certsDoneCommand(STAGING_VAR, dest));
      await applyPlan(actions, host);
      await recording.run({ argv: ['rm', '-rf', STAGING_VAR], why: 'the staging copy is no longer needed' });
      if (!s.quiet) for (const line of summary) note(`# checked: ${line}`);
      return printPlanned(s, withStaging(recording, staging.path), base);
    }
    await applyPlan(actions, host);
    report(s, { changed: true, files: Object.values(dest), checks: findings }, [
      ...actions.map((a) => (a.kind === 'copy' ? `${a.why}: ${a.to}` : '')),
      ...summary.map((l) => `checked: ${l}`),
    ]);
    return 0;
  } finally {
    await staging.remove();
  }
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main);
