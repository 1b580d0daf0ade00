//! What one class of traffic did to memory, from three snapshots: before
//! the traffic, right after it (the peak), and after the settle time (the
//! proxy's timers and expiries have run). Pure: numbers in, ranked growth
//! out; no I/O.
//!
//! A site whose growth went back by the end (what is left is at most a
//! tenth of what it grew at the peak) is *held by design*: transactions in
//! tm's wait timer, registrations or dialogs until they expire. Anything
//! else that grew is a leak candidate, reported with what is still held.

use serde::Serialize;
use std::collections::BTreeMap;

/// One site in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cell {
    /// Fragments, when the snapshot carries counts (dumps); `None` for
    /// byte-only snapshots (`mod.stats`).
    pub count: Option<u64>,
    pub bytes: u64,
}

/// One snapshot of one pool: sites by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub sites: BTreeMap<String, Cell>,
    /// How it was taken (`summary dump`, `status dump`, `mod.stats`), for the report.
    pub kind: &'static str,
}

impl Tally {
    /// Adds `count` fragments (if known) and `bytes` to `site`.
    pub fn add(&mut self, site: &str, count: Option<u64>, bytes: u64) {
        let c = self.sites.entry(site.to_string()).or_default();
        c.count = match (c.count, count) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (None, Some(b)) => Some(b),
            (a, None) => a,
        };
        c.bytes = c.bytes.saturating_add(bytes);
    }

    pub fn get(&self, site: &str) -> Cell {
        self.sites.get(site).copied().unwrap_or_default()
    }

    pub fn total_bytes(&self) -> u64 {
        self.sites.values().map(|c| c.bytes).sum()
    }
}

/// One site's growth in one class (the `growth` entries of `kmemdbg.hunt/1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteGrowth {
    pub site: String,
    /// Fragments grown; `null` when the snapshots have no counts.
    pub count: Option<i64>,
    pub bytes: i64,
    /// `bytes` divided by the requests sent.
    pub per_request: f64,
    /// Held by design: the growth went back after timers and expiries (the
    /// numbers are then the peak, right after the traffic).
    pub held: bool,
}

