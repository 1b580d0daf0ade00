//! journald exports as users make them, produced here by real software:
//! Debian's kamailio 5.6.3 runs under kamailio.service in an sd box
//! (`tests/support/sdbox.rs`: real systemd, real journald) with `-x qm` and
//! `memlog` <= `debug` (a drop-in, as tests/capture_journald.rs does);
//! `kmemdbg dump` triggers a shm status dump and then a shm summary dump;
//! `journalctl -u kamailio -o FORMAT` exports them in every format the log
//! reader claims and more. Each export must give `analyze` the same dumps,
//! sites and byte totals as the `short-iso` export, as the dump file
//! `kmemdbg dump` wrote, and as an independent count (awk over
//! `journalctl -o cat`). What a format cannot carry (cat: no PID) is said
//! unknown.
//!
//! tests/real_pastes_journald.rs reads the copies kept in
//! `tests/fixtures/real/journald-*-5.6.3-real-export.*` (no box needed).
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/journal_exports.rs"]
mod journal_exports;
#[path = "support/json_doc.rs"]
mod json_doc;
#[path = "support/sdbox.rs"]
mod sdbox;

use journal_exports::{analyze_json, check_against_awk, dumps_of, figures, AWK};
use std::time::Duration;

const CTL: &str = "unix:/run/kamailio/kamailio_ctl";
const DIR: &str = "/run/kmemdbg-jx";
const DROPIN: &str = "/etc/systemd/system/kamailio.service.d/zz-kmemdbg-jx.conf";

