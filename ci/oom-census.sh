#!/usr/bin/env bash
# Counts, in a Kamailio (or SER / OpenSER) source tree, the log calls whose
# string literals match each entry of data/oom-patterns.toml: how much of a
# generation's out-of-memory wording the table covers, and one example
# file:line per entry. Also lists the most frequent memory-error wordings
# that no entry matches, so a new generation's new wording shows up.
# Entries that match printed values (`allocator`, `start`: `%p`, `%lu` in
# the source) count 0 here; tests/scan_fixtures.rs and tests/scan_real.rs
# check them on printed lines.
#
#   ci/oom-census.sh /var/cache/kmemdbg/src/kamailio-5.6.3
#   ci/oom-census.sh GITDIR TAG      (e.g. a clone of kamailio/kamailio and 4.2.8)
#
# Reads only. Needs python3 (3.11 or later: tomllib).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
    echo "usage: ci/oom-census.sh TREE | GITDIR TAG" >&2
    exit 2
fi
exec python3 - "$@" <<'PY'
import os, re, subprocess, sys, tomllib
from collections import Counter

table = tomllib.load(open("data/oom-patterns.toml", "rb"))["pattern"]
rx = [(e["id"], e["kind"], e["pool"], re.compile(e["regex"], re.I)) for e in table]
literal = re.compile(r'"((?:[^"\\]|\\.)*)"')
loose = re.compile(r"(no more|out of|not enough|cannot allocate|can't allocate|could not allocate)[^\"]*mem", re.I)

def lines_of_tree(root):
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith((".c", ".h", ".y")):
                p = os.path.join(d, f)
                with open(p, errors="replace") as fh:
                    for i, l in enumerate(fh, 1):
                        yield os.path.relpath(p, root), i, l

def lines_of_git(gitdir, ref):
    out = subprocess.run(["git", "-C", gitdir, "grep", "-n", "-I", "-i", "-E", "mem|fragment|at least", ref,
                          "--", "*.c", "*.h", "*.y"], capture_output=True, text=True, errors="replace").stdout
    for l in out.splitlines():
        parts = l.split(":", 3)
        if len(parts) == 4 and parts[2].isdigit():
            yield parts[1], int(parts[2]), parts[3]

src = lines_of_git(sys.argv[1], sys.argv[2]) if len(sys.argv) > 2 else lines_of_tree(sys.argv[1])
counts, example, unmatched = Counter(), {}, Counter()
for path, n, line in src:
    text = " ".join(literal.findall(line))
    if not text:
        continue
    for ident, kind, pool, r in rx:
        if r.search(text):
            counts[ident] += 1
            example.setdefault(ident, f"{path}:{n}")
            break
    else:
        m = loose.search(text)
        if m:
            unmatched[text.strip()[:70]] += 1

print(f"{'entry':<18} {'kind':<10} {'pool':<8} {'sites':>6}  example")
for ident, kind, pool, _ in rx:
    print(f"{ident:<18} {kind:<10} {pool:<8} {counts[ident]:>6}  {example.get(ident, '-')}")
print(f"\nmost frequent memory wordings no entry matches ({sum(unmatched.values())} sites):")
for text, c in unmatched.most_common(10):
    print(f"{c:>6}  {text}")
PY
