use super::verdict::{judge, wrapped, Failures, Kind};
use super::*;

const REAL: &str = "../../tests/fixtures/real/";

macro_rules! real {
    ($f:literal) => {
        include_str!(concat!("../../tests/fixtures/real/", $f))
    };
}

#[test]
fn real_mod_stats_pkg_cut_block() {
    // k1895: `#kamcmd mod.stats all pkg`, a TAB block cut before `Total:`.
    let a = read_text(real!("k1895-mod-stats-pkg-5.1.txt"));
    assert_eq!(a.modules.len(), 1, "{a:?}");
    let m = &a.modules[0];
    assert_eq!(m.module.as_deref(), Some("core"));
    assert_eq!(m.pool, Some(Pool::Pkg));
    assert_eq!(m.entries.len(), 30);
    assert_eq!(m.entries_bytes(), 1_493_608);
    assert_eq!(m.total, None, "no Total is invented");
    assert!(!m.complete);
    let _ = REAL;
}

#[test]
fn real_mod_stats_shm_spaces() {
    let a = read_text(real!("k1895-stderr-and-mod-stats-shm-5.1.txt"));
    assert_eq!(a.modules.len(), 1, "{a:?}");
    let m = &a.modules[0];
    assert_eq!(m.pool, Some(Pool::Shm));
    assert_eq!(m.entries.len(), 9);
    assert_eq!(m.entries_bytes(), 4_334_144);
}

#[test]
fn real_mod_stats_grep_without_header() {
    let a = read_text(real!("k2094-uniq-c-cut-and-mod-stats-grep-5.x.txt"));
    assert_eq!(a.modules.len(), 1, "{a:?}");
    let m = &a.modules[0];
    assert_eq!(m.module, None);
    assert_eq!(m.pool, Some(Pool::Shm));
    assert_eq!(m.entries.len(), 5);
    assert_eq!(m.entries_bytes(), 3160);
}

#[test]
fn real_kamctl_stats_shmem_is_fragmentation() {
    let a = read_text(real!("k562-kamctl-stats-shmem-fragmented-4.3.4.txt"));
    assert_eq!(a.pools.len(), 1, "{a:?}");
    let p = &a.pools[0];
    assert_eq!(p.method, Method::ShmStatistics);
    assert_eq!(p.total, Some(67_108_864));
    assert_eq!(p.free, Some(49_473_400));
    assert_eq!(p.real_used, Some(17_635_464));
    assert_eq!(p.used, Some(9_423_760));
    assert_eq!(p.max_used, Some(67_108_696));
    assert_eq!(p.fragments, Some(39_604));
    assert_eq!(wrapped(p), None);
    // the two `mem. allocation failure` lines of the same paste
    let v = judge(
        p,
        &Failures {
            shm: 0,
            pkg: 0,
            unknown: 2,
        },
    );
    assert_eq!(v.kind, Kind::Fragmentation, "{}", v.text);
    assert!(v.next.iter().any(|n| n.contains("mem_join")));
    let quiet = judge(p, &Failures::default());
    assert_eq!(quiet.kind, Kind::Ok, "{}", quiet.text);
}

#[test]
fn real_pkg_stats_old_layout() {
    let a = read_text(real!("k2270-pkg-stats-kamcmd.txt"));
    assert_eq!(a.pools.len(), 1);
    let p = &a.pools[0];
    assert_eq!(
        (p.pool, p.pid, p.desc.as_deref()),
        (Pool::Pkg, Some(13723), None)
    );
    assert_eq!(p.used, Some(2_616_752));
    assert_eq!(p.free, Some(13_180_048));
    assert_eq!(p.real_used, Some(3_597_168));
    assert_eq!(p.total, Some(16_777_216));
    let v = judge(p, &Failures::default());
    assert_eq!(v.kind, Kind::Ok);
    assert!(v.text.contains("21.4%"), "{}", v.text);
}

#[test]
fn real_json_without_memory() {
    let a = read_text(real!("k1595-curl-jsonrpc-stats-not-memory-5.1.txt"));
    assert!(a.is_empty(), "{a:?}");
}

/// Stand-in (built here, not pasted): an exhausted receiver as kamcmd prints
/// it, with figures made up for the test.
const EXHAUSTED: &str = "{\n\tentry: 1\n\tpid: 4242\n\trank: 1\n\tused: 1000000\n\tfree: 0\n\treal_used: 8388608\n\ttotal_size: 8388608\n\ttotal_frags: 0\n\tdesc: udp receiver child=0 sock=127.0.0.1:5060\n}\n";

