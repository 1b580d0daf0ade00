#!/usr/bin/env bash
# Benchmarks `kmemdbg analyze` against what users run today, on the same
# synthetic qm_status dump (made by `kmemdbg gen-dump`, 300 sites):
#   - the count-only awk one-liner of issue 7   (kmemdbg must be >= 2x faster)
#   - grep -c "alloc'd from"                    (kmemdbg must be within 1.5x)
# Runs are interleaved (analyze, awk, grep, analyze, ...), several each; the
# medians and their ratios are printed. Every timed command writes its output
# to a file (GNU grep stops at the first match when it writes to /dev/null).
# Peak RSS (/usr/bin/time) is measured on a small and on the full input: it
# must not grow with the input.
#
# Usage: ci/bench-analyze.sh [SIZE] [RUNS]      defaults: 512MiB 5
# Not part of ci/test.sh (too heavy). Needs /usr/bin/time (package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-512MiB}
runs=${2:-5}
small=64MiB
work=${KMEMDBG_BENCH_DIR:-/tmp/kmemdbg-bench}
mkdir -p "$work"
if [ ! -x /usr/bin/time ]; then
  echo "bench: /usr/bin/time is missing: apt-get install time (ci/install-deps.sh installs it)" >&2
  exit 2
fi
cargo build --release --quiet
k=$PWD/target/release/kmemdbg
export LC_ALL=C # the fastest setting for grep and awk

input=$work/qm-status-$size.log
small_input=$work/qm-status-$small.log
[ -s "$input" ] || "$k" gen-dump --layout qm-status --size "$size" > "$input"
[ -s "$small_input" ] || "$k" gen-dump --layout qm-status --size "$small" > "$small_input"
cat "$input" > /dev/null # page cache warm for everyone

awk_prog='/alloc.d from/ {sub(/.*alloc.d from /,""); c[$0]++} END {for (k in c) print c[k], k}'

# run NAME OUTFILE CMD... : one timed run, appends "wall user sys maxrss_kb" to $work/NAME.times
run() {
  local name=$1 out=$2
  shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$work/$name.last" "$@" > "$out"
  cat "$work/$name.last" >> "$work/$name.times"
}

median() { # column N of FILE
  sort -g -k"$1","$1" "$2" | awk -v c="$1" '{v[NR]=$c} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}

rm -f "$work"/*.times
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), input $(du -h "$input" | cut -f1) ($input), $runs runs each"
for i in $(seq "$runs"); do
  run analyze "$work/out.analyze" "$k" analyze "$input"
  run awk "$work/out.awk" awk "$awk_prog" "$input"
  run grep "$work/out.grep" grep -c "alloc'd from" "$input"
done
run analyze-small "$work/out.analyze-small" "$k" analyze "$small_input"

# the same answer: fragments found by kmemdbg = lines grep counted = counts awk summed
frag_k=$(sed -n 's/.* bytes in \([0-9,]*\) fragments.*/\1/p' "$work/out.analyze" | tr -d ,)
frag_g=$(cat "$work/out.grep")
frag_a=$(awk '{s+=$1} END {print s}' "$work/out.awk")
echo "fragments: kmemdbg $frag_k, grep -c $frag_g, awk $frag_a"

printf '%-10s %9s %9s %9s %11s\n' command wall_s user_s sys_s max_rss_kb
for n in analyze awk grep; do
  printf '%-10s %9s %9s %9s %11s\n' "$n" "$(median 1 "$work/$n.times")" "$(median 2 "$work/$n.times")" \
    "$(median 3 "$work/$n.times")" "$(median 4 "$work/$n.times")"
done
a=$(median 1 "$work/analyze.times")
w=$(median 1 "$work/awk.times")
g=$(median 1 "$work/grep.times")
rss_big=$(median 4 "$work/analyze.times")
rss_small=$(awk '{print $4}' "$work/analyze-small.times")
fast_awk=$(awk -v x="$w" -v y="$a" 'BEGIN {print (x >= 2*y) ? "PASS" : "FAIL"}')
near_grep=$(awk -v x="$a" -v y="$g" 'BEGIN {print (x <= 1.5*y) ? "PASS" : "FAIL"}')
flat_rss=$(awk -v s="$rss_small" -v b="$rss_big" 'BEGIN {print (b <= s + 4096) ? "PASS" : "FAIL"}')
same=$([ "$frag_k" = "$frag_g" ] && [ "$frag_k" = "$frag_a" ] && echo PASS || echo FAIL)
echo "awk / kmemdbg (wall, medians):     $(awk -v x="$w" -v y="$a" 'BEGIN {printf "%.2fx", x/y}')  need >= 2x    $fast_awk"
echo "kmemdbg / grep -c (wall, medians): $(awk -v x="$a" -v y="$g" 'BEGIN {printf "%.2fx", x/y}')  need <= 1.5x  $near_grep"
echo "kmemdbg peak RSS: $rss_small KB on $small, $rss_big KB on $size   $flat_rss"
echo "same fragment count from all three tools: $same"
case "$fast_awk$near_grep$flat_rss$same" in
  *FAIL*) exit 1 ;;
esac
