//! The journald exports kept in `tests/fixtures/real/` (README: "Real
//! exports produced here"): real text of Debian's kamailio 5.6.3 under real
//! systemd and journald, exported by `journalctl -o FORMAT` in the sd box
//! of tests/journal_exports_real.rs. No box is needed here: every format
//! must give `analyze` the dumps, sites and bytes the README counted with
//! awk, and the same as the short-iso export; what a format cannot carry
//! (cat, json-pretty: the PID) is unknown. Also a stand-in built from this
//! real text: pastebin's line numbers in front of it.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/journal_exports.rs"]
mod journal_exports;
#[path = "support/json_doc.rs"]
mod json_doc;

use journal_exports::{analyze_json, check_against_awk, dumps_of, figures, Dumps, AWK};
use serde_json::Value;
use std::time::Duration;

/// The exports kept in tests/fixtures/real/ (made by the test above with
/// KMEMDBG_SAVE_EXPORTS=DIR; the README's section "Real exports produced
/// here" says how), each with the PIDs it carries.
const KEPT: &[(&str, Option<[u64; 3]>)] = &[
    (
        "journald-short-5.6.3-real-export.log",
        Some([183, 177, 177]),
    ),
    (
        "journald-short-iso-5.6.3-real-export.log",
        Some([183, 177, 177]),
    ),
    (
        "journald-short-iso-precise-5.6.3-real-export.log",
        Some([183, 177, 177]),
    ),
    (
        "journald-short-precise-5.6.3-real-export.log",
        Some([183, 177, 177]),
    ),
    (
        "journald-short-monotonic-5.6.3-real-export.log",
        Some([183, 177, 177]),
    ),
    (
        "journald-short-unix-5.6.3-real-export.log",
        Some([183, 177, 177]),
    ),
    (
        "journald-short-full-5.6.3-real-export.log",
        Some([183, 177, 177]),
    ),
    (
        "journald-json-5.6.3-real-export.json",
        Some([183, 177, 177]),
    ),
    (
        "journald-json-seq-5.6.3-real-export.json-seq",
        Some([183, 177, 177]),
    ),
    ("journald-cat-5.6.3-real-export.log", None),
];

/// The independent count over journald-cat-…: `awk "$AWK" FILE` prints
/// `45 375304 82 473 784336` (45 fragments of 375,304 bytes in the shm
/// status; 82 sites, 473 allocations, 784,336 bytes in the two summaries),
/// and `grep -c 'summarizing all'` 2. By hand from the cat export (the
/// `Memory still-in-use summary` headers split them): main's pkg summary
/// 39 sites, 428 allocations, 409,032 bytes; the shm summary 43 sites, 45
/// allocations, 375,304 bytes (the same fragments as the status dump).
const STATUS: (&str, &str, u64, u64, u64) = ("shm", "status", 45, 375_304, 43);
const PKG_SUMMARY: (&str, &str, u64, u64, u64) = ("pkg", "summary", 428, 409_032, 39);
const SHM_SUMMARY: (&str, &str, u64, u64, u64) = ("shm", "summary", 45, 375_304, 43);
const AWK_CAT: [u64; 5] = [45, 375_304, 82, 473, 784_336];

fn kept(name: &str) -> String {
    format!("tests/fixtures/real/{name}")
}

fn analyze_kept(path: &str) -> Value {
    let (code, out, err) = common::run_kmemdbg(&["analyze", path, "--json", "--top", "0"]);
    assert_eq!(code, 0, "{path}: {out}\n{err}");
    analyze_json(&out)
}

fn shape(d: &Dumps) -> Vec<(String, String, u64, u64, u64)> {
    d.iter()
        .map(|x| (x.0.clone(), x.1.clone(), x.2, x.3, x.4))
        .collect()
}

fn expect(rows: &[(&str, &str, u64, u64, u64)]) -> Vec<(String, String, u64, u64, u64)> {
    rows.iter()
        .map(|r| (r.0.to_string(), r.1.to_string(), r.2, r.3, r.4))
        .collect()
}

