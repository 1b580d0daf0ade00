//! The conclusion of a triage run, from numbers only (pure; no I/O).
//!
//! The manual procedure: stop traffic, wait, place a few calls; memory that
//! came back and stays back means the pool was too small for the load;
//! memory that stays held, or that each new request adds to, means a leak;
//! "if you are not sure, consider it a leak".

use crate::units::{human_bytes, human_delta, human_secs};
use serde::Serialize;

/// Memory in use at one moment (allocator overhead included).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Totals {
    pub elapsed_s: f64,
    pub shm_bytes: f64,
    /// Sum over every process's pkg pool.
    pub pkg_bytes: f64,
}

/// One round of probe requests: memory before it and after it settled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    pub calls: u32,
    /// Requests that got a final reply.
    pub answered: u32,
    pub before: Totals,
    pub after: Totals,
    /// Memory came back to `before` (within the noise) before the settle time ran out.
    pub settled: bool,
    /// Processes whose pkg grew in this round: (pid, description, bytes).
    pub pkg_growth: Vec<(u32, String, f64)>,
}

/// Everything the verdict looks at.
#[derive(Debug, Clone, Serialize)]
pub struct Measurements {
    pub baseline: Totals,
    /// Samples taken while traffic was stopped, in time order.
    pub idle: Vec<Totals>,
    pub rounds: Vec<Round>,
    pub shm_total_bytes: u64,
    /// `max_used` of core.shmmem: the shm peak since the proxy started.
    pub shm_peak_bytes: u64,
    /// Size of one process's pkg pool.
    pub pkg_total_bytes: u64,
    /// Highest pkg use of any one process seen during the run.
    pub pkg_peak_bytes: u64,
    /// SIP requests the proxy received during the idle period (kex statistics).
    pub requests_during_idle: Option<u64>,
    /// The binary has memory debugging (from core.flags), when known.
    pub memdebug_build: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    PoolTooSmall,
    Leak,
    NotSure,
}

/// A proposed `-m` / `-M` (MiB) and the command that applies it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeProposal {
    pub shm_mb: u64,
    pub pkg_mb: u64,
    pub command: String,
    pub reasoning: Vec<String>,
}

/// What a pool did during the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolFinding {
    pub pool: &'static str,
    pub baseline_bytes: f64,
    pub idle_end_bytes: f64,
    /// Baseline minus the end of the idle period.
    pub released_bytes: f64,
    /// Jitter while idle: changes smaller than this are not counted.
    pub noise_bytes: f64,
    /// Still going down when the idle period ended.
    pub still_falling: bool,
    /// What each probe round left behind after settling.
    pub residue_bytes: Vec<f64>,
    /// Every round left memory behind.
    pub grows_per_request: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub kind: Kind,
    /// `not_sure` is handled like `leak`.
    pub treat_as_leak: bool,
    /// One line: the answer.
    pub summary: String,
    /// `high`, `medium` or `low`.
    pub confidence: &'static str,
    /// Why, in the order it was decided.
    pub reasons: Vec<String>,
    /// What could make this wrong.
    pub uncertainties: Vec<String>,
    pub pools: Vec<PoolFinding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<SizeProposal>,
    /// The commands to run next.
    pub next: Vec<String>,
}

/// The smallest change counted as real: a few small allocations.
const MIN_NOISE_BYTES: f64 = 64.0;

/// Jitter of idle samples: the largest step between consecutive values (a
/// steady fall counts as its step, not its span), at least a few small
/// allocations.
pub fn noise(values: &[f64]) -> f64 {
    values
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f64::max)
        .max(MIN_NOISE_BYTES)
}

fn pool_finding(m: &Measurements, pool: &'static str, get: fn(&Totals) -> f64) -> PoolFinding {
    let base = get(&m.baseline);
    let end = m.idle.last().map_or(base, get);
    let tail: Vec<f64> = m.idle[m.idle.len() / 2..].iter().map(get).collect();
    let noise = noise(&tail);
    // Still falling: the last third of the idle period went down by more than the noise.
    let still_falling = m.idle.len() >= 3 && {
        let third = &m.idle[m.idle.len() * 2 / 3..];
        let first = third.first().map_or(end, get);
        first - end > noise
    };
    let residue: Vec<f64> = m
        .rounds
        .iter()
        .map(|r| get(&r.after) - get(&r.before))
        .collect();
    let grows = m.rounds.len() >= 2 && residue.iter().all(|r| *r > noise);
    PoolFinding {
        pool,
        baseline_bytes: base,
        idle_end_bytes: end,
        released_bytes: base - end,
        noise_bytes: noise,
        still_falling,
        residue_bytes: residue,
        grows_per_request: grows,
    }
}

