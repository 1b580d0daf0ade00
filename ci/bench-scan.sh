#!/usr/bin/env bash
# kmemdbg scan against what operators run today, on the same generated log,
# side by side: `grep -c 'memory'` (count the lines) and
# `grep 'memory' | sort | uniq -c` (count each distinct line). Medians of
# RUNS runs each, wall time, and the ratios to `grep -c`. Then the memory
# (max RSS) of scan on a quarter of the log and on all of it: flat, not
# growing with the input.
#
#   ci/bench-scan.sh [SIZE_MB (default 2048)] [RUNS (default 5)]
#
# Every timed command writes its output to a file (GNU grep stops at the
# first match when its output is /dev/null). Checks that scan found exactly
# the error lines the generator wrote. Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C   # grep at its fastest, as in ci/bench-analyze.sh
size_mb=${1:-2048}
runs=${2:-5}
cargo build --release --quiet
bin=$PWD/target/release/kmemdbg
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/kmemdbg-bench-scan.XXXXXX")
trap 'rm -rf "$dir"' EXIT
log=$dir/kamailio.log
expected=$(ci/gen-oom-log.sh "$log" "$size_mb")
bytes=$(stat -c %s "$log")
echo "input: $log, $bytes bytes, $expected error lines (generator's count)"
cat "$log" > /dev/null   # warm the page cache for every contender alike

wall() { # wall seconds of "$@", output to $dir/out
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > "$dir/out" 2>&1 || true
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: > "$dir/grep_c"; : > "$dir/grep_sort"; : > "$dir/scan"
for _ in $(seq 1 "$runs"); do
    wall grep -c memory "$log" >> "$dir/grep_c"
    wall sh -c "grep memory '$log' | sort | uniq -c" >> "$dir/grep_sort"
    wall "$bin" scan "$log" >> "$dir/scan"
done
"$bin" scan --json "$log" > "$dir/scan.json" || true
found=$(awk -F': ' '/"findings"/ {gsub(/,/, "", $2); print $2; exit}' "$dir/scan.json")
if [ "$found" != "$expected" ]; then
    echo "scan found $found error lines, the generator wrote $expected" >&2
    exit 1
fi
g=$(median < "$dir/grep_c"); s=$(median < "$dir/grep_sort"); k=$(median < "$dir/scan")
printf '\n%-36s %10s %8s\n' "command (median of $runs)" "wall s" "ratio"
printf '%-36s %10.3f %8.2f\n' "grep -c memory" "$g" 1
printf '%-36s %10.3f %8.2f\n' "grep memory | sort | uniq -c" "$s" "$(echo "$s / $g" | bc -l)"
printf '%-36s %10.3f %8.2f\n' "kmemdbg scan" "$k" "$(echo "$k / $g" | bc -l)"

quarter=$dir/quarter.log
head -c $((bytes / 4)) "$log" > "$quarter"
rss() { /usr/bin/time -f %M -o "$dir/rss" "$bin" scan "$1" > "$dir/out" 2>&1 || true; tail -1 "$dir/rss"; }
rss_q=$(rss "$quarter")
rss_f=$(rss "$log")
printf '\nmax RSS of kmemdbg scan: %s KB on %s bytes, %s KB on %s bytes\n' \
    "$rss_q" "$(stat -c %s "$quarter")" "$rss_f" "$bytes"
