//! `kmemdbg hunt` against Debian's real Kamailio 5.6.3 and sipp: a cfg that
//! leaks one htable cell per INVITE shows that growth on `invite` only,
//! about one cell per request; registrations that expire are held by
//! design, not a leak (by dump and by mod.stats); `--plot` writes an SVG a
//! renderer accepts; every shipped scenario and a user's own file complete
//! against a real proxy; Ctrl-C stops sipp and leaves the settings; the
//! report says after which class the proxy stopped answering; a remote
//! target is refused with exit 2.

mod common;
use common::*;
#[path = "support/json_doc.rs"]
mod json_doc;
use kmemdbg::kamcmd::Kamcmd;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Starts Debian's kamailio with `tests/fixtures/hunt/NAME` on a free port
/// of 127.0.0.1 (q_malloc: allocation sites in dumps).
fn start(bin: &Path, name: &str) -> (tempfile::TempDir, Proxy) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let args = [
        "-x".to_string(),
        "qm".into(),
        "-m".into(),
        "32".into(),
        "-M".into(),
        "4".into(),
        "-A".into(),
        format!("LISTEN=udp:127.0.0.1:{port}"),
        "-A".into(),
        format!("CTL=\"unix:{}\"", ctl.display()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cfg = repo().join("tests/fixtures/hunt").join(name);
    let proxy = Proxy::start_with_cfg(bin, dir.path(), port, &cfg, &args);
    assert!(wait_for(Duration::from_secs(10), || ctl.exists()));
    (dir, proxy)
}

fn hunt(proxy: &Proxy, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = kmemdbg();
    cmd.arg("hunt")
        .arg("--target")
        .arg(format!("127.0.0.1:{}", proxy.port))
        .arg("--ctl")
        .arg(&proxy.ctl)
        .args(extra);
    run_cmd(cmd, Duration::from_secs(240))
}

fn class<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == name)
        .unwrap_or_else(|| panic!("no class {name} in {report}"))
}

fn sites_matching<'a>(class: &'a Value, needle: &str) -> Vec<&'a Value> {
    class["growth"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["site"].as_str().unwrap().contains(needle))
        .collect()
}

fn settings(ctl: &Path) -> (i64, i64) {
    let k = Kamcmd::new(Some(ctl.to_str().unwrap())).unwrap();
    (
        k.cfg_get_int("core", "mem_summary").unwrap(),
        k.cfg_get_int("core", "memlog").unwrap(),
    )
}

