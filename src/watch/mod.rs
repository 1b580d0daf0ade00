//! Memory use of a running proxy over time, read through its ctl socket:
//! per process pkg (`pkg.stats`, needs the `kex` module), the shm pool
//! (`core.shmmem`) and optionally shm per module (`mod.stats all shm`).
//!
//! [`Sampler`] takes one [`Sample`] per call; [`series`] turns samples into
//! per-process lines with a trend. This module only reads: it never changes
//! a setting of the proxy, never writes a file and never prints (the face
//! does, see `commands::watch`).

pub mod series;

use crate::kamcmd::Kamcmd;
use anyhow::{Context, Result};
use serde::Serialize;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::kamcmd::records;
pub use crate::kamcmd::records::{ModShm, PkgStat, ShmStat};

/// Everything read at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the first sample.
    pub elapsed_s: f64,
    /// Wall clock, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    pub shm: ShmStat,
    /// One entry per process; empty when `kex` is not loaded.
    pub pkg: Vec<PkgStat>,
    /// Shared memory per module; empty unless asked for (and `kex` loaded).
    pub mods: Vec<ModShm>,
    /// `core:rcv_requests` (kex statistics), when available: SIP requests
    /// received since start, used to tell whether traffic really stopped.
    pub rcv_requests: Option<u64>,
}

impl Sample {
    /// Sum of `real_used` over every process's pkg pool.
    pub fn pkg_real_used_total(&self) -> u64 {
        self.pkg.iter().map(|p| p.real_used_bytes).sum()
    }
}

/// Reads samples from one proxy.
pub struct Sampler {
    kamcmd: Kamcmd,
    started: Option<Instant>,
    /// `pkg.stats` answers (kex loaded).
    pub has_pkg_stats: bool,
    /// `mod.stats` wanted and answered.
    pub mod_stats: bool,
    has_statistics: bool,
    /// What could not be sampled and why, for the face to print once.
    pub notes: Vec<String>,
}

impl Sampler {
    /// Checks which memory RPCs the proxy offers (`system.listMethods`).
    pub fn new(kamcmd: Kamcmd, want_mod_stats: bool) -> Result<Sampler> {
        let methods = kamcmd.methods().with_context(|| {
            format!(
                "cannot talk to the proxy over {}: pass its ctl socket with --ctl",
                kamcmd.socket
            )
        })?;
        let has = |m: &str| methods.iter().any(|x| x == m);
        let mut notes = Vec::new();
        let has_pkg_stats = has("pkg.stats");
        if !has_pkg_stats {
            notes.push(
                "pkg.stats is not offered: per-process pkg memory needs the kex module \
                 (loadmodule \"kex.so\"); watching shm only"
                    .to_string(),
            );
        }
        let mod_stats = want_mod_stats && has("mod.stats");
        if want_mod_stats && !mod_stats {
            notes.push(
                "mod.stats is not offered (kex module, Kamailio 5.0 or later): no per-module shm"
                    .to_string(),
            );
        }
        Ok(Sampler {
            kamcmd,
            started: None,
            has_pkg_stats,
            mod_stats,
            has_statistics: has("stats.get_statistics"),
            notes,
        })
    }

    pub fn kamcmd(&self) -> &Kamcmd {
        &self.kamcmd
    }

    /// Takes one sample (a few RPCs, each bounded by kamcmd's timeout).
    pub fn sample(&mut self) -> Result<Sample> {
        let now = Instant::now();
        let start = *self.started.get_or_insert(now);
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let text = self.kamcmd.call(&["core.shmmem"])?;
        let shm = records::parse_shmmem(&text).with_context(|| {
            format!(
                "core.shmmem over {} answered something unexpected: {:?}",
                self.kamcmd.socket,
                text.trim()
            )
        })?;
        let pkg = if self.has_pkg_stats {
            records::parse_pkg_stats(&self.kamcmd.call(&["pkg.stats"])?)
        } else {
            Vec::new()
        };
        let mods = if self.mod_stats {
            records::parse_mod_stats(&self.kamcmd.call(&["mod.stats", "all", "shm"])?)
        } else {
            Vec::new()
        };
        let rcv_requests = if self.has_statistics {
            self.kamcmd
                .call(&["stats.get_statistics", "rcv_requests"])
                .ok()
                .and_then(|t| records::parse_statistic(&t, "rcv_requests"))
        } else {
            None
        };
        Ok(Sample {
            elapsed_s: now.duration_since(start).as_secs_f64(),
            unix_ms,
            shm,
            pkg,
            mods,
            rcv_requests,
        })
    }
}
