//! Tests of the aggregation on real and synthetic dumps, and fuzzing.

use super::*;
use crate::dump::group::{group, GroupBy};

fn log(text: &str) -> DumpLog {
    aggregate_text(text.as_bytes())
}

// Real lines from ../shared/samples/kamailio-5.6.3-stderr-dumps.log (trimmed).
const SHM_STATUS: &str = " 6(7245) ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)
 6(7245) ALERT: qm_status: qm_status(): (0x7f5288951000):
 6(7245) ALERT: qm_status: qm_status(): heap size= 33554432
 6(7245) ALERT: qm_status: qm_status(): used= 2474872, used+overhead=2715744, free=30838688
 6(7245) ALERT: qm_status: qm_status(): max used (+overhead)= 2716320
 6(7245) ALERT: qm_status: qm_status(): dumping all alloc'ed. fragments:
 6(7245) ALERT: qm_status: qm_status():      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1
 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)
 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed
 2(7241) NOTICE: <core> [core/mem/q_malloc.c:373]: qm_malloc(): qm_malloc(0x7f528abb0010, 2008) called from core: core/receive.c: receive_msg(340)
 6(7245) ALERT: qm_status: qm_status():     10. N  address=0x7f528898ab60 frag=0x7f528898ab28 size=278544 used=1
 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/dns_cache.c: init_dns_cache(349)
 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed
 6(7245) ALERT: qm_status: qm_status():     11. N  address=0x7f52889cebd8 frag=0x7f52889ceba0 size=8 used=1
 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)
 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed
 6(7245) ALERT: qm_status: qm_status(): dumping free list stats :
 6(7245) ALERT: qm_status: qm_status(): hash=  72. fragments no.:     1, unused:     0
\t\t bucket size:       576 -       576 (first       576)
 6(7245) ALERT: qm_status: qm_status(): -----------------------------
";

/// The qm_status text Kamailio would print for these fragments
/// (`(size, site)`; the line layout of the real 5.6.3 lines above).
fn status_text(frags: &[(u64, Option<String>)]) -> String {
    let p = " 6(7245) ALERT: qm_status: qm_status():";
    let mut t = format!(
        " 6(7245) ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)\n{p} (0x7f5288951000):\n{p} heap size= 33554432\n{p} used= 2474872, used+overhead=2715744, free=30838688\n{p} dumping all alloc'ed. fragments:\n"
    );
    for (i, (size, site)) in frags.iter().enumerate() {
        t.push_str(&format!(
            "{p}     {i:2}. N  address=0x{:x} frag=0x{:x} size={size} used=1\n",
            0x7f52_8898_a6c8u64 + i as u64 * 64,
            0x7f52_8898_a690u64 + i as u64 * 64
        ));
        if let Some(site) = site {
            t.push_str(&format!("{p}           alloc'd from {site}\n"));
        }
        t.push_str(&format!(
            "{p}          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed\n"
        ));
    }
    t.push_str(&format!(
        "{p} dumping free list stats :\n{p} -----------------------------\n"
    ));
    t
}

fn of_memory(frags: &[(u64, Option<String>)]) -> Snapshot {
    let addrs: Vec<String> = (0..frags.len()).map(|i| format!("0x{i:x}")).collect();
    snapshot_of_fragments(
        &MemoryOrigin {
            pid: Some(7245),
            pool: Some(Pool::Shm),
            allocator: Some(Allocator::Qm),
            heap: HeapStats::default(),
            complete: true,
        },
        frags
            .iter()
            .zip(&addrs)
            .map(|((size, site), a)| MemoryFragment {
                size_bytes: *size,
                free: false,
                address: a,
                site: site.as_deref(),
            }),
    )
}

fn assert_same_ranking(dump: &Snapshot, memory: &Snapshot) {
    assert_eq!(dump.sites, memory.sites);
    assert_eq!(
        (dump.total_count, dump.total_bytes),
        (memory.total_count, memory.total_bytes)
    );
    assert_eq!(
        (dump.fragments_without_site, dump.bytes_without_site),
        (memory.fragments_without_site, memory.bytes_without_site)
    );
    for by in [
        GroupBy::Site,
        GroupBy::Function,
        GroupBy::File,
        GroupBy::Module,
    ] {
        assert_eq!(group(dump, by), group(memory, by), "{by:?}");
    }
}

