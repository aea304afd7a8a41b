// A lease's life seen from the node: revoked (deleted or expired while flanneld ran: it logs
// `Lease has been revoked`, exits 0, and supervisord starts it again), replaced by a new random
// subnet (subnet.env gone and the lease lost: docker0 stays on the old one), and flanneld
// restarting in a loop because another process holds its healthz port (the runbook's wrapper
// without exec leaves the old flanneld running on a stop). The log is read across restarts and
// supervisord's rotated files.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import { deleteKeyCommand } from '../commands.ts';
import type { LogRun } from '../log.ts';
import { leaseLine, parseEnv, wrong } from './common.ts';
import { isRestarting } from '../../model/supervisor.ts';

/** How long ago a revocation still gets a note when everything is fine again. */
const REVOKED_NOTE_S = 3600;
/** supervisord starts an exited flanneld again within seconds (autorestart, backoff 1-3 s). */
const RESTART_WITHIN_S = 30;
/** Runs within this window count towards a restart loop. */
const LOOP_WINDOW_S = 600;

export const leaseLifeRules: DoctorRule = {
  name: 'lease-life',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { ctx, e, obs: o, probes: p, log, checks, derived, T } = s;
    const { etcd, mine, own } = derived;
    const sup = o.supervisor.ok ? o.supervisor.value : undefined;
    const ago = (t?: Date) =>
      t ? `${Math.max(0, Math.round((o.at.getTime() - t.getTime()) / 1000))} s ago` : 'earlier';
    const runs = log?.runs ?? [];
    const line = (r: LogRun) =>
      `${p.logFile}${p.rotated?.length ? ' (and its rotated files)' : ''}: ${r.end!.line.raw}`;
    // ---- revoked: the last run that ended so
    const revoked = [...runs].reverse().find((r) => r.end?.known.id === 'lease-revoked');
    const revokedIdx = revoked ? runs.lastIndexOf(revoked) : -1;
    if (revoked) {
      const at = revoked.end!.at;
      const restarted = revokedIdx < runs.length - 1;
      const up = sup?.state === 'RUNNING';
      const pending = ['flanneld.running', 'flanneld.healthz', 'lease.own', 'lease.ttl', 'subnet-env.lease'].filter(
        (id) => wrong(checks, id),
      );
      const count = runs.filter((r) => r.end?.known.id === 'lease-revoked').length;
      const evidence = [
        line(revoked),
        ...(restarted
          ? [
              `flanneld started again ${ago(runs[revokedIdx + 1]!.startedAt)} (${runs.length - 1 - revokedIdx} run(s) since)`,
            ]
          : []),
        ...(sup ? [`${e.program} is ${sup.state}${sup.detail ? ` (${sup.detail})` : ''}`] : []),
        ...(own ? [leaseLine(own)] : []),
      ];
      const why = `this node's lease key was deleted, or it expired (not renewed in 24 h: a clock far off etcd's, failure case C23), while flanneld ran: flanneld v0.11 logs \`Lease has been revoked. Shutting down daemon.\` and exits 0; supervisord (autorestart=true) starts it again and it takes the subnet of subnet.env back${count > 1 ? `; it happened ${count} times in this log` : ''}`;
      // the revocation is why flanneld is down only when supervisord's restart came right after it
      const next = runs[revokedIdx + 1];
      const cause =
        revokedIdx >= runs.length - 2 &&
        (!next || !at || !next.startedAt || (next.startedAt.getTime() - at.getTime()) / 1000 <= RESTART_WITHIN_S);
      if (!up && pending.length && cause) {
        add({
          id: 'lease.revoked',
          what: `flanneld's lease was revoked ${ago(at)} and flanneld exited; supervisord has it ${sup?.state ?? 'not running'}`,
          evidence,
          cause: why,
          fix: T('start'),
          then: 'start waits until flanneld is RUNNING with its lease and subnet.env matching (it changes nothing that is right); if the lease keeps being revoked, check the clocks (timedatectl) and who deletes keys under the prefix',
          checks: pending,
        });
      } else if (up && pending.length === 0 && at && (o.at.getTime() - at.getTime()) / 1000 <= REVOKED_NOTE_S) {
        add({
          id: 'lease.revoked',
          kind: 'note',
          what: `flanneld's lease was revoked ${ago(at)}; supervisord restarted flanneld, and it holds ${own?.subnet ?? e.subnet} again`,
          evidence,
          cause: why,
          checks: [],
        });
      }
    }
    // ---- a restart loop: the healthz port held by another process
    // the runs that END the log dying on the port (one still starting aside): a loop that a
    // healthy run came after is over, however many deaths the window holds
    const recent: (typeof runs)[number][] = [];
    for (let i = runs.length - 1; i >= 0; i--) {
      const r = runs[i]!;
      // the newest run still being started by supervisord: not an end yet
      if (i === runs.length - 1 && !r.end && isRestarting(sup?.state)) continue;
      const inWindow = r.startedAt && (o.at.getTime() - r.startedAt.getTime()) / 1000 <= LOOP_WINDOW_S;
      if (!inWindow || r.end?.known.id !== 'healthz-port-busy') break;
      recent.unshift(r);
    }
    const owner = p.portOwner;
    if (recent.length >= 2 && sup && sup.state !== 'RUNNING') {
      const kill = owner?.pid ? `kill ${owner.pid}` : `fuser -k ${ctx.healthzPort}/tcp`;
      add({
        id: 'flanneld.restart-loop',
        what: `flanneld started ${recent.length} times in the last ${LOOP_WINDOW_S / 60} min and died each time on its healthz port :${ctx.healthzPort}; ${e.program} is ${sup.state}`,
        evidence: [
          ...recent.slice(-2).map(line),
          ...(owner
            ? [`:${owner.port} is held by ${owner.process ?? '?'}${owner.pid ? ` pid ${owner.pid}` : ''} (ss -ltnp)`]
            : []),
          ...(o.healthz.ok ? [`GET /healthz -> ${o.healthz.value.status} from that process`] : []),
        ],
        cause:
          "another process holds the port, usually an earlier flanneld left running: the runbook's flanneld.sh has no `exec`, so supervisord's stop signal reached only /bin/sh and flanneld lived on as an orphan; each new flanneld panics on the port (exit 2) until supervisord gives up (FATAL)",
        fix: `${kill} && ${T('start')}`,
        then: 'start rewrites flanneld.sh with `exec ./flanneld ...` so the next stop reaches flanneld itself, and starts it',
        checks: ['flanneld.running', 'flanneld.healthz', 'flanneld.flags'].filter((id) => wrong(checks, id)),
      });
    }
    // ---- a new subnet: the lease was lost and subnet.env with it
    const env = parseEnv(o.files.subnetEnv);
    const others = mine.filter((l) => !l.subnet.equals(e.subnet));
    const ownerOf = (l: (typeof mine)[number]) =>
      ctx.peers.find((n) => n.subnet.equals(l.subnet) && !n.publicIp.equals(e.publicIp));
    const tookOver = log?.takeovers.some((t) => others.some((l) => t.subnet === l.subnet.toString()));
    if (etcd && !own && others.length && !others.some(ownerOf) && !tookOver) {
      const allocated = [...(log?.lines ?? [])].reverse().find((l) => /Allocated lease|Picking subnet/.test(l.message));
      add({
        id: 'lease.subnet-changed',
        what: `flanneld holds ${others.map((l) => l.subnet).join(', ')}, not this node's ${e.subnet}: docker0 and the pods are still on ${e.subnet}`,
        evidence: [
          ...others.map(leaseLine),
          ...(env ? [`${e.paths.subnetEnv}: FLANNEL_SUBNET=${env.subnet}`] : [`${e.paths.subnetEnv}: missing`]),
          ...(allocated ? [`${p.logFile}: ${allocated.raw}`] : []),
        ],
        cause:
          'the lease was lost (deleted, or expired while the node was off) and subnet.env with it, so flanneld picked a random free subnet at its next start; docker0 keeps the old bip, and the other nodes now route the new subnet here while the pods sit on the old one (failure case C21)',
        fix: [s.supervisorctl('stop'), ...others.map((l) => deleteKeyCommand(ctx, e.api, l.key)), T('start')].join(
          ' && ',
        ),
        then: `start writes subnet.env for ${e.subnet} (checking it is free), and flanneld takes it back`,
        checks: ['lease.own', 'lease.ttl', 'lease.duplicate-ip', 'subnet-env.lease', 'routes.own-subnet'].filter((id) =>
          wrong(checks, id),
        ),
      });
    }
    return out;
  },
};