#[test]
fn standin_exhausted_receiver_names_the_gap() {
    let a = read_text(EXHAUSTED);
    let v = judge(&a.pools[0], &Failures::default());
    assert_eq!(v.kind, Kind::Exhausted);
    assert!(
        v.text.contains("pid 4242 (udp receiver child=0"),
        "{}",
        v.text
    );
    assert!(
        v.text
            .contains("7,388,608 bytes between used and real_used"),
        "{}",
        v.text
    );
    assert!(v.text.contains("11.9%"), "{}", v.text);
}

#[test]
fn standin_exhausted_in_json_and_xml() {
    let json = "{\n  \"jsonrpc\": \"2.0\",\n  \"result\": [\n    {\n      \"entry\": 1,\n      \"pid\": 4242,\n      \"rank\": 1,\n      \"used\": 1000000,\n      \"free\": 0,\n      \"real_used\": 8388608,\n      \"total_size\": 8388608,\n      \"total_frags\": 0,\n      \"desc\": \"udp receiver child=0\"\n    }\n  ],\n  \"id\": 1\n}\n";
    let a = read_text(json);
    assert_eq!(a.pools.len(), 1, "{a:?}");
    assert_eq!(a.pools[0].encoding, Encoding::Json);
    assert_eq!(
        judge(&a.pools[0], &Failures::default()).kind,
        Kind::Exhausted
    );
    assert_eq!(a.lines_used, json.lines().count() as u64);
    let xml = "<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n<value><struct><member><name>entry</name><value><int>1</int></value></member><member><name>pid</name><value><int>4242</int></value></member><member><name>used</name><value><int>1000000</int></value></member><member><name>free</name><value><int>0</int></value></member><member><name>real_used</name><value><int>8388608</int></value></member><member><name>total_size</name><value><int>8388608</int></value></member><member><name>desc</name><value><string>udp receiver child=0</string></value></member></struct></value>\n</param>\n</params>\n</methodResponse>\n";
    let a = read_text(xml);
    assert_eq!(a.pools.len(), 1, "{a:?}");
    assert_eq!(a.pools[0].encoding, Encoding::XmlRpc);
    assert_eq!(a.pools[0].desc.as_deref(), Some("udp receiver child=0"));
    assert_eq!(
        judge(&a.pools[0], &Failures::default()).kind,
        Kind::Exhausted
    );
}

#[test]
fn standin_shmmem_wrapped_in_xml() {
    // built like kamailio/kamailio#2824 describes: a >4 GB pool through an int
    let xml = "<?xml version=\"1.0\"?>\n<methodResponse><params><param><value><struct><member><name>total</name><value><int>-16</int></value></member><member><name>free</name><value><int>-1000016</int></value></member><member><name>used</name><value><int>900000</int></value></member><member><name>real_used</name><value><int>1000000</int></value></member><member><name>max_used</name><value><int>1200000</int></value></member><member><name>fragments</name><value><int>10</int></value></member></struct></value></param></params></methodResponse>\n";
    let a = read_text(xml);
    let p = &a.pools[0];
    let w = wrapped(p).unwrap();
    assert_eq!(w.bits, 32);
    let v = judge(p, &Failures::default());
    assert_eq!(v.kind, Kind::Wrapped);
    assert_eq!(v.use_share, None);
    assert!(!v.text.contains("-1,000,016"), "{}", v.text);
    assert!(v.text.contains("real_used 1,000,000"), "{}", v.text);
}

#[test]
fn standin_shm_report_fragmented_and_psx() {
    let t = "{\n\ttotal_size: 67108864\n\tfree_size_s: 40000000\n\tused_size_s: 20000000\n\treal_used_s: 27108864\n\tmax_used_s: 30000000\n\tfree_frags: 50000\n\tused_frags: 60000\n\ttotal_frags: 110000\n\tmax_free_frag_size: 3000\n\tmax_free_frag_file: core/tcp_main.c\n}\n{\n\tIDX: 0\n\tPID: 100\n\tDSC: main process - attendant\n}\n";
    let a = read_text(t);
    assert_eq!(a.pools[0].method, Method::ShmReport);
    assert_eq!(a.pools[0].largest_free, Some(3000));
    let v = judge(&a.pools[0], &Failures::default());
    assert_eq!(v.kind, Kind::Fragmentation, "{}", v.text);
    assert!(v.text.contains("fragmentation, not a leak"));
    assert_eq!(
        a.processes,
        vec![Process {
            index: Some(0),
            pid: 100,
            desc: "main process - attendant".into()
        }]
    );
}

