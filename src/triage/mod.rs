//! Leak or pool too small? The manual procedure (stop traffic, wait, place
//! a few calls) as measurements: [`verdict`] decides from numbers only;
//! this module supplies the pieces that touch the proxy - the probe
//! requests (SIP OPTIONS, one at a time, bounded) and the wait for memory to
//! settle after them. It never changes the proxy's settings; the probes go
//! only to the address the operator gives or the proxy's own listen address.

pub mod procedure;
pub mod verdict;

use crate::kamcmd::{records, Kamcmd};
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
    records::udp_listen_address(&text).with_context(|| {
        format!(
            "the proxy lists no UDP listen address (core.sockets_list: {:?}); pass --target HOST:PORT",
            text.trim()
        )
    })
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
    Some(crate::mem::memdebug_flag(|f| flags.contains(f)).is_some())
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

    #[test]
    fn targets() {
        assert!(check_target("127.0.0.1:5060".parse().unwrap(), false).is_ok());
        assert!(check_target("192.0.2.1:5060".parse().unwrap(), false).is_err());
        assert!(check_target("192.0.2.1:5060".parse().unwrap(), true).is_ok());
    }

    proptest::proptest! {}
}
