//! Proposes pool sizes from what the proxy uses now: `core.shmmem` (shared
//! memory) and `pkg.stats` (private memory per process, from the `kex`
//! module), with the reasoning spelled out.
//!
//! Pure: kamcmd records in, a proposal out. The rule is deliberately
//! simple and stated in the output: a pool whose peak use is above half of
//! it gets twice the peak (rounded up to a multiple of the unit below);
//! otherwise it is large enough, and running out means a leak, not a size.

use crate::kamcmd::Record;
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

fn num(r: &Record, k: &str) -> Option<u64> {
    r.get(k).and_then(|v| v.trim().parse().ok())
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

/// From `core.shmmem`'s record (`total`, `max_used` or `real_used`).
pub fn shm(record: &Record) -> Option<PoolProposal> {
    let total = num(record, "total")?;
    let peak = num(record, "max_used").or_else(|| num(record, "real_used"))?;
    Some(propose("shm", total, peak, 32, "shared memory"))
}

/// From `pkg.stats` (one record per process; the busiest one decides).
pub fn pkg(records: &[Record]) -> Option<PoolProposal> {
    let mut best: Option<(u64, u64, String)> = None;
    for r in records {
        let (Some(total), Some(used)) = (num(r, "total_size"), num(r, "real_used")) else {
            continue;
        };
        if best.as_ref().map_or(true, |(_, u, _)| used > *u) {
            let who = format!(
                "private memory of PID {} ({})",
                r.get("pid").cloned().unwrap_or_default(),
                r.get("desc").cloned().unwrap_or_default()
            );
            best = Some((total, used, who));
        }
    }
    let (total, used, who) = best?;
    Some(propose("pkg", total, used, 4, &who))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kamcmd::parse_records;

    #[test]
    fn proposals() {
        // Real core.shmmem of Debian's 5.6.3 with -m 64 (numbers from a run here).
        let r = parse_records("{\n\ttotal: 67108864\n\tfree: 66486880\n\tused: 381840\n\treal_used: 621984\n\tmax_used: 621984\n\tfragments: 1\n}\n");
        let p = shm(&r[0]).unwrap();
        assert_eq!(p.proposed_mb, 64);
        assert!(p.reasoning.contains("large enough"));
        let busy = parse_records("{\n\ttotal: 33554432\n\tmax_used: 30000000\n}\n");
        let p = shm(&busy[0]).unwrap();
        assert_eq!(p.proposed_mb, 64, "{p:?}");
        let pk = parse_records("{\n\tentry: 0\n\tpid: 10\n\trank: 0\n\treal_used: 3000000\n\ttotal_size: 4194304\n\tdesc: main\n}\n{\n\tentry: 1\n\tpid: 11\n\treal_used: 100\n\ttotal_size: 4194304\n\tdesc: udp receiver\n}\n");
        let p = pkg(&pk).unwrap();
        assert_eq!(p.proposed_mb, 8);
        assert!(p.reasoning.contains("PID 10"));
    }
}
