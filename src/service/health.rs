//! Is this kamailio healthy, and does it run what was planned? Its main
//! process is alive and stays alive; its argv (`/proc/PID/cmdline`) holds
//! every planned option (`-x qm`, `-m`/`-M`, `-f`); it has children
//! (`core.psx` over ctl when reachable, else /proc); a SIP OPTIONS sent to
//! one of its UDP listen addresses, on loopback, gets an answer of the same
//! class as before the change; and, when dumps were planned, `memlog` and
//! `debug` read over RPC (`cfg.get core ...`) let dumps print. A check that
//! cannot be made (no ctl socket, no cfg_rpc) is listed in `not_checked`,
//! never counted as passed. Everything is polled within one deadline;
//! nothing sleeps a fixed time to "wait for" the proxy.
//!
//! Listen addresses come from the UDP sockets the process holds
//! ([`procfs::owned_udp_addrs`]), else from `-l` and the cfg's
//! `listen=` lines. Reads only; never signals or changes the proxy.

use super::{argv, discover};
use crate::{kamcmd, procfs, sip};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many consecutive polls the main process must survive.
pub const STABLE_POLLS: usize = 5;
/// Time between those polls.
pub const POLL_GAP: Duration = Duration::from_millis(200);

/// The result of a health check.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Health {
    pub ok: bool,
    pub pid: Option<u32>,
    /// Children seen in /proc.
    pub children: usize,
    /// Processes listed by `core.psx`, when ctl answered.
    pub psx_processes: Option<usize>,
    /// Where OPTIONS was answered, and the status code.
    pub sip_target: Option<String>,
    pub sip_status: Option<u16>,
    /// What passed, in order, for the report.
    pub passed: Vec<String>,
    /// Why it is not healthy (empty when ok).
    pub problems: Vec<String>,
    /// Checks that could not be made, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<String>,
    /// The main process's argv when it lacked a planned option.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
}

/// What the check needs to know about the proxy.
pub struct Probe<'a> {
    /// Returns the current main PID (pid file, `systemctl show`, ...).
    pub main_pid: &'a dyn Fn() -> Option<u32>,
    /// The command line it runs with (for `-l`, `-Y`).
    pub command: &'a [String],
    /// Its cfg (for `listen=` and the ctl socket).
    pub cfg: Option<&'a Path>,
    /// Options the main process's argv must hold, with their values.
    pub expect: &'a [(char, String)],
    /// The status the proxy answered OPTIONS with before the change.
    pub baseline_sip: Option<u16>,
    /// Dumps were planned: memlog <= debug must hold in the running proxy.
    pub expect_dumps: bool,
    /// The (memlog, debug) the cfg plans, when known: they must be these.
    pub planned_log: Option<(i64, i64)>,
}

/// The options of `command` that a restart plans and the new main process
/// must run with (`-f`, `-m`, `-M`, `-x`, `-L`), as (option, value).
pub fn planned_options(command: &[String]) -> Vec<(char, String)> {
    let t = argv::from_argv(command);
    ['f', 'm', 'M', 'x', 'L']
        .iter()
        .filter_map(|&o| argv::find(&t, o).map(|f| (o, f.value)))
        .collect()
}

/// The options of `expect` that `argv` lacks or holds with another value.
pub fn missing_options(argv_now: &[String], expect: &[(char, String)]) -> Vec<String> {
    let t = argv::from_argv(argv_now);
    expect
        .iter()
        .filter(|(o, v)| argv::find(&t, *o).map(|f| f.value).as_deref() != Some(v.as_str()))
        .map(|(o, v)| format!("-{o} {v}"))
        .collect()
}

/// What the proxy `pid` answers to OPTIONS now (one try per address, short).
pub fn sip_answer(pid: u32) -> Option<(SocketAddr, u16)> {
    procfs::owned_udp_addrs(pid)
        .into_iter()
        .map(loopback_of)
        .take(4)
        .find_map(|t| sip::options(t, Duration::from_secs(1)).ok().map(|c| (t, c)))
}

