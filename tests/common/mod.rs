//! Shared test helpers: the built binary, the real-Kamailio switch, source
//! trees, free ports, and the proxy guards that end exactly the PIDs they
//! started: [`Proxy`] (foreground, `-DD`) and [`daemon::Daemon`] (a daemon
//! with a pid file, as a service runs it).
//!
//! Tests that need real Kamailio call [`require_real`]: without it they are
//! skipped with a printed reason, unless `KMEMDBG_REQUIRE_REAL=1` (set by
//! `.ci/run`), which turns a missing prerequisite into a failure.
#![allow(dead_code)]

pub mod daemon;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root (where Cargo.toml is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under tests/fixtures, as an argument for kmemdbg.
pub fn fixture(rel: &str) -> String {
    repo()
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

/// The kmemdbg binary under test.
pub fn kmemdbg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kmemdbg"))
}

/// Runs kmemdbg with `args`, returning (exit code, stdout, stderr).
pub fn run_kmemdbg(args: &[&str]) -> (i32, String, String) {
    let out = kmemdbg()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kmemdbg");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn real_required() -> bool {
    std::env::var("KMEMDBG_REQUIRE_REAL")
        .map(|v| v == "1")
        .unwrap_or(false)
}

/// Returns false (and prints why) when `what` is missing and real tests are
/// optional; panics when they are mandatory.
pub fn require_real(test: &str, what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if real_required() {
        panic!("{test}: needs {what} (KMEMDBG_REQUIRE_REAL=1); run ci/install-deps.sh and ci/fetch-sources.sh");
    }
    eprintln!("SKIPPED {test}: needs {what}; run ci/install-deps.sh (and ci/fetch-sources.sh), or set KMEMDBG_REQUIRE_REAL=1 to make this a failure");
    false
}

/// True when `KMEMDBG_BLESS=1` asks a golden test to rewrite its file.
/// Refused (a panic) when `CI` is set: in CI a golden test always compares,
/// it never turns into a test that cannot fail.
pub fn bless_requested() -> bool {
    let asked = std::env::var("KMEMDBG_BLESS").as_deref() == Ok("1");
    assert!(
        !(asked && std::env::var_os("CI").is_some()),
        "KMEMDBG_BLESS=1 is refused when CI is set: golden files are rewritten by a person, after review"
    );
    asked
}

/// Debian's installed kamailio, when present.
pub fn debian_kamailio(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from("/usr/sbin/kamailio");
    require_real(
        test,
        "Debian's kamailio package (/usr/sbin/kamailio)",
        p.is_file(),
    )
    .then_some(p)
}

/// Debian's packaged `/etc/kamailio/kamailio.cfg`.
pub const DEBIAN_CFG: &str = "/etc/kamailio/kamailio.cfg";

/// The bytes of Debian's kamailio.cfg as the package shipped it. The sd
/// boxes of other tests (of any test binary or worktree on this machine)
/// share the host's `/etc` and change this file while they live, restoring
/// it when they end: a copy taken then is a converted cfg, not Debian's.
/// The file is taken as read when its md5 is the one dpkg recorded for the
/// conffile; otherwise it is read again under the boxes' lock (no box runs,
/// every host file is back), waiting as long as a box lives.
pub fn debian_cfg_bytes() -> Vec<u8> {
    let read = || std::fs::read(DEBIAN_CFG).unwrap_or_else(|e| panic!("{DEBIAN_CFG}: {e}"));
    let first = read();
    if packaged_md5(DEBIAN_CFG).is_some_and(|want| md5_hex(&first).as_deref() == Some(&want)) {
        return first;
    }
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open("/tmp/kmemdbg-sdbox.lock")
        .expect("open /tmp/kmemdbg-sdbox.lock");
    // SAFETY: flock on an fd this File owns; released when it closes.
    let rc = unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_SH) };
    assert_eq!(rc, 0, "flock /tmp/kmemdbg-sdbox.lock");
    read()
}

/// The md5 dpkg recorded for a conffile (`None` off Debian).
pub fn packaged_md5(path: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Conffiles}\n", "kamailio"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some(path)).then(|| w.next().map(str::to_string))?
    })
}

/// `md5sum` of `bytes` (`None` without md5sum).
pub fn md5_hex(bytes: &[u8]) -> Option<String> {
    use std::io::Write;
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(bytes).ok()?;
    let out = child.wait_with_output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string)
}

