//! `convert --source`: the source path planned against a real Debian
//! 5.6.3 source tree (built without memory debugging: `MEMDBG ?= 0`).
//!
//! The running proxy is Debian's real kamailio, started through a
//! stand-in program name: a wrapper that answers `-V` like a build without
//! `DBG_SR_MEMORY` and runs the real binary for everything else (with
//! `exec -a`, so `/proc/PID/cmdline` names the wrapper). That is what a box
//! with a non-debug build looks like to `convert`, without compiling one.

mod common;
use common::daemon;
#[path = "support/json_doc.rs"]
mod json_doc;

use common::{debian_kamailio, interrupt_when, kmemdbg, set_memdbg_off, source_tree};
use daemon::{free_port, Daemon};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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
    set_memdbg_off(&tree);
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
    let d = Daemon::start_default(&wrapper, dir.path());
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
    json_doc::check_if_schema(&v);
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

/// Files under `dir` whose name ends with `suffix`.
fn count_files(dir: &Path, suffix: &str) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                n += count_files(&p, suffix);
            } else if p.to_string_lossy().ends_with(suffix) {
                n += 1;
            }
        }
    }
    n
}

/// Processes still working in `tree` (by their cwd or their command line).
fn processes_in(tree: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let pid: u32 = name.parse().unwrap();
        if !daemon::alive(pid) {
            continue;
        }
        let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
        let argv = daemon::cmdline(pid).join(" ");
        let kamailio = argv.contains("kamailio.cfg");
        if !kamailio && (cwd.starts_with(tree) || argv.contains(tree.to_str().unwrap())) {
            v.push(format!("{pid}: {argv}"));
        }
    }
    v
}

fn step_status(v: &serde_json::Value, name: &str) -> String {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no step {name} in {v}"))
}

fn json(out: &str) -> serde_json::Value {
    let v = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    json_doc::check_if_schema(&v);
    v
}

