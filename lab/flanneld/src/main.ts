// flanneld's main: the start-up order of v0.11.0 (v0.20.2 where it differs: the interface chosen
// only once the config is found), the config fetched every second until found ("timed out" on
// stdout after each failure), the backend registered, iptables loops, subnet.env, the backend
// run and the lease monitored; SIGINT / SIGTERM, SIGQUIT and the exit codes. The bundle's entry
// point: it exports nothing, so the bundle is a plain script.
import type { Backend, Network } from './backend-types.ts';
import { getBackend } from './backends.ts';
import { type ExtIface, findExtIface } from './ext-iface.ts';
import { log } from './glog.ts';
import { type Context, isCanceled, sleep } from './go-context.ts';
import { GoError } from './go-errors.ts';
import { cliFlagsConfig, FlagSet } from './go-flags.ts';
import { goPanic, PANIC_WATCH_LEASE, type ProcessState, panicWatchLeases, quitDump } from './go-panic.ts';
import { startHealthz } from './healthz.ts';
import { exitNow } from './host-commands.ts';
import { IPTables } from './iptables.ts';
import { deleteIPTables, forwardRules, masqRules, setupAndEnsureIPTables } from './iptables-v011.ts';
import { deleteIPTablesV020, forwardRulesV020, masqRulesV020, setupAndEnsureIPTablesV020 } from './iptables-v020.ts';
import { monitorLease } from './lease-renewal.ts';
import { loadModules } from './node-builtins.ts';
import { setProcessName } from './process-name.ts';
import { readCIDRFromSubnetFile, writeSubnetFile } from './subnet-env.ts';
import type { NetworkConfig } from './network-config.ts';
import { type LocalManager, newSubnetManager } from './subnet-manager.ts';
import { T, V020, VERSION } from './version.ts';
import { VxlanNetwork } from './vxlan-network.ts';

const state: ProcessState = { phase: 'config', healthz: false, watching: false };

