//! The RPC-answer part of the corpus of real pastes (`tests/fixtures/real/`,
//! sources and counts in its README under "RPC outputs (added)"): what users
//! pasted of `pkg.stats`, `core.psx` (`kamctl ps`), `core.shmmem` and the
//! `shmem:` statistics. `kmemdbg analyze` must read each one with exactly the
//! values the README counted with awk, grep and python arithmetic, in its
//! text and its `--json` output, and exit 0 when it read the paste.

mod common;
#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/json_doc.rs"]
mod json_doc;

use corpus::lines;
use serde_json::Value;

/// The `--json` report of `analyze` and its text report; both must read
/// the file (exit 0), whatever the verdict.
fn analyze(name: &str) -> (Value, String) {
    let (code, v, err) = corpus::analyze(name);
    assert_eq!(code, 0, "{name}: read, whatever the verdict: {err}");
    let (tcode, text, terr) = corpus::analyze_text(name);
    assert_eq!(tcode, 0, "{name}: the text report reads it too: {terr}");
    (v, text)
}

fn rpc(v: &Value) -> &Value {
    &v["rpc"][0]
}

/// No percentage above 100 in a text.
fn no_use_above_100(text: &str) {
    for pct in text.split('%').filter_map(|s| s.rsplit(['(', ' ']).next()) {
        if let Ok(p) = pct.parse::<f64>() {
            assert!(p <= 100.0, "no use above 100%: {text}");
        }
    }
}

#[test]
fn k3777_pkg_stats_record_pasted_without_braces() {
    let name = "k3777-pkg-stats-no-braces-and-qm-sums-5.7.0.txt";
    let (v, text) = analyze(name);
    let pools = rpc(&v)["pools"].as_array().expect("pools");
    assert_eq!(pools.len(), 1, "{pools:?}");
    let p = &pools[0];
    assert_eq!(p["method"], "pkg_stats");
    assert_eq!(p["encoding"], "kamcmd_text");
    assert_eq!(p["line"], 3);
    assert_eq!(
        (p["pid"].as_i64(), p["rank"].as_i64()),
        (Some(378_355), Some(17))
    );
    assert_eq!(p["desc"], "tcp receiver (generic) child=0");
    assert_eq!(p["used"], 7_467_640);
    assert_eq!(p["free"], 24_348_320);
    assert_eq!(p["real_used"], 9_206_112);
    assert_eq!(p["total"], 33_554_432);
    assert_eq!(p["fragments"], 66);
    let verdict = &v["verdicts"][0];
    assert_eq!(verdict["kind"], "ok", "{verdict}");
    let share = verdict["use_share"].as_f64().unwrap_or(0.0);
    assert!((share - 9_206_112.0 / 33_554_432.0).abs() < 1e-9, "{share}");
    // the qm_sums line after `kamcmd corex.pkg_summary pid 378355`
    let d = &v["dumps"][0];
    assert_eq!(d["pid"], 378_355);
    assert_eq!(d["total_count"], 8075);
    assert_eq!(d["total_bytes"], 4_638_760);
    assert_eq!(d["distinct_sites"], 1);
    let l = lines(&v);
    assert_eq!(l["lines"], 14);
    assert_eq!(l["rpc_lines"], 9);
    assert_eq!(l["blank_lines"], 2);
    // the two shell lines
    assert_eq!(l["unreadable_lines"], 2, "{l}");
    assert!(
        text.contains("pkg of pid 378355 (tcp receiver (generic) child=0)"),
        "{text}"
    );
    assert!(
        text.contains("real_used 9,206,112 of 33,554,432 (27.4%)"),
        "{text}"
    );
}

#[test]
fn k1172_kamctl_ps_grep_names_the_processes() {
    let name = "k1172-kamctl-ps-grep-json-5.0.2.txt";
    let (v, text) = analyze(name);
    let ps = rpc(&v)["processes"].as_array().expect("processes");
    assert_eq!(ps.len(), 8, "{ps:?}");
    for (i, p) in ps.iter().enumerate() {
        assert_eq!(p["pid"].as_i64(), Some(23_610 + i as i64), "{p}");
        assert_eq!(p["desc"], format!("tcp receiver (generic) child={i}"));
        assert!(p["index"].is_null(), "grep -B1 cut IDX away: {p}");
    }
    assert!(rpc(&v)["pools"].as_array().is_some_and(Vec::is_empty));
    assert!(v["verdicts"].as_array().is_some_and(Vec::is_empty));
    let l = lines(&v);
    assert_eq!(l["lines"], 25);
    assert_eq!(l["rpc_lines"], 16);
    // 2 prompt lines and grep's 7 `--` separators
    assert_eq!(l["unreadable_lines"], 9, "{l}");
    assert!(text.contains("8 process(es) named"), "{text}");
}