#[test]
fn fragments_from_memory_rank_like_the_same_status_dump() {
    // sites copied from the real 5.6.3 log; ties in bytes broken by count, then name
    let frags: Vec<(u64, Option<String>)> = [
        (8, Some("core: core/mem/q_malloc.c: qm_shm_lock_init(1277)")),
        (278544, Some("core: core/dns_cache.c: init_dns_cache(349)")),
        (8, Some("core: core/mem/q_malloc.c: qm_shm_lock_init(1277)")),
        (2048, Some("tm: h_table.c: init_hash_table(471)")),
        (1024, Some("tm: h_table.c: init_hash_table(471)")),
        (3072, Some("htable: ht_api.c: ht_init_tables(257)")),
        (16, None),
        (48, Some("core: core/cfg/cfg_struct.c: cfg_clone_str(126)")),
    ]
    .into_iter()
    .map(|(s, site)| (s, site.map(str::to_string)))
    .collect();
    let log = aggregate_text(status_text(&frags).as_bytes());
    assert_eq!(log.snapshots.len(), 1);
    let dump = &log.snapshots[0];
    let memory = of_memory(&frags);
    assert_same_ranking(dump, &memory);
    assert_eq!(memory.sites[0].site.function, "init_dns_cache");
    assert_eq!((memory.sites[1].count, memory.sites[1].bytes), (2, 3072));
    assert_eq!(memory.fragments_without_site, 1);
    assert_eq!(memory.pool, Some(Pool::Shm));
    assert!(memory.complete);
    assert_eq!(group(&memory, GroupBy::Module)[0].key, "core");
    assert!(of_memory(&[]).sites.is_empty());
}

proptest::proptest! {
    #[test]
    fn fragments_from_memory_rank_like_any_status_dump(frags in proptest::collection::vec(
        (0u64..5000, proptest::option::weighted(0.9, proptest::prop_oneof![
            proptest::prelude::Just("core: core/mem/q_malloc.c: qm_shm_lock_init(1277)".to_string()),
            proptest::prelude::Just("tm: h_table.c: init_hash_table(471)".to_string()),
            "(core|tm|sl): [a-z_/]{1,12}\\.c: [a-z_]{1,10}\\([0-9]{1,4}\\)",
        ])),
        0..40,
    )) {
        let log = aggregate_text(status_text(&frags).as_bytes());
        proptest::prop_assert_eq!(log.snapshots.len(), 1);
        assert_same_ranking(&log.snapshots[0], &of_memory(&frags));
    }
}

#[test]
fn status_dump_sums_sites_by_bytes() {
    let l = log(SHM_STATUS);
    assert_eq!(l.snapshots.len(), 1);
    let s = &l.snapshots[0];
    assert_eq!(s.pid, Some(7245));
    assert_eq!(s.pool, Some(Pool::Shm));
    assert_eq!(s.kind, DumpKind::Status);
    assert!(s.complete && !s.headless);
    assert_eq!(s.heap.size_bytes, Some(33554432));
    assert_eq!(s.heap.max_used_bytes, Some(2716320));
    assert_eq!(s.total_count, 3);
    assert_eq!(s.total_bytes, 278544 + 16);
    assert_eq!(s.sites[0].site.function, "init_dns_cache");
    assert_eq!((s.sites[1].count, s.sites[1].bytes), (2, 16));
    assert_eq!((s.first_line, s.last_line), (2, 20));
    assert_eq!(l.lines.alloc_debug_lines, 1);
    assert_eq!(l.lines.unreadable_lines, 0);
    assert_eq!(l.corruption_count(), 0);
}

#[test]
fn truncated_dump_is_kept_and_marked() {
    let cut: String = SHM_STATUS
        .lines()
        .take(12)
        .map(|l| format!("{l}\n"))
        .collect();
    let l = log(&cut);
    assert_eq!(l.snapshots.len(), 1);
    assert!(!l.snapshots[0].complete);
    assert_eq!(l.snapshots[0].total_count, 2);
}

