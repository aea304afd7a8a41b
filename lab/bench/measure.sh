#!/usr/bin/env bash
# The benchmark's stopwatch, run INSIDE a lab namespace (ip netns exec NS bash measure.sh ...),
# so that neither `ip netns exec` nor the bench's own node process is in the figures.
#
#   measure.sh RUNS WARMUP SETUP -- ARGV...
#
# Runs ARGV WARMUP times untimed, then RUNS times timed; before every run it evals SETUP (a
# shell snippet, untimed, e.g. the `ip -batch` that deletes the routes a --fix must restore;
# '' for none). Prints one line per timed run: `WALL_US MAXRSS_KB STATUS`.
# Wall time: bash's $EPOCHREALTIME (microseconds) around the process; peak RSS: GNU time's %M
# (the largest resident set of the process or any of its children). GNU time's own
# fork+exec (about 1 ms) is in every figure alike, the floor and `node -e 0` included.
# Exit: 0, or 3 when SETUP fails.
set -u
export LC_ALL=C
runs=$1 warmup=$2 setup=$3
shift 3
[ "${1:-}" = -- ] && shift
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for ((i = 0; i < warmup + runs; i++)); do
  if [ -n "$setup" ]; then
    eval "$setup" >/dev/null 2>"$tmp.err" || { echo "measure: setup failed: $(head -c 300 "$tmp.err")" >&2; rm -f "$tmp.err"; exit 3; }
    rm -f "$tmp.err"
  fi
  s=$EPOCHREALTIME
  /usr/bin/time -f %M -o "$tmp" "$@" >/dev/null 2>&1
  st=$?
  e=$EPOCHREALTIME
  ((i < warmup)) && continue
  echo "$((10#${e/./} - 10#${s/./})) $(tail -n 1 "$tmp") $st"
done
