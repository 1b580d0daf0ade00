//! Leak or pool too small? The manual procedure (stop traffic, wait, place
//! a few calls) as measurements: [`verdict`] decides from numbers only;
//! this module supplies the pieces that touch the proxy - the probe
//! requests (SIP OPTIONS, one at a time, bounded) and the wait for memory to
//! settle after them. It never changes the proxy's settings; the probes go
//! only to the address the operator gives or the proxy's own listen address.

pub mod verdict;

use crate::kamcmd::Kamcmd;
use crate::watch::{Sample, Sampler};
use anyhow::{bail, Context, Result};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};
use verdict::Totals;

/// The totals the verdict compares.
pub fn totals(s: &Sample) -> Totals {
    Totals {
        elapsed_s: s.elapsed_s,
        shm_bytes: s.shm.real_used_bytes as f64,
        pkg_bytes: s.pkg_real_used_total() as f64,
    }
}

/// Where to send the probes: `--target`, or the proxy's first UDP listen
/// address from `core.sockets_list` (a wildcard address becomes loopback).
pub fn probe_target(kamcmd: &Kamcmd, given: Option<&str>) -> Result<SocketAddr> {
    if let Some(t) = given {
        return t
            .to_socket_addrs()
            .with_context(|| format!("--target {t:?}: expected HOST:PORT, e.g. 127.0.0.1:5060"))?
            .next()
            .with_context(|| format!("--target {t:?} resolves to no address"));
    }
    let text = kamcmd.call(&["core.sockets_list"])?;
    udp_listen_address(&text).with_context(|| {
        format!(
            "the proxy lists no UDP listen address (core.sockets_list: {:?}); pass --target HOST:PORT",
            text.trim()
        )
    })
}

/// The first UDP socket in `core.sockets_list` (pure).
pub fn udp_listen_address(text: &str) -> Option<SocketAddr> {
    // The records are flattened: proto, address, port appear in order.
    let mut proto = None;
    let mut address: Option<String> = None;
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "proto" => {
                proto = Some(v.to_string());
                address = None;
            }
            "address" => address = Some(v.to_string()),
            "port" if proto.as_deref() == Some("udp") => {
                let a = address.as_deref()?;
                let ip = match a {
                    "0.0.0.0" | "*" => "127.0.0.1",
                    "::" | "[::]" => "::1",
                    other => other.trim_start_matches('[').trim_end_matches(']'),
                };
                if let (Ok(ip), Ok(port)) = (ip.parse(), v.parse()) {
                    return Some(SocketAddr::new(ip, port));
                }
            }
            _ => {}
        }
    }
    None
}

/// Sends `calls` OPTIONS one after another; returns how many got a final reply.
pub fn send_probes(target: SocketAddr, calls: u32) -> u32 {
    (0..calls)
        .filter(|_| crate::sip::options(target, Duration::from_secs(2)).is_ok())
        .count() as u32
}

/// Samples every `interval` until memory is back at `before` (within
/// `noise_bytes`, both pools) or `max_wait` has passed. Returns the samples
/// taken and whether memory settled.
pub fn settle(
    sampler: &mut Sampler,
    before: &Totals,
    noise_bytes: f64,
    interval: Duration,
    max_wait: Duration,
) -> Result<(Vec<Sample>, bool)> {
    let start = Instant::now();
    let mut out = Vec::new();
    loop {
        let s = sampler.sample()?;
        let t = totals(&s);
        out.push(s);
        let back = t.shm_bytes - before.shm_bytes <= noise_bytes
            && t.pkg_bytes - before.pkg_bytes <= noise_bytes;
        if back {
            return Ok((out, true));
        }
        if start.elapsed() + interval > max_wait {
            return Ok((out, false));
        }
        std::thread::sleep(interval);
    }
}

/// Does the running binary have memory debugging (from `core.flags`)?
pub fn memdebug_build(kamcmd: &Kamcmd) -> Option<bool> {
    let flags = kamcmd.call(&["core.flags"]).ok()?;
    Some(
        ["DBG_QM_MALLOC", "DBG_F_MALLOC", "DBG_SR_MEMORY"]
            .iter()
            .any(|f| flags.contains(f)),
    )
}

/// Refuses a probe target that is not this machine's or a private address
/// unless the operator named it: probes go to the operator's own proxy only.
pub fn check_target(target: SocketAddr, given: bool) -> Result<()> {
    if !given && !target.ip().is_loopback() {
        bail!(
            "the proxy listens on {target}, not on loopback: confirm it is yours with --target {target}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `kamcmd core.sockets_list` from Debian's 5.6.3 here.
    const SOCKETS: &str = "{\n\tsocket: {\n\t\tproto: udp\n\t\taddress: 127.0.0.1\n\t\tport: 25999\n\t\tmcast: no\n\t\tmhomed: no\n\t\tvirtual: no\n\t}\n}\n";

    #[test]
    fn first_udp_socket() {
        assert_eq!(
            udp_listen_address(SOCKETS),
            Some("127.0.0.1:25999".parse().unwrap())
        );
        let tcp_first = "{\n socket: {\n proto: tcp\n address: 10.0.0.1\n port: 5060\n }\n socket: {\n proto: udp\n address: 0.0.0.0\n port: 5070\n }\n}\n";
        assert_eq!(
            udp_listen_address(tcp_first),
            Some("127.0.0.1:5070".parse().unwrap())
        );
        assert_eq!(udp_listen_address("error: 500\n"), None);
    }

    #[test]
    fn targets() {
        assert!(check_target("127.0.0.1:5060".parse().unwrap(), false).is_ok());
        assert!(check_target("192.0.2.1:5060".parse().unwrap(), false).is_err());
        assert!(check_target("192.0.2.1:5060".parse().unwrap(), true).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[{}a-z0-9:. \\n\\t]{0,200}") {
            let _ = udp_listen_address(&s);
        }
    }
}
