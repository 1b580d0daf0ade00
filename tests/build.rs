//! `kmemdbg build` on Debian's real Kamailio source trees: the conversion
//! of a non-debug 5.6.3 build end to end (interrupted once and resumed,
//! then up to date, then a real start of the built proxy), and the failure
//! paths (bison missing from PATH, a broken source file). Each test copies
//! the pristine tree and builds only the core and a few modules.

mod common;
use common::*;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

/// The modules the end-to-end test builds: what tests/common::minimal_cfg loads, plus kex.
const MODULES: &str = "ctl,cfg_rpc,sl,pv,kex";

fn jobs() -> String {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .to_string()
}

fn sh(dir: &Path, script: &str) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .expect("sh");
    assert!(st.success(), "`{script}` failed in {}", dir.display());
}

/// Turns memory debugging off in the tree, as a production build would have it.
fn set_memdbg_off(tree: &Path) {
    let defs = tree.join("src/Makefile.defs");
    let text = std::fs::read_to_string(&defs).unwrap();
    assert!(
        text.contains("MEMDBG ?= 1"),
        "{} has no `MEMDBG ?= 1` line",
        defs.display()
    );
    std::fs::write(&defs, text.replace("MEMDBG ?= 1", "MEMDBG ?= 0")).unwrap();
}

/// Every object (`.o`, `.so`) under `dir`, with its modification time.
fn objects(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".o") || name.ends_with(".so") || name.contains(".so.") {
                    out.push((p, e.metadata().unwrap().modified().unwrap()));
                }
            }
        }
    }
    out.sort();
    out
}

