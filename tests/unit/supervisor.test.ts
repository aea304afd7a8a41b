import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import {
  isUp,
  parseSupervisorStatus,
  renderSupervisordConf,
  supervisordPaths,
  supervisorSocketOf,
  parseProcessInfoResponse,
} from '../../lib/model/supervisor.ts';
import { programStatus } from '../../lib/host/supervisord.ts';
import { LocalHost } from '../../lib/host/local.ts';
import { renderSupervisorIni } from '../../lib/model/flanneld-files.ts';
import { OutputError, RuntimeError, UsageError } from '../../lib/core/errors.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/supervisor/${name}`, import.meta.url), 'utf8');
const run = promisify(execFile);

describe('supervisor', () => {
  test('parses real `supervisorctl status` output into programs and states', () => {
    const cases: [
      string,
      { program: string; state: string; pid?: number; uptimeSeconds?: number; detail: string }[],
    ][] = [
      [
        'status-starting-backoff.txt',
        [
          { program: 'flanneld-7-21', state: 'STARTING', detail: '' },
          { program: 'flanneld-7-22', state: 'STARTING', detail: '' },
        ],
      ],
      [
        'status-running-backoff.txt',
        [
          {
            program: 'flanneld-7-21',
            state: 'RUNNING',
            pid: 8765,
            uptimeSeconds: 2,
            detail: 'pid 8765, uptime 0:00:02',
          },
          { program: 'flanneld-7-22', state: 'BACKOFF', detail: 'Exited too quickly (process log may have details)' },
        ],
      ],
      [
        'status-running-fatal.txt',
        [
          {
            program: 'flanneld-7-21',
            state: 'RUNNING',
            pid: 8765,
            uptimeSeconds: 8,
            detail: 'pid 8765, uptime 0:00:08',
          },
          { program: 'flanneld-7-22', state: 'FATAL', detail: 'Exited too quickly (process log may have details)' },
        ],
      ],
      [
        'status-stopped.txt',
        [
          { program: 'flanneld-7-21', state: 'STOPPED', detail: 'Nov 26 01:12 PM' },
          { program: 'flanneld-7-22', state: 'FATAL', detail: 'Exited too quickly (process log may have details)' },
        ],
      ],
    ];
    for (const [file, want] of cases) assert.deepEqual(parseSupervisorStatus(fixture(file)), want, file);
  });

  test('parses the other shapes of a status line', () => {
    const cases: [string, object][] = [
      [
        'flanneld-7-21                    STOPPED   Not started\n',
        { program: 'flanneld-7-21', state: 'STOPPED', detail: 'Not started' },
      ],
      [
        'flannel:flanneld-7-21            RUNNING   pid 42, uptime 2 days, 3:04:05',
        {
          program: 'flannel:flanneld-7-21',
          state: 'RUNNING',
          pid: 42,
          uptimeSeconds: 2 * 86400 + 3 * 3600 + 4 * 60 + 5,
          detail: 'pid 42, uptime 2 days, 3:04:05',
        },
      ],
      [
        'a-very-long-program-name-of-forty-chars   EXITED    Nov 26 01:12 PM',
        { program: 'a-very-long-program-name-of-forty-chars', state: 'EXITED', detail: 'Nov 26 01:12 PM' },
      ],
      [
        'flanneld-7-21: ERROR (no such process)',
        { program: 'flanneld-7-21', state: 'UNKNOWN', detail: 'no such process' },
      ],
    ];
    for (const [text, want] of cases) assert.deepEqual(parseSupervisorStatus(text), [want], text);
    assert.deepEqual(parseSupervisorStatus(''), []);
  });

  test('tells up from crash-looping: BACKOFF is not up although status exits 0', () => {
    const states = parseSupervisorStatus(fixture('status-running-backoff.txt')).map((p) => isUp(p.state));
    assert.deepEqual(states, [true, false]);
  });

  test('reports supervisord down as a runtime error, and foreign output as a usage error', () => {
    const cases: [string, typeof RuntimeError | typeof OutputError, RegExp][] = [
      [
        fixture('status-down-no-such-file.txt'),
        RuntimeError,
        /^supervisorctl status: supervisord is not running \(its socket does not exist\): unix:\/\/\/tmp\/.*supervisor\.sock; start it/,
      ],
      [
        fixture('status-down-refused.txt'),
        RuntimeError,
        /^supervisorctl status: supervisord is not running \(its socket refused the connection\)/,
      ],
      ['http://localhost:9001 refused connection\n', RuntimeError, /refused the connection\): http:\/\/localhost:9001/],
      [
        "error: <class 'PermissionError'>, [Errno 13] Permission denied: file: /usr/lib/python3/dist-packages/supervisor/xmlrpc.py line: 560",
        RuntimeError,
        /^supervisorctl status: error: <class 'PermissionError'>/,
      ],
      [
        'Error: .ini file does not include supervisorctl section',
        RuntimeError,
        /does not include supervisorctl section/,
      ],
      [
        'flanneld-7-21                    SLEEPING  zzz',
        OutputError,
        /^supervisorctl status: line "flanneld-7-21 +SLEEPING +zzz": expected "NAME STATE DETAIL"/,
      ],
      ['flanneld-7-21: added process group', OutputError, /expected "NAME STATE DETAIL"/],
      ['RUNNING', OutputError, /expected "NAME STATE DETAIL"/],
    ];
    for (const [text, kind, re] of cases) {
      assert.throws(
        () => parseSupervisorStatus(text),
        (e: unknown) => e instanceof kind && re.test(e.message) && !e.message.includes('\n'),
        text,
      );
    }
  });

  test('renders a supervisord.conf under the root with the sections supervisorctl needs', () => {
    const conf = renderSupervisordConf({ root: '/tmp/lab/h21' });
    const lines = conf.split('\n');
    for (const line of [
      '[unix_http_server]',
      'file=/tmp/lab/h21/run/supervisor.sock',
      '[supervisord]',
      'pidfile=/tmp/lab/h21/run/supervisord.pid',
      'logfile=/tmp/lab/h21/var/log/supervisor/supervisord.log',
      '[rpcinterface:supervisor]',
      'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
      '[supervisorctl]',
      'serverurl=unix:///tmp/lab/h21/run/supervisor.sock',
      '[include]',
      'files = /tmp/lab/h21/etc/supervisord.d/*.ini',
    ]) {
      assert.ok(lines.includes(line), line);
    }
    assert.match(renderSupervisordConf(), /^files = \/etc\/supervisord\.d\/\*\.ini$/m);
    assert.match(renderSupervisordConf({ logfile: '/var/log/100%/s.log' }), /^logfile=\/var\/log\/100%%\/s\.log$/m);
    assert.equal(supervisordPaths({ root: '/r' }).socket, '/r/run/supervisor.sock');
  });

  test('rejects paths supervisord would misread', () => {
    const cases: [Parameters<typeof renderSupervisordConf>[0], RegExp][] = [
      [
        { root: `/tmp/${'x'.repeat(100)}` },
        /^socket "\/tmp\/x+"\.\.\. \(\d+ characters\): a unix socket path must be at most 107 bytes/,
      ],
      [
        { includeGlob: '/etc/supervisord.d/*' },
        /^includeGlob "\/etc\/supervisord\.d\/\*": must name \.ini or \.conf files/,
      ],
      [{ root: '/tmp/my lab' }, /^socket "\/tmp\/my lab\/run\/supervisor\.sock": must not contain blanks/],
      [{ logfile: '/var/log/s.log;x' }, /^logfile .*";" or "#"/],
      [{ pidfile: '/run/a\nb' }, /^pidfile .*control characters/],
      [{ root: 'lab' }, /^--root "lab": must be an absolute directory/],
    ];
    for (const [s, re] of cases)
      assert.throws(
        () => renderSupervisordConf(s),
        (e: unknown) => e instanceof UsageError && re.test(e.message),
        JSON.stringify(s),
      );
  });

  // The real thing: Debian's supervisord 4.2.5 with a rendered conf and the runbook's ini
  // (user=root, so only as root). Kills only the supervisord it started, by its PID.
  describe('with a real supervisord', { skip: skipReason() }, () => {
    let dir = '';
    let daemon: ChildProcess | undefined;
    let conf = '';
    const ctl = async (...args: string[]) => {
      try {
        const r = await run('supervisorctl', ['-c', conf, ...args]);
        return { stdout: r.stdout, code: 0 };
      } catch (e) {
        const err = e as { stdout: string; code: number };
        return { stdout: err.stdout, code: err.code };
      }
    };
    const waitFor = async (what: string, ok: () => Promise<boolean>, ms = 10_000) => {
      const end = Date.now() + ms;
      while (!(await ok())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    before(async () => {
      // short base: the socket path must stay under 108 bytes
      dir = mkdtempSync('/tmp/frsv-');
      for (const d of ['etc/supervisord.d', 'run', 'var/log/supervisor', 'opt/flannel', 'data/logs/flanneld'])
        mkdirSync(`${dir}/${d}`, { recursive: true });
      conf = `${dir}/etc/supervisord.conf`;
      writeFileSync(conf, renderSupervisordConf({ root: dir }));
      // exec: the stop signal must reach the program itself (see renderFlanneldSh's exec)
      writeFileSync(`${dir}/opt/flannel/flanneld.sh`, '#!/bin/sh\nexec sleep 1000\n');
      chmodSync(`${dir}/opt/flannel/flanneld.sh`, 0o755);
      daemon = spawn('supervisord', ['-n', '-c', conf], { stdio: 'ignore' });
      await waitFor('supervisord', async () => !/no such file|refused/.test((await ctl('status')).stdout));
    });

    after(async () => {
      if (daemon?.pid !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
        const exited = new Promise((r) => daemon!.once('exit', r));
        process.kill(daemon.pid, 'SIGTERM');
        await exited;
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('update starts the rendered program, status reads it, stop stops it', async () => {
      assert.deepEqual(parseSupervisorStatus((await ctl('status')).stdout), []);
      writeFileSync(
        `${dir}/etc/supervisord.d/flannel.ini`,
        renderSupervisorIni({
          program: 'flanneld-7-21',
          command: `${dir}/opt/flannel/flanneld.sh`,
          directory: `${dir}/opt/flannel`,
          logFile: `${dir}/data/logs/flanneld/flanneld.stdout.log`,
          startSecs: 0,
        }),
      );
      assert.match((await ctl('update')).stdout, /flanneld-7-21: added process group/);
      let status = parseSupervisorStatus('');
      await waitFor('RUNNING', async () => {
        status = parseSupervisorStatus((await ctl('status')).stdout);
        return status[0]?.state === 'RUNNING';
      });
      assert.equal(status[0]!.program, 'flanneld-7-21');
      const pid = status[0]!.pid!;
      assert.ok(pid > 0);
      // the cron path asks supervisord over its own socket: same answer, no Python process
      const viaSocket = await programStatus(new LocalHost('spawn'), conf, 'flanneld-7-21');
      assert.equal(viaSocket.processes, 0);
      assert.equal(viaSocket.status?.state, 'RUNNING');
      assert.equal(viaSocket.status?.pid, pid);
      assert.match(viaSocket.status!.detail, /^pid \d+, uptime \d+:\d\d:\d\d$/);
      assert.equal((await programStatus(new LocalHost('spawn'), conf, 'no-such-program')).status, undefined);
      assert.match((await ctl('stop', 'flanneld-7-21')).stdout, /flanneld-7-21: stopped/);
      const stopped = await ctl('status');
      assert.equal(parseSupervisorStatus(stopped.stdout)[0]!.state, 'STOPPED');
      assert.equal(stopped.code, 3, 'status exits 3 when a program is stopped');
      assert.equal((await programStatus(new LocalHost('spawn'), conf, 'flanneld-7-21')).status?.state, 'STOPPED');
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the program is gone');
    });
  });
});

function skipReason(): string | false {
  if (!existsSync('/usr/bin/supervisord')) return 'supervisord is not installed (apt-get install supervisor)';
  if (process.getuid?.() !== 0) return 'not root: the runbook ini runs its program as user=root';
  return false;
}

describe('supervisord socket', () => {
  test('the socket comes from [supervisorctl] serverurl, else [unix_http_server] file, with %(here)s', () => {
    assert.equal(
      supervisorSocketOf(renderSupervisordConf({ root: '/tmp/r' }), '/tmp/r/etc/supervisord.conf'),
      '/tmp/r/run/supervisor.sock',
    );
    assert.equal(
      supervisorSocketOf('[unix_http_server]\nfile=%(here)s/s.sock ; comment\n', '/etc/sv/supervisord.conf'),
      '/etc/sv/s.sock',
    );
    assert.equal(
      supervisorSocketOf(
        '[inet_http_server]\nport=127.0.0.1:9001\n[supervisorctl]\nserverurl=http://127.0.0.1:9001\n',
        '/etc/supervisord.conf',
      ),
      undefined,
    );
    assert.equal(
      supervisorSocketOf('[unix_http_server]\nfile=/run/s.sock\nusername=u\npassword=p\n', '/etc/supervisord.conf'),
      undefined,
    );
  });

  test('getProcessInfo answers parse into a status; BAD_NAME is "not loaded"; other faults are errors', () => {
    const xml = (members: string) =>
      `<?xml version='1.0'?><methodResponse><params><param><value><struct>${members}</struct></value></param></params></methodResponse>`;
    const m = (name: string, v: string) => `<member><name>${name}</name><value>${v}</value></member>`;
    const running = xml(
      m('name', '<string>flanneld-7-21</string>') +
        m('statename', '<string>RUNNING</string>') +
        m('pid', '<int>42</int>') +
        m('start', '<int>1000</int>') +
        m('now', '<int>1031</int>') +
        m('description', '<string>pid 42, uptime 0:00:31</string>'),
    );
    assert.deepEqual(parseProcessInfoResponse('flanneld-7-21', running), {
      program: 'flanneld-7-21',
      state: 'RUNNING',
      pid: 42,
      uptimeSeconds: 31,
      detail: 'pid 42, uptime 0:00:31',
    });
    const fault = (s: string) =>
      `<?xml version='1.0'?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>10</int></value></member><member><name>faultString</name><value><string>${s}</string></value></member></struct></value></fault></methodResponse>`;
    assert.equal(parseProcessInfoResponse('x', fault('BAD_NAME: x')), undefined);
    assert.throws(() => parseProcessInfoResponse('x', fault('SHUTDOWN_STATE')), /SHUTDOWN_STATE/);
    assert.throws(() => parseProcessInfoResponse('x', xml(m('pid', '<int>1</int>'))), /no statename/);
  });
});
