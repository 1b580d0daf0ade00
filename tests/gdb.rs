//! `gdb` and `gdb-script` against a real, source-built Kamailio 5.6.3 (with
//! -g and memory debugging) running on 127.0.0.1: what gdb finds in a
//! process must be what that process itself prints in a memory dump taken
//! at the same moment. Also: Debian's stripped binary gets an explanation,
//! and the scripts for older generations use their names.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
use common::*;
use kmemdbg::dump::{group, GroupBy};
use kmemdbg::gdb::walk;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const VERSION: &str = "5.6.3";
/// Only what the tests load: the build stays small (core + 7 modules).
const MODULES: &str = "ctl cfg_rpc sl pv kex htable tm";

/// target/ of this build (the test binary lives in target/debug/deps).
fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_kmemdbg"));
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// A -g, memory-debug build of Debian's 5.6.3 tree, made once and shared by
/// every test here (and kept across runs): target/kmemdbg-test-builds/
/// kamailio-5.6.3-memdbg-g/. The marker records how it was built; a
/// different recipe rebuilds it. Returns the tree's `src` directory.
fn debug_build(test: &str) -> Option<PathBuf> {
    static BUILD: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let pristine = source_cache().join(format!("kamailio-{VERSION}"));
    if !require_real(
        test,
        &format!(
            "the kamailio {VERSION} source tree ({})",
            pristine.display()
        ),
        pristine.join(".kmemdbg-complete").is_file(),
    ) || !require_real(
        test,
        "gcc, make, bison, flex",
        have_program("gcc") && have_program("make") && have_program("bison"),
    ) || !require_real(test, "gdb", have_program("gdb"))
    {
        return None;
    }
    match BUILD.get_or_init(|| build_once(&pristine)) {
        Ok(src) => Some(src.clone()),
        Err(e) => panic!("{test}: building kamailio {VERSION} failed: {e}"),
    }
}

fn build_once(pristine: &Path) -> Result<PathBuf, String> {
    let root = target_dir()
        .join("kmemdbg-test-builds")
        .join(format!("kamailio-{VERSION}-memdbg-g"));
    let tree = root.join(format!("kamailio-{VERSION}"));
    let src = tree.join("src");
    let marker = root.join(".kmemdbg-built");
    // make cfg with a group that lists no module: only include_modules are built.
    let recipe = format!(
        "make cfg include_modules=\"{MODULES}\" group_include=kmemdbg_none; make -j2 all (MEMDBG=1, -g: the tree's defaults)\n"
    );
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(recipe.as_str())
        && src.join("kamailio").is_file()
    {
        return Ok(src);
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let st = Command::new("cp")
        .arg("-a")
        .arg(pristine)
        .arg(&tree)
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err("cp -a failed".into());
    }
    let log = root.join("build.log");
    let run = |args: &[&str]| -> Result<(), String> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| e.to_string())?;
        let st = Command::new("make")
            .args(args)
            .current_dir(&tree)
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .status()
            .map_err(|e| e.to_string())?;
        if st.success() {
            Ok(())
        } else {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            Err(format!(
                "make {args:?} failed; log tail:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ))
        }
    };
    eprintln!(
        "building kamailio {VERSION} with -g into {} (once; a few minutes)",
        root.display()
    );
    run(&[
        "cfg",
        &format!("include_modules={MODULES}"),
        "group_include=kmemdbg_none",
    ])?;
    run(&["-j2", "all"])?;
    std::fs::write(&marker, recipe).map_err(|e| e.to_string())?;
    Ok(src)
}

/// The cfg of the debug build: modules from the tree, dumps at ALERT, every
/// request stores an htable entry (so shm holds something of a module's).
fn debug_cfg(src: &Path, port: u16, ctl: &Path) -> String {
    minimal_cfg(
        port,
        ctl,
        "loadmodule \"kex.so\"\nloadmodule \"htable.so\"\nmodparam(\"htable\", \"htable\", \"leak=>size=8;\")\n",
    )
    .replace(
        "#!KAMAILIO\n",
        &format!("#!KAMAILIO\nmpath=\"{}/modules\"\nmem_summary=5\n", src.display()),
    )
    .replace(
        "request_route {\n",
        "request_route {\n    $sht(leak=>$ci) = \"kept\";\n",
    )
}

