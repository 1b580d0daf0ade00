//! `kmemdbg cfg` end to end: Debian's real kamailio.cfg converted and
//! accepted by the real `kamailio -c`; a real proxy that prints summaries
//! only after conversion; `--live` without a restart; every bad input.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
use common::*;
use kmemdbg::kamcmd::Kamcmd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn debian_cfg(test: &str) -> Option<(PathBuf, Vec<u8>)> {
    let bin = debian_kamailio(test)?;
    let cfg = Path::new(DEBIAN_CFG);
    if !require_real(test, "Debian's /etc/kamailio/kamailio.cfg", cfg.is_file()) {
        return None;
    }
    Some((bin, debian_cfg_bytes()))
}

fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .split_inclusive('\n')
        .map(String::from)
        .collect()
}

/// The real `kamailio -c` on `cfg` (with `-A` defines), run from `/`.
fn kamailio_check(bin: &Path, cfg: &Path, defines: &[&str]) -> (bool, String) {
    let mut c = Command::new(bin);
    c.current_dir("/").arg("-c").arg("-f").arg(cfg);
    for d in defines {
        c.args(["-A", d]);
    }
    let out = c.output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Names in `dir` that are not `keep` (leftover candidates, temp files).
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    v.sort();
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn real_debian_cfg_converted_with_and_without_with_debug() {
    let Some((bin, original)) = debian_cfg("real_debian_cfg_converted_with_and_without_with_debug")
    else {
        return;
    };
    // Debian's default cfg includes nothing by default (only an optional
    // import_file "kamailio-local.cfg", absent here).
    assert!(!Path::new("/etc/kamailio/kamailio-local.cfg").exists());
    for (defines, debug) in [(&[][..], "2"), (&["WITH_DEBUG"][..], "3")] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kamailio.cfg");
        std::fs::write(&cfg, &original).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut args = vec!["cfg", "--cfg", s(&cfg), "--binary", s(&bin)];
        for d in defines {
            args.extend(["--define", d]);
        }

        // --dry-run: the diff, nothing written.
        let mut dry = args.clone();
        dry.push("--dry-run");
        let (code, out, err) = run_kmemdbg(&dry);
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(
            out.contains("-memlog=5\n+memlog=".to_string().as_str()),
            "{out}"
        );
        assert_eq!(std::fs::read(&cfg).unwrap(), original);
        assert_eq!(others(dir.path(), &["kamailio.cfg"]), Vec::<String>::new());

        let (code, out, err) = run_kmemdbg(&args);
        assert_eq!(code, 0, "{out}\n{err}");
        let want = format!("kamailio.cfg:171: memlog 5 -> {debug} (debug is {debug} via DBGLEVEL)");
        assert!(out.contains(&want), "{out}");
        assert!(
            out.contains("kamailio.cfg:165 debug=DBGLEVEL via DBGLEVEL"),
            "{out}"
        );
        // Exactly one line differs: line 171.
        let (old, new) = (lines(&original), lines(&std::fs::read(&cfg).unwrap()));
        assert_eq!(old.len(), new.len());
        let diff: Vec<(usize, &str)> = old
            .iter()
            .zip(&new)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (_, b))| (i + 1, b.as_str()))
            .collect();
        assert_eq!(diff, vec![(171, format!("memlog={debug}\n").as_str())]);
        // The real kamailio accepts it, with the same defines.
        let (ok, text) = kamailio_check(&bin, &cfg, defines);
        assert!(ok, "{text}");
        assert!(text.contains("config file ok"), "{text}");
        // Mode kept; backup is the original, without world bits.
        assert_eq!(std::fs::metadata(&cfg).unwrap().mode() & 0o777, 0o640);
        let backup = dir.path().join("kamailio.cfg.kmemdbg-orig");
        assert_eq!(std::fs::read(&backup).unwrap(), original);
        assert_eq!(std::fs::metadata(&backup).unwrap().mode() & 0o777, 0o640);
        assert_eq!(
            others(dir.path(), &["kamailio.cfg", "kamailio.cfg.kmemdbg-orig"]),
            Vec::<String>::new(),
            "candidates left behind"
        );
        // Idempotent.
        let edited = std::fs::read(&cfg).unwrap();
        let (code, out, _) = run_kmemdbg(&args);
        assert_eq!(code, 0);
        assert!(
            out.contains("already: nothing to change, nothing written"),
            "{out}"
        );
        assert_eq!(std::fs::read(&cfg).unwrap(), edited);
        // --revert: byte for byte.
        let (code, out, err) = run_kmemdbg(&["cfg", "--cfg", s(&cfg), "--revert"]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(std::fs::read(&cfg).unwrap(), original);
        assert!(!backup.exists());
    }
}

