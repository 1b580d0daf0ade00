#!/usr/bin/env bash
# How long a no-build `kmemdbg convert` takes on a systemd box, health check
# included (the package binary already has DBG_SR_MEMORY: cfg + drop-in +
# restart + checks), side by side with what an operator would type instead
# (sed the cfg, write a drop-in, daemon-reload, restart, wait until active
# and until kamcmd answers). Target: kmemdbg under 10 s wall.
#
# Boots a real systemd as PID 1 of its own namespaces (like
# tests/support/sdbox.rs: private tmpfs on /run, /tmp, /var/tmp and
# /var/log/journal), holding /tmp/kmemdbg-sdbox.lock for its whole life.
# The host's /etc files it touches are restored byte for byte on exit.
# Not run by CI. Usage: ci/bench-convert-systemd.sh [RUNS] (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
BIN=${KMEMDBG_BIN:-$PWD/target/release/kmemdbg}
[ -x "$BIN" ] || BIN=$PWD/target/debug/kmemdbg
[ -x "$BIN" ] || { echo "build kmemdbg first (cargo build --release)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (namespaces, a systemd PID 1)" >&2; exit 2; }
for p in unshare nsenter kamcmd bc; do command -v "$p" >/dev/null || { echo "needs $p (ci/install-deps.sh)" >&2; exit 2; }; done

exec 9>/tmp/kmemdbg-sdbox.lock
flock 9

SAVE=$(mktemp -d)
CFG=/etc/kamailio/kamailio.cfg
DROPDIR=/etc/systemd/system/kamailio.service.d
cp -a "$CFG" "$SAVE/cfg"
[ -e "$DROPDIR" ] && { echo "$DROPDIR exists: this benchmark wants Debian's plain unit" >&2; exit 2; }
BOX=
cleanup() {
    [ -n "$BOX" ] && kill -KILL "$BOX" 2>/dev/null || true
    cp -a "$SAVE/cfg" "$CFG"
    rm -f "$CFG.kmemdbg-orig"
    rm -rf "$DROPDIR"
    rm -rf "$SAVE"
}
trap cleanup EXIT

boot() {
    unshare --pid --fork --kill-child --mount-proc --mount --uts --net env container=other sh -c '
        set -e; for d in /run /tmp /var/tmp /var/log/journal; do mount -t tmpfs tmpfs $d; done
        chmod 1777 /tmp /var/tmp; mkdir -p /run/lock
        exec /lib/systemd/systemd --system --log-target=null --show-status=no' </dev/null >/dev/null 2>&1 &
    local outer=$! i
    for i in $(seq 300); do
        BOX=$(pgrep -P "$outer" systemd || true)
        if [ -n "$BOX" ] && nsenter -t "$BOX" -a systemctl is-system-running 2>/dev/null | grep -qE '^(running|degraded)$'; then
            nsenter -t "$BOX" -a systemctl is-active --quiet kamailio && return 0
        fi
        sleep 0.1
    done
    echo "the box did not come up" >&2; exit 1
}
in_box() { nsenter -t "$BOX" -a "$@"; }
now() { date +%s.%N; }
# The operator's "is it up": ctl answers (bounded: 10 s).
rpc_ok() { local i; for i in $(seq 100); do in_box kamcmd core.uptime >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

k_times=(); s_times=()
for r in $(seq "$RUNS"); do
    # kmemdbg: discovery, plan, kamailio -c, restart, health check (argv, RPC, SIP, stability).
    boot
    t0=$(now)
    in_box "$BIN" convert --yes >"$SAVE/convert.out" 2>&1 || { cat "$SAVE/convert.out"; exit 1; }
    t1=$(now)
    grep -q "^restarted: the new setup is healthy" "$SAVE/convert.out"
    in_box sh -c 'tr "\0" " " < /proc/$(systemctl show -p MainPID --value kamailio)/cmdline' | grep -q -- "-x qm"
    k_times+=("$(echo "$t1 - $t0" | bc)")
    kill -KILL "$BOX"; BOX=; cp -a "$SAVE/cfg" "$CFG"; rm -f "$CFG.kmemdbg-orig"; rm -rf "$DROPDIR"

    # The operator's way: no pre-flight, no rollback, no argv check.
    boot
    t0=$(now)
    sed -i 's/^memlog=5$/memlog=2/' "$CFG"
    mkdir -p "$DROPDIR"
    printf '[Service]\nExecStart=\nExecStart=/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY -x qm\n' >"$DROPDIR/kmemdbg.conf"
    in_box systemctl daemon-reload
    in_box systemctl restart kamailio
    in_box systemctl is-active --quiet kamailio
    rpc_ok
    t1=$(now)
    s_times+=("$(echo "$t1 - $t0" | bc)")
    kill -KILL "$BOX"; BOX=; cp -a "$SAVE/cfg" "$CFG"; rm -rf "$DROPDIR"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
km=$(median "${k_times[@]}"); sm=$(median "${s_times[@]}")
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $RUNS runs each, binary $BIN"
echo "kmemdbg convert --yes (wall s): ${k_times[*]}   median $km"
echo "shell: sed + drop-in + daemon-reload + restart + is-active + kamcmd (wall s): ${s_times[*]}   median $sm"
echo "kmemdbg / shell (wall, medians): $(echo "scale=2; $km / $sm" | bc)x"
if [ "$(echo "$km < 10" | bc)" = 1 ]; then echo "kmemdbg convert under 10 s: PASS"; else echo "kmemdbg convert under 10 s: FAIL"; exit 1; fi
