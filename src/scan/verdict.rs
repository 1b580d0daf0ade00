//! What the errors suggest, and the next command with real values.
//!
//! The wiki's reading: errors from the first minutes after a start mean the
//! pool is too small for the load; errors that begin after hours of running
//! point to a leak (confirm with the idle-then-retest test, `kmemdbg
//! triage`). The pool sizes come from the start line (5.2 and later) or
//! from the running proxy.
//!
//! Pure: numbers in, a [`Verdict`] out.

use super::table::OomPool;
use super::Scan;
use serde::Serialize;

/// Errors this soon after a start: the pool is too small.
pub const SMALL_WITHIN_S: f64 = 600.0;
/// Errors only after this long: a leak is likely.
pub const LEAK_AFTER_S: f64 = 3600.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Nothing found.
    None,
    /// Errors within minutes of a start.
    PoolTooSmall,
    /// Errors only after hours.
    LeakLikely,
    /// The shm pool could not be created at start.
    CannotCreatePool,
    /// The system's malloc failed, not a Kamailio pool.
    SystemMemory,
    /// Between the two, or no start time known.
    NotSure,
}

/// A command to run next, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Next {
    pub command: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub kind: Kind,
    /// The pool with the most errors.
    pub pool: Option<OomPool>,
    /// Seconds from the start to the first error, when both are known.
    pub first_error_after_s: Option<f64>,
    pub summary: String,
    pub reasons: Vec<String>,
    pub next: Vec<Next>,
}

/// What is known besides the log.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `--service UNIT` / `--pidfile FILE` for the suggested commands.
    pub target: String,
    /// The ctl socket, when given.
    pub ctl: Option<String>,
    /// Pool sizes read from the running proxy (bytes).
    pub shm_total: Option<u64>,
    /// The running proxy's start (seconds since the epoch), from core.uptime.
    pub started_epoch: Option<f64>,
}

const MIB: u64 = 1 << 20;

/// Twice the current size in MB, at least 1 MB more, rounded up to a multiple of 16 above 64.
pub fn proposed_mb(current_bytes: u64) -> u64 {
    let mb = current_bytes.div_ceil(MIB).max(1);
    let doubled = (mb * 2).max(mb + 1);
    if doubled > 64 {
        doubled.div_ceil(16) * 16
    } else {
        doubled
    }
}

fn main_pool(scan: &Scan) -> Option<OomPool> {
    let per = scan.per_pool();
    let named = per
        .iter()
        .filter(|(p, _)| **p != OomPool::Unnamed)
        .max_by_key(|(_, c)| **c)
        .map(|(p, _)| *p);
    named.or_else(|| per.keys().next().copied())
}

