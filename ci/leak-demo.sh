#!/usr/bin/env bash
# Controlled-leak demo on a real Kamailio (Debian's 5.6 binary, -x qm):
# starts a private proxy with ci/demo/leak-demo.cfg (every request leaks one
# htable cell in shm, ON PURPOSE), takes a shm dump, drives sipp traffic,
# takes a second dump and prints what grew. 127.0.0.1 only; it stops exactly
# the kamailio it started. The dumps and the log stay in LEAK_DIR (default
# /tmp/kmemdbg-leak-demo, emptied of an earlier run's files first), with the
# commands to read them again.
#
#   bash ci/leak-demo.sh                      # 200 requests on 127.0.0.1:25090
#   LEAK_REQUESTS=1000 LEAK_PORT=5099 bash ci/leak-demo.sh
#   LEAK_DIR=/var/tmp/leak bash ci/leak-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
requests=${LEAK_REQUESTS:-200}
port=${LEAK_PORT:-25090}
kamailio=${KAMAILIO:-/usr/sbin/kamailio}
kmemdbg=${KMEMDBG:-$repo/target/release/kmemdbg}
if [ ! -x "$kmemdbg" ]; then
  cargo build --release --quiet
fi
kmemdbg=$(realpath "$kmemdbg")
work=$(realpath -m "${LEAK_DIR:-${LEAK_KEEP:-/tmp/kmemdbg-leak-demo}}")
mkdir -p "$work"
ctl=$work/kamailio_ctl
log=$work/kamailio.log
rm -f "$ctl" "$work/before.log" "$work/after.log" "$log" "$work/sipp.out" "$work/kamailio.pid"

echo "== starting the leak demo proxy on 127.0.0.1:$port (ci/demo/leak-demo.cfg: a CONTROLLED leak)"
"$kamailio" -DD -E -x qm -m 64 -M 8 -f ci/demo/leak-demo.cfg \
  -A "LISTEN=udp:127.0.0.1:$port" -A "CTL=\"unix:$ctl\"" \
  -P "$work/kamailio.pid" -Y "$work" >"$log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap cleanup EXIT
# Ready when the ctl socket exists (bounded: 20 s).
for _ in $(seq 200); do
  [ -S "$ctl" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "kamailio exited; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -S "$ctl" ] || { echo "no ctl socket after 20 s" >&2; exit 1; }

dump() {
  "$kmemdbg" dump --shm --ctl "$ctl" --stderr "$log" --timeout 15 --out "$1"
}
echo "== kmemdbg dump --shm (before)"
dump "$work/before.log"
echo "== sipp: $requests OPTIONS, one new Call-ID each"
(cd "$work" && sipp -sf "$repo/tests/fixtures/sipp/options-unique-callid.xml" \
  -m "$requests" -r 200 -timeout 60s -nostdin -i 127.0.0.1 "127.0.0.1:$port" >sipp.out 2>&1) \
  || { tail -20 "$work/sipp.out" >&2; exit 1; }
echo "== kmemdbg dump --shm (after)"
dump "$work/after.log"
echo "== what grew"
"$kmemdbg" diff --top 5 "$work/before.log" "$work/after.log"
cleanup
trap - EXIT
echo
echo "left behind in $work (the leak demo proxy is stopped):"
echo "  before.log, after.log   the two shm dumps"
echo "  kamailio.log            the proxy's log; sipp.out: sipp's"
echo "read them again (works as pasted):"
echo "  $kmemdbg diff $work/before.log $work/after.log"
echo "  $kmemdbg analyze $work/after.log --top 5"
echo "remove them: rm -r $work"
