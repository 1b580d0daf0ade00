//! The prefixes users' pastes carry (from `tests/fixtures/real/`), failed
//! allocation lines, and the property that no supported prefix changes what
//! a payload line says.

use super::{parse_line, Body, LineParser};
use crate::mem::Pool;

#[test]
fn tag_alone_no_date_no_host() {
    // kamailio/kamailio#3065 (tests/fixtures/real/k3065-tag-no-date-no-host.log)
    let l = parse_line(b"kamailio[5384]: ERROR: <core> [core/mem/q_malloc.c:297]: qm_find_free(): qm_find_free(0x7fe8943bc000, 40632); Free fragment not found!");
    assert_eq!(l.prefix.pid, Some(5384));
    assert_eq!(l.prefix.time, None);
    assert_eq!(
        l.body,
        Body::OutOfMemory {
            pool: None,
            size: Some(40632),
            site: None
        }
    );
}

#[test]
fn custom_tag_and_count_wider_than_its_field() {
    // a custom log_name and a count of 7 digits (no blank after `count=`)
    let l = parse_line(b"sipproxy[7526]: NOTICE: fm_status: count=1882939 size=1504098328 bytes from core: tcp_main.c: tcpconn_new(1886)");
    assert_eq!(l.prefix.pid, Some(7526));
    assert!(matches!(
        l.body,
        Body::SumRow {
            count: 1_882_939,
            size: 1_504_098_328,
            ..
        }
    ));
}

#[test]
fn uniq_count_then_host_without_date() {
    let l = parse_line(b"      4  ip-172-31-11-179 kamailio[11438]: ALERT: qm_status:           alloc'd from tm: t_hooks.c: init_tmcb_lists(74)");
    assert_eq!(
        (l.prefix.repeat, l.prefix.uniq, l.prefix.pid),
        (4, true, Some(11438))
    );
    assert!(matches!(l.body, Body::Site { freed: false, .. }));
}

