//! `kmemdbg build` on Debian's real Kamailio source trees: the conversion
//! of a non-debug 5.6.3 build end to end (interrupted once and resumed,
//! then up to date, then a real start of the built proxy), and the failure
//! paths (bison missing from PATH, a broken source file). Each test copies
//! the pristine tree and builds only the core and a few modules.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
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

/// Runs `kmemdbg build --source TREE --modules sl` with a PATH of links to
/// every program in /usr/local/bin, /usr/bin and /bin except those
/// `missing` names: how a box without bison (or cmake) looks.
fn build_without(tree: &Path, missing: impl Fn(&str) -> bool) -> std::process::Output {
    let bin = tempfile::tempdir().unwrap();
    for dir in ["/usr/local/bin", "/usr/bin", "/bin"] {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let link = bin.path().join(&name);
            if missing(&name.to_string_lossy()) || link.exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(e.path(), &link);
        }
    }
    assert!(bin.path().join("make").exists(), "make must stay on PATH");
    kmemdbg()
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
        .unwrap()
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
    let v = serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    json_doc::check_if_schema(&v);
    v
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

    // First build (to be installed under a prefix of its own): killed mid-compile.
    // The prefix is given from the start: it is compiled into the defines
    // (CFG_DIR, RUN_DIR), so a later new prefix would mean a clean rebuild.
    let prefix_dir = tempfile::tempdir().unwrap();
    let prefix = prefix_dir.path().join("opt-kamailio");
    let prefix_s = prefix.to_str().unwrap();
    let log = tree.join("kmemdbg-build.log");
    let mut child = kmemdbg()
        .args([
            "build",
            "--source",
            source,
            "--modules",
            MODULES,
            "--install",
            "--prefix",
            prefix_s,
        ])
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

    assert!(
        !prefix.join("sbin").exists(),
        "an interrupted build installs nothing"
    );

    // Rerun: resumes with the same defines, completes and installs; with
    // --jobs one more than the default (every core), which make must get.
    let more_jobs = (jobs().parse::<usize>().unwrap() + 1).to_string();
    let (code, out, err) = run_kmemdbg(&[
        "build",
        "--source",
        source,
        "--install",
        "--prefix",
        prefix_s,
        "--jobs",
        &more_jobs,
        "--json",
    ]);
    assert_eq!(code, 0, "stdout:{out}\nstderr:{err}");
    let v = json(&out);
    assert_eq!(v["jobs"].to_string(), more_jobs, "{v}");
    assert!(
        err.contains(&format!(" -j{more_jobs} all")),
        "make did not get --jobs: {err}"
    );
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
    let installed = prefix.join("sbin/kamailio");
    assert_eq!(v["installed"], installed.to_str().unwrap(), "{v}");
    assert_eq!(v["installed_verdict"]["ready"], true, "{v}");
    assert!(err.contains("kmemdbg: compile (make all)"), "{err}");
    assert!(err.contains("kmemdbg: install (make install)"), "{err}");
    assert!(
        err.contains("continuing an interrupted build"),
        "progress lines go to stderr: {err}"
    );
    assert!(
        err.contains("kmemdbg: compiling: ") && !err.contains('\r'),
        "off a terminal: a progress line every few seconds, no bar: {err}"
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

    // --modules built the core and exactly the listed modules.
    let mut built_modules: Vec<String> = after
        .iter()
        .filter_map(|(p, _)| {
            let rel = p.strip_prefix(src.join("modules")).ok()?;
            let name = rel.file_name()?.to_str()?;
            (rel.components().count() == 2 && name.ends_with(".so"))
                .then(|| name.trim_end_matches(".so").to_string())
        })
        .collect();
    built_modules.sort();
    assert_eq!(built_modules, ["cfg_rpc", "ctl", "kex", "pv", "sl"]);

    // The new binary has memory debugging, and so has the installed one.
    for b in [&binary, &installed] {
        let v_out = Command::new(b).arg("-V").output().unwrap();
        let v_text = String::from_utf8_lossy(&v_out.stdout);
        assert!(
            v_text.contains("DBG_SR_MEMORY"),
            "{}: {v_text}",
            b.display()
        );
        let (code, out, _) =
            run_kmemdbg(&["verify", "--binary", b.to_str().unwrap(), "--memdebug"]);
        assert_eq!(code, 0, "{}: {out}", b.display());
    }
    // The installed modules are under the prefix, where the installed
    // binary looks for them by itself (no -L).
    let mut installed_so = Vec::new();
    let mut stack = vec![prefix.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name() == "sl.so" {
                installed_so.push(e.path());
            }
        }
    }
    assert_eq!(installed_so.len(), 1, "{installed_so:?}");
    let installed_modules = installed_so[0].parent().unwrap().to_path_buf();
    assert!(
        installed_modules.ends_with("kamailio/modules"),
        "{}",
        installed_modules.display()
    );
    for m in MODULES.split(',') {
        assert!(
            installed_modules.join(format!("{m}.so")).is_file(),
            "{m}.so"
        );
    }
    let installed_bytes = std::fs::read(&installed).unwrap();

    // Up to date: no compile, objects untouched.
    let (code, out, err) = run_kmemdbg(&["build", "--source", source]);
    assert_eq!(code, 0, "stdout:{out}\nstderr:{err}");
    assert!(out.starts_with("up to date: "), "{out}");
    assert!(!err.contains("compile (make all)"), "{err}");
    assert_eq!(objects(&src), after, "up to date must not touch objects");

    // Installing again: up to date (nothing compiled), the same binary installed.
    let (code, out, err) = run_kmemdbg(&[
        "build",
        "--source",
        source,
        "--install",
        "--prefix",
        prefix_s,
        "--json",
    ]);
    assert_eq!(code, 0, "stdout:{out}\nstderr:{err}");
    let v = json(&out);
    assert_eq!(v["status"], "up_to_date", "{v}");
    assert_eq!(v["compiled"], 0, "{v}");
    assert_eq!(v["installed"], installed.to_str().unwrap(), "{v}");
    assert_eq!(v["installed_verdict"]["ready"], true, "{v}");
    assert!(!err.contains("compile (make all)"), "{err}");
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        compile_lines(&log) > 100
            && log_text
                .split_once("kmemdbg: up to date")
                .is_some_and(|(_, rest)| rest.contains("kmemdbg: install (make install)")),
        "the build's output stays in the log, the install is appended:\n{log_text}"
    );
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        installed_bytes,
        "a second install puts the same binary in place"
    );

    // On a terminal the compile shows a bar (files compiled, elapsed, ETA):
    // one source touched, rebuilt under a pseudo-terminal (util-linux
    // `script`); everything above ran off a terminal and printed lines.
    assert!(have_program("script"), "util-linux `script` is needed");
    let action = src.join("core/action.c");
    std::fs::File::options()
        .append(true)
        .open(&action)
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
    let typescript = tree.join("tty-build.out");
    let line = format!(
        "'{}' build --source '{source}' -j {}",
        env!("CARGO_BIN_EXE_kmemdbg"),
        jobs()
    );
    let st = Command::new("script")
        .args(["-qefc", &line])
        .arg(&typescript)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let tty = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert!(st.success(), "build on a terminal failed:\n{tty}");
    assert!(
        tty.contains("] ") && tty.contains("files compiled elapsed") && tty.contains("ETA"),
        "no progress bar on a terminal:\n{tty}"
    );
    assert!(
        !tty.contains("kmemdbg: compiling:"),
        "a terminal gets the bar, not the lines:\n{tty}"
    );
    assert!(tty.contains("built: "), "{tty}");
    assert!(
        tty.contains("compiled: 1 files"),
        "only the touched file is compiled again:\n{tty}"
    );

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
    // The installed binary finds its modules under the prefix without -L.
    let check = Command::new(&installed)
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{} -c failed:\n{}",
        installed.display(),
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
    let out = build_without(&tree, |name| name == "bison" || name == "yacc");
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