#[test]
fn a_log_cut_inside_a_guard_word_is_not_corruption() {
    let mut text: String = SHM_STATUS
        .lines()
        .take(9)
        .map(|l| format!("{l}\n"))
        .collect();
    text.truncate(text.len() - 4); // "abcde" of "abcdefed", no newline
    let l = log(&text);
    assert_eq!(l.corruption_count(), 0);
    assert!(!l.snapshots[0].complete);
    // a whole line with a wrong guard word ("abcdefee") is corruption
    assert_eq!(log(&format!("{text}fee\n")).corruption_count(), 1);
}

#[test]
fn input_starting_mid_dump_is_headless() {
    let tail: String = SHM_STATUS
        .lines()
        .skip(9)
        .map(|l| format!("{l}\n"))
        .collect();
    let l = log(&tail);
    assert_eq!(l.snapshots.len(), 1);
    assert!(l.snapshots[0].headless);
    assert!(l.snapshots[0].complete);
    assert_eq!(l.snapshots[0].total_count, 2);
}

#[test]
fn corruption_markers_name_fragment_and_site() {
    let text = " 6(7245) ALERT: qm_status: qm_status(): (0x7f5288951000):
 6(7245) ALERT: qm_status: qm_status(): dumping all alloc'ed. fragments:
 6(7245) ALERT: qm_status: qm_status():     10. N  address=0x7f528898ab60 frag=0x7f528898ab28 size=64 used=1
 6(7245) ALERT: qm_status: qm_status():           alloc'd from tm: t_hooks.c: insert_tmcb(103)
 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= 41414141, abcdefed
 6(7245) ALERT: qm_status: qm_status():          * end overwritten(41414141, abcdefed)!
 6(7245) ALERT: qm_status: qm_status(): -----------------------------
 1(7240) CRITICAL: <core> [core/mem/q_malloc.c:514]: qm_free(): BUG: freeing already freed pointer (0x7f52), called from tm: t_funcs.c: free_cell(100), first free tm: t_funcs.c: free_cell(100) - aborting
";
    let l = log(text);
    let s = &l.snapshots[0];
    assert_eq!(s.corruption_total, 1, "one damaged fragment, counted once");
    let c = &s.corruption[0];
    assert_eq!(c.address.as_deref(), Some("0x7f528898ab60"));
    assert_eq!(c.site.as_deref(), Some("tm: t_hooks.c: insert_tmcb(103)"));
    assert!(c.text.contains("end overwritten"));
    assert_eq!(l.corruption.len(), 1);
    assert_eq!(l.corruption[0].pid, Some(7240));
    assert_eq!(l.corruption_count(), 2);
}

#[test]
fn interleaved_processes_stay_apart() {
    let text = " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 2(7241) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)
 2(7241) ALERT: qm_sums: qm_sums():  count=     7 size=       700 bytes from tm: t_hooks.c: insert_tmcb(103)
 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------
 2(7241) ALERT: qm_sums: qm_sums():  count=     1 size=        16 bytes from core: core/sr_module.c: fix_param(1144)
 2(7241) ALERT: qm_sums: qm_sums(): -----------------------------
";
    let l = log(text);
    assert_eq!(l.snapshots.len(), 2);
    assert_eq!(l.snapshots[0].pid, Some(7240));
    assert_eq!(l.snapshots[0].total_bytes, 112);
    assert_eq!(l.snapshots[1].pid, Some(7241));
    assert_eq!(l.snapshots[1].total_bytes, 716);
    assert_eq!(l.snapshots[1].total_count, 8);
    assert!(l
        .snapshots
        .iter()
        .all(|s| s.complete && s.kind == DumpKind::Summary));
}

