//! `convert --source`: the source path planned against a real Debian
//! 5.6.3 source tree (built without memory debugging: `MEMDBG ?= 0`).
//!
//! The running proxy is Debian's real kamailio, started through a
//! stand-in program name: a wrapper that answers `-V` like a build without
//! `DBG_SR_MEMORY` and runs the real binary for everything else (with
//! `exec -a`, so `/proc/PID/cmdline` names the wrapper). That is what a box
//! with a non-debug build looks like to `convert`, without compiling one.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use common::{debian_kamailio, kmemdbg, source_tree};
use daemon::{default_style_cfg, free_port, Daemon};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

const MODULES: &str = "ctl,cfg_rpc,sl,pv,kex,htable,tm";

#[test]
fn real_source_standin_binary_convert_check_lists_patch_and_build() {
    let test = "real_source_standin_binary_convert_check_lists_patch_and_build";
    let Some(real) = debian_kamailio(test) else {
        return;
    };
    let Some((_src_tmp, tree)) = source_tree(test, "5.6.3") else {
        return;
    };
    let defs = tree.join("src/Makefile.defs");
    let text = std::fs::read_to_string(&defs).unwrap();
    assert!(
        text.contains("MEMDBG ?= 1\n"),
        "pristine 5.6.3 tree changed"
    );
    std::fs::write(&defs, text.replacen("MEMDBG ?= 1\n", "MEMDBG ?= 0\n", 1)).unwrap();
    let defs_before = std::fs::read(&defs).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("kamailio");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\n# stand-in: a kamailio built without memory debugging\n\
             if [ \"$1\" = -V ]; then {r} -V | sed 's/ DBG_SR_MEMORY,//'; exit; fi\n\
             exec -a \"$0\" {r} \"$@\"\n",
            r = real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let d = Daemon::start(&wrapper, dir.path(), port, &default_style_cfg(port), &[]);
    let files_before = d.files();
    let pid = d.pid().unwrap();
    let cfg = d.cfg.to_str().unwrap().to_string();
    let pidfile = d.pidfile.to_str().unwrap().to_string();
    let src = tree.to_str().unwrap().to_string();

    let run = |extra: &[&str]| {
        let mut args = vec![
            "convert",
            "--source",
            &src,
            "--modules",
            MODULES,
            "--cfg",
            &cfg,
            "--pidfile",
            &pidfile,
            "--check",
        ];
        args.extend_from_slice(extra);
        let out = kmemdbg().args(&args).stdin(Stdio::null()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, out, err) = run(&["--json"]);
    assert_eq!(code, 3, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "kmemdbg.convert/1");
    assert_eq!(v["changed"], true);
    let status = |name: &str| {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| {
                (
                    s["status"].as_str().unwrap().to_string(),
                    s["detail"].to_string(),
                )
            })
            .unwrap()
    };
    let (patch, patch_detail) = status("patch");
    assert_eq!(patch, "pending", "{out}");
    assert!(patch_detail.contains("MEMDBG"), "{patch_detail}");
    let (build, build_detail) = status("build");
    assert_eq!(build, "pending", "{out}");
    assert!(build_detail.contains(MODULES), "{build_detail}");
    assert_eq!(status("install").0, "skipped", "{out}");
    assert_eq!(status("restart").0, "pending", "{out}");
    assert_eq!(status("inspect").0, "already", "{out}");

    // Text mode says the same for people.
    let (code, out, err) = run(&[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("patch") && out.contains("PENDING"), "{out}");
    assert!(out.contains("changes pending"), "{out}");

    // --check changed nothing: tree, cfg and the running proxy.
    assert_eq!(std::fs::read(&defs).unwrap(), defs_before);
    assert!(!tree.join("src/Makefile.defs.kmemdbg-orig").exists());
    assert_eq!(d.files(), files_before);
    assert_eq!(d.pid(), Some(pid));
}

/// A cfg that loads only the modules the small build has.
fn small_cfg(port: u16, rundir: &std::path::Path) -> String {
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=no\nmemdbg=5\nmemlog=5\nchildren=2\n\
         listen=udp:127.0.0.1:{port}\n\
         loadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\nloadmodule \"sl.so\"\n\
         loadmodule \"pv.so\"\nloadmodule \"kex.so\"\nloadmodule \"htable.so\"\nloadmodule \"tm.so\"\n\
         modparam(\"ctl\", \"binrpc\", \"unix:{}/kamailio_ctl\")\n\
         request_route {{\n    if (method==\"OPTIONS\") {{ sl_send_reply(\"200\", \"OK\"); exit; }}\n    \
         sl_send_reply(\"404\", \"Not here\");\n}}\n",
        rundir.display()
    )
}

/// The whole source path for real (a build of the core and 7 modules:
/// minutes): patch -> build -> cfg -> restart on the tree's binary with
/// `-x qm -L modules`; then `--check` says converted, and `revert --source`
/// puts the tree's Makefile.defs, the cfg and the original proxy back.
#[test]
fn real_source_standin_binary_convert_end_to_end_then_revert() {
    let test = "real_source_standin_binary_convert_end_to_end_then_revert";
    let Some(real) = debian_kamailio(test) else {
        return;
    };
    let Some((_src_tmp, tree)) = source_tree(test, "5.6.3") else {
        return;
    };
    let defs = tree.join("src/Makefile.defs");
    let text = std::fs::read_to_string(&defs).unwrap();
    std::fs::write(&defs, text.replacen("MEMDBG ?= 1\n", "MEMDBG ?= 0\n", 1)).unwrap();
    let defs_before = std::fs::read(&defs).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("kamailio");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\nif [ \"$1\" = -V ]; then {r} -V | sed 's/ DBG_SR_MEMORY,//'; exit; fi\n\
             exec -a \"$0\" {r} \"$@\"\n",
            r = real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let d = Daemon::start(
        &wrapper,
        dir.path(),
        port,
        &small_cfg(port, &dir.path().join("run")),
        &[],
    );
    let files_before = d.files();
    let old_pid = d.pid().unwrap();
    let cfg = d.cfg.to_str().unwrap().to_string();
    let pidfile = d.pidfile.to_str().unwrap().to_string();
    let src = tree.to_str().unwrap().to_string();
    let kmemdbg_run = |args: &[&str]| {
        let out = kmemdbg().args(args).stdin(Stdio::null()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let base = [
        "convert",
        "--source",
        &src,
        "--modules",
        MODULES,
        "--cfg",
        &cfg,
        "--pidfile",
        &pidfile,
    ];

    let (code, out, err) = kmemdbg_run(&[&base[..], &["--yes", "--json"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true, "{out}");
    let done: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "done")
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        done,
        ["patch", "build", "cfg", "runtime", "restart"],
        "{out}"
    );
    let built = tree.join("src/kamailio");
    let argv = daemon::cmdline(d.pid().unwrap());
    assert_ne!(d.pid(), Some(old_pid));
    assert_eq!(argv[0], built.to_str().unwrap(), "{argv:?}");
    assert!(
        argv.windows(2).any(|w| w[0] == "-x" && w[1] == "qm"),
        "{argv:?}"
    );
    assert!(argv.iter().any(|a| a == "-L"), "{argv:?}");
    assert!(std::fs::read_to_string(&defs)
        .unwrap()
        .contains("MEMDBG ?= 1\n"));

    // Converted: --check exits 0 (the running binary has DBG_SR_MEMORY now).
    let (code, out, err) = kmemdbg_run(&[&base[..], &["--check"]].concat());
    assert_eq!(code, 0, "{out}{err}");

    // revert --source: the tree, the cfg and the proxy as before.
    let (code, out, err) = kmemdbg_run(&[
        "revert",
        "--cfg",
        &cfg,
        "--source",
        &src,
        "--pidfile",
        &pidfile,
        "--yes",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read(&defs).unwrap(), defs_before);
    let argv = daemon::cmdline(d.pid().unwrap());
    assert_eq!(argv[0], wrapper.to_str().unwrap(), "{argv:?}");
    assert_eq!(d.files(), files_before);
}
