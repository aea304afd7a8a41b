#!/usr/bin/env bash
# Installs what the lab and the tests need, only when it is missing:
# Debian packages (etcd, supervisor, iproute2, iptables, sshd, ping, fping, openssl) and npm deps.
# Safe to run again: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have etcd        || need+=(etcd-server)
have etcdctl     || need+=(etcd-client)
have supervisord || need+=(supervisor)
have ip          || need+=(iproute2)
have iptables    || need+=(iptables)
have /usr/sbin/sshd || need+=(openssh-server)
have ssh         || need+=(openssh-client)
have scp         || need+=(openssh-client)
have ping        || need+=(iputils-ping)
# verify-ping's prober for many targets (it falls back to ping without it; the tests run both)
have fping       || need+=(fping)
have openssl     || need+=(openssl)
have curl        || need+=(curl)
have tar         || need+=(tar)
have ps          || need+=(procps)
# the benchmark (npm run bench): independent child-process counts and peak RSS
have strace      || need+=(strace)
have /usr/bin/time || need+=(time)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${need[*]}; run as root or: apt-get install ${need[*]}" >&2
    exit 2
  fi
  echo "setup: installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # policy-rc.d keeps the packages' own services (etcd, sshd, supervisor) from starting on the host
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; made_policy=1; fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 || { [ $made_policy = 1 ] && rm -f "$policy"; exit 3; }
  [ $made_policy = 1 ] && rm -f "$policy"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