/// Runs the health check within `timeout`.
pub fn check(probe: &Probe<'_>, timeout: Duration) -> Health {
    let deadline = Instant::now() + timeout;
    let mut h = Health::default();
    // 1. A main process that is alive.
    let pid = loop {
        if let Some(p) = (probe.main_pid)().filter(|&p| discover::alive(p)) {
            break Some(p);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let Some(pid) = pid else {
        h.problems.push(format!(
            "no running main process within {:.0}s",
            timeout.as_secs_f64()
        ));
        return h;
    };
    h.pid = Some(pid);
    h.passed.push(format!("main process {pid} is running"));

    // 1b. It runs what was planned.
    if !probe.expect.is_empty() {
        let now = discover::read_process(pid)
            .map(|r| r.argv)
            .unwrap_or_default();
        let missing = missing_options(&now, probe.expect);
        if !missing.is_empty() {
            h.problems.push(format!(
                "the new main process {pid} runs `{}`, without the planned {}",
                now.join(" "),
                missing.join(", ")
            ));
            h.argv = now;
            return h;
        }
        h.passed.push(format!(
            "its command line holds every planned option ({})",
            probe
                .expect
                .iter()
                .map(|(o, v)| format!("-{o} {v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }

    // 2. SIP OPTIONS to a UDP listen address (which also proves the children run).
    let cfg_text = probe
        .cfg
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let declared = declared_listen(probe.command, &cfg_text);
    let mut last_err = String::new();
    loop {
        if !discover::alive(pid) {
            h.problems
                .push(format!("main process {pid} exited during the check"));
            return h;
        }
        let mut targets = procfs::owned_udp_addrs(pid);
        if targets.is_empty() {
            targets = declared.clone();
        }
        let targets: Vec<SocketAddr> = targets.into_iter().map(loopback_of).collect();
        let mut answered = None;
        for t in targets.iter().take(4) {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left
                .min(Duration::from_secs(1))
                .max(Duration::from_millis(200));
            match sip::options(*t, wait) {
                Ok(code) => {
                    answered = Some((*t, code));
                    break;
                }
                Err(e) => last_err = format!("{e:#}"),
            }
        }
        if let Some((t, code)) = answered {
            h.sip_target = Some(t.to_string());
            h.sip_status = Some(code);
            if let Some(before) = probe.baseline_sip {
                if before / 100 != code / 100 {
                    h.problems.push(format!(
                        "SIP OPTIONS to {t} answered {code}; before the change the proxy answered {before}"
                    ));
                    return h;
                }
                h.passed.push(format!(
                    "SIP OPTIONS to {t} answered {code} (before the change: {before})"
                ));
            } else {
                h.passed.push(format!("SIP OPTIONS to {t} answered {code}"));
            }
            break;
        }
        if targets.is_empty() {
            last_err = "no UDP listen address found (none held in /proc, no listen= or -l)".into();
        }
        if Instant::now() >= deadline {
            h.problems.push(format!(
                "no answer to SIP OPTIONS within {:.0}s: {last_err}",
                timeout.as_secs_f64()
            ));
            return h;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // 3. Children.
    h.children = discover::children_of(pid).len();
    if h.children == 0 {
        h.problems
            .push(format!("main process {pid} has no children"));
        return h;
    }
    h.passed.push(format!("{} child processes", h.children));
    match ctl_socket(probe.command, &cfg_text) {
        None => h.not_checked.push(
            "core.psx and memlog/debug over RPC: no ctl socket (is the ctl module loaded?); children counted in /proc".into(),
        ),
        Some(sock) => match kamcmd::Kamcmd::new(Some(&sock)) {
            Err(e) => h.not_checked.push(format!(
                "core.psx and memlog/debug over RPC: {}",
                first_line(&format!("{e:#}"))
            )),
            Ok(k) => {
                match k.processes() {
                    Ok(procs) => {
                        h.psx_processes = Some(procs.len());
                        if procs.first().map(|p| p.pid) != Some(pid) {
                            h.problems.push(format!(
                                "core.psx over {sock} lists PID {:?} as main, not {pid}",
                                procs.first().map(|p| p.pid)
                            ));
                            return h;
                        }
                        h.passed
                            .push(format!("core.psx lists {} processes", procs.len()));
                    }
                    Err(e) => h.not_checked.push(format!(
                        "core.psx over {sock} ({}); children counted in /proc",
                        first_line(&format!("{e:#}"))
                    )),
                }
                if probe.expect_dumps {
                    match (k.cfg_get_int("core", "memlog"), k.cfg_get_int("core", "debug")) {
                        (Ok(m), Ok(d)) if probe.planned_log.is_some_and(|p| p != (m, d)) => {
                            let (pm, pd) = probe.planned_log.unwrap_or_default();
                            h.problems.push(format!(
                                "cfg.get core over {sock}: memlog={m} debug={d}, but the planned cfg sets memlog={pm} debug={pd}: the proxy does not run the planned cfg"
                            ));
                            return h;
                        }
                        (Ok(m), Ok(d)) if m <= d => h.passed.push(format!(
                            "cfg.get core: memlog={m} <= debug={d}{}: dumps print",
                            if probe.planned_log.is_some() {
                                ", as planned"
                            } else {
                                ""
                            }
                        )),
                        (Ok(m), Ok(d)) => {
                            h.problems.push(format!(
                                "cfg.get core over {sock}: memlog={m} > debug={d}: the proxy does not run the planned cfg (memlog <= debug), dumps would not print"
                            ));
                            return h;
                        }
                        (Err(e), _) | (_, Err(e)) => h.not_checked.push(format!(
                            "memlog/debug over RPC: cfg.get failed ({}; is the cfg_rpc module loaded?)",
                            first_line(&format!("{e:#}"))
                        )),
                    }
                }
            }
        },
    }

    // 4. Stays alive.
    for _ in 0..STABLE_POLLS {
        std::thread::sleep(POLL_GAP);
        if !discover::alive(pid) || (probe.main_pid)() != Some(pid) {
            h.problems.push(format!(
                "main process {pid} did not stay up ({} polls)",
                STABLE_POLLS
            ));
            return h;
        }
    }
    h.passed
        .push(format!("still running after {} polls", STABLE_POLLS));
    h.ok = true;
    h
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// 0.0.0.0 and :: become the loopback address of their family.
pub fn loopback_of(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), a.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), a.port())
        }
        _ => a,
    }
}

/// UDP listen addresses named by `-l` and the cfg's active `listen=` lines
/// (IP literals only; names and interfaces are left to /proc).
pub fn declared_listen(command: &[String], cfg_text: &str) -> Vec<SocketAddr> {
    let mut specs: Vec<String> = argv::find_all(&argv::from_argv(command), 'l')
        .into_iter()
        .map(|f| f.value)
        .collect();
    for line in cfg_text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("listen") {
            if let Some(v) = rest.trim_start().strip_prefix('=') {
                let v = v.split('#').next().unwrap_or("").trim();
                let v = v.split_whitespace().next().unwrap_or("");
                specs.push(v.trim_matches('"').to_string());
            }
        }
    }
    specs.iter().filter_map(|s| parse_listen(s)).collect()
}

/// `udp:127.0.0.1:5060`, `127.0.0.1`, `udp:[::1]:5070` -> a UDP address.
pub fn parse_listen(spec: &str) -> Option<SocketAddr> {
    let spec = spec.split('/').next()?;
    let (proto, rest) = match spec.split_once(':') {
        Some((p, r)) if ["udp", "tcp", "tls", "sctp", "ws", "wss"].contains(&p) => (p, r),
        _ => ("udp", spec),
    };
    if proto != "udp" {
        return None;
    }
    if let Ok(a) = rest.parse::<SocketAddr>() {
        return Some(a);
    }
    if let Ok(ip) = rest.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 5060));
    }
    let (host, port) = rest.rsplit_once(':')?;
    let ip: IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
    Some(SocketAddr::new(ip, port.parse().ok()?))
}

/// The ctl socket: `modparam("ctl", "binrpc", "unix:...")` in the cfg,
/// else `kamailio_ctl` in the `-Y` run dir, else Debian's default.
pub fn ctl_socket(command: &[String], cfg_text: &str) -> Option<String> {
    let re =
        regex::Regex::new(r#"^\s*modparam\(\s*"ctl"\s*,\s*"binrpc"\s*,\s*"(unixs?:[^"]+)"\s*\)"#)
            .ok()?;
    for line in cfg_text.lines() {
        if let Some(c) = re.captures(line) {
            let s = c[1].replacen("unixs:", "unix:", 1);
            if Path::new(s.trim_start_matches("unix:")).exists() {
                return Some(s);
            }
        }
    }
    let rundir = argv::find(&argv::from_argv(command), 'Y')
        .map(|f| PathBuf::from(f.value))
        .unwrap_or_else(|| PathBuf::from("/run/kamailio"));
    let p = rundir.join("kamailio_ctl");
    p.exists().then(|| format!("unix:{}", p.display()))
}

/// The ctl socket of every kamailio running here, by main PID (`None`: no
/// socket found for it), read from its command line and its cfg (`-f`,
/// relative to its working directory). Reads only.
pub fn running_ctl_sockets() -> Vec<(u32, Option<String>)> {
    discover::main_processes()
        .into_iter()
        .map(|r| {
            let tokens = argv::from_argv(&r.argv);
            let cfg = argv::find(&tokens, 'f').map(|f| {
                let p = PathBuf::from(f.value);
                match procfs::cwd(r.pid) {
                    Some(cwd) if p.is_relative() => cwd.join(p),
                    _ => p,
                }
            });
            let text = cfg
                .and_then(|c| std::fs::read_to_string(c).ok())
                .unwrap_or_default();
            (r.pid, ctl_socket(&r.argv, &text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_become_loopback() {
        assert_eq!(
            loopback_of("0.0.0.0:68".parse().unwrap()),
            "127.0.0.1:68".parse().unwrap()
        );
        assert_eq!(
            loopback_of("[::]:5060".parse().unwrap()),
            "[::1]:5060".parse().unwrap()
        );
    }

    #[test]
    fn listen_specs() {
        assert_eq!(
            parse_listen("udp:127.0.0.1:5090"),
            "127.0.0.1:5090".parse().ok()
        );
        assert_eq!(parse_listen("127.0.0.1"), "127.0.0.1:5060".parse().ok());
        assert_eq!(parse_listen("tcp:127.0.0.1:5060"), None);
        assert_eq!(parse_listen("udp:[::1]:5070"), "[::1]:5070".parse().ok());
        let cmd: Vec<String> = ["kamailio", "-l", "udp:127.0.0.2:7000"]
            .map(String::from)
            .to_vec();
        let d = declared_listen(
            &cmd,
            "# listen=udp:10.0.0.10:5060\nlisten=udp:127.0.0.1:27060 # here\n",
        );
        assert_eq!(d.len(), 2, "{d:?}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[0-9A-Fa-f: \\n]{0,200}", l in "[a-z0-9:.\\[\\]/]{0,40}") {
            let _ = (s, parse_listen(&l));
        }
    }
}
