//! Compares dumps of the same heap over time and names the sites that grow.
//!
//! A series is the dumps of one heap, in the order given: shared memory is
//! one heap whichever process printed it; private (pkg) memory is one heap
//! per PID. Status dumps and summaries are kept in separate series (a dump
//! that prints both would otherwise compare a moment with itself). For each
//! site: count and bytes at every point, growth from first to last, and,
//! with three or more points, whether it grew at every step (a leak
//! suspect) and its growth per snapshot. Pure: snapshots in, numbers out.

use super::{DumpKind, GroupBy, Snapshot};
use crate::mem::Pool;
use serde::Serialize;
use std::collections::HashMap;

/// Which heap a series follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct SeriesKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<Pool>,
    /// The process, for private memory (none for shm: one heap for all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub kind: DumpKind,
}

impl SeriesKey {
    pub fn of(s: &Snapshot) -> SeriesKey {
        SeriesKey {
            pool: s.pool,
            pid: if s.pool == Some(Pool::Shm) {
                None
            } else {
                s.pid
            },
            kind: s.kind,
        }
    }

    /// `shm status`, `pkg summary of pid 7240`.
    pub fn label(&self) -> String {
        let pool = self.pool.map_or("pool ?", Pool::as_str);
        match self.pid {
            Some(p) => format!("{pool} {} of pid {p}", self.kind.as_str()),
            None if self.pool == Some(Pool::Shm) => format!("{pool} {}", self.kind.as_str()),
            None => format!("{pool} {} (no pid)", self.kind.as_str()),
        }
    }
}

/// One dump in a series.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub first_line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub total_count: u64,
    pub total_bytes: u64,
    pub complete: bool,
    /// The log dropped lines of it (see [`Snapshot::lost`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lost: bool,
}

/// How one site (or group) changed along a series.
#[derive(Debug, Clone, Serialize)]
pub struct Growth {
    pub key: String,
    /// Count at each point (0 where the site was absent).
    pub counts: Vec<u64>,
    pub bytes: Vec<u64>,
    /// Last minus first.
    pub count_growth: i64,
    pub bytes_growth: i64,
    /// Growth per snapshot step: (last - first) / (points - 1).
    pub count_per_snapshot: f64,
    pub bytes_per_snapshot: f64,
    /// Three or more points and the count or the bytes rose at every step.
    pub grew_every_time: bool,
    /// Share of the series' total byte growth (of count growth without sizes), 0..=1.
    pub share_of_growth: f64,
}

/// One heap over time.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub key: SeriesKey,
    pub label: String,
    pub points: Vec<Point>,
    pub total_count_growth: i64,
    pub total_bytes_growth: i64,
    /// Sites that grew (count or bytes), leak suspects first when there are
    /// three or more points, then by bytes grown (count grown without sizes).
    pub growing: Vec<Growth>,
    /// How many of `growing` are leak suspects.
    pub suspects: usize,
    /// Sites that shrank or vanished (not listed).
    pub shrinking: usize,
}

/// Groups snapshots (already in time order) into series, keeping first-seen order.
pub fn series_of<'a>(
    snapshots: impl IntoIterator<Item = &'a Snapshot>,
) -> Vec<(SeriesKey, Vec<&'a Snapshot>)> {
    let mut out: Vec<(SeriesKey, Vec<&Snapshot>)> = Vec::new();
    for s in snapshots {
        let k = SeriesKey::of(s);
        match out.iter_mut().find(|(key, _)| *key == k) {
            Some((_, v)) => v.push(s),
            None => out.push((k, vec![s])),
        }
    }
    out
}

