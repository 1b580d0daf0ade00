//! kmemdbg against a real systemd and journald: each test boots an sd box
//! (`tests/support/sdbox.rs`: systemd as PID 1 of its own namespaces, Debian's
//! `kamailio.service`, a private journal). Tests here change host files under
//! `/etc` (restored byte for byte by the box's guard) and run one at a time
//! (the box's flock and mutex).

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
#[path = "support/sdbox.rs"]
mod sdbox;

use std::time::Duration;

/// The harness itself: the box boots, Debian's kamailio.service runs in it
/// with the packaged argv, journald holds its lines, and a host file the test
/// adds under /etc is gone again once the box drops.
#[test]
fn real_systemd_box_boots_debian_kamailio_with_journal() {
    let probe = "/etc/systemd/system/kamailio.service.d/zz-sdbox-smoke.conf";
    {
        let Some(mut b) = sdbox::SdBox::boot("real_systemd_box_boots_debian_kamailio_with_journal")
        else {
            return;
        };
        assert!(b.wait_active("kamailio", Duration::from_secs(60)));
        let pid = b.main_pid("kamailio");
        assert!(pid > 1, "kamailio.service has no main PID");
        // The packaged ExecStart, expanded by systemd (by hand from
        // /lib/systemd/system/kamailio.service and its Environment= lines).
        let argv = b.cmdline(pid);
        assert_eq!(
            argv,
            [
                "/usr/sbin/kamailio",
                "-P",
                "/run/kamailio/kamailio.pid",
                "-f",
                "/etc/kamailio/kamailio.cfg",
                "-m",
                "64",
                "-M",
                "8"
            ]
        );
        let log = b.journal("kamailio");
        assert!(
            log.lines().any(|l| l.contains("<core>")),
            "journalctl -u kamailio holds no kamailio line:\n{log}"
        );
        // The box's pid namespace is its own: PID 1 inside is systemd.
        assert_eq!(b.ok(&["cat", "/proc/1/comm"]).trim(), "systemd");
        // A host file written through the guard is seen by the box's systemd.
        b.etc.write(probe, "[Unit]\nDescription=sdbox smoke\n");
        b.ok(&["systemctl", "daemon-reload"]);
        assert_eq!(b.show("kamailio", "Description"), "sdbox smoke");
    }
    assert!(
        !std::path::Path::new(probe).exists()
            && !std::path::Path::new("/etc/systemd/system/kamailio.service.d").exists(),
        "the box's guard left {probe} behind"
    );
}

