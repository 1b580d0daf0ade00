//! A real systemd as PID 1 of its own pid/mount/uts/net namespaces, for
//! tests of services and journald ("sd box").
//!
//! How to use it (in a test file under `tests/`):
//!
//! ```ignore
//! mod common;                       // sdbox uses common::require_real
//! #[path = "support/sdbox.rs"]
//! mod sdbox;
//!
//! #[test]
//! fn real_systemd_something() {
//!     let Some(mut b) = sdbox::SdBox::boot("real_systemd_something") else { return };
//!     b.etc.write("/etc/systemd/system/kamailio.service.d/x.conf", "[Service]\n...");
//!     b.ok(&["systemctl", "daemon-reload"]);
//!     b.ok(&["systemctl", "restart", "kamailio"]);
//!     let log = b.ok(&["journalctl", "-u", "kamailio", "-o", "cat", "--no-pager"]);
//!     let (code, out, err) = b.kmemdbg(&["dump", "--json"]);   // kmemdbg run inside the box
//! }   // drop: the box is killed by PID, then every watched host file is restored
//! ```
//!
//! What a box is: `unshare --pid --fork --mount-proc --mount --uts --net`
//! running `/lib/systemd/systemd --system`, with private tmpfs on `/run`,
//! `/tmp`, `/var/tmp` and `/var/log/journal` (its own journal; systemd-tmpfiles
//! empties `/tmp` at boot and must never see the host's), `lo` up. Commands run
//! inside with `nsenter -t PID -a`. Debian's `kamailio.service` is enabled on
//! the host (multi-user.target.wants), so it starts at boot inside the box, in
//! the box's own network namespace (only `lo`). Host paths other than those
//! tmpfs are shared: a file a test puts in `/tmp` on the host is NOT visible
//! inside; use [`SdBox::put`] for box-private files, [`EtcGuard`] for `/etc`.
//!
//! What it guarantees:
//! - one box at a time on the machine: the flock `/tmp/kmemdbg-sdbox.lock` is
//!   held for the box's whole life (boxes share the host's `/etc`), and tests
//!   of one test binary serialize on a static mutex first;
//! - every host file under the watched trees (`/etc/systemd/system`,
//!   `/etc/kamailio`, `/etc/default`, `/etc/sysconfig`, the
//!   `/usr/lib` drop-in dirs of kamailio, plus whatever the test adds with
//!   [`EtcGuard::watch`]) is restored byte for byte (mode, owner, mtime; files
//!   the test or kmemdbg created are removed) when the box drops, also on panic;
//!   the record is kept in [`PENDING_PATH`] meanwhile, so that if the test
//!   process is killed before its drop, the next box restores it first;
//! - readiness is polled (`systemctl is-system-running` says running or
//!   degraded), never slept for; the box is killed by its PID 1 on drop (the
//!   kernel ends every process of its pid namespace), and also when the test
//!   process dies without dropping it (unshare gets `PR_SET_PDEATHSIG`, its
//!   `--kill-child` passes the kill on to the box's PID 1);
//! - without unshare/nsenter/systemd/root the test is skipped with a reason,
//!   and FAILS under `KMEMDBG_REQUIRE_REAL=1`.
//!
//! What it must never do: end a process it did not start, or leave a host
//! file changed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// The machine-wide lock every sd box holds for its whole life.
pub const LOCK_PATH: &str = "/tmp/kmemdbg-sdbox.lock";
const BOOT_LIMIT: Duration = Duration::from_secs(90);
/// Upper bound of one command run inside the box.
const COMMAND_SECONDS: &str = "300";

static SERIAL: Mutex<()> = Mutex::new(());

/// Host trees every box watches (restored on drop).
pub const DEFAULT_WATCHED: &[&str] = &[
    "/etc/systemd/system",
    "/etc/kamailio",
    // Whole directories: kmemdbg keeps NAME.kmemdbg-orig beside each file it changes.
    "/etc/default",
    "/etc/sysconfig",
    "/usr/lib/systemd/system/kamailio.service.d",
    "/usr/lib/systemd/system/service.d",
    "/etc/systemd/system.control",
];

/// The outcome of one command run inside the box.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct SdBox {
    /// PID (in the host's pid namespace) of the box's systemd, its PID 1.
    pub pid: u32,
    /// Host files the test changes: restored after the box is gone.
    pub etc: EtcGuard,
    wrapper: Option<Child>,
    kmemdbg_bin: PathBuf,
    _lock: File,
    _serial: MutexGuard<'static, ()>,
}

