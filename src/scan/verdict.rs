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

/// How the errors came over time (from the per-minute timeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// All within [`BURST_MINUTES`] minutes.
    Burst,
    /// Several bursts: errors in fewer than half of the minutes between
    /// the first and the last.
    Bursts,
    /// Errors in at least half of the minutes between the first and the last.
    Steady,
    /// No timestamps: it cannot be told.
    Unknown,
}

/// Errors all within this many minutes are one burst.
pub const BURST_MINUTES: i64 = 2;

/// What to do to get timestamps, for a log without them.
pub const HOW_TO_GET_TIMESTAMPS: &str = "log to syslog (log_stderror=no, the default: the lines get the time they were written, e.g. in /var/log/syslog) or run kamailio as a systemd service (journald stamps its stderr: `kmemdbg scan --journal kamailio`)";

/// Burst or steady, and the sentence that says why.
pub fn pattern(scan: &Scan) -> (Pattern, String) {
    let minutes: Vec<(i64, u64)> = scan
        .timeline
        .iter()
        .map(|(m, c)| (*m, c.iter().sum::<u64>()))
        .filter(|(_, n)| *n > 0)
        .collect();
    let (Some(first), Some(last)) = (minutes.first(), minutes.last()) else {
        return (
            Pattern::Unknown,
            format!(
                "the log has no timestamps (a stderr capture): whether the errors came in a burst or steadily, and when they began, cannot be told; to get timestamps, {HOW_TO_GET_TIMESTAMPS}"
            ),
        );
    };
    let timed: u64 = minutes.iter().map(|(_, n)| n).sum();
    let span = last.0 - first.0 + 1;
    if span <= BURST_MINUTES {
        return (
            Pattern::Burst,
            format!("one burst: all {timed} timed error line(s) within {span} minute(s)"),
        );
    }
    let active = minutes.len() as i64;
    let runs = 1 + minutes.windows(2).filter(|w| w[1].0 - w[0].0 > 1).count();
    if active * 2 >= span {
        (
            Pattern::Steady,
            format!(
                "steady: errors in {active} of the {span} minutes between the first and the last, about {:.1} per minute",
                timed as f64 / span as f64
            ),
        )
    } else {
        (
            Pattern::Bursts,
            format!(
                "{runs} burst(s): errors in only {active} of the {span} minutes between the first and the last"
            ),
        )
    }
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
    /// Burst or steady (unknown without timestamps).
    pub pattern: Pattern,
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
            pattern: Pattern::Unknown,
            summary: if scan.loss.reported_lines > 0 {
                format!(
                    "no out-of-memory errors in the lines the log kept; {} line(s) were lost to rate limits and may have held some",
                    scan.loss.reported_lines
                )
            } else {
                "no out-of-memory errors".into()
            },
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
        // the pattern's reason below says it, and how to get timestamps
    } else {
        reasons.push("no start of the proxy in the scanned range (Kamailio 5.2 and later log one: `processes (at least): ... shm size: ...`)".into());
    }
    let (pattern, pattern_why) = pattern(scan);
    reasons.push(pattern_why);
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
        pattern,
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
    #[test]
    fn burst_or_steady() {
        use std::collections::BTreeMap;
        let with = |minutes: &[(i64, u64)]| {
            let mut scan = leak_scan(None);
            scan.timeline = minutes
                .iter()
                .map(|&(m, n)| (m, [n, 0, 0, 0]))
                .collect::<BTreeMap<_, _>>();
            pattern(&scan)
        };
        assert_eq!(with(&[(100, 40), (101, 3)]).0, Pattern::Burst);
        assert_eq!(
            with(&[(100, 1), (101, 1), (103, 1), (104, 1)]).0,
            Pattern::Steady
        );
        let (p, why) = with(&[(100, 5), (101, 1), (130, 9), (200, 2)]);
        assert_eq!(p, Pattern::Bursts);
        assert!(
            why.starts_with("3 burst(s): errors in only 4 of the 101 minutes"),
            "{why}"
        );
        let (p, why) = with(&[]);
        assert_eq!(p, Pattern::Unknown);
        assert!(
            why.contains("burst or steadily") && why.contains("--journal"),
            "{why}"
        );
    }

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