pub fn have_program(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Where ci/fetch-sources.sh unpacks Debian's source packages.
pub fn source_cache() -> PathBuf {
    std::env::var_os("KMEMDBG_SRC_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/kmemdbg/src"))
}

/// A private copy of Debian's pristine kamailio VERSION tree (e.g. "5.6.3"),
/// inside a temp dir the caller owns.
pub fn source_tree(test: &str, version: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let pristine = source_cache().join(format!("kamailio-{version}"));
    if !require_real(
        test,
        &format!(
            "the kamailio {version} source tree ({})",
            pristine.display()
        ),
        pristine.join(".kmemdbg-complete").is_file(),
    ) {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join(format!("kamailio-{version}"));
    let st = Command::new("cp")
        .arg("-a")
        .arg(&pristine)
        .arg(&dest)
        .status()
        .expect("cp");
    assert!(st.success(), "copying {} failed", pristine.display());
    Some((dir, dest))
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    // Bind port 0 and keep trying until TCP on the same number is free too.
    for _ in 0..50 {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = s.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// True when something listens on UDP 127.0.0.1:port (read from /proc/net/udp).
pub fn udp_bound(port: u16) -> bool {
    let hex = format!(":{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .map(|t| {
            t.lines().skip(1).any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| a.ends_with(&hex))
            })
        })
        .unwrap_or(false)
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let after = &s[s.rfind(')').unwrap_or(0) + 1..];
            !matches!(after.split_whitespace().next(), Some("Z") | Some("X"))
        })
        .unwrap_or(false)
}

/// The command line of `pid` (empty when it is gone).
pub fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// A kamailio started by a test, in the foreground (`-DD -E`), logging to a
/// file, with its own port, ctl socket, pid file and run dir under `dir`.
/// Dropping it sends SIGTERM to exactly that PID (then SIGKILL).
pub struct Proxy {
    pub child: Option<Child>,
    pub pid: u32,
    pub port: u16,
    pub dir: PathBuf,
    pub cfg: PathBuf,
    pub log: PathBuf,
    pub ctl: PathBuf,
}

/// A minimal cfg listening on 127.0.0.1:PORT with ctl + cfg_rpc on `ctl`,
/// answering every request with 200. `extra` goes before the route.
pub fn minimal_cfg(port: u16, ctl: &Path, extra: &str) -> String {
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nmemdbg=5\nmemlog=5\nlisten=udp:127.0.0.1:{port}\nchildren=2\n\
         loadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
         modparam(\"ctl\", \"binrpc\", \"unix:{}\")\n{extra}\nrequest_route {{\n    sl_send_reply(\"200\", \"OK\");\n    exit;\n}}\n",
        ctl.display()
    )
}

impl Proxy {
    /// Starts `binary` with `cfg_text` (written to DIR/kamailio.cfg) and
    /// `extra_args`; waits until UDP `port` is bound (up to 20 s).
    pub fn start(
        binary: &Path,
        dir: &Path,
        port: u16,
        cfg_text: &str,
        extra_args: &[&str],
    ) -> Proxy {
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(&cfg, cfg_text).expect("write cfg");
        Self::start_with_cfg(binary, dir, port, &cfg, extra_args)
    }

    pub fn start_with_cfg(
        binary: &Path,
        dir: &Path,
        port: u16,
        cfg: &Path,
        extra_args: &[&str],
    ) -> Proxy {
        let log = dir.join("kamailio.log");
        let pidfile = dir.join("kamailio.pid");
        let rundir = dir.join("run");
        std::fs::create_dir_all(&rundir).expect("rundir");
        let logf = std::fs::File::create(&log).expect("log");
        let child = Command::new(binary)
            .args(["-DD", "-E", "-f"])
            .arg(cfg)
            .arg("-P")
            .arg(&pidfile)
            .arg("-Y")
            .arg(&rundir)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("clone"))
            .stderr(logf)
            .spawn()
            .expect("spawn kamailio");
        let pid = child.id();
        let mut p = Proxy {
            child: Some(child),
            pid,
            port,
            dir: dir.to_path_buf(),
            cfg: cfg.to_path_buf(),
            log,
            ctl: dir.join("kamailio_ctl"),
        };
        let up = wait_for(Duration::from_secs(20), || udp_bound(port) || !p.alive());
        if !up || !p.alive() {
            let log = std::fs::read_to_string(&p.log).unwrap_or_default();
            panic!("kamailio did not come up on 127.0.0.1:{port}; log:\n{log}");
        }
        p
    }

    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// SIGTERM, wait up to 15 s (the shutdown dump happens here), then SIGKILL.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Ends a child this test started: SIGTERM, up to 15 s to exit (a proxy
