//! `kmemdbg scan` on logs of real runs of Debian's kamailio (5.6.3):
//! shared memory exhausted by registrations of distinct AoRs (`-m 8`, sipp),
//! private memory exhausted by a cfg script growing a `$var` (`-M 2`), and
//! a run with no exhaustion whose log holds lines that look like one (sl's
//! INFO `could not bind tm module`, xlog printing a user agent and a SIP
//! body that say "out of memory").
//!
//! Expected counts come from plain substring counts over the log, never
//! from kmemdbg's output. Each proxy has its own port, ctl socket and temp
//! dir; load is bounded (sipp -m and -timeout, a fixed number of requests).
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn scan_json(args: &[&str]) -> (i32, Value) {
    let mut cmd = kmemdbg();
    cmd.arg("scan").args(args).arg("--json");
    let (code, out, err) = run_cmd(cmd, Duration::from_secs(120));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!("scan --json did not print JSON ({e}); code {code}\n{out}\n{err}")
    });
    json_doc::assert_documented(&v);
    (code, v)
}

/// Lines of `text` holding `needle`, per PID (the `N(PID)` of stderr logging).
fn count_by_pid(text: &str, needle: &str) -> BTreeMap<u32, u64> {
    let mut m = BTreeMap::new();
    for l in text.lines().filter(|l| l.contains(needle)) {
        let pid = l
            .split_once('(')
            .and_then(|(_, r)| r.split_once(')'))
            .and_then(|(p, _)| p.parse().ok())
            .unwrap();
        *m.entry(pid).or_default() += 1;
    }
    m
}

fn registrar_cfg(port: u16, ctl: &Path) -> String {
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nlisten=udp:127.0.0.1:{port}\nchildren=2\n\
         loadmodule \"ctl.so\"\nloadmodule \"tm.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
         loadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
         modparam(\"ctl\", \"binrpc\", \"unix:{}\")\nmodparam(\"usrloc\", \"db_mode\", 0)\n\
         modparam(\"registrar\", \"max_expires\", 36000)\nmodparam(\"registrar\", \"default_expires\", 36000)\n\
         request_route {{\n    if ($rm == \"REGISTER\") {{ save(\"location\"); exit; }}\n    sl_send_reply(\"404\", \"Not here\");\n}}\n",
        ctl.display()
    )
}

