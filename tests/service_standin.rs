//! systemd and SysV paths with recorded stand-ins: PID 1 is not systemd
//! here, so `systemctl` and `service` on PATH are small scripts that record
//! every call. The systemd stand-in's `restart` plays systemd for a
//! Type=forking unit (stop the PID in PIDFile, Environment= then
//! EnvironmentFile=, the last ExecStart= of the unit and its drop-ins) and
//! starts a real kamailio; the `service` stand-in runs a copy of Debian's
//! real init script. The tests assert the exact commands, the drop-in's
//! contents and the rollback order.

mod common;
#[path = "support/daemon.rs"]
mod daemon;

use common::{debian_kamailio, kmemdbg};
use daemon::{alive, cmdline, default_style_cfg, free_port, wait_for};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SYSTEMCTL: &str = r##"#!/bin/sh
# Recorded stand-in for systemctl (PID 1 is not systemd on this machine).
S="$STANDIN_DIR"
echo "systemctl $*" >> "$S/calls"
case "$1" in
  cat)
    echo "# $S/unit/$2"; cat "$S/unit/$2"
    for f in "$KMEMDBG_SYSTEMD_DIR/$2.d"/*.conf; do
      if [ -f "$f" ]; then echo; echo "# $f"; cat "$f"; fi
    done ;;
  show)
    cat "$S/run/kamailio.pid" 2>/dev/null || echo 0 ;;
  daemon-reload)
    for f in "$KMEMDBG_SYSTEMD_DIR"/*.d/*.conf; do
      if [ -f "$f" ]; then echo "--- $f" >> "$S/calls"; cat "$f" >> "$S/calls"; fi
    done ;;
  restart)
    exec sh "$S/mini-systemd" "$2" ;;
  *) exit 1 ;;
esac
"##;

/// Plays systemd's restart of a Type=forking unit, for the stand-in.
const MINI_SYSTEMD: &str = r##"#!/bin/sh
S="$STANDIN_DIR"; U="$S/unit/$1"
if [ -f "$S/run/kamailio.pid" ]; then
  P=$(cat "$S/run/kamailio.pid"); kill -TERM "$P" 2>/dev/null
  i=0; while kill -0 "$P" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
fi
set -a
eval "$(sed -n "s/^Environment='\(.*\)'$/\1/p" "$U")"
for f in $(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$U"); do [ -f "$f" ] && . "$f"; done
set +a
line=$(cat "$U" "$KMEMDBG_SYSTEMD_DIR/$1.d"/*.conf 2>/dev/null | sed -n 's/^ExecStart=//p' | grep -v '^$' | tail -1)
if [ -n "$STANDIN_FAIL_WITH_DROPIN" ] && ls "$KMEMDBG_SYSTEMD_DIR/$1.d"/*.conf >/dev/null 2>&1; then
  echo "stand-in: start refused (drop-in present)" >> "$S/kamailio.log"; exit 1
fi
eval "set -- $line"
"$@" </dev/null >>"$S/kamailio.log" 2>&1
"##;

const SERVICE: &str = r##"#!/bin/sh
# Recorded stand-in for service(8): runs the init script like the real one.
echo "service $*" >> "$STANDIN_DIR/calls"
exec sh "$KMEMDBG_INITD_DIR/$1" "$2"
"##;

const NO_SYSTEMD: &str = "#!/bin/sh\necho \"System has not been booted with systemd as init system (PID 1). Can't operate.\" >&2\nexit 1\n";

struct Box_ {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl Box_ {
    fn new() -> Box_ {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        for d in ["bin", "unit", "run", "systemd", "initd", "default.d"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let port = free_port();
        std::fs::write(dir.join("kamailio.cfg"), default_style_cfg(port)).unwrap();
        std::fs::write(dir.join("calls"), "").unwrap();
        Box_ {
            bin: dir.join("bin"),
            _tmp: tmp,
            dir,
            port,
        }
    }
    fn script(&self, name: &str, text: &str) {
        let p = self.bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
    fn s(&self, rel: &str) -> String {
        self.p(rel).display().to_string()
    }
    fn cmd(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = kmemdbg();
        c.args(args)
            .env("PATH", path)
            .env("STANDIN_DIR", &self.dir)
            .env("KMEMDBG_SYSTEMD_DIR", self.p("systemd"))
            .env("KMEMDBG_INITD_DIR", self.p("initd"))
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.p("run/kamailio.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
    /// Calls that change something (cat/show are reads).
    fn changing_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.p("calls"))
            .unwrap()
            .lines()
            .filter(|l| {
                (l.starts_with("systemctl ") || l.starts_with("service "))
                    && !l.starts_with("systemctl cat")
                    && !l.starts_with("systemctl show")
            })
            .map(String::from)
            .collect()
    }
    fn clear_calls(&self) {
        std::fs::write(self.p("calls"), "").unwrap();
    }
    fn answers(&self) -> bool {
        kmemdbg::sip::options(
            format!("127.0.0.1:{}", self.port).parse().unwrap(),
            Duration::from_secs(3),
        )
        .is_ok()
    }
    fn up(&self) -> bool {
        wait_for(Duration::from_secs(20), || {
            self.pid().is_some_and(alive) && daemon::udp_bound(self.port)
        })
    }

    /// Debian's unit and defaults, with paths moved into this box.
    fn systemd(&self) {
        self.script("systemctl", SYSTEMCTL);
        std::fs::write(self.p("mini-systemd"), MINI_SYSTEMD).unwrap();
        let unit = std::fs::read_to_string("/lib/systemd/system/kamailio.service").unwrap();
        assert!(
            unit.contains("EnvironmentFile=-/etc/default/kamailio\n"),
            "Debian's unit changed shape"
        );
        let unit = unit
            .replace("/etc/kamailio/kamailio.cfg", &self.s("kamailio.cfg"))
            .replace(
                "EnvironmentFile=-/etc/default/kamailio.d/*",
                &format!("EnvironmentFile=-{}/*", self.s("default.d")),
            )
            .replace(
                "EnvironmentFile=-/etc/default/kamailio",
                &format!("EnvironmentFile=-{}", self.s("default")),
            )
            .replace("/run/kamailio/kamailio.pid", &self.s("run/kamailio.pid"))
            .replace(
                "-M $PKG_MEMORY\n",
                &format!("-M $PKG_MEMORY -Y {} -E\n", self.s("run")),
            );
        std::fs::write(self.p("unit/kamailio.service"), unit).unwrap();
        std::fs::copy("/etc/default/kamailio", self.p("default")).unwrap();
        let st = Command::new("sh")
            .arg(self.p("mini-systemd"))
            .arg("kamailio.service")
            .env("STANDIN_DIR", &self.dir)
            .env("KMEMDBG_SYSTEMD_DIR", self.p("systemd"))
            .status()
            .unwrap();
        assert!(
            st.success() && self.up(),
            "first start failed: {}",
            std::fs::read_to_string(self.p("kamailio.log")).unwrap_or_default()
        );
    }
}

impl Drop for Box_ {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if alive(pid) && exe.file_name().is_some_and(|n| n == "kamailio") {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
                wait_for(Duration::from_secs(15), || !alive(pid));
            }
        }
    }
}

fn has_pair(argv: &[String], a: &str, b: &str) -> bool {
    argv.windows(2).any(|w| w[0] == a && w[1] == b)
}

fn real(test: &str) -> bool {
    debian_kamailio(test).is_some()
        && common::require_real(
            test,
            "Debian's systemd unit and init script",
            Path::new("/lib/systemd/system/kamailio.service").is_file()
                && Path::new("/etc/init.d/kamailio").is_file(),
        )
}

#[test]
fn standin_systemd_restart_writes_dropin_then_revert_removes_it() {
    if !real("standin_systemd_restart_writes_dropin_then_revert_removes_it") {
        return;
    }
    let b = Box_::new();
    b.systemd();
    b.clear_calls();
    let (code, out, err) = b.cmd(&["restart", "--service", "kamailio", "--yes"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let dropin = b.p("systemd/kamailio.service.d/kmemdbg.conf");
    let expected = format!(
        "# Written by kmemdbg for kamailio.service: -x qm.\n# Undo: kmemdbg revert (or delete this file, then systemctl daemon-reload).\n[Service]\nExecStart=\nExecStart=/usr/sbin/kamailio -P {run}/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY -Y {run} -E -x qm\n",
        run = b.s("run")
    );
    assert_eq!(std::fs::read_to_string(&dropin).unwrap(), expected);
    assert_eq!(
        b.changing_calls(),
        [
            "systemctl daemon-reload",
            "systemctl restart kamailio.service"
        ]
    );
    let calls = std::fs::read_to_string(b.p("calls")).unwrap();
    assert!(
        calls.contains(&format!("--- {}\n{expected}", dropin.display())),
        "daemon-reload saw the drop-in: {calls}"
    );
    assert!(
        calls.starts_with("systemctl cat kamailio.service\n"),
        "{calls}"
    );
    let argv = cmdline(b.pid().unwrap());
    assert!(
        has_pair(&argv, "-x", "qm") && has_pair(&argv, "-m", "64"),
        "{argv:?}"
    );
    assert!(b.answers());

    b.clear_calls();
    let (code, out, err) = b.cmd(&["revert", "--service", "kamailio", "--yes"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!dropin.exists() && !b.p("systemd/kamailio.service.d").exists());
    assert_eq!(
        b.changing_calls(),
        [
            "systemctl daemon-reload",
            "systemctl restart kamailio.service"
        ]
    );
    assert!(!cmdline(b.pid().unwrap()).iter().any(|a| a == "-x"));
}

#[test]
fn standin_systemd_failed_start_rolls_back_in_order() {
    if !real("standin_systemd_failed_start_rolls_back_in_order") {
        return;
    }
    let b = Box_::new();
    b.systemd();
    b.clear_calls();
    let (code, out, err) = b.cmd(
        &[
            "restart",
            "--service",
            "kamailio",
            "--yes",
            "--timeout",
            "10",
        ],
        &[("STANDIN_FAIL_WITH_DROPIN", "1")],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("the previous setup runs again and is healthy"),
        "{out}"
    );
    // Order: reload with the drop-in, failed restart, drop-in removed, reload without it, restart.
    assert_eq!(
        b.changing_calls(),
        [
            "systemctl daemon-reload",
            "systemctl restart kamailio.service",
            "systemctl daemon-reload",
            "systemctl restart kamailio.service"
        ]
    );
    let calls = std::fs::read_to_string(b.p("calls")).unwrap();
    let reloads: Vec<&str> = calls.split("systemctl daemon-reload\n").collect();
    assert!(
        reloads[1].contains("--- "),
        "first reload saw the drop-in: {calls}"
    );
    assert!(
        !reloads[2].contains("--- "),
        "second reload saw none: {calls}"
    );
    assert!(!b.p("systemd/kamailio.service.d").exists());
    assert!(!cmdline(b.pid().unwrap()).iter().any(|a| a == "-x"));
    assert!(b.answers());
}

#[test]
fn standin_systemd_size_on_debian_defaults_copy() {
    if !real("standin_systemd_size_on_debian_defaults_copy") {
        return;
    }
    let b = Box_::new();
    b.systemd();
    // Memory-debug run-time option first, so size only touches sizes.
    let (code, out, err) = b.cmd(&["restart", "--service", "kamailio", "--yes"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    b.clear_calls();
    let original = std::fs::read_to_string("/etc/default/kamailio").unwrap();
    let (code, out, err) = b.cmd(
        &["size", "--shm", "128", "--service", "kamailio", "--yes"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let now = std::fs::read_to_string(b.p("default")).unwrap();
    assert_eq!(
        now,
        original.replacen("#SHM_MEMORY=64\n", "#SHM_MEMORY=64\nSHM_MEMORY=128\n", 1)
    );
    assert_eq!(
        std::fs::read(b.p("default.kmemdbg-orig")).unwrap(),
        original.as_bytes()
    );
    assert_eq!(
        b.changing_calls(),
        ["systemctl restart kamailio.service"],
        "no daemon-reload for an options file"
    );
    assert!(has_pair(&cmdline(b.pid().unwrap()), "-m", "128"));

    // A pkg pool too small for the cfg: passes kamailio -c, cannot start, rolled back.
    b.clear_calls();
    let (code, out, err) = b.cmd(
        &[
            "size",
            "--pkg",
            "1",
            "--service",
            "kamailio",
            "--yes",
            "--timeout",
            "10",
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("pre-flight ok"), "{out}");
    assert_eq!(
        std::fs::read_to_string(b.p("default")).unwrap(),
        now,
        "byte for byte the 128 MB version"
    );
    assert_eq!(
        b.changing_calls(),
        [
            "systemctl restart kamailio.service",
            "systemctl restart kamailio.service"
        ]
    );
    let argv = cmdline(b.pid().unwrap());
    assert!(
        has_pair(&argv, "-M", "8") && has_pair(&argv, "-m", "128"),
        "{argv:?}"
    );
    assert!(b.answers());
}

#[test]
fn standin_sysv_restart_edits_options_line_then_revert() {
    if !real("standin_sysv_restart_edits_options_line_then_revert") {
        return;
    }
    let b = Box_::new();
    b.script("systemctl", NO_SYSTEMD);
    b.script("service", SERVICE);
    let script = std::fs::read_to_string("/etc/init.d/kamailio").unwrap();
    for needle in [
        "HOMEDIR=/var/run/$NAME",
        "DEFAULTS=/etc/default/$NAME",
        "CFGFILE=/etc/$NAME/kamailio.cfg",
    ] {
        assert!(
            script.contains(needle),
            "Debian's init script changed shape: {needle}"
        );
    }
    let script = script
        .replace("HOMEDIR=/var/run/$NAME", &format!("HOMEDIR={}", b.s("run")))
        .replace(
            "DEFAULTS=/etc/default/$NAME",
            &format!("DEFAULTS={}", b.s("default")),
        )
        .replace(
            "CFGFILE=/etc/$NAME/kamailio.cfg",
            &format!("CFGFILE={}", b.s("kamailio.cfg")),
        )
        .replace("-u $USER -g $GROUP\"", "-u $USER -g $GROUP -Y $HOMEDIR\"");
    std::fs::write(b.p("initd/kamailio"), &script).unwrap();
    std::fs::set_permissions(
        b.p("initd/kamailio"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let defaults = std::fs::read_to_string("/etc/default/kamailio").unwrap()
        + "RUN_KAMAILIO=yes\nUSER=root\nGROUP=root\n";
    std::fs::write(b.p("default"), &defaults).unwrap();
    let st = Command::new("sh")
        .arg(b.p("initd/kamailio"))
        .arg("start")
        .status()
        .unwrap();
    assert!(st.success() && b.up(), "init script start failed");

    let (code, out, err) = b.cmd(&["restart", "--service", "kamailio", "--yes"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let now = std::fs::read_to_string(b.p("initd/kamailio")).unwrap();
    assert_eq!(now, script.replace("-Y $HOMEDIR\"", "-Y $HOMEDIR -x qm\""));
    assert_eq!(b.changing_calls(), ["service kamailio restart"]);
    let argv = cmdline(b.pid().unwrap());
    assert!(
        has_pair(&argv, "-x", "qm") && has_pair(&argv, "-u", "root"),
        "{argv:?}"
    );
    assert!(b.answers());

    b.clear_calls();
    let (code, out, err) = b.cmd(&["revert", "--service", "kamailio", "--yes"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(b.p("initd/kamailio")).unwrap(),
        script
    );
    assert!(!b.p("initd/kamailio.kmemdbg-orig").exists());
    assert_eq!(b.changing_calls(), ["service kamailio restart"]);
    assert!(!cmdline(b.pid().unwrap()).iter().any(|a| a == "-x"));
}
