//! Proposes pool sizes from what the proxy uses now: `core.shmmem` (shared
//! memory) and `pkg.stats` (private memory per process, from the `kex`
//! module), with the reasoning spelled out.
//!
//! Pure: typed RPC records ([`crate::kamcmd::records`]) in, a proposal out. The rule is deliberately
//! simple and stated in the output: a pool whose peak use is above half of
//! it gets twice the peak (rounded up to a multiple of the unit below);
//! otherwise it is large enough, and running out means a leak, not a size.

use crate::kamcmd::records::{PkgStat, ShmStat};
use serde::Serialize;

const MB: u64 = 1024 * 1024;

/// One pool's proposal.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PoolProposal {
    /// "shm" or "pkg".
    pub pool: String,
    pub current_mb: u64,
    pub peak_mb: f64,
    /// The size to use (equal to current when it is large enough).
    pub proposed_mb: u64,
    pub reasoning: String,
}

fn round_up(mb: u64, unit: u64) -> u64 {
    mb.div_ceil(unit) * unit
}

fn propose(pool: &str, total: u64, peak: u64, unit: u64, who: &str) -> PoolProposal {
    let current_mb = total.div_ceil(MB);
    let peak_mb = peak as f64 / MB as f64;
    let ratio = if total == 0 {
        1.0
    } else {
        peak as f64 / total as f64
    };
    let (proposed_mb, reasoning) = if ratio > 0.5 {
        let p = round_up((2 * peak).div_ceil(MB), unit).max(current_mb + unit);
        (
            p,
            format!(
                "{who} peaked at {peak_mb:.1} MB of {current_mb} MB ({:.0}%): above half the pool leaves no room for load spikes; twice the peak, rounded up to {unit} MB, is {p} MB. If use keeps growing after this, it is a leak (kmemdbg convert, then dumps), not a size problem.",
                ratio * 100.0
            ),
        )
    } else {
        (
            current_mb,
            format!(
                "{who} peaked at {peak_mb:.1} MB of {current_mb} MB ({:.0}%): the pool is large enough; if it still runs out, suspect a leak (kmemdbg convert, then dumps).",
                ratio * 100.0
            ),
        )
    };
    PoolProposal {
        pool: pool.into(),
        current_mb,
        peak_mb,
        proposed_mb,
        reasoning,
    }
}

/// From `core.shmmem` (its `max_used`, the peak since start).
pub fn shm(stat: &ShmStat) -> Option<PoolProposal> {
    Some(propose(
        "shm",
        stat.total_bytes,
        stat.max_used_bytes,
        32,
        "shared memory",
    ))
}

/// From `pkg.stats` (one record per process; the busiest one decides).
pub fn pkg(stats: &[PkgStat]) -> Option<PoolProposal> {
    let busiest = stats.iter().fold(None::<&PkgStat>, |best, p| match best {
        Some(b) if p.real_used_bytes <= b.real_used_bytes => Some(b),
        _ => Some(p),
    })?;
    let who = format!("private memory of PID {} ({})", busiest.pid, busiest.desc);
    Some(propose(
        "pkg",
        busiest.total_bytes,
        busiest.real_used_bytes,
        4,
        &who,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kamcmd::records::{parse_pkg_stats, parse_shmmem};

    #[test]
    fn proposals() {
        // Real core.shmmem of Debian's 5.6.3 with -m 64 (numbers from a run here).
        let r = parse_shmmem("{\n\ttotal: 67108864\n\tfree: 66486880\n\tused: 381840\n\treal_used: 621984\n\tmax_used: 621984\n\tfragments: 1\n}\n").unwrap();
        let p = shm(&r).unwrap();
        assert_eq!(p.proposed_mb, 64);
        assert!(p.reasoning.contains("large enough"));
        // The same record's shape with a pool used up to 30 MB of 32.
        let busy = parse_shmmem("{\n\ttotal: 33554432\n\tfree: 3554432\n\tused: 29000000\n\treal_used: 30000000\n\tmax_used: 30000000\n\tfragments: 9\n}\n").unwrap();
        let p = shm(&busy).unwrap();
        assert_eq!(p.proposed_mb, 64, "{p:?}");
        // pkg.stats's record shape (see kamcmd::records), one busy process.
        let pk = parse_pkg_stats("{\n\tentry: 0\n\tpid: 10\n\trank: 0\n\tused: 2900000\n\tfree: 1194304\n\treal_used: 3000000\n\ttotal_size: 4194304\n\ttotal_frags: 9\n\tdesc: main\n}\n{\n\tentry: 1\n\tpid: 11\n\trank: 1\n\tused: 90\n\tfree: 4194204\n\treal_used: 100\n\ttotal_size: 4194304\n\ttotal_frags: 1\n\tdesc: udp receiver\n}\n");
        let p = pkg(&pk).unwrap();
        assert_eq!(p.proposed_mb, 8);
        assert!(p.reasoning.contains("PID 10"));
    }
}
