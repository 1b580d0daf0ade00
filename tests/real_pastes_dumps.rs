//! Real memory-dump and log pastes of the corpus (`tests/fixtures/real/`,
//! the rows under "Dumps and logs (added)" in its README, with sources and
//! counts): `kmemdbg analyze` (text and `--json`) must read the fragments,
//! sites and sizes the README counted with awk and grep, say what a paste
//! cannot carry (pool, heap size, pid) instead of inventing it, and
//! `kmemdbg dump`'s block scanner must keep the same lines (the agreement
//! over every corpus file is in tests/real_pastes.rs).

mod common;
#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/json_doc.rs"]
mod json_doc;

use corpus::{analyze, analyze_text, dump_keeps, lines};

/// kamailio/kamailio#4231, 6.0.1: stderr `20(204914)` lines from the middle
/// of a q_malloc status dump (fragments 28500..28503 of shm, header cut off).
#[test]
fn k4231_stderr_qm_status_6_0_1_headless() {
    let name = "k4231-stderr-qm-status-6.0.1.log";
    let (code, v, err) = analyze(name);
    assert_eq!(code, 0, "{err}");
    let l = lines(&v);
    assert_eq!(l["lines"], 12);
    assert_eq!(l["dump_lines"], 12);
    assert_eq!(l["unreadable_lines"], 0, "{l}");
    let dumps = v["dumps"].as_array().expect("dumps");
    assert_eq!(dumps.len(), 1);
    let d = &dumps[0];
    assert_eq!(
        (d["pid"].as_u64(), d["process_no"].as_u64()),
        (Some(204_914), Some(20))
    );
    assert_eq!(d["kind"], "status");
    assert_eq!(d["allocator"], "q_malloc");
    // 4 fragments of 112 + 48 + 32 + 32 bytes, all from one site
    assert_eq!(d["total_count"], 4);
    assert_eq!(d["total_bytes"], 224);
    assert_eq!(d["distinct_sites"], 1);
    assert_eq!(d["fragments_without_site"], 0);
    assert_eq!(d["groups"][0]["key"], "tls: tls_init.c: ser_malloc(364)");
    assert_eq!(d["groups"][0]["count"], 4);
    // the header is not in the paste: no pool, no heap size, a lower bound
    assert_eq!(d["headless"], true);
    assert_eq!(d["complete"], false);
    assert!(d.get("pool").is_none(), "no pool is invented: {d}");
    assert_eq!(
        d["heap"],
        serde_json::json!({}),
        "no heap figure is invented"
    );
    let w = v["warnings"].to_string();
    assert!(w.contains("starts before the input does"), "{w}");
    assert!(w.contains("lower bound"), "{w}");

    let (code, text, _) = analyze_text(name);
    assert_eq!(code, 0);
    assert!(text.contains("pid 204914 (process 20), pool ?"), "{text}");
    assert!(
        text.contains("224 bytes in 4 fragments from 1 sites"),
        "{text}"
    );
    assert!(!text.contains("heap size"), "{text}");
    // a capture starts at a dump's header: the scanner keeps nothing of a
    // paste that has none (and analyze reports it headless)
    assert!(dump_keeps(name).is_empty());
}

