// supervisord.conf of a lab node: everything under the node's root, the runbook's include
// directory (<root>/etc/supervisord.d/*.ini), so that `supervisorctl -c <root>/etc/supervisord.conf
// update` picks up flannel.ini as `supervisorctl update` does in the runbook.

import { join } from 'node:path';

/** A literal % must be %% in a supervisord conf. */
function esc(path: string): string {
  return path.replaceAll('%', '%%');
}

export function renderLabSupervisordConf(root: string): string {
  const socket = join(root, 'run', 'supervisor.sock');
  return [
    '; supervisord of a flannel-runbook lab node',
    '[unix_http_server]',
    `file=${esc(socket)}`,
    'chmod=0700',
    '',
    '[supervisord]',
    `pidfile=${esc(join(root, 'run', 'supervisord.pid'))}`,
    `logfile=${esc(join(root, 'data', 'logs', 'supervisor', 'supervisord.log'))}`,
    `childlogdir=${esc(join(root, 'var', 'log', 'supervisor'))}`,
    '',
    '[rpcinterface:supervisor]',
    'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
    '',
    '[supervisorctl]',
    `serverurl=unix://${esc(socket)}`,
    '',
    '[include]',
    `files = ${esc(join(root, 'etc', 'supervisord.d', '*.ini'))}`,
  ].join('\n') + '\n';
}