fn diff_i64(a: u64, b: u64) -> i64 {
    let d = i128::from(b) - i128::from(a);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

/// Compares the points of one series, summing sites by `by`.
pub fn compare(key: SeriesKey, points: &[&Snapshot], by: GroupBy) -> Series {
    let n = points.len();
    let mut table: HashMap<String, (Vec<u64>, Vec<u64>)> = HashMap::new();
    for (i, snap) in points.iter().enumerate() {
        for s in &snap.sites {
            let e = table
                .entry(by.key(&s.site))
                .or_insert_with(|| (vec![0; n], vec![0; n]));
            e.0[i] = e.0[i].saturating_add(s.count);
            e.1[i] = e.1[i].saturating_add(s.bytes);
        }
    }
    let has_bytes = points.iter().any(|p| p.total_bytes > 0);
    let steps = n.saturating_sub(1).max(1) as f64;
    let mut growing = Vec::new();
    let mut shrinking = 0;
    for (key, (counts, bytes)) in table {
        let count_growth = diff_i64(counts[0], counts[n - 1]);
        let bytes_growth = diff_i64(bytes[0], bytes[n - 1]);
        let rose = |v: &[u64]| v.windows(2).all(|w| w[1] > w[0]);
        let grew_every_time = n >= 3 && (rose(&counts) || (has_bytes && rose(&bytes)));
        if count_growth > 0 || bytes_growth > 0 {
            growing.push(Growth {
                key,
                count_per_snapshot: count_growth as f64 / steps,
                bytes_per_snapshot: bytes_growth as f64 / steps,
                counts,
                bytes,
                count_growth,
                bytes_growth,
                grew_every_time,
                share_of_growth: 0.0,
            });
        } else if count_growth < 0 || bytes_growth < 0 {
            shrinking += 1;
        }
    }
    let first = points.first();
    let last = points.last();
    let total_count_growth = match (first, last) {
        (Some(a), Some(b)) => diff_i64(a.total_count, b.total_count),
        _ => 0,
    };
    let total_bytes_growth = match (first, last) {
        (Some(a), Some(b)) => diff_i64(a.total_bytes, b.total_bytes),
        _ => 0,
    };
    let grown: f64 = growing
        .iter()
        .map(|g| {
            if has_bytes {
                g.bytes_growth.max(0) as f64
            } else {
                g.count_growth.max(0) as f64
            }
        })
        .sum();
    for g in &mut growing {
        let mine = if has_bytes {
            g.bytes_growth.max(0)
        } else {
            g.count_growth.max(0)
        } as f64;
        g.share_of_growth = if grown > 0.0 { mine / grown } else { 0.0 };
    }
    growing.sort_by(|a, b| {
        b.grew_every_time
            .cmp(&a.grew_every_time)
            .then_with(|| {
                if has_bytes {
                    b.bytes_growth.cmp(&a.bytes_growth)
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then(b.count_growth.cmp(&a.count_growth))
            .then_with(|| a.key.cmp(&b.key))
    });
    let suspects = growing.iter().filter(|g| g.grew_every_time).count();
    Series {
        key,
        label: key.label(),
        points: points
            .iter()
            .map(|s| Point {
                source: s.source.clone(),
                first_line: s.first_line,
                time: s.time.clone(),
                pid: s.pid,
                total_count: s.total_count,
                total_bytes: s.total_bytes,
                complete: s.complete,
                lost: s.lost,
            })
            .collect(),
        total_count_growth,
        total_bytes_growth,
        growing,
        suspects,
        shrinking,
    }
}

/// Every series with two or more dumps, compared; and the keys of those with only one.
pub fn diff_all<'a>(
    snapshots: impl IntoIterator<Item = &'a Snapshot>,
    by: GroupBy,
) -> (Vec<Series>, Vec<SeriesKey>) {
    let mut compared = Vec::new();
    let mut single = Vec::new();
    for (key, points) in series_of(snapshots) {
        if points.len() >= 2 {
            compared.push(compare(key, &points, by));
        } else {
            single.push(key);
        }
    }
    (compared, single)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::aggregate::aggregate_text;

    fn sums(pid: u32, rows: &[(u64, u64, &str)]) -> String {
        let mut t = format!(" 1({pid}) NOTICE: <core> [main.c:869]: sig_usr(): Memory still-in-use summary (pkg):\n");
        t.push_str(&format!(
            " 1({pid}) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:\n"
        ));
        for (c, s, site) in rows {
            t.push_str(&format!(" 1({pid}) ALERT: qm_sums: qm_sums():  count={c:>6} size={s:>10} bytes from {site}\n"));
        }
        t.push_str(&format!(
            " 1({pid}) ALERT: qm_sums: qm_sums(): -----------------------------\n"
        ));
        t
    }

    const HT: &str = "htable: ht_api.c: ht_cell_new(268)";
    const TM: &str = "tm: t_hooks.c: insert_tmcb(103)";
    const CORE: &str = "core: core/pvapi.c: pv_init_buffer(2139)";

    #[test]
    fn three_snapshots_flag_the_site_that_grew_every_time() {
        let text = [
            sums(7240, &[(10, 1000, HT), (5, 500, TM), (40, 327680, CORE)]),
            sums(7241, &[(3, 30, TM)]),
            sums(7240, &[(20, 2000, HT), (9, 900, TM), (40, 327680, CORE)]),
            sums(7240, &[(30, 3000, HT), (6, 600, TM), (40, 327680, CORE)]),
        ]
        .concat();
        let log = aggregate_text(text.as_bytes());
        let (series, single) = diff_all(&log.snapshots, GroupBy::Site);
        assert_eq!(single.len(), 1, "pid 7241 has one dump only");
        assert_eq!(series.len(), 1);
        let s = &series[0];
        assert_eq!(s.points.len(), 3);
        assert_eq!(s.suspects, 1);
        let top = &s.growing[0];
        assert_eq!(top.key, HT);
        assert!(top.grew_every_time);
        assert_eq!((top.count_growth, top.bytes_growth), (20, 2000));
        assert!((top.count_per_snapshot - 10.0).abs() < 1e-9);
        assert_eq!(top.counts, vec![10, 20, 30]);
        // tm went up then down: it grew overall but not every time
        let tm = &s.growing[1];
        assert_eq!(tm.key, TM);
        assert!(!tm.grew_every_time);
        assert_eq!(s.growing.len(), 2, "the unchanged core site is not listed");
        assert_eq!(s.total_bytes_growth, 2100);
        assert!((top.share_of_growth - 2000.0 / 2100.0).abs() < 1e-9);
    }

    #[test]
    fn shm_is_one_heap_whatever_the_pid() {
        let shm = |pid: u32, n: u64| {
            format!(
                " 6({pid}) ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)
 6({pid}) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 6({pid}) ALERT: qm_sums: qm_sums():  count={n:>6} size={:>10} bytes from {HT}
 6({pid}) ALERT: qm_sums: qm_sums(): -----------------------------
",
                n * 96
            )
        };
        let text = shm(7245, 5) + &shm(7246, 1005);
        let log = aggregate_text(text.as_bytes());
        let (series, _) = diff_all(&log.snapshots, GroupBy::Site);
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].key.pool, Some(Pool::Shm));
        assert_eq!(series[0].growing[0].count_growth, 1000);
        assert_eq!(series[0].suspects, 0, "two points cannot make a suspect");
    }

    #[test]
    fn vanished_sites_count_as_shrinking() {
        let text = sums(1, &[(2, 20, TM), (1, 10, HT)]) + &sums(1, &[(1, 10, HT)]);
        let log = aggregate_text(text.as_bytes());
        let (series, _) = diff_all(&log.snapshots, GroupBy::Module);
        assert_eq!(series[0].growing.len(), 0);
        assert_eq!(series[0].shrinking, 1);
    }
}
