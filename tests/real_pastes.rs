//! The corpus of real pastes (`tests/fixtures/real/`, sources and counts in
//! its README): `kmemdbg analyze --json` must find exactly the values the
//! README counted with awk and grep; `kmemdbg dump`'s block reader and
//! `analyze` must agree on which lines belong to a dump; a mix of the corpus
//! with binary noise is read without a panic.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;

use common::run_kmemdbg;
use serde_json::Value;

const DIR: &str = "tests/fixtures/real";

fn path(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// (exit code, JSON, stderr) of `analyze --json --top 0` on one corpus file.
fn analyze(name: &str) -> (i32, Value, String) {
    let p = path(name);
    let (code, out, err) = run_kmemdbg(&["analyze", &p, "--json", "--top", "0"]);
    if code == 2 {
        return (code, Value::Null, err);
    }
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {out}\nstderr: {err}"));
    json_doc::check_if_schema(&v);
    (code, v, err)
}

fn lines(v: &Value) -> &Value {
    &v["files"][0]["lines"]
}

fn rpc(v: &Value) -> &Value {
    &v["rpc"][0]
}

fn sum_bytes(module: &Value) -> i64 {
    module["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["bytes"].as_i64().expect("bytes"))
        .sum()
}

#[test]
fn k1895_mod_stats_pkg_block_cut_short() {
    let (code, v, err) = analyze("k1895-mod-stats-pkg-5.1.txt");
    assert_eq!(code, 0, "{err}");
    let m = &rpc(&v)["modules"][0];
    assert_eq!(m["module"], "core");
    assert_eq!(m["pool"], "pkg");
    assert_eq!(m["entries"].as_array().map(Vec::len), Some(30));
    assert_eq!(sum_bytes(m), 1_493_608);
    assert!(m["total"].is_null(), "no Total: is invented");
    assert_eq!(m["complete"], false);
    // 1 `mem. allocation failure`, 1 `no more shm`
    assert_eq!(lines(&v)["out_of_memory_lines"], 2);
    assert_eq!(lines(&v)["out_of_memory_shm"], 1);
    let w = v["warnings"].to_string();
    assert!(w.contains("cut short"), "{w}");
}

#[test]
fn k1895_stderr_then_mod_stats_shm() {
    let (code, v, err) = analyze("k1895-stderr-and-mod-stats-shm-5.1.txt");
    assert_eq!(code, 0, "{err}");
    let m = &rpc(&v)["modules"][0];
    assert_eq!(m["pool"], "shm");
    assert_eq!(m["entries"].as_array().map(Vec::len), Some(9));
    assert_eq!(sum_bytes(m), 4_334_144);
    // `no more shm memory` (process 11) and 3 `mem. allocation failure` (process 31)
    assert_eq!(lines(&v)["out_of_memory_lines"], 4);
    assert_eq!(lines(&v)["out_of_memory_shm"], 1);
    assert_eq!(lines(&v)["unreadable_lines"], 0, "{}", lines(&v));
}

#[test]
fn k2094_uniq_c_says_what_it_cannot_carry() {
    let (code, v, err) = analyze("k2094-uniq-c-cut-and-mod-stats-grep-5.x.txt");
    assert_eq!(code, 0, "{err}");
    let d = &v["dumps"][0];
    assert_eq!(d["total_count"], 132);
    assert_eq!(d["distinct_sites"], 11);
    assert_eq!(d["total_bytes"], 0);
    assert!(d.get("pool").is_none(), "no pool is invented: {d}");
    assert!(d.get("pid").is_none(), "no pid is invented: {d}");
    assert_eq!(lines(&v)["uniq_lines"], 11);
    let w = v["warnings"].to_string();
    assert!(w.contains("uniq -c"), "{w}");
    let m = &rpc(&v)["modules"][0];
    assert!(m["module"].is_null());
    assert_eq!(m["pool"], "shm");
    assert_eq!(m["entries"].as_array().map(Vec::len), Some(5));
    assert_eq!(sum_bytes(m), 3160);
    let (_, text, _) = run_kmemdbg(&[
        "analyze",
        &path("k2094-uniq-c-cut-and-mod-stats-grep-5.x.txt"),
    ]);
    assert!(
        !text.contains("in use: 0 bytes"),
        "sizes are unknown, not 0: {text}"
    );
}

#[test]
fn k2094_fragments_without_sites_and_a_gdb_line() {
    let (code, v, err) = analyze("k2094-bare-fragments-and-gdb-5.x.txt");
    assert_eq!(code, 0, "{err}");
    let d = &v["dumps"][0];
    assert_eq!(d["fragments_without_site"], 16);
    assert_eq!(d["bytes_without_site"], 1024);
    assert_eq!(d["distinct_sites"], 0);
    assert_eq!(lines(&v)["unreadable_lines"], 1);
    assert_eq!(lines(&v)["unreadable_samples"][0]["line"], 17);
}

#[test]
fn k3523_qm_sums_with_host() {
    let (code, v, err) = analyze("k3523-qm-sums-syslog-host-5.x.log");
    assert_eq!(code, 0, "{err}");
    let d = &v["dumps"][0];
    assert_eq!(d["pid"], 122);
    assert_eq!(d["total_count"], 26);
    assert_eq!(d["total_bytes"], 48600);
    assert_eq!(d["distinct_sites"], 16);
}

/// Out-of-memory lines only: read (exit 0), counted, nothing invented.
fn oom_only(name: &str, lines_total: u64, oom: u64) -> Value {
    let (code, v, err) = analyze(name);
    assert_eq!(code, 0, "{name}: {err}");
    let l = lines(&v);
    assert_eq!(l["lines"], lines_total, "{name}");
    assert_eq!(l["out_of_memory_lines"], oom, "{name}");
    assert_eq!(l["unreadable_lines"], 0, "{name}: {l}");
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(0), "{name}");
    v
}

#[test]
fn out_of_memory_lines_behind_every_prefix() {
    // 2 qm_find_free + 1 qm_malloc ... called from smsops
    oom_only("k3833-oom-errors-log-prefix-5.8.1.log", 5, 3);
    // the same behind a Markdown quote: 1 qm_find_free + 1 qm_malloc
    oom_only("k3833-markdown-quoted-5.8.1.log", 4, 2);
    // sipproxy[PID]: 1 qm_find_free
    oom_only("k4567-custom-tag-sipproxy.log", 9, 1);
    // kamailio[PID]: alone: 1 qm_find_free + 1 qm_malloc
    oom_only("k3065-tag-no-date-no-host.log", 2, 2);
    // kamailio2[PID]: cannot allocate memory + qm_find_free + qm_malloc
    oom_only("k1513-custom-tag-kamailio2-5.0.log", 5, 3);
    // the two lines pasted twice: 4 lines
    oom_only("k3634-pasted-twice-5.7.2.log", 4, 4);
    let v = oom_only("k156-no-prefix-no-private-memory-4.2.0.log", 2, 2);
    assert_eq!(lines(&v)["out_of_memory_pkg"], 2);
}

#[test]
fn k562_kamctl_stats_is_fragmentation_not_a_full_pool() {
    let (code, v, err) = analyze("k562-kamctl-stats-shmem-fragmented-4.3.4.txt");
    assert_eq!(code, 0, "{err}");
    let p = &rpc(&v)["pools"][0];
    assert_eq!(p["method"], "shm_statistics");
    assert_eq!(p["total"], 67_108_864);
    assert_eq!(p["free"], 49_473_400);
    assert_eq!(p["real_used"], 17_635_464);
    assert_eq!(p["used"], 9_423_760);
    assert_eq!(p["max_used"], 67_108_696);
    assert_eq!(p["fragments"], 39_604);
    let verdict = &v["verdicts"][0];
    assert_eq!(verdict["kind"], "fragmentation", "{verdict}");
    let text = verdict["text"].as_str().unwrap_or_default();
    assert!(text.contains("fragmentation, not a leak"), "{text}");
    assert!(verdict["next"].to_string().contains("mem_join"));
    assert_eq!(lines(&v)["unreadable_lines"], 0);
    assert_eq!(lines(&v)["rpc_lines"], 6);
}

#[test]
fn k2628_wrapped_free_is_never_shown() {
    let (code, v, err) = analyze("k2628-tlsf-status-wrapped-free.txt");
    assert_eq!(code, 0, "{err}");
    let h = &v["dumps"][0]["heap"];
    assert_eq!(h["size_bytes"], 8_388_592);
    assert_eq!(h["used_bytes"], 6_285_144);
    assert_eq!(h["used_with_overhead_bytes"], 12_578_696);
    assert_eq!(h["free_bytes"].as_u64(), Some(18_446_744_073_705_361_512));
    let verdict = &v["verdicts"][0];
    assert_eq!(verdict["kind"], "wrapped");
    assert!(verdict.get("use_share").is_none());
    let (_, text, _) = run_kmemdbg(&["analyze", &path("k2628-tlsf-status-wrapped-free.txt")]);
    assert!(
        !text.contains("18,446,744"),
        "no wrapped free shown: {text}"
    );
    assert!(text.contains("2^64"), "{text}");
    for pct in text.split('%').filter_map(|s| s.rsplit(['(', ' ']).next()) {
        if let Ok(p) = pct.parse::<f64>() {
            assert!(p <= 100.0, "no use above 100%: {text}");
        }
    }
}

#[test]
fn k2270_pkg_stats_record_is_ok() {
    let (code, v, err) = analyze("k2270-pkg-stats-kamcmd.txt");
    assert_eq!(code, 0, "{err}");
    let p = &rpc(&v)["pools"][0];
    assert_eq!(
        (p["pool"].as_str(), p["pid"].as_i64()),
        (Some("pkg"), Some(13723))
    );
    assert_eq!(p["used"], 2_616_752);
    assert_eq!(p["free"], 13_180_048);
    assert_eq!(p["real_used"], 3_597_168);
    assert_eq!(p["total"], 16_777_216);
    assert_eq!(p["fragments"], 2);
    let verdict = &v["verdicts"][0];
    assert_eq!(verdict["kind"], "ok");
    let share = verdict["use_share"].as_f64().unwrap_or(0.0);
    assert!((share - 3_597_168.0 / 16_777_216.0).abs() < 1e-9);
}

#[test]
fn k1026_corruption_among_other_programs() {
    let (code, v, err) = analyze("k1026-empty-level-overwritten-mixed.log");
    assert_eq!(code, 0, "corruption is a finding, not an error: {err}");
    assert_eq!(lines(&v)["lines"], 10);
    let c = v["corruption"].as_array().expect("corruption");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["pid"], 2945);
}

