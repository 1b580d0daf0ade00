//! Property tests of `diff`'s ranking against an independent model: dumps
//! are generated as q_malloc summaries (the layout of a real 5.6.3 log),
//! read by the real reader, compared by `dump::diff_all`, and checked
//! against sums computed here from the generated numbers.
//!
//! - every site whose count or bytes grew is listed, with the growth the
//!   model computes, and nothing else;
//! - the ranking is: sites that grew at every step first, then by bytes,
//!   then by count, then by name;
//! - `--by module` merges sites: a module's growth is the sum of its sites';
//! - the order of input does not matter: lines within a dump, and dumps of
//!   other processes interleaved between them, change nothing.

use kmemdbg::dump::{diff_all, read_snapshots, GroupBy, Series};
use proptest::prelude::*;
use std::collections::BTreeMap;

const SITES: &[&str] = &[
    "htable: ht_api.c: ht_cell_new(268)",
    "htable: ht_api.c: ht_init(120)",
    "tm: t_hooks.c: insert_tmcb(103)",
    "tm: h_table.c: build_cell(372)",
    "core: core/pvapi.c: pv_init_buffer(2139)",
    "core: core/counters.c: cnt_hash_add(339)",
    "usrloc: urecord.c: new_urecord(57)",
];

/// One dump: (site index, count, bytes) rows, each site at most once.
type Dump = Vec<(usize, u64, u64)>;

/// A listed site: (count growth, bytes growth, grew every time, counts, bytes).
type Listed = (i64, i64, bool, Vec<u64>, Vec<u64>);

fn dump_strategy() -> impl Strategy<Value = Dump> {
    proptest::collection::btree_map(0..SITES.len(), (1u64..30, 8u64..512), 0..SITES.len()).prop_map(
        |m| {
            m.into_iter()
                .map(|(site, (count, unit))| (site, count, count * unit))
                .collect()
        },
    )
}

/// A pkg summary of `pid`, as Kamailio 5.6 prints it.
fn sums(pid: u32, rows: &[(usize, u64, u64)]) -> String {
    let mut t = format!(
        " 1({pid}) ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process {pid}:\n"
    );
    t.push_str(&format!(
        " 1({pid}) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:\n"
    ));
    for (site, count, bytes) in rows {
        t.push_str(&format!(
            " 1({pid}) ALERT: qm_sums: qm_sums():  count={count:>6} size={bytes:>10} bytes from {}\n",
            SITES[*site]
        ));
    }
    t.push_str(&format!(
        " 1({pid}) ALERT: qm_sums: qm_sums(): -----------------------------\n"
    ));
    t
}

fn diff_text(text: &str, by: GroupBy) -> Vec<Series> {
    let log = read_snapshots(text.as_bytes()).expect("read");
    diff_all(&log.snapshots, by).0
}

/// The model: per key, (counts, bytes) at each dump.
fn model(dumps: &[Dump], key: impl Fn(&str) -> String) -> BTreeMap<String, (Vec<u64>, Vec<u64>)> {
    let n = dumps.len();
    let mut m: BTreeMap<String, (Vec<u64>, Vec<u64>)> = BTreeMap::new();
    for (i, d) in dumps.iter().enumerate() {
        for (site, count, bytes) in d {
            let e = m
                .entry(key(SITES[*site]))
                .or_insert_with(|| (vec![0; n], vec![0; n]));
            e.0[i] += count;
            e.1[i] += bytes;
        }
    }
    m
}

fn module_of(site: &str) -> String {
    site.split(':').next().unwrap_or_default().to_string()
}