fn mib_ceil_pow2(bytes: f64) -> u64 {
    let mb = (bytes / 1048576.0).ceil().max(1.0) as u64;
    mb.next_power_of_two()
}

/// Proposed sizes: double a pool that came near its end, keep the other.
pub fn propose_sizes(m: &Measurements) -> SizeProposal {
    let shm_mb = (m.shm_total_bytes / 1048576).max(1);
    let pkg_mb = (m.pkg_total_bytes / 1048576).max(1);
    let shm_share = m.shm_peak_bytes as f64 / m.shm_total_bytes.max(1) as f64;
    let pkg_share = m.pkg_peak_bytes as f64 / m.pkg_total_bytes.max(1) as f64;
    let mut reasoning = vec![
        format!(
            "shm peaked at {} of {} ({:.0}%) since the proxy started (core.shmmem max_used)",
            human_bytes(m.shm_peak_bytes as f64),
            human_bytes(m.shm_total_bytes as f64),
            shm_share * 100.0
        ),
        format!(
            "pkg peaked at {} of {} ({:.0}%) in one process during this run (pkg.stats has no all-time peak)",
            human_bytes(m.pkg_peak_bytes as f64),
            human_bytes(m.pkg_total_bytes as f64),
            pkg_share * 100.0
        ),
    ];
    let grow = |share: f64, mb: u64, peak: u64| {
        if share >= 0.5 {
            (mb * 2).max(mib_ceil_pow2(peak as f64 * 2.0))
        } else {
            mb
        }
    };
    let mut new_shm = grow(shm_share, shm_mb, m.shm_peak_bytes);
    let mut new_pkg = grow(pkg_share, pkg_mb, m.pkg_peak_bytes);
    if new_shm == shm_mb && new_pkg == pkg_mb {
        // Neither came near its end while we looked: the errors name the pool.
        reasoning.push(
            "neither pool came near its end while kmemdbg looked; the log's errors say which one ran out \
             (\"no more shm memory\" / \"no more pkg memory\"): the proposal doubles both, keep only that one"
                .to_string(),
        );
        new_shm = shm_mb * 2;
        new_pkg = pkg_mb * 2;
    } else {
        if new_shm != shm_mb {
            reasoning.push(format!(
                "shm used {:.0}% of its pool at its peak: -m {shm_mb} -> {new_shm}",
                shm_share * 100.0
            ));
        }
        if new_pkg != pkg_mb {
            reasoning.push(format!(
                "pkg used {:.0}% of its pool at its peak: -M {pkg_mb} -> {new_pkg}",
                pkg_share * 100.0
            ));
        }
    }
    let mut command = "kmemdbg size".to_string();
    if new_shm != shm_mb {
        command.push_str(&format!(" --shm {new_shm}"));
    }
    if new_pkg != pkg_mb {
        command.push_str(&format!(" --pkg {new_pkg}"));
    }
    SizeProposal {
        shm_mb: new_shm,
        pkg_mb: new_pkg,
        command,
        reasoning,
    }
}

