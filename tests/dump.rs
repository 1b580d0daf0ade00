//! `kmemdbg dump` against Debian's real Kamailio 5.6.3: a controlled shm
//! leak (ci/demo/leak-demo.cfg, one never-expiring htable entry per SIP
//! request) measured by two dumps around 1000 sipp requests; a log rotated
//! in the middle of a dump; a process killed in the middle of its dump; the
//! explanations when nothing appears. journald is read for real in an sd
//! box: `tests/systemd_real.rs`.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
use common::*;
use kmemdbg::kamcmd::Kamcmd;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The allocation site of one htable cell in Debian's 5.6.3 (the leak).
const HT_SITE: &str = "alloc'd from htable: ht_api.c: ht_cell_new(";

fn leak_cfg() -> PathBuf {
    repo().join("ci/demo/leak-demo.cfg")
}

/// `-x qm` plus the leak cfg's LISTEN/CTL defines.
fn leak_args(port: u16, ctl: &Path) -> Vec<String> {
    vec![
        "-x".into(),
        "qm".into(),
        "-m".into(),
        "64".into(),
        "-M".into(),
        "8".into(),
        "-A".into(),
        format!("LISTEN=udp:127.0.0.1:{port}"),
        "-A".into(),
        format!("CTL=\"unix:{}\"", ctl.display()),
    ]
}

