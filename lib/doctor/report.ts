// doctor's exit code and human report. Pure.

import type { Check } from '../checks/types.ts';
import type { Finding } from './types.ts';

/** 0 nothing wrong (notes only), 1 findings, 3 only things that could not be examined. */
export function doctorExit(findings: readonly Finding[]): 0 | 1 | 3 {
  if (findings.some((f) => f.kind === 'problem')) return 1;
  if (findings.some((f) => f.kind === 'unexamined')) return 3;
  return 0;
}

/** The human report: one block per finding, the fix on a line of its own. */
export function formatDoctorReport(node: string, findings: readonly Finding[], checks: readonly Check[]): string {
  const notes = findings.filter((f) => f.kind === 'note').length;
  const noted = notes ? `; ${notes} note${notes === 1 ? '' : 's'}` : '';
  const head =
    findings.length === notes
      ? `doctor ${node}: nothing wrong (${checks.length} checks ok)${noted}`
      : `doctor ${node}: ${findings.length - notes} finding${findings.length - notes === 1 ? '' : 's'}${noted}`;
  if (findings.length === 0) return head;
  const blocks = findings.map((f, i) =>
    [
      `[${i + 1}] ${f.id}${f.kind === 'unexamined' ? ' (could not examine)' : f.kind === 'note' ? ' (note)' : ''}: ${f.what}`,
      ...f.evidence.map((x, j) => `    ${j === 0 ? 'evidence:' : '         '} ${x}`),
      `    cause:    ${f.cause}`,
      ...(f.fix !== undefined ? [`    fix:      ${f.fix}`] : []),
      ...(f.then ? [`    then:     ${f.then}`] : []),
    ].join('\n'),
  );
  return [head, ...blocks].join('\n');
}
