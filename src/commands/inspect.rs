//! `kmemdbg inspect`: what the binary was built with, and the memory-debug verdict.

use crate::cli::{BinaryArg, InspectArgs};
use crate::probe::{self, verdict::verdict, BuildInfo, Verdict};
use crate::service::{argv, discover};
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
    print!("{}", render_convert_hint(&convert_hint(&build, &v)));
    Ok(0)
}

/// The `convert` command for this box, from what runs here: one per running
/// kamailio (its unit or pid file, its cfg), or, with none running, the
/// binary's default cfg and what to add.
pub struct ConvertHint {
    pub commands: Vec<String>,
    pub notes: Vec<String>,
}

pub fn convert_hint(b: &BuildInfo, v: &Verdict) -> ConvertHint {
    let mut notes = Vec::new();
    let source = if v.ready {
        String::new()
    } else {
        notes.push(format!(
            "this binary has no memory debugging: --source names the {} {} source tree it was built from (or the same version's sources), --install puts the rebuilt binary in its place",
            b.product, b.version
        ));
        format!(" --source /path/to/{}-{} --install", b.product, b.version)
    };
    let default_cfg = b
        .settings
        .get("DEFAULT CONFIG")
        .cloned()
        .unwrap_or_else(|| "/etc/kamailio/kamailio.cfg".into());
    let mut commands = Vec::new();
    let running = discover::main_processes();
    for r in &running {
        let tokens = argv::from_argv(&r.argv);
        // Kamailio changes to / once started: a relative path cannot be placed.
        let mut relative = Vec::new();
        let mut absolute = |value: String| {
            if !std::path::Path::new(&value).is_absolute() {
                relative.push(value.clone());
            }
            value
        };
        let cfg = argv::find(&tokens, 'f')
            .map(|f| absolute(f.value))
            .unwrap_or_else(|| default_cfg.clone());
        let target = match discover::cgroup_unit(r.pid) {
            Some(unit) => format!("--service {}", unit.trim_end_matches(".service")),
            None => match argv::find(&tokens, 'P') {
                Some(p) => format!("--pidfile {}", absolute(p.value)),
                None => {
                    notes.push(format!(
                        "PID {} runs without a pid file (-P): convert finds it in /proc while it is the only kamailio",
                        r.pid
                    ));
                    String::new()
                }
            },
        };
        if !relative.is_empty() {
            notes.push(format!(
                "PID {} was started with relative paths ({}): give convert their full paths",
                r.pid,
                relative.join(", ")
            ));
        }
        if b.binary
            .as_deref()
            .is_some_and(|bin| bin != r.exe.as_path())
        {
            notes.push(format!(
                "PID {} runs {}, not the binary inspected above: `kmemdbg inspect --binary {}` says whether that one is ready",
                r.pid,
                r.exe.display(),
                r.exe.display()
            ));
        }
        commands.push(
            format!("kmemdbg convert --cfg {cfg} {target}{source} --check").replace("  ", " "),
        );
    }
    if running.is_empty() {
        notes.push(
            "no kamailio runs here now: convert restarts the running proxy, so start it first (the command below assumes the systemd unit kamailio)"
                .into(),
        );
        commands.push(format!(
            "kmemdbg convert --cfg {default_cfg} --service kamailio{source} --check"
        ));
    }
    ConvertHint { commands, notes }
}

pub fn render_convert_hint(h: &ConvertHint) -> String {
    let mut s = String::from(
        "\nconvert this box (--check shows what would change; without it, convert asks before the restart):\n",
    );
    for c in &h.commands {
        s.push_str(&format!("  {c}\n"));
    }
    for n in &h.notes {
        s.push_str(&format!("  note: {n}\n"));
    }
    s
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
