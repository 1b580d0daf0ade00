//! The RPC client: talks to a running proxy through `kamcmd` and the `ctl`
//! module's socket (all through [`crate::runner`]).
//!
//! `kamcmd` exits 0 even when the RPC fails (it prints `error: 500 - ...`),
//! so every answer is checked here. What the answers say is read by the
//! pure [`records`] (typed RPC records: `core.psx`, `core.shmmem`,
//! `pkg.stats`, `mod.stats`, ...), which every caller uses.

pub mod records;

use crate::runner;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use records::{parse_psx, parse_records, rpc_error, Process, Record};

/// A kamcmd bound to one ctl socket.
#[derive(Debug, Clone)]
pub struct Kamcmd {
    pub program: PathBuf,
    /// `unix:/run/kamailio/kamailio_ctl`, `udp:127.0.0.1:2046`, ...
    pub socket: String,
    pub timeout: Duration,
}

/// Debian's default ctl socket.
pub const DEFAULT_SOCKET: &str = "unix:/run/kamailio/kamailio_ctl";

impl Kamcmd {
    /// Finds `kamcmd` (or the older `sercmd`); `socket` may be a bare path.
    pub fn new(socket: Option<&str>) -> Result<Kamcmd> {
        let program = runner::find_program("kamcmd")
            .or_else(|| runner::find_program("sercmd"))
            .context("kamcmd not found in PATH or /usr/sbin (Debian: apt-get install kamailio; it ships kamcmd)")?;
        Ok(Kamcmd {
            program,
            socket: normalize_socket(socket.unwrap_or(DEFAULT_SOCKET)),
            timeout: Duration::from_secs(10),
        })
    }

    /// Runs one RPC and returns its raw text answer.
    pub fn call(&self, args: &[&str]) -> Result<String> {
        let sh = runner::shell()?;
        let program = &self.program;
        let socket = &self.socket;
        if let Some(path) = socket.strip_prefix("unix:") {
            if !Path::new(path).exists() {
                bail!(
                    "no ctl socket at {path}: is the proxy running, with the ctl module loaded (loadmodule \"ctl.so\") and this binrpc socket? (kmemdbg cfg adds ctl and cfg_rpc)"
                );
            }
        }
        let out = runner::run(
            xshell::cmd!(sh, "{program} -s {socket} {args...}"),
            self.timeout,
        )?
        .check()?;
        let text = out.stdout_text();
        if let Some(err) = rpc_error(&text) {
            bail!(
                "RPC `{}` over {} failed: {err}",
                args.join(" "),
                self.socket
            );
        }
        Ok(text)
    }

    /// `core.psx`: the proxy's processes.
    pub fn processes(&self) -> Result<Vec<Process>> {
        let text = self.call(&["core.psx"])?;
        let procs = parse_psx(&text);
        if procs.is_empty() {
            bail!(
                "core.psx over {} returned no processes: {:?}",
                self.socket,
                text.trim()
            );
        }
        Ok(procs)
    }

    /// `cfg.get GROUP NAME` as an integer.
    pub fn cfg_get_int(&self, group: &str, name: &str) -> Result<i64> {
        let text = self.call(&["cfg.get", group, name])?;
        text.trim().parse().with_context(|| {
            format!(
                "cfg.get {group} {name} answered {:?}, not a number",
                text.trim()
            )
        })
    }

    /// `cfg.set_now_int GROUP NAME VALUE` (needs `cfg_rpc`).
    pub fn cfg_set_now_int(&self, group: &str, name: &str, value: i64) -> Result<()> {
        let v = value.to_string();
        self.call(&["cfg.set_now_int", group, name, &v])
            .with_context(|| {
                "is the cfg_rpc module loaded? (loadmodule \"cfg_rpc.so\")".to_string()
            })?;
        Ok(())
    }

    /// The RPC methods the proxy offers (`system.listMethods`).
    pub fn methods(&self) -> Result<Vec<String>> {
        Ok(self
            .call(&["system.listMethods"])?
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect())
    }
}

/// `unix:` is implied for a bare path.
pub fn normalize_socket(s: &str) -> String {
    if s.starts_with('/') {
        format!("unix:{s}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_path_is_a_unix_socket() {
        assert_eq!(normalize_socket("/run/x"), "unix:/run/x");
        assert_eq!(normalize_socket("tcp:127.0.0.1:2049"), "tcp:127.0.0.1:2049");
    }
}
