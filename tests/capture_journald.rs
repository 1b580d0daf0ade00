//! `kmemdbg dump` where the log has limits, on a real systemd and journald
//! (an sd box, `tests/support/sdbox.rs`): Debian's kamailio.service running
//! the registrar cfg with `-x qm` (a drop-in), 6000 AoRs registered over UDP
//! on the box's loopback by sipp. The default dump takes the summary (a
//! fragment list of over 100,000 lines would not pass journald's rate
//! limit) and accounts for every contact; `--full` is complete or LOST with
//! journald's own count; mod.stats snapshots around 1000 more registrations
//! rank usrloc first. Boxes running rsyslog (only there) with an imuxsock
//! limit and with imjournal's limit have them hit and reported. A box with
//! a low journald burst (a `journald.conf.d` drop-in) shows a `--full` dump
//! LOST with the gaps in its fragment indexes and journald's own count, and
//! pkg dumps sized together: summaries by default, what fits with `--full`;
//! a lower one makes a single receiver's `--pkg PID --full` LOST with the
//! gaps of its own list, in `dump`, `analyze` and `diff`.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
#[path = "support/sdbox.rs"]
mod sdbox;

use sdbox::SdBox;
use std::time::Duration;

const CTL: &str = "unix:/run/kamailio/kamailio_ctl";
const DIR: &str = "/run/kmemdbg-test";
const DROPIN: &str = "/etc/systemd/system/kamailio.service.d/zz-kmemdbg-capture.conf";

fn registrar_cfg() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/capture/registrar.cfg"),
    )
    .expect("registrar.cfg")
}

fn scenario() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sipp/register-distinct-aor.xml"),
    )
    .expect("scenario")
}

/// Boots a box whose kamailio.service runs the registrar with q_malloc.
fn registrar_box(test: &str) -> Option<SdBox> {
    if !common::require_real(
        test,
        "sipp (apt-get install sip-tester)",
        common::have_program("sipp"),
    ) {
        return None;
    }
    let mut b = SdBox::boot(test)?;
    b.put(&format!("{DIR}/registrar.cfg"), &registrar_cfg());
    b.put(&format!("{DIR}/reg.xml"), &scenario());
    b.ok(&["chmod", "755", DIR]);
    b.etc.write(
        DROPIN,
        &format!("[Service]\nExecStart=\nExecStart=/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f {DIR}/registrar.cfg -m 128 -M 8 -x qm\n"),
    );
    b.ok(&["systemctl", "daemon-reload"]);
    b.ok(&["systemctl", "restart", "kamailio"]);
    assert!(
        b.wait_active("kamailio", Duration::from_secs(60)),
        "{}",
        b.journal("kamailio")
    );
    let up = common::wait_for(Duration::from_secs(20), || {
        b.run(&["kamcmd", "-s", CTL, "core.psx"]).code == 0
    });
    assert!(up, "no ctl socket: {}", b.journal("kamailio"));
    Some(b)
}

/// `n` REGISTERs for PREFIX1..PREFIXn from inside the box (bounded: -m, -timeout).
fn register(b: &SdBox, prefix: &str, n: u32) {
    let o = b.run(&[
        "sipp",
        "-sf",
        &format!("{DIR}/reg.xml"),
        "-key",
        "aor",
        prefix,
        "-m",
        &n.to_string(),
        "-r",
        "3000",
        "-timeout",
        "90s",
        "-nostdin",
        "-i",
        "127.0.0.1",
        "127.0.0.1:5060",
    ]);
    assert_eq!(o.code, 0, "sipp: {}\n{}", o.stdout, o.stderr);
}

fn kamcmd(b: &SdBox, args: &[&str]) -> String {
    let mut all = vec!["kamcmd", "-s", CTL];
    all.extend_from_slice(args);
    b.ok(&all)
}

fn registered_users(b: &SdBox) -> u64 {
    let t = kamcmd(b, &["stats.get_statistics", "all"]);
    t.lines()
        .find(|l| l.trim_start().starts_with("usrloc:registered_users ="))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no usrloc:registered_users in {t:?}"))
}