#[test]
fn real_debian_cfg_summary_and_memlog_choice_insert_after_debug() {
    let Some((bin, original)) =
        debian_cfg("real_debian_cfg_summary_and_memlog_choice_insert_after_debug")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kamailio.cfg");
    std::fs::write(&cfg, &original).unwrap();
    let (code, out, err) = run_kmemdbg(&[
        "cfg",
        "--cfg",
        s(&cfg),
        "--binary",
        s(&bin),
        "--memlog",
        "1",
        "--summary",
        "all",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    json_doc::check_if_schema(&v);
    assert_eq!(v["schema"], "kmemdbg.cfg/1");
    let texts: Vec<&str> = v["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "kamailio.cfg:166: mem_summary (not set) -> 15 (asked with --summary: pkg status + shm status + pkg summary + shm summary; not set before, Kamailio's default 12 applied)",
            "kamailio.cfg:172: memlog 5 -> 1 (debug is 2 via DBGLEVEL; asked with --memlog)",
        ]
    );
    assert_eq!(v["applied"]["changed"], true);
    let mut want = lines(&original);
    want[170] = "memlog=1\n".into();
    want.insert(165, "mem_summary=15\n".into());
    assert_eq!(lines(&std::fs::read(&cfg).unwrap()), want);
    let (ok, text) = kamailio_check(&bin, &cfg, &[]);
    assert!(ok, "{text}");
    // Asking for memlog above debug is refused, nothing changes.
    let before = std::fs::read(&cfg).unwrap();
    let (code, _, err) = run_kmemdbg(&["cfg", "--cfg", s(&cfg), "--memlog", "3"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--memlog 3 is above debug (debug is 2 via DBGLEVEL)"),
        "{err}"
    );
    assert_eq!(std::fs::read(&cfg).unwrap(), before);
}

/// Debian's cfg with the two adjustments a test proxy needs: a listen
/// socket on 127.0.0.1:PORT and the ctl socket in the test's dir (both
/// replace commented-out example lines). Everything else stays.
fn adjusted_debian(original: &str, port: u16, ctl: &Path) -> String {
    let listen = "# listen=udp:10.0.0.10:5060\n";
    let ctl_line = "# modparam(\"ctl\", \"binrpc\", \"unix:/run/kamailio/kamailio_ctl\")\n";
    assert!(original.contains(listen) && original.contains(ctl_line));
    original
        .replace(listen, &format!("listen=udp:127.0.0.1:{port}\n"))
        .replace(
            ctl_line,
            &format!(
                "modparam(\"ctl\", \"binrpc\", \"unix:{}\")\n",
                ctl.display()
            ),
        )
}

const PROXY_ARGS: &[&str] = &["-x", "qm", "-m", "64", "-M", "8", "-n", "2"];

fn wait_log(p: &Proxy, what: &str) -> bool {
    wait_for(Duration::from_secs(15), || p.log_text().contains(what))
}

#[test]
fn real_proxy_debian_cfg_prints_summaries_only_after_conversion() {
    let test = "real_proxy_debian_cfg_prints_summaries_only_after_conversion";
    let Some((bin, original)) = debian_cfg(test) else {
        return;
    };
    let original = String::from_utf8(original).unwrap();

    // 1. The original (adjusted) cfg: shutdown prints no summary.
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let text = adjusted_debian(&original, port, &ctl);
    let mut proxy = Proxy::start(&bin, dir.path(), port, &text, PROXY_ARGS);
    assert!(wait_for(Duration::from_secs(10), || ctl.exists()));
    let k = Kamcmd::new(Some(s(&ctl))).unwrap();
    assert_eq!(k.cfg_get_int("core", "memlog").unwrap(), 5);
    // RPC dumps are forced to ALERT by Kamailio (core/pt.c), so they print
    // even now; what memlog > debug silences is shutdown and SIGUSR1.
    k.cfg_set_now_int("core", "mem_dump_shm", 1).unwrap();
    assert!(
        wait_log(&proxy, "Memory status (shm)"),
        "{}",
        proxy.log_text()
    );
    proxy.stop();
    let log = proxy.log_text();
    assert!(!proxy.alive());
    assert!(
        log.contains("sctp_core_destroy()"),
        "main reached cleanup():\n{log}"
    );
    assert!(!log.contains("Memory still-in-use summary"), "{log}");
    drop(proxy);

    // 2. The same cfg converted by kmemdbg.
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let cfg = dir.path().join("kamailio.cfg");
    let text = adjusted_debian(&original, port, &ctl);
    std::fs::write(&cfg, &text).unwrap();
    let (code, out, err) = run_kmemdbg(&["cfg", "--cfg", s(&cfg), "--binary", s(&bin)]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("kamailio.cfg:171: memlog 5 -> 2"), "{out}");
    let converted = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(converted, text.replace("\nmemlog=5\n", "\nmemlog=2\n"));

    let mut proxy = Proxy::start_with_cfg(&bin, dir.path(), port, &cfg, PROXY_ARGS);
    assert!(wait_for(Duration::from_secs(10), || ctl.exists()));
    let k = Kamcmd::new(Some(s(&ctl))).unwrap();
    assert_eq!(k.cfg_get_int("core", "memlog").unwrap(), 2);
    // pkg dump of one receiver: it prints when it handles its next message.
    let procs = k.processes().unwrap();
    let receiver = procs.iter().find(|p| p.is_receiver()).unwrap().pid;
    k.cfg_set_now_int("core", "mem_dump_pkg", receiver as i64)
        .unwrap();
    let target = format!("127.0.0.1:{port}").parse().unwrap();
    let want = format!("Memory still-in-use summary (pkg) of process {receiver}");
    let mut sent = 0;
    while sent < 40 && !proxy.log_text().contains(&want) {
        let _ = kmemdbg::sip::options(target, Duration::from_secs(2));
        sent += 1;
    }
    assert!(
        wait_log(&proxy, &want),
        "after {sent} OPTIONS:\n{}",
        proxy.log_text()
    );
    assert!(proxy.log_text().contains("qm_sums"), "{}", proxy.log_text());
    k.cfg_set_now_int("core", "mem_dump_shm", 1).unwrap();
    assert!(wait_log(&proxy, "Memory status (shm)"));
    // SIGUSR1 to exactly our main process: summaries now print.
    let st = Command::new("kill")
        .args(["-USR1", &proxy.pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(wait_log(
        &proxy,
        "handle_sigs(): Memory still-in-use summary (shm)"
    ));
    proxy.stop();
    let log = proxy.log_text();
    assert!(
        log.contains("cleanup(): Memory still-in-use summary (pkg)"),
        "{log}"
    );
    assert!(
        log.contains("cleanup(): Memory still-in-use summary (shm)"),
        "{log}"
    );
}

#[test]
fn real_proxy_live_changes_memlog_without_restart() {
    let Some(bin) = debian_kamailio("real_proxy_live_changes_memlog_without_restart") else {
        return;
    };
    let (_dir, mut proxy) = start_qm_proxy(&bin, |port, ctl| minimal_cfg(port, ctl, ""));
    let ctl = proxy.ctl.clone();
    assert!(wait_for(Duration::from_secs(10), || ctl.exists()));
    let k = Kamcmd::new(Some(s(&ctl))).unwrap();
    assert_eq!(k.cfg_get_int("core", "memlog").unwrap(), 5);
    let usr1 = |pid: u32| {
        assert!(Command::new("kill")
            .args(["-USR1", &pid.to_string()])
            .status()
            .unwrap()
            .success())
    };
    // With memlog 5 > debug 2 the main process prints nothing on SIGUSR1.
    usr1(proxy.pid);
    let marker = "handle_sigs(): Memory still-in-use summary (pkg)";

    // --dry-run sets nothing.
    let (code, out, err) = run_kmemdbg(&["cfg", "--live", "--ctl", s(&ctl), "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("memlog 5 -> 2 (debug is 2 in the running proxy) [dry run: not set]"),
        "{out}"
    );
    assert_eq!(k.cfg_get_int("core", "memlog").unwrap(), 5);

    // File and running proxy in one go.
    let (code, out, err) = run_kmemdbg(&[
        "cfg",
        "--cfg",
        s(&proxy.cfg),
        "--binary",
        s(&bin),
        "--live",
        "--ctl",
        s(&ctl),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("kamailio.cfg:5: memlog 5 -> 2 (debug is 2)"),
        "{out}"
    );
    assert!(out.contains(&format!("main PID {}", proxy.pid)), "{out}");
    assert!(
        out.contains("memlog 5 -> 2 (debug is 2 in the running proxy)"),
        "{out}"
    );
    assert_eq!(k.cfg_get_int("core", "memlog").unwrap(), 2);
    // No restart: same process, still the main one.
    assert!(proxy.alive());
    assert_eq!(k.processes().unwrap()[0].pid, proxy.pid);
    usr1(proxy.pid);
    assert!(wait_log(&proxy, marker), "{}", proxy.log_text());
    assert_eq!(
        proxy.log_text().matches(marker).count(),
        1,
        "the first SIGUSR1 (memlog 5) must have printed nothing"
    );
    // Again: already right, nothing set.
    let (code, out, _) = run_kmemdbg(&["cfg", "--live", "--ctl", s(&ctl)]);
    assert_eq!(code, 0);
    assert!(out.contains("already: memlog 2 <= debug 2"), "{out}");
    proxy.stop();
}

#[test]
fn real_proxy_live_explains_missing_ctl_or_cfg_rpc() {
    let Some(bin) = debian_kamailio("real_proxy_live_explains_missing_ctl_or_cfg_rpc") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run_kmemdbg(&["cfg", "--live", "--ctl", s(&dir.path().join("no_such_ctl"))]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--live needs the running proxy's ctl socket"),
        "{err}"
    );
    assert!(err.contains("no ctl socket at"), "{err}");

    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let text = minimal_cfg(port, &ctl, "").replace("loadmodule \"cfg_rpc.so\"\n", "");
    let _proxy = Proxy::start(&bin, dir.path(), port, &text, &["-m", "32", "-M", "4"]);
    assert!(wait_for(Duration::from_secs(10), || ctl.exists()));
    let (code, _, err) = run_kmemdbg(&["cfg", "--live", "--ctl", s(&ctl)]);
    assert_eq!(code, 2);
    assert!(err.contains("the cfg_rpc module is not loaded"), "{err}");
    assert!(err.contains("loadmodule \"cfg_rpc.so\""), "{err}");
}

#[test]
fn real_kamailio_check_failure_replaces_nothing() {
    let Some(bin) = debian_kamailio("real_kamailio_check_failure_replaces_nothing") else {
        return;
    };
    // A module dir holding only sl and pv: the cfg is fine as it is, but the
    // ctl module kmemdbg adds cannot be found there.
    let dir = tempfile::tempdir().unwrap();
    let mods = dir.path().join("mods");
    std::fs::create_dir(&mods).unwrap();
    for m in ["sl.so", "pv.so"] {
        std::os::unix::fs::symlink(
            Path::new("/usr/lib/x86_64-linux-gnu/kamailio/modules").join(m),
            mods.join(m),
        )
        .unwrap();
    }
    let cfg = dir.path().join("kamailio.cfg");
    let text = format!(
        "#!KAMAILIO\ndebug=2\nmemlog=5\nmpath=\"{}/\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\nrequest_route {{\n  sl_send_reply(\"200\", \"OK\");\n}}\n",
        mods.display()
    );
    std::fs::write(&cfg, &text).unwrap();
    let (ok, out) = kamailio_check(&bin, &cfg, &[]);
    assert!(ok, "the original must pass: {out}");
    let (code, out, err) = run_kmemdbg(&["cfg", "--cfg", s(&cfg), "--binary", s(&bin)]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("`kamailio -c` rejected the edited config, so nothing was replaced"),
        "{err}"
    );
    assert!(
        err.contains("could not find module <ctl>"),
        "kamailio's own message: {err}"
    );
    assert!(
        err.contains(s(&cfg)),
        "the real file is named, not the candidate: {err}"
    );
    assert!(!err.contains(".kmemdbg-check-"), "{err}");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
    assert_eq!(
        others(dir.path(), &["kamailio.cfg", "mods"]),
        Vec::<String>::new()
    );
}

#[test]
fn real_kamailio_included_file_is_edited_and_checked_through_the_include() {
    let Some(bin) =
        debian_kamailio("real_kamailio_included_file_is_edited_and_checked_through_the_include")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("inc")).unwrap();
    let main = "#!KAMAILIO\n#!define LVL 3\ndebug=LVL\ninclude_file \"inc/mem.cfg\"\nloadmodule \"sl.so\"\nloadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\nrequest_route {\n  sl_send_reply(\"200\", \"OK\");\n}\n";
    let inc = "# memory logging\nmemdbg = 2   # too low: floods\nmemlog = 5\n";
    let cfg = dir.path().join("kamailio.cfg");
    let incp = dir.path().join("inc/mem.cfg");
    std::fs::write(&cfg, main).unwrap();
    std::fs::write(&incp, inc).unwrap();
    let (code, out, err) = run_kmemdbg(&["cfg", "--cfg", s(&cfg), "--binary", s(&bin)]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("inc/mem.cfg:2: memdbg 2 -> 4 (debug is 3 via LVL; memdbg at or below debug logs every malloc and free)"), "{out}");
    assert!(
        out.contains("inc/mem.cfg:3: memlog 5 -> 3 (debug is 3 via LVL)"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        main,
        "main untouched"
    );
    assert_eq!(
        std::fs::read_to_string(&incp).unwrap(),
        "# memory logging\nmemdbg = 4   # too low: floods\nmemlog = 3\n"
    );
    assert!(dir.path().join("inc/mem.cfg.kmemdbg-orig").exists());
    assert!(!dir.path().join("kamailio.cfg.kmemdbg-orig").exists());
    assert_eq!(
        others(
            &dir.path().join("inc"),
            &["mem.cfg", "mem.cfg.kmemdbg-orig"]
        ),
        Vec::<String>::new()
    );
    let (ok, text) = kamailio_check(&bin, &cfg, &[]);
    assert!(ok, "{text}");
    let (code, _, _) = run_kmemdbg(&["cfg", "--cfg", s(&cfg), "--revert"]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&incp).unwrap(), inc);
}

#[test]
fn real_kamailio_crlf_cfg_keeps_crlf() {
    let Some(bin) = debian_kamailio("real_kamailio_crlf_cfg_keeps_crlf") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kamailio.cfg");
    let text = "#!KAMAILIO\r\n#!ifdef WITH_DEBUG\r\ndebug = 3\r\n#!else\r\ndebug = 1\r\n#!endif\r\nloadmodule \"sl.so\"\r\nrequest_route {\r\n  sl_send_reply(\"200\", \"OK\");\r\n}\r\n";
    std::fs::write(&cfg, text).unwrap();
    let (code, out, err) = run_kmemdbg(&["cfg", "--cfg", s(&cfg), "--binary", s(&bin)]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "#!KAMAILIO\r\n#!ifdef WITH_DEBUG\r\ndebug = 3\r\n#!else\r\ndebug = 1\r\nmemlog = 1\r\n#!endif\r\nloadmodule \"sl.so\"\r\nloadmodule \"ctl.so\"\r\nloadmodule \"cfg_rpc.so\"\r\nrequest_route {\r\n  sl_send_reply(\"200\", \"OK\");\r\n}\r\n"
    );
    assert!(out.contains("kamailio.cfg:6: memlog (not set) -> 1 (debug is 1; not set before, Kamailio's default 4 applied)"), "{out}");
    assert!(
        out.contains(
            "kamailio.cfg:9: loadmodule \"ctl.so\" (added after the last loadmodule, so that kamcmd"
        ),
        "{out}"
    );
    let (ok, t) = kamailio_check(&bin, &cfg, &[]);
    assert!(ok, "{t}");
}

/// A valid cfg of 20,000 lines: defines, nested #!ifdef blocks, comments,
/// and the memlog line in effect near the end.
fn big_cfg() -> (String, usize) {
    let mut s = String::from("#!KAMAILIO\ndebug=2\nloadmodule \"sl.so\"\nloadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\n");
    let mut i = 0;
    while s.lines().count() < 19_980 {
        s.push_str(&format!(
            "# block {i}\n#!trydef D{} {i}\n#!ifdef WITH_X{i}\nmemlog=9\n#!ifndef OTHER\n/* memlog=8 */\n#!endif\n#!else\n// nothing\n#!endif\n",
            i % 100
        ));
        i += 1;
    }
    s.push_str("#!ifndef NOPE\n#!ifdef KAMAILIO_5\nmemlog = 5\n#!endif\n#!endif\n");
    let line = s.lines().count() - 2;
    while s.lines().count() < 20_000 {
        s.push_str("# tail\n");
    }
    s.push_str("request_route {\n  sl_send_reply(\"200\", \"OK\");\n}\n");
    (s, line)
}

#[test]
fn real_kamailio_twenty_thousand_line_cfg() {
    let Some(bin) = debian_kamailio("real_kamailio_twenty_thousand_line_cfg") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kamailio.cfg");
    let (text, line) = big_cfg();
    assert!(text.lines().count() >= 20_000);
    std::fs::write(&cfg, &text).unwrap();
    let (code, out, err) = run_kmemdbg(&["cfg", "--cfg", s(&cfg), "--binary", s(&bin)]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("kamailio.cfg:{line}: memlog 5 -> 2 (debug is 2)")),
        "{out}"
    );
    let (old, new) = (lines(text.as_bytes()), lines(&std::fs::read(&cfg).unwrap()));
    let changed: Vec<usize> = old
        .iter()
        .zip(&new)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(changed, vec![line]);
    assert_eq!(new[line - 1], "memlog = 2\n");
    let (ok, t) = kamailio_check(&bin, &cfg, &[]);
    assert!(ok, "{t}");
}

// ---- bad input: clear message naming file:line, nothing changed ----

/// Runs `kmemdbg cfg --cfg FILE` on `text`, expects exit 2, and checks the
/// file and its directory are untouched. Returns stderr.
fn rejected(text: &[u8], extra: &[&str]) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.cfg");
    std::fs::write(&cfg, text).unwrap();
    let mut args = vec!["cfg", "--cfg", s(&cfg)];
    args.extend(extra);
    let (code, out, err) = run_kmemdbg(&args);
    assert_eq!(code, 2, "stdout:{out}\nstderr:{err}");
    assert_eq!(std::fs::read(&cfg).unwrap(), text);
    assert_eq!(others(dir.path(), &["k.cfg"]), Vec::<String>::new());
    (dir, cfg, err)
}

#[test]
fn bad_input_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nope.cfg");
    let (code, _, err) = run_kmemdbg(&["cfg", "--cfg", s(&cfg)]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{}: no such file", cfg.display())),
        "{err}"
    );
    assert_eq!(others(dir.path(), &[]), Vec::<String>::new());
}

#[test]
fn bad_input_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.path().join("k.cfg");
    std::fs::write(&cfg, "debug=2\nmemlog=5\n").unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = if unsafe_is_root() {
        // root reads anything: run as nobody, through a copy of the binary it may execute.
        let exe = dir.path().join("kmemdbg");
        std::fs::copy(env!("CARGO_BIN_EXE_kmemdbg"), &exe).unwrap();
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .args(["cfg", "--cfg", s(&cfg)])
            .output()
            .expect("setpriv (util-linux)")
    } else {
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o000)).unwrap();
        kmemdbg().args(["cfg", "--cfg", s(&cfg)]).output().unwrap()
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("cannot read {}", cfg.display())),
        "{err}"
    );
    assert!(err.contains("Permission denied"), "{err}");
}

