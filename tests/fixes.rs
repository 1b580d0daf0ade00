//! `kmemdbg fixes` and its generator `ci/mine-fixes.py`.
//!
//! The generator runs on a small git repository this test builds (two
//! release branches with tags, a cherry-pick marked "(cherry picked from
//! commit X)", a feature commit that mentions free); the command runs on the
//! committed data file, for the examples of Kamailio's history whose
//! releases were read with `git tag --contains SHA` on a clone of
//! kamailio/kamailio (the clone the data file names on its `mined` line).

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;

use common::{run_cmd, run_kmemdbg};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A git repository built by the test, with fixed dates and identity.
struct Repo {
    dir: tempfile::TempDir,
    clock: u64,
}

impl Repo {
    fn new() -> Repo {
        let r = Repo {
            dir: tempfile::tempdir().unwrap(),
            clock: 1_600_000_000,
        };
        r.git(&["init", "-q", "-b", "master"]);
        r
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        let mut c = Command::new("git");
        c.arg("-C").arg(self.path()).args(args);
        self.git_env(&mut c, self.clock);
        let (code, out, err) = run_cmd(c, Duration::from_secs(60));
        assert_eq!(code, 0, "git {args:?}: {err}");
        out.trim().to_string()
    }

    fn git_env(&self, c: &mut Command, t: u64) {
        let date = format!("@{t} +0000");
        c.env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Dev One")
            .env("GIT_AUTHOR_EMAIL", "dev@example.org")
            .env("GIT_COMMITTER_NAME", "Dev One")
            .env("GIT_COMMITTER_EMAIL", "dev@example.org")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }

    /// Writes `files`, commits with `message`; returns the full sha.
    fn commit(&mut self, files: &[(&str, &str)], message: &str) -> String {
        self.clock += 1000;
        for (path, text) in files {
            let p = self.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            self.git(&["add", path]);
        }
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// `git cherry-pick -x SHA` on the current branch; returns the new sha.
    fn cherry_pick(&mut self, sha: &str) -> String {
        self.clock += 1000;
        self.git(&["cherry-pick", "-x", sha]);
        self.git(&["rev-parse", "HEAD"])
    }
}

const PARSE_V1: &str = "#include \"parse.h\"\n\nint parse_x(char *s)\n{\n\tchar *p = pkg_malloc(10);\n\tif(s == 0)\n\t\treturn -1;\n\tuse(p);\n\treturn 0;\n}\n";
const PARSE_V2: &str = "#include \"parse.h\"\n\nint parse_x(char *s)\n{\n\tchar *p = pkg_malloc(10);\n\tif(s == 0)\n\t\treturn -1;\n\tuse(p);\n\tpkg_free(p);\n\treturn 0;\n}\n";
const CHECKS_V1: &str = "#include \"checks.h\"\n\nint get_p(struct sip_msg *m)\n{\n\tparam_t *head = parse(m);\n\tif(head == 0)\n\t\treturn -1;\n\treturn 1;\n}\n";
const CHECKS_V2: &str = "#include \"checks.h\"\n\nint get_p(struct sip_msg *m)\n{\n\tparam_t *head = parse(m);\n\tif(head == 0)\n\t\treturn -1;\n\tfree_params(head);\n\treturn 1;\n}\n";
const TM_V1: &str =
    "#include \"tm.h\"\n\nstatic int w_t_foo(struct sip_msg *m)\n{\n\treturn t_foo(m);\n}\n";
const TM_V2: &str = "#include \"tm.h\"\n\nstatic int w_t_foo(struct sip_msg *m)\n{\n\treturn t_foo(m);\n}\n\nstatic int fixup_free_t_foo(void **param, int n)\n{\n\treturn fixup_free_spve_null(param, n);\n}\n";
const DMQ_V1: &str = "#include \"dmq.h\"\n\nint dmq_proc(struct sip_msg *m)\n{\n\tstr *b = dup(m);\n\tsend(b);\n\treturn 0;\n}\n";
const DMQ_V2: &str = "#include \"dmq.h\"\n\nint dmq_proc(struct sip_msg *m)\n{\n\tstr *b = dup(m);\n\tsend(b);\n\tpkg_free(b);\n\treturn 0;\n}\n";

/// The fix lines of a data file: id -> columns.
fn fix_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with("fix\t"))
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn python_present(test: &str) -> bool {
    common::require_real(
        test,
        "python3 and git",
        common::have_program("python3") && common::have_program("git"),
    )
}