fn human(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// The verdict for `scan`.
pub fn decide(scan: &Scan, ctx: &Context) -> Verdict {
    let ctl = ctx
        .ctl
        .as_deref()
        .map(|c| format!(" --ctl {c}"))
        .unwrap_or_default();
    let target = if ctx.target.is_empty() {
        String::new()
    } else {
        format!(" {}", ctx.target)
    };
    if scan.findings == 0 {
        return Verdict {
            kind: Kind::None,
            pool: None,
            first_error_after_s: None,
            summary: "no out-of-memory errors".into(),
            reasons: Vec::new(),
            next: Vec::new(),
        };
    }
    let pool = main_pool(scan);
    let mut reasons = Vec::new();
    let mut next = Vec::new();
    // The most recent start that had errors after it.
    let start = scan.starts.iter().rev().find(|s| s.findings > 0);
    let mut after = start.and_then(|s| s.first_after_s);
    if let Some(s) = start {
        reasons.push(format!(
            "the proxy started at line {}{}; {} error line(s) followed",
            s.line,
            s.time
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default(),
            s.findings
        ));
    }
    if after.is_none() && start.is_none() {
        if let (Some(st), Some(first)) = (ctx.started_epoch, scan.first_unstarted_epoch) {
            if first >= st {
                after = Some(first - st);
                reasons.push("the start time comes from the running proxy (core.uptime)".into());
            }
        }
    }
    let shm_now = start.and_then(|s| s.shm_bytes).or(ctx.shm_total);
    let pkg_now = start.and_then(|s| s.pkg_bytes);
    let startup = scan
        .groups
        .iter()
        .any(|g| g.patterns.iter().any(|p| p == "shm-segment"));
    let kind = if startup {
        Kind::CannotCreatePool
    } else if pool == Some(OomPool::Sys) {
        Kind::SystemMemory
    } else {
        match after {
            Some(a) if a <= SMALL_WITHIN_S => Kind::PoolTooSmall,
            Some(a) if a >= LEAK_AFTER_S => Kind::LeakLikely,
            _ => Kind::NotSure,
        }
    };
    if let Some(a) = after {
        reasons.push(format!("the first error came {} after the start", human(a)));
    } else if !scan.timed {
        reasons.push(
            "the log has no timestamps (stderr capture): when the errors began is not known".into(),
        );
    } else {
        reasons.push("no start of the proxy in the scanned range (Kamailio 5.2 and later log one: `processes (at least): ... shm size: ...`)".into());
    }
    let size_cmd = |flag: &str, now: Option<u64>| match now {
        Some(b) => Next {
            command: format!("kmemdbg size {flag} {}{target}", proposed_mb(b)),
            why: format!(
                "the {} pool is {} MB now; twice that leaves room for the load that exhausted it",
                &flag[2..],
                b.div_ceil(MIB)
            ),
        },
        None => Next {
            command: format!("kmemdbg size --suggest{target}"),
            why: "proposes sizes from the running proxy's use".into(),
        },
    };
    let grow = |next: &mut Vec<Next>| match pool {
        Some(OomPool::Shm) => next.push(size_cmd("--shm", shm_now)),
        Some(OomPool::Pkg) => next.push(size_cmd("--pkg", pkg_now)),
        _ => next.push(Next {
            command: format!("kmemdbg size --suggest{target}"),
            why: "the messages do not name the pool; this reads both from the running proxy".into(),
        }),
    };
    let triage = Next {
        command: format!("kmemdbg triage{ctl}"),
        why: "idle, then retest: memory that does not come back after the traffic stops is a leak"
            .into(),
    };
    let summary = match kind {
        Kind::CannotCreatePool => {
            next.push(Next {
                command: format!("kmemdbg size --shm {}{target}", shm_now.map_or(64, |b| (b.div_ceil(MIB) / 2).max(8))),
                why: "the shared memory segment could not be created: -m asks more than the machine gives (see `free -m`)".into(),
            });
            "the shm pool could not be created at start: -m is larger than the machine allows"
                .to_string()
        }
        Kind::SystemMemory => {
            reasons.push("`sys` errors come from the system's malloc (a SYS_MALLOC build or a module using libc): -m/-M do not apply".into());
            "the machine's own memory ran out (system malloc), not a Kamailio pool".to_string()
        }
        Kind::PoolTooSmall => {
            grow(&mut next);
            format!(
                "{} pool too small: errors began within minutes of the start",
                pool.map_or("the", OomPool::as_str)
            )
        }
        Kind::LeakLikely => {
            next.push(triage.clone());
            leak_next(scan, &ctl, &target, &mut next);
            format!(
                "likely a leak in {}: errors began only after hours of running",
                pool.map_or("memory", OomPool::as_str)
            )
        }
        Kind::NotSure | Kind::None => {
            next.push(triage.clone());
            grow(&mut next);
            "not sure whether the pool is too small or something leaks".to_string()
        }
    };
    Verdict {
        kind,
        pool,
        first_error_after_s: after,
        summary,
        reasons,
        next,
    }
}

fn leak_next(scan: &Scan, ctl: &str, target: &str, next: &mut Vec<Next>) {
    match scan.debug_build {
        Some(false) => next.push(Next {
            command: format!("kmemdbg convert{target}"),
            why: "the allocator's lines do not name their caller: this build has no memory debugging, so a dump cannot name the leaking site".into(),
        }),
        _ => next.push(Next {
            command: format!("kmemdbg dump --mod-stats{ctl} --out before.modstats"),
            why: "memory per allocation site with no log needed (kex's mod.stats); take another later and `kmemdbg diff before.modstats after.modstats` names what grew".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak_scan(debug_build: Option<bool>) -> Scan {
        use super::super::group::{Group, Start};
        Scan {
            lines: 10,
            bytes: 0,
            findings: 1,
            timed: true,
            before_since: 0,
            groups: vec![Group {
                pool: OomPool::Shm,
                pool_from: "message",
                pid: Some(1),
                rank: None,
                role: None,
                module: None,
                function: None,
                count: 1,
                patterns: vec!["shm-pool".into()],
                first_line: 2,
                last_line: 2,
                first_time: None,
                last_time: None,
                first_epoch: Some(7200.0),
                last_epoch: Some(7200.0),
                per_minute: None,
                size_min: None,
                size_max: None,
                example: String::new(),
                debug_build: false,
            }],
            timeline: Default::default(),
            starts: vec![Start {
                line: 1,
                time: None,
                epoch: Some(0.0),
                shm_bytes: Some(64 << 20),
                pkg_bytes: None,
                findings: 1,
                first_after_s: Some(7200.0),
                per_pool: [1, 0, 0, 0],
            }],
            before_first_start: 0,
            first_unstarted_epoch: None,
            ignored: Vec::new(),
            loss: Default::default(),
            debug_build,
        }
    }

    #[test]
    fn leak_next_commands_follow_the_build() {
        let ctx = Context {
            target: "--service kamailio".into(),
            ctl: Some("unix:/run/kamailio/kamailio_ctl".into()),
            ..Context::default()
        };
        let v = decide(&leak_scan(Some(false)), &ctx);
        assert_eq!(v.kind, Kind::LeakLikely);
        assert_eq!(
            v.next[0].command,
            "kmemdbg triage --ctl unix:/run/kamailio/kamailio_ctl"
        );
        assert_eq!(v.next[1].command, "kmemdbg convert --service kamailio");
        let v = decide(&leak_scan(None), &ctx);
        assert_eq!(
            v.next[1].command,
            "kmemdbg dump --mod-stats --ctl unix:/run/kamailio/kamailio_ctl --out before.modstats"
        );
    }

    #[test]
    fn proposals() {
        assert_eq!(proposed_mb(8 << 20), 16);
        assert_eq!(proposed_mb(4 << 20), 8);
        assert_eq!(proposed_mb(64 << 20), 128);
        assert_eq!(proposed_mb(100 << 20), 208);
        assert_eq!(proposed_mb(0), 2);
    }
}
