#!/usr/bin/env bash
# The main job, end to end on a real Kamailio (fresh Debian, root): installs
# Kamailio and the tools, builds kmemdbg, starts a proxy on 127.0.0.1 the way
# a test box runs it (a daemon with a pid file and a copy of Debian's default
# cfg), converts it with `kmemdbg convert`, asks it for a memory dump, and
# ends with a summary of what changed and how to get dumps. The demo proxy is
# stopped by its PID at the end (KMEMDBG_DEMO_KEEP=1 leaves it running).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
cargo build --release --quiet
kmemdbg="$PWD/target/release/kmemdbg"
demo=/var/lib/kmemdbg-demo
port="${KMEMDBG_DEMO_PORT:-25060}"
mkdir -p "$demo/run"
cfg="$demo/kamailio.cfg" pidfile="$demo/kamailio.pid" log="$demo/kamailio.log"

stop_demo() {
  if [ -f "$pidfile" ] && [ "${KMEMDBG_DEMO_KEEP:-0}" != 1 ]; then
    pid=$(cat "$pidfile")
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/kamailio ]; then kill -TERM "$pid"; fi
  fi
}
stop_demo
# A fresh copy of Debian's default cfg (memlog=5, debug=2: dumps stay silent), on 127.0.0.1 only.
for f in "$cfg" "$cfg.kmemdbg-orig" "$pidfile.kmemdbg-argv"; do rm -f "$f"; done
sed "s|^# listen=udp:10.0.0.10:5060|listen=udp:127.0.0.1:$port|" /etc/kamailio/kamailio.cfg > "$cfg"
for _ in $(seq 100); do [ -f "$pidfile" ] || break; sleep 0.1; done
echo "== start kamailio as a daemon: -P $pidfile, log $log"
/usr/sbin/kamailio -E -f "$cfg" -P "$pidfile" -Y "$demo/run" -m 64 -M 8 </dev/null >>"$log" 2>&1
trap stop_demo EXIT

echo "== kmemdbg inspect"
"$kmemdbg" inspect
echo "== kmemdbg convert --check (exit 3: changes pending)"
set +e; "$kmemdbg" convert --cfg "$cfg" --pidfile "$pidfile" --check; rc=$?; set -e
[ "$rc" = 3 ] || { echo "expected exit 3, got $rc"; exit 1; }
echo "== kmemdbg convert --yes"
"$kmemdbg" convert --cfg "$cfg" --pidfile "$pidfile" --yes
echo "== kmemdbg convert --check (exit 0: converted)"
"$kmemdbg" convert --cfg "$cfg" --pidfile "$pidfile" --check

echo "== ask for a shm dump"
ctl="unix:$demo/run/kamailio_ctl"
before=$(wc -c < "$log")
kamcmd -s "$ctl" cfg.set_now_int core mem_dump_shm 1
for _ in $(seq 100); do tail -c +"$((before + 1))" "$log" | grep -q 'qm_sums\|qm_status' && break; sleep 0.1; done
lines=$(tail -c +"$((before + 1))" "$log" | grep -c 'qm_sums\|qm_status' || true)

echo
echo "== summary"
echo "proxy:    PID $(cat "$pidfile"): $(tr '\0' ' ' < "/proc/$(cat "$pidfile")/cmdline")"
echo "changed:  $cfg (diff against the kept original):"
diff -u "$cfg.kmemdbg-orig" "$cfg" | sed 's/^/          /' || true
echo "          command line: -x qm added (q_malloc: dumps name the allocating file and line)"
echo "dump:     $lines dump lines in $log after mem_dump_shm"
echo "dumps:    kamcmd -s $ctl cfg.set_now_int core mem_dump_shm 1        (shared memory)"
echo "          kamcmd -s $ctl cfg.set_now_int core mem_dump_pkg PID      (one process; see core.psx)"
echo "          kill -USR1 \$(cat $pidfile), or stop the proxy: summaries at shutdown"
echo "undo:     $kmemdbg revert --cfg $cfg --pidfile $pidfile --yes"
[ "$lines" -gt 0 ] || { echo "no dump lines in the log"; exit 1; }

echo
echo "== controlled-leak demo: a proxy that leaks on purpose, two dumps, what grew (ci/leak-demo.sh)"
KMEMDBG="$kmemdbg" bash ci/leak-demo.sh
