//! Reading one file of the corpus of real pastes (`tests/fixtures/real/`)
//! with `kmemdbg analyze`, for the corpus test files beside
//! tests/real_pastes.rs. Runs the binary only; never writes a file.
#![allow(dead_code)]

use serde_json::Value;

/// Where the real pastes are (from the crate root, where tests run).
pub const DIR: &str = "tests/fixtures/real";

/// The path of one corpus file.
pub fn path(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// (exit code, JSON, stderr) of `analyze --json --top 0` on one corpus
/// file; the JSON is checked against its table in docs/json.md. Exit 2
/// gives `Value::Null`.
pub fn analyze(name: &str) -> (i32, Value, String) {
    let p = path(name);
    let (code, out, err) = super::common::run_kmemdbg(&["analyze", &p, "--json", "--top", "0"]);
    if code == 2 {
        return (code, Value::Null, err);
    }
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {out}\nstderr: {err}"));
    super::json_doc::check_if_schema(&v);
    (code, v, err)
}

/// (exit code, stdout, stderr) of the text report of `analyze`.
pub fn analyze_text(name: &str) -> (i32, String, String) {
    super::common::run_kmemdbg(&["analyze", &path(name)])
}

/// The line counts of the first (only) file read.
pub fn lines(v: &Value) -> &Value {
    &v["files"][0]["lines"]
}

/// The numbers of the lines (1-based) that `kmemdbg dump`'s block scanner
/// keeps as dump lines in one corpus file.
pub fn dump_keeps(name: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(path(name)).expect("corpus file");
    let mut scanner = kmemdbg::capture::blocks::Scanner::new(false);
    let mut kept = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if scanner.feed(line).is_some() {
            kept.push(i as u64 + 1);
        }
    }
    scanner.finish();
    kept
}