#[test]
fn standin_mod_stats_json_all() {
    let j = "{\"jsonrpc\": \"2.0\", \"result\": [\"Module: core\", {\"init_tcp(1): 16\": 0, \"f(2)\": 100, \"Total\": 100}, {\"g(3)\": 5, \"Total\": 5}, \"\"], \"id\": 1}\n";
    let mut r = Reader::new();
    r.feed(1, b"kamcli rpc mod.stats core all");
    r.feed(2, j.as_bytes());
    let a = r.finish();
    assert_eq!(a.modules.len(), 2, "{a:?}");
    assert_eq!(a.modules[0].pool, Some(Pool::Pkg));
    assert_eq!(a.modules[1].pool, Some(Pool::Shm));
    assert_eq!(a.modules[1].total, Some(5));
}

#[test]
fn near_full_shm() {
    let a = read_text("{\n\ttotal: 1000\n\tfree: 50\n\tused: 900\n\treal_used: 950\n\tmax_used: 990\n\tfragments: 3\n}\n");
    assert_eq!(
        judge(&a.pools[0], &Failures::default()).kind,
        Kind::NearFull
    );
}

#[test]
fn real_pkg_stats_record_without_braces() {
    // k3777: a pkg.stats record pasted without `{` `}`, a blank line, then a
    // shell line and a syslog qm_sums line that are not part of it.
    let a = read_text(real!("k3777-pkg-stats-no-braces-and-qm-sums-5.7.0.txt"));
    assert_eq!(a.pools.len(), 1, "{a:?}");
    let p = &a.pools[0];
    assert_eq!((p.method, p.line), (Method::PkgStats, 3));
    assert_eq!((p.pid, p.rank), (Some(378_355), Some(17)));
    assert_eq!(p.desc.as_deref(), Some("tcp receiver (generic) child=0"));
    assert_eq!(p.used, Some(7_467_640));
    assert_eq!(p.free, Some(24_348_320));
    assert_eq!(p.real_used, Some(9_206_112));
    assert_eq!(p.total, Some(33_554_432));
    assert_eq!(p.fragments, Some(66));
    assert_eq!(a.used_ranges, vec![(3, 11)]);
}

#[test]
fn real_kamctl_ps_grep_json_members() {
    // k1172: `kamctl ps | grep -B1 …`: PID/DSC members of core.psx's JSON,
    // groups split by grep's `--`.
    let a = read_text(real!("k1172-kamctl-ps-grep-json-5.0.2.txt"));
    assert_eq!(a.processes.len(), 8, "{a:?}");
    assert_eq!(
        a.processes[0],
        Process {
            index: None,
            pid: 23_610,
            desc: "tcp receiver (generic) child=0".into()
        }
    );
    assert_eq!(a.processes[7].pid, 23_617);
    assert_eq!(a.lines_used, 16);
    assert!(a.pools.is_empty() && a.modules.is_empty());
}

#[test]
fn bare_records_split_at_the_next_entry_and_at_a_repeated_member() {
    let t = "entry: 1\npid: 10\nused: 1\nfree: 0\nreal_used: 8\ntotal_size: 8\nentry: 2\npid: 11\nused: 1\nfree: 7\nreal_used: 1\ntotal_size: 8\n";
    let a = read_text(t);
    assert_eq!(a.pools.len(), 2, "{a:?}");
    assert_eq!((a.pools[0].pid, a.pools[1].pid), (Some(10), Some(11)));
    assert_eq!(
        judge(&a.pools[0], &Failures::default()).kind,
        Kind::Exhausted
    );
    let j = "  \"PID\": 1,\n  \"DSC\": \"main process - attendant\"\n  \"PID\": 2,\n  \"DSC\": \"udp receiver\"\n";
    let a = read_text(j);
    assert_eq!(a.processes.len(), 2, "{a:?}");
    assert_eq!(a.processes[1].desc, "udp receiver");
    // a member with an escape or an object is not read as a field
    assert!(read_text("\"PID\": {\n\"DSC\": \"a\\\"b\"\n").is_empty());
    // `entry:` that is not a number starts nothing
    assert!(read_text("entry: x\npid: 1\ntotal_size: 2\n").is_empty());
}