fn unsafe_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[test]
fn bad_input_read_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.cfg");
    let text = "debug=2\nmemlog=5\nloadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\n";
    std::fs::write(&cfg, text).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (code, out, err) = run_kmemdbg(&["cfg", "--cfg", s(&cfg)]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("k.cfg:2: memlog 5 -> 2"),
        "the plan is still shown: {out}"
    );
    assert!(
        err.contains(&format!(
            "{} is read-only: nothing was changed",
            cfg.display()
        )),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
    assert_eq!(others(dir.path(), &["k.cfg"]), Vec::<String>::new());
}

#[test]
fn bad_input_unbalanced_ifdef() {
    let (_d, cfg, err) = rejected(
        b"debug=2\n#!ifdef WITH_X\n#!ifdef WITH_Y\n#!endif\nmemlog=1\n",
        &[],
    );
    assert!(
        err.contains(&format!(
            "{}:2: #!ifdef WITH_X is never closed with #!endif",
            cfg.display()
        )),
        "{err}"
    );
    let (_d, cfg, err) = rejected(b"debug=2\n#!endif\n", &[]);
    assert!(
        err.contains(&format!(
            "{}:2: #!endif without an open #!ifdef",
            cfg.display()
        )),
        "{err}"
    );
}

#[test]
fn bad_input_include_missing_or_including_itself() {
    let (_d, cfg, err) = rejected(b"debug=2\n\ninclude_file \"local.cfg\"\n", &[]);
    assert!(
        err.contains(&format!("{}:3: include_file \"local.cfg\":", cfg.display())),
        "{err}"
    );
    assert!(err.contains("does not exist"), "{err}");
    let (_d, cfg, err) = rejected(b"debug=2\ninclude_file \"k.cfg\"\n", &[]);
    assert!(
        err.contains(&format!(
            "{}:2: include_file \"k.cfg\" includes a file that is already being read",
            cfg.display()
        )),
        "{err}"
    );
    // A missing import_file is fine (Debian's "kamailio-local.cfg").
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("k.cfg");
    std::fs::write(&c, "import_file \"kamailio-local.cfg\"\ndebug=2\nmemlog=1\nloadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\n").unwrap();
    let (code, out, err) = run_kmemdbg(&["cfg", "--cfg", s(&c)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("already: nothing to change"), "{out}");
}

#[test]
fn bad_input_debug_from_undefined_macro() {
    let text = b"#!ifdef WITH_DEBUG\n#!define DBGLEVEL 3\n#!endif\ndebug=DBGLEVEL\nmemlog=5\n";
    let (_d, cfg, err) = rejected(text, &[]);
    assert!(
        err.contains(&format!(
            "{}:4: debug=DBGLEVEL: DBGLEVEL is not #!define'd here",
            cfg.display()
        )),
        "{err}"
    );
    assert!(err.contains("--define DBGLEVEL=VALUE"), "{err}");
    // The same file reads fine with the define the service would pass.
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("k.cfg");
    std::fs::write(&c, text).unwrap();
    let (code, out, err) =
        run_kmemdbg(&["cfg", "--cfg", s(&c), "--define", "WITH_DEBUG", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("k.cfg:7: memlog 5 -> 3 (debug is 3 via DBGLEVEL)"),
        "{out}"
    );
}

#[test]
fn bad_input_binary_garbage() {
    // An ELF file given as the cfg (the kmemdbg binary itself).
    let garbage = std::fs::read(env!("CARGO_BIN_EXE_kmemdbg")).unwrap();
    let (_d, cfg, err) = rejected(&garbage[..4096], &[]);
    assert!(
        err.contains(&format!("{}:1: contains a NUL byte", cfg.display())),
        "{err}"
    );
    let (_d, cfg, err) = rejected(
        b"debug=2\n\x01\x02\x03\x04\x05\x06\x07\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\n",
        &[],
    );
    assert!(
        err.contains(&format!("{}:2:", cfg.display())) && err.contains("control bytes"),
        "{err}"
    );
}

#[test]
fn bad_input_usage_errors() {
    let (_d, _, err) = rejected(b"debug=2\n", &["--summary", "heap"]);
    assert!(err.contains("--summary: unknown word \"heap\""), "{err}");
    let (_d, _, err) = rejected(b"debug=2\n", &["--define", "WITH-DEBUG"]);
    assert!(
        err.contains("the name must be letters, digits and _"),
        "{err}"
    );
    let (code, _, err) = run_kmemdbg(&["cfg"]);
    assert_eq!(code, 2);
    assert!(err.contains("--cfg"), "{err}");
}

/// The tests' copy of Debian's cfg is the packaged file even while an sd
/// box (of this or another test run) has converted the host's copy: its
/// md5 is the one dpkg recorded (checked here with `md5sum` and
/// `dpkg-query`, independently of what the copy was used for).
#[test]
fn debian_cfg_copy_is_the_packaged_file() {
    let test = "debian_cfg_copy_is_the_packaged_file";
    let Some(want) = packaged_md5(DEBIAN_CFG) else {
        require_real(test, "dpkg's record of kamailio's conffiles", false);
        return;
    };
    if !require_real(test, "md5sum", have_program("md5sum")) {
        return;
    }
    assert_eq!(md5_hex(&debian_cfg_bytes()).as_deref(), Some(want.as_str()));
}