/// A small proxy (few shm fragments: a status dump of a few hundred lines),
/// memlog <= debug so that dumps reach the log, memdbg above debug so that
/// no per-allocation line floods it.
const CFG: &str = "#!KAMAILIO\ndebug=2\nlog_stderror=no\nmemdbg=5\nmemlog=1\n\
listen=udp:127.0.0.1:5060\nchildren=2\n\
loadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
modparam(\"ctl\", \"binrpc\", \"unix:/run/kamailio/kamailio_ctl\")\n\
request_route {\n    sl_send_reply(\"200\", \"OK\");\n    exit;\n}\n";

/// The one-line formats (whole export kept) and the multi-line ones.
const LINE_FORMATS: &[&str] = &[
    "short",
    "short-iso",
    "short-iso-precise",
    "short-precise",
    "short-monotonic",
    "short-unix",
    "short-full",
    "cat",
    "json",
    "json-seq",
];
const PRETTY_FORMATS: &[&str] = &["json-pretty"];

/// (fragments, fragment bytes, summary rows, summary count, summary bytes).
fn awk_counts(b: &sdbox::SdBox, cat_file: &str) -> [u64; 5] {
    let out = b.ok(&["awk", AWK, cat_file]);
    let v: Vec<u64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    [v[0], v[1], v[2], v[3], v[4]]
}

#[test]
fn real_journald_exports_of_a_kamailio_5_6_3_dump_read_alike() {
    const T: &str = "real_journald_exports_of_a_kamailio_5_6_3_dump_read_alike";
    let Some(mut b) = sdbox::SdBox::boot(T) else {
        return;
    };
    b.put(&format!("{DIR}/jx.cfg"), CFG);
    b.ok(&["chmod", "755", DIR]);
    b.etc.write(
        DROPIN,
        &format!("[Service]\nExecStart=\nExecStart=/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f {DIR}/jx.cfg -m 32 -M 4 -x qm\n"),
    );
    b.ok(&["systemctl", "daemon-reload"]);
    b.ok(&["systemctl", "restart", "kamailio"]);
    assert!(
        b.wait_active("kamailio", Duration::from_secs(60)),
        "{}",
        b.journal("kamailio")
    );
    let kamcmd = |args: &[&str]| {
        let mut all = vec!["kamcmd", "-s", CTL];
        all.extend_from_slice(args);
        b.ok(&all)
    };
    assert!(
        common::wait_for(Duration::from_secs(20), || b
            .run(&["kamcmd", "-s", CTL, "core.psx"])
            .code
            == 0),
        "no ctl socket: {}",
        b.journal("kamailio")
    );
    let memlog: i64 = kamcmd(&["cfg.get", "core", "memlog"])
        .trim()
        .parse()
        .unwrap();
    let debug: i64 = kamcmd(&["cfg.get", "core", "debug"])
        .trim()
        .parse()
        .unwrap();
    assert!(memlog <= debug, "memlog {memlog} debug {debug}");
    let cursor = || {
        let out = b.ok(&[
            "journalctl",
            "-u",
            "kamailio",
            "-n",
            "1",
            "-q",
            "--show-cursor",
            "-o",
            "cat",
            "--no-pager",
        ]);
        out.lines()
            .find_map(|l| l.strip_prefix("-- cursor: "))
            .unwrap_or_else(|| panic!("no cursor in {out:?}"))
            .to_string()
    };

    // The status dump (mem_summary as the cfg leaves it: shm status).
    let before_status = cursor();
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--shm",
        "--journal",
        "kamailio",
        "--ctl",
        CTL,
        "--out",
        &format!("{DIR}/status.log"),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The summary dump: `--summary` (mem_summary 12 and SIGUSR1 to main:
    // main's pkg summary and the shm summary; mem_summary put back after).
    let before_summary = cursor();
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--shm",
        "--summary",
        "--journal",
        "kamailio",
        "--ctl",
        CTL,
        "--out",
        &format!("{DIR}/summary.log"),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let pid = b.main_pid("kamailio");

    let export = |format: &str, after: &str, fields: bool| {
        let file = format!("{DIR}/export.{format}");
        let mut args = vec![
            "journalctl".to_string(),
            "-u".into(),
            "kamailio".into(),
            "--no-pager".into(),
            "-q".into(),
            format!("--after-cursor={after}"),
            "-o".into(),
            format.into(),
        ];
        if fields {
            args.push("--output-fields=MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,SYSLOG_PID,_PID".into());
        }
        let cmd = format!(
            "{} > {file}",
            args.iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let o = b.sh(&cmd);
        assert_eq!(o.code, 0, "{cmd}: {o:?}");
        file
    };
    let analyze = |file: &str| {
        let (code, out, err) = b.kmemdbg(&["analyze", file, "--json", "--top", "0"]);
        assert_eq!(code, 0, "analyze {file}: {out}\n{err}");
        analyze_json(&out)
    };

    let save = std::env::var_os("KMEMDBG_SAVE_EXPORTS");
    if let Some(dir) = &save {
        for &format in PRETTY_FORMATS {
            let file = export(format, &before_summary, true);
            let bytes = b.ok(&["cat", &file]);
            std::fs::write(
                std::path::Path::new(dir).join(format!("summary.{format}")),
                bytes,
            )
            .unwrap();
        }
        for f in ["status.log", "summary.log"] {
            let bytes = b.ok(&["cat", &format!("{DIR}/{f}")]);
            std::fs::write(std::path::Path::new(dir).join(f), bytes).unwrap();
        }
        std::fs::write(std::path::Path::new(dir).join("main.pid"), pid.to_string()).unwrap();
        for &format in LINE_FORMATS.iter().chain(PRETTY_FORMATS) {
            let file = export(format, &before_status, false);
            let bytes = b.ok(&["cat", &file]);
            std::fs::write(
                std::path::Path::new(dir).join(format!("export.{format}")),
                bytes,
            )
            .unwrap();
        }
    }
    let cat = export("cat", &before_status, false);
    let awk = awk_counts(&b, &cat);
    assert!(awk[0] > 10 && awk[2] > 10, "awk over {cat}: {awk:?}");
    let iso = analyze(&export("short-iso", &before_status, false));
    let reference = dumps_of(&iso);
    check_against_awk("short-iso", &reference, awk);
    // dump and analyze agree: the files `kmemdbg dump` wrote read the same
    let mut dumped = dumps_of(&analyze(&format!("{DIR}/status.log")));
    dumped.extend(dumps_of(&analyze(&format!("{DIR}/summary.log"))));
    assert_eq!(dumped, reference, "dump files vs short-iso export");

    for &format in LINE_FORMATS.iter().chain(PRETTY_FORMATS) {
        let file = export(format, &before_status, false);
        let v = analyze(&file);
        let d = dumps_of(&v);
        assert_eq!(d, reference, "{format} vs short-iso");
        if !PRETTY_FORMATS.contains(&format) {
            assert_eq!(
                figures(&v),
                figures(&iso),
                "{format} vs short-iso: every figure"
            );
        }
        check_against_awk(format, &d, awk);
        let lines = &v["files"][0]["lines"];
        assert_eq!(lines["unreadable_lines"], 0, "{format}: {lines}");
        for dump in v["dumps"].as_array().unwrap() {
            let p = &dump["pid"];
            match format {
                // cat carries no PID; json-pretty has it on another line of the record
                "cat" | "json-pretty" => assert!(p.is_null(), "{format}: pid {p}"),
                _ => assert!(p.as_u64().is_some_and(|p| p > 1), "{format}: pid {p}"),
            }
        }
    }
}
