#!/usr/bin/env python3
"""Mine Kamailio's git history for known leak fixes.

Reads a clone of kamailio/kamailio (bare or not) and writes the data file
that `kmemdbg fixes` embeds (data/known-fixes.tsv): one line per fix family
(an original commit and its backports), with its module(s), files, the
functions its hunks touch, and the first release on each branch that holds
it. Which commits count is the rule in ci/known-fixes-rule.toml.

Usage:
  python3 ci/mine-fixes.py --repo /path/to/kamailio [--rule FILE] [--out FILE]

Never changes the repository it reads (only `git log`, `git show`,
`git rev-list`, `git for-each-ref`, `git cat-file`).
"""

import argparse
import os
import re
import subprocess
import sys
import tomllib
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
CHERRY = re.compile(r"\(cherry picked from commit ([0-9a-f]{7,40})\)")
FORMAT_VERSION = "kmemdbg.known-fixes/1"


def git(repo, *args, stdin=None):
    proc = subprocess.run(
        ["git", "-C", repo, *args],
        input=stdin,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(
            "mine-fixes: git %s failed (exit %d): %s"
            % (" ".join(args[:3]), proc.returncode, proc.stderr.decode(errors="replace").strip()[-400:])
        )
    return proc.stdout.decode("utf-8", errors="replace")


def version_key(v):
    return tuple(int(p) for p in v.split("."))


def load_rule(path):
    with open(path, "rb") as f:
        rule = tomllib.load(f)
    flags = re.IGNORECASE | re.MULTILINE
    msg = rule["message"]
    return {
        "dev": rule["repository"]["dev_branch"],
        "branch": re.compile(rule["repository"]["release_branch"]),
        "tag": re.compile(rule["repository"]["release_tag"]),
        "leak": [re.compile(p, flags) for p in msg["leak"]],
        "not_leak": [re.compile(p, flags) for p in msg["not_leak"]],
        "free": [re.compile(p, flags) for p in msg["free"]],
        "not_free": [re.compile(p, flags) for p in msg["not_free"]],
        "free_call": re.compile(rule["shape"]["free_call"], re.IGNORECASE),
        "max_files": int(rule["shape"]["max_files"]),
        "join_same": bool(rule.get("families", {}).get("same_author_date_subject", False)),
        "include": {e["commit"]: e["why"] for e in rule["exceptions"].get("include", [])},
        "exclude": {e["commit"]: e["why"] for e in rule["exceptions"].get("exclude", [])},
        "expect": rule.get("expect", []),
    }


def message_class(rule, text):
    """'leak', 'free' (needs the shape check) or None."""
    if any(p.search(text) for p in rule["leak"]) and not any(p.search(text) for p in rule["not_leak"]):
        return "leak"
    if any(p.search(text) for p in rule["free"]) and not any(p.search(text) for p in rule["not_free"]):
        return "free"
    return None


def module_of(path):
    parts = path.split("/")
    for i, p in enumerate(parts[:-1]):
        if p in ("modules", "modules_k", "modules_s") and i + 2 <= len(parts) - 1:
            return parts[i + 1]
    if parts[0] == "src" and len(parts) > 2 and parts[1] == "lib":
        return "lib/" + parts[2]
    return "core"


FUNC = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
NOT_FUNCS = {"if", "while", "for", "switch", "return", "sizeof", "defined"}


def hunk_function(header_tail):
    m = FUNC.search(header_tail)
    if m and m.group(1) not in NOT_FUNCS:
        return m.group(1)
    return None


def read_commits(repo, refs):
    """Every non-merge commit reachable from refs: sha -> fields."""
    out = git(repo, "log", "--no-merges", "--format=%H%x00%ae%x00%at%x00%s%x00%B%x1e", *refs)
    commits = {}
    for rec in out.split("\x1e"):
        rec = rec.lstrip("\n")
        if not rec:
            continue
        sha, email, at, subject, body = (rec.split("\x00") + [""] * 5)[:5]
        commits[sha] = {"email": email, "at": at, "subject": subject.strip(), "body": body}
    return commits


def read_changes(repo, shas):
    """sha -> (files, functions, added lines) for the given commits."""
    changes = {}
    shas = list(shas)
    for i in range(0, len(shas), 200):
        batch = shas[i : i + 200]
        out = git(
            repo,
            "show",
            "-U0",
            "--no-color",
            "--no-renames",
            "--no-ext-diff",
            "--format=%x1e%H",
            *batch,
        )
        for rec in out.split("\x1e"):
            if not rec.strip():
                continue
            lines = rec.split("\n")
            sha = lines[0].strip()
            files, funcs, added = [], [], []
            current = None
            for line in lines[1:]:
                if line.startswith("diff --git "):
                    m = re.match(r"diff --git a/(.*) b/(.*)$", line)
                    current = m.group(2) if m else None
                    if current and current not in files:
                        files.append(current)
                elif line.startswith("@@"):
                    m = re.match(r"@@ [^@]* @@ ?(.*)$", line)
                    if m and current and current.endswith((".c", ".h", ".y", ".l", ".cpp", ".cc")):
                        f = hunk_function(m.group(1))
                        if f and f not in funcs:
                            funcs.append(f)
                elif line.startswith("+") and not line.startswith("+++"):
                    added.append(line[1:])
            changes[sha] = (files, funcs, added)
    return changes


class Families:
    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def resolve(repo, short):
    """A full sha for a cherry-pick reference, or the text itself when unknown."""
    if len(short) == 40:
        return short
    proc = subprocess.run(
        ["git", "-C", repo, "rev-parse", "--verify", "--quiet", short + "^{commit}"],
        capture_output=True,
        check=False,
    )
    return proc.stdout.decode().strip() or short


def rev_set(repo, *spec):
    return set(git(repo, "rev-list", *spec).split())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", required=True, help="a clone of kamailio/kamailio (bare is fine)")
    ap.add_argument("--rule", default=os.path.join(HERE, "known-fixes-rule.toml"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "data", "known-fixes.tsv"))
    args = ap.parse_args()
    rule = load_rule(args.rule)
    repo = args.repo

    heads = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    release_branches = sorted((b for b in heads if rule["branch"].match(b)), key=version_key)
    if rule["dev"] not in heads:
        sys.exit("mine-fixes: %s has no branch %s" % (repo, rule["dev"]))
    tags = [t for t in git(repo, "for-each-ref", "--format=%(refname:short)", "refs/tags").split() if rule["tag"].match(t)]
    tags.sort(key=version_key)
    series = defaultdict(list)  # "5.6" -> ["5.6.0", ...]
    for t in tags:
        series[".".join(t.split(".")[:2])].append(t)
    # a branch with no release tag counts only when it is newer than every released series
    # (a new stable branch before its .0); older untagged branches predate the tags
    newest = max(series, key=version_key) if series else "0.0"
    all_series = sorted(
        set(series) | {b for b in release_branches if version_key(b) > version_key(newest)},
        key=version_key,
    )

    refs = [rule["dev"], *release_branches, *tags]
    commits = read_commits(repo, refs)

    # 1. the message rule
    classes = {}
    for sha, c in commits.items():
        text = c["subject"] + "\n" + CHERRY.sub("", c["body"])
        if sha in rule["exclude"]:
            continue
        cls = "include" if sha in rule["include"] else message_class(rule, text)
        if cls:
            classes[sha] = cls

    # 2. the shape rule
    changes = read_changes(repo, classes)
    counted = {}
    for sha, cls in classes.items():
        files, funcs, added = changes.get(sha, ([], [], []))
        if not files or len(files) > rule["max_files"]:
            continue
        if cls == "free" and not any(rule["free_call"].search(a) for a in added):
            continue
        counted[sha] = (files, funcs)

    # 3. families: cherry-pick lines, and same author/date/subject
    fam = Families()
    for sha in counted:
        fam.find(sha)
        for ref in CHERRY.findall(commits[sha]["body"]):
            full = resolve(repo, ref)
            if full in counted:
                fam.union(full, sha)
    if rule["join_same"]:
        first = {}
        for sha in counted:
            c = commits[sha]
            key = (c["email"], c["at"], c["subject"])
            if key in first:
                fam.union(first[key], sha)
            else:
                first[key] = sha
    members = defaultdict(list)
    for sha in counted:
        members[fam.find(sha)].append(sha)

    # 4. where each commit is: per series the first tag holding it, per branch head
    first_tag = {}  # sha -> {series: tag}
    for s in all_series:
        prev = None
        for t in series.get(s, []):
            new = rev_set(repo, t, *(["^" + prev] if prev else []))
            for sha in new & counted.keys():
                first_tag.setdefault(sha, {}).setdefault(s, t)
            prev = t
    on_branch = {}  # sha -> set of branches
    for b in [*release_branches, rule["dev"]]:
        for sha in rev_set(repo, b) & counted.keys():
            on_branch.setdefault(sha, set()).add(b)

    # 5. the expectations
    errors = []
    for e in rule["expect"]:
        sha = e["commit"]
        if sha not in commits:
            print("mine-fixes: note: expected commit %s is not in this repository" % sha[:12], file=sys.stderr)
            continue
        if (sha in counted) != bool(e["counted"]):
            errors.append("%s (%s): expected counted=%s" % (sha[:12], e["why"], e["counted"]))
    if errors:
        sys.exit("mine-fixes: the rule does not give the expected result:\n  " + "\n  ".join(errors))

    # 6. one line per family
    rows = []
    for root, shas in members.items():
        shas.sort(key=lambda s: (commits[s]["at"], s))
        original = next((s for s in shas if not CHERRY.search(commits[s]["body"])), shas[0])
        files, funcs = [], []
        for s in shas:
            for f in counted[s][0]:
                if f not in files:
                    files.append(f)
            for f in counted[s][1]:
                if f not in funcs:
                    funcs.append(f)
        mods = []
        for f in files:
            m = module_of(f)
            if m not in mods:
                mods.append(m)
        prefix = commits[original]["subject"].split(":", 1)[0].strip()
        if prefix in mods:
            mods.remove(prefix)
            mods.insert(0, prefix)
        releases = {}
        branches = set()
        for s in shas:
            for ser, t in first_tag.get(s, {}).items():
                if ser not in releases or version_key(t) < version_key(releases[ser]):
                    releases[ser] = t
            branches |= on_branch.get(s, set())
        tokens = []
        # a series reached at its .0 from which every later series is also at .0: "X.Y.0+"
        since = None
        for ser in reversed(all_series):
            t = releases.get(ser)
            if t is not None and t == ser + ".0":
                since = ser
            else:
                break
        for ser in all_series:
            if since is not None and version_key(ser) >= version_key(since):
                tokens.append(since + ".0+")
                break
            if ser in releases:
                tokens.append(releases[ser])
            elif ser in branches:
                tokens.append(ser + ":unreleased")
        dev = "dev" if rule["dev"] in branches else "-"
        date = commits[original]["at"]
        rows.append(
            (
                int(date),
                original,
                [
                    original[:12],
                    ",".join(mods),
                    ",".join(s[:12] for s in shas),
                    " ".join(tokens) or "-",
                    dev,
                    ",".join(files),
                    ",".join(funcs) or "-",
                    commits[original]["subject"].replace("\t", " "),
                ],
            )
        )
    rows.sort(key=lambda r: (r[0], r[1]))

    tip = git(repo, "rev-parse", rule["dev"]).strip()
    tip_date = git(repo, "log", "-1", "--format=%cI", rule["dev"]).strip()
    out = []
    out.append("# %s: known leak fixes of kamailio/kamailio, written by ci/mine-fixes.py" % FORMAT_VERSION)
    out.append("# rule: ci/known-fixes-rule.toml. Do not edit by hand: change the rule, rerun, review.")
    out.append("mined\t%s\t%s\t%s" % (rule["dev"], tip, tip_date))
    for ser in all_series:
        out.append("series\t%s\t%s" % (ser, " ".join(series.get(ser, [])) or "-"))
    out.append("# fix\tid\tmodules\tcommits\treleases\tdev\tfiles\tfunctions\tsubject")
    for _, _, cols in rows:
        out.append("fix\t" + "\t".join(cols))
    text = "\n".join(out) + "\n"
    tmp = args.out + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print(
        "mine-fixes: %d commits read, %d matched the words, %d counted, %d fixes (families) -> %s"
        % (len(commits), len(classes), len(counted), len(rows), args.out),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
