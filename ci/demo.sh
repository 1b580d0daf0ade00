#!/usr/bin/env bash
# The main job, end to end on a real Kamailio (fresh Debian, root): installs
# Kamailio and the tools, builds kmemdbg, starts a proxy on 127.0.0.1 the way
# a test box runs it (a daemon with a pid file and a copy of Debian's default
# cfg), converts it with `kmemdbg convert`, asks it for a memory dump, and
# ends with a summary: what changed, the dump it saved, the commands to go on
# (with the path of the kmemdbg it built, so they work as pasted) and what it
# leaves behind. The demo proxy keeps running, so that those commands work
# (KMEMDBG_DEMO_STOP=1 stops it at the end, by its PID). KMEMDBG=PATH uses that
# kmemdbg binary instead of building one.
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
if [ -n "${KMEMDBG:-}" ]; then
  kmemdbg=$(realpath "$KMEMDBG")
else
  cargo build --release --quiet
  kmemdbg="$PWD/target/release/kmemdbg"
fi

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
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    # `make install` replaces the binary under a running proxy: "(deleted)".
    case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in
      "$binary" | "$binary (deleted)") kill -TERM "$pid" ;;
    esac
  fi
}
stop_demo  # the proxy of an earlier run
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
# On a failure, stop it; on success it stays up for the commands printed below.
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

ctl="unix:$demo/run/kamailio_ctl"
dump="$demo/shm-dump.log"
echo "== kmemdbg dump --shm (saved in $dump)"
"$kmemdbg" dump --shm --ctl "$ctl" --stderr "$log" --timeout 15s --out "$dump"
lines=$(wc -l < "$dump")

echo
echo "== summary"
pid=$(cat "$pidfile")
echo "proxy:    PID $pid: $(tr '\0' ' ' < "/proc/$pid/cmdline")"
if [ "$source_mode" = 1 ]; then
  echo "binary:   $binary rebuilt from $tree with memory debugging and installed:"
  "$binary" -V | grep -o 'DBG_SR_MEMORY' | head -n1 | sed 's/^/          built with /'
  echo "          source: Debian's kamailio 5.6.3 source package; patch backups: $tree/src/*.kmemdbg-orig"
  echo "          build log: $tree/kmemdbg-build.log (the box's own build: $box_log)"
fi
echo "changed:  $cfg (diff against the kept original):"
diff -u "$cfg.kmemdbg-orig" "$cfg" | sed 's/^/          /' || true
echo "          command line: -x qm added (q_malloc: dumps name the allocating file and line)"
echo "dump:     $dump ($lines lines, shared memory)"
echo "next (each works as pasted):"
echo "  $kmemdbg analyze $dump"
echo "  $kmemdbg dump --shm --pkg all --ctl $ctl --stderr $log --out $demo/after.log   # after some traffic"
echo "  $kmemdbg diff $dump $demo/after.log"
if [ "$source_mode" = 1 ]; then
  echo "  $kmemdbg revert --cfg $cfg --source $tree --pidfile $pidfile --yes   # undo"
  echo "      (cfg, command line, the tree's patch, and the install: the files it replaced in $prefix"
  echo "      come back from their NAME.kmemdbg-orig copies, the ones it added are removed)"
else
  echo "  $kmemdbg revert --cfg $cfg --pidfile $pidfile --yes   # undo the conversion"
fi
[ "$lines" -gt 0 ] || { echo "no dump lines saved"; exit 1; }
if [ "${KMEMDBG_DEMO_STOP:-0}" = 1 ]; then
  stop_demo
  proxy_note="stopped (KMEMDBG_DEMO_STOP=1)"
else
  proxy_note="still running on 127.0.0.1:$port (stop it: kill $pid; ./ci/demo.sh stops it when run again)"
fi
trap - EXIT
echo "left behind:"
echo "  the demo proxy, PID $pid: $proxy_note"
echo "  $demo: its cfg (converted; the original kept as kamailio.cfg.kmemdbg-orig), log, pid file, dump"
if [ "$source_mode" = 1 ]; then
  echo "  $tree (patched, built) and $prefix (the installed kamailio)"
fi
echo "  $kmemdbg (the kmemdbg this demo used)"
echo "  the packages ci/install-deps.sh installed (kamailio, sipp, build tools)"

if [ "$source_mode" != 1 ]; then
  echo
  echo "== controlled-leak demo: a proxy that leaks on purpose, two dumps, what grew (ci/leak-demo.sh)"
  KMEMDBG="$kmemdbg" LEAK_DIR="$demo/leak" bash ci/leak-demo.sh
fi
