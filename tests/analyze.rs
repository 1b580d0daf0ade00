//! `kmemdbg analyze` and `kmemdbg diff` on real Kamailio 5.6.3 output
//! (tests/fixtures/dumps: lines copied from ../shared/samples), on the same
//! lines passed through syslog, journald, `uniq -c`, pastebin numbering,
//! CRLF and colour, and on bad input. Also a small generator + analyze run.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const EXCERPT: &str = "tests/fixtures/dumps/kamailio-5.6.3-excerpt.log";

fn fixture() -> String {
    std::fs::read_to_string(EXCERPT).expect("fixture")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    p
}

fn json_of(args: &[&str]) -> (i32, Value, String) {
    let (code, out, err) = run_kmemdbg(args);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"));
    json_doc::check_if_schema(&v);
    (code, v, err)
}

/// (pid, pool, kind, count, bytes, complete) of every dump: what must not
/// change whatever the transport of the lines.
fn dump_keys(v: &Value) -> Vec<(Value, Value, Value, u64, u64, bool)> {
    v["dumps"]
        .as_array()
        .expect("dumps")
        .iter()
        .map(|d| {
            (
                d["pid"].clone(),
                d["pool"].clone(),
                d["kind"].clone(),
                d["total_count"].as_u64().expect("count"),
                d["total_bytes"].as_u64().expect("bytes"),
                d["complete"].as_bool().expect("complete"),
            )
        })
        .collect()
}

