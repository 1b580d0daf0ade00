//! `kmemdbg hunt` against Debian's real Kamailio 5.6.3 and sipp: a cfg that
//! leaks one htable cell per INVITE shows that growth on `invite` only,
//! about one cell per request; registrations that expire are held by
//! design, not a leak; `--plot` writes an SVG a renderer accepts; a remote
//! target is refused with exit 2.

mod common;
use common::*;
#[path = "support/json_doc.rs"]
mod json_doc;
use kmemdbg::kamcmd::Kamcmd;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn prerequisites(test: &str) -> Option<PathBuf> {
    let bin = debian_kamailio(test)?;
    require_real(
        test,
        "sipp (apt-get install sip-tester)",
        have_program("sipp"),
    )
    .then_some(bin)
}

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
    let Some(bin) = prerequisites(T) else {
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
    // The leak is the top candidate of the whole run.
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
    let Some(bin) = prerequisites(T) else {
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

    // The same through mod.stats (no log): bytes per module, count null, still held.
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
    let ul: Vec<&Value> = reg["growth"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["site"] == "usrloc")
        .collect();
    assert_eq!(ul.len(), 1, "{reg}");
    assert_eq!(ul[0]["count"], Value::Null);
    assert_eq!(ul[0]["held"], true, "{reg}");
    assert!(ul[0]["bytes"].as_i64().unwrap() > 0);
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
