//! A kamailio started the way a test box runs it: a daemon (no -D) with
//! `-P pidfile`, logging to stderr (`-E`) into a file, with a copy of
//! Debian's default cfg listening on its own 127.0.0.1 port and its own run
//! dir (`-Y`: ctl socket, RPC fifo). Dropping the guard ends exactly the
//! PIDs this guard saw in its own pid file (kmemdbg may have restarted the
//! proxy under the same pid file), never anything found by name.
//!
//! Part of `tests/common`, whose helpers it uses; `common::Proxy` is the
//! foreground (`-DD`) guard, this the daemon one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub struct Daemon {
    pub dir: PathBuf,
    pub cfg: PathBuf,
    pub pidfile: PathBuf,
    pub rundir: PathBuf,
    pub log: PathBuf,
    pub port: u16,
    seen: std::cell::RefCell<Vec<u32>>,
}

/// Debian's default kamailio.cfg (memlog=5, debug=2 via DBGLEVEL) listening
/// on 127.0.0.1:PORT only. Everything else is the packaged file.
pub fn default_style_cfg(port: u16) -> String {
    let text =
        String::from_utf8(super::debian_cfg_bytes()).expect("Debian's kamailio.cfg is UTF-8");
    assert!(
        text.contains("# listen=udp:10.0.0.10:5060"),
        "Debian's cfg changed shape"
    );
    text.replacen(
        "# listen=udp:10.0.0.10:5060",
        &format!("listen=udp:127.0.0.1:{port}"),
        1,
    )
}

/// The port, wait and /proc helpers are common's (one copy for every test).
#[allow(unused_imports)]
pub use super::{alive, cmdline, free_udp_port as free_port, udp_bound, wait_for};

impl Daemon {
    /// Starts `binary` as a daemon with Debian's default cfg
    /// ([`default_style_cfg`]) on a free port of 127.0.0.1, in `dir`.
    pub fn start_default(binary: &Path, dir: &Path) -> Daemon {
        let port = free_port();
        Daemon::start(binary, dir, port, &default_style_cfg(port), &[])
    }

    /// Starts `binary` as a daemon with `cfg_text` and `extra` options.
    pub fn start(binary: &Path, dir: &Path, port: u16, cfg_text: &str, extra: &[&str]) -> Daemon {
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(&cfg, cfg_text).expect("write cfg");
        let d = Daemon {
            dir: dir.to_path_buf(),
            cfg,
            pidfile: dir.join("kamailio.pid"),
            rundir: dir.join("run"),
            log: dir.join("kamailio.log"),
            port,
            seen: Default::default(),
        };
        std::fs::create_dir_all(&d.rundir).expect("rundir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&d.log)
            .expect("log");
        let status = Command::new(binary)
            .arg("-E")
            .arg("-f")
            .arg(&d.cfg)
            .arg("-P")
            .arg(&d.pidfile)
            .arg("-Y")
            .arg(&d.rundir)
            .args(["-m", "64", "-M", "8"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .status()
            .expect("start kamailio");
        let up = status.success()
            && wait_for(Duration::from_secs(20), || {
                d.pid().is_some_and(alive) && udp_bound(port)
            });
        if !up {
            panic!(
                "kamailio did not come up on 127.0.0.1:{port}; log:\n{}",
                d.log_text()
            );
        }
        d
    }

    /// The PID in the pid file now (remembered for the cleanup).
    pub fn pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(&self.pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let mut seen = self.seen.borrow_mut();
        if !seen.contains(&pid) {
            seen.push(pid);
        }
        Some(pid)
    }

    pub fn argv(&self) -> Vec<String> {
        self.pid().map(cmdline).unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    pub fn ctl(&self) -> String {
        format!("unix:{}", self.rundir.join("kamailio_ctl").display())
    }

    /// Every file under the test dir except the log, pid file and run dir,
    /// with its bytes (to prove "every file as before").
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&self.dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap_or_default(),
                )
            })
            .filter(|(n, _)| {
                n != "kamailio.log" && n != "kamailio.pid" && !n.ends_with(".kmemdbg-start.log")
            })
            .collect();
        v.sort();
        v
    }

    pub fn answers(&self) -> bool {
        kmemdbg::sip::options(
            format!("127.0.0.1:{}", self.port).parse().expect("addr"),
            Duration::from_secs(3),
        )
        .is_ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.pid();
        for pid in self.seen.borrow().iter().copied() {
            super::stop_kamailio_pid(pid);
        }
    }
}
