//! `kmemdbg patch` on Debian's real Kamailio source trees (5.4.4, 5.6.3,
//! 6.0.1), first set to a non-debug build the way a packager does, then
//! proven with the build systems themselves: make's computed `C_DEFS`
//! (`make cfg` + `config.mak`, `make printcdefs`) and CMake's cache and
//! generated compile flags. Nothing is compiled here.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// `make ARGS` in `dir`, which must succeed; returns stdout.
fn make(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("make");
    cmd.args(["-s", "--no-print-directory", "-C"])
        .arg(dir)
        .args(args);
    let (code, out, err) = run_cmd(cmd, Duration::from_secs(300));
    assert_eq!(code, 0, "make {args:?} in {}: {out}\n{err}", dir.display());
    out
}

/// The words of the `C_DEFS= ...` line `make cfg` saved in config.mak.
fn saved_c_defs(config_mak: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(config_mak).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("C_DEFS="))
        .expect("config.mak has a C_DEFS= line");
    line["C_DEFS=".len()..]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// What make computes from Makefile.defs alone (no config.mak involved):
/// a tiny makefile includes it as the main makefile does and prints C_DEFS.
fn defs_c_defs(src: &Path) -> Vec<String> {
    let mk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        mk.path(),
        "main_makefile=1\ninclude Makefile.defs\nprint-defs:\n\t@echo $(C_DEFS)\n",
    )
    .unwrap();
    words(&make(
        src,
        &["-f", mk.path().to_str().unwrap(), "print-defs"],
    ))
}

