#!/usr/bin/env bash
# How long `kmemdbg dump` takes for the summary capture of a box that holds
# 6000 registrations, logging to journald (where the fragment list, over
# 100,000 lines, would not pass the rate limit), side by side with what an
# operator would type for the same summary: set mem_summary 12, SIGUSR1 to
# main, poll journalctl until both summaries ended, save them, put
# mem_summary back. Target: kmemdbg under 5 s wall.
#
# Boots a real systemd as PID 1 of its own namespaces (like
# tests/support/sdbox.rs: private tmpfs on /run, /tmp, /var/tmp and
# /var/log/journal), holding /tmp/kmemdbg-sdbox.lock for its whole life;
# Debian's kamailio.service runs tests/fixtures/capture/registrar.cfg with
# -x qm through a drop-in (removed on exit), sipp registers 6000 AoRs.
# Not run by CI. Usage: ci/bench-capture-summary.sh [RUNS] (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BIN=${KMEMDBG_BIN:-$PWD/target/release/kmemdbg}
[ -x "$BIN" ] || BIN=$PWD/target/debug/kmemdbg
[ -x "$BIN" ] || { echo "build kmemdbg first (cargo build --release)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (namespaces, a systemd PID 1)" >&2; exit 2; }
for p in unshare nsenter kamcmd sipp bc; do command -v "$p" >/dev/null || { echo "needs $p (ci/install-deps.sh)" >&2; exit 2; }; done

exec 9>/tmp/kmemdbg-sdbox.lock
flock 9

DROPDIR=/etc/systemd/system/kamailio.service.d
DROPIN=$DROPDIR/zz-kmemdbg-bench.conf
[ -e "$DROPDIR" ] && { echo "$DROPDIR exists: this benchmark wants Debian's plain unit" >&2; exit 2; }
OUT=$(mktemp -d)
BOX=
cleanup() {
    [ -n "$BOX" ] && kill -KILL "$BOX" 2>/dev/null || true
    rm -rf "$DROPDIR" "$OUT"
}
trap cleanup EXIT

unshare --pid --fork --kill-child --mount-proc --mount --uts --net env container=other sh -c '
    set -e; for d in /run /tmp /var/tmp /var/log/journal; do mount -t tmpfs tmpfs $d; done
    chmod 1777 /tmp /var/tmp; mkdir -p /run/lock
    exec /lib/systemd/systemd --system --log-target=null --show-status=no' </dev/null >/dev/null 2>&1 &
outer=$!
for i in $(seq 300); do
    BOX=$(pgrep -P "$outer" systemd || true)
    if [ -n "$BOX" ] && nsenter -t "$BOX" -a systemctl is-system-running 2>/dev/null | grep -qE '^(running|degraded)$'; then break; fi
    sleep 0.1
done
[ -n "$BOX" ] || { echo "the box did not come up" >&2; exit 1; }
in_box() { nsenter -t "$BOX" -a "$@"; }
now() { date +%s.%N; }
CTL=unix:/run/kamailio/kamailio_ctl

in_box sh -c 'mkdir -p /run/kmemdbg-bench && chmod 755 /run/kmemdbg-bench && cat > /run/kmemdbg-bench/registrar.cfg' < tests/fixtures/capture/registrar.cfg
in_box sh -c 'cat > /run/kmemdbg-bench/reg.xml' < tests/fixtures/sipp/register-distinct-aor.xml
mkdir -p "$DROPDIR"
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f /run/kmemdbg-bench/registrar.cfg -m 128 -M 8 -x qm\n' >"$DROPIN"
in_box systemctl daemon-reload
in_box systemctl restart kamailio
for i in $(seq 100); do in_box kamcmd -s $CTL core.uptime >/dev/null 2>&1 && break; sleep 0.1; done
in_box sipp -sf /run/kmemdbg-bench/reg.xml -key aor a -m 6000 -r 3000 -timeout 90s -nostdin \
    -i 127.0.0.1 127.0.0.1:5060 >"$OUT/sipp.out" 2>&1 || { tail -20 "$OUT/sipp.out"; exit 1; }
users=$(in_box kamcmd -s $CTL stats.get_statistics all | awk -F' = ' '/usrloc:registered_users/ {print $2}')
ms=$(in_box kamcmd -s $CTL cfg.get core mem_summary)
main=$(in_box systemctl show -p MainPID --value kamailio)

k_times=(); s_times=()
for r in $(seq "$RUNS"); do
    t0=$(now)
    in_box "$BIN" dump --journal kamailio --ctl $CTL --out /run/kmemdbg-bench/k$r.log --json >"$OUT/k$r.json" 2>"$OUT/k$r.err" \
        || { cat "$OUT/k$r.json" "$OUT/k$r.err"; exit 1; }
    t1=$(now)
    grep -q '"shape": "summary"' "$OUT/k$r.json"
    grep -q '"complete": true' "$OUT/k$r.json"
    k_times+=("$(echo "$t1 - $t0" | bc)")

    # The operator's way (no budget check, no loss check, no restore on Ctrl-C).
    t0=$(now)
    cursor=$(in_box journalctl -u kamailio -n 1 -o cat --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
    in_box kamcmd -s $CTL cfg.set_now_int core mem_summary 12
    in_box kill -USR1 "$main"
    for i in $(seq 200); do
        n=$(in_box journalctl -u kamailio --after-cursor "$cursor" -o cat --no-pager | grep -c 'qm_sums(): -----------------------------' || true)
        [ "$n" -ge 2 ] && break
        sleep 0.1
    done
    in_box journalctl -u kamailio --after-cursor "$cursor" -o short-iso --no-pager >"$OUT/s$r.log"
    grep -q 'new_ucontact(' "$OUT/s$r.log"
    in_box kamcmd -s $CTL cfg.set_now_int core mem_summary "$ms"
    t1=$(now)
    s_times+=("$(echo "$t1 - $t0" | bc)")
done
contacts=$(in_box awk '/new_ucontact\(/ {for (i=1;i<=NF;i++) if ($i ~ /^count=/) {sub("count=","",$i); c=$i; if (c=="") c=$(i+1)}} END {print c}' /run/kmemdbg-bench/k1.log)
[ "$(in_box kamcmd -s $CTL cfg.get core mem_summary)" = "$ms" ] || { echo "mem_summary not put back" >&2; exit 1; }

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
km=$(median "${k_times[@]}"); sm=$(median "${s_times[@]}")
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $RUNS runs each, binary $BIN"
echo "box: $users registered users; the summary's new_ucontact count: $contacts"
echo "kmemdbg dump --journal kamailio (summary, wall s): ${k_times[*]}   median $km"
echo "shell: set mem_summary + SIGUSR1 + poll journalctl + save + put back (wall s): ${s_times[*]}   median $sm"
echo "kmemdbg / shell (wall, medians): $(echo "scale=2; $km / $sm" | bc)x"
if [ "$(echo "$km < 5" | bc)" = 1 ]; then echo "summary capture under 5 s: PASS"; else echo "summary capture under 5 s: FAIL"; exit 1; fi
