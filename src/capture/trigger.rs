//! How a running proxy is made to print its memory: the two live dump
//! settings over RPC, SIGUSR1 to the main process, and SIP OPTIONS to wake a
//! receiver. It reads `cfg.get core memlog | debug | mem_summary`.
//!
//! It never changes any other setting (not even memlog, which the operator
//! may lower on purpose), never sends a signal other than SIGUSR1, and only
//! to the main PID of the proxy it was pointed at.

use super::explain::Settings;
use crate::kamcmd::{Kamcmd, Process};
use crate::runner;
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long the shm trigger may take: the process running the RPC prints
/// the whole shm status before it answers, so a large pool, a busy box or
/// a slow log reader makes it longer than an ordinary RPC.
pub const SHM_TRIGGER_TIMEOUT: Duration = Duration::from_secs(120);

/// `cfg.set_now_int core mem_dump_shm 1`: the process running the RPC
/// prints the shm status before the call returns.
pub fn shm(k: &Kamcmd) -> Result<()> {
    let k = Kamcmd {
        timeout: k.timeout.max(SHM_TRIGGER_TIMEOUT),
        ..k.clone()
    };
    k.cfg_set_now_int("core", "mem_dump_shm", 1).context(
        "cannot trigger the shm dump (core.mem_dump_shm needs Kamailio 4.0 or later and cfg_rpc)",
    )
}

/// `cfg.set_now_int core mem_dump_pkg PID`: that process prints its pkg
/// memory the next time it runs its loop.
pub fn pkg(k: &Kamcmd, pid: u32) -> Result<()> {
    k.cfg_set_now_int("core", "mem_dump_pkg", i64::from(pid))
        .with_context(|| format!("cannot trigger the pkg dump of PID {pid}"))
}

/// Reads the settings that decide whether and what a dump prints. Values
/// that cannot be read stay `None` (and the reason is kept).
pub fn settings(k: &Kamcmd) -> Settings {
    let mut s = Settings::default();
    let mut errors = Vec::new();
    let mut get = |name: &str| match k.cfg_get_int("core", name) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(format!("{name}: {e:#}"));
            None
        }
    };
    s.debug = get("debug");
    s.memlog = get("memlog");
    s.mem_summary = get("mem_summary");
    if !errors.is_empty() {
        s.unreadable = Some(errors.join("; "));
    }
    s
}

/// SIGUSR1 to `pid` (through `kill`, via the runner).
pub fn sigusr1(pid: u32) -> Result<()> {
    if pid <= 1 {
        bail!("refusing to signal PID {pid}");
    }
    let kill = runner::find_program("kill").context("`kill` not found (Debian: procps)")?;
    let sh = runner::shell()?;
    let pid = pid.to_string();
    runner::run(
        xshell::cmd!(sh, "{kill} -USR1 {pid}"),
        Duration::from_secs(5),
    )?
    .check()
    .with_context(|| {
        format!("cannot send SIGUSR1 to PID {pid} (run as root or as the kamailio user)")
    })?;
    Ok(())
}

/// One SIP OPTIONS to `target`, to make a receiver run its loop. The reply
/// (or its absence) does not matter; an error means nothing listens there.
pub fn poke(target: SocketAddr) -> Result<()> {
    match crate::sip::options(target, Duration::from_millis(300)) {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("no answer") => Ok(()),
        Err(e) => Err(e),
    }
}

/// The main process: `core.psx`'s first entry, else the PID file.
pub fn main_pid(procs: Option<&[Process]>, pid_file: &Path) -> Result<u32> {
    if let Some(p) = procs.and_then(|ps| {
        ps.iter()
            .find(|p| p.idx == 0 || p.description.contains("main process"))
    }) {
        return Ok(p.pid);
    }
    let text = std::fs::read_to_string(pid_file).with_context(|| {
        format!(
            "cannot read the PID file {} to find the main process (pass --pid-file, or --ctl for core.psx)",
            pid_file.display()
        )
    })?;
    text.trim()
        .parse()
        .with_context(|| format!("{}:1: {:?} is not a PID", pid_file.display(), text.trim()))
}

/// True while `pid` exists and is not a zombie (local proxies only: /proc).
pub fn alive(pid: u32) -> bool {
    crate::procfs::alive(pid)
}

/// A restore that failed inside `drop` (the message says how to fix it by hand).
pub static RESTORE_FAILED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// `mem_summary` bits 4 and 8: pkg and shm summaries, no status, not short.
pub const SUMMARY_BITS: i64 = 4 | 8;

/// Sets `mem_summary` for the time of a dump and puts the old value back
/// when dropped: after the dump, on an error, and on Ctrl-C (the caller
/// arms [`crate::interrupt`], so the signal unwinds to here instead of
/// ending the process).
pub struct MemSummaryGuard<'k> {
    kamcmd: &'k Kamcmd,
    /// The value before; `None` once restored.
    original: Option<i64>,
}

impl<'k> MemSummaryGuard<'k> {
    /// Reads the current value and sets `value` (no change when equal).
    pub fn set(k: &'k Kamcmd, value: i64) -> Result<MemSummaryGuard<'k>> {
        let original = k
            .cfg_get_int("core", "mem_summary")
            .context("cannot read mem_summary (cfg_rpc loaded?)")?;
        if original != value {
            k.cfg_set_now_int("core", "mem_summary", value)
                .with_context(|| format!("cannot set mem_summary to {value}"))?;
        }
        Ok(MemSummaryGuard {
            kamcmd: k,
            original: Some(original),
        })
    }

    pub fn original(&self) -> Option<i64> {
        self.original
    }

    /// Puts the old value back now; errors are returned (drop only tries).
    pub fn restore(&mut self) -> Result<()> {
        if let Some(v) = self.original.take() {
            self.kamcmd
                .cfg_set_now_int("core", "mem_summary", v)
                .with_context(|| format!("cannot put mem_summary back to {v}: run `kamcmd cfg.set_now_int core mem_summary {v}`"))?;
        }
        Ok(())
    }
}

impl Drop for MemSummaryGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            // Drop cannot return it: kept for the caller to report.
            if let Ok(mut f) = RESTORE_FAILED.lock() {
                *f = Some(format!("{e:#}"));
            }
        }
    }
}