fn patch_json(tree: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["patch", "--source", tree.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = run_kmemdbg(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    v
}

fn changed_paths(v: &serde_json::Value) -> Vec<String> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["changed"] == true)
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

fn commands(v: &serde_json::Value) -> Vec<String> {
    v["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["command"].as_str().map(str::to_string))
        .collect()
}

const DBG: &str = "-DDBG_SR_MEMORY";

#[test]
fn real_source_5_4_4_stale_config_mak_is_updated_and_make_cfg_agrees() {
    let Some((_tmp, tree)) = source_tree("real_source_5_4_4", "5.4.4") else {
        return;
    };
    let src = tree.join("src");
    set_memdbg_off(&tree);
    // The packager configured the build: config.mak now caches C_DEFS.
    make(&tree, &["cfg"]);
    let cfg = src.join("config.mak");
    assert!(
        !saved_c_defs(&cfg).contains(&DBG.to_string()),
        "before: not a debug build"
    );
    assert!(!words(&make(&src, &["printcdefs"])).contains(&DBG.to_string()));
    let defs_before = std::fs::read(src.join("Makefile.defs")).unwrap();
    let cfg_before = std::fs::read(&cfg).unwrap();

    let v = patch_json(&tree, &[]);
    assert_eq!(v["status"], "converted");
    assert_eq!(v["version"], "5.4.4");
    assert_eq!(v["generations"][0]["name"], "5.x-6.x-make");
    assert_eq!(v["runtime_options"], serde_json::json!(["-x", "qm"]));
    assert_eq!(changed_paths(&v), ["src/Makefile.defs", "src/config.mak"]);
    let cmds = commands(&v);
    assert!(cmds.contains(&"make all".to_string()), "{cmds:?}");
    assert!(
        !cmds.contains(&"make cfg".to_string()),
        "config.mak was updated in place: {cmds:?}"
    );

    // make itself, reading the updated config.mak (no make cfg in between).
    assert!(words(&make(&src, &["printcdefs"])).contains(&DBG.to_string()));
    // And from Makefile.defs: make cfg again, read what it saved.
    make(&tree, &["cfg"]);
    let saved = saved_c_defs(&cfg);
    assert!(saved.contains(&DBG.to_string()), "{saved:?}");
    assert!(saved.contains(&"-DF_MALLOC".to_string()) && saved.contains(&"-DQ_MALLOC".to_string()));

    let v = patch_json(&tree, &[]);
    assert_eq!(v["status"], "already_converted");

    let v = patch_json(&tree, &["--revert"]);
    assert_eq!(v["status"], "reverted");
    assert_eq!(
        std::fs::read(src.join("Makefile.defs")).unwrap(),
        defs_before
    );
    assert_eq!(std::fs::read(&cfg).unwrap(), cfg_before);
}

#[test]
fn real_source_5_6_3_defs_rm_and_extra_defs_overrides_are_undone() {
    let Some((_tmp, tree)) = source_tree("real_source_5_6_3", "5.6.3") else {
        return;
    };
    let src = tree.join("src");
    set_memdbg_off(&tree);
    // A packager's Makefile.vars (Makefile.defs includes it first) that
    // also filters the debug define out and undefines it.
    let vars = src.join("Makefile.vars");
    let mut text = std::fs::read_to_string(&vars).unwrap();
    text.push_str("DEFS_RM += -DDBG_SR_MEMORY\nextra_defs += -UDBG_SR_MEMORY\n");
    std::fs::write(&vars, &text).unwrap();
    make(&tree, &["cfg"]);
    let cfg = src.join("config.mak");
    let before = words(&make(&src, &["printcdefs"]));
    assert!(!before.contains(&DBG.to_string()), "{before:?}");
    assert!(
        before.contains(&"-UDBG_SR_MEMORY".to_string()),
        "{before:?}"
    );
    let originals: Vec<Vec<u8>> = ["Makefile.defs", "Makefile.vars", "config.mak"]
        .iter()
        .map(|f| std::fs::read(src.join(f)).unwrap())
        .collect();

    let v = patch_json(&tree, &[]);
    assert_eq!(v["status"], "converted");
    assert_eq!(
        changed_paths(&v),
        ["src/Makefile.defs", "src/Makefile.vars", "src/config.mak"]
    );

    let after = words(&make(&src, &["printcdefs"]));
    assert!(after.contains(&DBG.to_string()), "{after:?}");
    assert!(!after.contains(&"-UDBG_SR_MEMORY".to_string()), "{after:?}");
    make(&tree, &["cfg"]);
    let saved = saved_c_defs(&cfg);
    assert!(
        saved.contains(&DBG.to_string()) && !saved.contains(&"-UDBG_SR_MEMORY".to_string()),
        "{saved:?}"
    );
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    let defs_rm = cfg_text
        .lines()
        .find(|l| l.starts_with("DEFS_RM="))
        .unwrap();
    assert!(!defs_rm.contains("DBG_SR_MEMORY"), "{defs_rm}");
    assert!(words(&make(&src, &["printcdefs"])).contains(&DBG.to_string()));

    patch_json(&tree, &["--revert"]);
    for (f, orig) in ["Makefile.defs", "Makefile.vars", "config.mak"]
        .iter()
        .zip(&originals)
    {
        assert_eq!(
            &std::fs::read(src.join(f)).unwrap(),
            orig,
            "{f} after revert"
        );
    }
}

#[test]
fn real_source_6_0_1_make_and_cmake_build_dir() {
    let Some((_tmp, tree)) = source_tree("real_source_6_0_1", "6.0.1") else {
        return;
    };
    if !require_real(
        "real_source_6_0_1",
        "cmake (ci/install-deps.sh)",
        have_program("cmake"),
    ) {
        return;
    }
    let src = tree.join("src");
    set_memdbg_off(&tree);
    // 6.0.1 names the CMake option DBG_SR_MEMORY (MEMDBG from 6.0.4).
    let defs_cmake = std::fs::read_to_string(tree.join("cmake/defs.cmake")).unwrap();
    assert!(defs_cmake.contains("option(DBG_SR_MEMORY \"Use memory debugging system\" ON)"));
    assert!(!defs_cmake.contains("option(MEMDBG"));
    let build = tree.join("build");
    let configure = |extra: &[&str]| -> String {
        let mut cmd = Command::new("cmake");
        cmd.arg("-S").arg(&tree).arg("-B").arg(&build).args(extra);
        let (code, out, err) = run_cmd(cmd, Duration::from_secs(600));
        assert_eq!(code, 0, "cmake: {out}\n{err}");
        out
    };
    let cache_value = || -> String {
        let mut cmd = Command::new("cmake");
        cmd.arg("-L").arg("-N").arg(&build);
        let (code, out, _) = run_cmd(cmd, Duration::from_secs(60));
        assert_eq!(code, 0);
        out.lines()
            .find_map(|l| l.strip_prefix("DBG_SR_MEMORY:BOOL="))
            .unwrap_or("<missing>")
            .to_string()
    };
    let core_flags = build.join("src/CMakeFiles/kamailio.dir/flags.make");
    let out = configure(&["-DDBG_SR_MEMORY=OFF"]);
    assert_eq!(cache_value(), "OFF");
    assert!(!out.contains(";DBG_SR_MEMORY;"));
    assert!(!std::fs::read_to_string(&core_flags).unwrap().contains(DBG));
    assert!(!defs_c_defs(&src).contains(&DBG.to_string()));
    let defs_before = std::fs::read(src.join("Makefile.defs")).unwrap();
    let cache_before = std::fs::read(build.join("CMakeCache.txt")).unwrap();

    let v = patch_json(&tree, &[]);
    assert_eq!(v["status"], "converted");
    assert_eq!(v["version"], "6.0.1");
    let gens: Vec<&str> = v["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(gens, ["5.x-6.x-make", "6.x-cmake"]);
    assert_eq!(
        changed_paths(&v),
        ["src/Makefile.defs", "build/CMakeCache.txt"]
    );
    let cmds = commands(&v);
    assert!(cmds.contains(&"make cfg".to_string()), "{cmds:?}");
    assert!(
        cmds.contains(&"cmake -S . -B build".to_string()),
        "{cmds:?}"
    );
    assert!(v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "CMakeLists.txt says 6.0.0, src/Makefile.defs says 6.0.1; using 6.0.1"));

    // make: Makefile.defs alone, then make cfg's saved config.
    assert!(defs_c_defs(&src).contains(&DBG.to_string()));
    make(&tree, &["cfg"]);
    assert!(saved_c_defs(&src.join("config.mak")).contains(&DBG.to_string()));
    // cmake: reconfigure the packager's build dir, ask for the cache value
    // and look at the compile flags it generated for the core.
    let out = configure(&[]);
    assert_eq!(cache_value(), "ON");
    assert!(
        out.contains(";DBG_SR_MEMORY;"),
        "configure output lacks DBG_SR_MEMORY"
    );
    assert!(std::fs::read_to_string(&core_flags).unwrap().contains(DBG));

    let v = patch_json(&tree, &["--revert"]);
    assert_eq!(v["status"], "reverted");
    assert_eq!(
        std::fs::read(src.join("Makefile.defs")).unwrap(),
        defs_before
    );
    assert_eq!(
        std::fs::read(build.join("CMakeCache.txt")).unwrap(),
        cache_before
    );
    // config.mak was written by make cfg after the conversion: revert says so.
    assert!(commands(&v).contains(&"make cfg".to_string()), "{v}");
}