#[test]
fn real_pastebin_numbered_mod_stats() {
    // pastebin gHa803kB: `  12. ` before every line, `kamcmd mod.stats all shm`
    // on line 1, the block cut after 44 entries.
    let a = read_text(real!("pastebin-gHa803kB-mod-stats-shm-numbered-5.5.txt"));
    assert_eq!(a.modules.len(), 1, "{a:?}");
    let m = &a.modules[0];
    assert_eq!(
        (m.module.as_deref(), m.pool),
        (Some("core"), Some(Pool::Shm))
    );
    assert_eq!(m.entries.len(), 44);
    assert_eq!(m.entries_bytes(), 877_513_224);
    assert_eq!(m.entries[2].site, "sip_msg_shm_clone(496)");
    assert_eq!(m.entries[2].bytes, 875_908_656);
    assert_eq!((m.total, m.complete), (None, false));
    // `kamcmd> mod.stats all pkg` (kamcmd's own prompt) names the pool
    let a = read_text(real!(
        "pastebin-QLZ8mZdD-kamcmd-prompt-mod-stats-pkg-numbered.txt"
    ));
    assert_eq!(a.modules[0].pool, Some(Pool::Pkg));
    assert_eq!(a.modules[0].entries.len(), 43);
}

#[test]
fn pastebin_numbers_are_not_uniq_counts() {
    use crate::logline::prefix::strip_line_number;
    assert_eq!(strip_line_number(b"  3. {"), Some(&b"{"[..]));
    assert_eq!(
        strip_line_number(b"12: Module: core"),
        Some(&b"Module: core"[..])
    );
    assert_eq!(strip_line_number(b"\tentry: 24"), None);
    // GNU `uniq -c`: a count, not a line number
    assert_eq!(strip_line_number(b"     12 alloc'd from core"), None);
    assert_eq!(strip_line_number(b"12:34:56 host"), None);
}

#[test]
fn real_cut_json_answer_keeps_its_complete_records() {
    // pastebin AabwyJwx: `kamctl ps` (core.psx) cut after `"PID": 3576091,`
    let a = read_text(real!("pastebin-AabwyJwx-kamctl-ps-json-cut-numbered.txt"));
    assert_eq!(a.processes.len(), 11, "{a:?}");
    assert_eq!(
        a.processes[10],
        Process {
            index: Some(10),
            pid: 3_576_090,
            desc: "udp receiver child=9 sock=192.168.2.107:5060".into()
        }
    );
    assert_eq!(a.cut_answers, vec![2]);
    assert_eq!(a.lines_used, 33);
    // the same answer whole: read as JSON, nothing cut
    let a = read_text(real!("pastebin-CpaRYLAR-kamctl-ps-json-numbered.txt"));
    assert_eq!(a.processes.len(), 13);
    assert!(a.cut_answers.is_empty());
}

/// Appending a part with no lines changes nothing: a struct left open
/// stays open and is read by `finish` as in one pass (found by
/// `dump::aggregate`'s join property with a cut after the last line).
#[test]
fn append_of_an_empty_part_changes_nothing() {
    let text = "{\nkey: 1\nother: x";
    let one = read_text(text);
    let mut first = Reader::new();
    for (i, l) in text.lines().enumerate() {
        first.feed(i as u64 + 1, l.as_bytes());
    }
    first.append(Reader::new(), 3);
    assert_eq!(format!("{:?}", first.finish()), format!("{one:?}"));
}

/// A boundary between parts of the input (read in parallel, then
/// appended) is not the end of the paste: no answer is reported cut there;
/// an answer the last part leaves open is.
#[test]
fn append_reports_a_cut_answer_only_at_the_end_of_the_input() {
    let text = real!("pastebin-CpaRYLAR-kamctl-ps-json-numbered.txt");
    let lines: Vec<&str> = text.lines().collect();
    let read = |part: &[&str]| {
        let mut r = Reader::new();
        for (i, l) in part.iter().enumerate() {
            r.feed(i as u64 + 1, l.as_bytes());
        }
        r
    };
    for cut in [5, 30, 59] {
        let mut first = read(&lines[..cut]);
        first.append(read(&lines[cut..]), cut as u64);
        let joined = first.finish();
        assert!(joined.cut_answers.is_empty(), "{cut}: {joined:?}");
        // the last part stops inside the answer: cut at the end of the input
        let mut first = read(&lines[..1]);
        first.append(read(&lines[1..cut]), 1);
        let joined = first.finish();
        assert_eq!(joined.cut_answers, vec![2], "{cut}");
    }
}

