//! The one door to external programs (kamailio, make, kamcmd, gdb, systemctl, ...).
//!
//! Every command is built with `xshell::cmd!`, so each value is one argument:
//! no shell, no quoting bugs. [`run`] adds what xshell lacks: a timeout that
//! kills the child, captured stdout/stderr as bytes (non-UTF-8 survives), and
//! an error that names the command, its exit status and the tail of stderr.
//! This module never decides what a failure means; callers do.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished program left behind.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub display: String,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// Stdout as text, invalid UTF-8 replaced.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// The last `n` lines of stderr (or stdout when stderr is empty).
    pub fn tail(&self, n: usize) -> String {
        let src = if self.stderr.iter().all(u8::is_ascii_whitespace) {
            &self.stdout
        } else {
            &self.stderr
        };
        let text = String::from_utf8_lossy(src);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
    /// Turns a non-zero exit into an error naming the command.
    pub fn check(self) -> Result<Output> {
        if self.success() {
            return Ok(self);
        }
        let status = match self.code {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        };
        bail!(
            "`{}` failed ({status}); last lines:\n{}",
            self.display,
            indent(&self.tail(8))
        )
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a program did not finish.
#[derive(Debug)]
pub struct TimedOut {
    pub display: String,
    pub timeout: Duration,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` did not finish within {:.1}s and was killed",
            self.display,
            self.timeout.as_secs_f64()
        )
    }
}
impl std::error::Error for TimedOut {}

/// Runs `cmd` to completion with stdin closed, killing it after `timeout`.
/// A missing program or a timeout is an error; a non-zero exit is not
/// (see [`Output::check`]).
pub fn run(cmd: xshell::Cmd<'_>, timeout: Duration) -> Result<Output> {
    let display = cmd.to_string();
    let mut command: Command = cmd.into();
    run_command(&mut command, display, timeout)
}

/// Same as [`run`], for a `std::process::Command` built by xshell elsewhere.
pub fn run_command(command: &mut Command, display: String, timeout: Duration) -> Result<Output> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{display}`"))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut buf);
        }
        buf
    });
    let t_err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut buf);
        }
        buf
    });
    let status = wait_or_kill(&mut child, &display, timeout)?;
    // A grandchild holding the pipes open must not hang us: give the readers
    // a short grace period after the child itself has exited.
    let stdout = join_within(t_out, Duration::from_secs(2));
    let stderr = join_within(t_err, Duration::from_secs(2));
    Ok(Output {
        display,
        code: status.code(),
        stdout,
        stderr,
    })
}

/// Runs `cmd` with stdin closed and hands its stdout, as a stream, to
/// `read` on this thread: for output larger than memory (`journalctl` of a
/// busy unit), read as it comes, nothing lost and nothing buffered whole.
/// Stderr is kept (the returned `stderr`; `stdout` is empty). After
/// `timeout` the program is killed ([`TimedOut`]).
pub fn run_reading(
    cmd: xshell::Cmd<'_>,
    timeout: Duration,
    read: &mut dyn FnMut(&mut dyn Read) -> Result<()>,
) -> Result<Output> {
    let display = cmd.to_string();
    let mut command: Command = cmd.into();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{display}`"))?;
    let pid = child.id();
    let mut err = child.stderr.take();
    let t_err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut buf);
        }
        buf
    });
    // The watchdog ends the program at the deadline; reading then sees EOF.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (d, f) = (done.clone(), fired.clone());
    let watchdog = std::thread::spawn(move || {
        let start = Instant::now();
        while !d.load(std::sync::atomic::Ordering::SeqCst) {
            if start.elapsed() >= timeout {
                f.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let result = match child.stdout.take() {
        Some(mut out) => read(&mut out),
        None => Ok(()),
    };
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = watchdog.join();
    let stderr = join_within(t_err, Duration::from_secs(2));
    result.with_context(|| format!("reading the output of `{display}`"))?;
    if fired.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(TimedOut { display, timeout }.into());
    }
    Ok(Output {
        display,
        code: status?.code(),
        stdout: Vec::new(),
        stderr,
    })
}

/// Waits for `child` to exit; kills it (and reports [`TimedOut`]) after `timeout`.
fn wait_or_kill(
    child: &mut std::process::Child,
    display: &str,
    timeout: Duration,
) -> Result<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TimedOut {
                display: display.to_string(),
                timeout,
            }
            .into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn join_within(handle: std::thread::JoinHandle<Vec<u8>>, grace: Duration) -> Vec<u8> {
    let start = Instant::now();
    while !handle.is_finished() {
        if start.elapsed() > grace {
            return Vec::new();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.join().unwrap_or_default()
}

/// Runs `cmd` with stdin closed and stdout/stderr appended to `log` (not
/// pipes): for programs that daemonize and keep their output open, such as
/// kamailio started without `-D`. Waits up to `timeout` for the launched
/// program itself to exit; the returned stderr is what the log gained.
pub fn run_logged(
    cmd: xshell::Cmd<'_>,
    log: &std::path::Path,
    timeout: Duration,
) -> Result<Output> {
    let display = cmd.to_string();
    let mut command: Command = cmd.into();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open log {}", log.display()))?;
    let start_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{display}`"))?;
    let status = wait_or_kill(&mut child, &display, timeout)?;
    let gained = std::fs::read(log)
        .map(|b| {
            b.get(start_len as usize..)
                .map(<[u8]>::to_vec)
                .unwrap_or_default()
        })
        .unwrap_or_default();
    Ok(Output {
        display,
        code: status.code(),
        stdout: Vec::new(),
        stderr: gained,
    })
}