#[test]
fn nothing_to_read_exits_2_and_says_why() {
    for name in [
        "k1902-stderr-ansi-caret-no-memory.log",
        "k1595-curl-jsonrpc-stats-not-memory-5.1.txt",
    ] {
        let (code, out, err) = run_kmemdbg(&["analyze", &path(name)]);
        assert_eq!(code, 2, "{name}: {out}");
        assert!(err.contains("not a Kamailio memory dump"), "{name}: {err}");
        assert!(
            err.contains("pkg.stats"),
            "{name}: says what to paste: {err}"
        );
    }
}

#[test]
fn wiki_stderr_status_header() {
    let (code, v, err) = analyze("wiki-openser-stderr-qm-status.log");
    assert_eq!(code, 0, "{err}");
    let d = &v["dumps"][0];
    assert_eq!(
        (d["pid"].as_u64(), d["process_no"].as_u64()),
        (Some(17665), Some(0))
    );
    assert_eq!(d["pool"], "shm");
    assert_eq!(d["heap"]["size_bytes"], 33_554_432);
    assert_eq!(d["heap"]["used_bytes"], 1_592_952);
    assert_eq!(d["heap"]["used_with_overhead_bytes"], 1_811_564);
    assert_eq!(d["heap"]["free_bytes"], 31_742_868);
}

