//! The findings, grouped by pool, process, module and function, with first
//! and last time and line, count and rate, the requested sizes, and a
//! per-minute timeline; the proxy's starts seen in the log.
//!
//! Pure: data in, data out. Memory grows with the number of distinct
//! groups and minutes, never with the number of lines.

use super::table::OomPool;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What identifies a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub pool: OomPool,
    pub pid: Option<u32>,
    pub module: Option<String>,
    pub function: Option<String>,
}

/// One group of findings.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub pool: OomPool,
    /// How the pool was known: the message itself, or the same process's neighbouring line.
    pub pool_from: &'static str,
    pub pid: Option<u32>,
    /// Kamailio's process number (stderr logs).
    pub rank: Option<u32>,
    /// The process's description from `core.psx` (when the proxy answered).
    pub role: Option<String>,
    pub module: Option<String>,
    pub function: Option<String>,
    pub count: u64,
    /// Table entries that matched (ids).
    pub patterns: Vec<String>,
    pub first_line: u64,
    pub last_line: u64,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    #[serde(skip)]
    pub first_epoch: Option<f64>,
    #[serde(skip)]
    pub last_epoch: Option<f64>,
    /// Errors per minute between the first and the last (when timed and apart).
    pub per_minute: Option<f64>,
    /// Smallest and largest request that failed (allocator lines).
    pub size_min: Option<u64>,
    pub size_max: Option<u64>,
    /// The first message, as printed (cut at 300 bytes).
    pub example: String,
    /// An allocator line named its caller: the build has memory debugging.
    #[serde(skip)]
    pub debug_build: bool,
}

/// A finding ready to be counted (owned: it may wait for its pool).
#[derive(Debug, Clone)]
pub struct Record {
    pub pool: OomPool,
    pub pool_from: &'static str,
    pub pid: Option<u32>,
    pub rank: Option<u32>,
    pub module: Option<String>,
    pub function: Option<String>,
    pub pattern: usize,
    pub line: u64,
    pub time: Option<String>,
    pub epoch: Option<f64>,
    pub size: Option<u64>,
    pub example: Vec<u8>,
    pub debug_build: bool,
}

/// A start of the proxy seen in the log.
#[derive(Debug, Clone, Serialize)]
pub struct Start {
    pub line: u64,
    pub time: Option<String>,
    #[serde(skip)]
    pub epoch: Option<f64>,
    pub shm_bytes: Option<u64>,
    pub pkg_bytes: Option<u64>,
    /// Findings after this start (before the next one).
    pub findings: u64,
    /// When the first of them happened, in seconds after the start.
    pub first_after_s: Option<f64>,
    /// Findings after this start per pool ([`POOLS`] order).
    #[serde(skip)]
    pub per_pool: [u64; 4],
}

/// The pools in the order of [`Start::per_pool`] and the timeline's counts.
pub const POOLS: [OomPool; 4] = [OomPool::Shm, OomPool::Pkg, OomPool::Sys, OomPool::Unnamed];

/// All groups, the starts and the timeline.
#[derive(Debug, Default)]
pub struct Groups {
    pub groups: HashMap<GroupKey, Group>,
    /// Minute (epoch / 60) -> count per pool [shm, pkg, sys, unnamed].
    pub timeline: BTreeMap<i64, [u64; 4]>,
    pub starts: Vec<Start>,
    /// The start the next findings belong to (None at the top of an input).
    pub current_start: Option<usize>,
    /// Findings before the first start line (or with no start line at all).
    pub before_first_start: u64,
    pub first_unstarted_epoch: Option<f64>,
    pub total: u64,
}

fn pool_index(p: OomPool) -> usize {
    match p {
        OomPool::Shm => 0,
        OomPool::Pkg => 1,
        OomPool::Sys => 2,
        OomPool::Unnamed => 3,
    }
}

impl Groups {
    pub fn start(&mut self, start: Start) {
        self.starts.push(start);
        self.current_start = Some(self.starts.len() - 1);
    }

    /// A new input begins: its findings belong to no start until it shows one.
    pub fn new_input(&mut self) {
        self.current_start = None;
    }

