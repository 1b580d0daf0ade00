#!/usr/bin/env bash
# Benchmark: kmemdbg build's overhead over plain `make cfg && make -jN all`
# on the same Kamailio tree and module list, side by side in one run, and
# the time of the "up to date" check on a built tree. Not part of ci/test.sh.
#
#   bash ci/bench-build.sh                  # 5.6.3, small module list, 3 runs each
#   RUNS=5 MODULES=all JOBS=2 bash ci/bench-build.sh
#   KMEMDBG_BIN=target/debug/kmemdbg RUNS=1 MODULES=sl bash ci/bench-build.sh
#
# Each run builds a fresh copy of Debian's pristine tree (ci/fetch-sources.sh).
# The two contenders alternate (plain first on odd runs, kmemdbg first on
# even ones) so that machine load drifts hit both alike. Every command's
# output goes to a file under $WORK (nothing to /dev/null). Medians and the
# ratio are printed at the end, for wall time and for CPU time (user + system
# of every process, which machine load hardly moves).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-5.6.3}
RUNS=${RUNS:-3}
JOBS=${JOBS:-$(nproc)}
MODULES=${MODULES:-ctl,cfg_rpc,sl,pv,kex}
UPTODATE_RUNS=${UPTODATE_RUNS:-10}
PRISTINE=${KMEMDBG_SRC_CACHE:-/var/cache/kmemdbg/src}/kamailio-$VERSION
[ -f "$PRISTINE/.kmemdbg-complete" ] || { echo "no $PRISTINE: run ci/fetch-sources.sh" >&2; exit 2; }
if [ -n "${KMEMDBG_BIN:-}" ]; then
  KMEMDBG=$KMEMDBG_BIN   # an already built kmemdbg (skips the release build)
else
  cargo build --release --quiet
  KMEMDBG=$PWD/target/release/kmemdbg
fi
WORK=$(mktemp -d /tmp/kmemdbg-bench.XXXXXX)
echo "bench: $VERSION, modules=$MODULES, -j$JOBS, $RUNS runs each; files in $WORK"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

plain() { # $1 = run number
  local t=$WORK/plain-$1
  cp -a "$PRISTINE" "$t"
  local sel
  if [ "$MODULES" = all ]; then
    sel='include_modules= exclude_modules='
  else
    sel="include_modules=\"${MODULES//,/ }\" exclude_modules=\"$(ls "$t/src/modules" | tr '\n' ' ')\""
  fi
  /usr/bin/time -f '%e %U %S' -o "$t.time" \
    bash -c "cd '$t/src' && make cfg $sel && make -j$JOBS all" >"$t.out" 2>&1
  record plain "$t.time"
  rm -rf "$t"
}

# Appends wall seconds to NAME.times and CPU seconds (user + system of
# the whole process tree) to NAME.cpu, from /usr/bin/time's "%e %U %S".
record() {
  read -r wall user sys <"$2"
  echo "$wall" >>"$WORK/$1.times"
  awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f\n", u + s}' >>"$WORK/$1.cpu"
}

with_kmemdbg() { # $1 = run number
  local t=$WORK/kmemdbg-$1
  cp -a "$PRISTINE" "$t"
  local sel=(--modules "$MODULES")
  [ "$MODULES" = all ] && sel=(--all-modules)
  /usr/bin/time -f '%e %U %S' -o "$t.time" \
    "$KMEMDBG" build --source "$t" "${sel[@]}" -j "$JOBS" --log "$t.log" >"$t.out" 2>&1
  record kmemdbg "$t.time"
  if [ "$1" -eq "$RUNS" ]; then
    mv "$t" "$WORK/built"   # kept for the up-to-date check
  else
    rm -rf "$t"
  fi
}

for run in $(seq 1 "$RUNS"); do
  if [ $((run % 2)) -eq 1 ]; then plain "$run"; with_kmemdbg "$run"; else with_kmemdbg "$run"; plain "$run"; fi
  echo "run $run: plain $(tail -1 "$WORK/plain.times") s wall, $(tail -1 "$WORK/plain.cpu") s CPU; kmemdbg $(tail -1 "$WORK/kmemdbg.times") s wall, $(tail -1 "$WORK/kmemdbg.cpu") s CPU; load $(cut -d' ' -f1 /proc/loadavg)"
done

for i in $(seq 1 "$UPTODATE_RUNS"); do
  start=$(now)
  "$KMEMDBG" build --source "$WORK/built" -j "$JOBS" --log "$WORK/uptodate-$i.log" >"$WORK/uptodate-$i.out" 2>&1
  end=$(now)
  grep -q '^up to date' "$WORK/uptodate-$i.out" || { echo "run $i was not up to date:" >&2; cat "$WORK/uptodate-$i.out" >&2; exit 1; }
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}' >>"$WORK/uptodate.times"
done

p=$(median <"$WORK/plain.times")
k=$(median <"$WORK/kmemdbg.times")
u=$(median <"$WORK/uptodate.times")
echo "median plain make:       $p s"
echo "median kmemdbg build:    $k s"
echo "overhead:                $(awk -v k="$k" -v p="$p" 'BEGIN {printf "%+.2f", (k / p - 1) * 100}') % of plain make's wall time (ratio $(awk -v k="$k" -v p="$p" 'BEGIN {printf "%.4f", k / p}'))"
pc=$(median <"$WORK/plain.cpu")
kc=$(median <"$WORK/kmemdbg.cpu")
echo "median CPU (user+sys):   plain $pc s, kmemdbg $kc s: overhead $(awk -v k="$kc" -v p="$pc" 'BEGIN {printf "%+.2f", (k / p - 1) * 100}') % (ratio $(awk -v k="$kc" -v p="$pc" 'BEGIN {printf "%.4f", k / p}'))"
echo "median up-to-date check: $u s ($UPTODATE_RUNS runs)"
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$WORK/built"