#[test]
fn grouping_by_function_file_module() {
    let text = " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       100 bytes from tm: t_hooks.c: insert_tmcb(103)
 1(7240) ALERT: qm_sums: qm_sums():  count=     1 size=       300 bytes from tm: t_hooks.c: insert_tmcb(110)
 1(7240) ALERT: qm_sums: qm_sums():  count=     1 size=        50 bytes from tm: t_lookup.c: t_newtran(12)
 1(7240) ALERT: qm_sums: qm_sums():  count=     5 size=        50 bytes from core: core/ut.h: pkg_str_dup(961)
 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------
";
    let l = log(text);
    let s = &l.snapshots[0];
    let f = group(s, GroupBy::Function);
    assert_eq!(f[0].key, "tm: t_hooks.c: insert_tmcb");
    assert_eq!((f[0].count, f[0].bytes, f[0].sites), (3, 400, 2));
    assert!((f[0].share - 0.8).abs() < 1e-9);
    let m = group(s, GroupBy::Module);
    assert_eq!(m[0].key, "tm");
    assert_eq!(m[0].bytes, 450);
    let fl = group(s, GroupBy::File);
    assert_eq!(fl[0].key, "tm: t_hooks.c");
    assert_eq!(group(s, GroupBy::Site).len(), 4);
}

#[test]
fn filtered_input_counts_sites_without_sizes() {
    // grep "alloc'd from" dump.log | uniq -c
    let text = "      3  6(7245) ALERT: qm_status: qm_status():           alloc'd from tm: t_hooks.c: insert_tmcb(103)
  1  6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/ut.h: pkg_str_dup(961)
";
    let l = log(text);
    let s = &l.snapshots[0];
    assert!(s.headless);
    assert_eq!(s.total_count, 4);
    assert_eq!(s.total_bytes, 0);
    let g = group(s, GroupBy::Site);
    assert_eq!(g[0].count, 3);
    assert!((g[0].share - 0.75).abs() < 1e-9);
}

#[test]
fn pool_header_then_new_dump_closes_unfinished_one() {
    let text = " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       100 bytes from tm: t_hooks.c: insert_tmcb(103)
 1(7240) NOTICE: <core> [main.c:869]: sig_usr(): Memory still-in-use summary (pkg):
 1(7240) NOTICE: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 1(7240) NOTICE: qm_sums: qm_sums():  count=     4 size=       200 bytes from tm: t_hooks.c: insert_tmcb(103)
 1(7240) NOTICE: qm_sums: qm_sums(): -----------------------------
";
    let l = log(text);
    assert_eq!(l.snapshots.len(), 2);
    assert!(!l.snapshots[0].complete);
    assert_eq!(l.snapshots[0].pool, None);
    assert!(l.snapshots[1].complete);
    assert_eq!(l.snapshots[1].pool, Some(Pool::Pkg));
}

