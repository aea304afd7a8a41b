// flanneld's log, read back: glog lines parsed, and the known error lines (docs/flannel-facts.md,
// error log lines) mapped to what they mean and what fixes them. `start` prints these
// when flanneld does not come up; `doctor` uses them as evidence.

export interface LogLine {
  readonly level: 'I' | 'W' | 'E' | 'F' | '?';
  /** `main.go:382` */
  readonly source?: string;
  readonly message: string;
  readonly raw: string;
}

const GLOG = /^([IWEF])\d{4} [\d:.]+\s+\d+ ([\w.-]+:\d+)\] (.*)$/;

export function parseLogLine(raw: string): LogLine {
  const m = GLOG.exec(raw);
  if (!m) return { level: '?', message: raw, raw };
  return { level: m[1] as LogLine['level'], source: m[2], message: m[3]!, raw };
}

export interface KnownLogError {
  /** stable id, shared with doctor findings */
  readonly id: string;
  readonly pattern: RegExp;
  readonly meaning: string;
  readonly fix: string;
}

// Order matters: the first match wins, specific before general.
export const KNOWN_LOG_ERRORS: readonly KnownLogError[] = [
  {
    id: 'config-v2-missing',
    pattern: /Couldn't fetch network config: 100: Key not found/,
    meaning:
      'flanneld (v0.11-v0.17, etcd v2 API) finds no network config in the v2 key space: it was never written, or it was written with the v3 API (`etcdctl put`), which v0.11 cannot see',
    fix: 'write it through v2: scripts/etcd-config.ts --etcd-api v2 --network 172.7.0.0/16 --backend host-gw ...',
  },
  {
    id: 'config-v3-missing',
    pattern: /flannel config not found in etcd store\. Did you create your config using etcdv3 API\?/,
    meaning:
      'flanneld (v0.18+, etcd v3 API) finds no network config in the v3 key space: it was written only with the v2 API (`etcdctl set`)',
    fix: 'write it through v3: scripts/etcd-config.ts --etcd-api v3 ... (or --migrate v2-to-v3)',
  },
  {
    id: 'etcd-v2-disabled',
    pattern: /response is invalid json/,
    meaning:
      'etcd answers the v2 keys API with a plain-text 404: etcd 3.4+ runs without --enable-v2=true, and flanneld v0.11 speaks only v2',
    fix: 'start every etcd member with --enable-v2=true (etcd 3.5 is the last release with v2), or upgrade flannel to v0.18+ (v3)',
  },
  {
    id: 'tls-unknown-ca',
    pattern: /x509: certificate signed by unknown authority/,
    meaning:
      "flanneld does not trust etcd's server certificate: --etcd-cafile is missing or is not the CA that signed etcd's certificate",
    fix: 'copy the cluster CA again (scripts/certs.ts --from ...) and check --etcd-cafile=./cert/ca.pem in flanneld.sh',
  },
  {
    id: 'tls-bad-certificate',
    pattern: /remote error: tls: bad certificate|client didn't provide a certificate/,
    meaning:
      'etcd refused the client certificate: --etcd-certfile/--etcd-keyfile are missing, or the certificate is not signed by the CA etcd trusts (--trusted-ca-file)',
    fix: 'copy client.pem AND client-key.pem (the runbook forgets the key) with scripts/certs.ts, and check both flags in flanneld.sh',
  },
  {
    id: 'tls-scheme',
    pattern: /error #0: (unexpected )?EOF$|malformed HTTP response/,
    meaning:
      'the endpoint scheme does not match the port: http:// to a TLS port (or the connection was cut mid-answer)',
    fix: 'use https:// endpoints for a TLS etcd (--etcd-endpoints=https://10.4.7.12:2379,...)',
  },
  {
    id: 'etcd-unreachable',
    pattern:
      /etcd cluster is unavailable or misconfigured; error #0: dial tcp [^:]+:\d+: (connect: connection refused|i\/o timeout|connect: no route to host)/,
    meaning: 'no etcd endpoint answers: etcd is down, or the endpoints/ports are wrong, or a firewall rejects 2379',
    fix: 'check etcd (etcdctl endpoint health) and --etcd-endpoints; allow tcp/2379 in INPUT on the etcd hosts',
  },
  {
    id: 'iface-missing',
    pattern: /Could not find valid interface matching|Failed to find interface to use/,
    meaning: 'the --iface given to flanneld does not exist on this host',
    fix: 'fix --iface in flanneld.sh (scripts/start.ts --iface eth0 ...)',
  },
  {
    id: 'healthz-port-busy',
    pattern: /Start healthz server error\. listen tcp .*: bind: address already in use/,
    meaning:
      'another process (usually a second flanneld) already holds the healthz port; this flanneld panicked (exit 2, which the runbook ini counts as expected)',
    fix: 'find it with `ss -ltnp | grep 2401` and stop the duplicate (supervisorctl status)',
  },
  {
    id: 'lease-revoked',
    pattern: /Lease has been revoked/,
    meaning: "this node's lease was deleted from etcd while flanneld ran; flanneld shut down",
    fix: 'restart flanneld through supervisor (supervisorctl restart PROGRAM); it acquires a lease again',
  },
  {
    id: 'hostgw-nat',
    pattern: /differs from interface IP|NAT, which is not supported by host-gw/,
    meaning: 'host-gw needs --public-ip to be the address of --iface (no NAT between nodes)',
    fix: 'set --public-ip to the interface address, or use the vxlan backend',
  },
  {
    id: 'route-unreachable',
    pattern: /Error adding route to .*(network is unreachable|invalid argument)|Error (adding|creating) route/,
    meaning: 'the kernel refused a host-gw route: the peer is not on this L2 segment, so it cannot be a next hop',
    fix: 'host-gw needs every node on one L2 segment; use vxlan, or vxlan with "DirectRouting": true',
  },
  {
    id: 'binary-not-executable',
    pattern: /exec: \S*flanneld: Permission denied/,
    meaning:
      'flanneld.sh cannot run flanneld: the binary is not executable (chmod -x, a copy that lost its mode, a noexec mount); supervisord retries, then gives up (FATAL)',
    fix: 'scripts/install.ts sees the broken release and puts it back (run it with the release you installed), then scripts/start.ts',
  },
  {
    id: 'binary-missing',
    pattern: /exec: \S*flanneld: (not found|No such file or directory)/,
    meaning:
      'flanneld.sh cannot find flanneld in /opt/flannel: the release is missing or the /opt/flannel link points at nothing',
    fix: 'scripts/install.ts installs the release and switches /opt/flannel to it, then scripts/start.ts',
  },
  {
    id: 'sigquit',
    pattern: /^SIGQUIT: quit/,
    meaning:
      "flanneld was stopped with SIGQUIT (the runbook's stopsignal=QUIT): Go dumps its goroutines and exits 2, which exitcodes=0,2 accepts",
    fix: 'nothing to fix; stopsignal=TERM gives a clean shutdown log instead',
  },
  {
    id: 'panic',
    pattern: /^panic: /,
    meaning: 'flanneld crashed (Go panic); supervisord restarts it, and exitcodes=0,2 hides exit 2 from its logs',
    fix: 'read the lines just before the panic; v0.20 also panics on SIGTERM and on a revoked lease',
  },
];

export interface ExplainedLine {
  readonly line: LogLine;
  readonly known?: KnownLogError;
}

/** Explain the error/warning lines of a log tail (same error repeated: kept once, last one). */
export function explainLog(text: string): ExplainedLine[] {
  const seen = new Map<string, ExplainedLine>();
  for (const raw of text.split('\n')) {
    if (!raw.trim()) continue;
    const line = parseLogLine(raw);
    const known = KNOWN_LOG_ERRORS.find((k) => k.pattern.test(line.message) || k.pattern.test(raw));
    if (!known && line.level !== 'E' && line.level !== 'F') continue;
    const key = known?.id ?? line.message;
    seen.delete(key);
    seen.set(key, { line, known });
  }
  return [...seen.values()];
}

/** Human lines for a report: the log line, then what it means and the fix. */
export function formatExplained(items: readonly ExplainedLine[]): string {
  return items
    .map(({ line, known }) =>
      known
        ? `  ${line.raw}\n    -> ${known.meaning}\n    fix: ${known.fix}`
        : `  ${line.raw}\n    -> an error line this toolkit does not know; read it above`,
    )
    .join('\n');
}