fn start_debug_proxy(src: &Path, allocator: &str) -> (tempfile::TempDir, Proxy) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let proxy = Proxy::start(
        &src.join("kamailio"),
        dir.path(),
        port,
        &debug_cfg(src, port, &ctl),
        &["-x", allocator, "-m", "32", "-M", "4"],
    );
    assert!(
        wait_for(Duration::from_secs(10), || ctl.exists()),
        "{}",
        proxy.log_text()
    );
    (dir, proxy)
}

fn options(port: u16) -> bool {
    kmemdbg::sip::options(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(2),
    )
    .is_ok()
}

fn kamcmd(proxy: &Proxy) -> kmemdbg::kamcmd::Kamcmd {
    kmemdbg::kamcmd::Kamcmd::new(Some(proxy.ctl.to_str().unwrap())).unwrap()
}

/// Asks `pid` for its pkg dump and pokes the receivers until it is in the
/// log (`qm_sums` / `fm_sums` end marker).
fn pkg_dump(proxy: &Proxy, pid: u32) {
    kamcmd(proxy)
        .cfg_set_now_int("core", "mem_dump_pkg", i64::from(pid))
        .unwrap();
    let tag = format!("({pid}) ");
    let done = |text: &str| {
        text.lines()
            .any(|l| l.contains(&tag) && l.contains("_sums(): -----"))
    };
    // a receiver dumps when it handles a message: one OPTIONS per poll
    // until the dump's last line is in the log (bounded, not timed)
    let ok = wait_for(Duration::from_secs(120), || {
        options(proxy.port);
        wait_for(Duration::from_millis(300), || done(&proxy.log_text()))
    });
    assert!(ok, "no pkg dump from {pid}; log:\n{}", proxy.log_text());
}

