//! The bounds of a hunt, decided before any traffic is sent: the target
//! (this box's own address unless the operator allows a remote one), the
//! counts, rate and times (each bounded), the Expires the scenarios ask for,
//! and how much of the time budget the classes need.
//!
//! Pure except [`is_own_address`], which asks the kernel whether an address
//! is one of this box's (a bind, no traffic). Never sends anything.

use anyhow::{bail, Context, Result};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// Most requests per class.
pub const MAX_REQUESTS: u32 = 1_000_000;
/// Highest rate, requests per second.
pub const MAX_RATE: u32 = 5_000;
/// Longest settle and longest whole run.
pub const MAX_SETTLE: Duration = Duration::from_secs(3600);
pub const MAX_TIME: Duration = Duration::from_secs(24 * 3600);
/// Time a pair of snapshots and the checks around a class take at least
/// (a guess, used only to warn early that the budget is too small).
pub const OVERHEAD_PER_CLASS: Duration = Duration::from_secs(5);

/// The numbers the operator gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    pub requests: u32,
    pub rate: u32,
    pub settle: Duration,
    pub max_time: Duration,
}

impl Bounds {
    /// Refuses counts, rates and times outside the limits (exit 2 upstream).
    pub fn check(&self) -> Result<()> {
        if self.requests == 0 || self.requests > MAX_REQUESTS {
            bail!(
                "--requests {}: give 1 to {MAX_REQUESTS} requests per class",
                self.requests
            );
        }
        if self.rate == 0 || self.rate > MAX_RATE {
            bail!(
                "--rate {}: give 1 to {MAX_RATE} requests per second",
                self.rate
            );
        }
        if self.settle > MAX_SETTLE {
            bail!(
                "--settle {}s: at most {}s",
                self.settle.as_secs(),
                MAX_SETTLE.as_secs()
            );
        }
        if self.max_time.is_zero() || self.max_time > MAX_TIME {
            bail!(
                "--max-time {}s: give a time above 0 and at most {}s",
                self.max_time.as_secs(),
                MAX_TIME.as_secs()
            );
        }
        Ok(())
    }

    /// How long sending one class's requests takes at the rate.
    pub fn drive_time(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.requests) / f64::from(self.rate.max(1)))
    }

    /// What one class needs at least: sending, settling, snapshots.
    pub fn class_time(&self) -> Duration {
        self.drive_time() + self.settle + OVERHEAD_PER_CLASS
    }

    /// How many of `classes` fit in `--max-time` (all, when they fit).
    pub fn classes_that_fit(&self, classes: usize) -> usize {
        let per = self.class_time().as_secs_f64().max(0.001);
        ((self.max_time.as_secs_f64() / per).floor() as usize).min(classes)
    }

    /// The Expires the REGISTER and SUBSCRIBE scenarios ask for: half of
    /// the settle time (at least 1 s), so that what they create expires
    /// while kmemdbg waits.
    pub fn expires_s(&self) -> u64 {
        (self.settle.as_secs() / 2).max(1)
    }
}

/// `HOST:PORT` to one address (the first the resolver gives).
pub fn resolve(target: &str) -> Result<SocketAddr> {
    let t = target
        .strip_prefix("udp:")
        .or_else(|| target.strip_prefix("sip:"))
        .unwrap_or(target);
    t.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("--target {target:?}: expected HOST:PORT, e.g. 127.0.0.1:5060"))
}

/// True when `ip` is an address of this box: loopback, or one the kernel
/// lets a socket bind to (an address of a local interface).
pub fn is_own_address(ip: IpAddr) -> bool {
    if ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    ip.is_loopback() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Refuses to send traffic to an address that is not this box's, unless
/// the operator says it is theirs (`--allow-remote`).
pub fn check_target(target: SocketAddr, own: bool, allow_remote: bool) -> Result<()> {
    if target.ip().is_unspecified() {
        bail!("--target {target}: give the proxy's address, not a wildcard");
    }
    if target.port() == 0 {
        bail!("--target {target}: give the proxy's SIP port");
    }
    if !own && !allow_remote {
        bail!(
            "--target {target} is not an address of this box: hunt sends SIP traffic and \
             changes nothing it cannot undo, but only to a test box you own; \
             add --allow-remote to send it there anyway"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(requests: u32, rate: u32, settle: u64, max: u64) -> Bounds {
        Bounds {
            requests,
            rate,
            settle: Duration::from_secs(settle),
            max_time: Duration::from_secs(max),
        }
    }

    #[test]
    fn bounds() {
        assert!(b(200, 100, 30, 600).check().is_ok());
        assert!(b(0, 100, 30, 600).check().is_err());
        assert!(b(200, 0, 30, 600).check().is_err());
        assert!(b(200, MAX_RATE + 1, 30, 600).check().is_err());
        assert!(b(200, 100, 30, 0).check().is_err());
        assert!(b(200, 100, 7200, 600).check().is_err());
        // 200 at 100/s = 2 s, + 30 s settle + 5 s = 37 s a class; 600 s fit 16
        assert_eq!(b(200, 100, 30, 600).class_time(), Duration::from_secs(37));
        assert_eq!(b(200, 100, 30, 600).classes_that_fit(6), 6);
        assert_eq!(b(200, 100, 30, 80).classes_that_fit(6), 2);
        assert_eq!(b(200, 100, 30, 600).expires_s(), 15);
        assert_eq!(b(200, 100, 1, 600).expires_s(), 1);
    }

    #[test]
    fn targets() {
        let lo: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        assert!(is_own_address(lo.ip()));
        assert!(check_target(lo, true, false).is_ok());
        // TEST-NET-1 is never assigned to a box.
        let far: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        assert!(!is_own_address(far.ip()));
        let e = check_target(far, false, false).unwrap_err().to_string();
        assert!(e.contains("--allow-remote"), "{e}");
        assert!(check_target(far, false, true).is_ok());
        assert!(check_target("0.0.0.0:5060".parse().unwrap(), true, true).is_err());
        assert!(!is_own_address("0.0.0.0".parse().unwrap()));
        assert_eq!(resolve("udp:127.0.0.1:5070").unwrap().port(), 5070);
        assert!(resolve("127.0.0.1").is_err());
    }
}
