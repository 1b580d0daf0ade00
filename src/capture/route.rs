//! The reading side of choosing a route: the proxy's counters over RPC
//! (`core.shmmem`, `mod.stats`, `tm.stats`), the log's limits from the
//! files that set them (journald.conf and its `.d/`, `systemctl show`,
//! journald's own usage entry, rsyslog.conf and `rsyslog.d/`), and the
//! `mod.stats` snapshot of `dump --mod-stats`. The decisions are pure and
//! live in [`super::budget`]; this module only gathers their inputs.
//!
//! Read-only: it changes nothing on the proxy or the box, and never writes
//! a file (the snapshot text goes back to the caller, which writes it with `fsx`).

use super::budget::{self, Budget, PoolCounters};
use super::source::SourceInfo;
use crate::dump::modstats;
use crate::kamcmd::{parse_records, records, Kamcmd};
use crate::runner;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// The shm pool's counters from `core.shmmem`.
pub fn shm_counters(k: &Kamcmd) -> Result<PoolCounters> {
    let text = k.call(&["core.shmmem"])?;
    records::parse_shmmem(&text)
        .map(|s| PoolCounters {
            used_bytes: s.used_bytes,
            real_used_bytes: s.real_used_bytes,
            free_fragments: s.fragments.unwrap_or(0),
        })
        .with_context(|| {
            format!(
                "core.shmmem answered something unexpected: {:?}",
                text.trim()
            )
        })
}

/// Allocation sites of the shm pool, as `mod.stats all shm` lists them
/// (about the lines a summary prints); `None` without kex.
pub fn shm_sites(k: &Kamcmd) -> Option<u64> {
    let text = k.call(&["mod.stats", "all", "shm"]).ok()?;
    let snap = modstats::parse(&text);
    Some(snap.section("shm").map_or(0, |s| s.sites.len() as u64))
}

/// Each process's pkg counters from `pkg.stats` (kex).
pub fn pkg_counters(k: &Kamcmd) -> Result<Vec<(u32, PoolCounters)>> {
    let text = k.call(&["pkg.stats"])?;
    let c = budget::pkg_counters(&text);
    anyhow::ensure!(
        !c.is_empty(),
        "pkg.stats answered no process records: {:?}",
        text.trim()
    );
    Ok(c)
}

/// Allocation sites of the pkg pool of the process that answers the RPC
/// (`mod.stats all pkg`): the lines of one pkg summary, about; `None` without kex.
pub fn pkg_sites(k: &Kamcmd) -> Option<u64> {
    let text = k.call(&["mod.stats", "all", "pkg"]).ok()?;
    // A bare answer names no pool: its one section is the pkg asked for.
    let snap = modstats::parse(&text);
    Some(snap.sections.first().map_or(0, |s| s.sites.len() as u64))
}

/// What the log `source` lets through, from the files that configure it.
pub fn budget_of(source: &SourceInfo) -> Budget {
    match source {
        SourceInfo::Stderr { path } => Budget::unlimited(
            "file",
            &format!("{} is a plain file: no rate limit", path.display()),
        ),
        SourceInfo::Journal { unit } => journald_budget(unit),
        SourceInfo::Syslog { .. } => {
            // syslog(3) goes through journald first on a systemd box, then rsyslog.
            let rs = budget::rsyslog_budget(&budget::rsyslog_limits(&conf_files(
                "/etc/rsyslog.conf",
                &["/etc/rsyslog.d"],
            )));
            if Path::new("/run/systemd/journal/socket").exists() {
                journald_budget("kamailio").tighter(rs)
            } else {
                rs
            }
        }
    }
}

fn journald_budget(unit: &str) -> Budget {
    let conf = budget::journald_conf(&conf_files(
        "/etc/systemd/journald.conf",
        &[
            "/usr/lib/systemd/journald.conf.d",
            "/usr/local/lib/systemd/journald.conf.d",
            "/run/systemd/journald.conf.d",
            "/etc/systemd/journald.conf.d",
        ],
    ));
    let unit_name = super::loss::unit_name(unit);
    let unit_limits = run_text(
        "systemctl",
        &[
            "show",
            &unit_name,
            "-p",
            "LogRateLimitIntervalUSec",
            "-p",
            "LogRateLimitBurst",
        ],
    )
    .map(|t| budget::unit_limits(&t))
    .unwrap_or((None, None));
    let available = run_text(
        "journalctl",
        &[
            &format!("MESSAGE_ID={}", budget::JOURNAL_USAGE_MESSAGE_ID),
            "-o",
            "json",
            "-n",
            "3",
            "--no-pager",
        ],
    )
    .and_then(|t| budget::journald_available(&t));
    budget::journald_budget(&conf, unit_limits, &unit_name, available)
}

/// The main file, then the `*.conf` of `dirs` sorted by file name (a name
/// in a later directory replaces the same name in an earlier one).
fn conf_files(main: &str, dirs: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(t) = std::fs::read_to_string(main) {
        out.push((main.to_string(), t));
    }
    let mut by_name = std::collections::BTreeMap::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") {
                by_name.insert(name, e.path());
            }
        }
    }
    for p in by_name.values() {
        if let Ok(t) = std::fs::read_to_string(p) {
            out.push((p.display().to_string(), t));
        }
    }
    out
}

/// Runs a read-only query; `None` when the program is missing or fails.
fn run_text(program: &str, args: &[&str]) -> Option<String> {
    let prog = runner::find_program(program)?;
    let sh = runner::shell().ok()?;
    let out = runner::run(
        xshell::cmd!(sh, "{prog} {args...}"),
        Duration::from_secs(10),
    )
    .ok()?;
    out.check().ok().map(|o| o.stdout_text())
}