/// prints its shutdown dump then), then SIGKILL; reaped either way.
pub fn stop_child(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    if wait_for(Duration::from_secs(15), || {
        matches!(child.try_wait(), Ok(Some(_)))
    }) {
        return;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Ends a kamailio this test started but holds no handle of (a daemon):
/// only when `pid` still runs a binary named kamailio (a PID reused by
/// another program is left alone); SIGTERM, up to 15 s, then SIGKILL.
pub fn stop_kamailio_pid(pid: u32) {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    if !alive(pid) || !exe.file_name().is_some_and(|n| n == "kamailio") {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    if !wait_for(Duration::from_secs(15), || !alive(pid)) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
}

/// Debian's kamailio and sipp, for a test that sends SIP load (`None`:
/// skipped, or a failure under `KMEMDBG_REQUIRE_REAL=1`).
pub fn kamailio_and_sipp(test: &str) -> Option<PathBuf> {
    let bin = debian_kamailio(test)?;
    require_real(
        test,
        "sipp (apt-get install sip-tester)",
        have_program("sipp"),
    )
    .then_some(bin)
}

/// Runs kmemdbg with `args` and `env`, sends it SIGINT once `ready` (given
/// the stderr so far) says so, and returns (exit code, stdout, stderr).
pub fn interrupt_when(
    args: &[&str],
    env: &[(&str, &str)],
    what: &str,
    ready: &mut dyn FnMut(&str) -> bool,
) -> (i32, String, String) {
    let mut child = kmemdbg()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let acc = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let acc2 = acc.clone();
    // Read stderr to its end (closing it early would break kmemdbg's writes).
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            acc2.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let ok = wait_for(Duration::from_secs(900), || {
        let text = acc.lock().unwrap().clone();
        ready(&text) || matches!(child.try_wait(), Ok(Some(_)))
    });
    assert!(
        ok && matches!(child.try_wait(), Ok(None)),
        "{what}: kmemdbg ended (or took 15 min) before the moment to interrupt; stderr:\n{}",
        acc.lock().unwrap()
    );
    Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let stderr = acc.lock().unwrap().clone();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

/// Runs a command with a deadline, its output in files (no pipe to fill);
/// returns (code, stdout, stderr). Panics after `limit`, having killed it.
pub fn run_cmd(mut cmd: Command, limit: Duration) -> (i32, String, String) {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let err_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out_file.reopen().unwrap())
        .stderr(err_file.reopen().unwrap())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(out_file.path()).unwrap_or_default(),
        std::fs::read_to_string(err_file.path()).unwrap_or_default(),
    )
}

/// The usual test proxy: `binary` with the cfg `cfg(port, ctl)` makes, in a
/// fresh temp dir, on a free UDP port of 127.0.0.1, with q_malloc, 32 MB of
/// shm and 4 MB of pkg. The temp dir lives as long as the returned guard.
pub fn start_qm_proxy(
    binary: &Path,
    cfg: impl FnOnce(u16, &Path) -> String,
) -> (tempfile::TempDir, Proxy) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let proxy = Proxy::start(
        binary,
        dir.path(),
        port,
        &cfg(port, &ctl),
        &["-x", "qm", "-m", "32", "-M", "4"],
    );
    (dir, proxy)
}

/// Sets `MEMDBG ?= 0` in TREE/src/Makefile.defs: the packager's non-debug
/// choice, the state a box without memory debugging was built from.
/// Panics unless the pristine tree has exactly one `MEMDBG ?= 1` line.
pub fn set_memdbg_off(tree: &Path) {
    let defs = tree.join("src/Makefile.defs");
    let text = std::fs::read_to_string(&defs).expect("read Makefile.defs");
    assert_eq!(
        text.matches("\nMEMDBG ?= 1\n").count(),
        1,
        "{}: not exactly one `MEMDBG ?= 1` line (upstream default changed?)",
        defs.display()
    );
    std::fs::write(&defs, text.replace("\nMEMDBG ?= 1\n", "\nMEMDBG ?= 0\n"))
        .expect("write Makefile.defs");
}
