#!/usr/bin/env bash
# The main job, end to end on a real Kamailio (fresh Debian, root): installs
# Kamailio and the tools, builds kmemdbg, starts a proxy on 127.0.0.1 the way
# a test box runs it (a daemon with a pid file and a copy of Debian's default
# cfg), converts it with `kmemdbg convert`, asks it for a memory dump, and
# ends with a summary of what changed and how to get dumps. The demo proxy is
# stopped by its PID at the end (KMEMDBG_DEMO_KEEP=1 leaves it running).
#
# Two paths:
#   ./ci/demo.sh           Debian's packaged kamailio (already built with
#                          DBG_SR_MEMORY): convert fixes the cfg and run-time
#                          options only; then the controlled-leak demo.
#   ./ci/demo.sh --source  (or KMEMDBG_DEMO_SOURCE=1) the source-build path: the
#                          box runs a kamailio built from Debian's 5.6.3 source
#                          package WITHOUT memory debugging (MEMDBG=0, installed
#                          in /opt/kmemdbg-demo, as a production build would be);
#                          `convert --source` patches a copy of that tree, rebuilds
#                          it (core + the modules the cfg loads), installs it over
#                          the old binary and restarts the proxy on it. Takes
#                          minutes: two builds of the core and 20 modules.
set -euo pipefail
cd "$(dirname "$0")/.."
source_mode="${KMEMDBG_DEMO_SOURCE:-0}"
case "${1:-}" in
  --source) source_mode=1 ;;
  "") ;;
  *) echo "usage: ci/demo.sh [--source]" >&2; exit 2 ;;
esac
bash ci/install-deps.sh
cargo build --release --quiet
kmemdbg="$PWD/target/release/kmemdbg"

if [ "$source_mode" = 1 ]; then
  demo=/var/lib/kmemdbg-demo-source
  port="${KMEMDBG_DEMO_PORT:-25062}"
  prefix="${KMEMDBG_DEMO_PREFIX:-/opt/kmemdbg-demo}"
  binary="$prefix/sbin/kamailio"
  tree="$demo/kamailio-5.6.3"
  # What Debian's default cfg loads (no WITH_* defines): the build's --modules.
  modules=jsonrpcs,kex,corex,tm,tmx,sl,rr,pv,maxfwd,usrloc,registrar,textops,textopsx,siputils,xlog,sanity,ctl,cfg_rpc,acc,counters
else
  demo=/var/lib/kmemdbg-demo
  port="${KMEMDBG_DEMO_PORT:-25060}"
  binary=/usr/sbin/kamailio
fi
mkdir -p "$demo/run"
cfg="$demo/kamailio.cfg" pidfile="$demo/kamailio.pid" log="$demo/kamailio.log"

stop_demo() {
  if [ -f "$pidfile" ] && [ "${KMEMDBG_DEMO_KEEP:-0}" != 1 ]; then
    pid=$(cat "$pidfile")
    # `make install` replaces the binary under a running proxy: "(deleted)".
    case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in
      "$binary" | "$binary (deleted)") kill -TERM "$pid" ;;
    esac
  fi
}
stop_demo
for _ in $(seq 100); do [ -f "$pidfile" ] || break; sleep 0.1; done
# A fresh copy of Debian's default cfg (memlog=5, debug=2: dumps stay silent), on 127.0.0.1 only.
for f in "$cfg" "$cfg.kmemdbg-orig" "$pidfile.kmemdbg-argv"; do rm -f "$f"; done
sed "s|^# listen=udp:10.0.0.10:5060|listen=udp:127.0.0.1:$port|" /etc/kamailio/kamailio.cfg > "$cfg"