/// `kmemdbg analyze LOG --json --top 0 --by BY [--pid PID]`: the last dump
/// that `pick` accepts.
fn analyze_dump(
    proxy: &Proxy,
    pid: Option<u32>,
    by: &str,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let log = proxy.log.to_str().unwrap().to_string();
    let pid = pid.map(|p| p.to_string());
    let mut args = vec!["analyze", &log, "--json", "--top", "0", "--by", by];
    if let Some(p) = &pid {
        args.extend(["--pid", p]);
    }
    let (code, out, err) = run_kmemdbg(&args);
    assert_eq!(code, 0, "analyze: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert_eq!(v["schema"], "kmemdbg.analyze/1");
    v["dumps"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|d| pick(d))
        .unwrap_or_else(|| panic!("no such dump in analyze's answer:\n{out}"))
        .clone()
}

/// `groups` of an `analyze --json` dump or of `gdb --json`: key -> (count, bytes).
fn groups_of(v: &serde_json::Value) -> HashMap<String, (u64, u64)> {
    v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                (g["count"].as_u64().unwrap(), g["bytes"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// A walk by a gdb-script, summed by the dump aggregation.
fn walk_sites(w: &walk::Walk) -> HashMap<String, (u64, u64)> {
    group(&w.snapshot(None), GroupBy::Site)
        .into_iter()
        .map(|g| (g.key, (g.count, g.bytes)))
        .collect()
}

fn by_bytes(m: &HashMap<String, (u64, u64)>, n: usize) -> Vec<String> {
    let mut v: Vec<(&String, &(u64, u64))> = m.iter().collect();
    v.sort_by(|a, b| {
        b.1 .1
            .cmp(&a.1 .1)
            .then(b.1 .0.cmp(&a.1 .0))
            .then(a.0.cmp(b.0))
    });
    v.into_iter().take(n).map(|(k, _)| k.clone()).collect()
}

/// Same top sites, and every site's count within `margin`.
fn assert_same_sites(
    what: &str,
    dump: &HashMap<String, (u64, u64)>,
    gdb: &HashMap<String, (u64, u64)>,
    margin: u64,
) {
    assert!(
        dump.len() >= 10,
        "{what}: the dump has only {} sites",
        dump.len()
    );
    let top_dump = by_bytes(dump, 10);
    let top_gdb = by_bytes(gdb, 10);
    let mut a = top_dump.clone();
    let mut b = top_gdb.clone();
    a.sort();
    b.sort();
    assert_eq!(
        a, b,
        "{what}: top 10 sites differ\n dump: {top_dump:#?}\n gdb: {top_gdb:#?}"
    );
    for (site, (count, _)) in dump {
        let g = gdb.get(site).map_or(0, |x| x.0);
        assert!(
            g.abs_diff(*count) <= margin,
            "{what}: {site}: dump counts {count}, gdb {g}"
        );
    }
    for (site, (count, _)) in gdb {
        assert!(
            dump.contains_key(site) || *count <= margin,
            "{what}: only gdb has {site} x{count}"
        );
    }
}

fn receiver(proxy: &Proxy) -> u32 {
    kamcmd(proxy)
        .processes()
        .unwrap()
        .into_iter()
        .find(|p| p.is_receiver())
        .expect("a receiver")
        .pid
}

/// `kmemdbg gdb --pid` on a q_malloc receiver: the same sites, counts and
/// fragment total as `kmemdbg analyze` reads from the qm_status dump the
/// process printed just before (by site and by module: one aggregation).
/// Then the shm pool: `kmemdbg gdb-script --pool shm` run through gdb by
/// hand against `analyze` of the shm qm_status dump.
#[test]
fn real_source_build_gdb_pid_matches_qm_dump_of_same_process() {
    let test = "real_source_build_gdb_pid_matches_qm_dump_of_same_process";
    let Some(src) = debug_build(test) else { return };
    let (_dir, proxy) = start_debug_proxy(&src, "qm");
    for _ in 0..20 {
        assert!(options(proxy.port));
    }
    let pid = receiver(&proxy);
    pkg_dump(&proxy, pid);
    let is_status = |d: &serde_json::Value| d["kind"] == "status";
    let dump = analyze_dump(&proxy, Some(pid), "site", is_status);
    assert_ne!(dump["pool"], "shm");
    let dump_sites = groups_of(&dump);
    let dump_frags =
        dump["total_count"].as_u64().unwrap() + dump["fragments_without_site"].as_u64().unwrap();

    let pid_s = pid.to_string();
    let (code, out, err) = run_kmemdbg(&["gdb", "--pid", &pid_s, "--json", "--top", "0"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert_eq!(v["schema"], "kmemdbg.gdb/2");
    assert_eq!(v["allocator"], "qm");
    assert_eq!(v["pool"], "pkg");
    assert_eq!(v["complete"], true);
    assert_eq!(v["debug_fields"], true);
    assert_eq!(v["walker"], "python", "Debian's gdb has Python");
    assert_eq!(v["heap"]["size_bytes"], 4 << 20);
    assert_eq!(v["rest"]["groups"], 0, "--top 0 lists all");
    let used = v["used_fragments"].as_u64().unwrap();
    assert!(
        used.abs_diff(dump_frags) <= 3,
        "gdb {used} used fragments, qm_status {dump_frags}"
    );
    assert_same_sites("pkg", &dump_sites, &groups_of(&v), 2);
    // --by module groups the walk as analyze --by module groups the dump.
    let (code, out, err) = run_kmemdbg(&[
        "gdb", "--pid", &pid_s, "--json", "--top", "0", "--by", "module",
    ]);
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&m);
    assert_eq!(m["by"], "module");
    let dump_modules = groups_of(&analyze_dump(&proxy, Some(pid), "module", is_status));
    let gdb_modules = groups_of(&m);
    assert!(gdb_modules.contains_key("core"), "{gdb_modules:?}");
    let mut a: Vec<&String> = dump_modules.keys().collect();
    let mut b: Vec<&String> = gdb_modules.keys().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "modules of the dump and of the walk");
    for (k, (count, _)) in &dump_modules {
        let g = gdb_modules[k].0;
        assert!(g.abs_diff(*count) <= 3, "module {k}: dump {count}, gdb {g}");
    }
    // The process is running again: it answers.
    assert!(options(proxy.port));
    // The plain gdb script (what gdb-script prints) finds exactly the same.
    let (code, out, err) = run_kmemdbg(&[
        "gdb",
        "--pid",
        &pid_s,
        "--json",
        "--top",
        "0",
        "--cli-script",
    ]);
    assert_eq!(code, 0, "{err}");
    let cli: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&cli);
    assert_eq!(cli["walker"], "cli");
    assert_eq!(cli["groups"], v["groups"]);

    // A core file of the same process (gcore), read with the binary: same answer.
    if require_real(test, "gcore (gdb)", have_program("gcore")) {
        let prefix = proxy.dir.join("core");
        let st = Command::new("timeout")
            .args(["120", "gcore", "-o"])
            .arg(&prefix)
            .arg(&pid_s)
            .output()
            .unwrap();
        let core = PathBuf::from(format!("{}.{pid}", prefix.display()));
        assert!(
            core.is_file(),
            "gcore: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        let (code, out, err) = run_kmemdbg(&[
            "gdb",
            "--core",
            core.to_str().unwrap(),
            "--binary",
            src.join("kamailio").to_str().unwrap(),
            "--json",
            "--top",
            "0",
        ]);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        let c: serde_json::Value = serde_json::from_str(&out).unwrap();
        json_doc::check_if_schema(&c);
        assert_eq!(c["target"]["core"], core.to_str().unwrap());
        assert_same_sites("pkg from a core file", &dump_sites, &groups_of(&c), 2);
        let _ = std::fs::remove_file(&core);
    }

    // The text report is analyze's table: the top site first under its header.
    let (code, out, _) = run_kmemdbg(&["gdb", "--pid", &pid_s, "--top", "3"]);
    assert_eq!(code, 0);
    let top = by_bytes(&dump_sites, 1).remove(0);
    let mut lines = out.lines().skip_while(|l| !l.ends_with("  site"));
    assert!(lines.next().is_some(), "no site table:\n{out}");
    assert!(lines.next().is_some_and(|l| l.ends_with(&top)), "{out}");
    assert!(out.contains("more; --top 0 lists all)"), "{out}");

    // shm: the dump (printed by the process that handles the RPC), then the
    // gdb-script for shm run through gdb directly, on the main process.
    let k = kamcmd(&proxy);
    k.cfg_set_now_int("core", "mem_dump_shm", 1).unwrap();
    assert!(wait_for(Duration::from_secs(10), || proxy
        .log_text()
        .contains("dumping free list stats")));
    let dump_shm = groups_of(&analyze_dump(&proxy, None, "site", |d| {
        d["kind"] == "status" && d["pool"] == "shm"
    }));

    let script = dir_file(&proxy, "shm.gdb");
    let (code, text, err) = run_kmemdbg(&[
        "gdb-script",
        "--allocator",
        "qm",
        "--pool",
        "shm",
        "--binary",
        src.join("kamailio").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(&script, &text).unwrap();
    let w = run_script(proxy.pid, &script);
    assert!(w.complete, "{w:?}");
    let gdb_shm = walk_sites(&w);
    assert!(
        gdb_shm.keys().any(|s| s.starts_with("htable: ")),
        "{gdb_shm:#?}"
    );
    assert_same_sites("shm", &dump_shm, &gdb_shm, 3);

    // `kmemdbg gdb --pool shm` on the main process finds the same shm sites,
    // in the pool of the size the proxy was started with (-m 32).
    let main_s = proxy.pid.to_string();
    let (code, out, err) = run_kmemdbg(&[
        "gdb", "--pid", &main_s, "--pool", "shm", "--json", "--top", "0",
    ]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&s);
    assert_eq!(s["pool"], "shm");
    assert_eq!(s["heap"]["size_bytes"], 32 << 20);
    assert_same_sites("gdb --pool shm", &dump_shm, &groups_of(&s), 3);

    // --timeout too short for gdb to attach and read the symbols: exit 2,
    // and the process is not left paused (it answers SIP again).
    let (code, out, err) = run_kmemdbg(&["gdb", "--pid", &pid_s, "--timeout", "50ms"]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        wait_for(Duration::from_secs(5), || proc_state(pid) != Some('T')),
        "process {pid} left stopped"
    );
    assert!(
        options(proxy.port),
        "the proxy does not answer after the timeout"
    );
}

fn dir_file(proxy: &Proxy, name: &str) -> PathBuf {
    proxy.dir.join(name)
}

/// Runs a gdb-script through gdb on `pid`, as an operator would.
fn run_script(pid: u32, script: &Path) -> walk::Walk {
    let out = Command::new("timeout")
        .args(["300", "gdb", "-nx", "-batch", "-p", &pid.to_string(), "-x"])
        .arg(script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let w = walk::parse(&text);
    assert!(
        w.heap.is_some(),
        "gdb printed no walk:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    w
}

/// The f_malloc script, printed by `kmemdbg gdb-script --allocator fm` and run
/// through gdb on a receiver of a proxy started with -x fm, lists the same
/// sites as that receiver's own fm_sums dump.
#[test]
fn real_source_build_gdb_script_fm_through_gdb_matches_fm_sums() {
    let test = "real_source_build_gdb_script_fm_through_gdb_matches_fm_sums";
    let Some(src) = debug_build(test) else { return };
    let (_dir, proxy) = start_debug_proxy(&src, "fm");
    let pid = receiver(&proxy);
    pkg_dump(&proxy, pid);
    let dump = analyze_dump(&proxy, Some(pid), "site", |d| d["kind"] == "summary");
    assert_eq!(dump["allocator"], "f_malloc", "not an f_malloc dump");
    let dump_sums = groups_of(&dump);

    let (code, text, err) = run_kmemdbg(&[
        "gdb-script",
        "--allocator",
        "fm",
        "--binary",
        src.join("kamailio").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("set $blk = _fm_pkg_block"), "{text}");
    let script = dir_file(&proxy, "fm.gdb");
    std::fs::write(&script, &text).unwrap();
    let w = run_script(pid, &script);
    assert!(w.complete);
    assert_eq!(w.heap.as_ref().unwrap().allocator, "fm");
    assert_same_sites("fm pkg", &dump_sums, &walk_sites(&w), 2);

    // The q_malloc script on this f_malloc process says what is wrong.
    let (_, qm_text, _) = run_kmemdbg(&[
        "gdb-script",
        "--allocator",
        "qm",
        "--binary",
        src.join("kamailio").to_str().unwrap(),
    ]);
    let qm_script = dir_file(&proxy, "qm.gdb");
    std::fs::write(&qm_script, &qm_text).unwrap();
    let out = Command::new("timeout")
        .args(["120", "gdb", "-nx", "-batch", "-p", &pid.to_string(), "-x"])
        .arg(&qm_script)
        .output()
        .unwrap();
    let w = walk::parse(&String::from_utf8_lossy(&out.stdout));
    let e = w.error.unwrap_or_default();
    assert!(
        e.contains("_qm_pkg_block is 0") && e.contains("--allocator fm"),
        "{e}"
    );
    // And `kmemdbg gdb` finds the allocator by itself.
    let (code, out, err) = run_kmemdbg(&["gdb", "--pid", &pid.to_string(), "--top", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pkg pool, f_malloc"), "{out}");
    assert!(options(proxy.port));

    // --allocator fm, given: the same sites as the f_malloc sums.
    let pid_s = pid.to_string();
    let (code, out, err) = run_kmemdbg(&[
        "gdb",
        "--pid",
        &pid_s,
        "--allocator",
        "fm",
        "--json",
        "--top",
        "0",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert_eq!(v["allocator"], "fm");
    assert_same_sites("gdb --allocator fm", &dump_sums, &groups_of(&v), 2);
    // --allocator qm on this f_malloc process: an error, not a walk of garbage.
    let (code, out, err) = run_kmemdbg(&["gdb", "--pid", &pid_s, "--allocator", "qm"]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("_qm_pkg_block"), "{err}");
    assert!(options(proxy.port));
}

/// Debian's binary is stripped: `kmemdbg gdb` explains what is missing
/// instead of printing nothing.
#[test]
fn real_proxy_debian_binary_gdb_explains_missing_symbols() {
    let test = "real_proxy_debian_binary_gdb_explains_missing_symbols";
    let Some(bin) = debian_kamailio(test) else {
        return;
    };
    if !require_real(test, "gdb", have_program("gdb")) {
        return;
    }
    let (_dir, proxy) = start_qm_proxy(&bin, |port, ctl| minimal_cfg(port, ctl, ""));
    let port = proxy.port;
    let (code, out, err) = run_kmemdbg(&["gdb", "--pid", &proxy.pid.to_string()]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("/usr/sbin/kamailio has no debug symbols"),
        "{err}"
    );
    assert!(err.contains("kamailio-dbgsym"), "{err}");
    assert!(err.contains("kmemdbg dump"), "{err}");
    // gdb detached: the proxy still answers.
    assert!(options(port));
}

/// The state letter of /proc/PID/stat (`S`, `R`, `T` stopped, `t` traced).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The proxy's main process and its children.
fn proxy_processes(main: u32) -> Vec<u32> {
    let mut out = vec![main];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(main) {
            out.push(pid);
        }
    }
    out
}

/// The kernel refuses ptrace to a user who does not own the proxy: `kmemdbg
/// gdb --pid` run as nobody (setpriv) on a proxy this test started as root
/// exits 2 with an explanation (who runs what, Yama's ptrace_scope when the
/// kernel has it, CAP_SYS_PTRACE, gcore, dumps), not gdb's raw output; the
/// proxy keeps running (no process of it left stopped) and answers.
#[test]
fn real_proxy_gdb_as_unprivileged_user_explains_ptrace_refusal() {
    let test = "real_proxy_gdb_as_unprivileged_user_explains_ptrace_refusal";
    let Some(bin) = debian_kamailio(test) else {
        return;
    };
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !require_real(
        test,
        "root (the proxy runs as root, kmemdbg as nobody)",
        root,
    ) || !require_real(test, "setpriv (util-linux)", have_program("setpriv"))
        || !require_real(test, "gdb", have_program("gdb"))
    {
        return;
    }
    let (_dir, proxy) = start_qm_proxy(&bin, |port, ctl| minimal_cfg(port, ctl, ""));
    let port = proxy.port;
    let pid = proxy.pid.to_string();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_kmemdbg"))
        .args(["gdb", "--pid", &pid])
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{err}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    for want in [
        format!(
            "gdb may not attach to process {pid}: the kernel refused ptrace (gdb: ptrace: Operation not permitted.)"
        ),
        format!("process {pid} runs as uid 0 (root), kmemdbg as uid 65534"),
        format!("sudo kmemdbg gdb --pid {pid}"),
        "CAP_SYS_PTRACE".into(),
        format!("gcore -o /tmp/kamailio {pid}"),
        "kmemdbg dump".into(),
        format!("process {pid} was not stopped"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    match std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope") {
        Ok(scope) => assert!(
            err.contains(&format!("kernel.yama.ptrace_scope is {}", scope.trim())),
            "{err}"
        ),
        Err(_) => assert!(!err.contains("ptrace_scope is"), "no Yama here: {err}"),
    }
    for raw in [
        "[Thread debugging",
        "No struct type",
        "Inferior 1",
        "No symbol",
    ] {
        assert!(!err.contains(raw), "gdb's raw output {raw:?} in:\n{err}");
    }
    // Nothing of the proxy is left stopped, and it answers.
    for p in proxy_processes(proxy.pid) {
        let state = proc_state(p);
        assert!(
            state.is_some_and(|c| c != 'T' && c != 't'),
            "process {p} is in state {state:?}"
        );
    }
    assert!(options(port), "{}", proxy.log_text());
}

/// Scripts for older generations use their names (read from the 3.x/4.x
/// sources); the 5.x q_malloc script is kept as a golden file.
#[test]
fn gdb_script_names_per_generation_and_golden() {
    let script = |args: &[&str]| {
        let mut a = vec!["gdb-script"];
        a.extend_from_slice(args);
        let (code, out, err) = run_kmemdbg(&a);
        assert_eq!(code, 0, "{err}");
        out
    };
    let s = script(&["--allocator", "fm", "--kamailio-version", "4.2"]);
    assert!(
        s.contains("set $blk = mem_block\n") && s.contains("->prv_free"),
        "{s}"
    );
    let s = script(&[
        "--allocator",
        "fm",
        "--kamailio-version",
        "4.1.9",
        "--pool",
        "shm",
    ]);
    assert!(
        s.contains("set $blk = shm_block\n") && s.contains("->u.nxt_free"),
        "{s}"
    );
    let s = script(&["--allocator", "fm", "--kamailio-version", "4.3.7"]);
    assert!(s.contains("->is_free") && s.contains("mem_block"), "{s}");
    let s = script(&[
        "--allocator",
        "qm",
        "--kamailio-version",
        "6.0.1",
        "--pool",
        "shm",
    ]);
    assert!(
        s.contains("set $blk = _qm_shm_block\n") && s.contains("->u.is_free"),
        "{s}"
    );
    let (code, _, err) =
        run_kmemdbg(&["gdb-script", "--allocator", "qm", "--kamailio-version", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("--kamailio-version"), "{err}");
    let (code, _, err) = run_kmemdbg(&[
        "gdb-script",
        "--allocator",
        "qm",
        "--kamailio-version",
        "5.6",
        "--from",
        "9",
        "--to",
        "9",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--from 9 must be below --to 9"), "{err}");

    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/gdb-script-qm-pkg-5.6.3.gdb");
    let s = script(&[
        "--allocator",
        "qm",
        "--kamailio-version",
        "5.6.3",
        "--from",
        "2000",
        "--to",
        "10000",
    ]);
    if common::bless_requested() {
        std::fs::write(&golden, &s).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (KMEMDBG_BLESS=1 writes it)");
    assert_eq!(
        s, want,
        "gdb-script output changed: review, then KMEMDBG_BLESS=1 cargo test --test gdb"
    );
}