/// OpenSIPS `get_statistics shmem:` answers: the same `shmem:NAME` figures as
/// `kamctl stats shmem`, adding up only modulo 2^64.
fn wrapped_shmem(name: &str, total: i64, wrapped_free: &str, shown: &[&str]) {
    let (v, text) = analyze(name);
    let p = &rpc(&v)["pools"][0];
    assert_eq!(p["method"], "shm_statistics");
    assert_eq!(p["encoding"], "kamctl_stats");
    assert_eq!(p["total"], total);
    assert_eq!(p["free"].to_string(), wrapped_free);
    let verdict = &v["verdicts"][0];
    assert_eq!(verdict["kind"], "wrapped", "{verdict}");
    assert!(verdict.get("use_share").is_none(), "{verdict}");
    assert!(verdict["text"].to_string().contains("2^64"), "{verdict}");
    assert_eq!(lines(&v)["rpc_lines"], 6);
    assert_eq!(lines(&v)["unreadable_lines"], 1, "the command line");
    for wrong in shown {
        assert!(!text.contains(wrong), "{wrong} is not an amount: {text}");
    }
    assert!(text.contains("2^64"), "{text}");
    no_use_above_100(&text);
}

#[test]
fn opensips239_impossible_used_is_flagged() {
    wrapped_shmem(
        "opensips239-shmem-impossible-values-1.11.txt",
        536_870_912,
        "14028712839697682328",
        &["14,028,712", "4,418,031"],
    );
}

#[test]
fn opensips2089_wrapped_free_is_flagged() {
    wrapped_shmem(
        "opensips2089-shmem-wrapped-free-2.4.7.txt",
        134_217_728,
        "18446744073669867696",
        &["18,446,744"],
    );
}

/// (entries, bytes, pool) of the one mod.stats block read, with its largest entry.
fn mod_stats_block(name: &str, entries: usize, bytes: i64, pool: &str, top: (&str, i64)) {
    let (v, text) = analyze(name);
    let mods = rpc(&v)["modules"].as_array().expect("modules");
    assert_eq!(mods.len(), 1, "{mods:?}");
    let m = &mods[0];
    assert_eq!(m["module"], "core");
    assert_eq!(m["pool"], pool);
    let e = m["entries"].as_array().expect("entries");
    assert_eq!(e.len(), entries);
    let sum: i64 = e.iter().filter_map(|x| x["bytes"].as_i64()).sum();
    assert_eq!(sum, bytes);
    let max = e
        .iter()
        .max_by_key(|x| x["bytes"].as_i64())
        .expect("an entry");
    assert_eq!(
        (max["site"].as_str(), max["bytes"].as_i64()),
        (Some(top.0), Some(top.1))
    );
    assert!(m["total"].is_null(), "no Total: is invented");
    assert_eq!(m["complete"], false);
    let l = lines(&v);
    assert_eq!(
        l["rpc_lines"], l["lines"],
        "every numbered line is read: {l}"
    );
    assert_eq!(l["unreadable_lines"], 0, "{l}");
    assert!(v["warnings"].to_string().contains("cut short"));
    assert!(text.contains(&format!("{entries} entries")), "{text}");
}

#[test]
fn pastebin_jbczbbsq_numbered_mod_stats_shm() {
    mod_stats_block(
        "pastebin-JbcZbbSQ-mod-stats-shm-numbered-5.4.txt",
        43,
        7_679_640,
        "shm",
        ("sip_msg_shm_clone(496)", 4_015_528),
    );
}

#[test]
fn pastebin_gha803kb_numbered_mod_stats_shm_one_site_holds_it_all() {
    mod_stats_block(
        "pastebin-gHa803kB-mod-stats-shm-numbered-5.5.txt",
        44,
        877_513_224,
        "shm",
        ("sip_msg_shm_clone(496)", 875_908_656),
    );
}

#[test]
fn pastebin_qlz8mzdd_kamcmd_prompt_mod_stats_pkg() {
    mod_stats_block(
        "pastebin-QLZ8mZdD-kamcmd-prompt-mod-stats-pkg-numbered.txt",
        43,
        930_032,
        "pkg",
        ("mk_rval_expr_v(2540)", 485_888),
    );
}

