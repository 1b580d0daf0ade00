//! `kmemdbg inspect`: what the binary was built with, and the memory-debug verdict.

use crate::cli::{BinaryArg, InspectArgs};
use crate::probe::{self, verdict::verdict, BuildInfo, Verdict};
use crate::ExitStatus;
use anyhow::Result;
use serde::Serialize;
use std::time::Duration;

/// `inspect --json` schema (stable; fields are only ever added):
/// `{ "schema": "kmemdbg.inspect/1", "build": BuildInfo, "verdict": Verdict }`.
#[derive(Serialize)]
pub struct InspectReport {
    pub schema: &'static str,
    pub build: BuildInfo,
    pub verdict: Verdict,
}

/// Finds and probes the binary named by `arg`.
pub fn probe_binary(arg: &BinaryArg) -> Result<BuildInfo> {
    let binary = probe::find_binary(arg.binary.as_deref())?;
    let timeout = Duration::from_secs_f64(arg.probe_timeout.clamp(0.1, 3600.0));
    probe::run_probe(&binary, timeout)
}

pub fn run(args: &InspectArgs) -> Result<ExitStatus> {
    let build = probe_binary(&args.binary)?;
    let v = verdict(&build);
    if args.json {
        crate::commands::print_json(&InspectReport {
            schema: "kmemdbg.inspect/1",
            build,
            verdict: v,
        })?;
        return Ok(0);
    }
    print!("{}", render_text(&build, &v));
    Ok(0)
}

/// The human report: the verdict first, then the details.
pub fn render_text(b: &BuildInfo, v: &Verdict) -> String {
    let mut s = String::new();
    let mark = if v.ready { "ready" } else { "NOT READY" };
    s.push_str(&format!("{mark}: {}\n", v.summary));
    s.push_str(&format!("  next: {}\n\n", v.next_step));
    if let Some(bin) = &b.binary {
        s.push_str(&format!("binary:     {}\n", bin.display()));
    }
    s.push_str(&format!("version:    {} {}\n", b.product, b.version));
    if let Some(id) = &b.git_id {
        s.push_str(&format!("source id:  {id}\n"));
    }
    if !b.arch.is_empty() {
        s.push_str(&format!("arch:       {}/{}\n", b.arch, b.os));
    }
    let alloc: Vec<&str> = b
        .flags
        .iter()
        .map(String::as_str)
        .filter(|f| {
            f.contains("MALLOC") || f.contains("MEMORY") || *f == "SHM_MEM" || *f == "SHM_MMAP"
        })
        .collect();
    s.push_str(&format!("memory:     {}\n", alloc.join(", ")));
    for key in ["DEFAULT PKG_SIZE", "DEFAULT SHM_SIZE"] {
        if let Some(val) = b.settings.get(key) {
            s.push_str(&format!(
                "{:<12}{val}\n",
                format!(
                    "{}:",
                    key.trim_start_matches("DEFAULT ")
                        .to_lowercase()
                        .replace('_', " ")
                )
            ));
        }
    }
    s.push_str(&format!("flags:      {}\n", b.flags.join(", ")));
    let other: Vec<String> = b
        .settings
        .iter()
        .filter(|(k, _)| !k.starts_with("DEFAULT "))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !other.is_empty() {
        s.push_str(&format!("settings:   {}\n", other.join(", ")));
    }
    if !b.poll_methods.is_empty() {
        s.push_str(&format!("poll:       {}\n", b.poll_methods.join(", ")));
    }
    if let Some(c) = &b.compiler {
        s.push_str(&format!("compiler:   {c}\n"));
    }
    s
}
