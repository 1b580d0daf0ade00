//! What `restart`, `size`, `convert` and `revert` share: the guided restart
//! (show the plan, confirm, execute, report), the setup, plan and outcome as
//! text, and the `kmemdbg.restart/1` JSON. Face code: prints, and calls
//! [`crate::service::restart`] for the work.

use crate::cli::{GuidedArgs, TargetArgs};
use crate::service::journal::FileChange;
use crate::service::plan::Setting;
use crate::service::restart::{self, Outcome, Status};
use crate::service::{Manager, Setup, Target};
use crate::ExitStatus;
use anyhow::{bail, Result};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// `restart --json` (also `size`, `revert`): schema `kmemdbg.restart/1`.
#[derive(Serialize)]
pub struct RestartReport<'a> {
    pub schema: &'static str,
    pub manager: &'a Manager,
    pub pid: Option<u32>,
    pub command: Vec<String>,
    pub new_command: Vec<String>,
    pub settings: &'a [Setting],
    pub files: Vec<PathBuf>,
    /// None with --dry-run.
    pub outcome: Option<&'a Outcome>,
}

pub fn target(t: &TargetArgs) -> Target {
    Target {
        service: t.service.clone(),
        pidfile: t.pidfile.clone(),
    }
}

pub fn options(g: &GuidedArgs) -> restart::Options {
    restart::Options {
        timeout: Duration::from_secs_f64(g.timeout.clamp(1.0, 3600.0)),
        ..restart::Options::default()
    }
}

/// Asks on a terminal; without one, `--yes` is required.
pub fn confirm(yes: bool, question: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("no terminal to ask on: this would restart a proxy; pass --yes to go ahead (or --dry-run to see the plan)");
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES"))
}

/// The setup, in a few lines.
pub fn render_setup(s: &Setup) -> String {
    let mut out = String::new();
    match &s.running {
        Some(r) => out.push_str(&format!(
            "kamailio PID {} via {}\n",
            r.pid,
            s.manager.describe()
        )),
        None => out.push_str(&format!(
            "kamailio (not running) via {}\n",
            s.manager.describe()
        )),
    }
    if let Some(p) = &s.pidfile {
        out.push_str(&format!("  pid file: {}\n", p.display()));
    }
    if let Some(r) = &s.running {
        out.push_str(&format!("  running:  {}\n", r.argv.join(" ")));
    }
    for l in crate::service::effective::describe(s) {
        out.push_str(&format!("  {l}\n"));
    }
    out
}

/// The plan: settings, file diffs, actions, what happens on failure.
pub fn render_plan(
    old: &Setup,
    new: &Setup,
    settings: &[Setting],
    changes: &[FileChange],
    timeout: Duration,
) -> String {
    let mut s = String::new();
    if !settings.is_empty() {
        s.push_str("changes:\n");
        for c in settings {
            s.push_str(&format!(
                "  {} {} -> {}  ({})\n",
                c.option,
                c.old.clone().unwrap_or_else(|| "(unset)".into()),
                c.new,
                c.written_to
            ));
        }
    }
    for c in changes {
        s.push_str(&c.diff());
        if !s.ends_with('\n') {
            s.push('\n');
        }
    }
    s.push_str("plan:\n");
    let pre = restart::resolve_binary(new);
    s.push_str(&format!(
        "  1. pre-flight: {} {} (a failure stops here, before anything is stopped)\n",
        pre.display(),
        crate::service::argv::preflight_args(&crate::service::argv::from_argv(&new.command()))
            .join(" ")
    ));
    let mut n = 2;
    for a in restart::describe_actions(old, new, changes) {
        if a.starts_with("   ") {
            s.push_str(&format!("  {a}\n"));
        } else {
            s.push_str(&format!("  {n}. {a}\n"));
            n += 1;
        }
    }
    s.push_str(&format!(
        "  {n}. health check within {:.0}s: the new main process runs every planned option, stays alive, children run, SIP OPTIONS answered as before\n",
        timeout.as_secs_f64()
    ));
    s.push_str("  if it fails: every file above is put back, the previous setup is started again and checked\n");
    s
}

