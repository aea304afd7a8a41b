// What the Go runtime prints when flanneld dies: v0.20.2's "index out of range" panic when its
// context is cancelled with the lease watches running (exit 2, nothing cleaned up), and the
// goroutine dump of a Go binary without a SIGQUIT handler (exit 2).
import { exitNow } from './host-commands.ts';

/** Where main is, for the goroutines a SIGQUIT dump shows. */
export interface ProcessState {
  /** waiting for the network config, or the backend running */
  phase: 'config' | 'running';
  /** the healthz server was started */
  healthz: boolean;
  /** the lease watches run (v0.20.2 panics on SIGTERM from then on) */
  watching: boolean;
}

/** What a Go binary without a SIGQUIT handler prints: the goroutine dump, then exit 2. */
export function quitDump(state: ProcessState): never {
  const hex = (n: number): string => `0x${n.toString(16)}`;
  const g: string[] = [];
  g.push(
    `SIGQUIT: quit\nPC=${hex(0x46ea21)} m=0 sigcode=0\n\ngoroutine 0 [idle]:\nruntime.futex(${hex(0x23f8dc8)}, 0x80, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x7ffd4b8c1e48, 0x4134b2, ...)\n\t/usr/local/go/src/runtime/sys_linux_amd64.s:535 +0x21\nruntime.futexsleep(${hex(0x23f8dc8)}, 0x0, 0xffffffffffffffff)\n\t/usr/local/go/src/runtime/os_linux.go:44 +0x46\nruntime.notesleep(${hex(0x23f8dc8)})\n\t/usr/local/go/src/runtime/lock_futex.go:151 +0x9f\nruntime.mPark()\n\t/usr/local/go/src/runtime/proc.go:1340 +0x39\nruntime.stoplockedm()\n\t/usr/local/go/src/runtime/proc.go:2495 +0x6e\nruntime.schedule()\n\t/usr/local/go/src/runtime/proc.go:3103 +0x48c\nruntime.park_m(0xc000000180)\n\t/usr/local/go/src/runtime/proc.go:3318 +0x2d\nruntime.mcall()\n\t/usr/local/go/src/runtime/asm_amd64.s:327 +0x43\n`,
  );
  if (state.phase === 'config') {
    g.push(
      `goroutine 1 [select]:\nmain.getConfig(0x18d3f40, 0xc0003b0040, 0x18e0ac0, 0xc000328090, 0x0, 0x0, 0x0)\n\tflannel/main.go:389 +0x1c7\nmain.main()\n\tflannel/main.go:271 +0x8b5\n`,
    );
  } else {
    g.push(
      `goroutine 1 [select]:\nmain.MonitorLease(0x18d3f40, 0xc0003b0040, 0x18e0ac0, 0xc000328090, 0x18dd3c0, 0xc0003ac0a0, 0xc000320370, 0x0, 0x0)\n\tflannel/main.go:412 +0x3ea\nmain.main()\n\tflannel/main.go:332 +0xd39\n`,
    );
  }
  g.push(
    `goroutine 6 [chan receive]:\ngithub.com/coreos/flannel/vendor/github.com/golang/glog.(*loggingT).flushDaemon(${hex(0x23f7a40)})\n\tflannel/vendor/github.com/golang/glog/glog.go:882 +0x8b\ncreated by github.com/coreos/flannel/vendor/github.com/golang/glog.init.0\n\tflannel/vendor/github.com/golang/glog/glog.go:410 +0x26f\n`,
  );
  g.push(
    `goroutine 18 [select]:\nmain.shutdownHandler(0x18d3f40, 0xc0003b0040, 0xc0000b40c0, 0xc0003ae0e0)\n\tflannel/main.go:364 +0xb4\nmain.main.func1(0xc000320370, 0x18d3f40, 0xc0003b0040, 0xc0000b40c0, 0xc0003ae0e0)\n\tflannel/main.go:261 +0x4d\ncreated by main.main\n\tflannel/main.go:260 +0x6b1\n`,
  );
  if (state.healthz) {
    g.push(
      `goroutine 19 [IO wait]:\ninternal/poll.runtime_pollWait(0x7f3c5c2a8f08, 0x72, 0x0)\n\t/usr/local/go/src/runtime/netpoll.go:302 +0x89\nnet.(*netFD).accept(0xc000394000, 0x0, 0x0, 0x0)\n\t/usr/local/go/src/net/fd_unix.go:172 +0x35\nnet/http.(*Server).Serve(0xc0003a2000, 0x18d1e00, 0xc00031a1b8, 0x0, 0x0)\n\t/usr/local/go/src/net/http/server.go:3039 +0x385\nmain.mustRunHealthz()\n\tflannel/main.go:594 +0x1b1\ncreated by main.main\n\tflannel/main.go:267 +0x75d\n`,
    );
  }
  if (state.phase === 'running') {
    g.push(
      `goroutine 34 [select]:\ngithub.com/coreos/flannel/backend.(*RouteNetwork).Run(0xc0003ac0a0, 0x18d3f40, 0xc0003b0040)\n\tflannel/backend/route_network.go:71 +0x1e5\nmain.main.func2(0xc000320370, 0x18dd3c0, 0xc0003ac0a0, 0x18d3f40, 0xc0003b0040)\n\tflannel/main.go:324 +0x5b\ncreated by main.main\n\tflannel/main.go:323 +0xcd9\n`,
    );
    g.push(
      `goroutine 35 [select]:\nnet/http.(*persistConn).roundTrip(0xc000178000, 0xc0003d2000, 0x0, 0x0, 0x0)\n\t/usr/local/go/src/net/http/transport.go:2620 +0x7d2\ngithub.com/coreos/flannel/subnet.WatchLeases(0x18d3f40, 0xc0003b0040, 0x18e0ac0, 0xc000328090, 0xc0003ac0c8, 0xc0003b4060)\n\tflannel/subnet/watch.go:37 +0x10f\ncreated by github.com/coreos/flannel/backend.(*RouteNetwork).Run\n\tflannel/backend/route_network.go:56 +0x15b\n`,
    );
    g.push(
      `goroutine 36 [sleep]:\ntime.Sleep(0x12a05f200)\n\t/usr/local/go/src/runtime/time.go:195 +0xd2\ngithub.com/coreos/flannel/network.SetupAndEnsureIPTables(0xc0003b8000, 0x2, 0x2, 0x5)\n\tflannel/network/iptables.go:118 +0x10c\ncreated by main.main\n\tflannel/main.go:310 +0xb9d\n`,
    );
  }
  process.stderr.write(
    `${g.join('\n')}\nrax    0xca\nrbx    0x0\nrcx    0x46ea23\nrdx    0x0\nrdi    0x23f8dc8\nrsi    0x80\nrbp    0x7ffd4b8c1e18\nrsp    0x7ffd4b8c1dd0\nr8     0x0\nr9     0x0\nr10    0x0\nr11    0x286\nr12    0x0\nr13    0x1\nr14    0x23f7740\nr15    0x0\nrip    0x46ea21\nrflags 0x286\ncs     0x33\nfs     0x0\ngs     0x0\n`,
  );
  return exitNow(2);
}