/// `sipp` sends `n` OPTIONS with distinct Call-IDs to 127.0.0.1:port (bounded: -m, -timeout).
fn sipp_options(dir: &Path, port: u16, n: u32) {
    let scenario = repo().join("tests/fixtures/sipp/options-unique-callid.xml");
    let out = Command::new("sipp")
        .current_dir(dir)
        .arg("-sf")
        .arg(&scenario)
        .args([
            "-m",
            &n.to_string(),
            "-r",
            "1000",
            "-timeout",
            "60s",
            "-nostdin",
        ])
        .args(["-i", "127.0.0.1", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .expect("run sipp");
    assert!(
        out.status.success(),
        "sipp failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn htable_entries(k: &Kamcmd) -> u64 {
    let text = k.call(&["htable.stats"]).expect("htable.stats");
    kmemdbg::kamcmd::parse_records(&text)
        .iter()
        .find(|r| r.get("name").map(String::as_str) == Some("leak"))
        .and_then(|r| r.get("all")?.parse().ok())
        .expect("leak table in htable.stats")
}

fn count_lines(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// Per PID, per site: the `count=` of each `qm_sums` line (pkg summaries).
fn sums_by_pid(path: &Path) -> BTreeMap<u32, BTreeMap<String, i64>> {
    let re = regex::Regex::new(r"^\s*\d+\((\d+)\) \w+: qm_sums: qm_sums\(\):\s+count=\s*(\d+) size=\s*\d+ bytes from (.*)$").unwrap();
    let mut out: BTreeMap<u32, BTreeMap<String, i64>> = BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap().lines() {
        if let Some(c) = re.captures(l) {
            *out.entry(c[1].parse().unwrap())
                .or_default()
                .entry(c[3].to_string())
                .or_default() += c[2].parse::<i64>().unwrap();
        }
    }
    out
}

/// Per site: how many `alloc'd from SITE` fragment lines (shm status).
fn fragments_by_site(path: &Path) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for l in std::fs::read_to_string(path).unwrap().lines() {
        if let Some(i) = l.find("alloc'd from ") {
            *out.entry(l[i + 13..].to_string()).or_default() += 1;
        }
    }
    out
}

fn dump_json(args: &[&str]) -> (i32, serde_json::Value, String) {
    let (code, stdout, stderr) = run_kmemdbg(args);
    let v = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    json_doc::check_if_schema(&v);
    (code, v, stderr)
}

#[test]
fn real_proxy_dump_measures_htable_leak() {
    const T: &str = "real_proxy_dump_measures_htable_leak";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let args = leak_args(port, &ctl);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = Proxy::start_with_cfg(&bin, dir.path(), port, &leak_cfg(), &args);
    assert!(wait_for(Duration::from_secs(10), || ctl.exists()));
    let k = Kamcmd::new(Some(ctl.to_str().unwrap())).unwrap();
    let receivers: Vec<String> = k
        .processes()
        .unwrap()
        .iter()
        .filter(|p| p.is_receiver())
        .map(|p| p.pid.to_string())
        .collect();
    assert_eq!(receivers.len(), 2);
    let poke = format!("127.0.0.1:{port}");
    let log = proxy.log.to_str().unwrap().to_string();
    let dump = |out: &Path| {
        let (code, v, stderr) = dump_json(&[
            "dump",
            "--shm",
            "--pkg",
            &receivers[0],
            "--pkg",
            &receivers[1],
            "--poke",
            &poke,
            "--ctl",
            ctl.to_str().unwrap(),
            "--stderr",
            &log,
            "--out",
            out.to_str().unwrap(),
            "--timeout",
            "15",
            "--json",
        ]);
        assert_eq!(code, 0, "{v:#}\n{stderr}");
        assert_eq!(v["schema"], "kmemdbg.dump/1");
        let reqs = v["requests"].as_array().unwrap();
        assert_eq!(reqs.len(), 3, "{v:#}");
        assert!(reqs.iter().all(|r| r["status"] == "ok"), "{v:#}");
        reqs.iter()
            .map(|r| r["pokes"].as_u64().unwrap())
            .sum::<u64>()
    };

    let before = dir.path().join("before.log");
    let pokes_before = dump(&before);
    let entries_before = htable_entries(&k);
    sipp_options(dir.path(), port, 1000);
    let entries_after = htable_entries(&k);
    assert_eq!(entries_after - entries_before, 1000, "sipp's 1000 Call-IDs");
    let after = dir.path().join("after.log");
    dump(&after);

    // The captured files hold exactly the dumps: one shm status, each
    // ending with its marker, and one pkg summary per receiver.
    for f in [&before, &after] {
        let text = std::fs::read_to_string(f).unwrap();
        assert_eq!(
            text.matches("mem_dump_shm_fixup(): Memory status (shm)")
                .count(),
            1
        );
        assert_eq!(
            text.matches("qm_status(): -----------------------------")
                .count(),
            1
        );
        assert_eq!(
            text.matches("qm_sums(): -----------------------------")
                .count(),
            2
        );
        assert!(!text.contains("qm_malloc("), "only dump lines are kept");
        assert!(!text.contains("sl_send_reply"), "only dump lines are kept");
    }

    // shm: the htable site grows by the requests in between (sipp's 1000 and
    // the OPTIONS that woke the receivers after the first shm dump) and
    // nothing else grows anywhere near as much.
    let (fb, fa) = (fragments_by_site(&before), fragments_by_site(&after));
    let ht = |m: &BTreeMap<String, i64>| {
        m.iter()
            .filter(|(s, _)| format!("alloc'd from {s}").starts_with(HT_SITE))
            .map(|(_, c)| *c)
            .sum::<i64>()
    };
    let growth = ht(&fa) - ht(&fb);
    assert!(
        (1000..=1000 + pokes_before as i64).contains(&growth),
        "htable fragments grew by {growth}, expected 1000 (+ up to {pokes_before} pokes)"
    );
    assert_eq!(
        ht(&fa) as u64,
        entries_after,
        "one shm fragment per htable entry (htable.stats)"
    );
    let mut others: Vec<(i64, &String)> = fa
        .iter()
        .filter(|(s, _)| !format!("alloc'd from {s}").starts_with(HT_SITE))
        .map(|(s, c)| (c - fb.get(s).copied().unwrap_or(0), s))
        .collect();
    others.sort();
    let (top_other, site) = others.last().copied().unwrap();
    assert!(
        top_other < 50,
        "{site} grew by {top_other}: the leak is not the only growth"
    );

    // pkg: the receivers that ran the 1000 requests show no such growth.
    let (pb, pa) = (sums_by_pid(&before), sums_by_pid(&after));
    for r in &receivers {
        let pid: u32 = r.parse().unwrap();
        let (b, a) = (&pb[&pid], &pa[&pid]);
        assert!(b.len() > 20, "receiver {pid}: {} sites", b.len());
        for (site, count) in a {
            let g = count - b.get(site).copied().unwrap_or(0);
            assert!(g < 20, "receiver {pid}: pkg site {site} grew by {g}");
            assert!(
                !site.contains("ht_cell_new"),
                "receiver {pid}: {site} in pkg"
            );
        }
    }
    // `kmemdbg diff` on the two captured files names the leak: the htable
    // site first in shm, with the same count growth; no receiver pkg site grows.
    let (code, out, err) = run_kmemdbg(&[
        "diff",
        before.to_str().unwrap(),
        after.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&d);
    let series = d["series"].as_array().unwrap();
    let shm = series
        .iter()
        .find(|s| s["key"]["pool"] == "shm")
        .expect("a shm series");
    let first = &shm["growing"][0];
    assert!(
        first["key"].as_str().unwrap().contains("ht_cell_new"),
        "diff ranks {} first",
        first["key"]
    );
    assert_eq!(first["count_growth"].as_i64().unwrap(), growth, "{first:#}");
    for s in series.iter().filter(|s| s["key"]["pool"] == "pkg") {
        for g in s["growing"].as_array().unwrap() {
            assert!(
                g["count_growth"].as_i64().unwrap() < 20
                    && !g["key"].as_str().unwrap().contains("ht_cell_new"),
                "pkg site grew: {g:#}"
            );
        }
    }
    let (code, text, _) = run_kmemdbg(&["diff", before.to_str().unwrap(), after.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("htable: ht_api.c: ht_cell_new("), "{text}");

    // The seed's method, without RPC: SIGUSR1 to the main PID from the PID
    // file; memlog=2 <= debug=2 and mem_summary=12, so main prints its pkg
    // summary and the shm summary. With no settings to go by, kmemdbg
    // takes every dump main prints until the log goes quiet.
    let entries_now = htable_entries(&k);
    let sig = dir.path().join("sigusr1.log");
    let pid_file = dir.path().join("kamailio.pid");
    let (code, v, stderr) = dump_json(&[
        "dump",
        "--signal",
        "--ctl",
        "/nonexistent/ctl",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--stderr",
        &log,
        "--out",
        sig.to_str().unwrap(),
        "--timeout",
        "10",
        "--json",
    ]);
    assert_eq!(code, 0, "{v:#}\n{stderr}");
    assert!(v["settings"]["unreadable"].as_str().is_some(), "{v:#}");
    let req = &v["requests"][0];
    assert_eq!(req["target"]["kind"], "signal");
    assert_eq!(req["target"]["pid"], proxy.pid);
    let kept: Vec<&serde_json::Value> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["kept"] == true)
        .collect();
    let pools: Vec<&str> = kept.iter().map(|b| b["pool"].as_str().unwrap()).collect();
    assert_eq!(pools, ["pkg", "shm"], "{v:#}");
    assert!(kept
        .iter()
        .all(|b| b["kind"] == "summary" && b["state"] == "complete"));
    // The shm summary counts the same htable cells as the status dump.
    let text = std::fs::read_to_string(&sig).unwrap();
    let cells: u64 = text
        .lines()
        .filter(|l| l.ends_with("bytes from htable: ht_api.c: ht_cell_new(186)"))
        .map(|l| {
            let c = l.split("count=").nth(1).unwrap().trim_start();
            c[..c.find(' ').unwrap()].parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(cells, entries_now, "shm summary vs htable.stats");

    eprintln!("{T}: htable growth {growth} (pokes before: {pokes_before}); largest other shm growth {top_other} at {site}");
}

/// A kamailio whose stderr is a pipe read by a relay thread that writes
/// the log file kmemdbg follows; a hook sees every line first (it can
/// rotate the file, or kill a process while that one is blocked writing
/// its dump into the full pipe).
struct PipedProxy {
    child: Option<Child>,
    log: PathBuf,
    ctl: PathBuf,
}

/// The log file the relay writes.
struct Relay {
    path: PathBuf,
    file: std::fs::File,
    /// Rewrite ` 6(7245) ALERT: ...` as `Nov 25 22:09:01 box /usr/sbin/kamailio[7245]: ALERT: ...`.
    syslog: bool,
}

impl Relay {
    fn write(&mut self, line: &str) {
        let line = if self.syslog {
            let re = regex::Regex::new(r"^\s*\d+\((\d+)\) (.*)$").unwrap();
            match re.captures(line) {
                Some(c) => format!(
                    "Nov 25 22:09:01 box /usr/sbin/kamailio[{}]: {}",
                    &c[1], &c[2]
                ),
                None => line.to_string(),
            }
        } else {
            line.to_string()
        };
        writeln!(self.file, "{line}").unwrap();
        self.file.flush().unwrap();
    }
    /// logrotate's default: rename; the writer keeps its old handle for a while.
    fn rename_away(&self) {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, old).unwrap();
    }
    fn reopen(&mut self) {
        self.file = std::fs::File::create(&self.path).unwrap();
    }
}

type Hook = Box<dyn FnMut(&str, &mut Relay) + Send>;

impl PipedProxy {
    fn start(bin: &Path, dir: &Path, port: u16, syslog: bool, mut hook: Hook) -> PipedProxy {
        let ctl = dir.join("kamailio_ctl");
        let log = dir.join("kamailio.log");
        let rundir = dir.join("run");
        std::fs::create_dir_all(&rundir).unwrap();
        let mut child = Command::new(bin)
            .args(["-DD", "-E", "-f"])
            .arg(leak_cfg())
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-Y")
            .arg(&rundir)
            .args(leak_args(port, &ctl))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout.txt")).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kamailio");
        let stderr = child.stderr.take().unwrap();
        let mut relay = Relay {
            path: log.clone(),
            file: std::fs::File::create(&log).unwrap(),
            syslog,
        };
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut buf = Vec::new();
            while r
                .read_until(b'\n', &mut buf)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches('\n')
                    .to_string();
                hook(&line, &mut relay);
                buf.clear();
            }
        });
        let mut p = PipedProxy {
            child: Some(child),
            log,
            ctl,
        };
        let up = wait_for(Duration::from_secs(20), || {
            (udp_bound(port) && p.ctl.exists()) || !p.alive()
        });
        assert!(
            up && p.alive(),
            "kamailio did not come up; log:\n{}",
            std::fs::read_to_string(&p.log).unwrap_or_default()
        );
        p
    }

    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for PipedProxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c);
        }
    }
}

