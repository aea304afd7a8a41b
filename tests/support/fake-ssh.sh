#!/bin/sh
# A stand-in for ssh in unit tests of lib/host/ssh.ts: it takes ssh's options and runs the
# remote line with sh on this machine, so SshHost's node-side scripts run for real without an
# sshd. Every call is appended to $FAKE_SSH_LOG (one line: the arguments, NUL-free).
#   ssh -G ...      prints $FAKE_SSH_G (default: what ssh says when nothing is configured)
#   ssh ... -N -f   the master: exits 0, or prints $FAKE_SSH_MASTER_FAIL and exits 255
#   ssh -O exit     exits 0
#   ssh ... -- HOST LINE   runs LINE with sh
[ -n "$FAKE_SSH_LOG" ] && printf '%s\n' "$*" >>"$FAKE_SSH_LOG"
master=0
for a in "$@"; do
  case $a in
    -G) printf '%s\n' "${FAKE_SSH_G:-stricthostkeychecking ask
connecttimeout none
serveraliveinterval 0}"; exit 0 ;;
    -O) exit 0 ;;
    -N) master=1 ;;
  esac
done
if [ "$master" = 1 ]; then
  if [ -n "$FAKE_SSH_MASTER_FAIL" ]; then printf '%s\n' "$FAKE_SSH_MASTER_FAIL" >&2; exit 255; fi
  exit 0
fi
while [ "$1" != -- ]; do shift; done
shift 2
exec sh -c "$1"
