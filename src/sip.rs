//! A minimal SIP OPTIONS probe over UDP: "does a proxy answer on this
//! address?" Used by health checks and to wake receiver processes so they
//! print a requested pkg dump. Loopback and the operator's own proxies only;
//! one request per call, bounded by a timeout.

use anyhow::{bail, Context, Result};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Sends one OPTIONS to `target` and returns the status code of the reply.
pub fn options(target: SocketAddr, timeout: Duration) -> Result<u16> {
    let bind: SocketAddr = if target.is_ipv6() {
        "[::1]:0".parse()?
    } else {
        "127.0.0.1:0".parse()?
    };
    let bind = if target.ip().is_loopback() {
        bind
    } else if target.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let sock = UdpSocket::bind(bind).context("cannot open a UDP socket for the SIP probe")?;
    let local = sock.local_addr()?;
    let tag = format!("{:x}", std::process::id() ^ local.port() as u32);
    let call_id = format!("kmemdbg-{}-{}", tag, nanos());
    let host = |a: SocketAddr| match a {
        SocketAddr::V4(v) => v.ip().to_string(),
        SocketAddr::V6(v) => format!("[{}]", v.ip()),
    };
    let msg = format!(
        "OPTIONS sip:{th}:{tp} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {lh}:{lp};branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:kmemdbg@{lh}>;tag={tag}\r\n\
         To: <sip:{th}:{tp}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:kmemdbg@{lh}:{lp}>\r\n\
         Accept: application/sdp\r\n\
         User-Agent: kmemdbg\r\n\
         Content-Length: 0\r\n\r\n",
        th = host(target),
        tp = target.port(),
        lh = host(local),
        lp = local.port(),
    );
    sock.send_to(msg.as_bytes(), target)
        .with_context(|| format!("cannot send SIP OPTIONS to {target}"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "no answer to SIP OPTIONS from {target} within {:.1}s",
                timeout.as_secs_f64()
            );
        }
        sock.set_read_timeout(Some(left))?;
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                if !text.contains(&call_id) {
                    continue;
                }
                if let Some(code) = status_code(&text) {
                    if code >= 200 {
                        return Ok(code);
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => bail!("SIP OPTIONS to {target}: {e} (nothing listens there?)"),
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The status code of a SIP response's first line.
pub fn status_code(text: &str) -> Option<u16> {
    let first = text.lines().next()?;
    let mut parts = first.split_whitespace();
    if !parts.next()?.starts_with("SIP/2.0") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line() {
        assert_eq!(status_code("SIP/2.0 200 OK\r\nVia: x\r\n"), Some(200));
        assert_eq!(status_code("OPTIONS sip:x SIP/2.0\r\n"), None);
        assert_eq!(status_code(""), None);
    }

    #[test]
    fn no_listener_times_out_or_refuses() {
        let free = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        assert!(options(addr, Duration::from_millis(300)).is_err());
    }
}
