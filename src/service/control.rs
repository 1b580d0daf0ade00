//! Stops and starts kamailio the way its setup says: `systemctl`,
//! `service`, or signals and the exact argv for a bare daemon.
//!
//! `systemctl` and `service` are found on PATH ([`crate::runner::find_program`]),
//! never at a fixed path. A bare process is stopped by its PID only (never
//! by name) and started daemonized (no `-D`): kamailio forks, calls
//! `setsid()` and writes its pid file, so it does not die with kmemdbg.

use super::discover;
use crate::runner;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long `systemctl`/`service` and a kamailio launch may take.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(90);

fn program(name: &str) -> Result<PathBuf> {
    runner::find_program(name).with_context(|| format!("{name} not found in PATH"))
}

/// `systemctl ARGS...`; a non-zero exit is an error naming the command.
pub fn systemctl(args: &[&str]) -> Result<runner::Output> {
    let p = program("systemctl")?;
    let sh = runner::shell()?;
    runner::run(xshell::cmd!(sh, "{p} {args...}"), CONTROL_TIMEOUT)?.check()
}

/// `service NAME ACTION`.
pub fn service(name: &str, action: &str) -> Result<runner::Output> {
    let p = program("service")?;
    let sh = runner::shell()?;
    runner::run(xshell::cmd!(sh, "{p} {name} {action}"), CONTROL_TIMEOUT)?.check()
}

/// Sends `signal` (e.g. "TERM") to `pid` with `kill`.
pub fn signal(pid: u32, signal: &str) -> Result<()> {
    let p = program("kill")?;
    let sh = runner::shell()?;
    let pid = pid.to_string();
    let sig = format!("-{signal}");
    runner::run(xshell::cmd!(sh, "{p} {sig} {pid}"), Duration::from_secs(10))?.check()?;
    Ok(())
}

/// Stops a bare kamailio: SIGTERM to its main PID, then waits until it and
/// its children are gone (their sockets released). SIGKILL to the same
/// PIDs only after `timeout`.
pub fn stop_process(pid: u32, timeout: Duration) -> Result<()> {
    if !discover::alive(pid) {
        return Ok(());
    }
    let children = discover::children_of(pid);
    signal(pid, "TERM")?;
    let all_gone = |pids: &[u32]| pids.iter().all(|&p| !discover::alive(p));
    let mut pids = children.clone();
    pids.push(pid);
    let start = Instant::now();
    while start.elapsed() < timeout {
        if all_gone(&pids) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for &p in &pids {
        if discover::alive(p) {
            let _ = signal(p, "KILL");
        }
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if all_gone(&pids) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "kamailio PID {pid} did not stop within {:.0}s, even after SIGKILL",
        timeout.as_secs_f64()
    )
}

/// Starts `argv` as a daemon, output appended to `log`. Returns the
/// launcher's exit status and what it printed.
pub fn start_process(argv: &[String], log: &Path, timeout: Duration) -> Result<runner::Output> {
    let Some((prog, args)) = argv.split_first() else {
        bail!("empty command line");
    };
    let sh = runner::shell()?;
    runner::run_logged(xshell::cmd!(sh, "{prog} {args...}"), log, timeout)
}
