//! Verdicts on a pool's figures: exhausted, near full, counters that
//! wrapped, fragmentation. Pure decisions from numbers (no I/O, no
//! printing); the face words them around these sentences.
//!
//! Rules, in the order they are tried for one pool:
//! 1. **wrapped**: a figure is negative, above the pool's size, or the
//!    figures only add up modulo 2^32 or 2^64 (`free + real_used` vs
//!    `total`). Kamailio prints some of them through a 32-bit `int`
//!    (kamailio/kamailio#2824); a wrapped pool gets no percentage at all and
//!    its free memory is never shown, only the figures that still fit.
//! 2. **exhausted**: `free` is 0 or `real_used` reaches `total`, whatever
//!    `used` says; the gap between `used` and `real_used` is named (the
//!    allocator's per-fragment overhead and fragments too small to hand out).
//! 3. **fragmentation**: `shm.report`'s largest free fragment is under a
//!    tenth of the free memory, or allocations failed while at least
//!    [`FREE_SHARE_FRAGMENTED`] of the pool was free: fragmentation, not a
//!    leak, with the allocator's own remedies.
//! 4. **near full**: `real_used` at or above [`NEAR_FULL`] of `total`.
//! 5. otherwise **ok**.

use super::{Method, PoolFigures};
use crate::mem::Pool;
use serde::Serialize;

/// Share of the pool in use (`real_used / total`) from which it is "near full".
pub const NEAR_FULL: f64 = 0.90;
/// Share of the pool free above which an allocation failure is fragmentation.
pub const FREE_SHARE_FRAGMENTED: f64 = 0.10;
/// The largest free fragment under `free / LARGEST_FREE_DIVISOR` is fragmentation.
pub const LARGEST_FREE_DIVISOR: i128 = 10;

const TWO_32: i128 = 1 << 32;
const TWO_64: i128 = 1 << 64;

/// What a verdict says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Wrapped,
    Exhausted,
    Fragmentation,
    NearFull,
    Ok,
}

/// One verdict on one pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub kind: Kind,
    /// `shm`, `pkg of pid N (desc)`.
    pub subject: String,
    pub pool: Pool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i128>,
    /// Line of the input the figures came from.
    pub line: u64,
    /// `real_used / total`, only when the figures are consistent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_share: Option<f64>,
    /// The sentence.
    pub text: String,
    /// What to do next.
    pub next: Vec<String>,
}

/// What the rest of the input says about allocation failures (from the log lines).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// Failed allocations in pkg.
    pub pkg: u64,
    /// Failed allocations in shm.
    pub shm: u64,
    /// Failed allocations whose pool the line does not say.
    pub unknown: u64,
}

impl Failures {
    fn of(&self, pool: Pool) -> u64 {
        self.unknown
            + match pool {
                Pool::Pkg => self.pkg,
                Pool::Shm => self.shm,
            }
    }
}

/// How the figures wrapped, if they did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrap {
    /// 32 or 64: the width the figures add up modulo; 0 when they are only
    /// impossible (negative or above the pool) without a clear width.
    pub bits: u32,
    /// The fields that cannot be used.
    pub fields: Vec<&'static str>,
}

/// Whether a pool's figures wrapped (see the module's rule 1).
pub fn wrapped(p: &PoolFigures) -> Option<Wrap> {
    let named = [
        ("total", p.total),
        ("free", p.free),
        ("used", p.used),
        ("real_used", p.real_used),
        ("max_used", p.max_used),
    ];
    let mut fields: Vec<&'static str> = named
        .iter()
        .filter(|(_, v)| v.is_some_and(|v| v < 0))
        .map(|(n, _)| *n)
        .collect();
    if let Some(total) = p.total.filter(|t| *t > 0) {
        for (n, v) in &named[1..] {
            if v.is_some_and(|v| v > total) && !fields.contains(n) {
                fields.push(n);
            }
        }
    }
    let mut bits = 0;
    if let (Some(t), Some(f), Some(r)) = (p.total, p.free, p.real_used) {
        let d = f + r - t;
        if d != 0 {
            if d % TWO_64 == 0 {
                bits = 64;
            } else if d % TWO_32 == 0 {
                bits = 32;
            }
            if bits != 0 && fields.is_empty() {
                fields.push("free");
            }
        } else if !fields.is_empty() {
            // adds up exactly, yet negative: every field went through the same 32-bit int
            bits = 32;
        }
    }
    if fields.is_empty() {
        return None;
    }
    if bits == 0
        && fields.iter().any(|f| {
            named
                .iter()
                .any(|(n, v)| n == f && v.is_some_and(|v| !(-TWO_32..TWO_32).contains(&v)))
        })
    {
        bits = 64;
    }
    Some(Wrap { bits, fields })
}