/// Why a box cannot run here, or None when everything it needs is present.
fn missing_prerequisite() -> Option<String> {
    for prog in ["unshare", "nsenter", "timeout", "ip", "kill"] {
        if !crate::common::have_program(prog) {
            return Some(format!("{prog} (util-linux / coreutils / iproute2)"));
        }
    }
    if !Path::new("/lib/systemd/systemd").is_file() {
        return Some("systemd (/lib/systemd/systemd)".into());
    }
    if !Path::new("/usr/bin/systemctl").is_file() && !crate::common::have_program("systemctl") {
        return Some("systemctl".into());
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Some("root (namespaces and a systemd PID 1)".into());
    }
    None
}

impl SdBox {
    /// Boots a box with Debian's kamailio unit, or returns None (skipped, with
    /// a printed reason) when a prerequisite is missing; panics instead under
    /// `KMEMDBG_REQUIRE_REAL=1`, and when the box does not come up.
    pub fn boot(test: &str) -> Option<SdBox> {
        let missing = missing_prerequisite();
        if !crate::common::require_real(test, missing.as_deref().unwrap_or(""), missing.is_none()) {
            return None;
        }
        if !crate::common::require_real(
            test,
            "Debian's kamailio package (/lib/systemd/system/kamailio.service)",
            Path::new("/lib/systemd/system/kamailio.service").is_file(),
        ) {
            return None;
        }
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_PATH)
            .unwrap_or_else(|e| panic!("{LOCK_PATH}: {e}"));
        // Blocks until no other box (of any test binary or helper) runs.
        // SAFETY: flock on an fd this File owns; released when it closes.
        let rc =
            unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        assert_eq!(
            rc,
            0,
            "flock {LOCK_PATH}: {}",
            std::io::Error::last_os_error()
        );
        // A box whose test process was killed left its record: repair first.
        let repaired = EtcGuard::recover(PENDING_PATH);
        if !repaired.is_empty() {
            eprintln!(
                "sdbox: {test}: restored host files a killed earlier box had changed: {repaired:?}"
            );
        }
        let mut etc = EtcGuard::persisted(PENDING_PATH);
        for p in DEFAULT_WATCHED {
            etc.watch(p);
        }
        let mut b = SdBox {
            pid: 0,
            etc,
            wrapper: None,
            kmemdbg_bin: PathBuf::from(env!("CARGO_BIN_EXE_kmemdbg")),
            _lock: lock,
            _serial: serial,
        };
        b.start(test);
        Some(b)
    }

    fn start(&mut self, test: &str) {
        let err_log = tempfile::NamedTempFile::new().expect("temp file for the box's stderr");
        let err_file = err_log.reopen().expect("reopen temp file");
        // Inside: private tmpfs first, then systemd replaces the shell.
        let script = "set -e; \
            for d in /run /tmp /var/tmp; do mount -t tmpfs -o mode=0755 tmpfs $d; done; \
            chmod 1777 /tmp /var/tmp; \
            if [ -d /var/log/journal ]; then mount -t tmpfs -o mode=2755,gid=systemd-journal tmpfs /var/log/journal 2>/dev/null \
               || mount -t tmpfs -o mode=2755 tmpfs /var/log/journal; fi; \
            mkdir -p /run/lock; hostname kmemdbg-sdbox; \
            exec /lib/systemd/systemd --system --log-target=null --show-status=no";
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--mount",
            "--uts",
            "--net",
        ])
        .args(["env", "container=other", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        // If the test process dies without dropping the box (killed, or a
        // panic that aborts), the kernel kills unshare, whose --kill-child
        // kills the box's PID 1, which ends the whole pid namespace.
        // SAFETY: prctl is async-signal-safe; nothing else runs in pre_exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn unshare");
        let wrapper_pid = child.id();
        self.wrapper = Some(child);
        let start = Instant::now();
        let mut last = String::new();
        loop {
            if start.elapsed() > BOOT_LIMIT {
                let err = std::fs::read_to_string(err_log.path()).unwrap_or_default();
                panic!("{test}: the sd box did not reach running/degraded in {BOOT_LIMIT:?} (last state {last:?}); stderr: {err}");
            }
            if let Some(w) = self.wrapper.as_mut() {
                if let Ok(Some(st)) = w.try_wait() {
                    let err = std::fs::read_to_string(err_log.path()).unwrap_or_default();
                    panic!("{test}: the sd box ended during boot ({st}); stderr: {err}");
                }
            }
            if self.pid == 0 {
                // unshare -> systemd (the namespace's PID 1).
                if let Some(init) = children_of(wrapper_pid).first().copied() {
                    if comm(init).as_deref() == Some("systemd") {
                        self.pid = init;
                    }
                }
            }
            if self.pid != 0 {
                let o = self.run(&["systemctl", "is-system-running"]);
                last = o.stdout.trim().to_string();
                if last == "running" || last == "degraded" {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.ok(&["ip", "link", "set", "lo", "up"]);
        eprintln!(
            "sdbox: {test}: systemd PID {} {last} after {:.1} s",
            self.pid,
            start.elapsed().as_secs_f64()
        );
    }

    /// Runs `args` inside every namespace of the box (bounded in time).
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_with_input(args, None)
    }

    /// Like [`run`](Self::run) with `input` on stdin.
    pub fn run_with_input(&self, args: &[&str], input: Option<&[u8]>) -> Out {
        let pid = self.pid.to_string();
        let mut cmd = Command::new("timeout");
        cmd.args([COMMAND_SECONDS, "nsenter", "-t", &pid, "-a"])
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("SYSTEMD_PAGER", "")
            .env("SYSTEMD_COLORS", "0");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("nsenter {args:?}: {e}"));
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(bytes);
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("nsenter {args:?}: {e}"));
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `args` inside and panics (with its output) unless it exits 0;
    /// returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "in the sd box: {args:?} failed: {o:?}");
        o.stdout
    }

    /// Runs a shell script inside the box.
    pub fn sh(&self, script: &str) -> Out {
        self.run(&["sh", "-c", script])
    }

    /// Writes a box-private file (under `/run`, `/tmp` or `/var/tmp`), e.g. a
    /// fixture kmemdbg must read from inside. Not for host paths: use `etc`.
    pub fn put(&self, path: &str, text: &str) {
        let o = self.run_with_input(
            &[
                "sh",
                "-c",
                "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"",
                "sh",
                path,
            ],
            Some(text.as_bytes()),
        );
        assert_eq!(o.code, 0, "writing {path} in the sd box: {o:?}");
    }

    /// Runs the kmemdbg binary under test inside the box: (code, stdout, stderr).
    pub fn kmemdbg(&self, args: &[&str]) -> (i32, String, String) {
        let bin = self.kmemdbg_in_box();
        let mut all = vec![bin.as_str()];
        all.extend_from_slice(args);
        let o = self.run(&all);
        (o.code, o.stdout, o.stderr)
    }

    /// The binary's path as seen inside: the host path, unless it sits under
    /// a directory the box hides behind its own tmpfs; then a copy in /run.
    fn kmemdbg_in_box(&self) -> String {
        let host = self.kmemdbg_bin.to_string_lossy().into_owned();
        let hidden = ["/run/", "/tmp/", "/var/tmp/"]
            .iter()
            .any(|p| host.starts_with(p));
        if !hidden {
            return host;
        }
        let inside = "/run/kmemdbg-test/kmemdbg";
        let bytes = std::fs::read(&self.kmemdbg_bin).expect("read the kmemdbg binary");
        let o = self.run_with_input(
            &[
                "sh",
                "-c",
                "mkdir -p /run/kmemdbg-test && cat > \"$1\" && chmod 0755 \"$1\"",
                "sh",
                inside,
            ],
            Some(&bytes),
        );
        assert_eq!(o.code, 0, "copying kmemdbg into the sd box: {o:?}");
        inside.to_string()
    }

    /// `systemctl show -p PROP --value UNIT`, trimmed.
    pub fn show(&self, unit: &str, prop: &str) -> String {
        self.ok(&["systemctl", "show", "-p", prop, "--value", unit])
            .trim()
            .to_string()
    }

    /// Polls until `unit` is active (true) or failed/limit reached (false).
    pub fn wait_active(&self, unit: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            let state = self.run(&["systemctl", "is-active", unit]).stdout;
            match state.trim() {
                "active" => return true,
                "failed" => return false,
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        false
    }

    /// The unit's main PID (as seen inside the box), 0 when none.
    pub fn main_pid(&self, unit: &str) -> u32 {
        self.show(unit, "MainPID").parse().unwrap_or(0)
    }

    /// The argv of process `pid` inside the box (from its /proc/PID/cmdline).
    pub fn cmdline(&self, pid: u32) -> Vec<String> {
        let raw = self.ok(&["cat", &format!("/proc/{pid}/cmdline")]);
        raw.split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Every line the box's journald holds for `unit`, message text only.
    pub fn journal(&self, unit: &str) -> String {
        self.ok(&["journalctl", "-u", unit, "-o", "cat", "--no-pager"])
    }

    fn stop(&mut self) {
        let t = Instant::now();
        if self.pid != 0 {
            // SIGKILL to a pid namespace's init ends every process inside it.
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        if let Some(mut w) = self.wrapper.take() {
            let start = Instant::now();
            loop {
                match w.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if start.elapsed() < Duration::from_secs(20) => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        let _ = w.kill();
                        let _ = w.wait();
                        break;
                    }
                }
            }
        }
        self.pid = 0;
        eprintln!("sdbox: stopped in {:.1} s", t.elapsed().as_secs_f64());
    }
}

impl Drop for SdBox {
    fn drop(&mut self) {
        self.stop();
        let restored = self.etc.restore();
        if !restored.is_empty() {
            eprintln!(
                "sdbox: restored {} host path(s): {restored:?}",
                restored.len()
            );
        }
        // The flock and the mutex are released when the fields drop, after this.
    }
}

/// PIDs whose parent is `ppid` (from /proc/*/stat).
fn children_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "PID (comm) STATE PPID ...": comm may hold spaces, so cut at the last ')'.
        let parent = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if parent == Some(ppid) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// One path's recorded state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Entry {
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    File {
        bytes: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
        mtime: SystemTime,
    },
    Link(PathBuf),
}

