//! One test per flag that had none, each asserting what the flag changes in
//! the world: `restart --as-is/--dry-run/--json`, `revert --dry-run/--json`,
//! `diff --by/--pool/--pid`, `dump --pkg all`, `triage --idle/--target/--csv`.
//! Real Kamailio (Debian's package) where the flag acts on a proxy; expected
//! values come from /proc, kamcmd, the test's own sockets and grep on the
//! fixtures. (`gdb --pool/--allocator/--timeout` live in tests/gdb.rs, on its
//! -g build; `build --jobs` in tests/build.rs, on its real build.)

mod common;
use common::daemon;
#[path = "support/json_doc.rs"]
mod json_doc;

use common::fixture;
use daemon::{alive, cmdline, Daemon};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::Duration;

fn run_json(args: &[&str], codes: &[i32]) -> Value {
    let (code, out, err) = common::run_kmemdbg(args);
    assert!(
        codes.contains(&code),
        "kmemdbg {args:?} exited {code}:\n{out}\n{err}"
    );
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("kmemdbg {args:?}: not JSON ({e}):\n{out}\n{err}"));
    json_doc::assert_documented(&v);
    v
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn has_pair(argv: &[String], a: &str, b: &str) -> bool {
    argv.windows(2).any(|w| w[0] == a && w[1] == b)
}

fn start_daemon(test: &str) -> Option<(tempfile::TempDir, Daemon)> {
    let kamailio = common::debian_kamailio(test)?;
    let dir = tempfile::tempdir().expect("temp dir");
    let d = Daemon::start_default(&kamailio, dir.path());
    Some((dir, d))
}