#[test]
fn markdown_quote_and_log_prefix_braces() {
    // kamailio/kamailio#3833 (tests/fixtures/real/k3833-markdown-quoted-5.8.1.log)
    let l = parse_line(b"> May  1 16:54:43 stgn-haud-vm-ub-kamailio01 /usr/sbin/kamailio[5875]: ERROR: {2 1 MESSAGE 1939882-1516@192.168.136.152} <core> [core/mem/q_malloc.c:463]: qm_malloc(): qm_malloc(0x7f3af4736010, 384) called from core: core/msg_translator.c: generate_res_buf_from_sip_res(2435), module: core; Free fragment not found!");
    assert_eq!(l.prefix.pid, Some(5875));
    match l.body {
        Body::OutOfMemory { size, site, .. } => {
            assert_eq!(size, Some(384));
            assert_eq!(
                site,
                Some(&b"core: core/msg_translator.c: generate_res_buf_from_sip_res(2435)"[..])
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn caret_colours_are_colours() {
    let l = parse_line(b"^[[0;39;49m^[[0;31;49m 1(21) ALERT: qm_status: heap size= 33554432");
    assert_eq!((l.prefix.process_no, l.prefix.pid), (Some(1), Some(21)));
    assert_eq!(l.body, Body::HeapSize(33_554_432));
}

#[test]
fn bold_numbers_from_an_issue() {
    // kamailio/kamailio#2628 (tests/fixtures/real/k2628-tlsf-status-wrapped-free.txt)
    let l = parse_line(b"used= **6285144**, used+overhead=**12578696**, free=**18446744073705361512**, fragments=0");
    assert_eq!(
        l.body,
        Body::Used {
            used: 6_285_144,
            used_overhead: 12_578_696,
            free: 18_446_744_073_705_361_512
        }
    );
}

#[test]
fn journald_json_and_monotonic() {
    let j = br#"{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1700000000000000","_PID":"7245","SYSLOG_IDENTIFIER":"kamailio","MESSAGE":"ALERT: qm_status:           alloc'd from core: core/pt.c: init_pt(106)"}"#;
    let l = parse_line(j);
    assert_eq!(l.prefix.pid, Some(7245));
    assert_eq!(l.prefix.time, Some(&b"1700000000000000"[..]));
    assert!(matches!(l.body, Body::Site { .. }), "{:?}", l.body);
    let mut p = LineParser::new();
    assert_eq!(p.parse(j), parse_line(j));
    assert_eq!(p.parse(j), parse_line(j));
    let m = parse_line(b"[  123.456789] sip1 kamailio[7245]: ALERT: qm_status: heap size= 8");
    assert_eq!((m.prefix.pid, m.body), (Some(7245), Body::HeapSize(8)));
    // a message with escapes cannot be read in place: not understood, never misread
    let e = parse_line(br#"{"_PID":"1","MESSAGE":"ALERT: qm_status: \tx"}"#);
    assert!(
        matches!(e.body, Body::Unreadable | Body::OtherLog),
        "{:?}",
        e.body
    );
}

#[test]
fn out_of_memory_wordings() {
    let pool = |s: &[u8]| match parse_line(s).body {
        Body::OutOfMemory { pool, .. } => Some(pool),
        _ => None,
    };
    assert_eq!(
        pool(b"ERROR: db_mysql [km_res.c:81]: db_mysql_get_columns(): no private memory left"),
        Some(Some(Pool::Pkg))
    );
    assert_eq!(
        pool(b" 11(8342) ERROR: usrloc [ucontact.c:100]: new_ucontact(): no more shm memory"),
        Some(Some(Pool::Shm))
    );
    assert_eq!(
        pool(b"ERROR: <core> [core/tcp_main.c:973]: tcpconn_new(): mem. allocation failure"),
        Some(None)
    );
    assert_eq!(
        pool(b"ERROR: tm [t_funcs.c:1]: f(): could not allocate shared memory from shm pool"),
        Some(Some(Pool::Shm))
    );
    assert_eq!(pool(b" 1(7240) DEBUG: <core> [core/mem/q_malloc.c:389]: qm_malloc(): qm_malloc(0x7f, 24) called from core: core/cfg.y: yyparse(2068)"), None);
}

/// The prefixes the reader promises to read (docs/inputs.md), each in front
/// of a payload; `{}` marks where the payload goes.
const PREFIXES: [&str; 36] = [
    "{}",
    " 6(7245) ALERT: qm_status: {}",
    " 6(7245) ALERT: qm_status: qm_status(): {}",
    "Nov 25 22:09:01 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): {}",
    "Nov  5 22:09:01.123456 sip1 /usr/sbin/kamailio[7245]: NOTICE: qm_status: {}",
    "2024-11-25T22:09:01.123456+0000 sip1 kamailio[7245]: ALERT: qm_status: {}",
    "2024-11-25 22:09:01 sip1 kamailio[7245]: ALERT: qm_status: {}",
    "[  123.456789] sip1 kamailio[7245]: ALERT: qm_status: {}",
    "sip1 kamailio[7245]: ALERT: qm_status: {}",
    "kamailio[7245]: ALERT: qm_status: {}",
    "sipproxy[7245]: NOTICE: qm_status: {}",
    "      3  1(7240) ALERT: qm_status: {}",
    "      3  sip1 kamailio[7245]: ALERT: qm_status: {}",
    "  12 | Nov 25 22:09:01 sip1 kamailio[7245]: ALERT: qm_status: {}",
    "12. kamailio[7245]: ALERT: qm_status: {}",
    "> Nov 25 22:09:01 sip1 kamailio[7245]: ALERT: qm_status: {}",
    "> >  6(7245) ALERT: qm_status: {}",
    "\u{1b}[0;31m 6(7245) ALERT: qm_status: {}",
    "^[[0;39;49m 6(7245) ALERT: qm_status: {}",
    " 1(7240) NOTICE: <core> [core/mem/q_malloc.c:1179]: qm_status(): {}",
    "Nov 25 22:09:01 sip1 kamailio[7245]: NOTICE: <core> [core/mem/q_malloc.c:1179]: qm_status(): {}",
    "{\"_PID\":\"7245\",\"MESSAGE\":\"ALERT: qm_status: {}\"}",
    // kamailio/kamailio#3159: the level alone (journalctl -o cat of a syslog line)
    "ALERT: qm_sums: qm_sums(): {}",
    // kamailio/kamailio#4231: stderr with a two-digit process number, no blank before it
    "20(204914) ALERT: qm_status: qm_status(): {}",
    // kamailio/kamailio#3803: tlsf's own source file as the location
    "Mar 30 19:46:46 localhost.localdomain sipproxy[2273]: INFO: <core> [mem/tlsf_malloc.c:1235]: tlsf_sums(): {}",
    // the 5.x/6.x tlsf spelling (stand-in: no real paste of it was found)
    " 6(7245) ALERT: tlsf_sums: tlsf_sums(): {}",
    // kamailio/kamailio#361: the location alone, its module cut away
    "[core/mem/q_malloc.c:1179]: qm_status(): {}",
    // OpenSIPS#194: a continuation line, time and host but no tag
    "Apr  7 15:21:58 PROXY01                  {}",
    // kamailio/kamailio#3859: stderr captured by the journal, tag and `N(PID)`
    "May 28 10:08:30 sip1 kamailio[7245]: 35(7245) ALERT: qm_status: qm_status(): {}",
    // kamailio/kamailio#1040 (4.4): the log prefix before the level
    "Mar 20 12:02:15 sip1 adx-webrtc[7245]: {1 1 OPTIONS osj8es@lifeguard} ALERT: qm_status: {}",
    // journalctl -o short-unix / short-full / json-seq / json-pretty of real
    // kamailio 5.6.3 under journald (tests/fixtures/real/journald-*-5.6.3-real-export.*)
    "1796587213.064676 sip1 /usr/sbin/kamailio[7245]: ALERT: qm_status: qm_status(): {}",
    "Sun 2026-12-06 20:00:13 UTC sip1 /usr/sbin/kamailio[7245]: NOTICE: qm_sums: qm_sums(): {}",
    "2026-12-06T20:00:13.064676+0000 sip1 /usr/sbin/kamailio[7245]: ALERT: qm_status: qm_status(): {}",
    "\u{1e}{\"_COMM\":\"kamailio\",\"_PID\":\"7245\",\"MESSAGE\":\"ALERT: qm_status: qm_status(): {}\",\"PRIORITY\":\"1\"}",
    "\t\"MESSAGE\" : \"NOTICE: qm_sums: qm_sums(): {}\",",
    "\t\"MESSAGE\" : \"ALERT: qm_status: qm_status(): {}\"",
];

/// Payload lines of a dump (3.x to 6.x spellings, wide numbers, collapsed blanks).
const PAYLOADS: [&str; 9] = [
    "      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1",
    "   1234567. N  address=0x7f52 frag=0x7f51 size=1504098328 used=1",
    "0. N address=0x7f52 frag=0x7f51 size=64 used=1",
    "          alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)",
    "alloc'd from tm: h_table.c: init_hash_table(482)",
    " count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)",
    " count=1882939 size=1504098328 bytes from core: tcp_main.c: tcpconn_new(1886)",
    "count= 1 size= 8 bytes from pike: pike.c: pike_init(109)",
    "heap size= 33554432",
];

#[test]
fn every_prefix_every_payload() {
    for payload in PAYLOADS {
        let bare = parse_line(payload.as_bytes()).body;
        assert!(bare.is_dump_line(), "{payload:?} alone reads as {bare:?}");
        for prefix in PREFIXES {
            let line = prefix.replace("{}", payload);
            assert_eq!(parse_line(line.as_bytes()).body, bare, "{line}");
        }
    }
}

proptest::proptest! {
    /// journald-shaped lines (json, json-seq, json-pretty, short-unix,
    /// short-full) with escapes, cuts and junk: never a panic, and the cached
    /// parser agrees with parse_line.
    #[test]
    fn journald_shaped_lines_never_panic(
        head in proptest::prop_oneof![
            proptest::prelude::Just("\t\"MESSAGE\" : \"".to_string()),
            proptest::prelude::Just("\u{1e}{\"_PID\":\"7\",\"MESSAGE\":\"".to_string()),
            proptest::prelude::Just("{\"MESSAGE\":\"".to_string()),
            proptest::prelude::Just("1796587213.064676 vm k[1]: ".to_string()),
            proptest::prelude::Just("Sun 2026-12-06 20:00:13 UTC vm k[1]: ".to_string()),
            "\t\"[A-Z_]{0,12}\" : ",
            "[0-9]{0,12}\\.[0-9]{0,8} ",
        ],
        body in "([ -~]|\\\\[ntr\"\\\\u]){0,60}",
        tail in "(\"|\",|\"}|[ -~]){0,3}",
    ) {
        let line = format!("{head}{body}{tail}");
        let fresh = parse_line(line.as_bytes());
        let mut p = LineParser::new();
        proptest::prop_assert_eq!(p.parse(line.as_bytes()), fresh.clone());
        proptest::prop_assert_eq!(p.parse(line.as_bytes()), fresh);
    }

    /// Any supported prefix in front of a valid payload line parses to the
    /// same fragment, site, summary row or heap size as the payload alone
    /// (and with a CRLF or a colour reset after it).
    #[test]
    fn any_prefix_same_payload(
        pi in 0..PREFIXES.len(),
        qi in 0..PAYLOADS.len(),
        crlf in proptest::prelude::any::<bool>(),
        pid in 1u32..4_000_000,
        host in "[a-z][a-z0-9-]{0,20}",
    ) {
        let payload = PAYLOADS[qi];
        let bare = parse_line(payload.as_bytes()).body;
        proptest::prop_assert!(bare.is_dump_line(), "payload {payload:?} reads alone as {bare:?}");
        let mut line = PREFIXES[pi]
            .replace("7245", &pid.to_string())
            .replace("sip1", &host)
            .replace("{}", payload);
        if crlf {
            line.push('\r');
        }
        let got = parse_line(line.as_bytes()).body;
        proptest::prop_assert_eq!(got, bare, "{}", line);
        let mut p = LineParser::new();
        proptest::prop_assert_eq!(p.parse(line.as_bytes()).body, bare);
        proptest::prop_assert_eq!(p.parse(line.as_bytes()).body, bare);
    }
}

#[test]
fn free_list_figures() {
    // q_malloc 5.6.3 (stderr splits the bucket onto its own line)
    assert_eq!(
        parse_line(b"\t\t bucket size:  16777216 -  33554432 (first  30838112)").body,
        Body::FreeBucket {
            high: 33_554_432,
            first: 30_838_112
        }
    );
    // f_malloc through rsyslog, hash and bucket on one line
    assert_eq!(
        parse_line(b"Aug 29 18:45:03 h kamailio[1]: : fm_status: hash = 154 fragments no.:     1, unused:     0#012#011#011 bucket size:      1232 -      1232 (first      1232)").body,
        Body::FreeBucket {
            high: 1232,
            first: 1232
        }
    );
    assert_eq!(
        parse_line(b" 1(7) WARNING: fm_status: TOTAL:     84 free fragments = 7143520 free bytes")
            .body,
        Body::FreeTotal {
            fragments: 84,
            bytes: 7_143_520
        }
    );
}

#[test]
fn log_prefix_before_the_level() {
    // kamailio/kamailio#1040 (tests/fixtures/real/k1040-fm-malloc-oom-custom-tag-log-prefix-4.4.5.log)
    let l = parse_line(b"Mar 20 12:02:15 webrtc-as adx-webrtc[2963]: {1 1 OPTIONS osj8es@lifeguard.andrexen.vpn} ERROR: <core> [mem/f_malloc.c:498]: fm_malloc(): fm_malloc(0xb656b008, 64) called from textops: textops.c: append_time_request_f(1216), module: textops; Free fragment not found!");
    assert_eq!(
        (l.prefix.pid, l.prefix.level),
        (Some(2963), Some(&b"ERROR"[..]))
    );
    match l.body {
        Body::OutOfMemory { pool, size, site } => {
            assert_eq!((pool, size), (None, Some(64)));
            assert_eq!(
                site,
                Some(&b"textops: textops.c: append_time_request_f(1216)"[..])
            );
        }
        other => panic!("{other:?}"),
    }
    // braces that are the message itself stay there
    let m = parse_line(b"kamailio[1]: {not a prefix} and no level");
    assert_eq!(m.prefix.level, None);
}

/// Lines of real journalctl exports (Debian kamailio 5.6.3 under journald in
/// the sd box, tests/journal_exports_real.rs; kept in
/// tests/fixtures/real/journald-*-5.6.3-real-export.*), cut to their fields.
#[test]
fn journald_exports_of_5_6_3() {
    // short-unix: the seconds are a time, not a pastebin line number `1796587213.`
    let l = parse_line(b"1796587213.284859 vm /usr/sbin/kamailio[177]: NOTICE: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)");
    assert_eq!(l.prefix.pid, Some(177));
    assert_eq!(l.prefix.time, Some(&b"1796587213.284859"[..]));
    assert!(
        matches!(
            l.body,
            Body::SumRow {
                count: 2,
                size: 112,
                ..
            }
        ),
        "{:?}",
        l.body
    );
    // short-full: weekday and zone around the ISO time
    let l = parse_line(b"Sun 2026-12-06 20:00:13 UTC vm /usr/sbin/kamailio[183]: ALERT: qm_status: qm_status(): heap size= 33554432");
    assert_eq!(
        (l.prefix.pid, l.body),
        (Some(183), Body::HeapSize(33_554_432))
    );
    assert_eq!(l.prefix.time, Some(&b"Sun 2026-12-06 20:00:13 UTC"[..]));
    // json-seq: a record separator before the object
    let l = parse_line(b"\x1e{\"_COMM\":\"kamailio\",\"__REALTIME_TIMESTAMP\":\"1796587213064676\",\"_PID\":\"183\",\"MESSAGE\":\"ALERT: qm_status: qm_status(): heap size= 33554432\"}");
    assert_eq!(
        (l.prefix.pid, l.body),
        (Some(183), Body::HeapSize(33_554_432))
    );
    assert_eq!(l.prefix.time, Some(&b"1796587213064676"[..]));
    // json: a two-line message (`\n\t\t` escapes) is read as one line, as
    // short's two lines are (the bucket: no free fragment above 32 MiB)
    let l = parse_line(br#"{"MESSAGE":"ALERT: qm_status: qm_status(): hash= 2059. fragments no.:     1, unused:     0\n\t\t bucket size:  16777216 -  33554432 (first  32939192)","_PID":"183"}"#);
    let bucket = Body::FreeBucket {
        high: 33_554_432,
        first: 32_939_192,
    };
    assert_eq!((l.prefix.pid, l.body), (Some(183), bucket));
    // a trailing newline is no part of a site
    let l = parse_line(br#"{"MESSAGE":"ALERT: qm_status:           alloc'd from core: core/pt.c: init_pt(106)\n","_PID":"1"}"#);
    let site = Body::Site {
        freed: false,
        site: b"core: core/pt.c: init_pt(106)",
    };
    assert_eq!(l.body, site);
    // json-pretty: the MESSAGE line, no PID or time on it (unknown, not guessed)
    let l = parse_line(b"\t\"MESSAGE\" : \"ALERT: qm_status: qm_status(): heap size= 33554432\",");
    assert_eq!(
        (l.prefix.pid, l.prefix.time, l.body),
        (None, None, Body::HeapSize(33_554_432))
    );
    // its other lines are journal lines without a message, not unreadable
    for other in [
        "{",
        "}",
        "\t\"_PID\" : \"183\",",
        "\t\"SYSLOG_RAW\" : \"<29>Dec  6 20:00:13 /usr/sbin/kamailio[177]: NOTICE: x\\n\",",
        "\t\"__REALTIME_TIMESTAMP\" : \"1796587161844917\"",
    ] {
        let l = parse_line(other.as_bytes());
        assert_eq!(l.body, Body::OtherLog, "{other:?}");
        assert_eq!(l.prefix.pid, None, "{other:?}");
    }
    // a MESSAGE journald sent as a byte array (not UTF-8) is not read, never misread
    let l = parse_line(b"{\"_PID\":\"1\",\"MESSAGE\":[65,76,69,82,84,58,32,255]}");
    assert!(!l.body.is_dump_line(), "{:?}", l.body);
    let l = parse_line(b"\t\"MESSAGE\" : [ 65, 76, 255 ],");
    assert!(!l.body.is_dump_line(), "{:?}", l.body);
    // a pastebin number is still one, and a fragment number is not
    assert_eq!(
        parse_line(b"12. kamailio[7]: ALERT: qm_status: heap size= 8")
            .prefix
            .pid,
        Some(7)
    );
}
