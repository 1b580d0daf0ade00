//! What the journald export tests share (tests/journal_exports_real.rs in
//! the sd box, tests/real_pastes_journald.rs on the kept copies): the dumps
//! `analyze --json` reports, in a form two files can be compared by, and the
//! independent awk count they are checked against. Never writes a file.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;

/// What `analyze --json` says about the dumps of one file, in a form two
/// files can be compared by: (pool, kind, count, bytes, sites, per-site bytes).
pub type Dumps = Vec<(String, String, u64, u64, u64, BTreeMap<String, (u64, u64)>)>;

pub fn analyze_json(out: &str) -> Value {
    let v: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    super::json_doc::check_if_schema(&v);
    v
}

pub fn dumps_of(v: &Value) -> Dumps {
    v["dumps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let sites = d["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["key"].as_str().unwrap().to_string(),
                        (g["count"].as_u64().unwrap(), g["bytes"].as_u64().unwrap()),
                    )
                })
                .collect();
            (
                d["pool"].as_str().unwrap_or("?").to_string(),
                d["kind"].as_str().unwrap_or("?").to_string(),
                d["total_count"].as_u64().unwrap(),
                d["total_bytes"].as_u64().unwrap(),
                d["distinct_sites"].as_u64().unwrap(),
                sites,
            )
        })
        .collect()
}

/// The independent count over `journalctl -o cat` text: for the status dump
/// the fragment lines (`address=0x..`) and their `size=` sum; for the
/// summaries the `count= size= bytes from` rows, their counts and sizes
/// summed, and their distinct sites per summary (5.6.3 prints one site
/// several times when an inline function is called from several places).
pub const AWK: &str = r#"/address=0x/ { n++; for (i = 1; i <= NF; i++) if ($i ~ /^size=/) { split($i, a, "="); s += a[2] } }
/summarizing all alloc'ed/ { sec++ }
/count=.*size=.*bytes from/ { t = $0; sub(/.*bytes from /, "", t); if (!((sec, t) in seen)) { seen[sec, t] = 1; r++ }
  t = $0; sub(/.*count= */, "", t); c += t + 0; t = $0; sub(/.*size= */, "", t); z += t + 0 }
END { printf "%d %d %d %d %d\n", n, s, r, c, z }"#;

pub fn check_against_awk(format: &str, d: &Dumps, awk: [u64; 5]) {
    let status: Vec<_> = d.iter().filter(|x| x.1 == "status").collect();
    assert_eq!(status.len(), 1, "{format}: {d:?}");
    assert_eq!(status[0].0, "shm", "{format}: {d:?}");
    assert_eq!(
        (status[0].2, status[0].3),
        (awk[0], awk[1]),
        "{format} status"
    );
    let summary: Vec<_> = d.iter().filter(|x| x.1 == "summary").collect();
    assert!(summary.iter().any(|x| x.0 == "shm"), "{format}: {d:?}");
    let rows: usize = summary.iter().map(|x| x.5.len()).sum();
    let count: u64 = summary.iter().map(|x| x.2).sum();
    let bytes: u64 = summary.iter().map(|x| x.3).sum();
    assert_eq!(rows as u64, awk[2], "{format} summary rows");
    assert_eq!((count, bytes), (awk[3], awk[4]), "{format} summary");
}

/// Every field of every dump but those that differ by format.
pub fn figures(v: &Value) -> Vec<Value> {
    let mut dumps = v["dumps"].as_array().unwrap().clone();
    for d in &mut dumps {
        let o = d.as_object_mut().unwrap();
        for k in ["file", "first_line", "last_line", "time", "pid"] {
            o.remove(k);
        }
    }
    dumps
}
