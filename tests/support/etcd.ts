// A real etcd (Debian's etcd-server) on loopback for unit tests that talk to etcd: one member,
// plain http, v2 on or off. The test that starts it stops it, by its PID.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export const hasEtcd = (() => {
  try {
    execFileSync('etcd', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface Etcd {
  url: string;
  proc: ChildProcess;
}

export async function startEtcd(dir: string, enableV2: boolean): Promise<Etcd> {
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const proc = spawn(
    'etcd',
    [
      `--name=t${client}`,
      `--data-dir=${dir}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=t${client}=http://127.0.0.1:${peer}`,
      `--enable-v2=${enableV2}`,
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${url}/version`);
      if (r.ok) return { url, proc };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGKILL');
  throw new Error(`etcd on ${url} did not come up`);
}

/** Stop an etcd this test started, and wait for it to be gone. */
export async function stopEtcd(e: Etcd | undefined): Promise<void> {
  if (!e || e.proc.exitCode !== null) return;
  const gone = new Promise((r) => e.proc.once('exit', r));
  e.proc.kill('SIGKILL');
  await gone;
}