#[test]
fn generator_on_a_built_repository_with_a_cherry_pick_and_tags_on_two_branches() {
    if !python_present("generator_on_a_built_repository") {
        return;
    }
    let mut r = Repo::new();
    r.commit(
        &[
            ("src/core/parser/parse_x.c", PARSE_V1),
            ("src/modules/siputils/checks.c", CHECKS_V1),
            ("src/modules/tm/tm.c", TM_V1),
            ("src/modules/dmq/message.c", DMQ_V1),
        ],
        "core: initial import",
    );
    r.git(&["tag", "1.0.0"]);
    r.git(&["branch", "1.0"]);
    // on master: a leak fix, a feature that mentions free, a "free" fix
    let leak = r.commit(
        &[("src/core/parser/parse_x.c", PARSE_V2)],
        "core: fix memory leak in parse_x()\n\nThe buffer was never released.",
    );
    let feature = r.commit(
        &[("src/modules/tm/tm.c", TM_V2)],
        "tm: add fixup_free function for t_foo()",
    );
    let free_fix = r.commit(
        &[("src/modules/siputils/checks.c", CHECKS_V2)],
        "siputils: free head of params list for get_p()",
    );
    r.git(&["tag", "1.1.0"]);
    r.git(&["branch", "1.1"]);
    // the leak fix backported to 1.0 and released in 1.0.1
    r.git(&["checkout", "-q", "1.0"]);
    let backport = r.cherry_pick(&leak);
    r.git(&["tag", "1.0.1"]);
    // a dmq fix on master, backported to 1.1 but not released there yet
    r.git(&["checkout", "-q", "master"]);
    let dmq = r.commit(
        &[("src/modules/dmq/message.c", DMQ_V2)],
        "dmq: fix pkg leak on dmq_proc",
    );
    r.git(&["checkout", "-q", "1.1"]);
    let dmq_backport = r.cherry_pick(&dmq);
    r.git(&["checkout", "-q", "master"]);

    let out = r.path().join("known-fixes.tsv");
    let mut c = Command::new("python3");
    c.arg(repo_root().join("ci/mine-fixes.py"))
        .arg("--repo")
        .arg(r.path())
        .arg("--out")
        .arg(&out);
    let (code, _, err) = run_cmd(c, Duration::from_secs(120));
    assert_eq!(code, 0, "mine-fixes failed: {err}");
    let text = std::fs::read_to_string(&out).unwrap();

    let tip = r.git(&["rev-parse", "master"]);
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("mined\tmaster\t{tip}\t"))),
        "no mined line with master's tip {tip}:\n{text}"
    );
    assert!(text.contains("series\t1.0\t1.0.0 1.0.1\n"), "{text}");
    assert!(text.contains("series\t1.1\t1.1.0\n"), "{text}");

    let rows = fix_rows(&text);
    let ids: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        rows.len(),
        3,
        "three fixes (leak, free, dmq): {ids:?}\n{text}"
    );
    assert!(
        !text.contains(&feature[..12]),
        "the feature commit that mentions free is not a fix:\n{text}"
    );

    // columns: fix id modules commits releases dev files functions subject
    let row = |sha: &str| {
        rows.iter()
            .find(|r| r[1] == sha[..12])
            .unwrap_or_else(|| panic!("no fix {sha} in\n{text}"))
    };
    let l = row(&leak);
    assert_eq!(l[2], "core");
    let mut family: Vec<&str> = l[3].split(',').collect();
    family.sort();
    let mut want = vec![&leak[..12], &backport[..12]];
    want.sort();
    assert_eq!(family, want, "the cherry-pick joins its original");
    assert_eq!(
        l[4], "1.0.1 1.1.0+",
        "first release on 1.0 is 1.0.1, on 1.1 its .0"
    );
    assert_eq!(l[5], "dev");
    assert_eq!(l[6], "src/core/parser/parse_x.c");
    assert_eq!(l[7], "parse_x");
    assert_eq!(l[8], "core: fix memory leak in parse_x()");

    let f = row(&free_fix);
    assert_eq!(f[2], "siputils");
    assert_eq!(f[4], "1.1.0+", "never on 1.0, in 1.1.0");
    assert_eq!(f[7], "get_p");

    let d = row(&dmq);
    assert_eq!(d[2], "dmq");
    assert!(d[3].contains(&dmq_backport[..12]));
    assert_eq!(d[4], "1.1:unreleased", "on the 1.1 branch, in no tag");
    assert_eq!(d[5], "dev");

    // the binary reads what the generator wrote
    let o = out.to_str().unwrap();
    let (code, stdout, err) = run_kmemdbg(&["fixes", "--version", "1.0.0", "--data", o, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let got: Vec<(String, String, String)> = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["advice"]["kind"].as_str().unwrap().to_string(),
                f["advice"]["release"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(got.contains(&(leak[..12].to_string(), "same_branch".into(), "1.0.1".into())));
    assert!(got.contains(&(
        free_fix[..12].to_string(),
        "later_branch".into(),
        "1.1.0".into()
    )));
    let (_, stdout, _) = run_kmemdbg(&["fixes", "--version", "1.1.0", "--data", o, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let fixes = v["fixes"].as_array().unwrap();
    assert_eq!(fixes.len(), 1, "{stdout}");
    assert_eq!(fixes[0]["id"], dmq[..12]);
    assert_eq!(fixes[0]["advice"]["kind"], "not_yet_released");
    assert_eq!(fixes[0]["advice"]["branch"], "1.1");
}

/// `fixes --json` for VERSION and the args; (id, advice kind, release).
fn lookup(version: &str, args: &[&str]) -> Vec<(String, String, String)> {
    let mut a = vec!["fixes", "--version", version, "--json"];
    a.extend_from_slice(args);
    let (code, out, err) = run_kmemdbg(&a);
    assert_eq!(code, 0, "{a:?}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "kmemdbg.fixes/1");
    json_doc::check_if_schema(&v);
    v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["advice"]["kind"].as_str().unwrap().to_string(),
                f["advice"]["release"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn has(found: &[(String, String, String)], id: &str, kind: &str, release: &str) -> bool {
    found
        .iter()
        .any(|(i, k, r)| i == id && k == kind && r == release)
}

fn lacks(found: &[(String, String, String)], id: &str) -> bool {
    !found.iter().any(|(i, _, _)| i == id)
}

// git tag --contains 6c372bf644 / 3cc09ff604 / f7ee24dc4f: 5.7.0..., 5.6.4..., 5.5.6...
#[test]
fn data_core_require_header_leak_fixed_in_5_6_4_and_5_7_0() {
    let id = "6c372bf644e1";
    assert!(has(
        &lookup("5.6.3", &["--module", "core"]),
        id,
        "same_branch",
        "5.6.4"
    ));
    assert!(has(
        &lookup("5.5.5", &["--module", "core"]),
        id,
        "same_branch",
        "5.5.6"
    ));
    assert!(lacks(&lookup("5.6.4", &["--module", "core"]), id));
    assert!(lacks(&lookup("5.7.0", &["--module", "core"]), id));
    assert!(lacks(&lookup("6.0.1", &["--module", "core"]), id));
}

// git tag --contains 8363208fff (and its cherry-picks d503c70bbc, ebc8acef76, d90e956f01):
// 5.6.6, 5.7.6, 5.8.2, 6.0.0 and later
#[test]
fn data_siputils_get_uri_param_free_fixed_in_5_6_6() {
    let id = "8363208fff7c";
    let site = "siputils: checks.c: get_uri_param(120)";
    let found = lookup("5.6.3", &["--site", site]);
    assert!(has(&found, id, "same_branch", "5.6.6"), "{found:?}");
    assert!(lacks(&lookup("5.6.6", &["--site", site]), id));
    assert!(has(
        &lookup("5.7.5", &["--site", site]),
        id,
        "same_branch",
        "5.7.6"
    ));
    assert!(lacks(&lookup("6.0.0", &["--site", site]), id));
    // strongest match first: the same function before fixes of other places
    let (_, out, _) = run_kmemdbg(&["fixes", "--version", "5.6.3", "--site", site, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["fixes"][0]["match"], "function", "{out}");
}

// git tag --contains 3d0f6480c1 (master): none; e8b4e175ed (6.1 branch): 6.1.4; no 6.0 tag
#[test]
fn data_dmq_process_message_leak_fixed_in_6_1_4_not_in_6_0() {
    let id = "3d0f6480c187";
    assert!(has(
        &lookup("6.0.7", &["--module", "dmq"]),
        id,
        "later_branch",
        "6.1.4"
    ));
    assert!(has(
        &lookup("6.1.3", &["--module", "dmq"]),
        id,
        "same_branch",
        "6.1.4"
    ));
    assert!(lacks(&lookup("6.1.4", &["--module", "dmq"]), id));
}

// git tag --contains bd0aaf89b8: none (master only)
#[test]
fn data_tm_drop_in_branch_route_leak_is_development_only() {
    let id = "bd0aaf89b860";
    let found = lookup("6.1.4", &["--module", "tm"]);
    assert!(has(&found, id, "development_only", ""), "{found:?}");
    let found = lookup("5.6.3", &["--site", "tm: t_lookup.c: t_unref(1500)"]);
    assert!(has(&found, id, "development_only", ""), "{found:?}");
}

#[test]
fn data_has_no_feature_commit_that_merely_mentions_free() {
    let text = std::fs::read_to_string(repo_root().join("data/known-fixes.tsv")).unwrap();
    for (sha, subject) in [
        ("ef84f28a61b5", "cnxcc: add fixup_free function"),
        ("194d1bd1d1b8", "cfgutils: Add fixup_free functions"),
        ("8f011ff01a08", "carrierroute: added fixup free functions"),
        // the reviewed exclusions of ci/known-fixes-rule.toml
        ("0ff010fa5777", "malloc_test: new module"),
        (
            "829b7ff2e663",
            "kex: print private memory usage per process via rpc",
        ),
    ] {
        assert!(!text.contains(sha), "{subject} is in the data");
    }
    for row in fix_rows(&text) {
        let s = row[8].to_lowercase();
        assert!(
            !(s.contains("add") && s.contains("fixup_free")),
            "feature in the data: {}",
            row[8]
        );
    }
}

#[test]
fn text_output_and_exit_codes() {
    let (code, out, _) = run_kmemdbg(&["fixes", "--version", "6.1.4", "--module", "dmq"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1, "one plain sentence: {out}");
    assert!(
        out.starts_with("No known leak fix after Kamailio 6.1.4 in dmq"),
        "{out}"
    );
    let (code, out, _) = run_kmemdbg(&[
        "fixes",
        "--version",
        "5.6.3",
        "--site",
        "siputils: checks.c: get_uri_param(1)",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("upgrade to 5.6.6 (same branch)"), "{out}");
    assert!(out.contains("commit 8363208fff7c"), "{out}");
    for bad in [
        vec!["fixes", "--version", "5.6"],
        vec!["fixes", "--version", "latest"],
        vec!["fixes", "--version", "5.6.3", "--module", ""],
        vec!["fixes", "--version", "5.6.3", "--site", " "],
        vec![
            "fixes",
            "--version",
            "5.6.3",
            "--data",
            "/nonexistent/known-fixes.tsv",
        ],
    ] {
        let (code, _, err) = run_kmemdbg(&bad);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(err.contains("kmemdbg: error:"), "{err}");
    }
}

fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(rel)
}

/// The leak-htable fixture pair (a real 5.6.3 proxy's dumps, see
/// tests/fixtures/capture/README.md) with the leaking site renamed to
/// siputils' get_uri_param: a stand-in for a dump of that leak.
fn renamed_pair(dir: &Path, header: Option<&str>) -> (String, String) {
    let rename = |name: &str| {
        let text = std::fs::read_to_string(fixture(&format!("capture/{name}"))).unwrap();
        text.replace(
            "htable: ht_api.c: ht_cell_new",
            "siputils: checks.c: get_uri_param",
        )
    };
    let before = dir.join("before.log");
    let after = dir.join("after.log");
    std::fs::write(&before, rename("leak-htable-before.log")).unwrap();
    let mut a = String::new();
    if let Some(h) = header {
        a.push_str(h);
    }
    let renamed = rename("leak-htable-after.log");
    assert!(
        renamed.contains("get_uri_param"),
        "fixture changed: no ht_cell_new site"
    );
    a.push_str(&renamed);
    std::fs::write(&after, a).unwrap();
    (before.display().to_string(), after.display().to_string())
}

#[test]
fn diff_with_kamailio_version_names_the_known_fix_of_a_growing_site_stand_in_dump() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = renamed_pair(dir.path(), None);
    let (code, out, err) = run_kmemdbg(&[
        "diff",
        &before,
        &after,
        "--top",
        "2",
        "--kamailio-version",
        "5.6.3",
    ]);
    assert_eq!(code, 0, "{err}");
    let block = out
        .split("known leak fixes for Kamailio 5.6.3 (version from --kamailio-version")
        .nth(1)
        .unwrap_or_else(|| panic!("no known fixes block:\n{out}"));
    let mut lines = block.lines().skip(1);
    assert_eq!(
        lines.next().map(str::trim),
        Some("siputils: checks.c: get_uri_param(186)"),
        "{block}"
    );
    let line = lines.next().unwrap_or_default();
    assert!(
        line.contains("upgrade to 5.6.6 (same branch) [same function, 8363208fff7c]"),
        "{line}"
    );
    // after the fix: the plain statement
    let (_, out, _) = run_kmemdbg(&[
        "diff",
        &before,
        &after,
        "--top",
        "2",
        "--kamailio-version",
        "5.6.6",
    ]);
    assert!(
        out.contains("siputils: checks.c: get_uri_param(186)\n     known fixes after 5.6.6: none for this function or file"),
        "{out}"
    );
    // JSON, checked against docs/json.md
    let (_, out, _) = run_kmemdbg(&[
        "diff",
        &before,
        &after,
        "--top",
        "1",
        "--kamailio-version",
        "5.6.3",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    let site = &v["known_fixes"]["sites"][0];
    assert_eq!(site["key"], "siputils: checks.c: get_uri_param(186)");
    assert_eq!(site["fixes"][0]["advice"]["release"], "5.6.6");
}

#[test]
fn diff_reads_the_version_from_a_kmemdbg_header_and_never_guesses_it() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = renamed_pair(dir.path(), Some("# kmemdbg dump\n# kamailio: 5.6.5\n"));
    let (code, out, err) = run_kmemdbg(&["diff", &before, &after, "--top", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "known leak fixes for Kamailio 5.6.5 (version from the header of {after}"
        )),
        "{out}"
    );
    assert!(out.contains("upgrade to 5.6.6 (same branch)"), "{out}");
    // a log from elsewhere (no header), no flag: no version, no block
    let plain = fixture("capture/leak-htable-after.log");
    let old = fixture("capture/leak-htable-before.log");
    let (code, out, _) = run_kmemdbg(&["diff", old.to_str().unwrap(), plain.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(!out.contains("known leak fixes"), "{out}");
    let (code, _, err) = run_kmemdbg(&["diff", &before, &after, "--kamailio-version", "5.x"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn analyze_with_kamailio_version_gives_each_large_site_a_known_fixes_line() {
    let plain = fixture("capture/leak-htable-after.log");
    let (code, out, err) = run_kmemdbg(&[
        "analyze",
        plain.to_str().unwrap(),
        "--by",
        "module",
        "--kamailio-version",
        "5.6.3",
    ]);
    assert_eq!(code, 0, "{err}");
    let block = out
        .split("known leak fixes for Kamailio 5.6.3")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    // htable: no leak fix of htable after 5.6.3 in the data (awk -F'\t' '$1=="fix" && $3 ~ /^htable/')
    assert!(
        block.contains("   htable\n     known fixes after 5.6.3: none for this module"),
        "{block}"
    );
    let (_, out, _) = run_kmemdbg(&[
        "analyze",
        plain.to_str().unwrap(),
        "--kamailio-version",
        "5.6.3",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert!(
        v["known_fixes"]["sites"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{out}"
    );
}

/// A `dump --mod-stats` snapshot file as kmemdbg writes it (header from
/// src/dump/modstats.rs's MAGIC and keys; the answer laid out as kamcmd
/// prints `mod.stats all shm`), with `bytes` held by siputils' get_uri_param.
fn snapshot(time: &str, unix: u64, bytes: u64) -> String {
    format!(
        "# kmemdbg mod.stats snapshot 1\n# time: {time}\n# unix_time: {unix}\n# main_pid: 4242\n# kamailio: 5.6.3\n\
# ctl: unix:/run/kamailio/kamailio_ctl\n# rpc: mod.stats all shm\nModule: core\n{{\n\tinit_timer(210): 4096\n\tTotal: 4096\n}}\n\
Module: siputils\n{{\n\tget_uri_param(1180): {bytes}\n\tTotal: {bytes}\n}}\n"
    )
}

#[test]
fn diff_of_mod_stats_snapshots_reads_the_version_in_their_header() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.modstats");
    let b = dir.path().join("b.modstats");
    std::fs::write(&a, snapshot("2026-12-06T17:00:00Z", 1796576400, 1000)).unwrap();
    std::fs::write(&b, snapshot("2026-12-06T17:10:00Z", 1796577000, 9000)).unwrap();
    let (code, out, err) = run_kmemdbg(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "known leak fixes for Kamailio 5.6.3 (version from the header of {}",
            b.display()
        )),
        "{out}"
    );
    assert!(out.contains("siputils: get_uri_param(1180)\n     known fixes after 5.6.3: upgrade to 5.6.6 (same branch) [same function"), "{out}");
    let (_, out, _) = run_kmemdbg(&["diff", a.to_str().unwrap(), b.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert_eq!(
        v["known_fixes"]["sites"][0]["fixes"][0]["id"],
        "8363208fff7c"
    );
}