/// The guard alone, on a temp tree: created files go, changed and removed
/// ones come back with their bytes, mode and mtime, also when the test panics.
#[test]
fn etc_guard_restores_byte_for_byte_on_panic() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("etc");
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::write(root.join("a.conf"), b"a=1\n\xff raw\n").expect("write");
    std::fs::write(root.join("sub/b.conf"), "b=2\n").expect("write");
    std::fs::set_permissions(root.join("a.conf"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
    let before_mtime = std::fs::metadata(root.join("a.conf"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let r = root.clone();
    let caught = std::panic::catch_unwind(move || {
        let mut g = sdbox::EtcGuard::new();
        g.watch(&r);
        g.write(r.join("a.conf"), "changed\n");
        g.remove(r.join("sub"));
        g.write(r.join("new.d/x.conf"), "x\n");
        assert_eq!(g.changed().len(), 5, "{:?}", g.changed());
        panic!("test failure inside the guard's life");
    });
    assert!(caught.is_err());
    assert_eq!(
        std::fs::read(root.join("a.conf")).expect("a.conf back"),
        b"a=1\n\xff raw\n"
    );
    let m = std::fs::metadata(root.join("a.conf")).expect("meta");
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    assert_eq!(m.modified().expect("mtime"), before_mtime);
    assert_eq!(
        std::fs::read_to_string(root.join("sub/b.conf")).expect("b back"),
        "b=2\n"
    );
    assert!(!root.join("new.d").exists());
}

// ------------------------------------------------------------------ kmemdbg on a real systemd

const DEBIAN_CFG: &str = "/etc/kamailio/kamailio.cfg";
const OWN_DIR: &str = "/etc/systemd/system/kamailio.service.d";

fn boot(test: &str) -> Option<sdbox::SdBox> {
    let b = sdbox::SdBox::boot(test)?;
    assert!(
        b.wait_active("kamailio", Duration::from_secs(60)),
        "{test}: kamailio.service did not start in the box"
    );
    Some(b)
}

/// The argv of kamailio.service's main process, read from /proc in the box.
fn running_argv(b: &sdbox::SdBox) -> Vec<String> {
    let pid = b.main_pid("kamailio");
    assert!(pid > 1, "kamailio.service has no main PID");
    b.cmdline(pid)
}

/// Restarts kamailio after the test changed its unit files.
fn reload_restart(b: &sdbox::SdBox) {
    b.ok(&["systemctl", "daemon-reload"]);
    b.ok(&["systemctl", "restart", "kamailio"]);
    assert!(b.wait_active("kamailio", Duration::from_secs(60)));
}

fn debian_argv(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "/usr/sbin/kamailio",
        "-P",
        "/run/kamailio/kamailio.pid",
        "-f",
        DEBIAN_CFG,
        "-m",
        "64",
        "-M",
        "8",
    ]
    .map(String::from)
    .to_vec();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn ls(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn kamcmd_int(b: &sdbox::SdBox, name: &str) -> i64 {
    let out = b.ok(&["kamcmd", "cfg.get", "core", name]);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("kamcmd cfg.get core {name}: {out:?}"))
}

/// The plain Debian unit, no flag at all: convert finds the unit and the
/// cfg, writes kmemdbg.conf, the new process runs with -x qm; --check says
/// 0; dump finds journald by itself; revert puts back every byte and the
/// original argv.
#[test]
fn real_systemd_plain_unit_convert_check_dump_from_journald_revert() {
    let Some(b) = boot("real_systemd_plain_unit_convert_check_dump_from_journald_revert") else {
        return;
    };
    let cfg0 = std::fs::read(DEBIAN_CFG).expect("Debian's cfg");
    assert_eq!(running_argv(&b), debian_argv(&[]));

    let (code, out, err) = b.kmemdbg(&["convert", "--yes"]);
    assert_eq!(code, 0, "convert failed:\n{out}\n{err}");
    assert_eq!(running_argv(&b), debian_argv(&["-x", "qm"]));
    assert_eq!(
        b.show("kamailio", "DropInPaths"),
        format!("{OWN_DIR}/kmemdbg.conf")
    );
    assert!(
        out.contains(&format!("cfg:      {DEBIAN_CFG} (-f of the running PID")),
        "{out}"
    );
    assert!(out.contains(", as planned: dumps print"), "{out}");
    // What the proxy runs with, asked over RPC by kamcmd (not by kmemdbg).
    assert!(kamcmd_int(&b, "memlog") <= kamcmd_int(&b, "debug"));
    assert_ne!(std::fs::read(DEBIAN_CFG).expect("cfg"), cfg0);

    let (code, out, _) = b.kmemdbg(&["convert", "--check"]);
    assert_eq!(code, 0, "{out}");

    // dump with no log flag: no syslog file receives kamailio's lines (a host
    // that has one gets it hidden, in the box only), so journald for the unit.
    for f in [
        "/var/log/syslog",
        "/var/log/messages",
        "/var/log/kamailio.log",
    ] {
        if std::path::Path::new(f).exists() {
            b.ok(&["mount", "--bind", "/dev/null", f]);
        }
    }
    let (code, out, err) = b.kmemdbg(&["dump", "--shm", "--out", "/run/dump.log", "--json"]);
    assert_eq!(code, 0, "dump failed:\n{out}\n{err}");
    assert!(err.contains("journald unit kamailio.service"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("dump --json");
    json_doc::check_if_schema(&v);
    assert_eq!(v["source"]["kind"], "journal");
    assert_eq!(v["source"]["unit"], "kamailio.service");
    let dumped = b.ok(&["cat", "/run/dump.log"]);
    let first = dumped.lines().next().unwrap_or_default();
    assert!(
        first.contains(" /usr/sbin/kamailio[") && first.ends_with("Memory status (shm)"),
        "{first}"
    );
    assert!(dumped.contains("]: ALERT: qm_status: qm_status(): -----------------------------"));
    // Lines logged before the dump (startup) were not read: the cursor marked "now".
    assert!(!dumped.contains("probe_max_receive_buffer"), "{dumped}");
    // The flag still overrides: --journal names the unit.
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--shm",
        "--journal",
        "kamailio",
        "--out",
        "/run/dump2.log",
    ]);
    assert_eq!(code, 0, "dump --journal failed:\n{out}\n{err}");
    assert!(!err.contains("kmemdbg: reading"), "{err}");
    let journal = b.journal("kamailio");
    let kept: Vec<&str> = dumped.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(kept.len() > 3, "{dumped}");
    // Every kept line is one of kamailio's journal lines (its message part).
    let in_journal = kept
        .iter()
        .filter(|l| {
            journal
                .lines()
                .any(|j| !j.trim().is_empty() && l.trim_end().ends_with(j.trim()))
        })
        .count();
    let strangers: Vec<&&str> = kept
        .iter()
        .filter(|l| {
            !journal
                .lines()
                .any(|j| !j.trim().is_empty() && l.trim_end().ends_with(j.trim()))
        })
        .collect();
    assert_eq!(in_journal, kept.len(), "not in the journal: {strangers:?}");

    let (code, out, err) = b.kmemdbg(&["revert", "--yes"]);
    assert_eq!(code, 0, "revert failed:\n{out}\n{err}");
    assert_eq!(std::fs::read(DEBIAN_CFG).expect("cfg"), cfg0);
    assert!(ls(OWN_DIR).is_empty(), "{:?}", ls(OWN_DIR));
    assert!(
        !ls("/etc/kamailio").iter().any(|n| n.contains("kmemdbg")),
        "{:?}",
        ls("/etc/kamailio")
    );
    assert_eq!(running_argv(&b), debian_argv(&[]));
}

/// `systemctl edit kamailio`'s override.conf sets its own ExecStart= (with
/// a `-` prefix): kmemdbg's drop-in sorts after it, keeps the prefix, and
/// the operator's file stays byte for byte. A drop-in added later that
/// sorts after kmemdbg's and drops -x qm: --check exits 3 naming it; convert
/// moves kmemdbg's drop-in after it.
#[test]
fn real_systemd_override_conf_and_a_later_dropin() {
    let Some(mut b) = boot("real_systemd_override_conf_and_a_later_dropin") else {
        return;
    };
    let override_path = format!("{OWN_DIR}/override.conf");
    let exec = "-/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m 96 -M $PKG_MEMORY";
    b.etc.write(
        &override_path,
        &format!("[Service]\nExecStart=\nExecStart={exec}\n"),
    );
    reload_restart(&b);
    let override0 = std::fs::read(&override_path).expect("override");
    let mut argv96 = debian_argv(&[]);
    argv96[6] = "96".into();
    assert_eq!(running_argv(&b), argv96);

    let (code, out, err) = b.kmemdbg(&["convert", "--yes"]);
    assert_eq!(code, 0, "convert failed:\n{out}\n{err}");
    let mut want = argv96.clone();
    want.extend(["-x".to_string(), "qm".to_string()]);
    assert_eq!(running_argv(&b), want);
    let paths = b.show("kamailio", "DropInPaths");
    let last = paths
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    assert_eq!(last, format!("{OWN_DIR}/zz-kmemdbg.conf"), "{paths}");
    let ours = std::fs::read_to_string(&last).expect("kmemdbg's drop-in");
    assert!(
        ours.contains(&format!("\nExecStart={exec} -x qm\n")),
        "prefix or line lost:\n{ours}"
    );
    assert_eq!(std::fs::read(&override_path).expect("override"), override0);
    assert!(
        out.contains("zz-kmemdbg.conf (its name sorts after every other drop-in"),
        "{out}"
    );
    let (code, out, _) = b.kmemdbg(&["convert", "--check"]);
    assert_eq!(code, 0, "{out}");

    // Later, another drop-in that sorts after kmemdbg's and drops -x qm
    // (systemd not reloaded yet: --check looks at what the next restart runs).
    let late = format!("{OWN_DIR}/zzzz-late.conf");
    b.etc.write(
        &late,
        "[Service]\nExecStart=\nExecStart=/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m 96 -M 8\n",
    );
    let (code, out, err) = b.kmemdbg(&["convert", "--check"]);
    assert_eq!(code, 3, "--check must see the later drop-in:\n{out}\n{err}");
    assert!(out.contains("zzzz-late.conf"), "{out}");
    let (code, out, err) = b.kmemdbg(&["convert", "--yes"]);
    assert_eq!(code, 0, "convert failed:\n{out}\n{err}");
    assert_eq!(running_argv(&b), want);
    let paths = b.show("kamailio", "DropInPaths");
    assert_eq!(
        paths.split_whitespace().collect::<Vec<_>>(),
        [
            override_path.clone(),
            late.clone(),
            format!("{OWN_DIR}/zzzzz-kmemdbg.conf")
        ]
    );
    assert_eq!(std::fs::read(&override_path).expect("override"), override0);
    let (code, out, _) = b.kmemdbg(&["convert", "--check"]);
    assert_eq!(code, 0, "{out}");
}

/// Drop-ins of the same name in /run and /etc (systemd applies /etc's
/// only) and one in the top-level service.d that sorts after "kmemdbg.conf",
/// values from /etc/default/kamailio (-m, -M, CFGFILE), a cfg without ctl
/// and cfg_rpc: size, convert and restart find everything with no flag,
/// sizes land in the EnvironmentFile, the health check says which checks it
/// could not make, and a proxy that answered OPTIONS 200 before and 503
/// after is rolled back.
#[test]
fn real_systemd_run_and_etc_dropins_environment_file_values_no_ctl() {
    let Some(mut b) = boot("real_systemd_run_and_etc_dropins_environment_file_values_no_ctl")
    else {
        return;
    };
    // A copy of Debian's cfg without the ctl and cfg_rpc modules.
    let debian = std::fs::read_to_string(DEBIAN_CFG).expect("Debian's cfg");
    assert!(
        debian.contains("\nloadmodule \"ctl.so\"\n")
            && debian.contains("\nloadmodule \"cfg_rpc.so\"\n")
    );
    let alt = debian
        .replace("\nloadmodule \"ctl.so\"\n", "\n#loadmodule \"ctl.so\"\n")
        .replace(
            "\nloadmodule \"cfg_rpc.so\"\n",
            "\n#loadmodule \"cfg_rpc.so\"\n",
        );
    b.etc.write("/etc/kamailio/alt.cfg", &alt);
    let defaults0 = std::fs::read_to_string("/etc/default/kamailio").expect("defaults");
    b.etc.write(
        "/etc/default/kamailio",
        &format!("{defaults0}SHM_MEMORY=128\nPKG_MEMORY=16\nCFGFILE=/etc/kamailio/alt.cfg\n"),
    );
    let exec = |mark: &str| {
        format!("[Service]\nExecStart=\nExecStart=/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY -A {mark}\n")
    };
    b.put(
        "/run/systemd/system/kamailio.service.d/50-site.conf",
        &exec("FROM_RUN"),
    );
    b.etc
        .write(format!("{OWN_DIR}/50-site.conf"), &exec("FROM_ETC"));
    b.etc
        .write(format!("{OWN_DIR}/10-nice.conf"), "[Service]\nNice=1\n");
    // The top-level service.d applies to every service; its name sorts after "kmemdbg.conf".
    b.put(
        "/run/systemd/system/service.d/zz-top.conf",
        "[Service]\nNice=2\n",
    );
    reload_restart(&b);
    let argv0: Vec<String> = [
        "/usr/sbin/kamailio",
        "-P",
        "/run/kamailio/kamailio.pid",
        "-f",
        "/etc/kamailio/alt.cfg",
        "-m",
        "128",
        "-M",
        "16",
        "-A",
        "FROM_ETC",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(running_argv(&b), argv0);

    // size with no flag: the new size goes where the unit reads it; without
    // ctl, the health check says what it could not check.
    let (code, out, err) = b.kmemdbg(&["size", "--shm", "256", "--yes"]);
    assert_eq!(code, 0, "size failed:\n{out}\n{err}");
    let defaults = std::fs::read_to_string("/etc/default/kamailio").expect("defaults");
    let shm: Vec<&str> = defaults
        .lines()
        .filter(|l| l.starts_with("SHM_MEMORY="))
        .collect();
    assert_eq!(shm, ["SHM_MEMORY=256"], "{defaults}");
    let mut want = argv0.clone();
    want[6] = "256".into();
    assert_eq!(running_argv(&b), want);
    assert!(
        out.contains("not checked: core.psx"),
        "the health check must say what it could not check:\n{out}"
    );
    assert!(!out.contains("ok: core.psx"), "{out}");

    // convert with no flag: the cfg from CFGFILE, -x qm after /etc's ExecStart=.
    let (code, out, err) = b.kmemdbg(&["convert", "--yes"]);
    assert_eq!(code, 0, "convert failed:\n{out}\n{err}");
    assert!(out.contains("cfg:      /etc/kamailio/alt.cfg"), "{out}");
    want.extend(["-x".to_string(), "qm".to_string()]);
    assert_eq!(running_argv(&b), want);
    assert_eq!(
        b.show("kamailio", "DropInPaths"),
        format!("{OWN_DIR}/10-nice.conf {OWN_DIR}/50-site.conf /run/systemd/system/service.d/zz-top.conf {OWN_DIR}/zzz-kmemdbg.conf")
    );
    let (code, out, err) = b.kmemdbg(&["restart", "--dry-run"]);
    assert_eq!(code, 0, "restart --dry-run with no flag:\n{out}\n{err}");
    assert!(
        out.contains("zzz-kmemdbg.conf (its name sorts after every other drop-in"),
        "{out}"
    );

    // The proxy answered OPTIONS with 200 before; a cfg edited meanwhile
    // makes the restarted one answer 503: not healthy, rolled back, exit 1.
    let cfg = std::fs::read_to_string("/etc/kamailio/alt.cfg").expect("alt.cfg");
    assert_eq!(cfg.matches("\nrequest_route {\n").count(), 1);
    b.etc.write(
        "/etc/kamailio/alt.cfg",
        &cfg.replacen(
            "\nrequest_route {\n",
            "\nrequest_route {\n\tif (is_method(\"OPTIONS\")) { sl_send_reply(\"503\", \"Busy\"); exit; }\n",
            1,
        ),
    );
    let (code, out, err) = b.kmemdbg(&["restart", "--yes"]);
    assert_eq!(code, 1, "a 200 -> 503 proxy is not healthy:\n{out}\n{err}");
    assert!(
        out.contains("answered 503; before the change the proxy answered 200"),
        "{out}"
    );
    assert!(b.wait_active("kamailio", Duration::from_secs(30)));
}

/// The new main process lacks a planned option (the unit starts a wrapper
/// that drops its arguments): a failed restart, rolled back, exit 1, and
/// the message names the file the ExecStart= comes from and the program.
#[test]
fn real_systemd_rollback_when_the_new_process_lacks_a_planned_option() {
    let Some(mut b) = boot("real_systemd_rollback_when_the_new_process_lacks_a_planned_option")
    else {
        return;
    };
    let wrapper = "/etc/kamailio/kam-wrapper.sh";
    b.etc.write(
        wrapper,
        "#!/bin/sh\n# Test fixture: starts kamailio with a fixed command line, whatever it is given.\ncase \" $* \" in *\" -V \"*|*\" -I \"*|*\" -c \"*|*\" -h \"*) exec /usr/sbin/kamailio \"$@\";; esac\nexec /usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f /etc/kamailio/kamailio.cfg -m 64 -M 8\n",
    );
    std::fs::set_permissions(wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let override_path = format!("{OWN_DIR}/override.conf");
    b.etc.write(
        &override_path,
        &format!("[Service]\nExecStart=\nExecStart={wrapper} -P /run/kamailio/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY\n"),
    );
    reload_restart(&b);
    let cfg0 = std::fs::read(DEBIAN_CFG).expect("cfg");
    let pid0 = b.main_pid("kamailio");
    assert_eq!(running_argv(&b), debian_argv(&[]));

    let (code, out, err) = b.kmemdbg(&["convert", "--yes"]);
    assert_eq!(code, 1, "a failed restart exits 1:\n{out}\n{err}");
    assert!(out.contains("without the planned -x qm"), "{out}");
    assert!(
        out.contains(&override_path) && out.contains(wrapper),
        "{out}"
    );
    assert!(
        out.contains("the previous setup runs again and is healthy"),
        "{out}"
    );
    // Rolled back: files as before, a proxy runs, with the old command line.
    assert!(b.wait_active("kamailio", Duration::from_secs(30)));
    assert_ne!(b.main_pid("kamailio"), pid0);
    assert_eq!(running_argv(&b), debian_argv(&[]));
    assert_eq!(std::fs::read(DEBIAN_CFG).expect("cfg"), cfg0);
    assert_eq!(ls(OWN_DIR), ["override.conf"]);
    assert!(!ls("/etc/kamailio").iter().any(|n| n.contains("kmemdbg")));
}

/// Bad input: nothing changes, exit 2, the error names the file and line
/// (or lists what was found when a guess would not be certain). With no
/// proxy running, the unit alone says what would run.
#[test]
fn real_systemd_bad_units_are_refused_naming_file_and_line() {
    let Some(mut b) = boot("real_systemd_bad_units_are_refused_naming_file_and_line") else {
        return;
    };
    let cfg0 = std::fs::read(DEBIAN_CFG).expect("cfg");
    let override_path = format!("{OWN_DIR}/override.conf");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "a line without '='",
            "[Service]\nExecStart /usr/sbin/kamailio\n",
            &["override.conf:2:", "missing '='"],
        ),
        (
            "a missing EnvironmentFile= without '-'",
            "[Service]\nEnvironmentFile=/etc/kamailio/missing.env\n",
            &["override.conf:2:", "missing.env does not exist"],
        ),
        (
            "two ExecStart= in effect",
            "[Service]\nExecStart=/usr/sbin/kamailio -f /etc/kamailio/kamailio.cfg\n",
            &[
                "/lib/systemd/system/kamailio.service:",
                "override.conf:2",
                "ExecStart=",
            ],
        ),
    ];
    for (what, text, needles) in cases {
        b.etc.write(&override_path, text);
        b.ok(&["systemctl", "daemon-reload"]);
        let pid = b.main_pid("kamailio");
        let (code, out, err) = b.kmemdbg(&["convert", "--yes"]);
        assert_eq!(code, 2, "{what}: exit 2 expected:\n{out}\n{err}");
        for n in *needles {
            assert!(err.contains(n), "{what}: {n:?} not in:\n{err}");
        }
        assert_eq!(std::fs::read(DEBIAN_CFG).expect("cfg"), cfg0, "{what}");
        assert_eq!(ls(OWN_DIR), ["override.conf"], "{what}");
        assert_eq!(b.main_pid("kamailio"), pid, "{what}: the proxy was touched");
    }
    // The unit would start another cfg than the running proxy loads: no guess.
    b.etc.write(
        &override_path,
        "[Service]\nEnvironment=CFGFILE=/etc/kamailio/other.cfg\n",
    );
    b.ok(&["systemctl", "daemon-reload"]);
    let (code, out, err) = b.kmemdbg(&["convert", "--yes"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("cannot tell for certain which cfg")
            && err.contains(&format!("{DEBIAN_CFG} (-f of the running PID"))
            && err.contains(
                "/etc/kamailio/other.cfg (what systemd unit kamailio.service would start)"
            ),
        "{err}"
    );
    assert_eq!(std::fs::read(DEBIAN_CFG).expect("cfg"), cfg0);
    b.etc.remove(OWN_DIR);
    b.ok(&["systemctl", "daemon-reload"]);
    let (code, _, err) = b.kmemdbg(&["restart", "--service", "nosuch", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no service nosuch"), "{err}");

    // Masked (in /run: the box's own), then a template unit.
    b.ok(&["systemctl", "mask", "--runtime", "kamailio"]);
    let (code, _, err) = b.kmemdbg(&["convert", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("kamailio.service is masked"), "{err}");
    b.ok(&["systemctl", "unmask", "--runtime", "kamailio"]);
    let (code, _, err) = b.kmemdbg(&["convert", "--service", "kamailio@.service", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("template unit"), "{err}");

    // Two proxies: no guess, both listed.
    let port = common::free_udp_port();
    let cfg = common::minimal_cfg(port, std::path::Path::new("/run/k2/ctl"), "");
    b.put("/run/k2/k2.cfg", &cfg);
    // Its output to a file: a daemon holding nsenter's pipes would keep it waiting.
    b.ok(&[
        "sh",
        "-c",
        "/usr/sbin/kamailio -P /run/k2/k2.pid -f /run/k2/k2.cfg -Y /run/k2 >/run/k2/log 2>&1 </dev/null",
    ]);
    let k2 = b.ok(&["cat", "/run/k2/k2.pid"]).trim().to_string();
    let (code, _, err) = b.kmemdbg(&["convert", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("PID {k2}:"))
            && err.contains(&format!("PID {}:", b.main_pid("kamailio"))),
        "{err}"
    );
    b.ok(&["kill", &k2]);
    assert_eq!(std::fs::read(DEBIAN_CFG).expect("cfg"), cfg0);

    // Nothing runs: the unit and its environment still say what would run.
    b.ok(&["systemctl", "stop", "kamailio"]);
    let (code, out, err) = b.kmemdbg(&["convert", "--check"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("restart  PENDING"), "{out}");
    assert_eq!(std::fs::read(DEBIAN_CFG).expect("cfg"), cfg0);
}

/// A guard whose process "dies" before restoring (the guard is leaked):
/// its persisted record lets the next one put every byte back.
#[test]
fn etc_guard_record_survives_a_killed_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("etc");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::write(root.join("a.conf"), "a=1\n").expect("write");
    let record = dir.path().join("pending.json");
    let mut g = sdbox::EtcGuard::persisted(&record);
    g.watch(&root);
    g.write(root.join("a.conf"), "changed\n");
    g.write(root.join("d/new.conf"), "new\n");
    std::mem::forget(g);
    assert!(record.exists());
    let touched = sdbox::EtcGuard::recover(&record);
    assert_eq!(touched.len(), 3, "{touched:?}");
    assert_eq!(
        std::fs::read_to_string(root.join("a.conf")).expect("a"),
        "a=1\n"
    );
    assert!(!root.join("d").exists());
    assert!(!record.exists());
    assert!(sdbox::EtcGuard::recover(&record).is_empty());
}
