// The node's links, addresses, routes, neighbours and fdb entries, read through the Host with
// iproute2: one command each, whatever the cluster size.
// Old tools: the JSON form (`ip -j`) is asked first. Where it is missing (iproute2 4.11, CentOS
// 7's: exit 255 `Option "-j" is unknown`) or ignored (4.14-4.16 answer `ip -j route` in text),
// the answer is remembered on the Host, per kind of object, and the text form is read from then
// on (model/iproute-text.ts, which gives the same results as the JSON parsers):
//   - a modern iproute2 costs nothing extra: its JSON answer is the answer;
//   - 4.15's text answer to `ip -j route` is parsed as it is: no second process either;
//   - 4.11's refusal costs one short-lived process, once per Host: it says the whole `ip`
//     has no -j, so every `ip` kind not yet asked goes to text at once (4.11's `bridge -j`
//     does answer in JSON, and is asked for itself).

import { CommandError } from '../core/errors.ts';
import { parseIpAddr, type Interface } from '../model/interfaces.ts';
import {
  detectJsonForm,
  parseFdbText,
  parseIpAddrText,
  parseIpRouteText,
  parseNeighboursText,
} from '../model/iproute-text.ts';
import { parseIpRoute, type Route } from '../model/routes.ts';
import { parseFdb, parseNeighbours, type FdbEntry, type Neighbour } from '../model/vxlan.ts';
import type { Host } from './host.ts';

/** The kinds of object whose JSON form is detected apart (4.14-4.16 differ between them). */
export type IprouteKind = 'ip-route' | 'ip-addr' | 'ip-neigh' | 'bridge-fdb';
export type IprouteForm = 'json' | 'text';

const IP_KINDS: readonly IprouteKind[] = ['ip-route', 'ip-addr', 'ip-neigh'];

/** What each Host answered so far; a Host nobody holds any more takes its answers with it. */
const forms = new WeakMap<Host, Map<IprouteKind, IprouteForm>>();

function formsOf(host: Host): Map<IprouteKind, IprouteForm> {
  let m = forms.get(host);
  if (!m) {
    m = new Map();
    forms.set(host, m);
  }
  return m;
}

/** The form this Host is known to answer `kind` in; undefined until it has been asked. */
export function knownForm(host: Host, kind: IprouteKind): IprouteForm | undefined {
  return forms.get(host)?.get(kind);
}

interface Reading<T> {
  readonly kind: IprouteKind;
  /** the command, with -j */
  readonly json: readonly string[];
  /** the same command without -j */
  readonly text: readonly string[];
  readonly fromJson: (stdout: string) => T;
  readonly fromText: (stdout: string) => T;
  readonly why: string;
}

const run = (host: Host, argv: readonly string[], why: string) => host.run({ argv, why, readOnly: true });

async function readIproute<T>(host: Host, r: Reading<T>): Promise<T> {
  const known = formsOf(host);
  if (known.get(r.kind) === 'text') return r.fromText((await run(host, r.text, r.why)).stdout);
  let out: Awaited<ReturnType<Host['run']>>;
  try {
    out = await run(host, r.json, r.why);
  } catch (e) {
    if (!(e instanceof CommandError) || detectJsonForm(e) !== 'unsupported') throw e;
    // the tool has no -j at all: true of every kind this tool reads
    for (const k of r.kind === 'bridge-fdb' ? [r.kind] : IP_KINDS) if (!known.has(k)) known.set(k, 'text');
    known.set(r.kind, 'text');
    return r.fromText((await run(host, r.text, r.why)).stdout);
  }
  const form = detectJsonForm(out) === 'json' ? 'json' : 'text';
  known.set(r.kind, form);
  return form === 'json' ? r.fromJson(out.stdout) : r.fromText(out.stdout);
}

const detailedAddr = (prefix: readonly string[]): Reading<Interface[]> => ({
  kind: 'ip-addr',
  json: [...prefix, 'ip', '-j', '-d', 'addr', 'show'],
  text: [...prefix, 'ip', '-d', 'addr', 'show'],
  fromJson: parseIpAddr,
  fromText: parseIpAddrText,
  why: 'links, addresses and MTUs',
});

/** Every link with its MTU, kind, master and IPv4 addresses (`ip -d addr show`). */
export function readLinks(host: Host): Promise<Interface[]> {
  return readIproute(host, detailedAddr([]));
}

/**
 * The links inside another network namespace of the node (`ip netns exec NS ip -d addr show`):
 * doctor's look at a pod's MTU. The `ip` in there is the node's, so it answers as readLinks'.
 */
export function readNetnsLinks(host: Host, netns: string): Promise<Interface[]> {
  return readIproute(host, { ...detailedAddr(['ip', 'netns', 'exec', netns]), why: `links and MTUs in ${netns}` });
}

/** IPv4 addresses per interface (`ip -4 addr show`): which node this is, where the public IP lives. */
export function readAddresses(host: Host): Promise<Interface[]> {
  return readIproute(host, {
    kind: 'ip-addr',
    json: ['ip', '-j', '-4', 'addr', 'show'],
    text: ['ip', '-4', 'addr', 'show'],
    fromJson: parseIpAddr,
    fromText: parseIpAddrText,
    why: "this host's IPv4 addresses",
  });
}

/** The main routing table (`ip route show`). */
export function readRoutes(host: Host): Promise<Route[]> {
  return readIproute(host, {
    kind: 'ip-route',
    json: ['ip', '-j', 'route', 'show'],
    text: ['ip', 'route', 'show'],
    fromJson: parseIpRoute,
    fromText: parseIpRouteText,
    why: 'routes',
  });
}

export function readNeighbours(host: Host, dev: string): Promise<Neighbour[]> {
  return readIproute(host, {
    kind: 'ip-neigh',
    json: ['ip', '-j', 'neigh', 'show', 'dev', dev],
    text: ['ip', 'neigh', 'show', 'dev', dev],
    fromJson: parseNeighbours,
    fromText: parseNeighboursText,
    why: 'neighbours',
  });
}

export function readFdb(host: Host, dev: string): Promise<FdbEntry[]> {
  return readIproute(host, {
    kind: 'bridge-fdb',
    json: ['bridge', '-j', 'fdb', 'show', 'dev', dev],
    text: ['bridge', 'fdb', 'show', 'dev', dev],
    fromJson: parseFdb,
    fromText: parseFdbText,
    why: 'fdb entries',
  });
}
