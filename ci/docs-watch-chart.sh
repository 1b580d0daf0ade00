#!/usr/bin/env bash
# Regenerates docs/watch-example.svg (the chart in the README) from a real
# run: Debian's kamailio on 127.0.0.1 with a cfg where every call holds a tm
# transaction for a few seconds (memory that comes back) and also stores an
# htable entry that never expires (a leak), two bounded sipp traffic phases,
# and `kmemdbg watch` sampling the whole time. Needs ci/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
kmemdbg=$PWD/target/debug/kmemdbg
work=$(mktemp -d)
port=${KMEMDBG_DEMO_PORT:-25470}
cat > "$work/kamailio.cfg" <<CFG
#!KAMAILIO
debug=2
log_stderror=yes
memdbg=5
memlog=5
listen=udp:127.0.0.1:$port
children=4
loadmodule "ctl.so"
loadmodule "cfg_rpc.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "pv.so"
loadmodule "kex.so"
loadmodule "htable.so"
modparam("ctl", "binrpc", "unix:$work/ctl")
modparam("htable", "htable", "calls=>size=10;")
request_route {
    if (method=="ACK") { exit; }
    \$sht(calls=>\$ci) = "$(printf 'leaked-%.0s' $(seq 1 100))";
    t_newtran();
    t_reply("200", "OK");
    exit;
}
CFG
/usr/sbin/kamailio -DD -E -f "$work/kamailio.cfg" -P "$work/pid" -Y "$work" -x qm -m 64 -M 8 >"$work/log" 2>&1 &
kpid=$!
trap 'kill $kpid 2>/dev/null || true; wait $kpid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -S "$work/ctl" ] && break; sleep 0.1; done
"$kmemdbg" watch --ctl "$work/ctl" --interval 2s --duration 110s \
  --csv "$work/watch.csv" --plot docs/watch-example.svg > "$work/watch.out" &
wpid=$!
phase() { timeout 60 sipp -sn uac "127.0.0.1:$port" -r "$1" -m "$2" -d 0 -timeout 50s -nostdin \
  -trace_err -error_file "$work/sipp.err" >/dev/null 2>&1 || true; }
sleep 10; phase 40 1200   # ~30 s of calls
sleep 20; phase 80 1600   # ~20 s, twice the rate
wait $wpid
tail -n 12 "$work/watch.out"
if command -v rsvg-convert >/dev/null; then rsvg-convert -o "$work/watch.png" docs/watch-example.svg && echo "png: $work/watch.png (kept until exit)"; fi
echo "chart: docs/watch-example.svg"