fn compile_lines(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("CC ("))
        .count()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn real_source_build_converts_563_end_to_end() {
    let test = "real_source_build_converts_563_end_to_end";
    let Some((_dir, tree)) = source_tree(test, "5.6.3") else {
        return;
    };
    let src = tree.join("src");
    let binary = src.join("kamailio");
    let bin = binary.to_str().unwrap();
    let source = tree.to_str().unwrap();

    // A production-style build without memory debugging, with plain make.
    set_memdbg_off(&tree);
    let list = MODULES.replace(',', " ");
    sh(
        &src,
        &format!(
            "all=$(ls modules | tr '\\n' ' '); make cfg include_modules='{list}' exclude_modules=\"$all\" >/dev/null && make -j{} all >/dev/null 2>&1",
            jobs()
        ),
    );
    let (code, out, _) = run_kmemdbg(&["verify", "--binary", bin, "--memdebug"]);
    assert_eq!(
        code, 1,
        "a MEMDBG=0 build must fail verify --memdebug:\n{out}"
    );

    // Not converted yet: build refuses, compiles nothing.
    let before = objects(&src);
    assert!(
        before.len() > 100,
        "the plain build left {} objects",
        before.len()
    );
    let (code, out, err) = run_kmemdbg(&["build", "--source", source, "--modules", MODULES]);
    assert_eq!(code, 1, "stdout:{out}\nstderr:{err}");
    assert!(out.starts_with("NOT CONVERTED: nothing compiled"), "{out}");
    assert!(out.contains("Makefile.defs:120: `MEMDBG ?= 0`"), "{out}");
    assert_eq!(
        objects(&src),
        before,
        "a refused build must not touch objects"
    );

    // The conversion.
    let converted_at = SystemTime::now();
    let (code, out, err) = run_kmemdbg(&["patch", "--source", source]);
    assert_eq!(code, 0, "patch: stdout:{out}\nstderr:{err}");
    let defs = std::fs::read_to_string(src.join("Makefile.defs")).unwrap();
    assert!(defs.contains("MEMDBG ?= 1"), "patch must turn MEMDBG on");

    // First build: killed mid-compile.
    let log = tree.join("kmemdbg-build.log");
    let mut child = kmemdbg()
        .args(["build", "--source", source, "--modules", MODULES])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id();
    let mid = wait_for(Duration::from_secs(900), || {
        compile_lines(&log) >= 25 || matches!(child.try_wait(), Ok(Some(_)))
    });
    assert!(mid, "the build did not get going within 15 minutes");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the build ended before it could be interrupted; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // SIGTERM to its process group (kmemdbg, make, the compilers): a shell
    // that runs tests in the background ignores SIGINT, so Ctrl-C's signal
    // would prove nothing there; make treats both alike (deletes the
    // half-written target and stops).
    let st = Command::new("kill")
        .args(["-s", "TERM", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    assert!(st.success(), "kill -TERM -{pgid} failed");
    let st = child.wait().unwrap();
    assert!(
        !st.success(),
        "an interrupted build must not report success"
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("cleaning") && log_text.contains("objects kmemdbg did not build"),
        "objects from before the conversion must be cleaned first; log:\n{log_text}"
    );
    let compiled_first = compile_lines(&log);

    // Rerun: resumes with the same defines and completes.
    let (code, out, err) = run_kmemdbg(&["build", "--source", source, "--json"]);
    assert_eq!(code, 0, "stdout:{out}\nstderr:{err}");
    let v = json(&out);
    assert_eq!(v["schema"], "kmemdbg.build/1");
    assert_eq!(v["ok"], true);
    assert_eq!(v["status"], "built");
    assert_eq!(v["resumed"], true, "{v}");
    assert_eq!(v["cleaned"], false, "{v}");
    assert_eq!(v["memdebug_define"], "-DDBG_SR_MEMORY");
    assert_eq!(v["verdict"]["ready"], true);
    assert_eq!(
        v["modules"],
        serde_json::json!(["cfg_rpc", "ctl", "kex", "pv", "sl"]),
        "the default keeps the configured module list"
    );
    let compiled_rerun = v["compiled"].as_u64().unwrap() as usize;
    assert!(compiled_rerun > 0, "{v}");
    assert!(
        compiled_first >= 25,
        "first run compiled {compiled_first} before the interrupt"
    );
    assert!(err.contains("kmemdbg: compile (make all)"), "{err}");
    assert!(
        err.contains("continuing an interrupted build"),
        "progress lines go to stderr: {err}"
    );

    // Nothing compiled before the conversion survived.
    let after = objects(&src);
    assert!(after.len() > 100);
    let stale: Vec<_> = after.iter().filter(|(_, t)| *t < converted_at).collect();
    assert!(
        stale.is_empty(),
        "objects from before the conversion: {stale:?}"
    );
    assert!(std::fs::metadata(&binary).unwrap().modified().unwrap() > converted_at);

    // The new binary has memory debugging.
    let v_out = Command::new(&binary).arg("-V").output().unwrap();
    let v_text = String::from_utf8_lossy(&v_out.stdout);
    assert!(v_text.contains("DBG_SR_MEMORY"), "{v_text}");
    let (code, out, _) = run_kmemdbg(&["verify", "--binary", bin, "--memdebug"]);
    assert_eq!(code, 0, "{out}");

    // Up to date: no compile, objects untouched.
    let (code, out, err) = run_kmemdbg(&["build", "--source", source]);
    assert_eq!(code, 0, "stdout:{out}\nstderr:{err}");
    assert!(out.starts_with("up to date: "), "{out}");
    assert!(!err.contains("compile (make all)"), "{err}");
    assert_eq!(objects(&src), after, "up to date must not touch objects");

    // The built binary checks a cfg and really starts and stops on 127.0.0.1.
    let run_dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = run_dir.path().join("kamailio_ctl");
    let cfg_text = minimal_cfg(port, &ctl, "loadmodule \"kex.so\"");
    let cfg = run_dir.path().join("kamailio.cfg");
    std::fs::write(&cfg, &cfg_text).unwrap();
    let mods = src.join("modules");
    let check = Command::new(&binary)
        .arg("-L")
        .arg(&mods)
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "kamailio -c failed:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut proxy = Proxy::start_with_cfg(
        &binary,
        run_dir.path(),
        port,
        &cfg,
        &["-L", mods.to_str().unwrap(), "-x", "qm"],
    );
    assert!(proxy.alive());
    proxy.stop();
    assert!(!proxy.alive(), "the proxy must stop on SIGTERM");
}

#[test]
fn real_source_build_names_missing_bison_with_packages() {
    let test = "real_source_build_names_missing_bison_with_packages";
    let Some((_dir, tree)) = source_tree(test, "5.6.3") else {
        return;
    };
    // A PATH of symlinks to every program except bison (and yacc).
    let bin = tempfile::tempdir().unwrap();
    for dir in ["/usr/local/bin", "/usr/bin", "/bin"] {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let link = bin.path().join(&name);
            if name == "bison" || name == "yacc" || link.exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(e.path(), &link);
        }
    }
    assert!(bin.path().join("make").exists() && !bin.path().join("bison").exists());
    let out = kmemdbg()
        .args([
            "build",
            "--source",
            tree.to_str().unwrap(),
            "--modules",
            "sl",
        ])
        .env("PATH", bin.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bison  generates the cfg parser"), "{err}");
    assert!(err.contains("apt-get install bison"), "{err}");
    assert!(err.contains("dnf install bison"), "{err}");
    assert!(
        !err.contains("flex "),
        "only what is missing is named: {err}"
    );
    assert!(
        !tree.join("src/config.mak").exists(),
        "nothing runs before the tools are there"
    );
}

#[test]
fn real_source_build_reports_first_compile_error_with_file_and_line() {
    let test = "real_source_build_reports_first_compile_error_with_file_and_line";
    let Some((_dir, tree)) = source_tree(test, "5.6.3") else {
        return;
    };
    // Break a core file that make compiles among the first.
    let action = tree.join("src/core/action.c");
    let mut text = std::fs::read_to_string(&action).unwrap();
    let broken_line = text.lines().count() + 1;
    text.push_str("int kmemdbg_broken_on_purpose = ;\n");
    std::fs::write(&action, text).unwrap();
    let log = tree.join("build-output.log");
    let (code, out, err) = run_kmemdbg(&[
        "build",
        "--source",
        tree.to_str().unwrap(),
        "--modules",
        "sl",
        "--log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "stdout:{out}\nstderr:{err}");
    let want =
        format!("first error: core/action.c:{broken_line}: expected expression before ';' token");
    assert!(err.contains(&want), "wanted {want:?} in:\n{err}");
    assert!(
        err.contains(&format!("whole log: {}", log.display())),
        "{err}"
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains(&format!("core/action.c:{broken_line}:")));
    assert!(!tree.join("src/kamailio").exists());
}

#[test]
fn real_cmake_build_601_turns_memory_debug_on() {
    let test = "real_cmake_build_601_turns_memory_debug_on";
    if !require_real(test, "cmake", have_program("cmake")) {
        return;
    }
    let Some((_dir, tree)) = source_tree(test, "6.0.1") else {
        return;
    };
    // A build directory configured without memory debugging.
    let st = Command::new("cmake")
        .arg("-S")
        .arg(&tree)
        .arg("-B")
        .arg(tree.join("build"))
        .args([
            "-DDBG_SR_MEMORY=OFF",
            "-DMODULE_GROUP_NAME=",
            "-DINCLUDE_MODULES=sl",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let source = tree.to_str().unwrap();
    let (code, out, err) = run_kmemdbg(&["build", "--source", source, "--modules", "sl", "--json"]);
    assert_eq!(code, 0, "stdout:{out}\nstderr:{err}");
    let v = json(&out);
    assert_eq!(v["generation"], "cmake");
    assert_eq!(v["status"], "built");
    assert_eq!(v["verdict"]["ready"], true, "{v}");
    assert_eq!(v["modules"], serde_json::json!(["sl"]));
    assert!(err.contains("DBG_SR_MEMORY is not ON"), "{err}");
    let cache = std::fs::read_to_string(tree.join("build/CMakeCache.txt")).unwrap();
    assert!(cache.contains("DBG_SR_MEMORY:BOOL=ON"));
    let binary = PathBuf::from(v["binary"].as_str().unwrap());
    assert_eq!(binary, tree.join("build/src/kamailio"));
    let v_out = Command::new(&binary).arg("-V").output().unwrap();
    assert!(String::from_utf8_lossy(&v_out.stdout).contains("DBG_SR_MEMORY"));
    assert!(tree.join("build/src/modules/sl/sl.so").is_file());

    let (code, out, err) = run_kmemdbg(&["build", "--source", source]);
    assert_eq!(code, 0, "stdout:{out}\nstderr:{err}");
    assert!(out.starts_with("up to date: "), "{out}");
}
