//! `kmemdbg scan --journal kamailio` against a real systemd and journald
//! (the sd box of `tests/support/sdbox.rs`): Debian's kamailio.service runs
//! a registrar with `-m 8` (a drop-in), sipp registers distinct AoRs inside
//! the box until the shm pool is gone, and journald's per-unit rate limit
//! (lowered by the drop-in) drops lines and says so.
//!
//! Expected values come from `journalctl` read by the test itself: the error
//! lines it holds, journald's `Suppressed N messages` reports.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
#[path = "support/sdbox.rs"]
mod sdbox;

use serde_json::Value;
use std::time::{Duration, Instant};

const CFG: &str = "#!KAMAILIO\ndebug=2\nlog_stderror=no\nlisten=udp:127.0.0.1:5060\nchildren=2\n\
loadmodule \"ctl.so\"\nloadmodule \"tm.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
loadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
modparam(\"ctl\", \"binrpc\", \"unix:/run/kamailio/kamailio_ctl\")\nmodparam(\"usrloc\", \"db_mode\", 0)\n\
modparam(\"registrar\", \"max_expires\", 36000)\nmodparam(\"registrar\", \"default_expires\", 36000)\n\
request_route {\n    if ($rm == \"REGISTER\") { save(\"location\"); exit; }\n    sl_send_reply(\"404\", \"Not here\");\n}\n";

const DROP_IN: &str = "[Service]\nEnvironment='CFGFILE=/etc/kamailio/kmemdbg-scan-test.cfg'\n\
Environment='SHM_MEMORY=8'\nEnvironment='PKG_MEMORY=4'\nLogRateLimitIntervalSec=2s\nLogRateLimitBurst=3000\n";

fn sipp(b: &sdbox::SdBox, n: u32) {
    let _ = b.run(&[
        "sipp",
        "-sf",
        "/run/kmemdbg-scan/reg.xml",
        "-m",
        &n.to_string(),
        "-r",
        "2000",
        "-rp",
        "1000",
        "-timeout",
        "60s",
        "-nostdin",
        "-recv_timeout",
        "2000",
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "127.0.0.1:5060",
    ]);
}

fn suppressed(b: &sdbox::SdBox) -> u64 {
    b.ok(&["journalctl", "-o", "cat", "--no-pager", "-q"])
        .lines()
        .filter_map(|l| {
            let rest = l.split("Suppressed ").nth(1)?;
            let (n, unit) = rest.split_once(" messages from ")?;
            unit.trim()
                .ends_with("kamailio.service")
                .then(|| n.parse::<u64>().ok())?
        })
        .sum()
}

#[test]
fn real_systemd_journal_scan_finds_shm_exhaustion_and_journald_losses() {
    let test = "real_systemd_journal_scan_finds_shm_exhaustion_and_journald_losses";
    if !common::require_real(
        test,
        "sipp (apt-get install sip-tester)",
        common::have_program("sipp"),
    ) {
        return;
    }
    let Some(mut b) = sdbox::SdBox::boot(test) else {
        return;
    };
    b.etc.write("/etc/kamailio/kmemdbg-scan-test.cfg", CFG);
    b.etc.write(
        "/etc/systemd/system/kamailio.service.d/zz-kmemdbg-scan.conf",
        DROP_IN,
    );
    b.ok(&["systemctl", "daemon-reload"]);
    b.ok(&["systemctl", "restart", "kamailio"]);
    assert!(
        b.wait_active("kamailio", Duration::from_secs(60)),
        "{}",
        b.journal("kamailio")
    );
    let scenario = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scan/register-distinct-aor.xml"),
    )
    .unwrap();
    b.put("/run/kmemdbg-scan/reg.xml", &scenario);
    sipp(&b, 20000);
    // journald reports a drop with the unit's first line after the interval:
    // one more registration now and then, until the report is there (bounded)
    let start = Instant::now();
    while suppressed(&b) == 0 && start.elapsed() < Duration::from_secs(60) {
        sipp(&b, 1);
        std::thread::sleep(Duration::from_millis(500));
    }
    let lost = suppressed(&b);
    assert!(
        lost > 0,
        "journald dropped nothing; raise the load or lower LogRateLimitBurst"
    );

    let journal = b.journal("kamailio");
    let needle = "could not allocate shared memory from shm pool";
    let errors = journal.lines().filter(|l| l.contains(needle)).count() as u64;
    let alloc = journal
        .lines()
        .filter(|l| l.contains("qm_malloc(") && l.contains("Free fragment not found"))
        .count() as u64;
    assert!(
        errors > 100,
        "the pool was not exhausted:\n{}",
        journal
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );

    let (code, out, err) = b.kmemdbg(&[
        "scan",
        "--journal",
        "kamailio",
        "--ctl",
        "unix:/run/kamailio/kamailio_ctl",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}), exit {code}:\n{out}\n{err}"));
    json_doc::assert_documented(&v);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["inputs"][0], "journal of kamailio");
    // what journald kept is what scan counts; what it dropped is reported
    assert_eq!(v["findings"].as_u64(), Some(errors + alloc));
    assert_eq!(v["per_pool"]["shm"].as_u64(), Some(errors + alloc));
    assert_eq!(v["lost"]["lines"].as_u64(), Some(lost), "{}", v["lost"]);
    assert_eq!(v["lost"]["reports"][0]["by"], "journald");
    // journald's timestamps: a start line, errors seconds later, a timeline
    assert_eq!(v["timed"], true);
    // with timestamps the verdict tells burst from steady
    assert_ne!(v["verdict"]["pattern"], "unknown", "{}", v["verdict"]);
    assert_eq!(
        v["starts"].as_array().unwrap().last().unwrap()["shm_bytes"].as_u64(),
        Some(8 << 20)
    );
    assert_eq!(v["verdict"]["kind"], "pool-too-small", "{}", v["verdict"]);
    let after = v["verdict"]["first_error_after_s"].as_f64().unwrap();
    assert!(after < 600.0, "{after}");
    assert_eq!(
        v["verdict"]["next"][0]["command"],
        "kmemdbg size --shm 16 --service kamailio"
    );
    assert!(!v["timeline"]["rows"].as_array().unwrap().is_empty());
    // the receivers' roles from core.psx
    for g in v["groups"].as_array().unwrap() {
        assert_eq!(g["pool"], "shm");
        assert!(
            g["role"].as_str().unwrap_or_default().contains("receiver"),
            "{g}"
        );
        assert!(g["first_time"].is_string(), "{g}");
    }
    // no log named: scan finds the unit's journal itself (as dump and triage do)
    let (code, out, err) = b.kmemdbg(&["scan", "--json"]);
    assert_eq!(code, 1, "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert!(
        d["inputs"][0]
            .as_str()
            .unwrap()
            .contains("kamailio.service"),
        "{}",
        d["inputs"]
    );
    assert_eq!(d["findings"], v["findings"]);
    // text output says it too
    let (code, out, _) = b.kmemdbg(&["scan", "--journal", "kamailio"]);
    assert_eq!(code, 1);
    assert!(out.contains("verdict: shm pool too small"), "{out}");
    assert!(out.contains("lost: the log dropped"), "{out}");
}