/// Sends `signal` (e.g. "-INT") to every process of the process group `group`.
fn signal_group(group: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(signal)
        .arg("--")
        .arg(format!("-{group}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// True while some process (not a zombie) is in the process group `group`.
pub fn group_alive(group: u32) -> bool {
    crate::procfs::group_alive(group)
}

/// A fresh xshell handle (no shell is ever involved).
pub fn shell() -> Result<xshell::Shell> {
    xshell::Shell::new().context("could not set up the command runner")
}

/// Finds a program on PATH and in the sbin directories that PATH often lacks.
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    if let Ok(p) = which::which(name) {
        return Some(p);
    }
    // KMEMDBG_SBIN_DIRS (colon-separated) replaces the default list; tests use it.
    let dirs = std::env::var("KMEMDBG_SBIN_DIRS")
        .unwrap_or_else(|_| "/usr/sbin:/usr/local/sbin:/sbin:/usr/bin:/usr/local/bin".to_string());
    for dir in dirs.split(':').filter(|d| !d.is_empty()) {
        let p = std::path::Path::new(dir).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// How a streamed program ended (see [`run_streaming`]).
#[derive(Debug, Clone)]
pub struct Streamed {
    /// The command line, for messages.
    pub display: String,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
}

impl Streamed {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// What [`run_streaming`] tells its caller while the program runs.
pub enum StreamEvent<'a> {
    /// One line the program printed (stdout or stderr, in arrival order).
    Line(&'a str),
    /// Nothing printed for a while; lets the caller refresh elapsed time.
    Tick,
}

/// Why a streamed program was stopped before its end: SIGINT/SIGTERM reached
/// kmemdbg (see [`crate::interrupt`]).
#[derive(Debug)]
pub struct Interrupted {
    /// What was stopped, and how far it got.
    pub message: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for Interrupted {}

/// Runs a long program (a compiler driver) with stdin closed: every line it
/// prints on stdout or stderr goes, byte for byte, to `log` and, as text, to
/// `on_event`. A non-zero exit is not an error (see [`Streamed`]).
///
/// The program runs in a process group of its own, which kmemdbg stops as a
/// whole: after `timeout` it gets SIGTERM (make then deletes half-written
/// targets and stops its children) and, 10 s later, SIGKILL ([`TimedOut`]).
/// A Ctrl-C or SIGTERM to kmemdbg (armed here, see [`crate::interrupt`])
/// sends SIGINT to the group, then SIGKILL after 10 s, and waits until
/// no process of the group is left ([`Interrupted`]): a signal never
/// leaves a compiler running behind kmemdbg's back.
pub fn run_streaming(
    cmd: xshell::Cmd<'_>,
    timeout: Duration,
    log: &mut dyn std::io::Write,
    on_event: &mut dyn FnMut(StreamEvent<'_>),
) -> Result<Streamed> {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    crate::interrupt::arm();
    let display = cmd.to_string();
    let mut command: Command = cmd.into();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{display}`"))?;
    let group = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut readers = Vec::new();
    let pipes: Vec<Box<dyn Read + Send>> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for pipe in pipes {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(pipe);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        }));
    }
    drop(tx);
    let start = Instant::now();
    let mut terminated_at: Option<Instant> = None;
    let mut interrupted_at: Option<Instant> = None;
    let mut log_error: Option<std::io::Error> = None;
    let mut deliver = |bytes: &[u8], on_event: &mut dyn FnMut(StreamEvent<'_>)| {
        if log_error.is_none() {
            if let Err(e) = log.write_all(bytes) {
                log_error = Some(e);
            }
        }
        let text = String::from_utf8_lossy(bytes);
        on_event(StreamEvent::Line(text.trim_end_matches(['\n', '\r'])));
    };
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => deliver(&line, on_event),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => on_event(StreamEvent::Tick),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // Both pipes closed: the program (and anything holding its
                // pipes) is done printing; wait for it below.
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                std::thread::sleep(Duration::from_millis(20));
                on_event(StreamEvent::Tick);
            }
        }
        if let Some(status) = child.try_wait()? {
            // Drain what is still buffered, without waiting on grandchildren.
            let drain_until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < drain_until {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(line) => deliver(&line, on_event),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            break status;
        }
        if interrupted_at.is_none() && crate::interrupt::requested() {
            signal_group(group, "-INT");
            interrupted_at = Some(Instant::now());
        }
        match (terminated_at, interrupted_at) {
            (None, None) if start.elapsed() >= timeout => {
                signal_group(group, "-TERM");
                terminated_at = Some(Instant::now());
            }
            (Some(t), _) | (None, Some(t)) if t.elapsed() >= Duration::from_secs(10) => {
                signal_group(group, "-KILL");
                break child.wait()?;
            }
            _ => {}
        }
    };
    if terminated_at.is_some() || interrupted_at.is_some() {
        // The leader is gone; its children may not be yet.
        let gone = Instant::now();
        while group_alive(group) && gone.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if group_alive(group) {
            signal_group(group, "-KILL");
        }
    }
    if interrupted_at.is_some() {
        return Err(Interrupted {
            message: format!("`{display}` was stopped by a signal (its whole process group)"),
        }
        .into());
    }
    if terminated_at.is_some() {
        return Err(TimedOut { display, timeout }.into());
    }
    if let Some(e) = log_error {
        return Err(e).context("cannot write the build log");
    }
    Ok(Streamed {
        display,
        code: status.code(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let sh = shell().unwrap();
        let out = run(
            xshell::cmd!(sh, "sh -c 'echo hi; echo oops >&2; exit 3'"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout_text(), "hi\n");
        let err = out.check().unwrap_err().to_string();
        assert!(err.contains("exit status 3"), "{err}");
        assert!(err.contains("oops"), "{err}");
    }

    #[test]
    fn run_reading_streams_everything_and_keeps_stderr() {
        let sh = shell().unwrap();
        let mut lines = 0u64;
        let out = run_reading(
            xshell::cmd!(sh, "sh -c 'seq 1 300000; echo done >&2'"),
            Duration::from_secs(30),
            &mut |r| {
                let mut buf = [0u8; 4096];
                loop {
                    let n = r.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                }
            },
        )
        .unwrap();
        assert_eq!(lines, 300_000);
        assert_eq!(out.code, Some(0));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "done\n");
        // the deadline ends a program that never finishes
        let err = run_reading(
            xshell::cmd!(sh, "sleep 30"),
            Duration::from_millis(300),
            &mut |r| {
                let mut sink = Vec::new();
                r.read_to_end(&mut sink)?;
                Ok(())
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("sleep"), "{err}");
    }

    #[test]
    fn kills_on_timeout() {
        let sh = shell().unwrap();
        let start = Instant::now();
        let err = run(xshell::cmd!(sh, "sleep 600"), Duration::from_millis(200)).unwrap_err();
        assert!(err.downcast_ref::<TimedOut>().is_some(), "{err}");
        // killed, not waited for: it returned before the program could end by itself
        assert!(start.elapsed() < Duration::from_secs(600));
    }

    #[test]
    fn missing_program_is_an_error() {
        let sh = shell().unwrap();
        let err = run(
            xshell::cmd!(sh, "/nonexistent/kmemdbg-nothing"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.to_string().contains("could not start"), "{err}");
    }

    #[test]
    fn streaming_logs_every_line_and_reports_status() {
        let sh = shell().unwrap();
        let mut log = Vec::new();
        let mut lines = Vec::new();
        let out = run_streaming(
            xshell::cmd!(sh, "sh -c 'echo one; echo two >&2; printf three; exit 4'"),
            Duration::from_secs(5),
            &mut log,
            &mut |e| {
                if let StreamEvent::Line(l) = e {
                    lines.push(l.to_string())
                }
            },
        )
        .unwrap();
        assert_eq!(out.code, Some(4));
        lines.sort();
        assert_eq!(lines, ["one", "three", "two"]);
        let log = String::from_utf8(log).unwrap();
        assert!(log.contains("one\n") && log.contains("two\n") && log.contains("three"));
    }

    #[test]
    fn streaming_terminates_on_timeout() {
        let sh = shell().unwrap();
        let start = Instant::now();
        let err = run_streaming(
            xshell::cmd!(sh, "sleep 600"),
            Duration::from_millis(300),
            &mut Vec::new(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.downcast_ref::<TimedOut>().is_some(), "{err}");
        // killed, not waited for: it returned before the program could end by itself
        assert!(start.elapsed() < Duration::from_secs(600));
    }
}