    /// Counts one finding; `pattern_id` names its table entry.
    pub fn add(&mut self, r: Record, pattern_id: &str) {
        self.total += 1;
        if let Some(e) = r.epoch {
            let slot = self.timeline.entry((e / 60.0).floor() as i64).or_default();
            slot[pool_index(r.pool)] += 1;
        }
        match self.current_start.and_then(|i| self.starts.get_mut(i)) {
            Some(s) => {
                s.findings += 1;
                s.per_pool[pool_index(r.pool)] += 1;
                if s.first_after_s.is_none() {
                    if let (Some(a), Some(b)) = (s.epoch, r.epoch) {
                        s.first_after_s = Some((b - a).max(0.0));
                    }
                }
            }
            None => {
                self.before_first_start += 1;
                if self.first_unstarted_epoch.is_none() {
                    self.first_unstarted_epoch = r.epoch;
                }
            }
        }
        let key = GroupKey {
            pool: r.pool,
            pid: r.pid,
            module: r.module.clone(),
            function: r.function.clone(),
        };
        let g = self.groups.entry(key).or_insert_with(|| Group {
            pool: r.pool,
            pool_from: r.pool_from,
            pid: r.pid,
            rank: r.rank,
            role: None,
            module: r.module.clone(),
            function: r.function.clone(),
            count: 0,
            patterns: Vec::new(),
            first_line: r.line,
            last_line: r.line,
            first_time: r.time.clone(),
            last_time: None,
            first_epoch: r.epoch,
            last_epoch: None,
            per_minute: None,
            size_min: None,
            size_max: None,
            example: String::from_utf8_lossy(&r.example[..r.example.len().min(300)]).into_owned(),
            debug_build: false,
        });
        g.count += 1;
        g.last_line = r.line;
        if r.time.is_some() {
            g.last_time = r.time;
            g.last_epoch = r.epoch;
            if g.first_epoch.is_none() {
                g.first_epoch = r.epoch;
            }
        }
        if let Some(s) = r.size {
            g.size_min = Some(g.size_min.map_or(s, |m| m.min(s)));
            g.size_max = Some(g.size_max.map_or(s, |m| m.max(s)));
        }
        g.debug_build |= r.debug_build;
        if !g.patterns.iter().any(|p| p == pattern_id) {
            g.patterns.push(pattern_id.to_string());
        }
        if g.rank.is_none() {
            g.rank = r.rank;
        }
    }

    /// The groups, largest first, with their rates.
    pub fn sorted(&self) -> Vec<Group> {
        let mut v: Vec<Group> = self.groups.values().cloned().collect();
        for g in &mut v {
            if let (Some(a), Some(b)) = (g.first_epoch, g.last_epoch) {
                if b - a >= 1.0 {
                    g.per_minute = Some((g.count as f64 - 1.0).max(1.0) / ((b - a) / 60.0));
                }
            }
            if g.last_time.is_none() {
                g.last_time = g.first_time.clone();
            }
        }
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.first_line.cmp(&b.first_line)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(pool: OomPool, pid: u32, line: u64, epoch: Option<f64>) -> Record {
        Record {
            pool,
            pool_from: "message",
            pid: Some(pid),
            rank: None,
            module: Some("usrloc".into()),
            function: Some("new_urecord".into()),
            pattern: 0,
            line,
            time: epoch.map(|e| e.to_string()),
            epoch,
            size: None,
            example: b"x".to_vec(),
            debug_build: false,
        }
    }

    #[test]
    fn groups_and_rates() {
        let mut g = Groups::default();
        g.start(Start {
            line: 1,
            time: None,
            epoch: Some(0.0),
            shm_bytes: Some(8 << 20),
            pkg_bytes: None,
            findings: 0,
            first_after_s: None,
            per_pool: [0; 4],
        });
        for i in 0..11 {
            g.add(
                rec(OomPool::Shm, 10, 10 + i, Some(120.0 + i as f64 * 6.0)),
                "shm-pool",
            );
        }
        g.add(rec(OomPool::Shm, 11, 50, Some(200.0)), "shm-pool");
        let v = g.sorted();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].count, 11);
        // 10 intervals of 6 s = 60 s: 10 errors per minute
        assert_eq!(v[0].per_minute, Some(10.0));
        assert_eq!(g.starts[0].findings, 12);
        assert_eq!(g.starts[0].per_pool, [12, 0, 0, 0]);
        assert_eq!(g.starts[0].first_after_s, Some(120.0));
        assert_eq!(g.timeline.values().map(|c| c[0]).sum::<u64>(), 12);
    }
}