/// What `--settle` saw.
#[derive(Debug, Clone, Serialize)]
pub struct Settled {
    /// `tm.stats` current at the start and at the end.
    pub current_start: Option<u64>,
    pub current_end: Option<u64>,
    pub waited_s: f64,
    /// True when it stopped because transactions were gone or no longer falling.
    pub settled: bool,
    /// The level waited for: `tm_current` of the previous snapshot (`null`: 0).
    pub baseline: Option<u64>,
    /// The snapshot file that gave `baseline`.
    pub baseline_from: Option<String>,
    pub note: String,
}

/// `tm.stats` current: transactions in flight (`None` without tm).
pub fn tm_current(k: &Kamcmd) -> Option<u64> {
    let t = k.call(&["tm.stats"]).ok()?;
    parse_records(&t)
        .iter()
        .find_map(|r| r.get("current")?.parse().ok())
}

/// Waits, at most `limit`, until `tm.stats` current is back to `baseline`
/// (the level at the previous snapshot, 0 when unknown) or stops falling.
pub fn settle(k: &Kamcmd, limit: Duration, baseline: Option<u64>) -> Settled {
    let start = Instant::now();
    let read = || tm_current(k);
    let first = read();
    let Some(mut last) = first else {
        return Settled {
            current_start: None,
            current_end: None,
            waited_s: 0.0,
            settled: false,
            baseline,
            baseline_from: None,
            note: "tm.stats is not offered (no tm module?): nothing to wait for".into(),
        };
    };
    let target = baseline.unwrap_or(0);
    let mut flat = 0;
    while last > target && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(250));
        let now = read();
        match now {
            Some(n) if n >= last => flat += 1,
            Some(_) => flat = 0,
            None => break,
        }
        last = now.unwrap_or(last);
        if flat >= 8 {
            break;
        }
    }
    let settled = last <= target || flat >= 8;
    Settled {
        current_start: first,
        current_end: Some(last),
        waited_s: start.elapsed().as_secs_f64(),
        settled,
        baseline,
        baseline_from: None,
        note: if last <= target {
            format!(
                "in-flight transactions back to {target} (from {})",
                first.unwrap_or(0)
            )
        } else if flat >= 8 {
            format!("{last} transactions in flight, no longer falling: taking the snapshot")
        } else {
            format!(
                "still {last} transactions in flight after {:.0}s (--settle limit): a burst may show as growth",
                limit.as_secs_f64()
            )
        },
    }
}

/// A `mod.stats` snapshot's text and what it holds.
pub struct ModStatsCapture {
    pub text: String,
    pub snapshot: modstats::Snapshot,
    pub rpc: String,
}

/// Takes the snapshot: `mod.mem_statsx all shm|pkg` when offered (adds
/// Kamailio's own counts), else `mod.stats all shm|pkg`.
pub fn mod_stats(
    k: &Kamcmd,
    main_pid: Option<u32>,
    version: Option<String>,
) -> Result<ModStatsCapture> {
    let methods = k.methods().unwrap_or_default();
    let rpc = if methods.iter().any(|m| m == "mod.mem_statsx") {
        "mod.mem_statsx"
    } else if methods.is_empty() || methods.iter().any(|m| m == "mod.stats") {
        "mod.stats"
    } else {
        anyhow::bail!(
            "mod.stats is not offered over {}: it needs the kex module (loadmodule \"kex.so\") and a build with DBG_SR_MEMORY (Debian's package has it)",
            k.socket
        );
    };
    let shm = k
        .call(&[rpc, "all", "shm"])
        .with_context(|| format!("{rpc} all shm failed (kex loaded? DBG_SR_MEMORY build?)"))?;
    let pkg = k.call(&[rpc, "all", "pkg"]).ok();
    // The RPC runs in the ctl handler: its pkg is what `all pkg` shows.
    let answered_by = k.processes().ok().and_then(|ps| {
        ps.into_iter()
            .find(|p| p.description.contains("ctl handler"))
            .map(|p| format!("{} {}", p.pid, p.description))
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = modstats::Header {
        time: Some(iso_utc(now)),
        unix_time: Some(now),
        main_pid,
        kamailio: version,
        ctl: Some(k.socket.clone()),
        tm_current: tm_current(k),
    };
    let mut sections = vec![(format!("{rpc} all shm"), None, shm)];
    if let Some(p) = pkg {
        sections.push((
            format!("{rpc} all pkg"),
            Some(answered_by.unwrap_or_else(|| "the process that answered the RPC".into())),
            p,
        ));
    }
    let text = modstats::render(&header, &sections);
    let snapshot = modstats::parse(&text);
    Ok(ModStatsCapture {
        text,
        snapshot,
        rpc: rpc.to_string(),
    })
}

/// `2026-12-06T17:05:11Z`
fn iso_utc(secs: u64) -> String {
    // `2026-12-06 17:05:11 UTC`
    let t = crate::units::utc_text(secs * 1000);
    format!("{}Z", t.trim_end_matches(" UTC").replacen(' ', "T", 1))
}

/// The version from `core.version` (`kamailio 5.6.3 (x86_64/linux)`).
pub fn version(k: &Kamcmd) -> Option<String> {
    let t = k.call(&["core.version"]).ok()?;
    // `kamailio 5.6.3 (x86_64/linux) ` -> `5.6.3`
    t.split_whitespace().nth(1).map(str::to_string)
}
