//! `--live`: the same memory-debug settings applied to a running proxy over
//! its ctl socket (`cfg.set_now_int core ...` via kamcmd), no restart, each
//! value read back with `cfg.get`. Says plainly what is missing when the
//! proxy has no ctl socket or no cfg_rpc module. Never restarts or signals
//! the proxy and never touches a file.

use super::policy::{self, Decision, Goals};
use crate::kamcmd::Kamcmd;
use anyhow::{bail, Context, Result};
use serde::Serialize;

/// One value changed (or that would change, with `dry_run`).
#[derive(Debug, Clone, Serialize)]
pub struct LiveChange {
    pub name: String,
    pub from: i64,
    pub to: i64,
    pub why: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// `--live` outcome.
#[derive(Debug, Clone, Serialize)]
pub struct LiveReport {
    pub socket: String,
    /// PID of the main process (index 0 of `core.psx`), unchanged by this.
    pub main_pid: Option<u32>,
    pub debug: i64,
    pub changes: Vec<LiveChange>,
    pub kept: Vec<String>,
    pub dry_run: bool,
}

/// Checks that the proxy can take cfg changes, then applies `goals`.
pub fn apply_live(k: &Kamcmd, goals: &Goals, dry_run: bool) -> Result<LiveReport> {
    let methods = k.methods().with_context(|| {
        format!(
            "--live needs the running proxy's ctl socket ({}): load the ctl module (loadmodule \"ctl.so\"; kmemdbg cfg --cfg FILE adds it), restart once, and pass --ctl with its binrpc socket if it is not Kamailio's default",
            k.socket
        )
    })?;
    let has = |m: &str| methods.iter().any(|x| x == m);
    if !has("cfg.set_now_int") || !has("cfg.get") {
        bail!(
            "the proxy at {} answers RPC (ctl is loaded) but has no cfg.set_now_int/cfg.get: the cfg_rpc module is not loaded. Add loadmodule \"cfg_rpc.so\" (kmemdbg cfg --cfg FILE adds it) and restart once; after that memlog and mem_summary can be changed live",
            k.socket
        );
    }
    let main_pid = k
        .processes()
        .ok()
        .and_then(|p| p.iter().find(|p| p.idx == 0).map(|p| p.pid));
    let get = |name: &str| k.cfg_get_int("core", name);
    let debug = get("debug")?;
    let desc = format!("debug is {debug} in the running proxy");
    let (memdbg, memlog, summary) = (get("memdbg")?, get("memlog")?, get("mem_summary")?);
    let decisions = [
        (
            "memdbg",
            memdbg,
            policy::memdbg(debug, &desc, memdbg, goals.memdbg),
        ),
        (
            "memlog",
            memlog,
            policy::memlog(debug, &desc, memlog, goals.memlog)?,
        ),
        (
            "mem_summary",
            summary,
            policy::summary(summary, goals.summary),
        ),
    ];
    let mut report = LiveReport {
        socket: k.socket.clone(),
        main_pid,
        debug,
        changes: Vec::new(),
        kept: Vec::new(),
        dry_run,
    };
    for (name, from, decision) in decisions {
        match decision {
            Decision::Keep { reason } => report.kept.push(reason),
            Decision::Set {
                to,
                reason,
                warning,
            } => {
                if !dry_run {
                    k.cfg_set_now_int("core", name, to)?;
                    let now = get(name)?;
                    if now != to {
                        bail!(
                            "cfg.set_now_int core {name} {to} was accepted but cfg.get reads {now}; the proxy did not take the value"
                        );
                    }
                }
                report.changes.push(LiveChange {
                    name: name.into(),
                    from,
                    to,
                    why: reason,
                    warning,
                });
            }
        }
    }
    Ok(report)
}