/// Decides.
pub fn conclude(m: &Measurements, idle_s: f64) -> Verdict {
    let shm = pool_finding(m, "shm", |t| t.shm_bytes);
    let pkg = pool_finding(m, "pkg", |t| t.pkg_bytes);
    let pools = vec![shm, pkg];
    let mut reasons = Vec::new();
    let mut uncertainties = Vec::new();
    for p in &pools {
        reasons.push(format!(
            "{}: {} under traffic, {} after {} idle ({}), probe rounds left {}",
            p.pool,
            human_bytes(p.baseline_bytes),
            human_bytes(p.idle_end_bytes),
            human_secs(idle_s),
            if p.released_bytes > p.noise_bytes {
                format!("released {}", human_bytes(p.released_bytes))
            } else {
                "held".to_string()
            },
            if p.residue_bytes.is_empty() {
                "nothing to compare (no probes)".to_string()
            } else {
                p.residue_bytes
                    .iter()
                    .map(|r| human_delta(*r))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    if idle_s < 20.0 * 60.0 {
        uncertainties.push(format!(
            "the idle period was {} (the procedure says about 20 minutes): memory held by timers longer than that is counted as held",
            human_secs(idle_s)
        ));
    }
    for p in &pools {
        if p.still_falling {
            uncertainties.push(format!(
                "{} was still going down when the idle period ended: a longer --idle may release more",
                p.pool
            ));
        }
        if p.residue_bytes.len() >= 2 && !p.grows_per_request && p.residue_bytes[0] > p.noise_bytes
        {
            uncertainties.push(format!(
                "{} grew in the first probe round only: one-time set-up (first message in a process), not counted as a leak",
                p.pool
            ));
        }
    }
    for r in &m.rounds {
        if r.answered < r.calls {
            uncertainties.push(format!(
                "{} of {} probe requests got no final reply",
                r.calls - r.answered,
                r.calls
            ));
        }
        if !r.settled {
            uncertainties.push(
                "memory had not settled after a probe round within --settle: timers may still free it"
                    .to_string(),
            );
            break;
        }
    }
    uncertainties.push(
        "the probes are SIP OPTIONS: a leak only on other paths (INVITE dialogs, REGISTER, a module's timer) does not show in them"
            .to_string(),
    );
    let traffic_went_on = m.requests_during_idle.filter(|n| *n > 0);
    let growing: Vec<&PoolFinding> = pools.iter().filter(|p| p.grows_per_request).collect();
    let released = pools.iter().any(|p| p.released_bytes > p.noise_bytes);
    let leak_next = leak_next_steps(m, &pools);

    let (kind, confidence, summary, next, proposal) = if let Some(n) = traffic_went_on {
        reasons.insert(
            0,
            format!("{n} SIP requests reached the proxy during the idle period: traffic had not stopped"),
        );
        (
            Kind::NotSure,
            "low",
            "not sure (traffic did not stop during the idle period) - treated as a leak"
                .to_string(),
            leak_next,
            None,
        )
    } else if !growing.is_empty() {
        let what: Vec<String> = growing
            .iter()
            .map(|p| {
                let calls: u32 = m.rounds.iter().map(|r| r.calls).sum::<u32>().max(1);
                let total: f64 = p.residue_bytes.iter().sum();
                format!(
                    "{} grew by {} over {} probe requests (about {} each) and did not come back",
                    p.pool,
                    human_bytes(total),
                    calls,
                    human_bytes(total / f64::from(calls))
                )
            })
            .collect();
        for w in &what {
            reasons.insert(0, w.clone());
        }
        for r in &m.rounds {
            for (pid, desc, bytes) in &r.pkg_growth {
                reasons.push(format!(
                    "pkg of process {pid} ({desc}) grew {} in a probe round",
                    human_delta(*bytes)
                ));
            }
        }
        (
            Kind::Leak,
            "high",
            format!(
                "leak: every probe round left memory behind ({})",
                what.join("; ")
            ),
            leak_next,
            None,
        )
    } else if released {
        let p = propose_sizes(m);
        let mut next = vec![p.command.clone()];
        next.push(
            "then watch it under normal traffic: kmemdbg watch --duration 1h --plot mem.svg".into(),
        );
        (
            Kind::PoolTooSmall,
            "medium",
            "pool too small: memory came back down when traffic stopped, and new requests left nothing behind".to_string(),
            next,
            Some(p),
        )
    } else {
        reasons.insert(
            0,
            "memory stayed where it was under traffic after the idle period, and the probes neither grew it nor showed it moving".to_string(),
        );
        (
            Kind::NotSure,
            "low",
            "not sure (memory held, but the probes did not grow it) - treated as a leak, as the procedure says".to_string(),
            leak_next,
            None,
        )
    };
    Verdict {
        kind,
        treat_as_leak: kind != Kind::PoolTooSmall,
        summary,
        confidence,
        reasons,
        uncertainties,
        pools,
        proposal,
        next,
    }
}

fn leak_next_steps(m: &Measurements, pools: &[PoolFinding]) -> Vec<String> {
    let mut next = Vec::new();
    if m.memdebug_build == Some(false) {
        next.push(
            "this build has no memory debugging: kmemdbg convert (rebuild with it, memlog, restart)"
                .to_string(),
        );
    }
    let which = if pools.iter().any(|p| p.pool == "pkg" && p.grows_per_request) {
        "--pkg all --shm"
    } else {
        "--shm --pkg all"
    };
    next.push(format!("kmemdbg dump {which} --out before.log"));
    next.push(
        "let traffic run a while (kmemdbg watch --duration 30m --plot mem.svg shows the growth)"
            .to_string(),
    );
    next.push(format!("kmemdbg dump {which} --out after.log"));
    next.push(
        "kmemdbg diff before.log after.log   (names the allocation site that grew)".to_string(),
    );
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: f64, shm: f64, pkg: f64) -> Totals {
        Totals {
            elapsed_s: s,
            shm_bytes: shm,
            pkg_bytes: pkg,
        }
    }

    fn base(idle: Vec<Totals>, rounds: Vec<(f64, f64)>) -> Measurements {
        let last = *idle.last().unwrap();
        let mut cur = last;
        let rounds = rounds
            .into_iter()
            .map(|(dshm, dpkg)| {
                let before = cur;
                cur = t(
                    before.elapsed_s + 5.0,
                    before.shm_bytes + dshm,
                    before.pkg_bytes + dpkg,
                );
                Round {
                    calls: 5,
                    answered: 5,
                    before,
                    after: cur,
                    settled: dshm == 0.0,
                    pkg_growth: vec![],
                }
            })
            .collect();
        Measurements {
            baseline: t(0.0, 2_000_000.0, 6_000_000.0),
            idle,
            rounds,
            shm_total_bytes: 32 << 20,
            shm_peak_bytes: 3_000_000,
            pkg_total_bytes: 4 << 20,
            pkg_peak_bytes: 800_000,
            requests_during_idle: Some(0),
            memdebug_build: Some(true),
        }
    }

    #[test]
    fn htable_like_leak() {
        // Held during idle, each round of 5 requests leaves ~1 KiB in shm.
        let idle = (0..10)
            .map(|i| t(i as f64, 2_000_000.0, 6_000_000.0))
            .collect();
        let m = base(idle, vec![(1100.0, 0.0), (1100.0, 0.0)]);
        let v = conclude(&m, 10.0);
        assert_eq!(v.kind, Kind::Leak, "{v:#?}");
        assert!(v.treat_as_leak);
        assert!(v.summary.contains("shm grew"), "{}", v.summary);
        assert!(v.next.iter().any(|n| n.contains("kmemdbg diff")));
    }

    #[test]
    fn transactions_that_complete() {
        // Released 500 KB of shm while idle, then flat; probes leave nothing.
        let idle = (0..10)
            .map(|i| {
                t(
                    i as f64,
                    if i < 3 { 1_800_000.0 } else { 1_500_000.0 },
                    6_000_000.0,
                )
            })
            .collect();
        let m = base(idle, vec![(0.0, 0.0), (0.0, 0.0)]);
        let v = conclude(&m, 10.0);
        assert_eq!(v.kind, Kind::PoolTooSmall, "{v:#?}");
        assert!(!v.treat_as_leak);
        let p = v.proposal.unwrap();
        assert_eq!((p.shm_mb, p.pkg_mb), (64, 8));
        assert_eq!(p.command, "kmemdbg size --shm 64 --pkg 8");
    }

    #[test]
    fn a_pool_near_its_end_is_doubled_alone() {
        let idle = (0..6)
            .map(|i| {
                t(
                    i as f64,
                    if i < 2 { 1_800_000.0 } else { 1_500_000.0 },
                    6_000_000.0,
                )
            })
            .collect();
        let mut m = base(idle, vec![(0.0, 0.0), (0.0, 0.0)]);
        m.shm_peak_bytes = 30 << 20;
        let p = propose_sizes(&m);
        assert_eq!(p.command, "kmemdbg size --shm 64");
    }

    #[test]
    fn held_and_flat_is_not_sure_treated_as_leak() {
        let idle = (0..10)
            .map(|i| t(i as f64, 2_000_000.0, 6_000_000.0))
            .collect();
        let m = base(idle, vec![(0.0, 0.0), (0.0, 0.0)]);
        let v = conclude(&m, 10.0);
        assert_eq!(v.kind, Kind::NotSure);
        assert!(v.treat_as_leak);
    }

    #[test]
    fn warm_up_in_first_round_only_is_no_leak() {
        let idle = (0..10)
            .map(|i| {
                t(
                    i as f64,
                    if i < 3 { 1_800_000.0 } else { 1_500_000.0 },
                    6_000_000.0,
                )
            })
            .collect();
        let m = base(idle, vec![(0.0, 4096.0), (0.0, 0.0)]);
        let v = conclude(&m, 10.0);
        assert_eq!(v.kind, Kind::PoolTooSmall, "{v:#?}");
        assert!(v
            .uncertainties
            .iter()
            .any(|u| u.contains("first probe round only")));
    }

    #[test]
    fn traffic_that_did_not_stop() {
        let idle = (0..10)
            .map(|i| t(i as f64, 2_000_000.0, 6_000_000.0))
            .collect();
        let mut m = base(idle, vec![(1100.0, 0.0), (1100.0, 0.0)]);
        m.requests_during_idle = Some(250);
        let v = conclude(&m, 10.0);
        assert_eq!(v.kind, Kind::NotSure);
        assert!(v.reasons[0].contains("250 SIP requests"));
    }

    #[test]
    fn still_falling_is_stated() {
        let idle = (0..9)
            .map(|i| t(i as f64, 2_000_000.0 - 50_000.0 * i as f64, 6_000_000.0))
            .collect();
        let m = base(idle, vec![(0.0, 0.0), (0.0, 0.0)]);
        let v = conclude(&m, 9.0);
        assert_eq!(v.kind, Kind::PoolTooSmall);
        assert!(v
            .uncertainties
            .iter()
            .any(|u| u.contains("still going down")));
    }
}