#[test]
fn real_proxy_restart_dry_run_as_is_and_json() {
    let Some((_dir, d)) = start_daemon("real_proxy_restart_dry_run_as_is_and_json") else {
        return;
    };
    let pidfile = d.pidfile.display().to_string();
    let old_pid = d.pid().expect("pid");
    let old_argv = cmdline(old_pid);
    let files = d.files();
    assert!(!has_pair(&old_argv, "-x", "qm"), "{old_argv:?}");

    // --dry-run --json: the plan adds -x qm, nothing happens.
    let v = run_json(
        &["restart", "--pidfile", &pidfile, "--dry-run", "--json"],
        &[0],
    );
    assert_eq!(strings(&v["command"]), old_argv);
    assert!(has_pair(&strings(&v["new_command"]), "-x", "qm"), "{v}");
    assert!(
        v["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .any(|s| s["option"] == "-x" && s["new"] == "qm"),
        "{v}"
    );
    assert!(v["outcome"].is_null(), "--dry-run ran something: {v}");
    assert_eq!(d.pid(), Some(old_pid));
    assert_eq!(d.files(), files);

    // --as-is: no option changes, the same command line.
    let v = run_json(
        &[
            "restart",
            "--pidfile",
            &pidfile,
            "--as-is",
            "--dry-run",
            "--json",
        ],
        &[0],
    );
    assert_eq!(v["settings"], serde_json::json!([]), "{v}");
    assert_eq!(strings(&v["new_command"]), old_argv, "{v}");

    // --as-is for real: a new process with exactly the old command line.
    let v = run_json(
        &[
            "restart",
            "--pidfile",
            &pidfile,
            "--as-is",
            "--yes",
            "--timeout",
            "20",
            "--json",
        ],
        &[0],
    );
    assert_eq!(v["outcome"]["status"], "restarted", "{v}");
    let new_pid = d.pid().expect("pid");
    assert_ne!(new_pid, old_pid);
    assert!(!alive(old_pid), "the old process still runs");
    assert_eq!(cmdline(new_pid), old_argv);
    assert_eq!(v["outcome"]["new_health"]["pid"], new_pid);
    assert_eq!(d.files(), files, "--as-is wrote a file");
    assert!(d.answers(), "the restarted proxy does not answer OPTIONS");
}

#[test]
fn real_proxy_revert_dry_run_and_json() {
    let Some((_dir, d)) = start_daemon("real_proxy_revert_dry_run_and_json") else {
        return;
    };
    let cfg = d.cfg.display().to_string();
    let pidfile = d.pidfile.display().to_string();
    let original = d.files();
    let original_argv = d.argv();
    run_json(
        &[
            "convert",
            "--cfg",
            &cfg,
            "--pidfile",
            &pidfile,
            "--yes",
            "--json",
        ],
        &[0],
    );
    let converted = d.files();
    let converted_pid = d.pid().expect("pid");
    assert_ne!(converted, original, "convert changed nothing");

    // --dry-run: the plan, and nothing changes.
    let v = run_json(
        &[
            "revert",
            "--cfg",
            &cfg,
            "--pidfile",
            &pidfile,
            "--dry-run",
            "--json",
        ],
        &[0],
    );
    assert!(v["outcome"].is_null(), "{v}");
    assert!(!has_pair(&strings(&v["new_command"]), "-x", "qm"), "{v}");
    assert_eq!(d.files(), converted, "--dry-run wrote");
    assert_eq!(d.pid(), Some(converted_pid), "--dry-run restarted");

    // For real: every file byte for byte as before the conversion, the
    // original command line, and a healthy proxy.
    let v = run_json(
        &[
            "revert",
            "--cfg",
            &cfg,
            "--pidfile",
            &pidfile,
            "--yes",
            "--json",
        ],
        &[0],
    );
    assert_eq!(v["outcome"]["status"], "restarted", "{v}");
    assert_eq!(d.files(), original, "revert did not restore every byte");
    assert_eq!(d.argv(), original_argv);
    assert!(d.answers());
}

/// PIDs that printed `qm_sums` lines (pkg summaries), read as grep would.
fn summary_pids(file: &str) -> BTreeSet<u64> {
    std::fs::read_to_string(file)
        .expect("fixture")
        .lines()
        .filter(|l| l.contains("qm_sums"))
        .filter_map(|l| {
            let open = l.find('(')?;
            let close = l[open..].find(')')? + open;
            l[open + 1..close].parse().ok()
        })
        .collect()
}

/// Fragments of the shm status allocated by `module`, as grep -c would count.
fn shm_fragments_of(file: &str, module: &str) -> i64 {
    std::fs::read_to_string(file)
        .expect("fixture")
        .lines()
        .filter(|l| l.contains("qm_status") && l.contains(&format!("alloc'd from {module}: ")))
        .count() as i64
}

#[test]
fn diff_by_pool_and_pid_select_and_group() {
    let before = fixture("capture/leak-htable-before.log");
    let after = fixture("capture/leak-htable-after.log");
    let pkg_pids = summary_pids(&before);
    assert_eq!(pkg_pids.len(), 2, "the fixture's two receivers");

    let v = run_json(&["diff", &before, &after, "--pool", "shm", "--json"], &[0]);
    let series = v["series"].as_array().expect("series");
    assert_eq!(series.len(), 1, "{v}");
    assert_eq!(series[0]["key"]["pool"], "shm");

    let v = run_json(&["diff", &before, &after, "--pool", "pkg", "--json"], &[0]);
    let pids: BTreeSet<u64> = v["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| {
            assert_eq!(s["key"]["pool"], "pkg", "{s}");
            s["key"]["pid"].as_u64().expect("pid")
        })
        .collect();
    assert_eq!(pids, pkg_pids);

    let one = pkg_pids.iter().next().expect("a pid").to_string();
    let v = run_json(&["diff", &before, &after, "--pid", &one, "--json"], &[0]);
    let series = v["series"].as_array().expect("series");
    assert_eq!(series.len(), 1, "{v}");
    assert_eq!(series[0]["key"]["pid"].to_string(), one);

    // --by module: whole modules, and htable grew by the fragments grep counts.
    let v = run_json(
        &[
            "diff", &before, &after, "--pool", "shm", "--by", "module", "--json",
        ],
        &[0],
    );
    assert_eq!(v["by"], "module");
    let growing = v["series"][0]["growing"].as_array().expect("growing");
    for g in growing {
        let key = g["key"].as_str().expect("key");
        assert!(!key.contains(':'), "not a module: {key}");
    }
    let htable = growing
        .iter()
        .find(|g| g["key"] == "htable")
        .expect("htable grew");
    let want = shm_fragments_of(&after, "htable") - shm_fragments_of(&before, "htable");
    assert!(want > 0);
    assert_eq!(htable["count_growth"], want);
}

