//! `inspect` and `verify` against Debian's real kamailio and against
//! stand-in binaries that are not (or not debug-capable) Kamailio.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes an executable script into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

const NO_DEBUG_V: &str = "version: kamailio 5.6.3 (x86_64/linux) d99da9
flags: USE_TCP, USE_TLS, SHM_MMAP, PKG_MALLOC, Q_MALLOC, F_MALLOC, TLSF_MALLOC, USE_FUTEX
ADAPTIVE_WAIT_LOOPS 1024, MAX_RECV_BUFFER_SIZE 262144, MAX_URI_SIZE 1024, BUF_SIZE 65535, DEFAULT PKG_SIZE 8MB
poll method support: poll, epoll_lt, epoll_et, sigio_rt, select.
id: d99da9
compiled on 22:11:54 Nov 25 2026 with gcc 12.2.0";

#[test]
fn real_debian_kamailio_passes_verify_memdebug() {
    let Some(bin) = debian_kamailio("real_debian_kamailio_passes_verify_memdebug") else {
        return;
    };
    let bin = bin.to_str().unwrap();
    let (code, out, err) = run_kmemdbg(&[
        "verify",
        "--binary",
        bin,
        "--memdebug",
        "--min-version",
        "5.6",
    ]);
    assert_eq!(code, 0, "stdout:{out}\nstderr:{err}");
    assert!(out.contains("PASS: kamailio 5.6"), "{out}");
    let (code, out, _) = run_kmemdbg(&["inspect", "--binary", bin, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert_eq!(v["schema"], "kmemdbg.inspect/1");
    assert_eq!(v["verdict"]["kind"], "sr_memory");
    assert_eq!(v["verdict"]["ready"], true);
    assert_eq!(
        v["verdict"]["runtime_options"],
        serde_json::json!(["-x", "qm"])
    );
    assert!(v["build"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "DBG_SR_MEMORY"));
    // -I adds the shm default the -V output lacks.
    assert_eq!(v["build"]["settings"]["DEFAULT SHM_SIZE"], "64MB");
}

#[test]
fn real_debian_kamailio_inspect_human_output() {
    let Some(bin) = debian_kamailio("real_debian_kamailio_inspect_human_output") else {
        return;
    };
    let (code, out, _) = run_kmemdbg(&["inspect", "--binary", bin.to_str().unwrap()]);
    assert_eq!(code, 0);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("ready: ") && first.contains("-x qm"),
        "{out}"
    );
    assert!(out.contains("version:    kamailio 5.6.3"), "{out}");
}

#[test]
fn standin_without_debug_flags_fails_verify_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let bin = script(
        dir.path(),
        "kamailio",
        &format!("cat <<'X'\n{NO_DEBUG_V}\nX"),
    );
    let junit = dir.path().join("report.xml");
    let (code, out, err) = run_kmemdbg(&[
        "verify",
        "--binary",
        bin.to_str().unwrap(),
        "--memdebug",
        "--require",
        "USE_TLS",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "stdout:{out}\nstderr:{err}");
    assert!(out.contains("[FAIL] memdebug"), "{out}");
    assert!(out.contains("[ok] require USE_TLS"), "{out}");
    assert!(out.contains("kmemdbg convert"), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    assert!(xml.contains("<failure message=\"NOT ready"), "{xml}");
    // JSON lists each check.
    let (code, out, _) = run_kmemdbg(&[
        "verify",
        "--binary",
        bin.to_str().unwrap(),
        "--memdebug",
        "--forbid",
        "F_MALLOC",
        "--json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert_eq!(v["ok"], false);
    assert_eq!(v["checks"].as_array().unwrap().len(), 2);
    assert_eq!(v["checks"][1]["requirement"], "forbid F_MALLOC");
}

#[test]
fn inspect_standin_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let bin = script(
        dir.path(),
        "kamailio",
        &format!("cat <<'X'\n{NO_DEBUG_V}\nX"),
    );
    let (code, out, _) = run_kmemdbg(&["inspect", "--binary", bin.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.starts_with("NOT READY: "), "{out}");
}

#[test]
fn future_version_still_parsed_verdict_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let v = "version: kamailio 9.2.0-dev4 (riscv64/linux) 0badc0de\nflags: USE_TCP,\n  PKG_MALLOC, Q_MALLOC, DBG_QM_MALLOC\nsomething new: 42";
    let bin = script(dir.path(), "kamailio", &format!("cat <<'X'\n{v}\nX"));
    let (code, out, err) = run_kmemdbg(&[
        "verify",
        "--binary",
        bin.to_str().unwrap(),
        "--memdebug",
        "--min-version",
        "9.1",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("kamailio 9.2.0-dev4"), "{out}");
}

#[test]
fn bad_binaries_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = script(
        dir.path(),
        "garbage",
        "echo 'hello there'; echo '%%%% flags?'",
    );
    let nonutf = script(
        dir.path(),
        "nonutf",
        "printf 'version: \\377\\376\\375 kamailio\\n\\000\\001'",
    );
    let hang = script(dir.path(), "hang", "exec sleep 60");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--binary".into(), "/nonexistent/kamailio".into()],
            "no such file",
        ),
        (
            vec!["--binary".into(), "/bin/true".into()],
            "printed nothing",
        ),
        (
            vec!["--binary".into(), garbage.display().to_string()],
            "is it a Kamailio",
        ),
        (
            vec!["--binary".into(), nonutf.display().to_string()],
            "is it a Kamailio",
        ),
        (
            vec![
                "--binary".into(),
                hang.display().to_string(),
                "--probe-timeout".into(),
                "0.5".into(),
            ],
            "did not finish within 0.5s",
        ),
        (
            vec!["--binary".into(), dir.path().display().to_string()],
            "is a directory",
        ),
    ];
    for (args, expect) in cases {
        let mut all = vec!["verify".to_string(), "--memdebug".into()];
        all.extend(args.iter().cloned());
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        // the hang case ends because the message says the probe timed out,
        // not because of a bound on the test's own clock
        let (code, out, err) = run_kmemdbg(&refs);
        assert_eq!(code, 2, "{args:?}: stdout:{out} stderr:{err}");
        assert!(
            err.contains(expect),
            "{args:?}: expected {expect:?} in:\n{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn verify_without_requirements_is_a_usage_error() {
    let (code, _, err) = run_kmemdbg(&["verify", "--binary", "/bin/true"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to verify"), "{err}");
}

#[test]
fn missing_binary_in_path_names_the_places_searched() {
    let out = kmemdbg()
        .args(["inspect"])
        .env("PATH", "/nonexistent")
        .env("KMEMDBG_SBIN_DIRS", "/nonexistent-sbin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no kamailio binary in PATH") && err.contains("pass --binary"),
        "{err}"
    );
}
