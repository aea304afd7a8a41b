// flanneld not running under supervisord, with the fatal line of its log.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import { FATAL } from '../log.ts';
import { coveredBy, wrong } from './common.ts';
import { isRestarting } from '../../model/supervisor.ts';

export const flanneldRules: DoctorRule = {
  name: 'flanneld',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { e, obs: o, probes: p, log, checks, T } = s;
    const sup = o.supervisor.ok ? o.supervisor.value : undefined;
    // ---- flanneld not running
    const running = wrong(checks, 'flanneld.running');
    // a cause found before (an interface, an address on flannel.1, a revoked lease) is the finding
    if (running && running.status === 'drift' && !coveredBy(s.found).has(running.id)) {
      const fatal = [...(log?.current.values() ?? [])].filter((x) => FATAL.has(x.known.id));
      add({
        id: 'flanneld.stopped',
        what: sup
          ? `${e.program} is ${sup.state}${sup.detail ? ` (${sup.detail})` : ''}`
          : `supervisord does not know ${e.program}`,
        evidence: [
          running.reason,
          ...(o.healthz.ok ? [] : [`healthz: ${o.healthz.error}`]),
          ...fatal.map((x) => `${p.logFile}: ${x.line.raw}`),
        ],
        cause: fatal.length
          ? fatal.map((x) => x.known.meaning).join('; ')
          : isRestarting(sup?.state)
            ? `supervisord is restarting it: it has not stayed up for startsecs; the end of ${p.logFile} says why it exits`
            : sup
              ? 'stopped by hand (supervisorctl stop), or it gave up after startretries'
              : 'runbook step 4 (start) was never run on this node',
        fix: sup ? s.supervisorctl('start') : T('start'),
        ...(fatal.length && { then: fatal.map((x) => x.known.fix).join('; ') }),
        checks: ['flanneld.running', 'flanneld.healthz'],
      });
    }
    return out;
  },
};