/// sipp registers `n` distinct AoRs (bounded by -m and -timeout); its own
/// result does not matter (replies stop once the pool is gone).
fn sipp_register(dir: &Path, port: u16, n: u32) {
    let scenario = repo().join("tests/fixtures/scan/register-distinct-aor.xml");
    let mut cmd = Command::new("sipp");
    cmd.current_dir(dir)
        .arg("-sf")
        .arg(&scenario)
        .args(["-m", &n.to_string(), "-r", "2000", "-rp", "1000"])
        .args(["-timeout", "60s", "-nostdin", "-recv_timeout", "2000"])
        .args(["-i", "127.0.0.1", "-p", "0", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null());
    let _ = run_cmd(cmd, Duration::from_secs(90));
}

#[test]
fn real_shm_exhausted_by_registrations_is_found_and_grouped() {
    let test = "real_shm_exhausted_by_registrations_is_found_and_grouped";
    let Some(bin) = kamailio_and_sipp(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let mut proxy = Proxy::start(
        &bin,
        dir.path(),
        port,
        &registrar_cfg(port, &ctl),
        &["-x", "qm", "-m", "8", "-M", "4"],
    );
    sipp_register(dir.path(), port, 20000);
    let log = proxy.log_text();
    let shm_needle = "could not allocate shared memory from shm pool";
    let expected = count_by_pid(&log, shm_needle);
    let total: u64 = expected.values().sum();
    assert!(
        total > 100,
        "the pool was not exhausted; log tail:\n{}",
        tail(&log)
    );

    // while the proxy runs: roles from core.psx over --ctl
    let ctl_arg = format!("unix:{}", ctl.display());
    let log_path = proxy.log.to_string_lossy().into_owned();
    let (code, v) = scan_json(&[&log_path, "--ctl", &ctl_arg]);
    proxy.stop();
    assert_eq!(code, 1, "errors found must exit 1");
    assert_eq!(v["schema"], "kmemdbg.scan/1");
    // every shm error line is one finding; nothing else in this log is one
    let log = std::fs::read_to_string(&proxy.log).unwrap();
    let after_stop_total: u64 = count_by_pid(&log, shm_needle).values().sum();
    assert_eq!(after_stop_total, total, "no new errors after the scan");
    let alloc_lines = log
        .lines()
        .filter(|l| l.contains("qm_malloc(") && l.contains("Free fragment not found"))
        .count() as u64;
    assert_eq!(v["findings"].as_u64(), Some(total + alloc_lines));
    assert_eq!(v["per_pool"]["shm"].as_u64(), Some(total + alloc_lines));
    // groups per PID add up to the per-PID counts
    let mut by_pid: BTreeMap<u32, u64> = BTreeMap::new();
    for g in v["groups"].as_array().unwrap() {
        assert_eq!(g["pool"], "shm");
        assert_eq!(g["module"], "usrloc", "{g}");
        *by_pid.entry(g["pid"].as_u64().unwrap() as u32).or_default() +=
            g["count"].as_u64().unwrap();
        let role = g["role"].as_str().unwrap_or_default();
        assert!(role.contains("receiver"), "role from core.psx: {g}");
    }
    if alloc_lines == 0 {
        assert_eq!(by_pid, expected);
    }
    // the functions named in the log are the groups' functions
    let funcs: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["function"].as_str())
        .collect();
    for f in ["new_urecord", "new_ucontact"] {
        let in_log = log
            .lines()
            .any(|l| l.contains(shm_needle) && l.contains(&format!("{f}():")));
        assert_eq!(funcs.contains(&f), in_log, "{f}");
    }
    // the start line says 8 MB of shm: the proposal doubles it
    assert_eq!(v["starts"][0]["shm_bytes"].as_u64(), Some(8 * 1024 * 1024));
    assert_eq!(v["verdict"]["pool"], "shm");
    let next: Vec<String> = v["verdict"]["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["command"].as_str().unwrap().to_string())
        .collect();
    assert!(
        next.iter().any(|c| c.starts_with("kmemdbg size --shm 16")),
        "{next:?}"
    );
    // text output names the pool and the module
    let (code, out, _) = run_cmd(
        {
            let mut c = kmemdbg();
            c.args(["scan", &log_path]);
            c
        },
        Duration::from_secs(60),
    );
    assert_eq!(code, 1);
    assert!(out.contains("usrloc") && out.contains("shm"), "{out}");
}

/// The PID of the first line holding `needle` (stderr logging's `N(PID)`).
fn receiver_pid(log: &str, needle: &str) -> u64 {
    *count_by_pid(log, needle).keys().next().unwrap() as u64
}

fn pkg_cfg(port: u16, ctl: &Path) -> String {
    // A script that doubles a string 40 times: past the 2 MB pkg pool.
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nlisten=udp:127.0.0.1:{port}\nchildren=1\n\
         loadmodule \"ctl.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
         modparam(\"ctl\", \"binrpc\", \"unix:{}\")\n\
         request_route {{\n    $var(x) = \"0123456789abcdef\";\n    $var(i) = 0;\n\
         while ($var(i) < 40) {{\n        $var(x) = $var(x) + $var(x);\n        $var(i) = $var(i) + 1;\n    }}\n\
         sl_send_reply(\"200\", \"OK\");\n    exit;\n}}\n",
        ctl.display()
    )
}

fn options(port: u16, call_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK{call_id}\r\n\
         From: <sip:scan@127.0.0.1>;tag={call_id}\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn tail(text: &str) -> String {
    text.lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn real_pkg_exhausted_by_a_growing_var_is_found_with_its_pool() {
    let test = "real_pkg_exhausted_by_a_growing_var_is_found_with_its_pool";
    let Some(bin) = debian_kamailio(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let mut proxy = Proxy::start(
        &bin,
        dir.path(),
        port,
        &pkg_cfg(port, &ctl),
        &["-x", "qm", "-m", "32", "-M", "2"],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let needle = "could not allocate private memory from pkg pool";
    for i in 0..3 {
        sock.send_to(
            &options(port, &format!("pkg{i}"), "", ""),
            ("127.0.0.1", port),
        )
        .unwrap();
        let before = i;
        // each request fails in the same process; wait for its lines
        assert!(
            wait_for(Duration::from_secs(20), || proxy
                .log_text()
                .matches(needle)
                .count()
                > before),
            "no pkg error after request {i}:\n{}",
            tail(&proxy.log_text())
        );
    }
    // while it runs, with no --ctl: its ctl socket is found from its command
    // line (-f) and that cfg's modparam, and core.psx gives the roles
    let log_path = proxy.log.to_string_lossy().into_owned();
    let (_, live) = scan_json(&[&log_path]);
    let ctl_arg = format!("unix:{}", ctl.display());
    let notes = live["notes"].to_string();
    assert!(
        notes.contains(&format!("process roles from core.psx over {ctl_arg}")),
        "{notes}"
    );
    let receiver = receiver_pid(&proxy.log_text(), needle);
    let roles = |v: &Value| -> Vec<String> {
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["pid"].as_u64() == Some(receiver))
            .map(|g| g["role"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let live_roles = roles(&live);
    assert!(!live_roles.is_empty(), "{live}");
    assert!(
        live_roles.iter().all(|r| r.contains("receiver")),
        "{live_roles:?}"
    );
    // the last request's lines are complete once its loop has ended: stop first
    proxy.stop();
    let log = std::fs::read_to_string(&proxy.log).unwrap();
    let macro_lines = log.matches(needle).count() as u64;
    let rv_lines = log.matches("rv eval out of memory").count() as u64;
    assert!(macro_lines > 0 && rv_lines > 0, "{}", tail(&log));
    let (code, v) = scan_json(&[&log_path]);
    // stopped: no roles, and a note says why
    assert!(roles(&v).iter().all(String::is_empty), "{v}");
    assert!(
        v["notes"].to_string().contains("process roles not shown"),
        "{}",
        v["notes"]
    );
    assert_eq!(code, 1);
    assert_eq!(v["findings"].as_u64(), Some(macro_lines + rv_lines));
    // `rv eval out of memory` names no pool: it is the same process's next line
    assert_eq!(
        v["per_pool"]["pkg"].as_u64(),
        Some(macro_lines + rv_lines),
        "{}",
        v["per_pool"]
    );
    let groups = v["groups"].as_array().unwrap();
    let f = |name: &str| {
        groups
            .iter()
            .find(|g| g["function"] == name)
            .unwrap_or_else(|| panic!("no group for {name}: {groups:?}"))
    };
    assert_eq!(f("rval_new_empty")["count"].as_u64(), Some(macro_lines));
    assert_eq!(f("rval_new_empty")["pool_from"], "message");
    assert_eq!(f("rval_str_add2")["count"].as_u64(), Some(rv_lines));
    assert_eq!(f("rval_str_add2")["pool_from"], "neighbour");
    assert_eq!(f("rval_str_add2")["module"], "<core>");
    assert_eq!(v["starts"][0]["pkg_bytes"].as_u64(), Some(2 * 1024 * 1024));
    assert_eq!(v["verdict"]["pool"], "pkg");
    // a stderr log has no timestamps: the verdict says what that hides
    assert_eq!(v["verdict"]["pattern"], "unknown");
    assert!(v["verdict"]["reasons"]
        .to_string()
        .contains("burst or steadily"));
}

fn look_alike_cfg(port: u16, ctl: &Path) -> String {
    // sl without tm logs `could not bind tm module` at INFO; xlog prints the
    // user agent and the body at L_ERR.
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nlisten=udp:127.0.0.1:{port}\nchildren=1\n\
         loadmodule \"ctl.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
         modparam(\"ctl\", \"binrpc\", \"unix:{}\")\n\
         request_route {{\n    xlog(\"L_ERR\", \"request from UA [$ua]\\n\");\n    xlog(\"L_ERR\", \"body: $rb\\n\");\n\
         sl_send_reply(\"200\", \"OK\");\n    exit;\n}}\n",
        ctl.display()
    )
}

#[test]
fn real_clean_log_with_look_alike_lines_exits_0() {
    let test = "real_clean_log_with_look_alike_lines_exits_0";
    let Some(bin) = debian_kamailio(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let mut proxy = Proxy::start(
        &bin,
        dir.path(),
        port,
        &look_alike_cfg(port, &ctl),
        &["-x", "qm", "-m", "32", "-M", "8"],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = "v=0\r\ns=no more shm memory\r\ni=out of memory\r\n";
    sock.send_to(
        &options(
            port,
            "clean1",
            "User-Agent: out of memory softphone 1.0\r\nContent-Type: application/sdp\r\n",
            body,
        ),
        ("127.0.0.1", port),
    )
    .unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = sock.recv_from(&mut buf).expect("the proxy answers");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));
    assert!(wait_for(Duration::from_secs(10), || proxy
        .log_text()
        .contains("i=out of memory")));
    proxy.stop();
    let log = std::fs::read_to_string(&proxy.log).unwrap();
    // the look-alikes are really there
    let info_tm = log
        .lines()
        .filter(|l| l.contains("INFO: sl") && l.contains("could not bind tm module"))
        .count();
    assert!(info_tm >= 1, "{}", tail(&log));
    assert!(
        log.contains("<script>: request from UA [out of memory softphone 1.0]"),
        "{}",
        tail(&log)
    );
    assert!(
        log.lines().any(|l| l.starts_with("s=no more shm memory")),
        "{}",
        tail(&log)
    );
    let log_path = proxy.log.to_string_lossy().into_owned();
    let (code, v) = scan_json(&[&log_path]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["findings"].as_u64(), Some(0));
    assert_eq!(v["groups"].as_array().unwrap().len(), 0);
    assert_eq!(v["verdict"]["kind"], "none");
    // ignored on purpose, and said so apart: the xlog line and the body's two lines
    let ignored: BTreeMap<String, u64> = v["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["why"].as_str().unwrap().to_string(),
                i["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ignored.get("script"), Some(&1), "{ignored:?}");
    assert_eq!(ignored.get("no-prefix"), Some(&2), "{ignored:?}");
    let (code, out, _) = run_cmd(
        {
            let mut c = kmemdbg();
            c.args(["scan", &log_path]);
            c
        },
        Duration::from_secs(60),
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("0 out-of-memory error(s)"), "{out}");
}

/// `triage` starts by scanning the proxy's own log: a real proxy whose
/// stderr log (`-E`, a file) already holds pkg errors from a script growing
/// a `$var`. Its text and JSON report as many error lines as a plain
/// substring count of the log finds, all pkg, counted from the run's start
/// line (stderr lines have no timestamps).
#[test]
fn real_triage_reports_the_pkg_errors_already_in_the_proxy_log() {
    let test = "real_triage_reports_the_pkg_errors_already_in_the_proxy_log";
    let Some(bin) = debian_kamailio(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ctl = dir.path().join("kamailio_ctl");
    let mut proxy = Proxy::start(
        &bin,
        dir.path(),
        port,
        &pkg_cfg(port, &ctl),
        &["-x", "qm", "-m", "32", "-M", "2"],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let needle = "could not allocate private memory from pkg pool";
    // the errors a plain count finds; every request's lines come before its
    // reply (the loop runs before sl_send_reply)
    let count = |log: &str| {
        (log.matches(needle).count() + log.matches("rv eval out of memory").count()) as u64
    };
    for i in 0..2 {
        sock.send_to(
            &options(port, &format!("triage{i}"), "", ""),
            ("127.0.0.1", port),
        )
        .unwrap();
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap_or(0);
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"),
            "no reply to request {i}:\n{}",
            tail(&proxy.log_text())
        );
    }
    let before = count(&proxy.log_text());
    assert!(before > 0, "no pkg error:\n{}", tail(&proxy.log_text()));
    let ctl_arg = format!("unix:{}", ctl.display());
    let log_path = proxy.log.to_string_lossy().into_owned();
    let triage = |json: bool| {
        let mut c = kmemdbg();
        c.args(["triage", "--ctl", &ctl_arg, "--traffic-stopped"])
            .args(["--idle-seconds", "1", "--interval", "0.5s"])
            .args(["--probe-calls", "2", "--settle", "1s"]);
        if json {
            c.arg("--json");
        }
        run_cmd(c, Duration::from_secs(120))
    };

    let (code, out, err) = triage(true);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("triage --json: {e}, exit {code}\n{out}\n{err}"));
    json_doc::assert_documented(&v);
    let l = &v["log_errors"];
    assert_eq!(l["findings"].as_u64(), Some(before), "{l}\n{err}");
    assert_eq!(l["per_pool"]["pkg"].as_u64(), Some(before), "{l}");
    assert_eq!(l["per_pool"].as_object().unwrap().len(), 1, "{l}");
    assert!(l["source"].as_str().unwrap().contains(&log_path), "{l}");
    assert!(l["range"].as_str().unwrap().contains("start line"), "{l}");

    // the probes of that run failed the same way; once they are answered
    // the log is complete again
    let rounds = v["measurements"]["rounds"].as_array().unwrap();
    let all_answered = rounds
        .iter()
        .all(|r| r["answered"].as_u64() == r["calls"].as_u64());
    assert!(all_answered, "{rounds:?}");
    let now = count(&proxy.log_text());
    assert!(now >= before);
    let (_, out, err) = triage(false);
    proxy.stop();
    let line = out
        .lines()
        .find(|l| l.starts_with("log: "))
        .unwrap_or_else(|| panic!("no log line in triage's text:\n{out}\n{err}"));
    assert!(
        line.starts_with(&format!("log: {now} out-of-memory error lines ({now} pkg)")),
        "{line}"
    );
    assert!(line.contains(&log_path), "{line}");
}