async function main(): Promise<void> {
  // a closed log pipe must not turn into an unhandled 'error' event
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  setProcessName();
  const opts = new FlagSet();
  process.on('SIGQUIT', () => quitDump(state));
  opts.parse(process.argv.slice(2));
  if (opts.get('version')) {
    process.stderr.write(`${VERSION}\n`);
    process.exit(0);
  }
  opts.setFromEnv('FLANNELD');
  if (V020) log.info('main.go:204', `CLI flags config: ${cliFlagsConfig(opts)}`);

  const margin = opts.get('subnet-lease-renew-margin');
  if (margin >= 24 * 60 || margin <= 0) {
    log.error(T('main.go:191', 'main.go:208'), 'Invalid subnet-lease-renew-margin option, out of acceptable range');
    process.exit(1);
  }

  // Work out which interface to use (v0.20.2: only once it has the network config)
  let extIface: ExtIface | null = V020 ? null : await findExtIface(opts);

  if (opts.get('kube-subnet-mgr')) {
    log.error(
      T('main.go:241', 'main.go:220'),
      "Failed to create SubnetManager: --kube-subnet-mgr is not implemented by the lab's flanneld stand-in",
    );
    process.exit(1);
  }
  let sm: LocalManager;
  try {
    sm = newSubnetManager(opts);
  } catch (e) {
    log.error(
      T('main.go:241', 'main.go:220'),
      `Failed to create SubnetManager: ${e instanceof GoError ? e.message : e}`,
    );
    process.exit(1);
  }
  log.info(T('main.go:244', 'main.go:224'), `Created subnet manager: ${sm.name()}`);

  log.info(T('main.go:247', 'main.go:227'), 'Installing signal handlers');
  const controller = new AbortController();
  const ctx: Context = { signal: controller.signal };
  let shutdownLogged = false;
  const onSignal = (): void => {
    // signal.Stop: a second signal gets the default behaviour (the process dies)
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (controller.signal.aborted) return;
    controller.abort();
    shutdownLogged = true;
    log.info(T('main.go:370', 'main.go:451'), 'shutdownHandler sent cancel signal...');
    if (V020 && state.watching) goPanic(PANIC_WATCH_LEASE);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  /** shutdownHandler's other way out: the context is cancelled from inside. */
  const cancel = (): void => {
    if (controller.signal.aborted) return;
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    controller.abort();
  };
  const stoppingShutdownHandler = (): void => {
    if (!shutdownLogged) {
      shutdownLogged = true;
      log.info('main.go:366', 'Stopping shutdownHandler...');
    }
  };

  if (opts.get('healthz-port') > 0) {
    state.healthz = true;
    startHealthz(opts);
  }

  // Fetch the network config (i.e. what backend to use etc..), every second until it works
  let config: NetworkConfig;
  for (;;) {
    try {
      config = await sm.getNetworkConfig(ctx.signal);
      log.info(T('main.go:386', 'main.go:467'), `Found network config - Backend type: ${config.backendType}`);
      break;
    } catch (e) {
      // v0.20.2's v3 client: a call that never got through says so only when it is cancelled
      const warning = V020 && isCanceled(e) ? sm.registry.retryWarning() : null;
      if (warning) process.stderr.write(`${warning}\n`);
      log.error(T('main.go:382', 'main.go:463'), `Couldn't fetch network config: ${(e as Error).message}`);
    }
    if (!(await sleep(1000, ctx.signal))) {
      exitNow(0);
      return;
    }
    process.stdout.write('timed out\n');
  }
  if (V020) extIface = await findExtIface(opts);

  const fail = (tag: string, msg: string): never => {
    log.error(tag, msg);
    cancel();
    if (!V020) stoppingShutdownHandler();
    return exitNow(1);
  };
  let be: Backend;
  try {
    be = getBackend(sm, extIface!, config.backendType);
  } catch (e) {
    return fail(T('main.go:281', 'main.go:331'), `Error fetching backend: ${(e as Error).message}`);
  }
  let bn: Network;
  try {
    bn = await be.registerNetwork(ctx.signal, config);
  } catch (e) {
    return fail(T('main.go:289', 'main.go:339'), `Error registering network: ${(e as Error).message}`);
  }

  const subnetFile = opts.get('subnet-file');
  const background: Promise<void>[] = [];
  if (opts.get('ip-masq')) {
    // recycleIPTables: drop the masquerade rules of a previous network and subnet
    const prevNetwork = readCIDRFromSubnetFile(subnetFile, 'FLANNEL_NETWORK');
    const prevSubnet = readCIDRFromSubnetFile(subnetFile, 'FLANNEL_SUBNET');
    let randomFully = false;
    try {
      randomFully = (await IPTables.create()).hasRandomFully;
    } catch {
      // MasqRules falls back to rules without --random-fully
    }
    if (!prevNetwork.equal(config.network) && !prevSubnet.equal(bn.lease.subnet)) {
      log.info(
        T('main.go:351', 'main.go:612'),
        `Current network or subnet (${config.network}, ${bn.lease.subnet}) is not equal to previous one (${prevNetwork}, ${prevSubnet}), trying to recycle old iptables rules`,
      );
      try {
        if (V020) await deleteIPTablesV020(masqRulesV020(prevNetwork, { subnet: prevSubnet }, randomFully));
        else await deleteIPTables(masqRules(prevNetwork, { subnet: prevSubnet }, randomFully));
      } catch (e) {
        return fail(T('main.go:298', 'main.go:338'), `Failed to recycle IPTables rules, ${(e as Error).message}`);
      }
    }
    if (V020) {
      log.info('main.go:342', 'Setting up masking rules');
      background.push(
        setupAndEnsureIPTablesV020(
          ctx,
          masqRulesV020(config.network, bn.lease, randomFully),
          opts.get('iptables-resync'),
        ),
      );
    } else {
      background.push(
        setupAndEnsureIPTables(ctx, masqRules(config.network, bn.lease, randomFully), opts.get('iptables-resync')),
      );
    }
  }
  if (opts.get('iptables-forward-rules')) {
    if (V020) {
      // (only the message: v0.20.2 leaves the policy alone and jumps to FLANNEL-FWD first)
      log.info('main.go:364', 'Changing default FORWARD chain policy to ACCEPT');
      background.push(
        setupAndEnsureIPTablesV020(ctx, forwardRulesV020(config.network.toString()), opts.get('iptables-resync')),
      );
    } else {
      background.push(
        setupAndEnsureIPTables(ctx, forwardRules(config.network.toString()), opts.get('iptables-resync')),
      );
    }
  }

  try {
    writeSubnetFile(subnetFile, config.network, opts.get('ip-masq'), bn);
    log.info(T('main.go:317', 'main.go:379'), `Wrote subnet file to ${subnetFile}`);
  } catch (e) {
    log.warn(T('main.go:315', 'main.go:377'), `Failed to write subnet file: ${(e as Error).message}`);
  }

  log.info(T('main.go:321', 'main.go:383'), 'Running backend.');
  state.phase = 'running';
  state.watching = true;
  const running = bn.run(ctx);

  const result = await monitorLease(ctx, sm, bn, margin);
  if (V020 && result === 'interrupted') {
    log.error('main.go:397', 'CompleteLease execute error err: interrupted');
    cancel();
    log.info('main.go:404', 'Waiting for all goroutines to exit');
    goPanic(panicWatchLeases(bn instanceof VxlanNetwork));
    return;
  }
  if (result === 'interrupted') cancel();
  log.info('main.go:339', 'Waiting for all goroutines to exit');
  await running;
  if (result === 'interrupted') stoppingShutdownHandler();
  log.info('main.go:342', 'Exiting cleanly...');
  exitNow(0);
}

loadModules()
  .then(main)
  .catch((e) => {
    process.stderr.write(`panic: ${e?.stack ? e.stack : e}\n`);
    exitNow(2);
  });