#[test]
fn real_5_6_3_excerpt_reads_every_dump() {
    let (code, v, err) = json_of(&["analyze", EXCERPT, "--json", "--top", "3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["schema"], "kmemdbg.analyze/1");
    let dumps = v["dumps"].as_array().expect("dumps");
    assert_eq!(dumps.len(), 5);
    // the RPC pkg dump of a receiver
    assert_eq!(dumps[0]["pid"], 7240);
    assert_eq!(dumps[0]["pool"], "pkg");
    assert_eq!(dumps[0]["kind"], "summary");
    assert_eq!(dumps[0]["total_count"], 451);
    assert_eq!(dumps[0]["total_bytes"], 417064);
    assert_eq!(
        dumps[0]["groups"][0]["key"],
        "core: core/pvapi.c: pv_init_buffer(2139)"
    );
    assert_eq!(dumps[0]["groups"][0]["count"], 40);
    assert_eq!(dumps[0]["groups"].as_array().map(Vec::len), Some(3));
    assert_eq!(dumps[0]["rest"]["groups"], 39);
    // the shm status: the fragments' sizes add up to the heap's own "used"
    let shm = &dumps[1];
    assert_eq!(
        (
            shm["pid"].as_u64(),
            shm["pool"].as_str(),
            shm["kind"].as_str()
        ),
        (Some(7245), Some("shm"), Some("status"))
    );
    assert_eq!(shm["heap"]["used_bytes"], 2474872);
    assert_eq!(shm["total_bytes"], 2474872);
    assert_eq!(shm["total_count"], 53);
    assert_eq!(shm["heap"]["size_bytes"], 33554432);
    assert_eq!(
        shm["groups"][0]["key"],
        "tm: h_table.c: init_hash_table(482)"
    );
    // shutdown summaries: same process again, then the main process's pkg and shm
    assert_eq!(dumps[2]["pid"], 7240);
    assert_eq!(dumps[3]["pid"], 7238);
    assert_eq!(dumps[4]["pool"], "shm");
    assert_eq!(dumps[4]["total_bytes"], 72);
    assert!(dumps.iter().all(|d| d["complete"] == true));
    let lines = &v["files"][0]["lines"];
    assert_eq!(lines["lines"], 334);
    assert_eq!(
        lines["alloc_debug_lines"], 27,
        "memdbg lines are counted, not taken for dumps"
    );
    assert_eq!(lines["unreadable_lines"], 0);
    assert_eq!(v["corruption"].as_array().map(Vec::len), Some(0));
}

/// The whole real log in ../shared/samples (beside the clone in CI, or /work/shared).
fn shared_sample() -> Option<PathBuf> {
    let name = "samples/kamailio-5.6.3-stderr-dumps.log";
    [
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared")
            .join(name),
        PathBuf::from("/work/shared").join(name),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

#[test]
fn real_5_6_3_whole_log() {
    let sample = shared_sample();
    if !require_real(
        "real_5_6_3_whole_log",
        "../shared/samples/kamailio-5.6.3-stderr-dumps.log",
        sample.is_some(),
    ) {
        return;
    }
    let sample = sample.expect("checked");
    let path = sample.to_str().expect("utf-8 path");
    let (code, v, err) = json_of(&["analyze", path, "--json"]);
    assert_eq!(code, 0, "{err}");
    let dumps = v["dumps"].as_array().expect("dumps");
    assert_eq!(
        dumps.len(),
        11,
        "1 RPC pkg dump, 1 RPC shm status, 7 shutdown pkg summaries, main's pkg and shm"
    );
    assert_eq!(dumps.iter().filter(|d| d["kind"] == "status").count(), 1);
    let mut pids: Vec<u64> = dumps.iter().filter_map(|d| d["pid"].as_u64()).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids, vec![7238, 7240, 7241, 7242, 7243, 7244, 7245, 7246]);
    let lines = &v["files"][0]["lines"];
    assert_eq!(lines["lines"], 6568);
    assert_eq!(lines["alloc_debug_lines"], 5963);
    // kamailio's own startup banner on stderr ("Listening on", ...) is counted and shown
    assert_eq!(lines["unreadable_lines"], 4);
    assert_eq!(lines["unreadable_samples"][0]["line"], 680);
    let (code, text, _) = run_kmemdbg(&["analyze", path, "--top", "1"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("5,963 per-allocation qm_malloc/qm_free lines skipped"),
        "{text}"
    );
    assert!(text.contains("line 680: Listening on"), "{text}");
}

/// The excerpt as the same proxy would have written it through another transport.
fn transports(text: &str) -> Vec<(&'static str, String)> {
    let stderr_prefix = |l: &str| -> Option<(String, String)> {
        // " 6(7245) ALERT: rest" -> ("7245", "ALERT: rest")
        let t = l.trim_start();
        let open = t.find('(')?;
        let close = t.find(") ")?;
        t[..open].parse::<u32>().ok()?;
        Some((t[open + 1..close].to_string(), t[close + 2..].to_string()))
    };
    let via = |f: &dyn Fn(&str, &str) -> String| -> String {
        text.lines()
            .map(|l| match stderr_prefix(l) {
                Some((pid, rest)) => f(&pid, &rest),
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut uniq = String::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let mut n = 1;
        while i + n < lines.len() && lines[i + n] == lines[i] {
            n += 1;
        }
        uniq.push_str(&format!("{n:>7} {}\n", lines[i]));
        i += n;
    }
    vec![
        (
            "syslog",
            via(&|pid, rest| format!("Nov 25 22:09:01 sip1 kamailio[{pid}]: {rest}")),
        ),
        (
            "syslog /usr/sbin",
            via(&|pid, rest| format!("Nov  5 22:09:01 sip1 /usr/sbin/kamailio[{pid}]: {rest}")),
        ),
        (
            "journald short-iso",
            via(&|pid, rest| format!("2024-11-25T22:09:01+0000 sip1 kamailio[{pid}]: {rest}")),
        ),
        (
            "journald short-precise",
            via(&|pid, rest| format!("Nov 25 22:09:01.123456 sip1 kamailio[{pid}]: {rest}")),
        ),
        ("uniq -c", uniq),
        (
            "pastebin numbers",
            text.lines()
                .enumerate()
                .map(|(n, l)| format!("{}. {l}", n + 1))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        ("CRLF", text.replace('\n', "\r\n")),
        (
            "log_color",
            text.lines()
                .map(|l| format!("\x1b[31;1m{l}\x1b[0m"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ]
}

#[test]
fn same_dumps_through_syslog_journald_uniq_pastebin_crlf_colour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, want, _) = json_of(&["analyze", EXCERPT, "--json", "--top", "0"]);
    let want_keys = dump_keys(&want);
    let want_groups: Vec<Value> = want["dumps"]
        .as_array()
        .expect("dumps")
        .iter()
        .map(|d| d["groups"].clone())
        .collect();
    for (name, text) in transports(&fixture()) {
        let p = write(dir.path(), "t.log", text.as_bytes());
        let (code, got, err) =
            json_of(&["analyze", p.to_str().expect("path"), "--json", "--top", "0"]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(dump_keys(&got), want_keys, "{name}");
        let groups: Vec<Value> = got["dumps"]
            .as_array()
            .expect("dumps")
            .iter()
            .map(|d| d["groups"].clone())
            .collect();
        assert_eq!(groups, want_groups, "{name}");
        assert_eq!(got["files"][0]["lines"]["alloc_debug_lines"], 27, "{name}");
        if name.starts_with("syslog") || name.starts_with("journald") {
            assert_eq!(
                got["dumps"][1]["time"]
                    .as_str()
                    .map(|t| t.contains("22:09:01")),
                Some(true),
                "{name}"
            );
        }
    }
}

#[test]
fn interleaved_processes_are_kept_apart() {
    let text = fixture();
    let lines: Vec<&str> = text.lines().collect();
    // the pkg dump of 7240 (lines 9..=55) and the shm status of 7245 (59..=234), one line each in turn
    let a: Vec<&str> = lines[8..55].to_vec();
    let b: Vec<&str> = lines[58..234].to_vec();
    let mut mixed = Vec::new();
    for i in 0..a.len().max(b.len()) {
        if let Some(l) = a.get(i) {
            mixed.push(*l);
        }
        if let Some(l) = b.get(i) {
            mixed.push(*l);
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "mixed.log", mixed.join("\n").as_bytes());
    let (code, v, err) = json_of(&["analyze", p.to_str().expect("path"), "--json"]);
    assert_eq!(code, 0, "{err}");
    let keys = dump_keys(&v);
    assert_eq!(keys.len(), 2);
    assert_eq!((keys[0].3, keys[0].4), (451, 417064));
    assert_eq!((keys[1].3, keys[1].4), (53, 2474872));
    assert!(keys.iter().all(|k| k.5), "both complete");
}

#[test]
fn truncated_dump_is_read_with_a_warning() {
    let text = fixture();
    // the shm status stops at the site line of its 19th fragment: the process was killed
    let cut: Vec<&str> = text.lines().take(125).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "cut.log", cut.join("\n").as_bytes());
    let path = p.to_str().expect("path");
    let (code, out, err) = run_kmemdbg(&["analyze", path]);
    assert_eq!(code, 0, "a truncated dump is not an error: {err}");
    assert!(out.contains("[TRUNCATED]"), "{out}");
    assert!(out.contains("before its end marker"), "{out}");
    let (_, v, _) = json_of(&["analyze", path, "--json"]);
    let shm = &v["dumps"][1];
    assert_eq!(shm["complete"], false);
    assert_eq!(shm["total_count"], 19);
    assert_eq!(shm["heap"]["used_bytes"], 2474872);
}

#[test]
fn corruption_is_shown_first_and_exits_1() {
    let text = fixture();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // damage fragment 10 of the real shm status, as q_malloc prints it
    let at = lines
        .iter()
        .position(|l| l.contains("    10. N  address=0x7f528898ab60"))
        .expect("fragment 10");
    assert!(lines[at + 2].contains("start check=f0f0f0f0"));
    lines[at + 2] = lines[at + 2].replace("end check= c0c0c0c0", "end check= 41414141");
    let prefix = " 6(7245) ALERT: qm_status: qm_status(): ";
    lines.insert(
        at + 3,
        format!("{prefix}         * end overwritten(41414141, abcdefed)!"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "bad.log", lines.join("\n").as_bytes());
    let path = p.to_str().expect("path");
    let (code, out, _) = run_kmemdbg(&["analyze", path]);
    assert_eq!(code, 0, "corruption is a finding: exit 0");
    assert!(out.starts_with("!!! MEMORY CORRUPTION: 1 marker"), "{out}");
    let first_dump = out.find("== dump").expect("dumps listed");
    let marker = out
        .find("fragment 0x7f528898ab60 alloc'd from core: core/timer.c: init_timer(210)")
        .expect("names fragment and site");
    assert!(marker < first_dump, "corruption comes before the dumps");
    assert!(out.contains("end overwritten(41414141, abcdefed)"), "{out}");
    let (code, v, _) = json_of(&["analyze", path, "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["corruption"][0]["address"], "0x7f528898ab60");
    assert_eq!(v["corruption"][0]["pid"], 7245);
    assert_eq!(v["dumps"][1]["corruption_total"], 1);
}

#[test]
fn empty_file_and_non_dumps_exit_2_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = write(dir.path(), "empty.log", b"");
    let (code, _, err) = run_kmemdbg(&["analyze", empty.to_str().expect("path")]);
    assert_eq!(code, 2);
    assert!(err.contains("empty (0 bytes)"), "{err}");

    let cfg = write(
        dir.path(),
        "kamailio.cfg",
        b"#!KAMAILIO\ndebug=2\nmemlog=1\nloadmodule \"sl.so\"\nrequest_route {\n    sl_send_reply(\"200\", \"OK\");\n}\n",
    );
    let (code, out, err) = run_kmemdbg(&["analyze", cfg.to_str().expect("path")]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("not a Kamailio memory dump"), "{err}");
    assert!(
        err.contains("memlog <= debug"),
        "says how to get a dump: {err}"
    );

    // only the per-allocation flood (memdbg <= debug), no dump
    let flood: String = fixture()
        .lines()
        .filter(|l| l.contains("[core/mem/q_malloc.c:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let f = write(dir.path(), "flood.log", flood.as_bytes());
    let (code, _, err) = run_kmemdbg(&["analyze", f.to_str().expect("path")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("per-allocation qm_malloc/qm_free lines"),
        "{err}"
    );
    assert!(err.contains("keep memdbg above debug"), "{err}");

    let (code, _, err) = run_kmemdbg(&["analyze", "/nonexistent/kamailio.log"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/kamailio.log: cannot open"),
        "{err}"
    );
}

#[test]
fn binary_garbage_and_a_1_mb_line_do_not_hide_the_dump() {
    let mut bytes: Vec<u8> = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..20_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push((x >> 16) as u8);
    }
    bytes.push(b'\n');
    bytes.extend(vec![b'A'; 1 << 20]);
    bytes.push(b'\n');
    bytes.extend_from_slice(fixture().as_bytes());
    bytes.extend_from_slice(&[0xff, 0xfe, 0x00, b'\n']);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "noisy.log", &bytes);
    let (code, v, err) = json_of(&["analyze", p.to_str().expect("path"), "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(5));
    assert_eq!(v["dumps"][1]["total_bytes"], 2474872);
    let lines = &v["files"][0]["lines"];
    assert!(
        lines["unreadable_lines"].as_u64().expect("n") >= 3,
        "garbage is counted: {lines}"
    );
    assert!(!lines["unreadable_samples"]
        .as_array()
        .expect("samples")
        .is_empty());
    let (_, text, _) = run_kmemdbg(&["analyze", p.to_str().expect("path")]);
    assert!(text.contains("lines not understood"), "{text}");
}

#[test]
fn two_formats_in_one_file() {
    // the seed's 3.x/4.2 printout, then the 5.6.3 excerpt
    let seed = "   0(17665) Memory status (shm):
   0(17665) qm_status (0xb5a7e000):
   0(17665)  heap size= 33554432
   0(17665)  used= 1592952, used+overhead=1811564, free=31742868
   0(17665)  max used (+overhead)= 1811564
   0(17665) dumping all alloc'ed. fragments:
   0(17665)       0. N  address=0xb5ab240c frag=0xb5ab23f4 size=4 used=1
   0(17665)             alloc'd from mem/shm_mem.c: shm_mem_init_mallocs(199)
   0(17665)         start check=f0f0f0f0, end check= c0c0c0c0, abcdefed
   0(17665)       1. N  address=0xb5ab2440 frag=0xb5ab2428 size=4 used=1 
   0(17665)             alloc'd from timer.c: init_timer(52)
   0(17665)         start check=f0f0f0f0, end check= c0c0c0c0, abcdefed
";
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "both.log",
        format!("{seed}{}", fixture()).as_bytes(),
    );
    let (code, v, err) = json_of(&[
        "analyze",
        p.to_str().expect("path"),
        "--json",
        "--by",
        "file",
    ]);
    assert_eq!(code, 0, "{err}");
    let dumps = v["dumps"].as_array().expect("dumps");
    assert_eq!(dumps.len(), 6);
    let old = &dumps[0];
    assert_eq!(
        (old["pid"].as_u64(), old["pool"].as_str()),
        (Some(17665), Some("shm"))
    );
    assert_eq!(
        (old["total_count"].as_u64(), old["total_bytes"].as_u64()),
        (Some(2), Some(8))
    );
    assert_eq!(
        old["complete"], false,
        "the seed's excerpt has no end marker"
    );
    assert_eq!(old["groups"][0]["key"], "mem/shm_mem.c");
    assert_eq!(dumps[2]["total_bytes"], 2474872);
}

#[test]
fn filters_and_grouping() {
    let (code, v, _) = json_of(&["analyze", EXCERPT, "--json", "--pool", "shm"]);
    assert_eq!(code, 0);
    assert!(v["dumps"]
        .as_array()
        .expect("dumps")
        .iter()
        .all(|d| d["pool"] == "shm"));
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(2));
    let (_, v, _) = json_of(&["analyze", EXCERPT, "--json", "--pid", "7240"]);
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(2));
    let (code, _, err) = run_kmemdbg(&["analyze", EXCERPT, "--pid", "1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no dump matches --pid 1; the input has: pid 7240"),
        "{err}"
    );
    let (_, v, _) = json_of(&[
        "analyze", EXCERPT, "--json", "--pool", "shm", "--pid", "7245", "--by", "module", "--top",
        "0",
    ]);
    let groups = v["dumps"][0]["groups"].as_array().expect("groups");
    let keys: Vec<&str> = groups.iter().filter_map(|g| g["key"].as_str()).collect();
    assert_eq!(keys[..2], ["tm", "core"]);
    let share: f64 = groups.iter().filter_map(|g| g["share"].as_f64()).sum();
    assert!((share - 1.0).abs() < 1e-9, "shares add up to 100%: {share}");
    let bytes: u64 = groups.iter().filter_map(|g| g["bytes"].as_u64()).sum();
    assert_eq!(bytes, 2474872);
}

#[test]
fn text_report_matches_golden_file() {
    let (code, out, _) = run_kmemdbg(&["analyze", EXCERPT, "--top", "4"]);
    assert_eq!(code, 0);
    let golden = "tests/fixtures/golden/analyze-excerpt.txt";
    if common::bless_requested() {
        std::fs::write(golden, &out).expect("bless");
    }
    let want = std::fs::read_to_string(golden).expect("golden file (KMEMDBG_BLESS=1 writes it)");
    assert_eq!(
        out, want,
        "human output changed; review, then KMEMDBG_BLESS=1 cargo test --test analyze"
    );
}

#[test]
fn bless_is_refused_when_ci_is_set() {
    if std::env::var_os("KMEMDBG_BLESS_INNER").is_some() {
        return; // the run below must not recurse
    }
    // This test binary's golden test, asked to bless with CI set: it must fail
    // before writing, and leave the golden file as it was.
    let golden = "tests/fixtures/golden/analyze-excerpt.txt";
    let before = std::fs::read(golden).expect("golden file");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "text_report_matches_golden_file"])
        .env("CI", "true")
        .env("KMEMDBG_BLESS", "1")
        .env("KMEMDBG_BLESS_INNER", "1")
        .output()
        .expect("run the test binary");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "KMEMDBG_BLESS=1 ran under CI:\n{text}"
    );
    assert!(text.contains("refused when CI is set"), "{text}");
    assert_eq!(std::fs::read(golden).expect("golden file"), before);
}

#[test]
fn generated_dumps_of_every_layout_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    for layout in [
        "qm-status",
        "qm-status-4x",
        "qm-status-3x",
        "qm-sums",
        "fm-sums",
    ] {
        for prefix in ["stderr", "syslog", "journal-iso"] {
            let out = kmemdbg()
                .args([
                    "gen-dump",
                    "--layout",
                    layout,
                    "--prefix",
                    prefix,
                    "--size",
                    "300k",
                    "--processes",
                    "2",
                    "--pool",
                    "pkg",
                ])
                .output()
                .expect("gen-dump");
            assert!(out.status.success(), "{layout} {prefix}");
            // "gen-dump: B bytes, L lines, D dumps, F fragments"
            let note = String::from_utf8_lossy(&out.stderr).to_string();
            let num = |word: &str| -> u64 {
                let end = note.find(&format!(" {word}")).expect("field");
                note[..end]
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("number")
            };
            let p = write(dir.path(), "gen.log", &out.stdout);
            let (code, v, err) = json_of(&["analyze", p.to_str().expect("path"), "--json"]);
            assert_eq!(code, 0, "{layout} {prefix}: {err}");
            let what = format!("{layout} {prefix}");
            assert_eq!(
                v["files"][0]["lines"]["lines"].as_u64(),
                Some(num("lines")),
                "{what}"
            );
            assert_eq!(v["files"][0]["lines"]["unreadable_lines"], 0, "{what}");
            let dumps = v["dumps"].as_array().expect("dumps");
            let sited: Vec<&Value> = dumps
                .iter()
                .filter(|d| d["distinct_sites"].as_u64() > Some(0))
                .collect();
            assert_eq!(sited.len() as u64, num("dumps"), "{what}");
            let fragments: u64 = sited.iter().filter_map(|d| d["total_count"].as_u64()).sum();
            assert_eq!(fragments, num("fragments"), "{what}");
            assert!(
                dumps
                    .iter()
                    .all(|d| d["complete"] == true && d["pool"] == "pkg"),
                "{what}"
            );
        }
    }
}

#[test]
fn diff_names_the_leaking_site_and_flags_suspects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = kmemdbg()
        .args([
            "gen-dump",
            "--layout",
            "qm-status",
            "--size",
            "400k",
            "--dumps",
            "3",
            "--leak",
            "250",
            "--sites",
            "60",
        ])
        .output()
        .expect("gen-dump");
    assert!(out.status.success());
    let p = write(dir.path(), "three.log", &out.stdout);
    let (code, v, err) = json_of(&["diff", p.to_str().expect("path"), "--json", "--top", "3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["schema"], "kmemdbg.diff/1");
    let s = &v["series"][0];
    assert_eq!(s["label"], "shm status");
    assert_eq!(s["points"].as_array().map(Vec::len), Some(3));
    let top = &s["growing"][0];
    assert_eq!(top["key"], "htable: ht_api.c: ht_cell_new(268)");
    assert_eq!(top["counts"], serde_json::json!([0, 250, 500]));
    assert_eq!(top["count_growth"], 500);
    assert_eq!(top["grew_every_time"], true);
    assert_eq!(top["count_per_snapshot"], 250.0);
    assert!(s["suspects"].as_u64() >= Some(1));
    let (_, text, _) = run_kmemdbg(&["diff", p.to_str().expect("path")]);
    assert!(
        text.contains("LEAK SUSPECT, grew every time: count 0 -> 250 -> 500"),
        "{text}"
    );
}

#[test]
fn diff_of_two_files_ranks_what_was_added() {
    // "after" = the real shm status with 12 more htable cells, as q_malloc lists them
    let text = fixture();
    let status: Vec<&str> = text.lines().skip(58).take(176).collect();
    let before = status.join("\n");
    let mut after: Vec<String> = status.iter().map(|l| l.to_string()).collect();
    let end_of_fragments = after
        .iter()
        .position(|l| l.contains("dumping free list stats"))
        .expect("free list");
    let p = " 6(7245) ALERT: qm_status: qm_status(): ";
    for i in 0..12u64 {
        let a = 0x7f52_8900_0000u64 + i * 0x100;
        after.insert(
            end_of_fragments,
            format!("{p}         start check=f0f0f0f0, end check= c0c0c0c0, abcdefed"),
        );
        after.insert(
            end_of_fragments,
            format!("{p}          alloc'd from htable: ht_api.c: ht_cell_new(268)"),
        );
        after.insert(
            end_of_fragments,
            format!(
                "{p}    {}. N  address=0x{:x} frag=0x{:x} size=96 used=1",
                60 + i,
                a + 56,
                a
            ),
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let b = write(dir.path(), "before.log", before.as_bytes());
    let a = write(dir.path(), "after.log", after.join("\n").as_bytes());
    let (code, v, err) = json_of(&[
        "diff",
        b.to_str().expect("path"),
        a.to_str().expect("path"),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let s = &v["series"][0];
    assert_eq!(s["label"], "shm status");
    assert_eq!(s["total_count_growth"], 12);
    assert_eq!(s["total_bytes_growth"], 12 * 96);
    assert_eq!(s["growing"].as_array().map(Vec::len), Some(1));
    assert_eq!(s["growing"][0]["key"], "htable: ht_api.c: ht_cell_new(268)");
    assert_eq!(s["growing"][0]["count_growth"], 12);
    assert_eq!(
        s["growing"][0]["grew_every_time"], false,
        "two dumps make no suspect"
    );
    assert_eq!(s["points"][0]["source"], b.to_str().expect("path"));
}

#[test]
fn diff_with_nothing_to_compare_exits_2() {
    let text = fixture();
    let status: Vec<&str> = text.lines().skip(58).take(176).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let one = write(dir.path(), "one.log", status.join("\n").as_bytes());
    let (code, _, err) = run_kmemdbg(&["diff", one.to_str().expect("path")]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to compare"), "{err}");
    // the real excerpt: the receiver 7240 dumped its pkg twice (RPC, then shutdown): comparable, nothing grew
    let (code, v, _) = json_of(&["diff", EXCERPT, "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["series"][0]["label"], "pkg summary of pid 7240");
    assert_eq!(v["series"][0]["total_bytes_growth"], 0);
    assert_eq!(v["series"][0]["growing"].as_array().map(Vec::len), Some(0));
}

#[test]
fn reads_standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = kmemdbg()
        .args(["analyze", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let text = fixture();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer").expect("write");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(5));
    assert_eq!(v["dumps"][1]["total_bytes"], 2474872);
    assert_eq!(v["files"][0]["path"], "-");
}
