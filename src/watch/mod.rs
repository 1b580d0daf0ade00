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
    /// `shm.stats` (corex) is offered: asked instead of `core.shmmem` once
    /// that one's figures are seen to wrap.
    has_shm_stats: bool,
    shm_method: &'static str,
    /// What could not be sampled and why, for the face to print once.
    pub notes: Vec<String>,
}

/// Whether an shm answer's figures wrapped (a pool over 4 GB printed through
/// 32-bit ints by `core.shmmem` before 5.7, kamailio/kamailio#2824): read
/// signed, so a negative value stays visible, and checked with
/// [`crate::memrpc::verdict::wrapped`].
pub fn shm_wrapped(text: &str) -> Option<crate::memrpc::verdict::Wrap> {
    crate::memrpc::read_text(text)
        .pools
        .first()
        .and_then(crate::memrpc::verdict::wrapped)
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
            has_shm_stats: has("shm.stats"),
            shm_method: "core.shmmem",
            notes,
        })
    }

    pub fn kamcmd(&self) -> &Kamcmd {
        &self.kamcmd
    }

    /// The shm pool's figures; never figures that wrapped (a negative free
    /// or a use above 100% is never sampled): `shm.stats` is asked instead
    /// when offered, otherwise the sample fails saying why.
    fn read_shm(&mut self) -> Result<ShmStat> {
        let method = self.shm_method;
        let text = self.kamcmd.call(&[method])?;
        match shm_wrapped(&text) {
            None => records::parse_shmmem(&text).with_context(|| {
                format!(
                    "{method} over {} answered something unexpected: {:?}",
                    self.kamcmd.socket,
                    text.trim()
                )
            }),
            Some(w) if method == "core.shmmem" && self.has_shm_stats => {
                self.notes.push(format!(
                    "core.shmmem's figures wrapped at {} bits ({} impossible): the pool is over 4 GB and \
this version prints it through 32-bit ints; reading shm.stats instead",
                    w.bits,
                    w.fields.join(", ")
                ));
                self.shm_method = "shm.stats";
                self.read_shm()
            }
            Some(w) => anyhow::bail!(
                "{method} over {} answers figures that wrapped ({} impossible: {:?}); a pool over 4 GB \
printed through 32-bit ints (fixed in Kamailio 5.7): load corex for shm.stats, or read the size from -m",
                self.kamcmd.socket,
                w.fields.join(", "),
                text.trim()
            ),
        }
    }

    /// Takes one sample (a few RPCs, each bounded by kamcmd's timeout).
    pub fn sample(&mut self) -> Result<Sample> {
        let now = Instant::now();
        let start = *self.started.get_or_insert(now);
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let shm = self.read_shm()?;
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

#[cfg(test)]
mod tests {
    use super::shm_wrapped;

    /// Stand-in (figures made up): `core.shmmem` of a pool a little over
    /// 4 GB, as kamcmd prints it when the values went through an int.
    const WRAPPED: &str = "{\n\ttotal: -16\n\tfree: -1000016\n\tused: 900000\n\treal_used: 1000000\n\tmax_used: 1200000\n\tfragments: 10\n}\n";

    #[test]
    fn wrapped_live_figures_are_told() {
        let w = shm_wrapped(WRAPPED).expect("wrapped");
        assert_eq!(w.bits, 32);
        assert!(w.fields.contains(&"free"));
        // a 6 GB pool whose total is printed whole but whose free went
        // through 32 bits: the figures add up only modulo 2^32
        let free32 =
            "{\n\ttotal: 6442450944\n\tfree: 2146483648\n\tused: 900000\n\treal_used: 1000000\n}\n";
        assert_eq!(shm_wrapped(free32).map(|w| w.bits), Some(32));
        // a real 5.6.3 answer (tests of kamcmd::records): fine
        let ok = "{\n\ttotal: 33554432\n\tfree: 32923728\n\tused: 390352\n\treal_used: 630704\n\tmax_used: 630704\n\tfragments: 1\n}\n";
        assert_eq!(shm_wrapped(ok), None);
    }
}