fn kamcmd_psx_pids(ctl: &str) -> Vec<u32> {
    let out = std::process::Command::new("kamcmd")
        .args(["-s", ctl, "core.psx"])
        .output()
        .expect("kamcmd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("PID:"))
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

#[test]
fn real_proxy_dump_pkg_all_asks_every_process_but_main() {
    let test = "real_proxy_dump_pkg_all_asks_every_process_but_main";
    let Some((dir, d)) = start_daemon(test) else {
        return;
    };
    if !common::require_real(test, "kamcmd", common::have_program("kamcmd")) {
        return;
    }
    let ctl = d.ctl();
    let main = d.pid().expect("pid");
    let all = kamcmd_psx_pids(&ctl);
    assert!(all.contains(&main) && all.len() > 3, "core.psx: {all:?}");
    let want: BTreeSet<u32> = all.iter().copied().filter(|p| *p != main).collect();
    let out = dir.path().join("all.log");
    let out_s = out.display().to_string();
    let log = d.log.display().to_string();
    let poke = format!("127.0.0.1:{}", d.port);
    let (code, stdout, err) = common::run_kmemdbg(&[
        "dump",
        "--pkg",
        "all",
        "--ctl",
        &ctl,
        "--stderr",
        &log,
        "--poke",
        &poke,
        "--timeout",
        "5s",
        "--out",
        &out_s,
        "--json",
    ]);
    assert!(code == 0 || code == 1, "{stdout}\n{err}");
    let v: Value = serde_json::from_str(&stdout).expect("JSON");
    json_doc::assert_documented(&v);
    let requests = v["requests"].as_array().expect("requests");
    let asked: BTreeSet<u32> = requests
        .iter()
        .map(|r| {
            assert_eq!(r["target"]["kind"], "pkg", "{r}");
            r["target"]["pid"].as_u64().expect("pid") as u32
        })
        .collect();
    assert_eq!(
        asked, want,
        "--pkg all must ask every process core.psx lists but main"
    );
    // Every dump said ok is in the file, under its PID (grep's view).
    let text = std::fs::read_to_string(&out).expect("the dump file");
    let mut ok = 0;
    for r in requests.iter().filter(|r| r["status"] == "ok") {
        let pid = r["target"]["pid"].as_u64().expect("pid");
        assert!(
            text.contains(&format!("({pid}) ")),
            "no lines of PID {pid} in {out_s}"
        );
        ok += 1;
    }
    // The UDP receivers wake on the poke's OPTIONS: at least they answer.
    assert!(ok >= 2, "{stdout}\n{err}");
}

#[test]
fn real_proxy_triage_idle_target_and_csv() {
    let test = "real_proxy_triage_idle_target_and_csv";
    let Some((dir, d)) = start_daemon(test) else {
        return;
    };
    // --target: our own socket, which counts the probes it receives.
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sink.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let target = sink.local_addr().expect("addr").to_string();
    // Distinct Call-IDs: an unanswered OPTIONS is retransmitted with the same one.
    let received = std::thread::spawn(move || {
        let mut calls = BTreeSet::new();
        let mut buf = [0u8; 4096];
        let start = std::time::Instant::now();
        while calls.len() < 4 && start.elapsed() < Duration::from_secs(90) {
            if let Ok(len) = sink.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..len]).into_owned();
                if text.starts_with("OPTIONS ") {
                    let id = text
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("call-id:"))
                        .map(str::to_string);
                    calls.extend(id);
                }
            }
        }
        calls.len()
    });
    let csv = dir.path().join("t.csv");
    let csv_s = csv.display().to_string();
    let ctl = d.ctl();
    let v = run_json(
        &[
            "triage",
            "--ctl",
            &ctl,
            "--traffic-stopped",
            "--idle",
            "0.05",
            "--interval",
            "1s",
            "--probe-calls",
            "4",
            "--settle",
            "1s",
            "--target",
            &target,
            "--csv",
            &csv_s,
            "--json",
        ],
        &[0, 1],
    );
    // --idle is in minutes: 0.05 is 3 s, and the idle period lasts at least that.
    assert!(v["idle_s"].as_f64().is_some_and(|s| s >= 3.0), "{v}");
    let idle = v["measurements"]["idle"].as_array().expect("idle samples");
    let last = idle
        .last()
        .and_then(|s| s["elapsed_s"].as_f64())
        .expect("an idle sample");
    assert!(last >= 3.0, "the idle samples end before --idle: {v}");
    assert_eq!(v["target"], target);
    assert_eq!(
        received.join().expect("sink"),
        4,
        "the 4 probes did not all reach --target"
    );
    // --csv: watch's columns; the shm pool is the -m 64 the proxy runs with.
    let text = std::fs::read_to_string(&csv).expect("the CSV");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("elapsed_s,unix_ms,pool,pid,rank,desc,used_bytes,real_used_bytes,free_bytes,total_bytes")
    );
    let shm: Vec<&str> = lines
        .filter(|l| l.split(',').nth(2) == Some("shm"))
        .collect();
    assert!(shm.len() >= 2, "{text}");
    for row in shm {
        assert_eq!(
            row.rsplit(',').next(),
            Some((64u64 << 20).to_string().as_str()),
            "{row}"
        );
    }
}