/// The processes named in a paste, as (IDX, PID, DSC).
fn processes(v: &Value) -> Vec<(Option<i64>, i64, String)> {
    rpc(v)["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| {
            (
                p["index"].as_i64(),
                p["pid"].as_i64().expect("pid"),
                p["desc"].as_str().expect("desc").to_string(),
            )
        })
        .collect()
}

#[test]
fn pastebin_cparylar_kamctl_ps_whole_json_answer() {
    let (v, text) = analyze("pastebin-CpaRYLAR-kamctl-ps-json-numbered.txt");
    let ps = processes(&v);
    assert_eq!(ps.len(), 13, "{ps:?}");
    for (i, (idx, _, _)) in ps.iter().enumerate() {
        assert_eq!(*idx, Some(i as i64));
    }
    assert_eq!(
        ps[0],
        (Some(0), 3_826_296, "main process - attendant".into())
    );
    assert_eq!(ps[7].2, "SNMP AgentX");
    assert_eq!(ps[12], (Some(12), 3_826_309, "tcp main process".into()));
    let pids: Vec<i64> = ps.iter().map(|p| p.1).collect();
    assert!(!pids.contains(&3_826_304), "no PID invented in the gap");
    let l = lines(&v);
    assert_eq!(
        (l["lines"].as_u64(), l["rpc_lines"].as_u64()),
        (Some(60), Some(59))
    );
    assert_eq!(l["unreadable_lines"], 1, "the prompt line: {l}");
    assert!(!v["warnings"].to_string().contains("cut short"));
    assert!(text.contains("13 process(es) named"), "{text}");
}

#[test]
fn pastebin_aabwyjwx_cut_json_answer_keeps_complete_records() {
    let (v, text) = analyze("pastebin-AabwyJwx-kamctl-ps-json-cut-numbered.txt");
    let ps = processes(&v);
    assert_eq!(
        ps.len(),
        11,
        "the 12th record has no DSC in the paste: {ps:?}"
    );
    for (i, (idx, pid, desc)) in ps.iter().enumerate() {
        assert_eq!(*idx, Some(i as i64));
        assert_eq!(*pid, 3_576_080 + i as i64);
        if i > 0 {
            assert_eq!(
                *desc,
                format!("udp receiver child={} sock=192.168.2.107:5060", i - 1)
            );
        }
    }
    let l = lines(&v);
    assert_eq!(l["lines"], 51);
    assert_eq!(l["rpc_lines"], 33);
    let w = v["warnings"].to_string();
    assert!(w.contains(":2: a JSON answer is cut short"), "{w}");
    assert!(text.contains("11 process(es) named"), "{text}");
}

#[test]
fn srdev_2011_sercmd_core_psx_3_x() {
    let (v, text) = analyze("srdev-2011-sercmd-core-psx-3.x.txt");
    assert_eq!(
        processes(&v),
        vec![
            (Some(0), 73_408, "attendant".to_string()),
            (
                Some(1),
                73_409,
                "udp receiver child=0 sock=127.0.0.1:5060".to_string()
            ),
        ]
    );
    let l = lines(&v);
    assert_eq!(
        (l["lines"].as_u64(), l["rpc_lines"].as_u64()),
        (Some(11), Some(10))
    );
    assert_eq!(l["unreadable_lines"], 1, "the `sercmd>` prompt: {l}");
    assert!(text.contains("2 process(es) named"), "{text}");
}

#[test]
fn netkiller_kamcmd_core_ps_pid_and_description_lines() {
    let (v, text) = analyze("netkiller-kamcmd-core-ps-5.x.txt");
    let ps = processes(&v);
    assert_eq!(ps.len(), 26, "{ps:?}");
    assert!(ps.iter().all(|p| p.0.is_none()), "core.ps prints no index");
    assert_eq!(ps[0], (None, 133_723, "main process - attendant".into()));
    assert_eq!(
        ps[1].2,
        "udp receiver child=0 sock=172.22.11.163:5061 (120.79.202.61:5061)"
    );
    assert_eq!(ps[25], (None, 133_763, "tcp main process".into()));
    let receivers = ps
        .iter()
        .filter(|p| p.2.starts_with("udp receiver"))
        .count();
    assert_eq!(receivers, 8);
    let l = lines(&v);
    assert_eq!(
        (l["lines"].as_u64(), l["rpc_lines"].as_u64()),
        (Some(53), Some(53))
    );
    assert_eq!(l["unreadable_lines"], 0, "{l}");
    assert!(text.contains("26 process(es) named"), "{text}");
}
