//! The RPC client: talks to a running proxy through `kamcmd` and the `ctl`
//! module's socket (all through [`crate::runner`]).
//!
//! `kamcmd` exits 0 even when the RPC fails (it prints `error: 500 - ...`),
//! so every answer is checked here. [`parse_records`] is a pure reader of
//! kamcmd's `{ key: value }` blocks, fuzzed in tests.

use crate::runner;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One `{ ... }` block of kamcmd output, keys in order of appearance.
pub type Record = BTreeMap<String, String>;

/// A process of the proxy, from `core.psx`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Process {
    pub idx: u32,
    pub pid: u32,
    pub description: String,
}

impl Process {
    /// Receivers only dump pkg memory when they process a SIP message.
    pub fn is_receiver(&self) -> bool {
        self.description.contains("receiver")
    }
}

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

/// kamcmd prints `error: 500 - command x not found` and exits 0.
pub fn rpc_error(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("error:").map(|e| e.trim().to_string()))
}

/// Parses kamcmd's `{ key: value }` blocks (nested blocks are flattened).
pub fn parse_records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cur: Option<Record> = None;
    let mut depth = 0usize;
    for line in text.lines() {
        let l = line.trim();
        if l.ends_with('{') {
            depth += 1;
            if depth == 1 {
                cur = Some(Record::new());
            }
        } else if l == "}" {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                if let Some(r) = cur.take() {
                    out.push(r);
                }
            }
        } else if let (Some(r), Some((k, v))) = (cur.as_mut(), l.split_once(':')) {
            r.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

/// `core.psx` records as processes (records without a numeric PID are skipped).
pub fn parse_psx(text: &str) -> Vec<Process> {
    parse_records(text)
        .into_iter()
        .filter_map(|r| {
            Some(Process {
                idx: r.get("IDX")?.parse().ok()?,
                pid: r.get("PID")?.parse().ok()?,
                description: r.get("DSC").cloned().unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `kamcmd core.psx` from Debian's 5.6.3 here.
    const PSX: &str = "{\n\tIDX: 0\n\tPID: 7178\n\tDSC: main process - attendant\n}\n{\n\tIDX: 1\n\tPID: 7181\n\tDSC: udp receiver child=0 sock=127.0.0.1:25090\n}\n{\n\tIDX: 6\n\tPID: 7186\n\tDSC: ctl handler\n}\n";

    #[test]
    fn psx() {
        let p = parse_psx(PSX);
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].pid, 7181);
        assert!(p[1].is_receiver());
        assert!(!p[0].is_receiver());
        assert_eq!(p[2].description, "ctl handler");
    }

    #[test]
    fn shmmem_record() {
        let r = parse_records("{\n\ttotal: 67108864\n\tfree: 66486880\n\tused: 381840\n}\n");
        assert_eq!(r[0]["total"], "67108864");
    }

    #[test]
    fn errors_detected() {
        assert_eq!(
            rpc_error("error: 500 - command no.such not found\n").as_deref(),
            Some("500 - command no.such not found")
        );
        assert_eq!(rpc_error("5\n"), None);
        assert_eq!(normalize_socket("/run/x"), "unix:/run/x");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[{}a-zA-Z0-9: \\n\\t]{0,200}") {
            let _ = parse_psx(&s);
        }
    }
}