/// A hook that writes every line, counting `alloc'd from` lines of the shm dump.
fn after_fragments(n: usize, mut at: impl FnMut(&mut Relay) + Send + 'static) -> Hook {
    let mut in_shm = false;
    let mut seen = 0usize;
    Box::new(move |line: &str, relay: &mut Relay| {
        relay.write(line);
        if line.contains("Memory status (shm)") {
            in_shm = true;
        }
        if in_shm && line.contains("alloc'd from") {
            seen += 1;
            if seen == n {
                at(relay);
            }
        }
    })
}

#[test]
fn real_proxy_dump_across_syslog_rotation() {
    const T: &str = "real_proxy_dump_across_syslog_rotation";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    // Rotate in the middle of the shm dump; the relay (the "syslog daemon")
    // writes 50 more lines to the renamed file before it reopens the path.
    let pending = Arc::new(AtomicU32::new(0));
    let p2 = pending.clone();
    let mut hook = after_fragments(100, move |relay| {
        relay.rename_away();
        p2.store(50, Ordering::SeqCst);
    });
    let hook: Hook = Box::new(move |line: &str, relay: &mut Relay| {
        hook(line, relay);
        if pending.load(Ordering::SeqCst) > 0 && pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            relay.reopen();
        }
    });
    let proxy = PipedProxy::start(&bin, dir.path(), port, true, hook);
    sipp_options(dir.path(), port, 600);
    let k = Kamcmd::new(Some(proxy.ctl.to_str().unwrap())).unwrap();
    let entries = htable_entries(&k);
    let out = dir.path().join("shm.log");
    let (code, v, stderr) = dump_json(&[
        "dump",
        "--shm",
        "--ctl",
        proxy.ctl.to_str().unwrap(),
        "--log",
        proxy.log.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        "15",
        "--json",
    ]);
    assert_eq!(code, 0, "{v:#}\n{stderr}");
    assert_eq!(v["stats"]["rotations"], 1, "{v:#}");
    assert_eq!(v["source"]["kind"], "syslog");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.lines().all(
            |l| l.starts_with("Nov 25 22:09:01 box /usr/sbin/kamailio[") || l.starts_with('\t')
        ),
        "syslog lines kept verbatim"
    );
    assert!(text.contains("]: ALERT: qm_status: qm_status(): -----------------------------"));
    // Not one fragment lost or doubled across the rotation.
    assert_eq!(count_lines(&out, HT_SITE) as u64, entries);
    let frags = count_lines(&out, "alloc'd from") as u64;
    assert_eq!(v["blocks"][0]["entries"].as_u64().unwrap(), frags);
    assert!(dir.path().join("kamailio.log.1").exists());
}

