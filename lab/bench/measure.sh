#!/usr/bin/env bash
# The benchmark's stopwatch, run INSIDE a lab namespace (ip netns exec NS bash measure.sh ...),
# so that neither `ip netns exec` nor the bench's own node process is in the figures.
#
#   measure.sh RUNS WARMUP < JOBS
#
# JOBS: one job per line, three fields separated by \x1f: LABEL, SETUP (a shell snippet run
# untimed before every run of the job, e.g. the `ip -batch` that deletes the routes a --fix
# must restore; empty for none), COMMAND (a shell-quoted command line).
# The jobs are run round-robin, WARMUP untimed rounds then RUNS timed rounds, so the things
# compared are measured side by side in time (a machine whose load changes during the bench
# shifts them alike). Prints one line per timed run: `LABEL WALL_US MAXRSS_KB STATUS`.
# Wall time: bash's $EPOCHREALTIME (microseconds) around the process; peak RSS: GNU time's %M
# (the largest resident set of the process or any of its children). GNU time's own
# fork+exec (about 1 ms) is in every figure alike, the floor and `node -e 0` included.
# Exit: 0, 2 on a malformed job, 3 when a SETUP fails.
set -u
export LC_ALL=C
runs=$1 warmup=$2
labels=() setups=() cmds=()
while IFS=$'\x1f' read -r label setup cmd; do
  [ -n "$label" ] || continue
  [ -n "$cmd" ] || { echo "measure: job $label has no command" >&2; exit 2; }
  labels+=("$label") setups+=("$setup") cmds+=("$cmd")
done
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.err"' EXIT
for ((i = 0; i < warmup + runs; i++)); do
  for ((j = 0; j < ${#cmds[@]}; j++)); do
    if [ -n "${setups[j]}" ]; then
      eval "${setups[j]}" </dev/null >/dev/null 2>"$tmp.err" || { echo "measure: setup of ${labels[j]} failed: $(head -c 300 "$tmp.err")" >&2; exit 3; }
    fi
    s=$EPOCHREALTIME
    eval "/usr/bin/time -f %M -o \"\$tmp\" ${cmds[j]}" </dev/null >/dev/null 2>&1
    st=$?
    e=$EPOCHREALTIME
    ((i < warmup)) && continue
    echo "${labels[j]} $((10#${e/./} - 10#${s/./})) $(tail -n 1 "$tmp") $st"
  done
done