fn thousands(n: i128) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The verdict on one pool, given what the log says about failed allocations.
pub fn judge(p: &PoolFigures, failures: &Failures) -> Verdict {
    let subject = p.label();
    let mut v = Verdict {
        kind: Kind::Ok,
        subject: subject.clone(),
        pool: p.pool,
        pid: p.pid,
        line: p.line,
        use_share: None,
        text: String::new(),
        next: Vec::new(),
    };
    if let Some(w) = wrapped(p) {
        v.kind = Kind::Wrapped;
        let width = match w.bits {
            32 => "the figures only add up modulo 2^32: counters wrapped at 32 bits",
            64 => "the figures only add up modulo 2^64: a counter went below zero and wrapped",
            _ => "the figures are impossible (negative, or above the pool's size)",
        };
        let fits: Vec<String> = [
            ("used", p.used),
            ("real_used", p.real_used),
            ("max_used", p.max_used),
        ]
        .iter()
        .filter(|(n, x)| !w.fields.contains(n) && x.is_some_and(|x| x >= 0))
        .filter_map(|(n, x)| x.map(|x| format!("{n} {}", thousands(x))))
        .collect();
        v.text = format!(
            "{subject}: {width}; {} cannot be read as amounts{}",
            w.fields.join(", "),
            if fits.is_empty() {
                String::new()
            } else {
                format!(" (still usable: {})", fits.join(", "))
            }
        );
        v.next.push(match p.method {
            Method::ShmStats => {
                "ask `shm.stats` (corex) or `stats.get_statistics shmem:` instead, which print 64-bit values in Kamailio 5.7 and later".to_string()
            }
            _ => "read the pool's size from the -m / -M the proxy runs with; do not trust a free amount from these figures".to_string(),
        });
        return v;
    }
    let (Some(total), Some(real)) = (p.total, p.real_used.or(p.used)) else {
        v.text = format!("{subject}: not enough figures for a verdict (no size or no use)");
        return v;
    };
    if total <= 0 {
        v.text = format!("{subject}: a pool of size 0");
        return v;
    }
    let share = real as f64 / total as f64;
    v.use_share = Some(share);
    let free = p.free.unwrap_or(total - real);
    let failed = failures.of(p.pool);
    if free == 0 || real >= total {
        v.kind = Kind::Exhausted;
        let mut t = format!(
            "{subject}: EXHAUSTED: free {}, real_used {} of {}",
            thousands(free.max(0)),
            thousands(real),
            thousands(total)
        );
        if let Some(used) = p.used.filter(|u| *u < real) {
            let gap = real - used;
            t.push_str(&format!(
                "; used is only {} ({}): the {} bytes between used and real_used are the allocator's per-fragment overhead and fragments too small to hand out (fragmentation), not data",
                thousands(used),
                pct(used as f64 / total as f64),
                thousands(gap)
            ));
        }
        v.text = t;
        v.next = match p.pool {
            Pool::Pkg => vec![
                "raise pkg (-M) if the process needs more, then watch whether it still grows: `kmemdbg watch`".into(),
                "if it keeps growing, dump this process and rank its sites: `kmemdbg dump --pkg PID`, then `kmemdbg diff`".into(),
            ],
            Pool::Shm => vec![
                "raise shm (-m), then watch whether it still grows: `kmemdbg watch`".into(),
                "if it keeps growing, dump shm twice and compare: `kmemdbg dump --shm`, then `kmemdbg diff`".into(),
            ],
        };
        return v;
    }
    let fragmented_report = match (p.largest_free, p.free) {
        (Some(largest), Some(f)) if f > 0 && largest >= 0 => largest * LARGEST_FREE_DIVISOR < f,
        _ => false,
    };
    let free_share = free as f64 / total as f64;
    let fragmented_failures = failed > 0 && free_share >= FREE_SHARE_FRAGMENTED;
    if fragmented_report || fragmented_failures {
        v.kind = Kind::Fragmentation;
        let mut t = format!(
            "{subject}: fragmentation, not a leak: {} free ({}) ",
            thousands(free),
            pct(free_share)
        );
        match (p.free_fragments.or(p.fragments), p.largest_free) {
            (Some(n), Some(l)) => t.push_str(&format!(
                "in {} fragments, the largest only {}",
                thousands(n),
                thousands(l)
            )),
            (Some(n), None) => t.push_str(&format!("in {} fragments", thousands(n))),
            (None, Some(l)) => t.push_str(&format!(
                "but the largest free fragment is only {}",
                thousands(l)
            )),
            (None, None) => t.push_str("in pieces"),
        }
        if failed > 0 {
            t.push_str(&format!(
                ", and {} allocation(s) failed for want of a free fragment large enough",
                thousands(failed as i128)
            ));
        }
        v.text = t;
        v.next = vec![
            "let the allocator join free neighbours: `mem_join=1` in kamailio.cfg (q_malloc, f_malloc)".into(),
            "run with an allocator that fragments less: `-x tlsf` (or `-x qm` with mem_join)".into(),
            format!(
                "or give it a larger pool ({}), so that large requests still find room",
                if p.pool == Pool::Pkg { "-M" } else { "-m" }
            ),
        ];
        return v;
    }
    if share >= NEAR_FULL {
        v.kind = Kind::NearFull;
        v.text = format!(
            "{subject}: near full: real_used {} of {} ({})",
            thousands(real),
            thousands(total),
            pct(share)
        );
        v.next = vec![format!(
            "watch whether it still grows under steady traffic (`kmemdbg watch`); if it does, it leaks; if not, raise {}",
            if p.pool == Pool::Pkg { "-M" } else { "-m" }
        )];
        return v;
    }
    v.text = format!(
        "{subject}: ok: real_used {} of {} ({})",
        thousands(real),
        thousands(total),
        pct(share)
    );
    v
}

/// Whether live figures (from `watch`) wrapped: `total`, `free`, `used`,
/// `real_used` as the RPC printed them.
pub fn live_wrapped(total: i128, free: i128, used: i128, real_used: i128) -> Option<Wrap> {
    let mut p = PoolFigures::new(Pool::Shm, Method::ShmStats, super::Encoding::KamcmdText, 0);
    p.total = Some(total);
    p.free = Some(free);
    p.used = Some(used);
    p.real_used = Some(real_used);
    wrapped(&p)
}