/// Every file in the corpus is named by a test in `tests/real_pastes*.rs` (a new
/// paste needs its counts).
#[test]
fn every_corpus_file_is_asserted() {
    // this file and its siblings (`tests/real_pastes_*.rs`) hold the corpus tests
    let mut me = String::new();
    for e in std::fs::read_dir("tests").expect("tests") {
        let p = e.expect("entry").path();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with("real_pastes") && n.ends_with(".rs")) {
            me.push_str(&std::fs::read_to_string(&p).expect("a corpus test file"));
        }
    }
    let readme = std::fs::read_to_string(format!("{DIR}/README.md")).expect("README");
    for e in std::fs::read_dir(DIR).expect("corpus") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if name == "README.md" {
            continue;
        }
        assert!(
            me.contains(&format!("\"{name}\"")),
            "{name}: no test asserts it"
        );
        assert!(
            readme.contains(&format!("`{name}`")),
            "{name}: not in the README"
        );
    }
}

/// `kmemdbg dump` decides which lines belong to a dump with
/// `capture::blocks::Scanner`; `analyze` with the aggregator. On every
/// corpus file, the lines the scanner keeps are exactly the dump lines of
/// the dumps `analyze` reads from their start (a capture starts at the
/// trigger, so a dump whose first lines are not in a paste is `analyze`'s
/// alone, and is reported as such: `headless`).
#[test]
fn dump_and_analyze_agree_on_every_corpus_file() {
    use kmemdbg::capture::blocks::Scanner;
    let mut compared = 0;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(DIR)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| !p.extension().is_some_and(|x| x == "md"))
        .collect();
    // and the real 5.6.3 log of many whole dumps, interleaved
    files.push("tests/fixtures/capture/sample-5.6.3-dumps.log".into());
    for p in files {
        let text = std::fs::read_to_string(&p).expect("read");
        let log = kmemdbg::dump::aggregate_text(text.as_bytes());
        let mut scanner = Scanner::new(false);
        let mut kept = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if scanner.feed(line).is_some() {
                kept.push(i as u64 + 1);
            }
        }
        scanner.finish();
        let mut read = Vec::new();
        for s in log
            .snapshots
            .iter()
            .filter(|s| !s.headless && s.pid.is_some())
        {
            let mut last_pid = None;
            // the writer's last line before the dump, if it is its heading
            // (`Memory status (shm):`; other processes' lines may come between)
            let mut heading = None;
            for (i, line) in text.lines().enumerate() {
                let n = i as u64 + 1;
                let mut l = kmemdbg::logline::parse_line(line.as_bytes());
                // a line without a prefix continues the last writer's message
                if l.prefix.pid.is_none() {
                    l.prefix.pid = last_pid;
                }
                last_pid = l.prefix.pid;
                if l.prefix.pid != s.pid {
                    continue;
                }
                if n < s.first_line {
                    heading =
                        matches!(l.body, kmemdbg::logline::Body::PoolHeader { .. }).then_some(n);
                } else if n <= s.last_line && l.body.is_dump_line() {
                    read.push(n);
                }
            }
            read.extend(heading);
        }
        read.sort_unstable();
        read.dedup();
        compared += read.len();
        let only_dump: Vec<u64> = kept.iter().filter(|n| !read.contains(n)).copied().collect();
        let only_analyze: Vec<u64> = read.iter().filter(|n| !kept.contains(n)).copied().collect();
        assert!(
            only_dump.is_empty() && only_analyze.is_empty(),
            "{}: lines only dump keeps {only_dump:?}, lines only analyze reads {only_analyze:?}",
            p.display()
        );
    }
    assert!(compared > 0, "some dump was compared");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// The corpus cut, shuffled, mixed with binary noise and partial lines:
    /// read without a panic, every line accounted for.
    #[test]
    fn corpus_mixed_with_noise_never_panics(
        picks in proptest::collection::vec((0usize..400, 0usize..200), 0..120),
        noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
    ) {
        let mut corpus: Vec<String> = Vec::new();
        for e in std::fs::read_dir(DIR).expect("corpus") {
            let p = e.expect("entry").path();
            let text = std::fs::read_to_string(&p).expect("read");
            corpus.extend(text.lines().map(String::from));
        }
        let mut input: Vec<u8> = Vec::new();
        for (i, cut) in picks {
            let l = &corpus[i % corpus.len()];
            let end = l.char_indices().map(|(k, _)| k).nth(cut).unwrap_or(l.len());
            input.extend_from_slice(&l.as_bytes()[..end]);
            input.push(b'\n');
            if i % 7 == 0 {
                let n = (i % noise.len().max(1)).min(noise.len());
                input.extend_from_slice(&noise[..n]);
            }
        }
        let log = kmemdbg::dump::aggregate_text(&input);
        let l = &log.lines;
        proptest::prop_assert!(l.unreadable_lines <= l.lines);
        proptest::prop_assert!(l.rpc_lines <= l.lines);
        for p in &log.rpc.pools {
            let _ = kmemdbg::memrpc::verdict::judge(p, &Default::default());
        }
    }
}