/**
 * What v0.20.2 prints when its context is cancelled with the lease watches running (SIGTERM,
 * SIGINT, a revoked lease): a closed etcd watch channel hands back a response without events
 * and registry.go indexes Events[0]. Exit status 2; nothing is cleaned up.
 */
const PANIC_HEAD = 'panic: runtime error: index out of range [0] with length 0\n\n';

export const PANIC_WATCH_LEASE = `${PANIC_HEAD}goroutine 36 [running]:
github.com/flannel-io/flannel/subnet/etcd.(*etcdSubnetRegistry).watchSubnet(0xc00015be40, {0x1d13aa8, 0xc00015bd00}, 0x0, {0x37?, 0x190fd00?}, {0x0?, 0x71e492?})
	flannel/subnet/etcd/registry.go:318 +0x51a
github.com/flannel-io/flannel/subnet/etcd.(*LocalManager).WatchLease(0xc0002a41c0, {0x1d13aa8, 0xc00015bd00}, {0xac071600?, 0x18?}, {0x0?, 0x0?}, {0x18d03e0?, 0x2945ca0?})
	flannel/subnet/etcd/local_manager.go:316 +0x13e
github.com/flannel-io/flannel/subnet.WatchLease({0x1d13aa8, 0xc00015bd00}, {0x1d17770, 0xc0002a41c0}, {0x0?, 0x0?}, {0x0?, 0x0?}, 0x0?)
	flannel/subnet/watch.go:241 +0xe3
github.com/flannel-io/flannel/subnet/etcd.(*LocalManager).CompleteLease.func1()
	flannel/subnet/etcd/local_manager.go:374 +0x51
created by github.com/flannel-io/flannel/subnet/etcd.(*LocalManager).CompleteLease
	flannel/subnet/etcd/local_manager.go:372 +0x145
`;

export const panicWatchLeases = (vxlan: boolean): string => `${PANIC_HEAD}goroutine 38 [running]:
github.com/flannel-io/flannel/subnet/etcd.(*etcdSubnetRegistry).watchSubnets(0xc00015de40, {0x1d13aa8, 0xc00015dd00}, 0x0)
	flannel/subnet/etcd/registry.go:295 +0x4da
github.com/flannel-io/flannel/subnet/etcd.(*LocalManager).WatchLeases(0xc00052e180, {0x1d13aa8, 0xc00015dd00}, {0x18d03e0?, 0x2945ca0?})
	flannel/subnet/etcd/local_manager.go:344 +0xfe
github.com/flannel-io/flannel/subnet.WatchLeases({0x1d13aa8, 0xc00015dd00}, {0x1d17770, 0xc00052e180}, 0x1d13aa8?, 0xc00015dd00?)
	flannel/subnet/watch.go:36 +0xcc
${
  vxlan
    ? 'github.com/flannel-io/flannel/backend/vxlan.(*network).Run.func1()\n\tflannel/backend/vxlan/vxlan_network.go:65 +0x45\ncreated by github.com/flannel-io/flannel/backend/vxlan.(*network).Run\n\tflannel/backend/vxlan/vxlan_network.go:64 +0x171\n'
    : 'github.com/flannel-io/flannel/backend.(*RouteNetwork).Run.func1()\n\tflannel/backend/route_network.go:59 +0x3d\ncreated by github.com/flannel-io/flannel/backend.(*RouteNetwork).Run\n\tflannel/backend/route_network.go:58 +0x165\n'
}`;

export function goPanic(text: string): never {
  process.stderr.write(text);
  return exitNow(2);
}
