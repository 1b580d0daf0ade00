//! One snapshot of the proxy's shared memory, by one of two routes, both
//! `kmemdbg dump`'s own ([`crate::capture`]):
//!
//! - a dump ([`Route::Dump`]), read from the log and summed per allocation
//!   site by [`crate::dump`]: fragment counts and bytes. A summary (capture's
//!   `mem_summary` 12 + SIGUSR1, `mem_summary` put back by its guard, also on
//!   Ctrl-C) when the proxy prints one (memlog <= debug), else the shm status
//!   over RPC when the log can carry it;
//! - `mod.stats all shm` ([`Route::ModStats`], the `kex` module): no log at
//!   all, bytes per `module: function(line)`; counts only where Kamailio
//!   itself gives them (`mod.mem_statsx`), never invented.
//!
//! Both only read the proxy, apart from capture's own `mem_summary` switch,
//! which it puts back. A dump snapshot leaves out what the trigger itself
//! allocates (see [`is_trigger_artefact`]). Never prints.

use crate::capture::{self, route, source::SourceInfo, PkgSelection};
use crate::dump::{aggregate_text, Pool};
use crate::kamcmd::Kamcmd;
use anyhow::{bail, Context, Result};
use std::time::Duration;

use super::verdict::Tally;

/// How snapshots are taken.
#[derive(Debug, Clone)]
pub enum Route {
    /// A shm dump read from the proxy's log (fragment counts per site).
    Dump {
        source: SourceInfo,
        timeout: Duration,
    },
    /// `mod.stats all shm` over RPC (bytes per `module: function(line)`).
    ModStats,
}

impl Route {
    /// `true` when snapshots carry fragment counts.
    pub fn has_counts(&self) -> bool {
        matches!(self, Route::Dump { .. })
    }

    /// `dump`, `mod.stats`.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Dump { .. } => "dump",
            Route::ModStats => "mod.stats",
        }
    }
}

/// Takes one snapshot of shared memory by `route`.
pub fn take(route: &Route, kamcmd: &Kamcmd) -> Result<Tally> {
    match route {
        Route::Dump { source, timeout } => by_dump(source, *timeout, kamcmd),
        Route::ModStats => by_mod_stats(kamcmd),
    }
}

fn by_dump(source: &SourceInfo, timeout: Duration, kamcmd: &Kamcmd) -> Result<Tally> {
    let opts = capture::Options {
        pkg: PkgSelection::None,
        shm: true,
        signal: false,
        ctl: Some(kamcmd.socket.clone()),
        pid_file: "/nonexistent".into(),
        source: source.clone(),
        poke: None,
        timeout,
        full: false,
        summary: prints_summary(kamcmd),
    };
    let mut lines = Vec::new();
    let outcome = capture::capture(&opts, &mut lines, &mut |_| {})?;
    if !outcome.all_ok() {
        let why: Vec<String> = outcome
            .requests
            .iter()
            .flat_map(|r| r.causes.iter().cloned())
            .collect();
        bail!(
            "the shm dump did not arrive complete in the {source}: {}",
            if why.is_empty() {
                "no cause known".to_string()
            } else {
                why.join("; ")
            }
        );
    }
    let log = aggregate_text(&lines);
    let snap = log
        .snapshots
        .iter()
        .rev()
        .find(|s| s.pool == Some(Pool::Shm) && s.complete)
        .with_context(|| format!("the {source} held no complete shm dump after the trigger"))?;
    let mut t = Tally {
        kind: if outcome.requests.iter().any(|r| r.summary) {
            "summary dump"
        } else {
            "status dump"
        },
        ..Tally::default()
    };
    for s in snap
        .sites
        .iter()
        .filter(|s| !is_trigger_artefact(&s.site.text))
    {
        t.add(&s.site.text, Some(s.count), s.bytes);
    }
    Ok(t)
}

/// The cfg framework's own file: each `cfg.set_now_int` (the dump trigger
/// itself) clones the global cfg block there, and processes that have not
/// woken up yet keep the old one a while. Left out of dump snapshots (see
/// [`ARTEFACT_NOTE`]), since the traffic has nothing to do with it.
pub fn is_trigger_artefact(site: &str) -> bool {
    site.contains("core/cfg/cfg_struct.c")
}

/// Says what [`is_trigger_artefact`] leaves out.
pub const ARTEFACT_NOTE: &str = "sites in core/cfg/cfg_struct.c are left out: the dump trigger \
     itself (cfg.set_now_int) allocates there, whatever the traffic";

fn by_mod_stats(kamcmd: &Kamcmd) -> Result<Tally> {
    let snap = route::mod_stats(kamcmd, None, None)?.snapshot;
    let shm = snap
        .section("shm")
        .filter(|s| !s.sites.is_empty())
        .with_context(|| {
            format!(
                "mod.stats all shm over {} listed no allocation site",
                kamcmd.socket
            )
        })?;
    let mut t = Tally {
        kind: "mod.stats",
        ..Tally::default()
    };
    for site in &shm.sites {
        t.add(
            &site.name(),
            site.count,
            u64::try_from(site.bytes).unwrap_or(0),
        );
    }
    Ok(t)
}

/// The proxy prints a summary on SIGUSR1 (memlog <= debug): the compact
/// dump with counts, which capture then asks for.
fn prints_summary(kamcmd: &Kamcmd) -> bool {
    let s = capture::trigger::settings(kamcmd);
    matches!((s.memlog, s.debug), (Some(m), Some(d)) if m <= d)
}

/// Shared memory in use (`core.shmmem` real_used), to see when it is back.
pub fn shm_in_use(kamcmd: &Kamcmd) -> Result<u64> {
    Ok(route::shm_counters(kamcmd)?.real_used_bytes)
}
