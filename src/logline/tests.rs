//! Tests of the whole line reader on real lines of every generation.

use super::bytes::find_byte;
use super::*;

fn body(line: &str) -> Body<'_> {
    parse_line(line.as_bytes()).body
}

// Real lines, copied from ../shared/samples/kamailio-5.6.3-stderr-dumps.log.
const REAL_56: &[&str] = &[
    " 6(7245) ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)",
    " 6(7245) ALERT: qm_status: qm_status(): (0x7f5288951000):",
    " 6(7245) ALERT: qm_status: qm_status(): heap size= 33554432",
    " 6(7245) ALERT: qm_status: qm_status(): used= 2474872, used+overhead=2715744, free=30838688",
    " 6(7245) ALERT: qm_status: qm_status(): max used (+overhead)= 2716320",
    " 6(7245) ALERT: qm_status: qm_status(): dumping all alloc'ed. fragments:",
    " 6(7245) ALERT: qm_status: qm_status():      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1",
    " 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)",
    " 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed",
    " 6(7245) ALERT: qm_status: qm_status(): dumping free list stats :",
    " 6(7245) ALERT: qm_status: qm_status(): hash=  72. fragments no.:     1, unused:     0",
    "\t\t bucket size:       576 -       576 (first       576)",
    " 6(7245) ALERT: qm_status: qm_status(): -----------------------------",
    " 1(7240) ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process 7240:",
    " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:",
    " 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)",
    " 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------",
    " 0(7238) NOTICE: <core> [core/mem/q_malloc.c:373]: qm_malloc(): qm_malloc(0x7f528abb0010, 24) called from core: core/cfg.y: yyparse(2068)",
    " 0(7238) NOTICE: <core> [core/mem/q_malloc.c:525]: qm_free(): freeing frag. 0x7f528ac3fe50 alloc'ed from core: core/cfg.y: mk_name_lst(3952)",
    " 0(7238) NOTICE: <core> [core/mem/q_malloc.c:676]: qm_realloc(): growing from 512 to 1024",
    " 6(7245) INFO: <core> [core/cfg/cfg_ctx.c:599]: cfg_set_now(): core.mem_dump_shm has been changed to 1",
    " 1(7240) NOTICE: <core> [main.c:869]: sig_usr(): Memory still-in-use summary (pkg):",
];

#[test]
fn real_56_lines() {
    let got: Vec<Body> = REAL_56.iter().map(|l| body(l)).collect();
    assert_eq!(
        got[0],
        Body::PoolHeader {
            pool: Pool::Shm,
            summary: false,
            of_pid: None
        }
    );
    assert_eq!(
        got[1],
        Body::StatusStart {
            allocator: Some(Allocator::Qm)
        }
    );
    assert_eq!(got[2], Body::HeapSize(33554432));
    assert_eq!(
        got[3],
        Body::Used {
            used: 2474872,
            used_overhead: 2715744,
            free: 30838688
        }
    );
    assert_eq!(got[4], Body::MaxUsed(2716320));
    assert_eq!(got[5], Body::FragmentsBegin);
    assert_eq!(
        got[6],
        Body::Fragment {
            free: false,
            address: b"0x7f528898a6c8",
            size: 8
        }
    );
    assert_eq!(
        got[7],
        Body::Site {
            freed: false,
            site: b"core: core/mem/q_malloc.c: qm_shm_lock_init(1277)"
        }
    );
    assert!(matches!(got[8], Body::Checks { ok: true, .. }));
    assert_eq!(got[9], Body::FreeList);
    assert_eq!(got[10], Body::FreeList);
    // `bucket size:       576 -       576 (first       576)`
    assert_eq!(
        got[11],
        Body::FreeBucket {
            high: 576,
            first: 576
        }
    );
    assert_eq!(got[12], Body::End);
    assert_eq!(
        got[13],
        Body::PoolHeader {
            pool: Pool::Pkg,
            summary: true,
            of_pid: Some(7240)
        }
    );
    assert_eq!(
        got[14],
        Body::SumsStart {
            allocator: Some(Allocator::Qm)
        }
    );
    assert_eq!(
        got[15],
        Body::SumRow {
            count: 2,
            size: 112,
            site: b"core: core/sr_module.c: fix_param(1144)"
        }
    );
    assert_eq!(got[16], Body::End);
    assert_eq!(got[17], Body::AllocDebug);
    assert_eq!(got[18], Body::AllocDebug);
    assert_eq!(got[19], Body::AllocDebug);
    assert_eq!(got[20], Body::OtherLog);
    assert!(matches!(
        got[21],
        Body::PoolHeader {
            pool: Pool::Pkg,
            summary: true,
            of_pid: None
        }
    ));
    let p = parse_line(REAL_56[6].as_bytes()).prefix;
    assert_eq!((p.process_no, p.pid), (Some(6), Some(7245)));
    assert_eq!(p.level, Some(&b"ALERT"[..]));
}

