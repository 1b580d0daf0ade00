#!/usr/bin/env bash
# kmemdbg scan against what operators run today, on the same generated log,
# side by side: `grep -c 'memory'` (count the lines) and
# `grep 'memory' | sort | uniq -c` (count each distinct line). RUNS rounds;
# in each round the three run one after the other, the order rotating from
# round to round (so that none always runs first, or right after another),
# each timed for wall and CPU (user + system) time. Prints every round's
# times and its ratios to `grep -c`, then the medians of the ratios. Then
# the memory (max RSS) of scan on a quarter of the log and on all of it:
# flat, not growing with the input. States the machine's load before and
# after: on a shared machine the wall ratios move with it, the CPU ratios
# much less.
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
echo "machine: $(nproc) cores, $(uname -sr); kmemdbg $("$bin" --version 2>/dev/null | head -1)"
echo "input: $log, $bytes bytes, $expected error lines (generator's count)"
cat "$log" > /dev/null   # warm the page cache for every contender alike

# timed NAME CMD...: appends "wall cpu" of CMD to $dir/NAME, output to $dir/out
timed() {
    local name=$1
    shift
    /usr/bin/time -f '%e %U %S' -o "$dir/time" "$@" > "$dir/out" 2>/dev/null || true
    # the last line: GNU time writes "Command exited with non-zero status" above
    tail -1 "$dir/time" | awk '{printf "%.3f %.3f\n", $1, $2 + $3}' >> "$dir/$name"
}
run_grep_c() { timed grep_c grep -c memory "$log"; }
run_grep_sort() { timed grep_sort sh -c "grep memory '$log' | sort | uniq -c"; }
run_scan() { timed scan "$bin" scan "$log"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$dir/grep_c"; : > "$dir/grep_sort"; : > "$dir/scan"
order=(run_grep_c run_scan run_grep_sort)
for r in $(seq 1 "$runs"); do
    for k in 0 1 2; do
        "${order[$(( (k + r) % 3 ))]}"
    done
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"

"$bin" scan --json "$log" > "$dir/scan.json" || true
found=$(awk -F': ' '/"findings"/ {gsub(/,/, "", $2); print $2; exit}' "$dir/scan.json")
if [ "$found" != "$expected" ]; then
    echo "scan found $found error lines, the generator wrote $expected" >&2
    exit 1
fi

printf '\n%-5s %21s %21s %21s %14s %14s\n' round "grep -c (wall/cpu s)" "grep|sort|uniq -c" "kmemdbg scan" "scan/grep wall" "scan/grep cpu"
paste -d' ' "$dir/grep_c" "$dir/grep_sort" "$dir/scan" | awk '{
    printf "%-5d %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %14.2f %14.2f\n", NR, $1, $2, $3, $4, $5, $6, $5 / $1, $6 / $2
}' | tee "$dir/rounds"
# columns of $dir/rounds: 1 round, 2-3 grep -c, 4-5 grep|sort, 6-7 scan, 8-9 ratios
col() { awk "{print $1}" "$dir/rounds" | median; }
printf '\nmedians of %s rounds:\n' "$runs"
printf '  kmemdbg scan / grep -c, per-round ratios: wall %.2fx, cpu %.2fx  (aim: wall <= 1.5x)\n' \
    "$(col '$8')" "$(col '$9')"
printf '  grep|sort|uniq -c / grep -c:             wall %.2fx\n' "$(col '$4 / $2')"
printf '  wall s: grep -c %.3f, grep|sort|uniq -c %.3f, kmemdbg scan %.3f\n' \
    "$(col '$2')" "$(col '$4')" "$(col '$6')"
printf '  cpu s:  grep -c %.3f, grep|sort|uniq -c %.3f, kmemdbg scan %.3f\n' \
    "$(col '$3')" "$(col '$5')" "$(col '$7')"

quarter=$dir/quarter.log
head -c $((bytes / 4)) "$log" > "$quarter"
rss() { /usr/bin/time -f %M -o "$dir/rss" "$bin" scan "$1" > "$dir/out" 2>&1 || true; tail -1 "$dir/rss"; }
rss_q=$(rss "$quarter")
rss_f=$(rss "$log")
printf '\nmax RSS of kmemdbg scan: %s KB on %s bytes, %s KB on %s bytes\n' \
    "$rss_q" "$(stat -c %s "$quarter")" "$rss_f" "$bytes"