convert_args=(--cfg "$cfg" --pidfile "$pidfile")
if [ "$source_mode" = 1 ]; then
  echo "== Debian's kamailio source package (ci/fetch-sources.sh: apt-get source kamailio=5.6.3-2)"
  KMEMDBG_SRC_VERSIONS="${KMEMDBG_SRC_VERSIONS:-5.6.3-2}" bash ci/fetch-sources.sh
  pristine="${KMEMDBG_SRC_CACHE:-/var/cache/kmemdbg/src}/kamailio-5.6.3"
  # Never build in the cache: a fresh copy, and a fresh prefix (only one this demo made).
  if [ -e "$prefix" ] && [ ! -f "$prefix/.kmemdbg-demo" ]; then
    echo "$prefix exists and was not made by this demo; set KMEMDBG_DEMO_PREFIX to a new directory" >&2
    exit 1
  fi
  rm -rf "$tree" "$prefix"
  mkdir -p "$prefix" && touch "$prefix/.kmemdbg-demo"
  cp -a "$pristine" "$tree"
  rm -f "$tree/.kmemdbg-complete"
  echo "== the box: kamailio built from $tree WITHOUT memory debugging, installed in $prefix"
  sed -i 's/^MEMDBG ?= 1$/MEMDBG ?= 0/' "$tree/src/Makefile.defs"
  grep -q '^MEMDBG ?= 0$' "$tree/src/Makefile.defs"
  all=$(ls "$tree/src/modules" | tr '\n' ' ')
  box_log="$demo/box-build.log"
  echo "   make cfg PREFIX=$prefix include_modules=\"${modules//,/ }\"; make -j$(nproc) all; make install (log: $box_log)"
  ( cd "$tree/src"
    make cfg PREFIX="$prefix" include_modules="${modules//,/ }" exclude_modules="$all"
    make -j"$(nproc)" all
    make install ) >"$box_log" 2>&1 || { tail -n 30 "$box_log"; exit 1; }
  echo "== kmemdbg verify --memdebug on the box's binary (exit 1: no memory debugging)"
  set +e; "$kmemdbg" verify --binary "$binary" --memdebug; rc=$?; set -e
  [ "$rc" = 1 ] || { echo "expected exit 1, got $rc"; exit 1; }
  convert_args=(--source "$tree" --modules "$modules" --install --prefix "$prefix" "${convert_args[@]}")
fi

echo "== start kamailio as a daemon: $binary -P $pidfile, log $log"
"$binary" -E -f "$cfg" -P "$pidfile" -Y "$demo/run" -m 64 -M 8 </dev/null >>"$log" 2>&1
trap stop_demo EXIT

echo "== kmemdbg inspect --binary $binary"
"$kmemdbg" inspect --binary "$binary"
echo "== kmemdbg convert ${convert_args[*]} --check (exit 3: changes pending)"
set +e; "$kmemdbg" convert "${convert_args[@]}" --check; rc=$?; set -e
[ "$rc" = 3 ] || { echo "expected exit 3, got $rc"; exit 1; }
echo "== kmemdbg convert ${convert_args[*]} --yes"
"$kmemdbg" convert "${convert_args[@]}" --yes
echo "== kmemdbg convert ${convert_args[*]} --check (exit 0: converted)"
"$kmemdbg" convert "${convert_args[@]}" --check

echo "== ask for a shm dump"
ctl="unix:$demo/run/kamailio_ctl"
before=$(wc -c < "$log")
kamcmd -s "$ctl" cfg.set_now_int core mem_dump_shm 1
for _ in $(seq 100); do tail -c +"$((before + 1))" "$log" | grep -q 'qm_sums\|qm_status' && break; sleep 0.1; done
lines=$(tail -c +"$((before + 1))" "$log" | grep -c 'qm_sums\|qm_status' || true)

echo
echo "== summary"
echo "proxy:    PID $(cat "$pidfile"): $(tr '\0' ' ' < "/proc/$(cat "$pidfile")/cmdline")"
if [ "$source_mode" = 1 ]; then
  echo "binary:   $binary rebuilt from $tree with memory debugging and installed:"
  "$binary" -V | grep -o 'DBG_SR_MEMORY' | head -n1 | sed 's/^/          built with /'
  echo "          source: Debian's kamailio 5.6.3 source package; patch backups: $tree/src/*.kmemdbg-orig"
  echo "          build log: $tree/kmemdbg-build.log (the box's own build: $box_log)"
fi
echo "changed:  $cfg (diff against the kept original):"
diff -u "$cfg.kmemdbg-orig" "$cfg" | sed 's/^/          /' || true
echo "          command line: -x qm added (q_malloc: dumps name the allocating file and line)"
echo "dump:     $lines dump lines in $log after mem_dump_shm"
echo "dumps:    kamcmd -s $ctl cfg.set_now_int core mem_dump_shm 1        (shared memory)"
echo "          kamcmd -s $ctl cfg.set_now_int core mem_dump_pkg PID      (one process; see core.psx)"
echo "          kill -USR1 \$(cat $pidfile), or stop the proxy: summaries at shutdown"
if [ "$source_mode" = 1 ]; then
  echo "undo:     $kmemdbg revert --cfg $cfg --source $tree --pidfile $pidfile --yes"
  echo "          (cfg, command line, the tree's patch, and the install: the files it replaced in $prefix"
  echo "          come back from their NAME.kmemdbg-orig copies, the ones it added are removed)"
else
  echo "undo:     $kmemdbg revert --cfg $cfg --pidfile $pidfile --yes"
fi
[ "$lines" -gt 0 ] || { echo "no dump lines in the log"; exit 1; }

if [ "$source_mode" != 1 ]; then
  echo
  echo "== controlled-leak demo: a proxy that leaks on purpose, two dumps, what grew (ci/leak-demo.sh)"
  KMEMDBG="$kmemdbg" bash ci/leak-demo.sh
fi