#[test]
fn real_hunt_htable_leak_shows_on_invite_only() {
    const T: &str = "real_hunt_htable_leak_shows_on_invite_only";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    let (dir, proxy) = start(&bin, "htable-invite.cfg");
    let before = settings(&proxy.ctl);
    let svg = dir.path().join("hunt.svg");
    const N: i64 = 40;
    let log = proxy.log.display().to_string();
    let (code, out, err) = hunt(
        &proxy,
        &[
            "--classes",
            "invite,register,options",
            "--requests",
            "40",
            "--rate",
            "200",
            "--settle",
            "7s",
            "--stderr",
            &log,
            "--plot",
            svg.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["schema"], "kmemdbg.hunt/1");
    json_doc::assert_documented(&report);
    assert_eq!(report["target"], format!("127.0.0.1:{}", proxy.port));
    let invite = class(&report, "invite");
    assert_eq!(invite["requests"], N);
    // One cell per INVITE, kept: a leak candidate with N fragments (the
    // cfg stores one cell per INVITE's Call-ID; sipp sends N INVITEs).
    let ht = sites_matching(invite, "htable: ht_api.c: ht_cell_new(");
    assert_eq!(ht.len(), 1, "{invite}");
    assert_eq!(ht[0]["held"], false, "{invite}");
    assert_eq!(ht[0]["count"], N, "{invite}");
    let per = ht[0]["per_request"].as_f64().unwrap();
    let bytes = ht[0]["bytes"].as_i64().unwrap();
    assert!((per - bytes as f64 / N as f64).abs() < 1e-6, "{invite}");
    // tm's transactions are held by design (wait timer), never candidates.
    for g in sites_matching(invite, "tm: ") {
        assert_eq!(g["held"], true, "{invite}");
    }
    for name in ["register", "options"] {
        let c = class(&report, name);
        assert_eq!(c["requests"], N);
        assert!(sites_matching(c, "htable").is_empty(), "{c}");
    }
    // Every INVITE got its 404 and its ACK (sipp counts the call completed).
    assert!(
        err.contains("kmemdbg: invite: 40 requests (40 completed, 0 failed)"),
        "{err}"
    );
    assert!(err.contains("kmemdbg: wrote the chart"), "{err}");
    assert_eq!(settings(&proxy.ctl), before, "mem_summary/memlog changed");
    assert!(kmemdbg::sip::options(
        format!("127.0.0.1:{}", proxy.port).parse().unwrap(),
        Duration::from_secs(2)
    )
    .is_ok());

    // --plot: a valid SVG, one panel per class, drawn by a real renderer.
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{text}");
    for name in [
        "invite: 40 requests",
        "register: 40 requests",
        "options: 40 requests",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
    assert!(text.contains("ht_cell_new"));
    if require_real(
        T,
        "rsvg-convert (librsvg2-bin)",
        have_program("rsvg-convert"),
    ) {
        let png = dir.path().join("hunt.png");
        let st = Command::new("rsvg-convert")
            .arg("-o")
            .arg(&png)
            .arg(&svg)
            .status()
            .unwrap();
        assert!(st.success());
        assert!(std::fs::metadata(&png).unwrap().len() > 5_000);
    }
}

#[test]
fn real_hunt_expiring_registrations_are_held_by_design() {
    const T: &str = "real_hunt_expiring_registrations_are_held_by_design";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    let (_dir, proxy) = start(&bin, "usrloc-register.cfg");
    const N: i64 = 30;
    let log = proxy.log.display().to_string();
    // --settle 6s: the scenario asks for Expires 3; usrloc's timer runs every second.
    let (code, out, err) = hunt(
        &proxy,
        &[
            "--classes",
            "register",
            "--requests",
            "30",
            "--rate",
            "200",
            "--settle",
            "6s",
            "--stderr",
            &log,
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    // Text: usrloc's contact site listed as held, and no usrloc leak candidate.
    let contact = out
        .lines()
        .find(|l| l.contains("usrloc: ucontact.c: new_ucontact("))
        .unwrap_or_else(|| panic!("no contact site:\n{out}"));
    assert!(contact.trim_start().starts_with("held"), "{out}");
    // memlog > debug in this cfg: no summary; the shm status over RPC.
    assert!(out.contains("snapshots by status dump"), "{out}");
    // One contact per distinct AoR at the peak: N.
    assert!(contact.contains(&format!("+{N} ")), "{out}");
    assert!(
        !out.lines()
            .any(|l| l.contains("LEAK?") && l.contains("usrloc")),
        "{out}"
    );
    assert!(out.contains("no leak candidate"), "{out}");
    assert!(
        out.contains("the proxy answers SIP OPTIONS at the end"),
        "{out}"
    );
    // The proxy agrees: no contact left (ul.dump lists no AoR).
    let k = Kamcmd::new(Some(proxy.ctl.to_str().unwrap())).unwrap();
    let dump = k.call(&["ul.dump"]).unwrap_or_default();
    assert!(!dump.contains("hunt-"), "{dump}");

    // The same through mod.stats (no log): still held by design.
    let (code, out, err) = hunt(
        &proxy,
        &[
            "--classes",
            "register",
            "--requests",
            "30",
            "--settle",
            "6s",
            "--json",
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    json_doc::assert_documented(&report);
    let reg = class(&report, "register");
    // Sites are `module: function(line)`; usrloc's all went back. Debian's
    // 5.6.3 offers mod.mem_statsx, which counts too: one contact per AoR.
    let ul: Vec<&Value> = reg["growth"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["site"].as_str().unwrap().starts_with("usrloc: "))
        .collect();
    let contact = ul
        .iter()
        .find(|g| {
            g["site"]
                .as_str()
                .unwrap()
                .starts_with("usrloc: new_ucontact(")
        })
        .unwrap_or_else(|| panic!("{reg}"));
    assert!(contact["count"] == N || contact["count"].is_null(), "{reg}");
    for g in &ul {
        assert_eq!(g["held"], true, "{reg}");
        assert!(g["bytes"].as_i64().unwrap() > 0, "{reg}");
    }
}

#[test]
fn hunt_refuses_a_remote_target_with_exit_2() {
    // 192.0.2.1 (TEST-NET-1) is never an address of this box.
    let (code, out, err) = run_kmemdbg(&[
        "hunt",
        "--target",
        "192.0.2.1:5060",
        "--ctl",
        "/nonexistent/ctl",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("not an address of this box"), "{err}");
    assert!(err.contains("--allow-remote"), "{err}");
    assert!(out.is_empty(), "{out}");
    // Bounds are checked too.
    let (code, _, err) = run_kmemdbg(&[
        "hunt",
        "--target",
        "127.0.0.1:5060",
        "--ctl",
        "/nonexistent/ctl",
        "--rate",
        "0",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--rate 0"), "{err}");
    let (code, _, err) = run_kmemdbg(&[
        "hunt",
        "--target",
        "127.0.0.1:5060",
        "--ctl",
        "/nonexistent/ctl",
        "--classes",
        "invite,bogus",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such class"), "{err}");
}

#[test]
fn real_hunt_every_shipped_class_and_a_users_scenario_complete() {
    const T: &str = "real_hunt_every_shipped_class_and_a_users_scenario_complete";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    // This cfg saves REGISTERs and answers everything else 200 statelessly:
    // INVITEs take the 2xx path (ACK, then BYE).
    let (dir, proxy) = start(&bin, "usrloc-register.cfg");
    let mine = dir.path().join("mine.xml");
    std::fs::copy(
        repo().join("tests/fixtures/sipp/options-unique-callid.xml"),
        &mine,
    )
    .unwrap();
    let classes = format!(
        "register,options,invite,invite-fail,message,subscribe,{}",
        mine.display()
    );
    let (code, out, err) = hunt(
        &proxy,
        &[
            "--classes",
            &classes,
            "--requests",
            "10",
            "--rate",
            "200",
            "--settle",
            "1s",
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for name in [
        "register",
        "options",
        "invite",
        "invite-fail",
        "message",
        "subscribe",
        "mine",
    ] {
        assert!(
            err.contains(&format!(
                "kmemdbg: {name}: 10 requests (10 completed, 0 failed)"
            )),
            "{name}:\n{err}"
        );
        assert!(out.contains(&format!("== {name}: 10 requests")), "{out}");
    }
    assert!(
        out.contains("--settle 1s is shorter than tm's wait timer"),
        "{out}"
    );
}

/// Starts `kmemdbg hunt` with stderr read line by line on a channel.
fn spawn_hunt(proxy: &Proxy, extra: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    spawn_hunt_with(kmemdbg(), proxy, extra)
}

fn spawn_hunt_with(
    mut cmd: Command,
    proxy: &Proxy,
    extra: &[&str],
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .arg("hunt")
        .arg("--target")
        .arg(format!("127.0.0.1:{}", proxy.port))
        .arg("--ctl")
        .arg(&proxy.ctl)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits (bounded) for a stderr line containing `needle`; returns all lines seen.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < limit {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            let hit = l.contains(needle);
            seen.push(l);
            if hit {
                return seen;
            }
        }
    }
    panic!("no stderr line with {needle:?} within {limit:?}: {seen:?}");
}

/// Waits (bounded) for the child to exit; kills it and panics after `limit`.
fn wait_exit(child: &mut std::process::Child, limit: Duration) -> (i32, String) {
    use std::io::Read;
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            return (st.code().unwrap_or(-1), out);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kmemdbg hunt did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// sipp processes sending to `port` (from /proc: argv ends with the target).
fn sipp_to(port: u16) -> Vec<u32> {
    let target = format!("127.0.0.1:{port}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmd
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (args.first()?.ends_with("sipp") && args.iter().any(|a| a == &target)).then_some(pid)
        })
        .collect()
}

#[test]
fn real_hunt_ctrl_c_stops_sipp_and_leaves_settings() {
    const T: &str = "real_hunt_ctrl_c_stops_sipp_and_leaves_settings";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    let (_dir, proxy) = start(&bin, "htable-invite.cfg");
    let before = settings(&proxy.ctl);
    let log = proxy.log.display().to_string();
    // 3000 INVITEs at 100/s would take 30 s: the signal comes long before.
    let (mut child, rx) = spawn_hunt(
        &proxy,
        &[
            "--classes",
            "invite,options",
            "--requests",
            "3000",
            "--rate",
            "100",
            "--settle",
            "5s",
            "--stderr",
            &log,
        ],
    );
    wait_line(
        &rx,
        "invite: sending 3000 requests",
        Duration::from_secs(60),
    );
    // sipp is running: it is there, sending to the proxy.
    assert!(wait_for(Duration::from_secs(10), || !sipp_to(proxy.port).is_empty()));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (code, out) = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("stopped by a signal during class invite"),
        "{out}"
    );
    // memlog <= debug in this cfg: the snapshots were summaries, taken with
    // mem_summary switched and put back.
    assert!(out.contains("snapshots by summary dump"), "{out}");
    assert!(out.contains("not run: options"), "{out}");
    assert!(
        out.contains("the proxy answers SIP OPTIONS at the end"),
        "{out}"
    );
    assert!(sipp_to(proxy.port).is_empty(), "sipp still runs");
    assert_eq!(settings(&proxy.ctl), before, "mem_summary/memlog changed");
    // Fewer than the 3000 INVITEs reached the proxy: sipp was stopped early
    // (counted independently, in the htable the cfg fills once per INVITE).
    let k = Kamcmd::new(Some(proxy.ctl.to_str().unwrap())).unwrap();
    let items = k.call(&["htable.stats"]).unwrap();
    let n: u64 = items
        .lines()
        .find_map(|l| l.trim().strip_prefix("all:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{items}"));
    assert!(n > 0 && n < 3000, "{n} INVITEs stored:\n{items}");
}

#[test]
fn real_hunt_says_after_which_class_the_proxy_stopped_answering() {
    const T: &str = "real_hunt_says_after_which_class_the_proxy_stopped_answering";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    let (_dir, mut proxy) = start(&bin, "htable-invite.cfg");
    let (mut child, rx) = spawn_hunt(
        &proxy,
        &[
            "--classes",
            "options,invite,register",
            "--requests",
            "300",
            "--rate",
            "100",
            "--settle",
            "1s",
        ],
    );
    wait_line(&rx, "invite: sending", Duration::from_secs(60));
    // The proxy goes away while the second class runs.
    proxy.stop();
    let (code, out) = wait_exit(&mut child, Duration::from_secs(90));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("THE PROXY STOPPED ANSWERING SIP OPTIONS after class options"),
        "{out}"
    );
    assert!(out.contains("== options: 300 requests"), "{out}");
    assert!(out.contains("not run: register"), "{out}");
}

#[test]
fn real_hunt_ctrl_c_while_mem_summary_is_switched_puts_it_back() {
    const T: &str = "real_hunt_ctrl_c_while_mem_summary_is_switched_puts_it_back";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    let (_dir, proxy) = start(&bin, "htable-invite.cfg");
    let k = Kamcmd::new(Some(proxy.ctl.to_str().unwrap())).unwrap();
    // A value of the operator's own, not the summary's 12.
    k.cfg_set_now_int("core", "mem_summary", 1).unwrap();
    let before = settings(&proxy.ctl);
    assert_eq!(before.0, 1);
    let log = proxy.log.display().to_string();
    let mut cmd = kmemdbg();
    cmd.env("KMEMDBG_PAUSE_AT", "dump:summary-set");
    let (mut child, rx) = spawn_hunt_with(
        cmd,
        &proxy,
        &["--classes", "invite", "--requests", "10", "--stderr", &log],
    );
    wait_line(&rx, "paused at dump:summary-set", Duration::from_secs(60));
    // Switched for the summary dump right now.
    assert_eq!(settings(&proxy.ctl).0, 12);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (code, out) = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("stopped by a signal during the first snapshot"),
        "{out}"
    );
    assert!(out.contains("not run: invite"), "{out}");
    assert_eq!(
        settings(&proxy.ctl),
        before,
        "mem_summary/memlog not put back"
    );
    assert!(
        out.contains("proxy settings as they were: mem_summary 1, memlog 1"),
        "{out}"
    );
}

#[test]
fn real_hunt_does_not_start_a_class_that_would_overrun_max_time() {
    const T: &str = "real_hunt_does_not_start_a_class_that_would_overrun_max_time";
    let Some(bin) = kamailio_and_sipp(T) else {
        return;
    };
    let (_dir, proxy) = start(&bin, "usrloc-register.cfg");
    // A class needs 10 requests at 100/s (0.1 s) + --settle 2 s + about 5 s of
    // snapshots: 7.1 s, more than --max-time 7s. Nothing is sent.
    let (code, out, err) = hunt(
        &proxy,
        &[
            "--classes",
            "options,invite",
            "--requests",
            "10",
            "--settle",
            "2s",
            "--max-time",
            "7s",
        ],
    );
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("fits 0 of the 2 classes"), "{err}");
    assert!(
        out.contains("--max-time reached: stopped before class options"),
        "{out}"
    );
    assert!(out.contains("not run: options, invite"), "{out}");
    assert!(!err.contains("with sipp"), "{err}");
}
