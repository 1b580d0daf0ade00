//! `restart`, `size`, `convert`, `revert` against real Debian kamailio
//! daemons on 127.0.0.1 (pid-file mode, a copy of Debian's default cfg).

mod common;
use common::daemon;
#[path = "support/json_doc.rs"]
mod json_doc;

use common::{debian_kamailio, interrupt_when, run_kmemdbg};
use daemon::{alive, cmdline, default_style_cfg, free_port, wait_for, Daemon};
use std::process::Command;
use std::time::Duration;

fn kamcmd(ctl: &str, args: &[&str]) -> String {
    let out = Command::new("kamcmd")
        .arg("-s")
        .arg(ctl)
        .args(args)
        .output()
        .expect("kamcmd");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn has_pair(argv: &[String], a: &str, b: &str) -> bool {
    argv.windows(2).any(|w| w[0] == a && w[1] == b)
}

#[test]
fn real_proxy_convert_pidfile_mode_check_dump_revert() {
    let Some(bin) = debian_kamailio("real_proxy_convert_pidfile_mode_check_dump_revert") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_default(&bin, dir.path());
    let before = d.files();
    let old_pid = d.pid().unwrap();
    let cfg = d.cfg.to_str().unwrap().to_string();
    let pidfile = d.pidfile.to_str().unwrap().to_string();
    let base = ["convert", "--cfg", &cfg, "--pidfile", &pidfile];

    // Unconverted: --check says 3 and which steps would change.
    let (code, out, err) = run_kmemdbg(&[&base[..], &["--check", "--json"]].concat());
    assert_eq!(code, 3, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert_eq!(v["changed"], true);
    let changed: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["changed"] == true)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["cfg", "runtime", "restart"], "{out}");
    assert_eq!(d.pid(), Some(old_pid), "--check must not restart");
    assert_eq!(d.files(), before, "--check must not write");

    // Convert.
    let (code, out, err) = run_kmemdbg(&[&base[..], &["--yes", "--json"]].concat());
    assert_eq!(code, 0, "{out}{err}\nlog:\n{}", d.log_text());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert_eq!(v["changed"], true);
    assert_eq!(v["restart"]["status"], "restarted");
    let new_pid = d.pid().unwrap();
    assert_ne!(new_pid, old_pid);
    assert!(!alive(old_pid));
    let argv = cmdline(new_pid);
    assert!(has_pair(&argv, "-x", "qm"), "{argv:?}");
    assert!(
        has_pair(&argv, "-M", "8") && has_pair(&argv, "-m", "64"),
        "{argv:?}"
    );
    assert!(d.answers());
    let memlog: i64 = kamcmd(&d.ctl(), &["cfg.get", "core", "memlog"])
        .trim()
        .parse()
        .unwrap();
    let debug: i64 = kamcmd(&d.ctl(), &["cfg.get", "core", "debug"])
        .trim()
        .parse()
        .unwrap();
    assert!(memlog <= debug, "memlog {memlog} debug {debug}");

    // A dump request prints a summary in its log.
    let log_len = d.log_text().len();
    kamcmd(&d.ctl(), &["cfg.set_now_int", "core", "mem_dump_shm", "1"]);
    assert!(
        wait_for(Duration::from_secs(10), || d.log_text()[log_len..]
            .contains("qm_sums")
            || d.log_text()[log_len..].contains("qm_status")),
        "no shm dump in the log"
    );

    // Converted: --check 0, a rerun changes nothing and does not restart.
    let (code, out, _) = run_kmemdbg(&[&base[..], &["--check", "--json"]].concat());
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["changed"],
        false
    );
    let (code, out, _) = run_kmemdbg(&[&base[..], &["--yes"]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(d.pid(), Some(new_pid));

    // Revert: original command line, files byte-identical, no backups left.
    let (code, out, err) = run_kmemdbg(&["revert", "--cfg", &cfg, "--pidfile", &pidfile, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let argv = cmdline(d.pid().unwrap());
    assert!(!argv.iter().any(|a| a == "-x"), "{argv:?}");
    assert_eq!(d.files(), before);
    assert!(d.answers());
}

#[test]
fn real_proxy_preflight_failure_stops_nothing() {
    let Some(bin) = debian_kamailio("real_proxy_preflight_failure_stops_nothing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_default(&bin, dir.path());
    let pid = d.pid().unwrap();
    // The operator's cfg now names a module that does not exist.
    let bad = std::fs::read_to_string(&d.cfg).unwrap().replacen(
        "loadmodule \"kex.so\"",
        "loadmodule \"kex.so\"\nloadmodule \"no_such_module.so\"",
        1,
    );
    std::fs::write(&d.cfg, &bad).unwrap();
    let before = d.files();
    let (code, out, err) =
        run_kmemdbg(&["restart", "--pidfile", d.pidfile.to_str().unwrap(), "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("PRE-FLIGHT FAILED"), "{out}");
    assert!(
        out.contains("no_such_module"),
        "kamailio's message is shown: {out}"
    );
    assert!(!out.contains("stopping PID"), "{out}");
    assert_eq!(d.pid(), Some(pid));
    assert!(alive(pid));
    assert!(d.answers());
    assert_eq!(d.files(), before, "nothing written, no backup left");
}

#[test]
fn real_proxy_size_pkg_too_small_rolls_back() {
    let Some(bin) = debian_kamailio("real_proxy_size_pkg_too_small_rolls_back") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_default(&bin, dir.path());
    let old_argv = d.argv();
    let before = d.files();
    let (code, out, err) = run_kmemdbg(&[
        "size",
        "--pkg",
        "1",
        "--pidfile",
        d.pidfile.to_str().unwrap(),
        "--yes",
        "--timeout",
        "15",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("pre-flight ok"),
        "-M 1 passes kamailio -c: {out}"
    );
    assert!(out.contains("NEW SETUP FAILED"), "{out}");
    assert!(
        out.contains("the previous setup runs again and is healthy"),
        "{out}"
    );
    assert_eq!(d.argv(), old_argv, "the previous command line runs again");
    assert!(d.answers());
    assert_eq!(d.files(), before, "every file as before, byte for byte");
}

#[test]
fn real_proxy_rollback_when_listen_address_is_held() {
    let Some(bin) = debian_kamailio("real_proxy_rollback_when_listen_address_is_held") else {
        return;
    };
    use kmemdbg::service::{discover, journal::FileChange, restart, Target};
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_default(&bin, dir.path());
    let port = d.port;
    let held = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    let old = discover::discover(&Target {
        pidfile: Some(d.pidfile.clone()),
        service: None,
    })
    .unwrap();
    let old_argv = d.argv();
    let before = d.files();
    // A new cfg that passes kamailio -c but listens where another socket is bound.
    let text = std::fs::read(&d.cfg).unwrap();
    let new_text = String::from_utf8(text.clone()).unwrap().replacen(
        &format!("listen=udp:127.0.0.1:{port}"),
        &format!("listen=udp:127.0.0.1:{port}\nlisten=udp:127.0.0.1:{held_port}"),
        1,
    );
    let change = FileChange {
        path: d.cfg.clone(),
        before: Some(text),
        after: Some(new_text.into_bytes()),
        mode: 0o644,
        why: "test".into(),
    };
    let mut events = Vec::new();
    let out = restart::execute(
        &old,
        &old,
        &[change],
        &restart::Options {
            timeout: Duration::from_secs(15),
            ..Default::default()
        },
        &mut |e| events.push(e.to_string()),
    )
    .unwrap();
    assert!(out.preflight.ok, "{:?}", out.preflight);
    assert_eq!(
        out.status,
        restart::Status::RolledBack,
        "{out:#?}\n{events:?}"
    );
    assert!(
        out.failure
            .as_deref()
            .unwrap_or("")
            .contains("Address already in use"),
        "{:?}",
        out.failure
    );
    assert!(out.old_health.as_ref().unwrap().ok);
    assert_eq!(d.argv(), old_argv);
    assert!(d.answers());
    assert_eq!(d.files(), before);
    drop(held);
}

#[test]
fn real_proxy_size_on_argv_then_already() {
    let Some(bin) = debian_kamailio("real_proxy_size_on_argv_then_already") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = Daemon::start(
        &bin,
        dir.path(),
        port,
        &default_style_cfg(port),
        &["-x", "qm"],
    );
    let pidfile = d.pidfile.to_str().unwrap().to_string();
    let (code, out, err) = run_kmemdbg(&[
        "size",
        "--shm",
        "96",
        "--pkg",
        "12",
        "--pidfile",
        &pidfile,
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("-m 64 -> 96") && out.contains("-M 8 -> 12"),
        "{out}"
    );
    let (code, out, err) = run_kmemdbg(&[
        "size",
        "--shm",
        "96",
        "--pkg",
        "12",
        "--pidfile",
        &pidfile,
        "--yes",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let argv = d.argv();
    assert!(
        has_pair(&argv, "-m", "96") && has_pair(&argv, "-M", "12") && has_pair(&argv, "-x", "qm"),
        "{argv:?}"
    );
    assert!(d.answers());
    let pid = d.pid();
    let (code, out, _) = run_kmemdbg(&["size", "--shm", "96", "--pidfile", &pidfile, "--yes"]);
    assert_eq!(code, 0);
    assert!(out.contains("already"), "{out}");
    assert_eq!(d.pid(), pid);
    // --suggest reads the running proxy (core.shmmem, pkg.stats from kex).
    let (code, out, err) = run_kmemdbg(&["size", "--suggest", "--pidfile", &pidfile]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("shm: 96 MB now") && out.contains("pkg: 12 MB now"),
        "{out}"
    );
}

/// SIGINT at each step of convert: the state left is completed by a rerun,
/// and a SIGINT while the proxy is stopped still ends with a running proxy.
#[test]
fn real_proxy_sigint_during_convert_each_step() {
    let Some(bin) = debian_kamailio("real_proxy_sigint_during_convert_each_step") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_default(&bin, dir.path());
    let before = d.files();
    let cfg = d.cfg.to_str().unwrap().to_string();
    let pidfile = d.pidfile.to_str().unwrap().to_string();
    let args = [
        "convert",
        "--cfg",
        cfg.as_str(),
        "--pidfile",
        pidfile.as_str(),
        "--yes",
    ];
    let interrupt_at = |point: &str| -> (i32, String) {
        let (code, out, _) = interrupt_when(
            &args,
            &[("KMEMDBG_PAUSE_AT", point)],
            point,
            &mut |stderr| stderr.contains("paused at"),
        );
        (code, out)
    };
    for step in ["step:patch", "step:cfg", "step:restart"] {
        let (code, out) = interrupt_at(step);
        assert_eq!(code, 1, "{step}: {out}");
        assert!(out.contains("INTERRUPTED"), "{step}: {out}");
        assert_eq!(
            d.files(),
            before,
            "{step}: nothing written before the restart step"
        );
        assert!(d.answers(), "{step}");
    }
    // SIGINT while the old proxy is stopped: the restart still completes.
    let (code, out) = interrupt_at("restart:stopped");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("restarted: the new setup is healthy"), "{out}");
    assert!(d.answers());
    assert!(has_pair(&d.argv(), "-x", "qm"));
    // The rerun finds nothing left to do; revert undoes it all.
    let (code, out, _) = run_kmemdbg(&[&args[..], &["--check"]].concat());
    assert_eq!(code, 0, "{out}");
    let (code, out, err) = run_kmemdbg(&["revert", "--cfg", &cfg, "--pidfile", &pidfile, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(d.files(), before);
    assert!(d.answers());
}

/// Rollback through the CLI when the new setup needs a listen address that
/// another process holds: the original cfg (kept by `convert`) listens on a
/// second port; the operator moved off it and restarted; then another
/// process (this test) bound that port. `revert` would start the original
/// setup: `kamailio -c` passes, the start fails (Address already in use),
/// kmemdbg exits non-zero, and the proxy from before runs and answers with
/// every file as before, byte for byte (backups and command-line record too).
#[test]
fn real_proxy_cli_revert_rolls_back_when_listen_address_is_held() {
    let Some(bin) = debian_kamailio("real_proxy_cli_revert_rolls_back_when_listen_address_is_held")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let port2 = free_port();
    let listen = format!("listen=udp:127.0.0.1:{port}");
    let two = default_style_cfg(port).replacen(
        &listen,
        &format!("{listen}\nlisten=udp:127.0.0.1:{port2}"),
        1,
    );
    let d = Daemon::start(&bin, dir.path(), port, &two, &[]);
    let cfg = d.cfg.to_str().unwrap().to_string();
    let pidfile = d.pidfile.to_str().unwrap().to_string();
    let (code, out, err) = run_kmemdbg(&["convert", "--cfg", &cfg, "--pidfile", &pidfile, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(daemon::udp_bound(port2));
    // The operator moves the second address elsewhere and restarts.
    let text = std::fs::read_to_string(&d.cfg).unwrap();
    std::fs::write(
        &d.cfg,
        text.replacen(&format!("\nlisten=udp:127.0.0.1:{port2}"), "", 1),
    )
    .unwrap();
    let (code, out, err) = run_kmemdbg(&["restart", "--pidfile", &pidfile, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(wait_for(Duration::from_secs(10), || !daemon::udp_bound(
        port2
    )));
    // Another process takes it.
    let held = std::net::UdpSocket::bind(("127.0.0.1", port2)).unwrap();
    let before = d.files();
    let argv = d.argv();
    assert!(
        before.iter().any(|(n, _)| n.ends_with(".kmemdbg-orig")),
        "{:?}",
        before.iter().map(|f| &f.0).collect::<Vec<_>>()
    );

    let (code, out, err) = run_kmemdbg(&["revert", "--cfg", &cfg, "--pidfile", &pidfile, "--yes"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(out.contains("Address already in use"), "{out}{err}");
    assert!(out.contains("NEW SETUP FAILED"), "{out}{err}");
    assert!(
        out.contains("the previous setup runs again and is healthy"),
        "{out}{err}"
    );
    assert_eq!(d.argv(), argv);
    assert!(d.answers(), "the proxy from before does not answer");
    assert_eq!(d.files(), before, "a file differs after the rollback");
    drop(held);
}