#[test]
fn real_kamcmd_core_ps_pairs() {
    // netkiller: `kamcmd core.ps` prints a PID line, then its description
    let a = read_text(real!("netkiller-kamcmd-core-ps-5.x.txt"));
    assert_eq!(a.processes.len(), 26, "{a:?}");
    assert_eq!(
        a.processes[0],
        Process {
            index: None,
            pid: 133_723,
            desc: "main process - attendant".into()
        }
    );
    assert_eq!(a.processes[25].pid, 133_763);
    assert_eq!(a.processes[25].desc, "tcp main process");
    assert_eq!(a.lines_used, 53);
    // without the command line, bare numbers are not PIDs
    let t = real!("netkiller-kamcmd-core-ps-5.x.txt");
    let rest: String = t.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert!(read_text(&rest).is_empty());
    // two numbers in a row end the answer
    let a = read_text("kamcmd core.ps\n1\nmain\n2\n3\nudp\n");
    assert_eq!(a.processes.len(), 1, "{a:?}");
}

proptest::proptest! {
    /// Pastebin line numbers in front of every line of a real answer read
    /// to the same figures as the answer without them.
    #[test]
    fn numbered_answer_reads_as_the_plain_one(first in 1u32..100_000, sep in "(\\. |: | \\| )") {
        let plain = real!("k2270-pkg-stats-kamcmd.txt");
        let numbered: String = plain
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{:>3}{sep}{l}\n", first as usize + i))
            .collect();
        let (a, b) = (read_text(plain), read_text(&numbered));
        proptest::prop_assert_eq!(a.pools, b.pools);
        proptest::prop_assert_eq!(a.lines_used, b.lines_used);
    }

    /// A pkg.stats record reads the same with and without its braces.
    #[test]
    fn bare_record_reads_as_the_braced_one(
        pid in 1u32..4_000_000, used in 0u64..1 << 40, free in 0u64..1 << 40,
        real in 0u64..1 << 40, total in 0u64..1 << 40, indent in "[ \t]{0,8}",
    ) {
        let fields = format!(
            "{indent}entry: 3\n{indent}pid: {pid}\n{indent}used: {used}\n{indent}free: {free}\n{indent}real_used: {real}\n{indent}total_size: {total}\n{indent}desc: udp receiver child=0\n"
        );
        let braced = read_text(&format!("{{\n{fields}}}\n"));
        let bare = read_text(&format!("kamcmd pkg.stats\n\n{fields}\n$ \n"));
        proptest::prop_assert_eq!(braced.pools.len(), 1);
        let (mut a, b) = (braced.pools[0].clone(), bare.pools[0].clone());
        a.line = b.line;
        proptest::prop_assert_eq!(a, b);
    }

    #[test]
    fn never_panics(s in "(\\{|\\}|<[a-z/?]{0,12}>|\"|\\[|\\]|[a-z_:()= \\n\\t0-9-]){0,200}") {
        let a = read_text(&s);
        for p in &a.pools {
            let _ = judge(p, &Failures { pkg: 1, shm: 1, unknown: 1 });
        }
    }

    /// Pieces of answers in any order (records without braces, JSON
    /// members, `core.ps` pairs, pastebin numbers, cut answers): never a
    /// panic, never more lines used than fed, every PID read is one fed.
    #[test]
    fn pieces_never_panic(parts in proptest::collection::vec(proptest::prop_oneof![
        proptest::prelude::Just("kamcmd core.ps".to_string()),
        proptest::prelude::Just("entry: 3".to_string()),
        proptest::prelude::Just("\tpid: 77".to_string()),
        proptest::prelude::Just("total_size: 100".to_string()),
        proptest::prelude::Just("  \"PID\": 77,".to_string()),
        proptest::prelude::Just("  \"DSC\": \"udp receiver\"".to_string()),
        proptest::prelude::Just("}, {".to_string()),
        proptest::prelude::Just("--".to_string()),
        "[0-9]{1,8}",
        "  [0-9]{1,3}\\. [a-z{}\":, 0-9]{0,20}",
        "[{}\\[\\]\" :a-z0-9,]{0,12}",
    ], 0..60)) {
        let text = parts.join("\n");
        let a = read_text(&text);
        proptest::prop_assert!(a.lines_used <= parts.len() as u64);
        for p in &a.processes {
            proptest::prop_assert!(text.contains(&p.pid.to_string()));
        }
    }

    #[test]
    fn never_panics_on_bytes(b in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        let mut r = Reader::new();
        for (i, l) in b.split(|c| *c == b'\n').enumerate() {
            r.feed(i as u64 + 1, l);
        }
        let _ = r.finish();
    }
}