#[test]
fn seed_3x_layout() {
    // From the seed's troubleshooting page (OpenSER / 3.x output).
    let lines = [
        "   0(17665) Memory status (shm):",
        "   0(17665) qm_status (0xb5a7e000):",
        "   0(17665)  heap size= 33554432",
        "   0(17665)  used= 1592952, used+overhead=1811564, free=31742868",
        "   0(17665)  max used (+overhead)= 1811564",
        "   0(17665) dumping all alloc'ed. fragments:",
        "   0(17665)       0. N  address=0xb5ab240c frag=0xb5ab23f4 size=4 used=1",
        "   0(17665)             alloc'd from mem/shm_mem.c: shm_mem_init_mallocs(199)",
        "   0(17665)         start check=f0f0f0f0, end check= c0c0c0c0, abcdefed",
        "   0(17665)       1. N  address=0xb5ab2440 frag=0xb5ab2428 size=4 used=1 ",
    ];
    let got: Vec<Body> = lines.iter().map(|l| body(l)).collect();
    assert!(matches!(
        got[0],
        Body::PoolHeader {
            pool: Pool::Shm,
            ..
        }
    ));
    assert!(matches!(
        got[1],
        Body::StatusStart {
            allocator: Some(Allocator::Qm)
        }
    ));
    assert_eq!(got[2], Body::HeapSize(33554432));
    assert!(matches!(got[3], Body::Used { used: 1592952, .. }));
    assert_eq!(got[4], Body::MaxUsed(1811564));
    assert_eq!(got[5], Body::FragmentsBegin);
    assert!(matches!(
        got[6],
        Body::Fragment {
            size: 4,
            free: false,
            ..
        }
    ));
    assert_eq!(
        got[7],
        Body::Site {
            freed: false,
            site: b"mem/shm_mem.c: shm_mem_init_mallocs(199)"
        }
    );
    assert!(matches!(got[8], Body::Checks { ok: true, .. }));
    assert!(matches!(got[9], Body::Fragment { size: 4, .. }));
    assert_eq!(parse_line(lines[0].as_bytes()).prefix.pid, Some(17665));
}