/// kamailio/kamailio#3803: tlsf's `tlsf_sums(): pool (0x..) summarizing`
/// header behind a location in tlsf_malloc.c (read before as a
/// per-allocation debug line), then one summary row; tag `sipproxy`.
#[test]
fn k3803_tlsf_sums_header_and_row() {
    let name = "k3803-tlsf-sums-pool-header-sipproxy.log";
    let (code, v, err) = analyze(name);
    assert_eq!(code, 0, "{err}");
    let l = lines(&v);
    assert_eq!(l["lines"], 2);
    assert_eq!(l["dump_lines"], 2);
    assert_eq!(
        l["alloc_debug_lines"], 0,
        "the header is no per-allocation line"
    );
    assert_eq!(l["unreadable_lines"], 0, "{l}");
    let d = &v["dumps"][0];
    assert_eq!(d["pid"], 2273);
    assert_eq!(d["kind"], "summary");
    assert_eq!(d["headless"], false, "the header is read");
    assert_eq!(
        (d["first_line"].as_u64(), d["last_line"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(d["total_count"], 2);
    assert_eq!(d["total_bytes"], 336);
    assert_eq!(d["distinct_sites"], 1);
    assert_eq!(
        d["groups"][0]["key"],
        "tls: tls_init.c: crypto/evp/evp_enc.c(43)"
    );
    // tlsf is neither q_malloc nor f_malloc, and the pool is not printed
    assert!(
        d.get("allocator").is_none(),
        "no allocator is invented: {d}"
    );
    assert!(d.get("pool").is_none(), "no pool is invented: {d}");
    assert_eq!(d["complete"], false, "no end marker in the paste");

    let (code, text, _) = analyze_text(name);
    assert_eq!(code, 0);
    assert!(text.contains("pid 2273, pool ? summary"), "{text}");
    assert!(!text.contains("per-allocation"), "{text}");
    // `dump` keeps the same two lines
    assert_eq!(dump_keeps(name), vec![1, 2]);
}

/// kamailio/kamailio#3159 (5.3.9 to 5.5.4): one `qm_sums` row with only the
/// level in front (no date, no host, no pid).
#[test]
fn k3159_one_sums_row_level_only() {
    let name = "k3159-qm-sums-level-only-5.3-5.5.txt";
    let (code, v, err) = analyze(name);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines(&v)["dump_lines"], 1);
    let d = &v["dumps"][0];
    assert_eq!(d["kind"], "summary");
    assert_eq!(d["allocator"], "q_malloc");
    assert_eq!(d["total_count"], 48_161);
    assert_eq!(d["total_bytes"], 1_789_640);
    assert_eq!(
        d["groups"][0]["key"],
        "core: core/rvalue.c: rval_get_str(1293)"
    );
    assert!(d.get("pid").is_none(), "no pid is invented: {d}");
    assert!(d.get("pool").is_none(), "no pool is invented: {d}");

    let (code, text, _) = analyze_text(name);
    assert_eq!(code, 0);
    assert!(text.contains("pid ?, pool ?"), "{text}");
    assert!(
        text.contains("1,789,640 bytes in 48,161 fragments"),
        "{text}"
    );
    assert!(
        dump_keeps(name).is_empty(),
        "no header, no pid: nothing to capture"
    );
}

/// kamailio/kamailio#361: a 3.2.3 (SIP Router era) corruption report, its
/// module cut away and the line wrapped before `overwritten`: found as
/// corruption (exit 0, a finding), the wrapped rest counted as not read.
#[test]
fn k361_3x_corruption_wrapped() {
    let name = "k361-3.2.3-end-overwritten-wrapped.txt";
    let (code, v, err) = analyze(name);
    assert_eq!(code, 0, "corruption is a finding, not an error: {err}");
    let c = v["corruption"].as_array().expect("corruption");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["line"], 1);
    assert!(c[0].get("pid").is_none(), "no pid is invented: {}", c[0]);
    let l = lines(&v);
    assert_eq!(l["lines"], 2);
    assert_eq!(l["unreadable_lines"], 1);
    assert_eq!(l["unreadable_samples"][0]["line"], 2);
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(0));
    let (code, text, _) = analyze_text(name);
    assert_eq!(code, 0);
    assert!(text.contains("MEMORY CORRUPTION: 1 marker"), "{text}");
    assert!(dump_keeps(name).is_empty());
}

/// kamailio/kamailio#1635 (5.1): `service kamailio status`, i.e. systemd's
/// unit header and the journal's last lines as `systemctl status` prints
/// them (short format, cut at the terminal width), four of them systemd's
/// own. No memory figures at all, though a tls warning says "mem leaks on
/// low memory": exit 2, and the counts say what was there.
#[test]
fn k1635_systemctl_status_journal_has_no_memory_data() {
    let name = "k1635-systemctl-status-journal-5.1.log";
    let (code, out, err) = analyze_text(name);
    assert_eq!(code, 2, "{out}");
    // 16 lines: 9 journal lines, 2 blank, 5 of the unit header and prompt
    assert!(
        err.contains("not a Kamailio memory dump: 16 lines, 9 log lines without memory figures, 5 unreadable (line 1:  sudo service kamailio status)"),
        "{err}"
    );
    assert!(!err.contains("out of memory"), "{err}");
    assert!(err.contains("pkg.stats"), "says what to paste: {err}");
    let (code, v, _) = analyze(name);
    assert_eq!((code, v), (2, serde_json::Value::Null));
    assert!(dump_keeps(name).is_empty());
}