/// `count=` of the summary line for `site` in a captured dump.
fn summary_count(text: &str, site: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.contains(site) && l.contains("count="))
        .unwrap_or_else(|| panic!("no summary line for {site}"));
    line.split("count=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"))
}

fn json(out: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    json_doc::assert_documented(&v);
    v
}

#[test]
fn real_journald_6000_registrations_summary_full_and_mod_stats() {
    const T: &str = "real_journald_6000_registrations_summary_full_and_mod_stats";
    let Some(b) = registrar_box(T) else {
        return;
    };
    register(&b, "a", 6000);
    let users = registered_users(&b);
    assert!(users >= 6000, "usrloc holds {users} users");
    let mem_summary = || {
        kamcmd(&b, &["cfg.get", "core", "mem_summary"])
            .trim()
            .to_string()
    };
    assert_eq!(mem_summary(), "3");

    // The default dump: the list would not fit journald's budget, so a summary.
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--journal",
        "kamailio",
        "--ctl",
        CTL,
        "--out",
        &format!("{DIR}/default.log"),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = json(&out);
    assert_eq!(v["choice"]["shape"], "summary", "{out}");
    assert_eq!(v["choice"]["budget"]["sink"], "journald", "{out}");
    assert!(
        v["choice"]["status_lines"].as_u64().unwrap_or(0)
            > v["choice"]["budget"]["burst"].as_u64().unwrap_or(u64::MAX),
        "{out}"
    );
    assert_eq!(v["complete"], true, "{out}");
    assert_eq!(mem_summary(), "3", "mem_summary put back after the dump");
    let text = b.ok(&["cat", &format!("{DIR}/default.log")]);
    // Every contact accounted for: one new_ucontact per registered AoR.
    let contacts = summary_count(&text, "from usrloc: ucontact.c: new_ucontact(");
    assert!(contacts >= 6000, "{contacts}");
    assert_eq!(contacts, registered_users(&b));

    // --full: complete, or LOST with journald's own count of dropped lines.
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--journal",
        "kamailio",
        "--ctl",
        CTL,
        "--full",
        "--timeout",
        "30s",
        "--out",
        &format!("{DIR}/full.log"),
        "--json",
    ]);
    let v = json(&out);
    // Said before triggering: it will not fit, and what would make it fit.
    assert!(
        err.contains("--full: about") && err.contains("to make it fit: raise journald's limit"),
        "{err}"
    );
    eprintln!(
        "--full: exit {code}, complete {}, lost {}, cause {}",
        v["complete"], v["lost_lines"], v["cause"]
    );
    if v["complete"] == true {
        assert_eq!(code, 0, "{out}\n{err}");
    } else {
        assert_eq!(code, 1, "{out}\n{err}");
        let req = &v["requests"][0];
        assert_eq!(req["status"], "lost", "{out}");
        let lost = v["lost_lines"].as_u64().unwrap_or(0);
        let cause = v["cause"].as_str().unwrap_or("");
        assert!(
            cause.contains("journald dropped") && cause.contains("Suppressed "),
            "{cause}"
        );
        // The count is journald's own: its Suppressed line, read back here.
        let journal = b.journal("kamailio");
        let suppressed: u64 = journal
            .lines()
            .filter_map(|l| l.strip_prefix("Suppressed "))
            .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        assert!(
            suppressed > 0 && lost == suppressed,
            "lost {lost}, journal says {suppressed}"
        );
        assert!(!cause.contains("--timeout"), "{cause}");
    }
    assert_eq!(mem_summary(), "3");

    // The log-free route around 1000 more registrations.
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--mod-stats",
        "--ctl",
        CTL,
        "--out",
        &format!("{DIR}/before.modstats"),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    json(&out);
    register(&b, "b", 1000);
    assert_eq!(registered_users(&b), users + 1000);
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--mod-stats",
        "--ctl",
        CTL,
        "--out",
        &format!("{DIR}/after.modstats"),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = b.kmemdbg(&[
        "diff",
        &format!("{DIR}/before.modstats"),
        &format!("{DIR}/after.modstats"),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = json(&out);
    let growing = v["growing"].as_array().expect("growing");
    assert_eq!(growing[0]["module"], "usrloc", "{out}");
    let uc = growing
        .iter()
        .find(|g| g["site"].as_str().unwrap_or("").contains("new_ucontact("))
        .expect("new_ucontact grew");
    assert_eq!(uc["delta_count"].as_i64(), Some(1000), "{uc}");
}

#[test]
fn real_rsyslog_imuxsock_limit_hit_and_reported() {
    const T: &str = "real_rsyslog_imuxsock_limit_hit_and_reported";
    // rsyslog runs in this box only, writing to the box's private /run, with
    // imuxsock's limit turned on.
    let Some(b) = rsyslog_box(
        T,
        &format!("module(load=\"imuxsock\" SysSock.RateLimit.Interval=\"5\" SysSock.RateLimit.Burst=\"200\")\n*.* {DIR}/syslog\n"),
    ) else {
        return;
    };
    register(&b, "r", 300);
    let syslog = format!("{DIR}/syslog");
    assert!(
        common::wait_for(Duration::from_secs(20), || b
            .run(&["test", "-s", &syslog])
            .code
            == 0),
        "rsyslog wrote nothing to {syslog}"
    );
    full_dump_is_lost_as_rsyslog_counts(&b, &syslog, "imuxsock", "rs-full.log");
}

/// Fragment indexes of the status lines in `text` (awk's rule, by hand:
/// the number before `. N  address=`), and how many of the numbered range
/// have no line: highest + 1 - listed.
fn index_gaps(text: &str) -> u64 {
    let idx: Vec<u64> = text
        .lines()
        .filter_map(|l| {
            let head = l.split("  address=").next().filter(|h| h.len() < l.len())?;
            let head = head
                .trim_end()
                .strip_suffix(" N")?
                .trim_end()
                .strip_suffix('.')?;
            head.rsplit(' ').next()?.trim().parse().ok()
        })
        .collect();
    let span = idx.iter().max().map_or(0, |m| m + 1);
    span - idx.len() as u64
}

/// The sum of journald's `Suppressed N messages from kamailio.service`
/// entries in the box's journal so far.
fn suppressed_total(b: &SdBox) -> u64 {
    let j = b.ok(&["journalctl", "-u", "kamailio", "-o", "cat", "--no-pager"]);
    j.lines()
        .filter_map(|l| l.strip_prefix("Suppressed "))
        .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// journald with a low rate limit (a `journald.conf.d` drop-in, removed
/// after): `dump --full` of a proxy with some 60,000 lines of fragments
/// loses lines in each 100 ms window and gets lines again in the next, so
/// the dump has gaps in its fragment indexes. (With a 1 s window, a fast
/// machine prints the whole dump inside the first window: only the tail is
/// lost and the numbering has no gap; 100 ms windows make the gaps certain,
/// since journald cannot take 60,000 lines in 100 ms.) It is marked LOST (text and
/// JSON: complete false, lost_lines, the cause with journald's own
/// `Suppressed` count and the gaps), never TRUNCATED, never "raise --timeout".
#[test]
fn real_journald_low_burst_full_dump_is_lost_with_fragment_gaps() {
    const T: &str = "real_journald_low_burst_full_dump_is_lost_with_fragment_gaps";
    let Some(mut b) = registrar_box(T) else {
        return;
    };
    let conf_d = "/etc/systemd/journald.conf.d";
    b.etc.watch(conf_d);
    b.etc.write(
        format!("{conf_d}/zz-kmemdbg-low-burst.conf"),
        "[Journal]\nRateLimitIntervalSec=100ms\nRateLimitBurst=100\n",
    );
    b.ok(&["systemctl", "restart", "systemd-journald"]);
    assert!(b.wait_active("systemd-journald", Duration::from_secs(30)));
    register(&b, "g", 3000);
    let free: u64 = kamcmd(&b, &["core.shmmem"])
        .lines()
        .find_map(|l| l.trim().strip_prefix("fragments:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("core.shmmem fragments");

    // Text.
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--journal",
        "kamailio",
        "--ctl",
        CTL,
        "--full",
        "--timeout",
        "20s",
        "--out",
        &format!("{DIR}/gaps.log"),
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    // The drop-in is read: 100 per 100 ms, scaled by journald with its free space.
    assert!(err.contains("lines through per 100ms"), "{err}");
    assert!(out.contains("LOST"), "{out}");
    assert!(!out.contains("TRUNCATED"), "{out}");
    assert!(out.contains("journald dropped"), "{out}");
    assert!(
        out.contains("fragments are missing from the numbered list"),
        "{out}"
    );
    assert!(!out.contains("--timeout"), "a loss is not slowness: {out}");

    // JSON.
    let before = suppressed_total(&b);
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--journal",
        "kamailio",
        "--ctl",
        CTL,
        "--full",
        "--timeout",
        "20s",
        "--out",
        &format!("{DIR}/gaps2.log"),
        "--json",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    let v = json(&out);
    assert_eq!(v["complete"], false, "{out}");
    let req = &v["requests"][0];
    assert_eq!(req["status"], "lost", "{out}");
    let cause = v["cause"].as_str().unwrap_or("");
    assert!(
        cause.contains("journald dropped") && cause.contains("Suppressed "),
        "{cause}"
    );
    assert!(
        cause.contains("fragments are missing from the numbered list"),
        "{cause}"
    );
    assert!(!cause.contains("--timeout"), "{cause}");
    // The gaps, counted here from the kept lines: kmemdbg's count leaves out
    // the pool's free fragments (a status lists used ones only).
    let text = b.ok(&["cat", &format!("{DIR}/gaps2.log")]);
    let gaps = index_gaps(&text);
    let missing = req["missing_fragments"]
        .as_u64()
        .expect("missing_fragments");
    eprintln!("gaps by hand {gaps}, free {free}, kmemdbg {missing}; cause {cause}");
    assert!(missing > 0, "{out}");
    assert!(
        missing <= gaps && gaps <= missing + free + 2,
        "by hand {gaps}, free {free}, kmemdbg {missing}"
    );
    // The count is journald's own (its Suppressed entries during this run).
    let lost = v["lost_lines"].as_u64().unwrap_or(0);
    let suppressed = suppressed_total(&b) - before;
    assert!(
        suppressed > 0 && lost == suppressed,
        "lost {lost}, journal says {suppressed}"
    );
    assert_eq!(kamcmd(&b, &["cfg.get", "core", "mem_summary"]).trim(), "3");

    // The pkg part below is sized for 1000 lines per 1 s.
    b.etc.write(
        format!("{conf_d}/zz-kmemdbg-low-burst.conf"),
        "[Journal]\nRateLimitIntervalSec=1s\nRateLimitBurst=1000\n",
    );
    b.ok(&["systemctl", "restart", "systemd-journald"]);
    assert!(b.wait_active("systemd-journald", Duration::from_secs(30)));

    // pkg: the lists of all processes together would not pass the 1 s
    // window, so each is asked for as a summary (mem_summary 12 over its
    // dump, put back after).
    let pkg_args = |full: bool, out: &str| {
        let mut a = vec![
            "dump",
            "--pkg",
            "all",
            "--poke",
            "127.0.0.1:5060",
            "--journal",
            "kamailio",
            "--ctl",
            CTL,
            "--timeout",
            "5s",
            "--json",
            "--out",
        ];
        a.push(out);
        if full {
            a.push("--full");
        }
        a.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let args = pkg_args(false, "/run/kmemdbg-test/pkg.log");
    let (code, out, err) = b.kmemdbg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let v = json(&out);
    let ch = &v["pkg_choice"];
    assert_eq!(ch["shape"], "summary", "{out}\n{err}");
    let burst = ch["budget"]["burst"].as_u64().expect("burst");
    assert!(ch["status_lines"].as_u64().unwrap_or(0) > burst, "{out}");
    assert!(ch["fits"] == true, "{out}");
    let pkg: Vec<&serde_json::Value> = v["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| r["target"]["kind"] == "pkg")
        .collect();
    assert!(pkg.iter().all(|r| r["summary"] == true), "{out}");
    let answered: Vec<_> = pkg.iter().filter(|r| r["status"] == "ok").collect();
    assert!(answered.len() >= 4, "{out}\n{err}");
    assert!(answered.iter().all(|r| r["complete"] == true), "{out}");
    assert!(code == 0 || code == 1, "{out}\n{err}");
    assert_eq!(kamcmd(&b, &["cfg.get", "core", "mem_summary"]).trim(), "3");
    let text = b.ok(&["cat", "/run/kmemdbg-test/pkg.log"]);
    assert!(
        text.contains("qm_sums") && !text.contains(" address="),
        "summaries only"
    );

    // --full: said before triggering, with how many processes at a time fit.
    let args = pkg_args(true, "/run/kmemdbg-test/pkg-full.log");
    let (_, out, err) = b.kmemdbg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let v = json(&out);
    assert_eq!(v["pkg_choice"]["shape"], "status", "{out}");
    assert_eq!(v["pkg_choice"]["fits"], false, "{out}");
    assert!(
        err.contains("kmemdbg:   to make it fit: fewer processes at a time:")
            || err.contains("kmemdbg:   to make it fit: not even one process"),
        "{err}"
    );
    assert_eq!(kamcmd(&b, &["cfg.get", "core", "mem_summary"]).trim(), "3");
}

/// rsyslog reading the journal (imjournal, not imuxsock) with its own rate
/// limit, in this box only: the limit is read from rsyslog.conf before the
/// dump, hit, and reported with rsyslog's own count.
#[test]
fn real_rsyslog_imjournal_limit_hit_and_reported() {
    const T: &str = "real_rsyslog_imjournal_limit_hit_and_reported";
    let Some(b) = rsyslog_box(
        T,
        &format!("module(load=\"imjournal\" StateFile=\"{DIR}/imjournal.state\" IgnorePreviousMessages=\"on\" ratelimit.interval=\"5\" ratelimit.burst=\"200\")\n*.* {DIR}/syslog\n"),
    ) else {
        return;
    };
    register(&b, "j", 300);
    // A line through journald and imjournal proves the path (kamailio logs
    // nothing while registering).
    let syslog = format!("{DIR}/syslog");
    b.ok(&["logger", "-t", "kmemdbg-probe", "imjournal path"]);
    assert!(
        common::wait_for(Duration::from_secs(20), || b
            .run(&["grep", "-q", "kmemdbg-probe", &syslog])
            .code
            == 0),
        "rsyslog (imjournal) wrote nothing to {syslog}: {}",
        b.journal("rsyslog")
    );
    full_dump_is_lost_as_rsyslog_counts(&b, &syslog, "imjournal", "ij-full.log");
}

/// A registrar box where rsyslog runs with `conf` as its rsyslog.conf (this
/// box only), started and active; None when the test is skipped.
fn rsyslog_box(test: &str, conf: &str) -> Option<SdBox> {
    if !common::require_real(
        test,
        "rsyslog (apt-get install rsyslog; ci/install-deps.sh leaves it disabled)",
        std::path::Path::new("/usr/sbin/rsyslogd").is_file(),
    ) {
        return None;
    }
    let mut b = registrar_box(test)?;
    // Not enabled: other boxes stay journald-only.
    b.etc.write("/etc/rsyslog.conf", conf);
    // syslog.socket activates `syslog.service`, the alias `systemctl enable
    // rsyslog` would make; the alias alone (no WantedBy link) keeps rsyslog
    // out of the boot of every other box. /etc/systemd/system is watched.
    let alias = std::path::Path::new("/etc/systemd/system/syslog.service");
    if !alias.exists() {
        std::os::unix::fs::symlink("/lib/systemd/system/rsyslog.service", alias)
            .expect("syslog.service alias");
    }
    b.ok(&["systemctl", "daemon-reload"]);
    let started = b.run(&["systemctl", "start", "rsyslog"]);
    if started.code != 0 {
        let why = b.run(&["sh", "-c", "systemctl status --no-pager syslog.socket rsyslog.service; journalctl -b --no-pager -u syslog.socket -u rsyslog; journalctl -b --no-pager -p warning -n 20; systemctl cat syslog.socket; systemctl show syslog.socket -p Result -p ConditionResult -p AssertResult"]);
        panic!(
            "systemctl start rsyslog: {started:?}\n{}{}",
            why.stdout, why.stderr
        );
    }
    assert!(b.wait_active("rsyslog", Duration::from_secs(30)));
    Some(b)
}

/// `dump --full` through rsyslog's `module` (imuxsock or imjournal, burst
/// 200) is LOST, and its lost lines are rsyslog's own count, as rsyslog
/// logged it (8.2302: `imuxsock[pid: P, name: ...]: N messages lost due to
/// rate-limiting (200 allowed within 5 seconds)`, `imjournal: N messages
/// lost due to rate-limiting ...`); `mem_summary` is put back.
fn full_dump_is_lost_as_rsyslog_counts(b: &SdBox, syslog: &str, module: &str, out_file: &str) {
    let (code, out, err) = b.kmemdbg(&[
        "dump",
        "--log",
        syslog,
        "--ctl",
        CTL,
        "--full",
        "--timeout",
        "20s",
        "--out",
        &format!("{DIR}/{out_file}"),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(
        v["choice"]["budget"]["sink"],
        format!("rsyslog {module}"),
        "{out}"
    );
    assert_eq!(v["choice"]["budget"]["burst"], 200, "{out}");
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(v["complete"], false, "{out}");
    assert_eq!(v["requests"][0]["status"], "lost", "{out}");
    let cause = v["cause"].as_str().unwrap_or("");
    assert!(cause.contains(module), "{cause}");
    let text = b.ok(&["cat", syslog]);
    let lost: u64 = text
        .lines()
        .filter(|l| l.contains(module) && l.contains(" messages lost due to rate-limiting"))
        .filter_map(|l| {
            let head = l.split(" messages lost due to rate-limiting").next()?;
            head.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    eprintln!(
        "rsyslog {module} lost {lost}; kmemdbg says {} ({cause})",
        v["lost_lines"]
    );
    assert!(lost > 0, "rsyslog reported no loss:\n{text}");
    assert_eq!(v["lost_lines"].as_u64(), Some(lost), "{out}");
    assert_eq!(kamcmd(b, &["cfg.get", "core", "mem_summary"]).trim(), "3");
}

/// The PID of the first `udp receiver` in `core.psx`.
fn first_udp_receiver(b: &SdBox) -> u32 {
    let psx = kamcmd(b, &["core.psx"]);
    let mut pid = None;
    for l in psx.lines() {
        let l = l.trim();
        if let Some(p) = l.strip_prefix("PID:") {
            pid = p.trim().parse::<u32>().ok();
        }
        if l.starts_with("DSC:") && l.contains("udp receiver") {
            if let Some(p) = pid {
                return p;
            }
        }
    }
    panic!("no udp receiver in {psx}");
}

/// The sum of the free list's `fragments no.: N` lines in `text`, by hand.
fn free_listed(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split("fragments no.:").nth(1))
        .filter_map(|r| r.split(',').next()?.trim().parse::<u64>().ok())
        .sum()
}

/// journald with a rate limit so low (a `journald.conf.d` drop-in, removed
/// after) that one receiver's pkg status, a few thousand lines, passes in
/// several windows: `dump --pkg PID --full` is LOST (text and JSON:
/// complete false, lost_lines, missing_fragments, the gaps in the cause),
/// never TRUNCATED nor "raise --timeout", and `analyze`/`diff` of the file
/// say LOST with the gaps counted here by hand (highest index + 1 - listed
/// - the free list's own count).
#[test]
fn real_journald_low_burst_pkg_dump_is_lost_with_fragment_gaps() {
    const T: &str = "real_journald_low_burst_pkg_dump_is_lost_with_fragment_gaps";
    let Some(mut b) = registrar_box(T) else {
        return;
    };
    let conf_d = "/etc/systemd/journald.conf.d";
    b.etc.watch(conf_d);
    b.etc.write(
        format!("{conf_d}/zz-kmemdbg-low-burst.conf"),
        "[Journal]\nRateLimitIntervalSec=5ms\nRateLimitBurst=5\n",
    );
    b.ok(&["systemctl", "restart", "systemd-journald"]);
    assert!(b.wait_active("systemd-journald", Duration::from_secs(30)));
    let pid = first_udp_receiver(&b).to_string();
    let out_file = format!("{DIR}/pkg-gaps.log");
    let args = |json: bool| {
        let mut a = vec![
            "dump",
            "--pkg",
            pid.as_str(),
            "--full",
            "--poke",
            "127.0.0.1:5060",
            "--journal",
            "kamailio",
            "--ctl",
            CTL,
            "--timeout",
            "10s",
            "--out",
            out_file.as_str(),
        ];
        if json {
            a.push("--json");
        }
        a
    };

    // JSON.
    let (code, out, err) = b.kmemdbg(&args(true));
    let v = json(&out);
    eprintln!("{err}");
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(v["complete"], false, "{out}");
    let req = &v["requests"][0];
    assert_eq!(req["target"]["kind"], "pkg", "{out}");
    assert_eq!(req["status"], "lost", "{out}");
    assert!(!err.contains("TRUNCATED"), "{err}");
    // The drop-in is read (5 per 5 ms, scaled by journald with its free space).
    assert!(err.contains("lines through per 5ms"), "{err}");
    let text = b.ok(&["cat", &out_file]);
    let gaps = index_gaps(&text);
    let free = free_listed(&text);
    let missing = req["missing_fragments"]
        .as_u64()
        .expect("missing_fragments");
    let cause = req["lost_cause"].as_str().unwrap_or("");
    eprintln!("pkg of {pid}: gaps by hand {gaps}, free listed {free}, kmemdbg {missing}; {cause}");
    assert!(missing > 0, "{out}");
    // kmemdbg takes out the most of pkg.stats' free count and the dump's
    // own: at most the hand count less the dump's own.
    assert!(
        missing <= gaps.saturating_sub(free),
        "{gaps} {free} {missing}"
    );
    assert!(
        cause.contains("fragments are missing from the numbered list"),
        "{cause}"
    );
    assert!(!cause.contains("--timeout"), "{cause}");
    let lost = req["lost_lines"].as_u64().unwrap_or(0);
    assert!(lost >= 3 * missing, "lost {lost}, missing {missing}");
    assert_eq!(v["lost_lines"].as_u64(), Some(lost), "{out}");
    assert_eq!(kamcmd(&b, &["cfg.get", "core", "mem_summary"]).trim(), "3");

    // analyze and diff of that file: LOST, the gaps counted from the file
    // alone (the free list's own count taken out), exactly the hand count.
    let by_hand = gaps - free;
    let (code, out, err) = b.kmemdbg(&["analyze", &out_file, "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = json(&out);
    assert_eq!(v["lost"][0]["complete"], false, "{out}");
    assert_eq!(
        v["lost"][0]["missing_fragments"].as_u64(),
        Some(by_hand),
        "{out}"
    );
    assert!(v["lost"][0]["lost_lines"].as_u64().unwrap_or(0) >= 3 * by_hand);
    let (_, out, _) = b.kmemdbg(&["analyze", &out_file]);
    assert!(
        out.starts_with("LOST: ") && out.contains("[LOST]") && !out.contains("TRUNCATED"),
        "{out}"
    );
    let (code, out, err) = b.kmemdbg(&["diff", &out_file, &out_file, "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = json(&out);
    assert_eq!(v["lost"][0]["complete"], false, "{out}");
    assert_eq!(
        v["lost"][0]["missing_fragments"].as_u64(),
        Some(by_hand),
        "{out}"
    );
    let (_, out, _) = b.kmemdbg(&["diff", &out_file, &out_file]);
    assert!(
        out.contains("LOST: ") && out.contains("[LOST]") && !out.contains("TRUNCATED"),
        "{out}"
    );

    // Text.
    let (code, out, err) = b.kmemdbg(&args(false));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("LOST"), "{out}");
    assert!(!out.contains("TRUNCATED"), "{out}");
    assert!(
        out.contains("fragments are missing from the numbered list"),
        "{out}"
    );
    assert!(!out.contains("--timeout"), "a loss is not slowness: {out}");
    assert_eq!(kamcmd(&b, &["cfg.get", "core", "mem_summary"]).trim(), "3");
}
