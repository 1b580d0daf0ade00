//! `kmemdbg dump`'s routes against Debian's real Kamailio 5.6.3 logging to a
//! stderr file: `--mod-stats` snapshots before and after 1000 REGISTERs with
//! distinct AoRs (diff ranks usrloc first), the summary route (mem_summary
//! 12 set for the dump and put back, also after Ctrl-C), and the fragment
//! list taken when the log has no limit. journald and rsyslog are in
//! `capture_journald.rs` (a real systemd box).

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The registrar proxy (tests/fixtures/capture/registrar.cfg) with -x qm, logging to a file.
fn start_registrar(bin: &Path) -> (tempfile::TempDir, Proxy) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let listen = format!("LISTEN=udp:127.0.0.1:{port}");
    let ctl_def = format!("CTL=\"unix:{}\"", ctl.display());
    let proxy = Proxy::start_with_cfg(
        bin,
        dir.path(),
        port,
        &repo().join("tests/fixtures/capture/registrar.cfg"),
        &[
            "-x", "qm", "-m", "64", "-M", "8", "-A", &listen, "-A", &ctl_def,
        ],
    );
    (dir, proxy)
}

/// `n` REGISTERs for the AoRs PREFIX1..PREFIXn (bounded: -m, -timeout).
fn register(dir: &Path, port: u16, prefix: &str, n: u32) {
    let scenario = repo().join("tests/fixtures/sipp/register-distinct-aor.xml");
    let mut cmd = Command::new("sipp");
    cmd.current_dir(dir)
        .arg("-sf")
        .arg(&scenario)
        .args(["-key", "aor", prefix, "-m", &n.to_string(), "-r", "2000"])
        .args(["-timeout", "60s", "-nostdin", "-i", "127.0.0.1"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null());
    let (code, out, err) = run_cmd(cmd, Duration::from_secs(90));
    assert_eq!(code, 0, "sipp failed:\n{out}\n{err}");
}

fn kamcmd(p: &Proxy, args: &[&str]) -> String {
    let out = Command::new("kamcmd")
        .arg("-s")
        .arg(format!("unix:{}", p.ctl.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("kamcmd");
    assert!(
        out.status.success(),
        "kamcmd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `usrloc:registered_users = N` (kamcmd stats.get_statistics): Kamailio's own count.
fn registered_users(p: &Proxy) -> u64 {
    let t = kamcmd(p, &["stats.get_statistics", "all"]);
    t.lines()
        .find(|l| l.trim_start().starts_with("usrloc:registered_users ="))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no usrloc:registered_users in {t:?}"))
}

fn mem_summary(p: &Proxy) -> String {
    kamcmd(p, &["cfg.get", "core", "mem_summary"])
        .trim()
        .to_string()
}

#[test]
fn real_mod_stats_snapshots_and_diff_rank_usrloc_first() {
    let Some(bin) = kamailio_and_sipp("real_mod_stats_snapshots_and_diff_rank_usrloc_first") else {
        return;
    };
    let (dir, p) = start_registrar(&bin);
    register(dir.path(), p.port, "a", 200);
    let ctl = p.ctl.display().to_string();
    let before = dir.path().join("before.modstats");
    let after = dir.path().join("after.modstats");
    let log_before = std::fs::metadata(&p.log).map(|m| m.len()).unwrap_or(0);
    let (code, out, err) = run_kmemdbg(&[
        "dump",
        "--mod-stats",
        "--settle",
        "5s",
        "--ctl",
        &ctl,
        "--out",
        before.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The first snapshot in the directory: nothing to come back to.
    assert!(
        err.contains("no previous snapshot: waiting for 0 or no longer falling"),
        "{err}"
    );
    assert!(
        out.contains("only"),
        "the pkg section must say whose it is: {out}"
    );
    let users_before = registered_users(&p);
    register(dir.path(), p.port, "b", 1000);
    let users_after = registered_users(&p);
    assert_eq!(
        users_after - users_before,
        1000,
        "sipp's 1000 REGISTERs all saved"
    );
    let (code, out, err) = run_kmemdbg(&[
        "dump",
        "--mod-stats",
        "--settle",
        "5s",
        "--ctl",
        &ctl,
        "--out",
        after.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    json_doc::assert_documented(&v);
    assert_eq!(v["schema"], "kmemdbg.dump-mod-stats/1");
    // --settle: an idle proxy has no transaction in flight (tm.stats current 0).
    assert_eq!(v["settle"]["settled"], true, "{out}");
    assert_eq!(v["settle"]["current_end"], 0, "{out}");
    // ... and its baseline is the level recorded in the previous snapshot
    // of this proxy (the first one, same directory).
    let before_text = std::fs::read_to_string(&before).unwrap();
    let before_tm: u64 = before_text
        .lines()
        .find_map(|l| l.strip_prefix("# tm_current: "))
        .expect("the first snapshot records tm.stats current")
        .parse()
        .unwrap();
    let before_name = before.display().to_string();
    assert_eq!(v["settle"]["baseline"].as_u64(), Some(before_tm), "{out}");
    assert_eq!(v["settle"]["baseline_from"], before_name.as_str(), "{out}");
    let note = v["settle"]["note"].as_str().unwrap_or_default();
    assert!(
        note.contains(&format!("previous snapshot {before_name}")),
        "{note}"
    );
    assert_eq!(v["header"]["tm_current"].as_u64(), Some(0), "{out}");
    assert_eq!(v["header"]["main_pid"].as_u64(), Some(u64::from(p.pid)));
    // The route needs no log: kamailio wrote nothing for either snapshot
    // beyond what it logs anyway (no dump lines).
    let log = p.log_text();
    assert!(
        !log[log_before as usize..].contains("qm_status"),
        "--mod-stats must not make kamailio dump into its log"
    );
    // The header, as documented.
    let text = std::fs::read_to_string(&after).unwrap();
    assert!(
        text.starts_with("# kmemdbg mod.stats snapshot 1\n# time: "),
        "{text}"
    );
    assert!(text.contains("# kamailio: 5.6.3"), "{text}");
    assert!(text.contains("# answered_by: "), "{text}");

    // Given newest first, diff still orders by the headers' time.
    let (code, out, err) = run_kmemdbg(&[
        "diff",
        after.to_str().unwrap(),
        before.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    json_doc::assert_documented(&v);
    let growing = v["growing"].as_array().expect("growing");
    assert_eq!(growing[0]["module"], "usrloc", "{out}");
    for g in growing.iter().take(3) {
        assert_eq!(g["module"], "usrloc", "usrloc's sites first: {out}");
    }
    // Each new AoR is one ucontact: Kamailio's own count (mod.mem_statsx)
    // grew by exactly the users registry's count.
    let uc = growing
        .iter()
        .find(|g| g["site"].as_str().unwrap_or("").contains("new_ucontact("))
        .expect("new_ucontact grew");
    assert_eq!(uc["delta_count"].as_i64(), Some(1000), "{uc}");
    let (code, text, _) = run_kmemdbg(&["diff", before.to_str().unwrap(), after.to_str().unwrap()]);
    assert_eq!(code, 0);
    let first = text.lines().nth(1).unwrap_or("");
    assert!(first.contains("usrloc: "), "{text}");
    // analyze reads a snapshot, bytes per module function
    let (code, text, _) = run_kmemdbg(&["analyze", after.to_str().unwrap(), "--top", "5"]);
    assert_eq!(code, 0, "{text}");
    let (code, out, _) = run_kmemdbg(&["analyze", after.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}");
    json_doc::assert_documented(&serde_json::from_str(&out).expect("json"));
    assert!(text.contains("pkg mod.") && text.contains("only"), "{text}");
}

#[test]
fn real_summary_puts_mem_summary_back_after_dump_and_after_ctrl_c() {
    let Some(bin) =
        kamailio_and_sipp("real_summary_puts_mem_summary_back_after_dump_and_after_ctrl_c")
    else {
        return;
    };
    let (dir, p) = start_registrar(&bin);
    register(dir.path(), p.port, "s", 300);
    assert_eq!(mem_summary(&p), "3", "the cfg's value");
    let ctl = p.ctl.display().to_string();
    let out_file = dir.path().join("summary.log");
    let (code, out, err) = run_kmemdbg(&[
        "dump",
        "--summary",
        "--ctl",
        &ctl,
        "--stderr",
        p.log.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(mem_summary(&p), "3", "put back after the dump");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    json_doc::assert_documented(&v);
    assert_eq!(v["complete"], true, "{out}");
    assert_eq!(v["choice"]["shape"], "summary", "{out}");
    // The summary accounts for every contact: usrloc's own user count.
    let text = std::fs::read_to_string(&out_file).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("from usrloc: ucontact.c: new_ucontact("))
        .expect("new_ucontact in the summary");
    let count: u64 = line
        .split("count=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert_eq!(count, registered_users(&p), "{line}");

    // Ctrl-C while mem_summary is set: put back before kmemdbg ends.
    let child = kmemdbg()
        .args(["dump", "--summary", "--ctl", &ctl, "--stderr"])
        .arg(&p.log)
        .arg("--out")
        .arg(dir.path().join("never.log"))
        .env("KMEMDBG_PAUSE_AT", "dump:summary-set")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kmemdbg");
    let pid = child.id();
    assert!(
        wait_for(Duration::from_secs(20), || mem_summary(&p) == "12"),
        "kmemdbg set mem_summary 12 for the summary"
    );
    let st = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(mem_summary(&p), "3", "put back after Ctrl-C: {err}");
}

#[test]
fn real_stderr_file_has_no_limit_so_the_fragment_list_is_taken() {
    let Some(bin) =
        kamailio_and_sipp("real_stderr_file_has_no_limit_so_the_fragment_list_is_taken")
    else {
        return;
    };
    let (dir, p) = start_registrar(&bin);
    register(dir.path(), p.port, "f", 500);
    let out_file = dir.path().join("full.log");
    let (code, out, err) = run_kmemdbg(&[
        "dump",
        "--ctl",
        p.ctl.to_str().unwrap(),
        "--stderr",
        p.log.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    json_doc::assert_documented(&v);
    assert_eq!(v["choice"]["shape"], "status", "{out}");
    assert_eq!(v["choice"]["budget"]["burst"], serde_json::Value::Null);
    assert_eq!(v["complete"], true);
    assert_eq!(v["lost_lines"], 0);
    // The estimate made before triggering is close to what was printed
    // (counted here with grep's rule: one `address=` line per fragment).
    let text = std::fs::read_to_string(&out_file).unwrap();
    let frags = text.lines().filter(|l| l.contains(" address=")).count() as u64;
    let est = v["choice"]["status_lines"].as_u64().unwrap();
    assert!(
        est / 3 >= frags * 9 / 10 && est / 3 <= frags * 11 / 10 + 20,
        "estimate {est} lines vs {frags} fragments"
    );
    assert_eq!(mem_summary(&p), "3", "the status route changes nothing");
    // Lines per fragment of this real dump, counted by awk, are the table's.
    assert_eq!(
        awk_lines_per_fragment(&out_file),
        vec![qm_563().lines_per_fragment],
        "lines per fragment of the shm list"
    );
}

/// The table's row for Debian's 5.6.3 with `-x qm`.
fn qm_563() -> &'static kmemdbg::capture::layout::Layout {
    let v = kmemdbg::probe::version::Version::parse("5.6.3").expect("version");
    kmemdbg::capture::layout::lookup(kmemdbg::capture::layout::Allocator::Qm, &v)
        .expect("a q_malloc row for 5.6.3")
}

/// For each status dump in `log` (by awk, not kmemdbg): the lines between
/// `dumping all alloc'ed. fragments` and `dumping free list stats`, divided
/// by the `address=` lines among them (one per fragment).
fn awk_lines_per_fragment(log: &Path) -> Vec<u64> {
    let prog = r#"/dumping all alloc.ed. fragments/ {on=1; b++; next}
        /dumping free list stats/ {on=0}
        on {n[b]++} on && / address=/ {a[b]++}
        END {for (i = 1; i <= b; i++) if (a[i] > 0) printf "%d %d\n", n[i], a[i]}"#;
    let out = Command::new("awk")
        .arg(prog)
        .arg(log)
        .output()
        .expect("awk");
    assert!(out.status.success(), "awk failed");
    let mut per: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut it = l
                .split_whitespace()
                .map(|n| n.parse::<u64>().expect("number"));
            let (lines, frags) = (it.next().expect("lines"), it.next().expect("frags"));
            assert_eq!(lines % frags, 0, "{lines} lines for {frags} fragments");
            lines / frags
        })
        .collect();
    per.sort_unstable();
    per.dedup();
    per
}

/// The real 5.6.3 log in ../shared/samples (a status dump of 53 fragments):
/// awk counts 3 lines per fragment, the table's 5.6.3 q_malloc row.
#[test]
fn real_sample_lines_per_fragment_match_the_table() {
    let name = "samples/kamailio-5.6.3-stderr-dumps.log";
    let sample = [
        repo().join("../shared").join(name),
        PathBuf::from("/work/shared").join(name),
    ]
    .into_iter()
    .find(|p| p.is_file());
    if !require_real(
        "real_sample_lines_per_fragment_match_the_table",
        "../shared/samples/kamailio-5.6.3-stderr-dumps.log",
        sample.is_some(),
    ) {
        return;
    }
    let sample = sample.expect("checked");
    assert_eq!(
        awk_lines_per_fragment(&sample),
        vec![qm_563().lines_per_fragment]
    );
    assert!(qm_563().cite.contains("5.6.3"), "{:?}", qm_563());
}

/// `dump --pkg all` on a real proxy logging to a file: every process but
/// main is sized from its `pkg.stats` counters before anything is
/// triggered, the fragment lists fit (a file has no limit), each that
/// answers arrives whole, and each estimate is close to the lines awk
/// counts for that PID.
#[test]
fn real_pkg_all_dump_is_sized_and_complete() {
    let Some(bin) = kamailio_and_sipp("real_pkg_all_dump_is_sized_and_complete") else {
        return;
    };
    let (dir, p) = start_registrar(&bin);
    register(dir.path(), p.port, "k", 200);
    let out_file = dir.path().join("pkg.log");
    let poke = format!("127.0.0.1:{}", p.port);
    let (code, out, err) = run_kmemdbg(&[
        "dump",
        "--pkg",
        "all",
        "--poke",
        &poke,
        "--ctl",
        p.ctl.to_str().unwrap(),
        "--stderr",
        p.log.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
        "--json",
    ]);
    assert!(code == 0 || code == 1, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    json_doc::assert_documented(&v);
    let ch = &v["pkg_choice"];
    assert_eq!(
        ch["shape"], "status",
        "mem_summary=3 asks for the lists: {out}"
    );
    assert_eq!(ch["fits"], true, "{out}");
    assert_eq!(ch["budget"]["burst"], serde_json::Value::Null);
    assert!(
        err.contains("kmemdbg: pkg of "),
        "said before triggering: {err}"
    );
    let pkg: Vec<&serde_json::Value> = v["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| r["target"]["kind"] == "pkg")
        .collect();
    let psx = kamcmd(&p, &["core.psx"]);
    let others = psx.matches("PID:").count() - 1;
    assert_eq!(pkg.len(), others, "every process but main: {psx}");
    assert!(
        pkg.iter().all(|r| r["expected_lines"].as_u64().is_some()),
        "each sized: {out}"
    );
    let total: u64 = pkg
        .iter()
        .map(|r| r["expected_lines"].as_u64().unwrap())
        .sum();
    assert_eq!(ch["status_lines"].as_u64(), Some(total), "{out}");
    // On an idle proxy the slow timer and tcp main do not wake: said, not hidden.
    let (answered, asleep): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        pkg.iter().copied().partition(|r| r["status"] == "ok");
    for r in &asleep {
        let d = r["target"]["description"].as_str().unwrap_or_default();
        assert!(d.contains("slow timer") || d.contains("tcp main"), "{out}");
        assert_eq!(r["status"], "missing", "{out}");
    }
    assert!(answered.len() >= 4, "{out}");
    assert_eq!(
        code,
        i32::from(!asleep.is_empty()),
        "exit 1 only for the sleepers"
    );
    // Independent count: the qm_status lines each PID wrote (awk on `N(PID)`).
    let counted = Command::new("awk")
        .arg(
            r#"/qm_status/ { if (match($0, /\([0-9]+\)/)) n[substr($0, RSTART+1, RLENGTH-2)]++ }
            END { for (p in n) print p, n[p] }"#,
        )
        .arg(&out_file)
        .output()
        .expect("awk");
    let by_pid: std::collections::BTreeMap<u64, u64> = String::from_utf8_lossy(&counted.stdout)
        .lines()
        .filter_map(|l| {
            let (p, n) = l.split_once(' ')?;
            Some((p.parse().ok()?, n.parse().ok()?))
        })
        .collect();
    for r in &answered {
        assert_eq!(r["complete"], true, "{out}");
        let pid = r["target"]["pid"].as_u64().expect("pid");
        let actual = *by_pid
            .get(&pid)
            .unwrap_or_else(|| panic!("no status lines of {pid}: {by_pid:?}"));
        let est = r["expected_lines"].as_u64().expect("expected_lines");
        assert!(
            est + 10 >= actual && est <= actual + 45 + actual / 10,
            "PID {pid}: estimate {est} lines vs {actual} printed"
        );
    }
    assert_eq!(
        awk_lines_per_fragment(&out_file),
        vec![qm_563().lines_per_fragment],
        "lines per fragment of the pkg lists"
    );
    assert_eq!(mem_summary(&p), "3", "the status route changes nothing");
}

/// A dump whose log dropped lines reads as LOST in analyze and diff (text
/// and JSON), from the journald line `kmemdbg dump` keeps in its file (real
/// text from the journald test's run: `Suppressed 91198 messages from kamailio.service`).
#[test]
fn analyze_and_diff_mark_dumps_with_lost_lines() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("tests/fixtures/capture");
    let before = std::fs::read_to_string(fixtures.join("leak-htable-before.log")).unwrap();
    let after = std::fs::read_to_string(fixtures.join("leak-htable-after.log")).unwrap();
    let lost_line = "2026-12-06T17:03:41+0000 kmemdbg-sdbox systemd-journald[35]: Suppressed 91198 messages from kamailio.service\n";
    let b = dir.path().join("before.log");
    let a = dir.path().join("after.log");
    std::fs::write(&b, &before).unwrap();
    std::fs::write(&a, format!("{after}{lost_line}")).unwrap();
    let (code, out, err) = run_kmemdbg(&["analyze", a.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::assert_documented(&v);
    assert_eq!(v["lost"][0]["complete"], false);
    assert_eq!(v["lost"][0]["lost_lines"], 91198);
    assert!(v["lost"][0]["cause"].as_str().unwrap().contains("journald"));
    let (_, text, _) = run_kmemdbg(&["analyze", a.to_str().unwrap()]);
    assert!(
        text.starts_with("LOST: ") && text.contains("91198 lines"),
        "{text}"
    );
    let (_, text, _) = run_kmemdbg(&["analyze", b.to_str().unwrap()]);
    assert!(!text.contains("LOST"), "{text}");
    let (code, out, err) =
        run_kmemdbg(&["diff", b.to_str().unwrap(), a.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::assert_documented(&v);
    assert_eq!(v["lost"].as_array().map(Vec::len), Some(1));
    let (_, text, _) = run_kmemdbg(&["diff", b.to_str().unwrap(), a.to_str().unwrap()]);
    assert!(
        text.contains("LOST: ") && text.contains("after.log"),
        "{text}"
    );
}

/// Debian's binary has DBG_SR_MEMORY: inspect points at the route that
/// needs no change (mod.stats) before -x qm and memlog.
#[test]
fn real_inspect_points_a_dbg_sr_memory_build_to_mod_stats_first() {
    let Some(bin) = debian_kamailio("real_inspect_points_a_dbg_sr_memory_build_to_mod_stats_first")
    else {
        return;
    };
    let (code, out, err) = run_kmemdbg(&["inspect", "--binary", bin.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let next = out
        .lines()
        .find(|l| l.trim_start().starts_with("next:"))
        .unwrap_or_else(|| panic!("no next step: {out}"));
    let mod_stats = next
        .find("kmemdbg dump --mod-stats")
        .expect("mod.stats route");
    let qm = next.find("-x qm").expect("-x qm route");
    assert!(mod_stats < qm, "{next}");
    // The same route, machine-readable, in the JSON.
    let (code, out, err) = run_kmemdbg(&["inspect", "--binary", bin.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect JSON");
    json_doc::check_if_schema(&v);
    assert_eq!(v["verdict"]["flag"], "DBG_SR_MEMORY", "{out}");
    let route = v["verdict"]["log_free_route"].as_str().unwrap_or_default();
    assert!(route.contains("kmemdbg dump --mod-stats"), "{out}");
}

/// `convert --check` on a running Debian proxy (DBG_SR_MEMORY, started
/// without `-x qm`, memlog above debug): the text and the JSON both point
/// to `dump --mod-stats` first, and nothing changes.
#[test]
fn real_convert_check_points_a_dbg_sr_memory_box_to_mod_stats_in_text_and_json() {
    let test = "real_convert_check_points_a_dbg_sr_memory_box_to_mod_stats_in_text_and_json";
    let Some(bin) = debian_kamailio(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let port = daemon::free_port();
    let d = daemon::Daemon::start(
        &bin,
        dir.path(),
        port,
        &daemon::default_style_cfg(port),
        &[],
    );
    let argv = cmdline(d.pid().expect("daemon pid"));
    assert!(
        !argv.windows(2).any(|w| w[0] == "-x" && w[1] == "qm"),
        "the box must start without -x qm: {argv:?}"
    );
    let before = d.files();
    let cfg = d.cfg.display().to_string();
    let pidfile = d.pidfile.display().to_string();
    let base = ["convert", "--cfg", &cfg, "--pidfile", &pidfile, "--check"];
    let (code, out, err) = run_kmemdbg(&base);
    assert_eq!(code, 3, "{out}\n{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("before converting: this build has DBG_SR_MEMORY"))
        .unwrap_or_else(|| panic!("no mod.stats route in the text: {out}"));
    assert!(line.contains("kmemdbg dump --mod-stats"), "{line}");
    let (code, out, err) = run_kmemdbg(&[&base[..], &["--json"]].concat());
    assert_eq!(code, 3, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("convert JSON");
    json_doc::check_if_schema(&v);
    assert_eq!(v["changed"], true, "{out}");
    let route = v["log_free_route"].as_str().unwrap_or_default();
    assert!(route.contains("kmemdbg dump --mod-stats"), "{out}");
    assert_eq!(d.files(), before, "--check must not write");
}

/// `watch --snapshots DIR` records a mod.stats snapshot per sample that
/// `diff` reads; registrations between samples show as usrloc growth.
#[test]
fn real_watch_records_mod_stats_snapshots_over_time() {
    let Some(bin) = kamailio_and_sipp("real_watch_records_mod_stats_snapshots_over_time") else {
        return;
    };
    let (dir, p) = start_registrar(&bin);
    let snaps = dir.path().join("snaps");
    std::fs::create_dir_all(&snaps).unwrap();
    let mut watch = kmemdbg()
        .args([
            "watch",
            "--interval",
            "1s",
            "--duration",
            "3s",
            "--plain",
            "--ctl",
        ])
        .arg(&p.ctl)
        .arg("--snapshots")
        .arg(&snaps)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    // registrations while it samples
    assert!(wait_for(Duration::from_secs(20), || std::fs::read_dir(
        &snaps
    )
    .map(|d| d.count() >= 1)
    .unwrap_or(false)));
    register(dir.path(), p.port, "w", 500);
    let st = watch.wait().unwrap();
    assert!(st.success(), "watch failed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&snaps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let mut args = vec!["diff".to_string(), "--json".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run_kmemdbg(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["growing"][0]["module"], "usrloc", "{out}");
}

/// A pkg status whose log dropped fragments but said nothing (no
/// `Suppressed` line: journald's report comes only later) reads as LOST,
/// never TRUNCATED, in analyze and diff (text and JSON), from the gaps in
/// its fragment indexes. Built from the real 5.6.3 sample's status
/// (tests/fixtures/capture/sample-5.6.3-dumps.log, line 305 to its end
/// marker) relabelled as the pkg status of PID 7240, less the 3 lines of
/// fragments 5-9 and 33; a whole pkg status of PID 7241 interleaved with it
/// is no gap.
#[test]
fn analyze_and_diff_mark_a_pkg_status_with_index_gaps_lost() {
    let sample =
        std::fs::read_to_string(repo().join("tests/fixtures/capture/sample-5.6.3-dumps.log"))
            .unwrap();
    let status: Vec<&str> = {
        let mut v = Vec::new();
        for l in sample.lines().skip(304) {
            v.push(l);
            if l.ends_with("qm_status(): -----------------------------") {
                break;
            }
        }
        v
    };
    let removed = [5u64, 6, 7, 8, 9, 33];
    // One message per item (a `\t\t bucket size` line stays with its message).
    let pkg = |pid: u32, drop: &[u64]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut dropping = false;
        for l in &status {
            if let Some(i) = l
                .split(". N  address=")
                .next()
                .filter(|h| h.len() < l.len())
                .and_then(|h| h.rsplit(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
            {
                dropping = drop.contains(&i);
            }
            if dropping {
                continue;
            }
            let l = l.replace(" 6(7245) ", &format!(" 1({pid}) ")).replace(
                "[core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)",
                &format!(
                    "[core/pt.c:551]: mem_dump_pkg_cb(): Memory status (pkg) of process {pid}:"
                ),
            );
            match out.last_mut() {
                Some(last) if l.starts_with('\t') => {
                    last.push('\n');
                    last.push_str(&l);
                }
                _ => out.push(l),
            }
        }
        out
    };
    let join = |a: &[String], b: &[String]| -> String {
        let mut t = String::new();
        for i in 0..a.len().max(b.len()) {
            for m in [a.get(i), b.get(i)].into_iter().flatten() {
                t.push_str(m);
                t.push('\n');
            }
        }
        t
    };
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before.log");
    let after = dir.path().join("after.log");
    std::fs::write(&before, join(&pkg(7240, &[]), &pkg(7241, &[]))).unwrap();
    std::fs::write(&after, join(&pkg(7240, &removed), &pkg(7241, &[]))).unwrap();
    // By hand: the sample's status numbers 0..=53 with 53 listed (index 46
    // is free) and its free list counts 2 free fragments (46 and the tail
    // after 53); kmemdbg takes out both, so 1 fewer than removed.
    let expected = removed.len() as u64 - 1;
    let (b, a) = (before.to_str().unwrap(), after.to_str().unwrap());

    let (code, out, err) = run_kmemdbg(&["analyze", a, "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::assert_documented(&v);
    assert_eq!(v["lost"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(v["lost"][0]["complete"], false);
    assert_eq!(v["lost"][0]["missing_fragments"], expected);
    assert_eq!(v["lost"][0]["lost_lines"], 3 * expected);
    let cause = v["lost"][0]["cause"].as_str().unwrap();
    assert!(cause.contains("printed by PID 7240"), "{cause}");
    assert!(!cause.contains("7241"), "{cause}");
    // The dump itself is LOST; the whole one of PID 7241 is not.
    let dumps = v["dumps"].as_array().unwrap();
    let of = |pid: u64| dumps.iter().find(|d| d["pid"] == pid).unwrap();
    assert_eq!(of(7240)["lost"], true, "{out}");
    assert!(of(7241).get("lost").is_none(), "{out}");
    let (_, text, _) = run_kmemdbg(&["analyze", a]);
    assert!(
        text.starts_with("LOST: ") && text.contains(&format!("{} lines", 3 * expected)),
        "{text}"
    );
    assert!(!text.contains("TRUNCATED"), "{text}");
    assert_eq!(text.matches("[LOST]").count(), 1, "{text}");
    let (_, text, _) = run_kmemdbg(&["analyze", b]);
    assert!(
        !text.contains("LOST"),
        "two whole interleaved statuses: {text}"
    );

    let (code, out, err) = run_kmemdbg(&["diff", b, a, "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::assert_documented(&v);
    assert_eq!(v["lost"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(v["lost"][0]["complete"], false);
    assert_eq!(v["lost"][0]["missing_fragments"], expected);
    assert!(v["lost"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("after.log"));
    let points = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["points"].as_array().unwrap())
        .filter(|p| p["lost"] == true)
        .count();
    assert_eq!(points, 1, "{out}");
    let (_, text, _) = run_kmemdbg(&["diff", b, a]);
    assert!(
        text.contains("LOST: ") && text.contains("after.log") && !text.contains("TRUNCATED"),
        "{text}"
    );
    assert!(text.contains("[LOST]"), "{text}");
    // The real captured dumps (whole shm statuses) are no gaps.
    for f in [
        "leak-htable-before.log",
        "leak-htable-after.log",
        "killed-mid-dump-shm.log",
    ] {
        let p = repo().join("tests/fixtures/capture").join(f);
        let (_, text, _) = run_kmemdbg(&["analyze", p.to_str().unwrap()]);
        assert!(!text.contains("LOST"), "{f}: {text}");
    }
}