/// Lines of every kind from two processes, for the join property.
fn soup_line() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let body = prop_oneof![
        Just("ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)"),
        Just("ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process 1:"),
        Just("ALERT: qm_status: qm_status(): (0x7f5288951000):"),
        Just("ALERT: qm_status: qm_status(): heap size= 33554432"),
        Just("ALERT: qm_status: qm_status(): max used (+overhead)= 2716320"),
        Just("ALERT: qm_status: qm_status(): dumping all alloc'ed. fragments:"),
        Just("ALERT: qm_status: qm_status():      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1"),
        Just("ALERT: qm_status: qm_status():      1. N  address=0x7f528898a738 frag=0x7f528898a700 size=64 used=1"),
        Just("ALERT: qm_status: qm_status():      2. A  address=0x7f528898a7a8 frag=0x7f528898a770 size=16 used=1"),
        Just("ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)"),
        Just("ALERT: qm_status: qm_status():           alloc'd from tm: t_hooks.c: insert_tmcb(103)"),
        Just("ALERT: qm_status: qm_status():           freed from tm: t_hooks.c: insert_tmcb(103)"),
        Just("ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed"),
        Just("ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= 41414141, abcdefed"),
        Just("ALERT: qm_status: qm_status():          * end overwritten(41414141, abcdefed)!"),
        Just("ALERT: qm_status: qm_status(): dumping free list stats :"),
        Just("ALERT: qm_status: qm_status(): -----------------------------"),
        Just("ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:"),
        Just("ALERT: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)"),
        Just("NOTICE: <core> [core/mem/q_malloc.c:373]: qm_malloc(): qm_malloc(0x7f528abb0010, 24) called from core: core/cfg.y: yyparse(2068)"),
    ];
    let who = prop_oneof![
        Just(" 1(7240) "),
        Just(" 2(7241) "),
        Just("      3  1(7240) "),
        Just("Nov 25 22:09:01 sip1 kamailio[7240]: "),
        Just("Nov 25 22:09:02 sip1 kamailio[7240]: "),
    ];
    (who, body).prop_map(|(p, b)| format!("{p}{b}"))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    #[test]
    fn joined_parts_equal_one_pass(
        lines in proptest::collection::vec(soup_line(), 0..80),
        cuts in proptest::collection::vec(0usize..80, 0..4),
    ) {
        let text = lines.join("\n");
        let one = aggregate_text(text.as_bytes());
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(lines.len())).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut bounds = vec![0];
        bounds.extend(cuts.into_iter().filter(|&c| c > 0));
        bounds.push(lines.len());
        bounds.dedup();
        let last = lines.len().saturating_sub(1);
        // the joined text has no final newline: its last line is read as unterminated
        let feed = |agg: &mut Aggregator, at: usize, l: &String| {
            if at == last && !l.is_empty() {
                agg.feed_unterminated(l.as_bytes())
            } else if at != last {
                agg.feed(l.as_bytes())
            }
        };
        let mut whole = Aggregator::new();
        for (i, w) in bounds.windows(2).enumerate() {
            let part = &lines[w[0]..w[1]];
            if i == 0 {
                part.iter().enumerate().for_each(|(k, l)| feed(&mut whole, w[0] + k, l));
                continue;
            }
            let mut chunk = Aggregator::new_chunk();
            part.iter().enumerate().for_each(|(k, l)| feed(&mut chunk, w[0] + k, l));
            if whole.join(chunk).is_err() {
                part.iter().enumerate().for_each(|(k, l)| feed(&mut whole, w[0] + k, l));
            }
        }
        let joined = whole.finish();
        proptest::prop_assert_eq!(format!("{:?}", joined), format!("{:?}", one));
    }

    #[test]
    fn bytes_never_panic_and_join_exactly(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
        at in 0usize..100,
    ) {
        let one = aggregate_text(&bytes);
        // the same lines, as aggregate_text cuts them, read in two parts
        let mut lines = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let i = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            lines.push((&rest[..i], i < rest.len()));
            rest = &rest[(i + 1).min(rest.len())..];
        }
        let feed = |agg: &mut Aggregator, (l, ended): &(&[u8], bool)| {
            if *ended {
                agg.feed(l)
            } else {
                agg.feed_unterminated(l)
            }
        };
        let cut = at.min(lines.len());
        let mut whole = Aggregator::new();
        lines[..cut].iter().for_each(|l| feed(&mut whole, l));
        let mut chunk = Aggregator::new_chunk();
        lines[cut..].iter().for_each(|l| feed(&mut chunk, l));
        if whole.join(chunk).is_err() {
            lines[cut..].iter().for_each(|l| feed(&mut whole, l));
        }
        proptest::prop_assert_eq!(format!("{:?}", whole.finish()), format!("{:?}", one));
    }

    #[test]
    fn never_panics_on_line_soup(lines in proptest::collection::vec(
        proptest::prop_oneof![
            proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status(): (0x7f5288951000):".to_string()),
            proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status():      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1".to_string()),
            proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)".to_string()),
            proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= 0, abcdefed".to_string()),
            proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status():          * end overwritten(0, abcdefed)!".to_string()),
            proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status(): -----------------------------".to_string()),
            proptest::prelude::Just(" 1(7240) ALERT: qm_sums: qm_sums():  count=18446744073709551615 size=18446744073709551615 bytes from a: b: c(1)".to_string()),
            proptest::prelude::Just("      9  1(7240) ALERT: qm_sums: qm_sums():  count=18446744073709551615 size=18446744073709551615 bytes from a: b: c(1)".to_string()),
            proptest::prelude::Just(" 1(7240) ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process 7240:".to_string()),
            "[ -~]{0,40}",
        ],
        0..40,
    )) {
        let text = lines.join("\n");
        let l = aggregate_text(text.as_bytes());
        for s in &l.snapshots {
            for by in [GroupBy::Site, GroupBy::Function, GroupBy::File, GroupBy::Module] {
                let _ = group(s, by);
            }
        }
    }
}
