//! `kmemdbg patch` on the fixture trees of every generation (written from
//! the documented structure of each Makefile.defs / CMake layout), proven
//! with make and cmake themselves, plus the safety contract (dry run,
//! idempotence, byte-identical revert, kill between temp write and rename)
//! and every bad input of the issue (exit 2, file:line, nothing changed).

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
use common::*;
use kmemdbg::patch::recipe::{self, Recipe};
use kmemdbg::source::BuildSystem;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/patch")
}

/// A private copy of fixture `name`.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join(name);
    let st = Command::new("cp")
        .arg("-a")
        .arg(fixtures().join(name))
        .arg(&dest)
        .status()
        .unwrap();
    assert!(st.success());
    (dir, dest)
}

/// Every file under `dir` with its bytes: "nothing changed" means equal snapshots.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_else(|_| b"<unreadable>".to_vec());
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), bytes);
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    m
}

/// What make computes for the define lists of the Makefile.defs in `dir`:
/// a tiny makefile includes it (as the main makefile does) and prints
/// `$(DEFS) $(C_DEFS)`.
fn make_defines(dir: &Path) -> Vec<String> {
    let mk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        mk.path(),
        "main_makefile=1\ninclude Makefile.defs\nprint-defs:\n\t@echo $(DEFS) $(C_DEFS)\n",
    )
    .unwrap();
    let mut cmd = Command::new("make");
    cmd.args(["-s", "--no-print-directory", "-C"])
        .arg(dir)
        .arg("-f")
        .arg(mk.path())
        .arg("print-defs");
    let (code, out, err) = run_cmd(cmd, Duration::from_secs(60));
    assert_eq!(code, 0, "make failed in {}: {err}", dir.display());
    out.split_whitespace().map(str::to_string).collect()
}

/// Configures `build` for `src` (extra -D args), returns the configure output.
fn cmake_configure(src: &Path, build: &Path, defs: &[String]) -> String {
    let mut cmd = Command::new("cmake");
    cmd.arg("-S").arg(src).arg("-B").arg(build).args(defs);
    let (code, out, err) = run_cmd(cmd, Duration::from_secs(300));
    assert_eq!(code, 0, "cmake failed: {out}\n{err}");
    out
}

/// The defines CMake printed for the `common` interface ("Compile
/// definitions for common: A;B"), as `-DA`.
fn cmake_defines(configure_output: &str) -> Vec<String> {
    let line = configure_output
        .lines()
        .find_map(|l| {
            l.split_once("Compile definitions for common: ")
                .map(|(_, d)| d)
        })
        .expect("configure printed the compile definitions");
    line.split(';').map(|d| format!("-D{d}")).collect()
}

/// The value CMake reports for a cache entry (`cmake -L -N`).
fn cmake_cache_value(build: &Path, name: &str) -> Option<String> {
    let mut cmd = Command::new("cmake");
    cmd.arg("-L").arg("-N").arg(build);
    let (code, out, _) = run_cmd(cmd, Duration::from_secs(60));
    assert_eq!(code, 0);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|l| l.split_once('=').map(|(_, v)| v.to_string()))
}

fn patch_json(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["patch"];
    a.extend_from_slice(args);
    a.push("--json");
    let (code, out, err) = run_kmemdbg(&a);
    assert_eq!(code, 0, "kmemdbg {a:?}: {out}\n{err}");
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    json_doc::check_if_schema(&v);
    v
}

/// The declared option of the recipe in a CMake tree (read with kmemdbg's pure reader).
fn declared_option(tree: &Path, r: &Recipe) -> String {
    let text = std::fs::read_to_string(tree.join("cmake/defs.cmake")).unwrap();
    let declared: Vec<String> = kmemdbg::source::cmake::options(&text)
        .into_iter()
        .map(|o| o.name)
        .collect();
    r.cmake_option
        .iter()
        .map(|o| o.name.clone())
        .find(|n| declared.contains(n))
        .expect("fixture declares one of the recipe's options")
}