/// OpenSIPS/opensips#194 (OpenSIPS 1.11, Kamailio's sister project with the
/// same f_malloc): a pkg status of one process with the tail of another
/// process's dump between its lines; the bucket line was written with the
/// time and host but no tag, and `TOTAL:` has no printer word in front.
#[test]
fn opensips194_fm_status_interleaved_with_a_tagless_continuation() {
    let name = "opensips194-fm-status-interleaved-1.11.log";
    let (code, v, err) = analyze(name);
    assert_eq!(code, 0, "{err}");
    let l = lines(&v);
    assert_eq!(l["lines"], 15);
    assert_eq!(l["dump_lines"], 15, "{l}");
    assert_eq!(l["unreadable_lines"], 0, "{l}");
    let dumps = v["dumps"].as_array().expect("dumps");
    assert_eq!(dumps.len(), 1, "pid 10302's tail has no figures");
    let d = &dumps[0];
    assert_eq!(d["pid"], 10311);
    assert_eq!(d["pool"], "pkg", "printed in `Memory status (pkg):`");
    assert_eq!(d["kind"], "status");
    assert_eq!(d["allocator"], "f_malloc");
    assert_eq!(
        (d["first_line"].as_u64(), d["last_line"].as_u64()),
        (Some(3), Some(15))
    );
    let h = &d["heap"];
    assert_eq!(h["size_bytes"], 2_097_152);
    assert_eq!(h["used_bytes"], 175_720);
    assert_eq!(h["used_with_overhead_bytes"], 286_648);
    assert_eq!(h["free_bytes"], 1_921_432);
    assert_eq!(h["max_used_bytes"], 286_648);
    // f_malloc's status lists no fragments: no site is invented
    assert_eq!(d["distinct_sites"], 0);
    assert_eq!(d["total_bytes"], 0);
    assert!(v["warnings"].to_string().contains("lists no fragments"));
    let verdict = &v["verdicts"][0];
    assert_eq!(verdict["kind"], "ok");
    let share = verdict["use_share"].as_f64().unwrap_or(0.0);
    assert!((share - 286_648.0 / 2_097_152.0).abs() < 1e-9, "{verdict}");

    let (code, text, _) = analyze_text(name);
    assert_eq!(code, 0);
    assert!(text.contains("pid 10311, pkg status"), "{text}");
    assert!(!text.contains("not understood"), "{text}");
    // `dump` keeps the heading and every line of pid 10311, the tagless
    // bucket line (12) included, and none of pid 10302's
    assert_eq!(
        dump_keeps(name),
        vec![1, 3, 5, 8, 9, 10, 11, 12, 13, 14, 15]
    );
}

/// kamailio/kamailio#3859 (5.6): stderr captured by the journal and written
/// to syslog, so each line has the tag `kamailio[PID]:` and Kamailio's own
/// `N(PID) `; script lines with a `{..}` log prefix, UTF-8 text and a
/// literal `\n` joining two messages. No memory data: exit 2, every line
/// read as a log line, the writer taken from both prefixes.
#[test]
fn k3859_syslog_tag_and_stderr_prefix_no_memory_data() {
    let name = "k3859-syslog-tag-and-stderr-prefix-5.6.log";
    let (code, out, err) = analyze_text(name);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains(
            "not a Kamailio memory dump: 6 lines, 6 log lines without memory figures, 0 unreadable"
        ),
        "{err}"
    );
    let text = std::fs::read_to_string(corpus::path(name)).expect("corpus file");
    for line in text.lines() {
        let l = kmemdbg::logline::parse_line(line.as_bytes());
        assert_eq!(
            (l.prefix.pid, l.prefix.process_no),
            (Some(45289), Some(35)),
            "{line}"
        );
        assert!(!l.body.is_dump_line(), "{line}");
    }
}