/// Checks one series against the model of its dumps.
fn check(series: &Series, dumps: &[Dump], key: impl Fn(&str) -> String) {
    let n = dumps.len();
    let m = model(dumps, key);
    let rose = |v: &[u64]| v.windows(2).all(|w| w[1] > w[0]);
    let mut want: BTreeMap<String, Listed> = BTreeMap::new();
    for (k, (counts, bytes)) in &m {
        let cg = counts[n - 1] as i64 - counts[0] as i64;
        let bg = bytes[n - 1] as i64 - bytes[0] as i64;
        if cg > 0 || bg > 0 {
            let every = n >= 3 && (rose(counts) || rose(bytes));
            want.insert(k.clone(), (cg, bg, every, counts.clone(), bytes.clone()));
        }
    }
    let got: BTreeMap<String, Listed> = series
        .growing
        .iter()
        .map(|g| {
            (
                g.key.clone(),
                (
                    g.count_growth,
                    g.bytes_growth,
                    g.grew_every_time,
                    g.counts.clone(),
                    g.bytes.clone(),
                ),
            )
        })
        .collect();
    assert_eq!(got, want, "growing sites");
    assert_eq!(series.suspects, want.values().filter(|w| w.2).count());
    // The ranking.
    for pair in series.growing.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let rank = |g: &kmemdbg::dump::Growth| {
            (
                !g.grew_every_time,
                -g.bytes_growth,
                -g.count_growth,
                g.key.clone(),
            )
        };
        assert!(rank(a) < rank(b), "{} ranked before {}", a.key, b.key);
    }
    // Totals: the dumps' own sums.
    let total = |d: &Dump| d.iter().map(|r| r.1).sum::<u64>() as i64;
    assert_eq!(
        series.total_count_growth,
        total(&dumps[n - 1]) - total(&dumps[0])
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ranking_and_growth_match_the_model(dumps in proptest::collection::vec(dump_strategy(), 2..5)) {
        let text: String = dumps.iter().map(|d| sums(7240, d)).collect();
        let series = diff_text(&text, GroupBy::Site);
        // An empty summary is a dump too (a process holding nothing).
        prop_assert_eq!(series.len(), 1);
        check(&series[0], &dumps, str::to_string);
    }

    #[test]
    fn by_module_merges_the_sites_of_each_module(dumps in proptest::collection::vec(dump_strategy(), 2..5)) {
        let dumps: Vec<Dump> = dumps.into_iter().filter(|d| !d.is_empty()).collect();
        prop_assume!(dumps.len() >= 2);
        let text: String = dumps.iter().map(|d| sums(7240, d)).collect();
        let series = diff_text(&text, GroupBy::Module);
        prop_assert_eq!(series.len(), 1);
        check(&series[0], &dumps, module_of);
    }

    #[test]
    fn input_order_does_not_change_the_answer(
        dumps in proptest::collection::vec(dump_strategy(), 2..5),
        other in proptest::collection::vec(dump_strategy(), 2..5),
        seed in any::<u64>(),
    ) {
        let dumps: Vec<Dump> = dumps.into_iter().filter(|d| !d.is_empty()).collect();
        let other: Vec<Dump> = other.into_iter().filter(|d| !d.is_empty()).collect();
        prop_assume!(dumps.len() >= 2 && other.len() >= 2);
        let alone: String = dumps.iter().map(|d| sums(7240, d)).collect();
        let want = diff_text(&alone, GroupBy::Site);
        // The same dumps with their lines in another order, and another
        // process's dumps interleaved between them.
        let mut rng = seed;
        let mut next = || {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            rng >> 33
        };
        let mut text = String::new();
        let mut o = other.iter();
        for d in &dumps {
            let mut rows = d.clone();
            for i in (1..rows.len()).rev() {
                rows.swap(i, (next() as usize) % (i + 1));
            }
            if next() % 2 == 0 {
                if let Some(x) = o.next() {
                    text.push_str(&sums(7241, x));
                }
            }
            text.push_str(&sums(7240, &rows));
        }
        for x in o {
            text.push_str(&sums(7241, x));
        }
        let got = diff_text(&text, GroupBy::Site);
        let mine = got.iter().find(|s| s.key.pid == Some(7240)).expect("pid 7240 compared");
        let key = |s: &Series| {
            s.growing
                .iter()
                .map(|g| (g.key.clone(), g.count_growth, g.bytes_growth, g.grew_every_time))
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(key(mine), key(&want[0]));
        prop_assert_eq!(mine.shrinking, want[0].shrinking);
        prop_assert_eq!(mine.total_bytes_growth, want[0].total_bytes_growth);
    }
}