/// Stand-in (built here, figures made up): an f_malloc shm status whose
/// free list holds 70% of the pool in pieces of 512 bytes at most.
const FM_FRAGMENTED: &str = " 0(100) ALERT: <core> [main.c:1]: sig_usr(): Memory status (shm):
 0(100) ALERT: fm_status: fm_status (0x7f0000000000):
 0(100) ALERT: fm_status:  heap size= 1000000
 0(100) ALERT: fm_status:  used= 100000, used+overhead=300000, free=700000
 0(100) ALERT: fm_status:  max used (+overhead)= 900000
 0(100) ALERT: fm_status: dumping free list:
 0(100) ALERT: fm_status: hash =   1 fragments no.: 20000, unused: 0
\t\t bucket size:         8 -         8 (first         8)
 0(100) ALERT: fm_status: hash =  64 fragments no.:  1000, unused: 0
\t\t bucket size:       512 -       512 (first       512)
 0(100) ALERT: fm_status: TOTAL:  21000 free fragments = 672000 free bytes
 0(100) ALERT: fm_status: -----------------------------
";

#[test]
fn standin_free_list_in_pieces_is_fragmentation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("fm.log");
    std::fs::write(&p, FM_FRAGMENTED).expect("write");
    let (code, out, err) = run_kmemdbg(&["analyze", p.to_str().expect("path"), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    json_doc::check_if_schema(&v);
    let verdict = &v["verdicts"][0];
    assert_eq!(verdict["kind"], "fragmentation", "{verdict}");
    let text = verdict["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("21,000 fragments, the largest only 512"),
        "{text}"
    );
    assert!(verdict["next"].to_string().contains("-x tlsf"));
}

/// Stand-in (figures made up): `kamcmd pkg.stats` of five processes, one
/// exhausted. The healthy ones are summed in one line, the exhausted one
/// is named with the gap between used and real_used; exit 0.
#[test]
fn standin_pkg_stats_exhausted_receiver_among_healthy_ones() {
    let mut text = String::new();
    for (pid, used, real, free) in [
        (1, 100, 200, 800),
        (2, 100, 300, 700),
        (3, 100, 250, 750),
        (4, 100, 220, 780),
        (5, 120, 1000, 0),
    ] {
        text.push_str(&format!(
            "{{\n\tentry: {pid}\n\tpid: {pid}\n\trank: {pid}\n\tused: {used}\n\tfree: {free}\n\treal_used: {real}\n\ttotal_size: 1000\n\ttotal_frags: 1\n\tdesc: udp receiver child={pid}\n}}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("pkg.txt");
    std::fs::write(&p, text).expect("write");
    let (code, out, err) = run_kmemdbg(&["analyze", p.to_str().expect("path")]);
    assert_eq!(code, 0, "an exhausted pool is a finding: {err}");
    assert!(
        out.contains("pkg of 4 processes ok; the fullest: pkg of pid 2"),
        "{out}"
    );
    assert!(
        out.contains("pkg of pid 5 (udp receiver child=5): EXHAUSTED"),
        "{out}"
    );
    assert!(
        out.contains("the 880 bytes between used and real_used"),
        "{out}"
    );
}