/// `src/modules.lst`: what `make cfg` saved.
fn modules_lst(src: &Path) -> String {
    std::fs::read_to_string(src.join("modules.lst")).unwrap_or_default()
}

fn lst_value(lst: &str, name: &str) -> Vec<String> {
    let mut v: Vec<String> = lst
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or("")
        .split_whitespace()
        // `exclude_modules= ... $(skip_modules)`: skip_modules is empty here.
        .filter(|w| !w.starts_with("$("))
        .map(String::from)
        .collect();
    v.sort();
    v
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v["modules"]
        .as_array()
        .unwrap_or_else(|| panic!("no modules in {v}"))
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

/// The module selection (`--modules`, `--all-modules`, the default) as the
/// configure step writes it, on a real 5.6.3 tree. The tree is left
/// unconverted (`MEMDBG ?= 0`): `build` configures, reads back what make
/// will compile, then refuses to compile, so the selection is shown
/// without building 130+ modules.
#[test]
fn real_source_build_module_selection_default_list_and_all() {
    let test = "real_source_build_module_selection_default_list_and_all";
    let Some((_dir, tree)) = source_tree(test, "5.6.3") else {
        return;
    };
    set_memdbg_off(&tree);
    let src = tree.join("src");
    let source = tree.to_str().unwrap();
    let log = tree.join("kmemdbg-build.log");
    let mut dirs: Vec<String> = std::fs::read_dir(src.join("modules"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Makefile").is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    assert!(dirs.len() > 130, "{} module directories", dirs.len());
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "--source", source, "--json"];
        args.extend_from_slice(extra);
        // The log is written only by a run that runs a build step.
        let _ = std::fs::remove_file(&log);
        let (code, out, err) = run_kmemdbg(&args);
        assert_eq!(code, 1, "unconverted: {args:?}\nstdout:{out}\nstderr:{err}");
        let v = json(&out);
        assert_eq!(v["status"], "not_converted", "{v}");
        (v, std::fs::read_to_string(&log).unwrap_or_default())
    };

    // The default on a never-configured tree: the tree's own `make cfg`,
    // i.e. every module minus the tree's default exclusions (modules that
    // need external libraries, e.g. db_mysql).
    let (v, log_text) = build(&[]);
    assert!(
        log_text.contains(&format!("make -C {} cfg\n", src.display())),
        "plain `make cfg`: {log_text}"
    );
    let lst = modules_lst(&src);
    assert!(lst_value(&lst, "skip_modules").is_empty(), "{lst}");
    let excluded = lst_value(&lst, "exclude_modules");
    assert!(excluded.contains(&"db_mysql".to_string()), "{lst}");
    assert!(lst_value(&lst, "include_modules").is_empty(), "{lst}");
    let default: Vec<String> = dirs
        .iter()
        .filter(|d| !excluded.contains(d))
        .cloned()
        .collect();
    assert_eq!(
        names(&v),
        default,
        "default = modules/* - the tree's exclusions"
    );
    assert!(default.contains(&"tm".to_string()) && default.len() < dirs.len());

    // --modules: the core and exactly these; every other module excluded.
    let (v, log_text) = build(&["--modules", "tm,sl"]);
    assert_eq!(names(&v), ["sl", "tm"]);
    assert!(
        log_text.contains("another module list was asked for"),
        "{log_text}"
    );
    let lst = modules_lst(&src);
    assert_eq!(lst_value(&lst, "include_modules"), ["sl", "tm"], "{lst}");
    let others: Vec<String> = dirs
        .iter()
        .filter(|d| *d != "sl" && *d != "tm")
        .cloned()
        .collect();
    assert_eq!(lst_value(&lst, "exclude_modules"), others);

    // The default on a configured tree keeps its configuration: no make cfg.
    let lst_before = std::fs::metadata(src.join("modules.lst"))
        .unwrap()
        .modified()
        .unwrap();
    let (v, log_text) = build(&[]);
    assert_eq!(
        names(&v),
        ["sl", "tm"],
        "the default keeps the configured list"
    );
    assert!(!log_text.contains("configuring"), "{log_text}");
    assert_eq!(
        std::fs::metadata(src.join("modules.lst"))
            .unwrap()
            .modified()
            .unwrap(),
        lst_before
    );

    // --all-modules: every module directory, nothing excluded.
    let (v, log_text) = build(&["--all-modules"]);
    assert_eq!(names(&v), dirs, "--all-modules = every module directory");
    assert!(
        log_text.contains("cfg include_modules= exclude_modules="),
        "{log_text}"
    );
    let lst = modules_lst(&src);
    assert!(lst_value(&lst, "exclude_modules").is_empty(), "{lst}");
    // Asked again: already configured so, nothing rerun.
    let (v, log_text) = build(&["--all-modules"]);
    assert_eq!(names(&v), dirs);
    assert!(!log_text.contains("configuring"), "{log_text}");
}

/// A CMake tree (6.0.1) needs cmake: without it on PATH, build names the
/// Debian and RPM packages and configures nothing.
#[test]
fn real_cmake_build_names_missing_cmake_with_packages() {
    let test = "real_cmake_build_names_missing_cmake_with_packages";
    let Some((_dir, tree)) = source_tree(test, "6.0.1") else {
        return;
    };
    let out = build_without(&tree, |name| name.starts_with("cmake"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cmake  configures 6.x trees"), "{err}");
    assert!(
        err.contains("Debian/Ubuntu: cmake; RHEL/Fedora/CentOS: cmake"),
        "{err}"
    );
    assert!(err.contains("apt-get install cmake"), "{err}");
    assert!(err.contains("dnf install cmake"), "{err}");
    assert!(
        !err.contains("bison "),
        "only what is missing is named: {err}"
    );
    assert!(
        !tree.join("build").exists(),
        "nothing runs before the tools are there"
    );
}