#[test]
fn layout_4x_from_source() {
    // 4.x LOG_ prints "%2d(%d) %s: %s" fmt: level, then "qm_status: ", no function.
    let lines = [
        " 0(17665) DEBUG: qm_status: (0xb5a7e000):",
        " 0(17665) DEBUG: qm_status: heap size= 33554432",
        " 0(17665) DEBUG: qm_status:      0. N  address=0xb5ab240c frag=0xb5ab23f4 size=4 used=1",
        " 0(17665) DEBUG: qm_status:           alloc'd from <core>: mem/shm_mem.c: shm_mem_init_mallocs(199)",
        " 0(17665) DEBUG: qm_status:          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed",
        " 0(17665) DEBUG: fm_status: fm_status (0xb5a7e000):",
        " 0(17665) DEBUG: fm_status:  heap size= 33554432",
        " 0(17665) DEBUG: fm_status: summarizing all alloc'ed. fragments:",
        " 0(17665) DEBUG: fm_status:  count=     3 size=        96 bytes from tm: t_hooks.c: insert_tmcb(103)",
        " 0(17665) DEBUG: fm_status: TOTAL:      3 free fragments = 1234 free bytes",
    ];
    let got: Vec<Body> = lines.iter().map(|l| body(l)).collect();
    assert!(matches!(
        got[0],
        Body::StatusStart {
            allocator: Some(Allocator::Qm)
        }
    ));
    assert_eq!(got[1], Body::HeapSize(33554432));
    assert!(matches!(got[2], Body::Fragment { size: 4, .. }));
    assert!(matches!(got[3], Body::Site { .. }));
    assert!(matches!(got[4], Body::Checks { ok: true, .. }));
    assert!(matches!(
        got[5],
        Body::StatusStart {
            allocator: Some(Allocator::Fm)
        }
    ));
    assert_eq!(got[6], Body::HeapSize(33554432));
    assert!(matches!(
        got[7],
        Body::SumsStart {
            allocator: Some(Allocator::Fm)
        }
    ));
    assert!(matches!(
        got[8],
        Body::SumRow {
            count: 3,
            size: 96,
            ..
        }
    ));
    assert_eq!(
        got[9],
        Body::FreeTotal {
            fragments: 3,
            bytes: 1234
        }
    );
}