#[test]
fn real_proxy_dump_of_killed_process_is_truncated() {
    const T: &str = "real_proxy_dump_of_killed_process_is_truncated";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let victim = Arc::new(AtomicU32::new(0));
    let v2 = victim.clone();
    // The ctl handler prints the shm status inside the RPC. At its 100th
    // fragment line it is blocked writing into the full stderr pipe: kill it.
    let hook = after_fragments(100, move |_| {
        let pid = v2.load(Ordering::SeqCst);
        assert!(pid > 1);
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let proxy = PipedProxy::start(&bin, dir.path(), port, false, hook);
    sipp_options(dir.path(), port, 1000);
    let k = Kamcmd::new(Some(proxy.ctl.to_str().unwrap())).unwrap();
    let entries = htable_entries(&k);
    let ctl_pid = k
        .processes()
        .unwrap()
        .iter()
        .find(|p| p.description.contains("ctl handler"))
        .unwrap()
        .pid;
    victim.store(ctl_pid, Ordering::SeqCst);
    let out = dir.path().join("killed.log");
    let (code, v, stderr) = dump_json(&[
        "dump",
        "--shm",
        "--ctl",
        proxy.ctl.to_str().unwrap(),
        "--stderr",
        proxy.log.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        "5",
        "--json",
    ]);
    assert_eq!(code, 1, "{v:#}\n{stderr}");
    let req = &v["requests"][0];
    assert_eq!(req["status"], "truncated", "{v:#}");
    assert!(
        req["causes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains("exited")),
        "{v:#}"
    );
    assert_eq!(v["blocks"][0]["state"], "truncated");
    assert_eq!(v["blocks"][0]["pid"], ctl_pid);
    // What it managed to print is kept; the end marker never came.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("Memory status (shm)"));
    assert!(!text.contains("qm_status(): -----------------------------"));
    let printed = count_lines(&out, HT_SITE) as u64;
    assert!(
        printed > 0 && printed < entries,
        "{printed} of {entries} htable fragments"
    );
    // The truncated dump is analysed with a warning, not an error.
    let (code, report, warn) = run_kmemdbg(&["analyze", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}\n{warn}");
    assert!(report.contains("[TRUNCATED]"), "{report}");
    assert!(
        format!("{report}{warn}").contains("before its end marker"),
        "{report}\n{warn}"
    );
    // Regenerates tests/fixtures/capture/killed-mid-dump-shm.log.
    if let Some(dir) = std::env::var_os("KMEMDBG_FIXTURE_OUT") {
        std::fs::copy(&out, Path::new(&dir).join("killed-mid-dump-shm.log")).unwrap();
    }
}

#[test]
fn real_proxy_dump_explains_silence() {
    const T: &str = "real_proxy_dump_explains_silence";
    let Some(bin) = debian_kamailio(T) else {
        return;
    };
    // memlog=5 > debug=2 (Debian's default pair) and no pkg bits in mem_summary.
    let (dir, proxy) = start_qm_proxy(&bin, |port, ctl| minimal_cfg(port, ctl, "mem_summary=8"));
    let (port, ctl) = (proxy.port, proxy.ctl.clone());
    assert!(wait_for(Duration::from_secs(10), || ctl.exists()));
    let k = Kamcmd::new(Some(ctl.to_str().unwrap())).unwrap();
    let receiver = k
        .processes()
        .unwrap()
        .into_iter()
        .find(|p| p.is_receiver())
        .unwrap()
        .pid
        .to_string();
    let (ctl_s, log) = (ctl.to_str().unwrap(), proxy.log.to_str().unwrap());
    let out = dir.path().join("x.log");
    let out_s = out.to_str().unwrap();
    let base = [
        "dump",
        "--ctl",
        ctl_s,
        "--stderr",
        log,
        "--out",
        out_s,
        "--timeout",
        "2",
    ];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        run_kmemdbg(&a)
    };

    // pkg with mem_summary=8: nothing would print; not even triggered.
    let (code, stdout, _) = with(&["--pkg", &receiver, "--poke", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("SKIPPED"), "{stdout}");
    assert!(
        stdout.contains("mem_summary=8 has neither bit 1 (pkg status) nor bit 4"),
        "{stdout}"
    );
    assert!(
        stdout.contains("nothing captured; no file written"),
        "{stdout}"
    );
    assert!(!out.exists());

    // SIGUSR1 with memlog=5 > debug=2.
    let (code, stdout, _) = with(&["--signal"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("memlog=5 > debug=2"), "{stdout}");

    // A receiver that is never woken: the hint names its address.
    k.cfg_set_now_int("core", "mem_summary", 12).unwrap();
    let (code, stdout, stderr) = with(&["--pkg", &receiver]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("NO ANSWER"), "{stdout}");
    assert!(
        stdout.contains(&format!("pass --poke 127.0.0.1:{port}")),
        "{stdout}"
    );

    // The log is the wrong file: nothing arrives there.
    let elsewhere = dir.path().join("elsewhere.log");
    std::fs::write(&elsewhere, "").unwrap();
    let (code, stdout, _) = run_kmemdbg(&[
        "dump",
        "--shm",
        "--ctl",
        ctl_s,
        "--stderr",
        elsewhere.to_str().unwrap(),
        "--out",
        out_s,
        "--timeout",
        "1",
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("kamailio wrote nothing to the stderr capture"),
        "{stdout}"
    );

    // Environment errors exit 2 with a message that says what to do.
    let (code, _, stderr) = run_kmemdbg(&[
        "dump",
        "--shm",
        "--ctl",
        "/nonexistent/ctl",
        "--stderr",
        log,
        "--out",
        out_s,
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no ctl socket at /nonexistent/ctl"),
        "{stderr}"
    );
    let (code, _, stderr) = with(&["--pkg", "999999999"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("PID 999999999 is not a process of this proxy"),
        "{stderr}"
    );
}