/// Records host trees and puts them back byte for byte on `restore` (called
/// by [`SdBox`]'s drop; also on its own drop, so a guard alone restores on
/// panic too).
#[derive(Default)]
pub struct EtcGuard {
    /// root -> (path -> entry); an absent root maps to an empty record.
    trees: BTreeMap<PathBuf, BTreeMap<PathBuf, Entry>>,
    /// Where the record is kept on disk while the guard lives, so that a
    /// test process killed before its drop is repaired by the next box.
    persist: Option<PathBuf>,
}

/// The record of a box whose test process died before restoring (host path,
/// outside the box's private /var/tmp).
pub const PENDING_PATH: &str = "/var/tmp/kmemdbg-sdbox-pending.json";

impl EtcGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// A guard that keeps its record in `path` until it has restored.
    pub fn persisted(path: impl AsRef<Path>) -> Self {
        EtcGuard {
            trees: BTreeMap::new(),
            persist: Some(path.as_ref().to_path_buf()),
        }
    }

    /// Puts back what a guard persisted in `path` and never restored (its
    /// process was killed); returns the paths it touched. Nothing to do
    /// when `path` does not exist.
    pub fn recover(path: impl AsRef<Path>) -> Vec<PathBuf> {
        let path = path.as_ref();
        let Ok(bytes) = std::fs::read(path) else {
            return Vec::new();
        };
        let trees: BTreeMap<PathBuf, BTreeMap<PathBuf, Entry>> = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: unreadable record of a killed sd box ({e}); check the host files it lists, then remove it",
                    path.display()
                )
            });
        let mut g = EtcGuard {
            trees,
            persist: Some(path.to_path_buf()),
        };
        g.restore()
    }

    fn save(&self) {
        let Some(p) = &self.persist else { return };
        let json = serde_json::to_vec(&self.trees).expect("serialize the sd box record");
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::write(&tmp, json)
            .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)))
            .and_then(|_| std::fs::rename(&tmp, p));
        if let Err(e) = written {
            panic!("cannot keep the sd box record in {}: {e}", p.display());
        }
    }

    /// Records `root` (a file, a symlink, a directory tree, or nothing yet)
    /// now, unless it or a parent is already watched.
    pub fn watch(&mut self, root: impl AsRef<Path>) {
        let root = root.as_ref().to_path_buf();
        if self.trees.keys().any(|r| root.starts_with(r)) {
            return;
        }
        let mut rec = BTreeMap::new();
        record(&root, &mut rec);
        self.trees.insert(root, rec);
        self.save();
    }

    /// Writes `text` to host `path` (creating parent directories), after
    /// watching it when no watched tree covers it yet.
    pub fn write(&mut self, path: impl AsRef<Path>, text: &str) {
        let path = path.as_ref();
        self.watch(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Removes host `path` (file or tree), after watching it.
    pub fn remove(&mut self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        self.watch(path);
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
            Ok(_) => std::fs::remove_file(path),
            Err(_) => Ok(()),
        }
        .unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }

    /// Paths under the watched trees that differ from the record now.
    pub fn changed(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for (root, rec) in &self.trees {
            let mut now = BTreeMap::new();
            record(root, &mut now);
            for (p, e) in &now {
                if rec.get(p) != Some(e) {
                    out.push(p.clone());
                }
            }
            for p in rec.keys() {
                if !now.contains_key(p) {
                    out.push(p.clone());
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Puts every watched tree back as recorded; returns the paths it had to
    /// touch. Never panics (it runs in drop, maybe while unwinding).
    pub fn restore(&mut self) -> Vec<PathBuf> {
        let mut touched = Vec::new();
        for (root, rec) in &self.trees {
            let mut now = BTreeMap::new();
            record(root, &mut now);
            // Remove what was not there, or is of another kind: deepest first.
            let mut extra: Vec<&PathBuf> = now
                .iter()
                .filter(|(p, e)| match rec.get(*p) {
                    None => true,
                    Some(old) => std::mem::discriminant(old) != std::mem::discriminant(*e),
                })
                .map(|(p, _)| p)
                .collect();
            extra.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
            for p in extra {
                let gone = match std::fs::symlink_metadata(p) {
                    Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
                    Ok(_) => std::fs::remove_file(p),
                    Err(_) => Ok(()),
                };
                if let Err(e) = gone {
                    eprintln!("sdbox: could not remove {}: {e}", p.display());
                }
                touched.push(p.clone());
            }
            // Recreate or rewrite what differs: shallowest first.
            for (p, old) in rec {
                let mut cur = BTreeMap::new();
                record_one(p, &mut cur);
                if cur.get(p) == Some(old) {
                    continue;
                }
                if let Err(e) = put_back(p, old) {
                    eprintln!("sdbox: could not restore {}: {e}", p.display());
                }
                touched.push(p.clone());
            }
        }
        touched.sort();
        touched.dedup();
        if let Some(p) = &self.persist {
            if self.changed().is_empty() {
                let _ = std::fs::remove_file(p);
            } else {
                eprintln!(
                    "sdbox: some host files could not be restored; their record stays in {}",
                    p.display()
                );
            }
        }
        touched
    }
}

impl Drop for EtcGuard {
    fn drop(&mut self) {
        let restored = self.restore();
        if !restored.is_empty() {
            eprintln!("sdbox: restored {restored:?}");
        }
    }
}

fn record(path: &Path, into: &mut BTreeMap<PathBuf, Entry>) {
    record_one(path, into);
    if let Some(Entry::Dir { .. }) = into.get(path) {
        if let Ok(dir) = std::fs::read_dir(path) {
            for e in dir.flatten() {
                record(&e.path(), into);
            }
        }
    }
}

fn record_one(path: &Path, into: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return;
    };
    let entry = if m.file_type().is_symlink() {
        match std::fs::read_link(path) {
            Ok(t) => Entry::Link(t),
            Err(_) => return,
        }
    } else if m.is_dir() {
        Entry::Dir {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        }
    } else {
        match std::fs::read(path) {
            Ok(bytes) => Entry::File {
                bytes,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            },
            Err(_) => return,
        }
    };
    into.insert(path.to_path_buf(), entry);
}

fn put_back(path: &Path, old: &Entry) -> std::io::Result<()> {
    match old {
        Entry::Dir { mode, uid, gid } => {
            if !path.is_dir() {
                std::fs::create_dir_all(path)?;
            }
            std::os::unix::fs::chown(path, Some(*uid), Some(*gid))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
        }
        Entry::File {
            bytes,
            mode,
            uid,
            gid,
            mtime,
        } => {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(path)?;
            }
            std::fs::write(path, bytes)?;
            std::os::unix::fs::chown(path, Some(*uid), Some(*gid))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))?;
            set_mtime(path, *mtime)
        }
        Entry::Link(target) => {
            if std::fs::symlink_metadata(path).is_ok() {
                std::fs::remove_file(path)?;
            }
            std::os::unix::fs::symlink(target, path)
        }
    }
}

fn set_mtime(path: &Path, mtime: SystemTime) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let d = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        },
    ];
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a NUL-terminated path and a two-element timespec array.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