/// Every file under `dir` with its bytes (symlinks by their target).
fn tree_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    fn walk(root: &Path, d: &Path, v: &mut Vec<(String, Vec<u8>)>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                if p.is_symlink() {
                    let t = std::fs::read_link(&p).unwrap();
                    v.push((rel, t.display().to_string().into_bytes()));
                } else if p.is_dir() {
                    v.push((format!("{rel}/"), Vec::new()));
                    walk(root, &p, v);
                } else {
                    v.push((rel, std::fs::read(&p).unwrap()));
                }
            }
        }
    }
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// The whole source path for real, on one tree and one build of the core
/// and 7 modules (minutes), with a Ctrl-C in each source step:
/// 1. SIGINT while the patch writes Makefile.defs (paused between temp file
///    and rename): INTERRUPTED, exit 1, the file whole (old or new, no temp
///    left); `revert --source` puts it back byte for byte.
/// 2. SIGINT while make compiles: make's whole process group is stopped (no
///    process left in the tree), INTERRUPTED, exit 1; the stamp says
///    unfinished and `--check` still lists the build.
/// 3. The rerun (without --install) continues the build to its end and runs
///    the tree's binary (`-L` its modules); `--check` exits 0 with nothing
///    changed; `revert` (cfg and command line); `--check --install` now says
///    the build is done (exit 3 for the install and restart only).
/// 4. SIGINT while the install copies into the prefix: INTERRUPTED, exit 1.
/// 5. `convert --install --prefix`: the installed binary has DBG_SR_MEMORY
///    and is what runs (/proc/PID/exe); `--check` exits 0, nothing changed.
/// 6. `revert --source`: tree, prefix (an earlier install's binary and cfg
///    there, byte for byte; the rest removed), cfg and the original proxy back.
///
/// After every interrupt the running proxy still answers OPTIONS.
#[test]
fn real_source_standin_binary_convert_interrupts_install_then_revert() {
    let test = "real_source_standin_binary_convert_interrupts_install_then_revert";
    let Some(real) = debian_kamailio(test) else {
        return;
    };
    let Some((_src_tmp, tree)) = source_tree(test, "5.6.3") else {
        return;
    };
    let defs = tree.join("src/Makefile.defs");
    set_memdbg_off(&tree);
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
    // An earlier install in the prefix: its binary and cfg must come back.
    let prefix_dir = tempfile::tempdir().unwrap();
    let prefix = prefix_dir.path().join("opt-kamailio");
    std::fs::create_dir_all(prefix.join("sbin")).unwrap();
    std::fs::create_dir_all(prefix.join("etc/kamailio")).unwrap();
    std::fs::write(
        prefix.join("sbin/kamailio"),
        "#!/bin/sh\necho an older install\n",
    )
    .unwrap();
    std::fs::write(
        prefix.join("etc/kamailio/kamailio.cfg"),
        "# the operator's cfg\n",
    )
    .unwrap();
    let prefix_before = tree_files(&prefix);

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
    let pfx = prefix.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
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
    let install = [&base[..], &["--install", "--prefix", &pfx]].concat();
    let still_old = |when: &str, old_pid: u32| {
        assert_eq!(d.pid(), Some(old_pid), "{when}");
        assert!(d.answers(), "{when}: the old proxy does not answer OPTIONS");
        assert_eq!(d.files(), files_before, "{when}");
    };
    let started = std::time::Instant::now();

    // 1. Ctrl-C in the middle of the patch's write.
    let (code, out, err) = interrupt_when(
        &[&base[..], &["--yes"]].concat(),
        &[("KMEMDBG_FAULT_PAUSE_MS", "1500")],
        "patch",
        &mut |e| e.contains("fault point before rename of") && e.contains("Makefile.defs"),
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("INTERRUPTED"), "{out}");
    assert!(out.contains("not done: build"), "{out}");
    assert!(out.contains("kmemdbg revert"), "{out}");
    let now = std::fs::read_to_string(&defs).unwrap();
    assert!(
        now.as_bytes() == defs_before.as_slice() || now.contains("MEMDBG ?= 1\n"),
        "Makefile.defs is half-written"
    );
    assert_eq!(count_files(&tree, ".tmp"), 0, "a temp file was left");
    still_old("after the patch interrupt", old_pid);
    let (code, out, err) = run(&[
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
    assert!(!tree.join("src/Makefile.defs.kmemdbg-orig").exists());
    still_old("after revert", old_pid);

    // 2. Ctrl-C while make compiles.
    let core = tree.join("src/core");
    let (code, out, err) = interrupt_when(
        &[&install[..], &["--yes", "--json"]].concat(),
        &[],
        "build",
        &mut |_| count_files(&core, ".o") >= 8,
    );
    assert_eq!(code, 1, "{out}{err}");
    let left = processes_in(&tree);
    assert!(left.is_empty(), "make's group survived kmemdbg: {left:?}");
    let v = json(&out);
    assert_eq!(v["interrupted"], true, "{out}");
    assert_eq!(step_status(&v, "patch"), "done", "{out}");
    assert_eq!(step_status(&v, "build"), "not_run", "{out}");
    assert_eq!(step_status(&v, "restart"), "not_run", "{out}");
    assert!(v["undo"].as_str().unwrap().contains("--source"), "{out}");
    let stamp = std::fs::read_to_string(tree.join("src/.kmemdbg-build.json")).unwrap();
    assert!(stamp.contains("\"building\""), "{stamp}");
    json(&stamp);
    still_old("after the build interrupt", old_pid);
    let (code, out, _) = run(&[&install[..], &["--check", "--json"]].concat());
    assert_eq!(code, 3, "{out}");
    assert_eq!(step_status(&json(&out), "build"), "pending", "{out}");

    // 3. The rerun (no --install) continues the build to its end and runs
    //    the tree's binary: -x qm -L modules.
    let built = tree.join("src/kamailio");
    let (code, out, err) = run(&[&base[..], &["--yes", "--json"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(step_status(&v, "build"), "done", "{out}");
    let (code, out, err) = run(&["verify", "--memdebug", "--binary", built.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let argv = daemon::cmdline(d.pid().unwrap());
    assert_ne!(d.pid(), Some(old_pid));
    assert_eq!(argv[0], built.to_str().unwrap(), "{argv:?}");
    assert!(
        argv.windows(2).any(|w| w[0] == "-x" && w[1] == "qm"),
        "{argv:?}"
    );
    assert!(argv.iter().any(|a| a == "-L"), "{argv:?}");
    assert!(d.answers());
    let (code, out, err) = run(&[&base[..], &["--check", "--json"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["changed"], false, "{out}");
    for s in v["steps"].as_array().unwrap() {
        assert_eq!(s["changed"], false, "{out}");
    }
    // Back to the original proxy (cfg and command line; the tree stays built).
    let (code, out, err) = run(&["revert", "--cfg", &cfg, "--pidfile", &pidfile, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        daemon::cmdline(d.pid().unwrap())[0],
        wrapper.to_str().unwrap()
    );
    assert_eq!(d.files(), files_before);
    let old_pid = d.pid().unwrap();
    // --check: the build is done; only the install and what follows are pending.
    let (code, out, _) = run(&[&install[..], &["--check", "--json"]].concat());
    assert_eq!(code, 3, "{out}");
    let v = json(&out);
    assert_eq!(step_status(&v, "patch"), "already", "{out}");
    assert_eq!(step_status(&v, "build"), "already", "{out}");
    assert_eq!(step_status(&v, "install"), "pending", "{out}");
    assert_eq!(step_status(&v, "restart"), "pending", "{out}");

    // 4. Ctrl-C while the install copies into the prefix.
    let (code, out, err) = interrupt_when(
        &[&install[..], &["--yes"]].concat(),
        &[("KMEMDBG_PAUSE_AT", "install:copying")],
        "install",
        &mut |e| e.contains("paused at install:copying"),
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("INTERRUPTED"), "{out}");
    assert!(out.contains("not done: install"), "{out}");
    assert!(processes_in(&tree).is_empty());
    assert_eq!(d.pid(), Some(old_pid));
    assert!(d.answers(), "after the install interrupt");
    assert_eq!(d.files(), files_before);
    let (code, out, _) = run(&[&install[..], &["--check", "--json"]].concat());
    assert_eq!(code, 3, "{out}");
    let v = json(&out);
    assert_eq!(step_status(&v, "build"), "already", "{out}");
    assert_eq!(step_status(&v, "install"), "pending", "{out}");

    // 5. Install into the prefix and run the installed binary.
    let (code, out, err) = run(&[&install[..], &["--yes", "--json"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(step_status(&v, "install"), "done", "{out}");
    assert_eq!(step_status(&v, "restart"), "done", "{out}");
    // The install manifest and the build stamp, as docs/json.md describes them.
    for file in ["src/.kmemdbg-install.json", "src/.kmemdbg-build.json"] {
        json(&std::fs::read_to_string(tree.join(file)).unwrap());
    }
    let installed = prefix.join("sbin/kamailio");
    let (code, out, err) = run(&[
        "verify",
        "--memdebug",
        "--binary",
        installed.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let pid = d.pid().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        installed
    );
    assert!(daemon::cmdline(pid)
        .windows(2)
        .any(|w| w[0] == "-x" && w[1] == "qm"));
    assert!(d.answers());
    assert_eq!(
        std::fs::read(prefix.join("etc/kamailio/kamailio.cfg")).unwrap(),
        b"# the operator's cfg\n",
        "an existing cfg in the prefix was overwritten"
    );
    let (code, out, err) = run(&[&install[..], &["--check", "--json"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["changed"], false, "{out}");
    for s in v["steps"].as_array().unwrap() {
        assert_eq!(s["changed"], false, "{out}");
    }

    // 6. revert --source: everything back, the original proxy running.
    let (code, out, err) = run(&[
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
    assert!(out.contains("uninstall:"), "{out}");
    assert_eq!(std::fs::read(&defs).unwrap(), defs_before);
    assert_eq!(tree_files(&prefix), prefix_before, "{out}");
    assert_eq!(
        daemon::cmdline(d.pid().unwrap())[0],
        wrapper.to_str().unwrap()
    );
    assert!(d.answers());
    assert_eq!(d.files(), files_before);
    eprintln!("{test}: {:.0} s", started.elapsed().as_secs_f64());
}