/// The outcome, for people.
pub fn render_outcome(o: &Outcome) -> String {
    let mut s = String::new();
    match o.status {
        Status::PreflightFailed => {
            s.push_str("PRE-FLIGHT FAILED: kamailio -c rejects the new setup; nothing was stopped, every file is as before\n");
            s.push_str(&format!("  command: {}\n", o.preflight.command.join(" ")));
            for l in o.preflight.output.lines() {
                s.push_str(&format!("  | {l}\n"));
            }
        }
        Status::Restarted => {
            s.push_str("restarted: the new setup is healthy\n");
            if let Some(h) = &o.new_health {
                for p in &h.passed {
                    s.push_str(&format!("  ok: {p}\n"));
                }
                for p in &h.not_checked {
                    s.push_str(&format!("  not checked: {p}\n"));
                }
            }
        }
        Status::RolledBack | Status::RollbackFailed => {
            s.push_str(&format!(
                "NEW SETUP FAILED: {}\n",
                o.failure.clone().unwrap_or_default()
            ));
            if let Some(log) = &o.log {
                s.push_str(&format!("  its output: {}\n", log.display()));
            }
            s.push_str("rollback:\n");
            for r in &o.restored {
                s.push_str(&format!(
                    "  {}: {}{}\n",
                    r.path.display(),
                    r.outcome,
                    if r.identical {
                        " (byte-identical)"
                    } else {
                        " (DIFFERS)"
                    }
                ));
            }
            match &o.old_health {
                Some(h) if h.ok => {
                    s.push_str("  the previous setup runs again and is healthy:\n");
                    for p in &h.passed {
                        s.push_str(&format!("    ok: {p}\n"));
                    }
                    for p in &h.not_checked {
                        s.push_str(&format!("    not checked: {p}\n"));
                    }
                }
                Some(h) => {
                    s.push_str(
                        "  ROLLBACK FAILED: the previous setup did not come back healthy:\n",
                    );
                    for p in &h.problems {
                        s.push_str(&format!("    {p}\n"));
                    }
                }
                None => s.push_str("  (no proxy was running before; none is started)\n"),
            }
        }
    }
    s.push_str(&format!("actions: {}\n", o.actions.join("; ")));
    s
}

/// Exit status for an outcome.
pub fn exit_for(o: &Outcome) -> ExitStatus {
    match o.status {
        Status::Restarted => 0,
        Status::PreflightFailed | Status::RolledBack => 1,
        Status::RollbackFailed => 2,
    }
}

/// Nothing to restart for: says why, as text or as the `restart/1` JSON
/// with `changed: false` (shared by size and revert).
pub fn report_unchanged(json: bool, msg: &str) -> Result<()> {
    if json {
        crate::commands::print_json(
            &serde_json::json!({"schema": "kmemdbg.restart/1", "changed": false, "detail": msg}),
        )?;
    } else {
        println!("{msg}");
    }
    Ok(())
}

/// Shared by restart/size/revert: show plan, confirm, execute, report.
pub fn guided(
    old: &Setup,
    new: &Setup,
    settings: &[Setting],
    changes: &[FileChange],
    guided: &GuidedArgs,
    dry_run: bool,
) -> Result<ExitStatus> {
    let opts = options(guided);
    let json = |outcome: Option<&Outcome>| -> Result<()> {
        crate::commands::print_json(&RestartReport {
            schema: "kmemdbg.restart/1",
            manager: &old.manager,
            pid: old.running.as_ref().map(|r| r.pid),
            command: old.command(),
            new_command: new.command(),
            settings,
            files: changes.iter().map(|c| c.path.clone()).collect(),
            outcome,
        })
    };
    restart::check_restartable(old)?;
    if !guided.json {
        print!("{}", render_setup(old));
        print!("{}", render_plan(old, new, settings, changes, opts.timeout));
    }
    if dry_run {
        if guided.json {
            json(None)?;
        } else {
            println!("dry run: nothing changed");
        }
        return Ok(0);
    }
    if !confirm(guided.yes, "Restart now?")? {
        println!("not restarted; nothing changed");
        return Ok(1);
    }
    crate::interrupt::arm();
    let mut events = |e: &str| {
        if !guided.json {
            println!("- {e}");
        }
    };
    let outcome = restart::execute(old, new, changes, &opts, &mut events)?;
    if guided.json {
        json(Some(&outcome))?;
    } else {
        print!("{}", render_outcome(&outcome));
    }
    Ok(exit_for(&outcome))
}