#[test]
fn kept_real_journald_exports_read_alike() {
    if common::have_program("awk") {
        let (code, out, err) = common::run_cmd(
            {
                let mut c = std::process::Command::new("awk");
                c.args([AWK, &kept("journald-cat-5.6.3-real-export.log")]);
                c
            },
            Duration::from_secs(30),
        );
        assert_eq!(code, 0, "{err}");
        let got: Vec<u64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
        assert_eq!(got, AWK_CAT);
    }
    let iso = analyze_kept(&kept("journald-short-iso-5.6.3-real-export.log"));
    let reference = dumps_of(&iso);
    assert_eq!(
        shape(&reference),
        expect(&[STATUS, PKG_SUMMARY, SHM_SUMMARY])
    );
    check_against_awk("short-iso", &reference, AWK_CAT);
    for (name, pids) in KEPT {
        let v = analyze_kept(&kept(name));
        let d = dumps_of(&v);
        // the same dumps, and the same bytes and count at every site
        assert_eq!(d, reference, "{name}");
        // and the same in every other figure (heap, free list, completeness),
        // but where the lines are, the file, the time and the PID
        assert_eq!(figures(&v), figures(&iso), "{name}");
        let lines = &v["files"][0]["lines"];
        assert_eq!(lines["unreadable_lines"], 0, "{name}: {lines}");
        let got: Vec<Option<u64>> = v["dumps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["pid"].as_u64())
            .collect();
        match pids {
            Some(p) => assert_eq!(got, p.map(Some), "{name}"),
            // cat carries no PID: unknown, never invented
            None => assert_eq!(got, [None, None, None], "{name}"),
        }
    }
    // cat in text: the process is said unknown
    let (code, out, _) =
        common::run_kmemdbg(&["analyze", &kept("journald-cat-5.6.3-real-export.log")]);
    assert_eq!(code, 0);
    assert!(out.contains("== dump 1: pid ?, shm status"), "{out}");
    assert!(
        out.contains(
            "3 dumps (1 status, 2 summary) from process(es) unknown (no PID in the input)"
        ),
        "{out}"
    );
}

/// json-pretty spreads a record over ~10 lines: only the records of the
/// shm summary are kept (517 lines). `grep -c '"MESSAGE" : ".*count='` 45
/// rows, their counts and sizes summed by awk give 45 and 375,304; the PID
/// sits on another line of each record: unknown.
#[test]
fn kept_real_journald_json_pretty_export() {
    let path = kept("journald-json-pretty-5.6.3-real-export.json-pretty");
    let v = analyze_kept(&path);
    let d = dumps_of(&v);
    assert_eq!(shape(&d), expect(&[SHM_SUMMARY]));
    let reference = dumps_of(&analyze_kept(&kept(
        "journald-short-iso-5.6.3-real-export.log",
    )));
    assert_eq!(d[0], reference[2], "the shm summary, site by site");
    assert!(v["dumps"][0]["pid"].is_null(), "{}", v["dumps"][0]);
    assert_eq!(v["files"][0]["lines"]["unreadable_lines"], 0);
}

/// Stand-in (constructed from real text): the real short-iso and cat
/// exports with pastebin's line numbers added the way its pages show them
/// (`  N. ` before every line, as in tests/fixtures/real/pastebin-*) read
/// exactly as without them.
#[test]
fn standin_pastebin_numbers_before_real_journald_dump_lines() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "journald-short-iso-5.6.3-real-export.log",
        "journald-cat-5.6.3-real-export.log",
    ] {
        let text = std::fs::read_to_string(kept(name)).unwrap();
        let numbered: String = text
            .lines()
            .enumerate()
            .map(|(i, l)| format!("  {}. {l}\n", i + 1))
            .collect();
        let path = dir.path().join(name);
        std::fs::write(&path, numbered).unwrap();
        let plain = analyze_kept(&kept(name));
        let with = analyze_kept(path.to_str().unwrap());
        assert_eq!(dumps_of(&with), dumps_of(&plain), "{name}");
        for (a, b) in plain["dumps"]
            .as_array()
            .unwrap()
            .iter()
            .zip(with["dumps"].as_array().unwrap())
        {
            for k in ["pid", "first_line", "last_line", "complete", "heap"] {
                assert_eq!(a[k], b[k], "{name}: {k}");
            }
        }
        assert_eq!(with["files"][0]["lines"]["unreadable_lines"], 0, "{name}");
    }
}

/// Stand-in built from real text: `strip_line_number` gives back every line
/// of the real short-iso and cat exports numbered as pastebin shows them.
#[test]
fn standin_strip_line_number_on_real_journald_lines() {
    for name in [
        "journald-short-iso-5.6.3-real-export.log",
        "journald-cat-5.6.3-real-export.log",
        "journald-short-unix-5.6.3-real-export.log",
    ] {
        let text = std::fs::read_to_string(kept(name)).unwrap();
        for (i, line) in text.lines().enumerate() {
            let numbered = format!("  {}. {line}", i + 1);
            assert_eq!(
                kmemdbg::logline::prefix::strip_line_number(numbered.as_bytes()),
                Some(line.as_bytes()),
                "{name}:{}",
                i + 1
            );
            // an unnumbered line has none (short-unix's seconds are a time)
            assert_eq!(
                kmemdbg::logline::prefix::strip_line_number(line.as_bytes()),
                None,
                "{name}:{}",
                i + 1
            );
        }
    }
}
