#!/usr/bin/env bash
# Controlled-leak demo on a real Kamailio (Debian's 5.6 binary, -x qm):
# starts a private proxy with ci/demo/leak-demo.cfg (every request leaks one
# htable cell in shm, ON PURPOSE), takes a shm dump, drives sipp traffic,
# takes a second dump and prints what grew. 127.0.0.1 only; it stops exactly
# the kamailio it started.
#
#   bash ci/leak-demo.sh                      # 200 requests on 127.0.0.1:25090
#   LEAK_REQUESTS=1000 LEAK_PORT=5099 bash ci/leak-demo.sh
#   LEAK_KEEP=/tmp/leak bash ci/leak-demo.sh  # keep the dumps and the log there
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
if [ -n "${LEAK_KEEP:-}" ]; then
  work=$LEAK_KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d /tmp/kmemdbg-leak-demo.XXXXXX)
fi
ctl=$work/kamailio_ctl
log=$work/kamailio.log
rm -f "$ctl" "$work/before.log" "$work/after.log"

echo "== starting the leak demo proxy on 127.0.0.1:$port (ci/demo/leak-demo.cfg: a CONTROLLED leak)"
"$kamailio" -DD -E -x qm -m 64 -M 8 -f ci/demo/leak-demo.cfg \
  -A "LISTEN=udp:127.0.0.1:$port" -A "CTL=\"unix:$ctl\"" \
  -P "$work/kamailio.pid" -Y "$work" >"$log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "${LEAK_KEEP:-}" ] || rm -rf "$work"
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
[ -z "${LEAK_KEEP:-}" ] || echo "kept: $work/before.log $work/after.log $log"