#[test]
fn syslog_and_journald_prefixes() {
    let cases = [
        ("Nov 25 22:09:01 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "Nov 25 22:09:01"),
        ("Nov  5 22:09:01 sip1 /usr/sbin/kamailio[17665]: qm_status: heap size= 33554432", Some(17665), "Nov  5 22:09:01"),
        ("2024-11-25T22:09:01+0000 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "2024-11-25T22:09:01+0000"),
        ("2024-11-25T22:09:01.123456+01:00 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "2024-11-25T22:09:01.123456+01:00"),
        ("Nov 25 22:09:01.123456 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "Nov 25 22:09:01.123456"),
        ("Nov 25 22:09:01 sip1 kamailio[99]:  6(7245) ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "Nov 25 22:09:01"),
    ];
    for (line, pid, time) in cases {
        let l = parse_line(line.as_bytes());
        assert_eq!(l.body, Body::HeapSize(33554432), "{line}");
        assert_eq!(l.prefix.pid, pid, "{line}");
        assert_eq!(l.prefix.time, Some(time.as_bytes()), "{line}");
    }
}

#[test]
fn uniq_counts_line_numbers_crlf_and_colour() {
    let l = parse_line(b"      3  1(7240) ALERT: qm_status: qm_status():           alloc'd from tm: t_hooks.c: init_tmcb_lists(52)");
    assert_eq!(l.prefix.repeat, 3);
    assert_eq!(l.prefix.pid, Some(7240));
    assert!(matches!(l.body, Body::Site { .. }));
    let l = parse_line(b"1234567890 qm_status: heap size= 1");
    assert_eq!(l.prefix.repeat, 1234567890);
    for numbered in [
        "12.  1(7240) ALERT: qm_status: qm_status(): heap size= 5",
        "12: 1(7240) ALERT: qm_status: qm_status(): heap size= 5",
        "12 |  1(7240) ALERT: qm_status: qm_status(): heap size= 5",
        "12\t 1(7240) ALERT: qm_status: qm_status(): heap size= 5",
    ] {
        let l = parse_line(numbered.as_bytes());
        assert_eq!(l.body, Body::HeapSize(5), "{numbered}");
        assert_eq!(l.prefix.pid, Some(7240), "{numbered}");
        assert_eq!(l.prefix.repeat, 1);
    }
    assert_eq!(
        body(" 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------\r"),
        Body::End
    );
    assert_eq!(
        body("\x1b[31;1m 1(7240) ALERT: qm_status: qm_status(): heap size= 7\x1b[0m"),
        Body::HeapSize(7)
    );
    assert_eq!(
        body(
            "\x1b[31;1m 1(7240) ALERT: qm_status: qm_status():   alloc'd from tm: a.c: f(1)\x1b[0m"
        ),
        Body::Site {
            freed: false,
            site: b"tm: a.c: f(1)"
        }
    );
    // a prefix-less fragment line is not a numbered line
    assert!(matches!(
        body("   12. N  address=0x1 frag=0x2 size=64 used=1"),
        Body::Fragment { size: 64, .. }
    ));
}

#[test]
fn corruption_and_checks() {
    assert!(matches!(
        body(" 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= 41414141, abcdefed"),
        Body::Checks { ok: false, .. }
    ));
    assert!(matches!(
        body(" 6(7245) ALERT: qm_status: qm_status():          * end overwritten(41414141, abcdefed)!"),
        Body::Overwritten { .. }
    ));
    assert!(matches!(
        body(" 6(7245) ALERT: qm_status: qm_status():          * beginning overwritten(41414141)!"),
        Body::Overwritten { .. }
    ));
    assert!(matches!(
        body(" 1(7240) CRITICAL: <core> [core/mem/q_malloc.c:133]: qm_debug_check_frag(): BUG: qm: fragm. 0x7f52 (address 0x7f53) end overwritten (41414141, abcdefed)! Memory allocator was called from tm: t_lookup.c:1234. Fragment marked by tm: t_hooks.c:52. Exec from core/mem/q_malloc.c:511."),
        Body::Corruption { .. }
    ));
    assert!(matches!(
        body(" 1(7240) CRITICAL: <core> [core/mem/q_malloc.c:514]: qm_free(): BUG: freeing already freed pointer (0x7f52), called from tm: t_funcs.c: free_cell(100), first free tm: t_funcs.c: free_cell(100) - aborting"),
        Body::Corruption { .. }
    ));
    assert!(matches!(
        body(" 0(17665) BUG: qm_*: fragm. 0xb5ab23f4 (address 0xb5ab240c) beginning overwritten(41414141)!"),
        Body::Corruption { .. }
    ));
}

#[test]
fn a_checks_line_cut_short_is_not_damage() {
    assert!(matches!(
        body(" 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0"),
        Body::Checks { ok: true, .. }
    ));
    assert!(matches!(
        body(" 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefee"),
        Body::Checks { ok: false, .. }
    ));
}

#[test]
fn f_malloc_56_and_60_rpc_file() {
    // fm_sums in 5.x prints under the "fm_status: " prefix with its own function name.
    let l = body(" 1(7240) ALERT: fm_status: fm_sums():  count=     4 size=       640 bytes from htable: ht_api.c: ht_cell_new(268)");
    assert!(matches!(
        l,
        Body::SumRow {
            count: 4,
            size: 640,
            ..
        }
    ));
    assert!(matches!(
        body(" 1(7240) ALERT: fm_status: fm_status(): fm_status (0x7f5288951000):"),
        Body::StatusStart {
            allocator: Some(Allocator::Fm)
        }
    ));
    assert!(matches!(
        body(" 1(7240) ALERT: fm_status: fm_sums(): summarizing all alloc'ed. fragments:"),
        Body::SumsStart {
            allocator: Some(Allocator::Fm)
        }
    ));
    // 6.0 qm_status_filter (RPC to a file): no log prefix at all
    assert!(matches!(
        body("block address: 0x7f5288951000"),
        Body::StatusStart { allocator: None }
    ));
    assert_eq!(body("--- allocated fragments:"), Body::FragmentsBegin);
    assert!(matches!(
        body("          alloc'd from core: core/mem/q_malloc.c:1277 / qm_shm_lock_init()"),
        Body::Site { .. }
    ));
}

#[test]
fn non_dump_lines() {
    assert_eq!(body(""), Body::Blank);
    assert_eq!(body("   \r"), Body::Blank);
    assert_eq!(body("Listening on "), Body::Unreadable);
    assert_eq!(body("\u{0}\u{1}garbage\u{7f}"), Body::Unreadable);
    assert_eq!(
        body(" 0(7238) INFO: <core> [main.c:3055]: main(): processes (at least): 8 - shm size: 33554432 - pkg size: 4194304"),
        Body::OtherLog
    );
    // a "count=" that is not a summary row
    assert_eq!(
        body(" 0(1) INFO: foo [x.c:1]: count= 5 apples"),
        Body::OtherLog
    );
}

#[test]
fn find_byte_agrees_with_position() {
    let hay = b"0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1\x80\x00 \xff";
    for start in 0..hay.len() {
        for byte in [b' ', b'=', b'x', 0x80, 0x00, 0xff, 0x01, b'q'] {
            let h = &hay[start..];
            assert_eq!(
                find_byte(h, byte),
                h.iter().position(|&b| b == byte),
                "{byte} from {start}"
            );
        }
    }
}

#[test]
fn sites_of_every_generation() {
    let s = parse_site(b"core: core/mem/q_malloc.c: qm_shm_lock_init(1277)");
    assert_eq!(s.module.as_deref(), Some("core"));
    assert_eq!(s.file, "core/mem/q_malloc.c");
    assert_eq!(s.function, "qm_shm_lock_init");
    assert_eq!(s.line, Some(1277));
    let s = parse_site(b"<core>: mem/shm_mem.c: shm_mem_init_mallocs(199)");
    assert_eq!(s.module.as_deref(), Some("core"));
    assert_eq!(s.file, "mem/shm_mem.c");
    let s = parse_site(b"timer.c: init_timer(52)");
    assert_eq!(s.module, None);
    assert_eq!(
        (s.file.as_str(), s.function.as_str(), s.line),
        ("timer.c", "init_timer", Some(52))
    );
    let s = parse_site(b"tm: t_hooks.c: init_tmcb_lists(52)");
    assert_eq!(s.module.as_deref(), Some("tm"));
    let s = parse_site(b"core: core/mem/q_malloc.c:1277 / qm_shm_lock_init()");
    assert_eq!(
        (
            s.module.as_deref(),
            s.file.as_str(),
            s.function.as_str(),
            s.line
        ),
        (
            Some("core"),
            "core/mem/q_malloc.c",
            "qm_shm_lock_init",
            Some(1277)
        )
    );
    let s = parse_site(b"modules/tm/t_hooks.c: f(3)");
    assert_eq!(s.module.as_deref(), Some("tm"));
    let s = parse_site(b"weird");
    assert_eq!(s.function, "weird");
}

proptest::proptest! {
    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let l = parse_line(&bytes);
        if let Body::Site { site, .. } | Body::SumRow { site, .. } = l.body {
            let _ = parse_site(site);
        }
    }

    #[test]
    fn never_panics_on_mutated_real_lines(
        idx in 0usize..REAL_56.len(),
        cut in 0usize..200,
        pos in 0usize..200,
        insert in "[ -~\\t\\r]{0,12}",
    ) {
        let real = REAL_56[idx].as_bytes();
        let cut = cut.min(real.len());
        let mut v = real[..cut].to_vec();
        let pos = pos.min(v.len());
        v.splice(pos..pos, insert.bytes());
        let l = parse_line(&v);
        if let Body::Site { site, .. } | Body::SumRow { site, .. } = l.body {
            let _ = parse_site(site);
        }
    }

    #[test]
    fn cached_parser_gives_what_parse_line_gives(
        lines in proptest::collection::vec(
            (
                proptest::prop_oneof![
                    proptest::prelude::Just(" 6(7245) ALERT: qm_status: ".to_string()),
                    proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status(): ".to_string()),
                    proptest::prelude::Just(" 6(7245) ALERT: qm_sums: qm_sums(): ".to_string()),
                    proptest::prelude::Just(" 0(17665) ".to_string()),
                    proptest::prelude::Just(" 0(17665) BUG: ".to_string()),
                    proptest::prelude::Just("Nov 25 22:09:01 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): ".to_string()),
                    proptest::prelude::Just("      3  1(7240) ALERT: fm_status: ".to_string()),
                    proptest::prelude::Just(" 1(7240) NOTICE: <core> [core/mem/q_malloc.c:373]: ".to_string()),
                    proptest::prelude::Just(" 1(7240) NOTICE: <core> [main.c:869]: sig_usr(): ".to_string()),
                    "[ -~]{0,30}",
                ],
                proptest::prop_oneof![
                    proptest::prelude::Just("qm_status(): (0x7f5288951000):".to_string()),
                    proptest::prelude::Just("      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1".to_string()),
                    proptest::prelude::Just("          alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)".to_string()),
                    proptest::prelude::Just("         start check=f0f0f0f0, end check= c0c0c0c0, abcdefed".to_string()),
                    proptest::prelude::Just("qm_malloc(): qm_malloc(0x7f528abb0010, 24) called from core: core/cfg.y: yyparse(2068)".to_string()),
                    proptest::prelude::Just("BUG: qm: fragm. 0x1 (address 0x2) end overwritten(1, 2)!".to_string()),
                    proptest::prelude::Just(" count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)".to_string()),
                    proptest::prelude::Just("ALERT: qm_status: heap size= 5".to_string()),
                    "[ -~]{0,40}",
                ],
            ),
            1..30,
        )
    ) {
        let mut p = LineParser::new();
        for (a, b) in &lines {
            let line = format!("{a}{b}");
            let fresh = parse_line(line.as_bytes());
            let cached = p.parse(line.as_bytes());
            proptest::prop_assert_eq!(fresh, cached, "line {:?}", line);
        }
    }

    #[test]
    fn sites_never_panic(s in "\\PC{0,80}") {
        let _ = parse_site(s.as_bytes());
    }
}

/// tlsf's summary header, as posted in kamailio/kamailio#3803
/// (tests/fixtures/real/k3803-tlsf-sums-pool-header-sipproxy.log): the
/// location is tlsf_malloc.c, so it was taken for a per-allocation line.
#[test]
fn tlsf_sums_pool_header_is_a_summary_start() {
    let real = "Mar 30 19:46:46 localhost.localdomain sipproxy[2273]: INFO: <core> [mem/tlsf_malloc.c:1219]: tlsf_sums(): pool (0x7f1a3eec1000) summarizing all alloc'ed. fragments:";
    let l = parse_line(real.as_bytes());
    assert_eq!(l.body, Body::SumsStart { allocator: None });
    assert_eq!(l.prefix.pid, Some(2273));
    // stand-in (built here): the 5.x/6.x spelling, allocator word first
    assert_eq!(
        body("ALERT: tlsf_sums: tlsf_sums(): pool (0x7f1a3eec1000) summarizing all alloc'ed. fragments:"),
        Body::SumsStart { allocator: None }
    );
    assert_eq!(
        body(" 3(99) ALERT: tlsf_sums: tlsf_sums():  count=     2 size=       336 bytes from tls: tls_init.c: crypto/evp/evp_enc.c(43)"),
        Body::SumRow {
            count: 2,
            size: 336,
            site: b"tls: tls_init.c: crypto/evp/evp_enc.c(43)"
        }
    );
    // not a dump header: no block address, or another sentence
    assert!(!body("pool (nothing) summarizing all alloc'ed. fragments:").is_dump_line());
    assert!(!body("pool (0x7f1a3eec1000) is full").is_dump_line());
}

/// A 3.2.3 corruption report as quoted in kamailio/kamailio#361
/// (tests/fixtures/real/k361-3.2.3-end-overwritten-wrapped.txt): the module
/// is cut away (the line starts at `[file:line]: `) and the line is wrapped
/// before `overwritten`; q_malloc's `fragm. 0x.. (address 0x..)` is enough.
#[test]
fn corruption_wrapped_after_a_bare_location() {
    let real = "[mem/q_malloc.c:149]: BUG: qm_*: fragm. 0x4cee3b88 (address 0x4cee3ba0) end";
    let l = parse_line(real.as_bytes());
    assert!(matches!(l.body, Body::Corruption { .. }), "{:?}", l.body);
    assert!(l.prefix.log_line);
    // q_malloc 5.6.3's other checks of the same shape (text from q_malloc.c)
    for m in [
        "CRITICAL: <core> [core/mem/q_malloc.c:803]: qm_check(): BUG: qm: fragm. 0x7f1 (address 0x7f2) bad size: 24 (frag end: 0x7f3 > end of block: 0x7f4)",
        "CRITICAL: <core> [core/mem/q_malloc.c:813]: qm_check(): BUG: qm: fragm. 0x7f1 (address 0x7f2) size in qm_frag and qm_frag_end does not match: frag->size=8, frag_end->size=16)",
    ] {
        assert!(matches!(body(m), Body::Corruption { .. }), "{m}");
    }
    // a bracket that is no source location stays as it was
    assert!(!body("[not a location]: count= 1 size= 8 bytes from x: y.c: f(1)").is_dump_line());
    assert!(!body("[mem/q_malloc.c:x9]: alloc'd from core: a.c: f(1)").is_dump_line());
    assert_eq!(
        body("[core/mem/q_malloc.c:1179]: qm_status(): heap size= 33554432"),
        Body::HeapSize(33_554_432)
    );
}

/// The second line of f_malloc's `hash = ..` message as a syslog daemon
/// wrote it (OpenSIPS/opensips#194,
/// tests/fixtures/real/opensips194-fm-status-interleaved-1.11.log): time
/// and host, blanks instead of a tag. It continues the last writer.
#[test]
fn syslog_continuation_without_a_tag() {
    let real = "Apr  7 15:21:58 PROXY01                  bucket size:   1048576 -   2097152 (first   1810504)";
    let l = parse_line(real.as_bytes());
    assert_eq!(
        l.body,
        Body::FreeBucket {
            high: 2_097_152,
            first: 1_810_504
        }
    );
    assert_eq!(l.prefix.pid, None);
    assert!(!l.prefix.log_line, "no writer is named");
    assert_eq!(l.prefix.time, Some(&b"Apr  7 15:21:58"[..]));
    // one blank after the host is a tag's place: not a continuation
    assert!(!body("Apr  7 15:21:58 PROXY01 bucket size:   1 -   2 (first   1)").is_dump_line());
}

/// `TOTAL:` starts f_malloc's free-list totals; without an allocator word
/// in front (3.x stderr, OpenSIPS/opensips#194) it was taken for a level.
#[test]
fn total_is_no_level() {
    for line in [
        "Apr  7 15:21:58 PROXY01 /usr/local/sbin/opensips[10311]: TOTAL:      1 free fragments = 1810504 free bytes",
        " 0(17665) TOTAL:      1 free fragments = 1810504 free bytes",
    ] {
        assert_eq!(
            body(line),
            Body::FreeTotal {
                fragments: 1,
                bytes: 1_810_504
            },
            "{line}"
        );
    }
    assert_eq!(
        parse_line(b" 0(17665) INFO: TOTAL:      1 free fragments = 8 free bytes")
            .prefix
            .level,
        Some(&b"INFO"[..])
    );
}
