//! `kmemdbg scan` on the message forms of older generations
//! (`tests/fixtures/scan/older-forms/`, each line cited in its README with
//! the expected counts, counted by hand), bad input, stdin, and the table's
//! citations checked against Debian's source trees.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scan/older-forms")
        .join(name)
        .display()
        .to_string()
}

fn scan(args: &[&str]) -> (i32, Value) {
    let mut cmd = kmemdbg();
    cmd.arg("scan")
        .args(["--year", "2026", "--json"])
        .args(args);
    let (code, out, err) = run_cmd(cmd, Duration::from_secs(60));
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}), exit {code}:\n{out}\n{err}"));
    json_doc::assert_documented(&v);
    (code, v)
}

fn per_pool(v: &Value) -> BTreeMap<String, u64> {
    v["per_pool"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

fn pools(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
    list.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

fn ignored(v: &Value) -> BTreeMap<String, u64> {
    v["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["why"].as_str().unwrap().to_string(),
                i["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn ser_2_0_wording_with_legacy_labels() {
    let (code, v) = scan(&[&fixture("ser-2.0-syslog.log")]);
    assert_eq!(code, 1);
    assert_eq!(per_pool(&v), pools(&[("shm", 2), ("pkg", 1)]));
    assert!(v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["module"] == "tm"));
    assert_eq!(ignored(&v), pools(&[("not-oom", 1)]));
    // all three within one minute
    assert_eq!(v["verdict"]["pattern"], "burst");
}

#[test]
fn kamailio_3_x_modules_k_and_available_pool_macros() {
    let (code, v) = scan(&[&fixture("kamailio-3.x-stderr.log")]);
    assert_eq!(code, 1);
    assert_eq!(
        per_pool(&v),
        pools(&[("shm", 2), ("pkg", 2), ("unnamed", 1)])
    );
    assert_eq!(v["timed"], false);
    // no timestamps: the verdict says plainly what cannot be told, and how to get them
    assert_eq!(v["verdict"]["pattern"], "unknown");
    let reasons = v["verdict"]["reasons"].to_string();
    assert!(
        reasons.contains("burst or steadily") && reasons.contains("log_stderror=no"),
        "{reasons}"
    );
    let (_, text, _) = run_kmemdbg(&["scan", &fixture("kamailio-3.x-stderr.log")]);
    assert!(
        text.contains("no timestamps") && text.contains("burst or steadily"),
        "{text}"
    );
    let g = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["module"] == "usrloc")
        .unwrap();
    assert_eq!(
        (g["pid"].as_u64(), g["rank"].as_u64()),
        (Some(3101), Some(2))
    );
}

#[test]
fn kamailio_4_4_allocator_lines_give_sizes_and_callers() {
    let (code, v) = scan(&[&fixture("kamailio-4.4-syslog.log")]);
    assert_eq!(code, 1);
    assert_eq!(per_pool(&v), pools(&[("shm", 1), ("unnamed", 2)]));
    assert_eq!(ignored(&v), pools(&[("echo", 1)]));
    let groups = v["groups"].as_array().unwrap();
    let tm = groups.iter().find(|g| g["module"] == "tm").unwrap();
    assert_eq!(tm["function"], "build_cell");
    assert_eq!(tm["size_max"].as_u64(), Some(1048));
    assert!(groups.iter().any(|g| g["size_max"].as_u64() == Some(96)));
    assert_eq!(v["debug_build"], true);
}

#[test]
fn kamailio_5_4_errors_right_after_start_mean_a_small_pool() {
    let (code, v) = scan(&[&fixture("kamailio-5.4-syslog-small-pool.log")]);
    assert_eq!(code, 1);
    assert_eq!(per_pool(&v), pools(&[("shm", 11)]));
    // the INFO line of sl (could not bind tm module) is not counted anywhere
    assert_eq!(v["ignored"].as_array().unwrap().len(), 0);
    assert_eq!(v["verdict"]["kind"], "pool-too-small");
    assert_eq!(v["verdict"]["first_error_after_s"].as_f64(), Some(40.0));
    // 8 errors in 10:00, one each in 10:01, 10:02, 10:03: every minute
    assert_eq!(v["verdict"]["pattern"], "steady");
    let next = v["verdict"]["next"][0]["command"].as_str().unwrap();
    assert!(next.starts_with("kmemdbg size --shm 128"), "{next}");
    assert_eq!(v["lost"]["lines"].as_u64(), Some(141));
    assert_eq!(v["lost"]["reports"][0]["by"], "rsyslog imuxsock");
    // lost lines count only in the scanned range: the report is at 10:03:30
    let fixture_54 = fixture("kamailio-5.4-syslog-small-pool.log");
    let (code, cut) = scan(&[&fixture_54, "--since", "2026-12-06T10:03:20Z"]);
    assert_eq!((code, cut["findings"].as_u64()), (0, Some(0)));
    assert_eq!(cut["lost"]["lines"].as_u64(), Some(141));
    let summary = cut["verdict"]["summary"].as_str().unwrap();
    assert!(summary.contains("141 line(s) were lost"), "{summary}");
    let (_, cut) = scan(&[&fixture_54, "--since", "2026-12-06T10:03:40Z"]);
    assert_eq!(cut["lost"]["lines"].as_u64(), Some(0));
    assert_eq!(cut["verdict"]["summary"], "no out-of-memory errors");
    // 8 errors of PID 5403 between 10:00:40 and 10:00:58: 7 intervals in 18 s
    let g = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["pid"] == 5403)
        .unwrap();
    assert_eq!(g["count"].as_u64(), Some(8));
    let rate = g["per_minute"].as_f64().unwrap();
    assert!((rate - 7.0 / (18.0 / 60.0)).abs() < 1e-9, "{rate}");
    // timeline: three minutes with errors, 8 + 1 + 1 + 1 (10:00, 10:01, 10:02, 10:03)
    let rows = v["timeline"]["rows"].as_array().unwrap();
    let counts: Vec<u64> = rows.iter().map(|r| r["shm"].as_u64().unwrap()).collect();
    assert_eq!(counts, vec![8, 1, 1, 1]);
}

#[test]
fn kamailio_6_0_errors_after_hours_point_to_a_leak() {
    let (code, v) = scan(&[&fixture("kamailio-6.0-journal-leak.log")]);
    assert_eq!(code, 1);
    assert_eq!(per_pool(&v), pools(&[("shm", 5)]));
    assert_eq!(ignored(&v), pools(&[("script", 1)]));
    assert_eq!(v["verdict"]["kind"], "leak-likely");
    assert_eq!(v["verdict"]["first_error_after_s"].as_f64(), Some(23405.0));
    // errors at 14:30, 14:31, 14:33, 14:40, 15:02 (README): 5 of the 33
    // minutes from 14:30 to 15:02, in 4 runs of consecutive minutes
    assert_eq!(v["verdict"]["pattern"], "bursts");
    assert!(v["verdict"]["reasons"]
        .to_string()
        .contains("4 burst(s): errors in only 5 of the 33 minutes"));
    // --since 14:35: the errors of 14:40 and 15:02 only; the start line and
    // the three earlier errors are before it; the xlog line stays ignored
    let (code, cut) = scan(&[
        &fixture("kamailio-6.0-journal-leak.log"),
        "--since",
        "2026-12-06T14:35:00Z",
    ]);
    assert_eq!(code, 1);
    assert_eq!(per_pool(&cut), pools(&[("shm", 2)]));
    assert_eq!(ignored(&cut), pools(&[("script", 1)]));
    let next: Vec<&str> = v["verdict"]["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["command"].as_str().unwrap())
        .collect();
    assert!(next[0].starts_with("kmemdbg triage"), "{next:?}");
    // --since after the last error: nothing left
    let (code, v) = scan(&[
        &fixture("kamailio-6.0-journal-leak.log"),
        "--since",
        "2026-12-06 15:30",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["before_since"].as_u64(), Some(7));
}

#[test]
fn stdin_and_bad_input() {
    let text = std::fs::read(fixture("ser-2.0-syslog.log")).unwrap();
    let mut child = kmemdbg()
        .args(["scan", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_u64(), Some(3));
    assert_eq!(v["inputs"][0], "stdin");

    let (code, _, err) = run_kmemdbg(&["scan", "/nonexistent/kamailio.log"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/kamailio.log"), "{err}");
    let (code, _, err) = run_kmemdbg(&[
        "scan",
        &fixture("ser-2.0-syslog.log"),
        "--since",
        "yesterday",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--since"), "{err}");
    // no log named: the one kamailio writes to, found as `dump` finds it;
    // on a machine with none, exit 2 saying how to name one (another
    // kamailio running here under systemd is found instead)
    let (code, out, err) = run_kmemdbg(&["scan"]);
    if code == 2 {
        assert!(err.contains("--journal"), "{err}");
    } else {
        assert!(
            out.contains("journald unit") || out.contains("syslog file"),
            "exit {code}: {out}{err}"
        );
    }
}

/// Every source the table cites for 5.4.4, 5.6.3 and 6.0.1 holds the
/// entry's literal at that line of Debian's tree.
#[test]
fn scan_table_sources_are_in_debian_trees() {
    let test = "scan_table_sources_are_in_debian_trees";
    let table: toml::Value = toml::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/oom-patterns.toml"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for version in ["5.4.4", "5.6.3", "6.0.1"] {
        let tree = source_cache().join(format!("kamailio-{version}"));
        if !require_real(
            test,
            &format!("the kamailio {version} source tree"),
            tree.join("src/main.c").is_file(),
        ) {
            return;
        }
        for e in table["pattern"].as_array().unwrap() {
            let literal = e["literal"].as_str().unwrap().to_lowercase();
            for s in e["sources"].as_array().unwrap() {
                let s = s.as_str().unwrap();
                let Some(loc) = s.strip_prefix(&format!("{version} ")) else {
                    continue;
                };
                let (path, line) = loc.rsplit_once(':').unwrap();
                let text =
                    std::fs::read_to_string(tree.join(path)).unwrap_or_else(|e| panic!("{s}: {e}"));
                let at = text
                    .lines()
                    .nth(line.parse::<usize>().unwrap() - 1)
                    .unwrap_or_default();
                assert!(
                    at.to_lowercase().contains(&literal),
                    "{s}: {at:?} does not hold {literal:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "{checked}");
}

/// A log large enough to be read in parts on one thread per core (64 MB
/// and more) gives exactly what the same bytes give as one stream (stdin),
/// and the error count the generator wrote (ci/gen-oom-log.sh counts them
/// as it writes). The property test `scan::input::tests::parts_equal_the_stream`
/// varies the threads and part sizes; this is the command end to end.
#[test]
fn a_large_file_read_in_parts_equals_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let gen = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ci/gen-oom-log.sh");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&gen).arg(&log).arg("65");
    let (code, out, err) = run_cmd(cmd, Duration::from_secs(120));
    assert_eq!(code, 0, "{err}");
    let written: u64 = out.trim().parse().unwrap();
    assert!(std::fs::metadata(&log).unwrap().len() >= 64 << 20);

    let (code, parts) = scan(&[log.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(parts["findings"].as_u64(), Some(written));
    let mut child = kmemdbg()
        .args(["scan", "--year", "2026", "--json", "-"])
        .stdin(std::fs::File::open(&log).unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stream: Value = {
        let out = child.stdout.take().unwrap();
        let v = serde_json::from_reader(out).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(1));
        v
    };
    assert_eq!(stream["inputs"][0], "stdin");
    stream["inputs"] = parts["inputs"].clone();
    assert_eq!(parts, stream);
}