fn delta(a: u64, b: u64) -> i64 {
    let d = i128::from(b) - i128::from(a);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

fn delta_count(a: Cell, b: Cell) -> Option<i64> {
    match (a.count, b.count) {
        (Some(x), Some(y)) => Some(delta(x, y)),
        // A site absent from a counted snapshot has 0 fragments.
        (None, Some(y)) if a.bytes == 0 => Some(delta(0, y)),
        (Some(x), None) if b.bytes == 0 => Some(delta(x, 0)),
        _ => None,
    }
}

/// Ranks what grew between `before` and `after`, using `peak` (right after
/// the traffic) to tell held-by-design growth from leak candidates.
/// `requests` is what was sent (0 gives a `per_request` of 0).
/// Leak candidates come first, most bytes first; then held sites.
pub fn judge(before: &Tally, peak: &Tally, after: &Tally, requests: u64) -> Vec<SiteGrowth> {
    let mut names: Vec<&String> = before.sites.keys().collect();
    names.extend(peak.sites.keys());
    names.extend(after.sites.keys());
    names.sort();
    names.dedup();
    let per = |bytes: i64| {
        if requests == 0 {
            0.0
        } else {
            bytes as f64 / requests as f64
        }
    };
    let mut out = Vec::new();
    for name in names {
        let (b, p, a) = (before.get(name), peak.get(name), after.get(name));
        let peak_count = delta_count(b, p);
        let left_count = delta_count(b, a);
        let peak_bytes = delta(b.bytes, p.bytes);
        let left_bytes = delta(b.bytes, a.bytes);
        // Judge by fragments where they are known, else by bytes.
        let (grew, left) = match (peak_count, left_count) {
            (Some(pc), Some(lc)) => (pc, lc),
            _ => (peak_bytes, left_bytes),
        };
        let went_back = left <= grew.max(0) / 10;
        if left > 0 && !went_back {
            out.push(SiteGrowth {
                site: name.clone(),
                count: left_count,
                bytes: left_bytes,
                per_request: per(left_bytes),
                held: false,
            });
        } else if grew > 0 {
            out.push(SiteGrowth {
                site: name.clone(),
                count: peak_count,
                bytes: peak_bytes,
                per_request: per(peak_bytes),
                held: true,
            });
        }
    }
    out.sort_by(|x, y| {
        x.held
            .cmp(&y.held)
            .then(y.bytes.cmp(&x.bytes))
            .then(y.count.cmp(&x.count))
            .then_with(|| x.site.cmp(&y.site))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(rows: &[(&str, u64, u64)]) -> Tally {
        let mut t = Tally::default();
        for (s, c, b) in rows {
            t.add(s, Some(*c), *b);
        }
        t
    }

    const HT: &str = "htable: ht_api.c: ht_cell_new(186)";
    const UL: &str = "usrloc: ucontact.c: new_ucontact(104)";
    const TM: &str = "tm: h_table.c: build_cell(353)";

    #[test]
    fn leak_stays_held_goes_back() {
        let before = tally(&[(HT, 5, 480), (UL, 0, 0), (TM, 0, 0)]);
        // 100 INVITEs: 100 cells stay; 100 contacts and 30 transactions at the peak
        let peak = tally(&[(HT, 105, 10080), (UL, 100, 25600), (TM, 30, 90000)]);
        let after = tally(&[(HT, 105, 10080), (UL, 3, 768)]);
        let g = judge(&before, &peak, &after, 100);
        assert_eq!(g.len(), 3, "{g:?}");
        assert_eq!(g[0].site, HT);
        assert!(!g[0].held);
        assert_eq!((g[0].count, g[0].bytes), (Some(100), 9600));
        assert!((g[0].per_request - 96.0).abs() < 1e-9);
        // held: the peak numbers, most bytes first
        assert_eq!(g[1].site, TM);
        assert!(g[1].held);
        assert_eq!((g[1].count, g[1].bytes), (Some(30), 90000));
        assert_eq!(g[2].site, UL);
        assert!(g[2].held, "3 of 100 left is within a tenth");
    }

    #[test]
    fn half_left_is_a_candidate_and_bytes_only_works() {
        let g = judge(
            &tally(&[(UL, 0, 0)]),
            &tally(&[(UL, 100, 1000)]),
            &tally(&[(UL, 50, 500)]),
            10,
        );
        assert_eq!(g.len(), 1);
        assert!(!g[0].held);
        assert_eq!(g[0].count, Some(50));
        let mut b = Tally::default();
        b.add("tm", None, 1000);
        let mut p = Tally::default();
        p.add("tm", None, 5000);
        let mut a = Tally::default();
        a.add("tm", None, 1000);
        a.add("htable", None, 960);
        let g = judge(&b, &p, &a, 10);
        assert_eq!(g[0].site, "htable");
        assert_eq!(g[0].count, None);
        assert!(!g[0].held);
        assert_eq!(g[0].bytes, 960);
        assert!(g[1].held && g[1].site == "tm" && g[1].bytes == 4000);
        // nothing grew: nothing listed; shrinking is not growth
        assert!(judge(&a, &a, &b, 10).is_empty());
        assert_eq!(judge(&a, &a, &a, 0).len(), 0);
    }

    proptest::proptest! {
        /// Any three snapshots: never panics, every entry grew, candidates first.
        #[test]
        fn judge_never_panics(
            rows in proptest::collection::vec(
                (0usize..6, proptest::option::of(0u64..u64::MAX), 0u64..u64::MAX, 0usize..3),
                0..40,
            ),
            requests in 0u64..1000,
        ) {
            let mut t = [Tally::default(), Tally::default(), Tally::default()];
            for (site, count, bytes, which) in rows {
                t[which].add(&format!("s{site}"), count, bytes);
            }
            let g = judge(&t[0], &t[1], &t[2], requests);
            proptest::prop_assert!(g.windows(2).all(|w| w[0].held <= w[1].held));
            proptest::prop_assert!(g.iter().all(|x| x.per_request.is_finite()));
        }
    }
}
