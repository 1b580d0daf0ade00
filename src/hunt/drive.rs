//! Sends one class of traffic with `sipp` (Debian's `sip-tester`), bounded
//! in count (`-m`), rate (`-r`) and time (`-timeout`), from a scratch
//! directory that holds the scenario and whatever sipp writes.
//!
//! sipp runs through [`crate::runner::run_streaming`], in a process group of
//! its own: a Ctrl-C stops it (and only it) and comes back as
//! [`crate::runner::Interrupted`]. [`parse_stats`] is the pure reader of
//! sipp's final statistics screen (fuzzed below). This module never talks
//! to the proxy other than through the traffic itself, and never prints.

use crate::fsx;
use crate::runner;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// What to send.
#[derive(Debug, Clone)]
pub struct Drive<'a> {
    pub scenario: &'a str,
    pub target: SocketAddr,
    /// The local address sipp sends from (`-i`); `None` lets sipp choose.
    pub local_ip: Option<IpAddr>,
    pub requests: u32,
    pub rate: u32,
    /// Passed as `-key expires S` (the scenarios' `[expires]`).
    pub expires_s: u64,
    /// sipp is stopped after this long, whatever it has sent.
    pub timeout: Duration,
}

/// sipp's own count of calls, from its final statistics screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SippStats {
    pub created: Option<u64>,
    pub successful: Option<u64>,
    pub failed: Option<u64>,
}

/// How a run of sipp ended.
#[derive(Debug, Clone, Serialize)]
pub struct Driven {
    /// sipp's exit code (0 every call succeeded, 1 some failed).
    pub code: Option<i32>,
    pub stats: SippStats,
    pub elapsed_s: f64,
    /// The last lines sipp printed, for a failure message.
    #[serde(skip)]
    pub tail: Vec<String>,
}

/// Runs sipp for one class. A sipp that cannot start, or exits with
/// anything but 0 (all calls answered) or 1 (some calls failed), is an error.
pub fn run(d: &Drive<'_>) -> Result<Driven> {
    let sipp = runner::find_program("sipp")
        .context("sipp not found (Debian: apt-get install sip-tester)")?;
    let dir = tempfile::Builder::new()
        .prefix("kmemdbg-hunt-")
        .tempdir()
        .context("cannot create a scratch directory for sipp")?;
    let scenario = dir.path().join("scenario.xml");
    fsx::create(&scenario, d.scenario.as_bytes(), 0o600)?;
    let local_port = free_udp_port(d.local_ip)?.to_string();
    let sh = runner::shell()?;
    sh.change_dir(dir.path());
    let mut args: Vec<String> = vec![
        "-sf".into(),
        scenario.display().to_string(),
        "-m".into(),
        d.requests.to_string(),
        "-r".into(),
        d.rate.to_string(),
        "-timeout".into(),
        format!("{}s", d.timeout.as_secs().max(1)),
        "-recv_timeout".into(),
        "10000".into(),
        "-nostdin".into(),
        "-aa".into(),
        "-p".into(),
        local_port,
        "-key".into(),
        "expires".into(),
        d.expires_s.to_string(),
    ];
    if let Some(ip) = d.local_ip {
        args.push("-i".into());
        args.push(ip.to_string());
    }
    args.push(d.target.to_string());
    let start = Instant::now();
    let mut lines: Vec<String> = Vec::new();
    let mut sink = std::io::sink();
    // Its own -timeout ends sipp; the runner's bound is a backstop.
    let out = runner::run_streaming(
        xshell::cmd!(sh, "{sipp} {args...}"),
        d.timeout + Duration::from_secs(30),
        &mut sink,
        &mut |e| {
            if let runner::StreamEvent::Line(l) = e {
                lines.push(l.to_string());
            }
        },
    )?;
    let text = lines.join("\n");
    let tail: Vec<String> = lines[lines.len().saturating_sub(12)..].to_vec();
    if !matches!(out.code, Some(0) | Some(1)) {
        bail!(
            "`{}` failed (exit status {:?}); last lines:\n{}",
            out.display,
            out.code,
            tail.join("\n")
        );
    }
    Ok(Driven {
        code: out.code,
        stats: parse_stats(&text),
        elapsed_s: start.elapsed().as_secs_f64(),
        tail,
    })
}

/// A UDP port that was free a moment ago on `ip` (loopback when unknown).
fn free_udp_port(ip: Option<IpAddr>) -> Result<u16> {
    let ip = ip.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let s = UdpSocket::bind(SocketAddr::new(ip, 0))
        .with_context(|| format!("cannot find a free UDP port on {ip} for sipp"))?;
    Ok(s.local_addr()?.port())
}

/// Reads the cumulative column of sipp's statistics screen:
/// `  Successful call        |        0                  |        5  `.
/// The last screen printed wins. Pure; never panics.
pub fn parse_stats(text: &str) -> SippStats {
    let mut s = SippStats::default();
    for line in text.lines() {
        let mut cols = line.split('|');
        let Some(name) = cols.next() else { continue };
        let Some(value) = cols.nth(1) else { continue };
        let Ok(n) = value.trim().parse::<u64>() else {
            continue;
        };
        match name.trim() {
            "Total Calls created" => s.created = Some(n),
            "Successful call" => s.successful = Some(n),
            "Failed call" => s.failed = Some(n),
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statistics screen of a real `sipp -m 5` run here (sipp 3.6.1),
    /// with the cumulative successful/failed counts changed from 5/0 to 4/1
    /// so that the two columns cannot be confused.
    const SCREEN: &str =
        "----------------------------- Statistics Screen ------- [1-9]: Change Screen --
  Counter Name           | Periodic value            | Cumulative value
-------------------------+---------------------------+--------------------------
  Elapsed Time           | 00:00:00:000000           | 00:00:00:000000          
  Call Rate              |    0.000 cps              |  100.000 cps             
-------------------------+---------------------------+--------------------------
  Incoming calls created |        0                  |        0                 
  Outgoing calls created |        0                  |        5                 
  Total Calls created    |                           |        5                 
  Current Calls          |        0                  |                          
-------------------------+---------------------------+--------------------------
  Successful call        |        0                  |        4                 
  Failed call            |        0                  |        1                 
-------------------------+---------------------------+--------------------------
";

    #[test]
    fn stats_screen() {
        assert_eq!(
            parse_stats(SCREEN),
            SippStats {
                created: Some(5),
                successful: Some(4),
                failed: Some(1)
            }
        );
        assert_eq!(parse_stats("Resolving remote host"), SippStats::default());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[ a-zA-Z0-9|:.\\n-]{0,300}") {
            let _ = parse_stats(&s);
        }
    }
}