/// Checks the effective defines before/after against the recipe: wanted
/// ones appear, unwanted ones go, and every other define survives
/// (a broken `\` continuation would lose the words after it).
fn check_defines(
    name: &str,
    before: &[String],
    after: &[String],
    present: &[String],
    absent: &[String],
) {
    let b: BTreeSet<&String> = before.iter().collect();
    let a: BTreeSet<&String> = after.iter().collect();
    assert!(!present.is_empty(), "{name}: recipe names no wanted define");
    assert!(
        !present.iter().all(|p| b.contains(p)),
        "{name}: fixture is already a debug build: {before:?}"
    );
    for p in present {
        assert!(a.contains(p), "{name}: {p} missing after patch: {after:?}");
    }
    for x in absent {
        assert!(
            !a.contains(x),
            "{name}: {x} still there after patch: {after:?}"
        );
    }
    for d in &b {
        assert!(
            a.contains(d) || absent.contains(d),
            "{name}: {d} was lost (continuation broken?): before {before:?} after {after:?}"
        );
    }
    for d in &a {
        assert!(
            b.contains(d) || present.contains(d),
            "{name}: {d} appeared from nowhere: {after:?}"
        );
    }
}

#[test]
fn every_generation_converts_its_fixture() {
    for r in recipe::all().unwrap() {
        let dir = fixtures().join(&r.name);
        assert!(
            dir.is_dir(),
            "patches/{}.toml has no fixture: add tests/fixtures/patch/{}/",
            r.name,
            r.name
        );
        if r.build == BuildSystem::Cmake
            && !require_real(
                "every_generation_converts_its_fixture",
                "cmake",
                have_program("cmake"),
            )
        {
            continue;
        }
        let (_tmp, tree) = fixture(&r.name);
        let pristine = snapshot(&tree);
        let t = tree.to_str().unwrap();
        let (before, present, absent, build) = match r.build {
            BuildSystem::Make => {
                let defs_dir = tree
                    .join(r.defs.as_deref().unwrap())
                    .parent()
                    .unwrap()
                    .to_path_buf();
                let d = r.defines();
                (make_defines(&defs_dir), d.present, d.absent, None)
            }
            BuildSystem::Cmake => {
                let option = declared_option(&tree, &r);
                let build = tree.join("build");
                let out = cmake_configure(&tree, &build, &[format!("-D{option}=OFF")]);
                assert_eq!(cmake_cache_value(&build, &option).as_deref(), Some("OFF"));
                (
                    cmake_defines(&out),
                    vec![format!("-D{}", r.debug_flag)],
                    vec![],
                    Some((build, option)),
                )
            }
        };
        let configured = snapshot(&tree);
        let v = patch_json(&["--source", t]);
        assert_eq!(v["status"], "converted", "{}: {v}", r.name);
        assert_eq!(v["generations"][0]["name"], r.name.as_str());
        assert_eq!(v["debug_flag"], r.debug_flag.as_str());
        let after = match (&r.build, &build) {
            (BuildSystem::Make, _) => {
                let defs_dir = tree
                    .join(r.defs.as_deref().unwrap())
                    .parent()
                    .unwrap()
                    .to_path_buf();
                make_defines(&defs_dir)
            }
            (BuildSystem::Cmake, Some((b, option))) => {
                let out = cmake_configure(&tree, b, &[]);
                assert_eq!(
                    cmake_cache_value(b, option).as_deref(),
                    Some("ON"),
                    "{}",
                    r.name
                );
                cmake_defines(&out)
            }
            _ => unreachable!(),
        };
        check_defines(&r.name, &before, &after, &present, &absent);
        // Second run: nothing to do.
        let v = patch_json(&["--source", t]);
        assert_eq!(v["status"], "already_converted", "{}: {v}", r.name);
        // Revert: the files kmemdbg touched are back byte for byte (the
        // build directory cmake rewrote on reconfigure is back to the
        // state kmemdbg found).
        let v = patch_json(&["--source", t, "--revert"]);
        assert_eq!(v["status"], "reverted");
        let now = snapshot(&tree);
        for (path, bytes) in &configured {
            if path.starts_with("build") && !path.ends_with("CMakeCache.txt") {
                continue;
            }
            assert_eq!(
                now.get(path),
                Some(bytes),
                "{}: {} differs after revert",
                r.name,
                path.display()
            );
        }
        for path in pristine.keys() {
            assert!(now.contains_key(path));
        }
        assert!(
            now.keys()
                .all(|p| !p.to_string_lossy().contains(".kmemdbg-")),
            "{}: leftovers: {:?}",
            r.name,
            now.keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn help_lists_every_generation() {
    let (code, out, _) = run_kmemdbg(&["patch", "--help"]);
    assert_eq!(code, 0);
    for r in recipe::all().unwrap() {
        assert!(
            out.contains(&format!("  {} ", r.name)),
            "patch --help lacks {}:\n{out}",
            r.name
        );
    }
}

#[test]
fn dry_run_prints_the_diff_and_writes_nothing() {
    let (_tmp, tree) = fixture("openser-ser");
    let before = snapshot(&tree);
    let (code, out, err) = run_kmemdbg(&["patch", "--source", tree.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("would convert openser 1.3.4-notls (Makefile.defs)"),
        "{out}"
    );
    assert!(
        out.contains("-\t -DF_MALLOC \\\n+\t -DDBG_QM_MALLOC \\\n"),
        "{out}"
    );
    assert!(
        out.contains("Makefile.defs:32: `-DF_MALLOC` -> `-DDBG_QM_MALLOC`"),
        "{out}"
    );
    assert_eq!(snapshot(&tree), before);
}

#[test]
fn second_patch_is_a_noop_and_revert_survives_several_runs() {
    let (_tmp, tree) = fixture("5.x-6.x-make");
    let t = tree.to_str().unwrap();
    let defs = tree.join("src/Makefile.defs");
    let original = std::fs::read(&defs).unwrap();
    let (code, out, _) = run_kmemdbg(&["patch", "--source", t]);
    assert_eq!(code, 0);
    assert!(
        out.contains("src/Makefile.defs:30: `MEMDBG ?= 0` -> `MEMDBG ?= 1`"),
        "{out}"
    );
    let converted = std::fs::read(&defs).unwrap();
    let mtime = std::fs::metadata(&defs).unwrap().modified().unwrap();
    let (code, out, _) = run_kmemdbg(&["patch", "--source", t]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("already converted: kamailio 5.8.2"),
        "{out}"
    );
    assert_eq!(std::fs::read(&defs).unwrap(), converted);
    assert_eq!(
        std::fs::metadata(&defs).unwrap().modified().unwrap(),
        mtime,
        "no write"
    );
    // Someone puts MEMDBG back to 0 by hand; patch again; the backup still
    // holds the very first original.
    let hand = String::from_utf8(converted)
        .unwrap()
        .replace("MEMDBG ?= 1", "MEMDBG ?= 0");
    std::fs::write(&defs, hand).unwrap();
    let v = patch_json(&["--source", t]);
    assert_eq!(v["status"], "converted");
    assert_eq!(v["backups"][0], "src/Makefile.defs.kmemdbg-orig");
    let (code, out, _) = run_kmemdbg(&["patch", "--source", t, "--revert"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("reverted 1 file(s)"), "{out}");
    assert_eq!(
        std::fs::read(&defs).unwrap(),
        original,
        "revert is byte-identical"
    );
    let (code, out, _) = run_kmemdbg(&["patch", "--source", t, "--revert"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("nothing to revert"), "{out}");
}

/// A saved config.mak (as `make cfg` writes it) for the 5.x fixture.
const CONFIG_MAK: &str = "# this file is autogenerated by make cfg\nMAIN_NAME= kamailio\nRELEASE= 5.8.2\n\
C_DEFS=   -DNAME='\"kamailio\"' -DPKG_MALLOC -DSHM_MMAP -DUSE_TCP -DMEM_JOIN_FREE -DF_MALLOC -DQ_MALLOC -DTLSF_MALLOC -DSENTINEL_AFTER_SWITCH\n\
DEFS_RM= \nPREFIX= /usr\noverride makefile_defs:=1\n\
C_DEFS:=$(filter-out $(DEFS_RM) $(extra_defs),$(C_DEFS)) $(extra_defs)\n";

#[test]
fn kill_between_temp_write_and_rename_leaves_old_or_new_never_partial() {
    let (_tmp, tree) = fixture("5.x-6.x-make");
    std::fs::write(tree.join("src/config.mak"), CONFIG_MAK).unwrap();
    let t = tree.to_str().unwrap();
    let defs = tree.join("src/Makefile.defs");
    let cfg = tree.join("src/config.mak");
    let old_defs = std::fs::read(&defs).unwrap();
    let old_cfg = std::fs::read(&cfg).unwrap();
    // The converted texts, from a dry run's plan applied to a copy.
    let (_tmp2, twin) = fixture("5.x-6.x-make");
    std::fs::write(twin.join("src/config.mak"), CONFIG_MAK).unwrap();
    assert_eq!(
        run_kmemdbg(&["patch", "--source", twin.to_str().unwrap()]).0,
        0
    );
    let new_defs = std::fs::read(twin.join("src/Makefile.defs")).unwrap();
    let new_cfg = std::fs::read(twin.join("src/config.mak")).unwrap();

    // Kill at the pause before the rename of `target`.
    let kill_at = |target: &str| {
        let mut child = kmemdbg()
            .args(["patch", "--source", t])
            .env("KMEMDBG_FAULT_PAUSE_MS", "2000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut reached = false;
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if line.contains("fault point before rename of") && line.ends_with(target) {
                reached = true;
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL, mid-pause
        let status = child.wait().unwrap();
        assert!(
            reached,
            "the fault point before renaming {target} was never reached"
        );
        assert!(!status.success());
    };

    // 1. Killed before Makefile.defs is renamed: the old file, whole.
    kill_at("src/Makefile.defs");
    assert_eq!(std::fs::read(&defs).unwrap(), old_defs);
    assert_eq!(std::fs::read(&cfg).unwrap(), old_cfg);
    // 2. Run again, killed before config.mak is renamed: Makefile.defs is
    //    the new file (whole), config.mak the old one (whole).
    kill_at("src/config.mak");
    assert_eq!(std::fs::read(&defs).unwrap(), new_defs);
    assert_eq!(std::fs::read(&cfg).unwrap(), old_cfg);
    // Leftovers are only kmemdbg's own temp files, never a half-written target.
    for name in std::fs::read_dir(tree.join("src"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
    {
        let n = name.to_string_lossy();
        assert!(
            [
                "Makefile.defs",
                "config.mak",
                "Makefile.defs.kmemdbg-orig",
                "config.mak.kmemdbg-orig"
            ]
            .contains(&n.as_ref())
                || (n.starts_with(".kmemdbg-") && n.ends_with(".tmp")),
            "unexpected {n}"
        );
    }
    // A clean run finishes the job; revert gives back the very first originals.
    let v = patch_json(&["--source", t]);
    assert_eq!(v["status"], "converted");
    assert_eq!(std::fs::read(&defs).unwrap(), new_defs);
    assert_eq!(std::fs::read(&cfg).unwrap(), new_cfg);
    // ... and sweeps the temps the killed runs left (their PIDs are gone).
    let temps: Vec<_> = std::fs::read_dir(tree.join("src"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".kmemdbg-"))
        .collect();
    assert!(temps.is_empty(), "stale temps left: {temps:?}");
    patch_json(&["--source", t, "--revert"]);
    assert_eq!(std::fs::read(&defs).unwrap(), old_defs);
    assert_eq!(std::fs::read(&cfg).unwrap(), old_cfg);
}

#[test]
fn cmake_build_dir_outside_the_tree_needs_build_dir() {
    if !require_real(
        "cmake_build_dir_outside_the_tree_needs_build_dir",
        "cmake",
        have_program("cmake"),
    ) {
        return;
    }
    let (tmp, tree) = fixture("6.x-cmake");
    // The option default is already ON in this copy; the packager's
    // choice lives only in an out-of-tree build directory.
    let defs = tree.join("cmake/defs.cmake");
    let text = std::fs::read_to_string(&defs).unwrap().replace(
        "option(MEMDBG \"Use memory debugging system\" OFF)",
        "option(MEMDBG \"Use memory debugging system\" ON)",
    );
    std::fs::write(&defs, text).unwrap();
    let build = tmp.path().join("build-outside");
    cmake_configure(&tree, &build, &["-DMEMDBG=OFF".into()]);
    let t = tree.to_str().unwrap();
    let v = patch_json(&["--source", t]);
    assert_eq!(
        v["status"], "already_converted",
        "the tree alone is fine: {v}"
    );
    let v = patch_json(&["--source", t, "--build-dir", build.to_str().unwrap()]);
    assert_eq!(v["status"], "converted", "{v}");
    let out = cmake_configure(&tree, &build, &[]);
    assert_eq!(cmake_cache_value(&build, "MEMDBG").as_deref(), Some("ON"));
    assert!(cmake_defines(&out).contains(&"-DDBG_SR_MEMORY".to_string()));
    assert!(v["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["command"]
            .as_str()
            .is_some_and(|c| c.starts_with("cmake -S . -B /"))));
}

// ---- bad input: exit 2, a message naming file:line, nothing changed ----

/// Runs `patch` on `tree`, expecting exit 2 and an unchanged tree; returns stderr.
fn refused(tree: &Path, extra: &[&str]) -> String {
    let before = snapshot(tree);
    let mut args = vec!["patch", "--source", tree.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, out, err) = run_kmemdbg(&args);
    assert_eq!(code, 2, "stdout:{out}\nstderr:{err}");
    assert_eq!(snapshot(tree), before, "the tree changed: {err}");
    err
}

#[test]
fn bad_input_not_a_kamailio_tree() {
    let dir = tempfile::tempdir().unwrap();
    let err = refused(dir.path(), &[]);
    assert!(
        err.contains("not a Kamailio source tree: found none of Makefile.defs"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("Makefile.defs"),
        "MAIN_NAME=otherproject\nVERSION = 1\nDEFS+= -DF_MALLOC\n",
    )
    .unwrap();
    let err = refused(dir.path(), &[]);
    assert!(
        err.contains("Makefile.defs names no Kamailio/SER/OpenSER product"),
        "{err}"
    );
}

/// `--source X/src` (where make runs from 5.0 on) means the tree X: the
/// plan is the one for X, with a note saying so, and nothing is written.
#[test]
fn src_directory_of_a_5x_tree_means_the_tree() {
    let (_tmp, tree) = fixture("5.x-6.x-make");
    std::fs::write(tree.join("Makefile"), "# top-level Makefile\n").unwrap();
    let before = snapshot(&tree);
    let from_src = patch_json(&["--source", tree.join("src").to_str().unwrap(), "--dry-run"]);
    let from_top = patch_json(&["--source", tree.to_str().unwrap(), "--dry-run"]);
    assert_eq!(from_src["files"], from_top["files"], "{from_src}");
    let notes = from_src["notes"].to_string();
    assert!(
        notes.contains("is the src/ directory of the tree"),
        "{from_src}"
    );
    assert_eq!(snapshot(&tree), before);
}

#[test]
fn bad_input_unreadable_file() {
    let (tmp, tree) = fixture("5.x-6.x-make");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let defs = tree.join("src/Makefile.defs");
    std::fs::set_permissions(&defs, std::fs::Permissions::from_mode(0o000)).unwrap();
    let before = snapshot(&tree);
    // root reads anything: ask as nobody then.
    let is_root = unsafe_free_uid() == 0;
    let mut cmd = if is_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_kmemdbg"));
        c
    } else {
        kmemdbg()
    };
    cmd.args(["patch", "--source"]).arg(&tree);
    let (code, _, err) = run_cmd(cmd, Duration::from_secs(30));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot read") && err.contains("src/Makefile.defs"),
        "{err}"
    );
    assert!(err.contains("Permission denied"), "{err}");
    assert_eq!(snapshot(&tree), before);
}

/// The real user id, from /proc (no libc needed).
fn unsafe_free_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap()
}

#[test]
fn bad_input_read_only_file_changes_nothing_at_all() {
    let (_tmp, tree) = fixture("5.x-6.x-make");
    let cfg = tree.join("src/config.mak");
    std::fs::write(&cfg, CONFIG_MAK).unwrap();
    // Makefile.defs is writable, config.mak is not: neither may change.
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o444)).unwrap();
    let err = refused(&tree, &[]);
    assert!(err.contains("src/config.mak is read-only"), "{err}");
}

#[test]
fn bad_input_unknown_generation_names_what_was_found_and_offers_generation() {
    let (_tmp, tree) = fixture("5.x-6.x-make");
    let defs = tree.join("src/Makefile.defs");
    let text = std::fs::read_to_string(&defs).unwrap().replace(
        "VERSION = 5\nPATCHLEVEL = 8\nSUBLEVEL = 2",
        "VERSION = 7\nPATCHLEVEL = 0\nSUBLEVEL = 0",
    );
    std::fs::write(&defs, text).unwrap();
    let err = refused(&tree, &[]);
    assert!(
        err.contains("found kamailio 7.0.0 (src/Makefile.defs), but no recipe covers it"),
        "{err}"
    );
    assert!(
        err.contains("5.x-6.x-make (5.0 - 6.99)") && err.contains("pass --generation NAME"),
        "{err}"
    );
    let err = refused(&tree, &["--generation", "9.x"]);
    assert!(
        err.contains("--generation 9.x: no such generation; known: openser-ser"),
        "{err}"
    );
    // A recipe whose files the tree lacks.
    let err = refused(&tree, &["--generation", "4.4"]);
    assert!(
        err.contains("--generation 4.4 converts Makefile.defs, which"),
        "{err}"
    );
    // The operator says the 7.0 tree has the 5.x layout: that works.
    let v = patch_json(&[
        "--source",
        tree.to_str().unwrap(),
        "--generation",
        "5.x-6.x-make",
    ]);
    assert_eq!(v["status"], "converted");
}

#[test]
fn bad_input_switch_set_twice_is_ambiguous() {
    let (_tmp, tree) = fixture("5.x-6.x-make");
    let defs = tree.join("src/Makefile.defs");
    let text = std::fs::read_to_string(&defs).unwrap().replace(
        "C_DEFS+= -DSENTINEL_AFTER_SWITCH\n",
        "C_DEFS+= -DSENTINEL_AFTER_SWITCH\nMEMDBG = 0\n",
    );
    std::fs::write(&defs, text).unwrap();
    let err = refused(&tree, &[]);
    assert!(
        err.contains("src/Makefile.defs:51: MEMDBG is set 2 times (lines 30, 51)"),
        "{err}"
    );
}

#[test]
fn bad_input_allocator_twice_is_ambiguous() {
    let (_tmp, tree) = fixture("openser-ser");
    let defs = tree.join("Makefile.defs");
    let text = std::fs::read_to_string(&defs)
        .unwrap()
        .replace("\t -DUSE_MCAST \\\n", "\t -DF_MALLOC \\\n");
    std::fs::write(&defs, text).unwrap();
    let err = refused(&tree, &[]);
    assert!(
        err.contains("Makefile.defs:32: `-DF_MALLOC` appears 2 times (lines 29, 32)"),
        "{err}"
    );
}

#[test]
fn bad_input_switch_inside_unknown_conditional() {
    let (_tmp, tree) = fixture("3.x");
    let defs = tree.join("Makefile.defs");
    let text = std::fs::read_to_string(&defs).unwrap().replace(
        "MEMDBG ?= 0\n",
        "ifeq ($(DEBIAN_BUILD),1)\nMEMDBG ?= 0\nendif\n",
    );
    std::fs::write(&defs, text).unwrap();
    let err = refused(&tree, &[]);
    assert!(
        err.contains("Makefile.defs:19: MEMDBG is set inside `ifeq ($(DEBIAN_BUILD),1)` (line 18)"),
        "{err}"
    );
}

#[test]
fn bad_input_binary_garbage() {
    let (_tmp, tree) = fixture("4.4");
    let defs = tree.join("Makefile.defs");
    let mut bytes = std::fs::read(&defs).unwrap();
    let at = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(9)
        .unwrap()
        .0
        + 1;
    bytes.splice(at..at, [0u8, 0xff, 0x13, 0x00, 0x7f]);
    std::fs::write(&defs, bytes).unwrap();
    let err = refused(&tree, &[]);
    assert!(
        err.contains("Makefile.defs:11: contains a NUL byte"),
        "{err}"
    );
}

#[test]
fn bad_input_truncated_mid_continuation() {
    let (_tmp, tree) = fixture("openser-ser");
    let defs = tree.join("Makefile.defs");
    let text = std::fs::read_to_string(&defs).unwrap();
    let cut = text.find("\t -DUSE_TCP \\\n").unwrap() + "\t -DUSE_TCP \\".len();
    std::fs::write(&defs, &text[..cut]).unwrap();
    let err = refused(&tree, &[]);
    assert!(
        err.contains("Makefile.defs:30: the file ends inside a `\\` continuation (truncated?)"),
        "{err}"
    );
    // Cut elsewhere: the include guard is never closed.
    let cut = text.find("ifeq ($(mode),debug)").unwrap();
    std::fs::write(&defs, &text[..cut]).unwrap();
    let err = refused(&tree, &[]);
    assert!(
        err.contains("Makefile.defs:6: `ifeq ($(makefile_defs), 1)` is never closed"),
        "{err}"
    );
}
