//! The SysV path with recorded stand-ins, because it cannot run for real
//! here: no SysV init runs on this machine (and on a systemd box `service`
//! hands over to systemctl). `service` on PATH is a small script that
//! records every call and runs a copy of Debian's real init script;
//! `systemctl` on PATH says there is no systemd, as on a SysV box. The
//! systemd path runs against a real systemd instead: `tests/systemd_real.rs`.

mod common;
use common::daemon;

use common::{debian_kamailio, kmemdbg};
use daemon::{alive, cmdline, default_style_cfg, free_port, wait_for};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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
}

impl Drop for Box_ {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            common::stop_kamailio_pid(pid);
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
fn standin_sysv_service_no_sysv_init_here_restart_edits_options_line_then_revert() {
    if !real("standin_sysv_service_no_sysv_init_here_restart_edits_options_line_then_revert") {
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