/// kamailio/kamailio#1040 (4.4.5, 32-bit): f_malloc's out-of-memory lines
/// under a custom `log_name` (`adx-webrtc[PID]`) with the `{..}` log prefix
/// *before* the level (4.x), after the kernel's segfault line that names
/// `kamailio[2963]` inside its message. Five out-of-memory lines, none of
/// them naming a pool (f_malloc does not say which): read, none invented.
#[test]
fn k1040_fm_malloc_out_of_memory_custom_tag_prefix_before_level() {
    let name = "k1040-fm-malloc-oom-custom-tag-log-prefix-4.4.5.log";
    let (code, v, err) = analyze(name);
    assert_eq!(code, 0, "{err}");
    let l = lines(&v);
    assert_eq!(l["lines"], 6);
    assert_eq!(l["out_of_memory_lines"], 5);
    assert_eq!(l["out_of_memory_pkg"], 0, "no pool is invented");
    assert_eq!(l["out_of_memory_shm"], 0, "no pool is invented");
    assert_eq!(l["unreadable_lines"], 0, "{l}");
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(0));
    let (code, text, _) = analyze_text(name);
    assert_eq!(code, 0);
    assert!(
        text.contains("5 out-of-memory line(s) (naming pkg 0, shm 0, no pool 5)"),
        "{text}"
    );
    let file = std::fs::read_to_string(corpus::path(name)).expect("corpus file");
    let mut lines_of = file
        .lines()
        .map(|s| kmemdbg::logline::parse_line(s.as_bytes()));
    let kernel = lines_of.next().expect("line 1");
    assert_ne!(
        kernel.prefix.pid,
        Some(2963),
        "the kernel's line is not kamailio's"
    );
    for l in lines_of {
        assert_eq!(l.prefix.pid, Some(2963));
        assert_eq!(l.prefix.level, Some(&b"ERROR"[..]));
        assert!(
            matches!(
                l.body,
                kmemdbg::logline::Body::OutOfMemory { pool: None, .. }
            ),
            "{:?}",
            l.body
        );
    }
}

/// kamailio/kamailio#1400 (5.0.5, in a container): stderr lines, the first
/// one copied without its leading blank and with an empty level
/// (`4(30) : <core> …`), q_malloc's double-free abort, then the main
/// process reporting the child's death. One corruption report, of pid 30,
/// and the advice for a double free (not the one for an overrun end).
#[test]
fn k1400_double_free_behind_an_empty_level() {
    let name = "k1400-stderr-double-free-empty-level-5.0.5.log";
    let (code, v, err) = analyze(name);
    assert_eq!(code, 0, "corruption is a finding: {err}");
    let c = v["corruption"].as_array().expect("corruption");
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0]["line"].as_u64(), c[0]["pid"].as_u64()),
        (Some(1), Some(30))
    );
    let l = lines(&v);
    assert_eq!(l["lines"], 5);
    assert_eq!(l["unreadable_lines"], 0, "{l}");
    assert_eq!(v["dumps"].as_array().map(Vec::len), Some(0));
    let (code, text, _) = analyze_text(name);
    assert_eq!(code, 0);
    assert!(text.contains("next: a pointer freed twice"), "{text}");
    assert!(!text.contains("`end overwritten` fragment"), "{text}");
}

/// kamailio/kamailio#3971 (5.6.4): a double free that q_malloc ignored
/// (`- ignoring`, two different sites), pasted into the issue template
/// between its placeholder and its next heading. One corruption report;
/// the template's two lines are counted as not read, the blanks as blank.
#[test]
fn k3971_double_free_in_the_issue_template() {
    let name = "k3971-double-free-in-issue-template-5.6.4.txt";
    let (code, v, err) = analyze(name);
    assert_eq!(code, 0, "{err}");
    let c = v["corruption"].as_array().expect("corruption");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["line"], 3);
    assert!(c[0].get("pid").is_none(), "no pid is invented: {}", c[0]);
    let l = lines(&v);
    assert_eq!(
        (
            l["lines"].as_u64(),
            l["blank_lines"].as_u64(),
            l["unreadable_lines"].as_u64()
        ),
        (Some(5), Some(2), Some(2))
    );
    let (_, text, _) = analyze_text(name);
    assert!(text.contains("next: a pointer freed twice"), "{text}");
}
