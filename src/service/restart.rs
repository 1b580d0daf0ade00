//! The guided restart: write the planned files, pre-flight the new setup
//! with `kamailio -c`, stop the old proxy, start the new one, check its
//! health, and on any failure put every file back, start the previous
//! setup again and check that too.
//!
//! The caller decides whether to go ahead (plan shown, question asked);
//! this module only executes and reports through the `events` callback.
//! It never returns between "old stopped" and "something started": every
//! path after the stop ends in a healthy new setup or a rollback attempt.

use super::health::{self, Health};
use super::journal::{FileChange, Journal, Restored};
use super::{argv, control, discover, unit, CommandSource, Manager, Setup};
use crate::runner;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// How the restart ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The new setup runs and passed the health check.
    Restarted,
    /// `kamailio -c` rejected the new setup; nothing was stopped, files put back.
    PreflightFailed,
    /// The new setup failed; the previous one runs again and is healthy.
    RolledBack,
    /// The new setup failed and the previous one did not come back healthy.
    RollbackFailed,
}

/// The `kamailio -c` run.
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    pub command: Vec<String>,
    pub ok: bool,
    /// The last lines kamailio printed.
    pub output: String,
}

/// Everything that happened, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub status: Status,
    pub preflight: Preflight,
    /// Stop/start commands run, in order (including the rollback's).
    pub actions: Vec<String>,
    pub new_health: Option<Health>,
    /// Why the new setup failed, when it did.
    pub failure: Option<String>,
    /// Files put back by the rollback.
    pub restored: Vec<Restored>,
    pub old_health: Option<Health>,
    /// Where a bare process's output went.
    pub log: Option<PathBuf>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.status == Status::Restarted
    }
}

/// Knobs of the restart.
#[derive(Debug, Clone)]
pub struct Options {
    /// Health check budget (and stop budget) for each start.
    pub timeout: Duration,
    /// `kamailio -c` budget.
    pub preflight_timeout: Duration,
    /// The new setup must print dumps: memlog <= debug over RPC (convert).
    pub expect_dumps: bool,
    /// The (memlog, debug) the new setup's cfg plans, checked over RPC.
    pub planned_log: Option<(i64, i64)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(30),
            preflight_timeout: Duration::from_secs(60),
            expect_dumps: false,
            planned_log: None,
        }
    }
}

/// What will be stopped and started, in words (for the plan).
pub fn describe_actions(old: &Setup, new: &Setup, changes: &[FileChange]) -> Vec<String> {
    let mut v = Vec::new();
    match &new.manager {
        Manager::Systemd { unit } => {
            if touches_unit(changes) {
                v.push("systemctl daemon-reload".into());
            }
            v.push(format!("systemctl restart {unit}"));
            v.push(format!("   runs: {}", new.command().join(" ")));
        }
        Manager::Sysv { name, .. } => {
            v.push(format!("service {name} restart"));
            v.push(format!("   runs: {}", new.command().join(" ")));
        }
        Manager::Process => {
            if let Some(r) = &old.running {
                v.push(format!(
                    "stop PID {} (SIGTERM, wait for it and its children)",
                    r.pid
                ));
            }
            v.push(format!("start: {}", new.command().join(" ")));
        }
    }
    v
}

fn touches_unit(changes: &[FileChange]) -> bool {
    changes.iter().any(|c| {
        c.path
            .extension()
            .is_some_and(|e| e == "conf" || e == "service")
            && c.path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n.to_string_lossy().ends_with(".d"))
    })
}

/// Refuses setups kmemdbg cannot restart safely, before anything changes.
pub fn check_restartable(setup: &Setup) -> Result<()> {
    if setup.manager != Manager::Process {
        return Ok(());
    }
    let Some(r) = &setup.running else {
        anyhow::bail!("no running process to restart");
    };
    let t = argv::from_argv(&r.argv);
    if argv::has_flag(&t, 'D') {
        let parent = discover::parent_of(r.pid)
            .and_then(discover::read_process)
            .map(|p| format!("PID {} {}", p.pid, p.argv.join(" ")))
            .unwrap_or_else(|| "unknown".into());
        anyhow::bail!(
            "kamailio PID {} runs in the foreground (-D in its command line), owned by its parent ({parent}): restart it through whatever started it, or run it as a daemon with -P PIDFILE",
            r.pid
        );
    }
    for opt in ['f', 'P', 'Y', 'L', 'G'] {
        if let Some(f) = argv::find(&t, opt) {
            if !f.value.starts_with('/') {
                anyhow::bail!(
                    "kamailio PID {} was started with a relative path (-{opt} {}); its old working directory is unknown, so the same command line cannot be started again: restart it by hand with absolute paths",
                    r.pid,
                    f.value
                );
            }
        }
    }
    Ok(())
}

/// Runs the guided restart from `old` to `new`, writing `changes` first.
pub fn execute(
    old: &Setup,
    new: &Setup,
    changes: &[FileChange],
    opts: &Options,
    events: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    check_restartable(old)?;
    let mut journal = Journal::apply(changes).context("writing the planned files")?;
    if !changes.is_empty() {
        events(&format!("wrote {} file(s)", changes.len()));
    }
    let preflight = run_preflight(new, opts.preflight_timeout);
    let mut out = Outcome {
        status: Status::PreflightFailed,
        preflight: preflight.clone(),
        actions: Vec::new(),
        new_health: None,
        failure: None,
        restored: Vec::new(),
        old_health: None,
        log: None,
    };
    if !preflight.ok {
        events("pre-flight failed: kamailio -c rejects the new setup; nothing was stopped");
        out.restored = journal.undo();
        return Ok(out);
    }
    events(&format!("pre-flight ok: {}", preflight.command.join(" ")));
    let was_running = old.running.is_some();
    // What the proxy answers before the change (the new one must answer alike).
    let baseline = old
        .running
        .as_ref()
        .and_then(|r| health::sip_answer(r.pid))
        .map(|(_, code)| code);

    // Stop + start the new setup.
    let started = start_new(old, new, changes, opts, &mut out, events);
    let health = match &started {
        Ok(()) => {
            events("health check of the new setup");
            let h = check_health(new, old, opts, baseline);
            Some(h)
        }
        Err(_) => None,
    };
    if let (Ok(()), Some(h)) = (&started, &health) {
        if h.ok {
            out.new_health = health.clone();
            out.status = Status::Restarted;
            return Ok(out);
        }
    }
    out.failure = Some(match (&started, &health) {
        (Err(e), _) => format!("{e:#}"),
        (_, Some(h)) if !h.argv.is_empty() => {
            format!("{}; {}", h.problems.join("; "), what_overrode(new))
        }
        (_, Some(h)) => h.problems.join("; "),
        _ => "unknown".into(),
    });
    out.new_health = health;
    events(&format!(
        "the new setup failed ({}); rolling back",
        out.failure
            .as_deref()
            .and_then(|f| f.lines().next())
            .unwrap_or_default()
    ));

    // Rollback: stop what the new start left, put files back, start the old setup.
    rollback_stop(old, new, &mut out);
    out.restored = journal.undo();
    for r in &out.restored {
        events(&format!("{}: {}", r.path.display(), r.outcome));
    }
    if !was_running {
        out.status = Status::RolledBack;
        return Ok(out);
    }
    let restarted = start_old(old, changes, opts, &mut out);
    let h = match restarted {
        Ok(()) => check_health(old, old, opts, None),
        Err(e) => Health {
            problems: vec![format!("{e:#}")],
            ..Health::default()
        },
    };
    let files_ok = out.restored.iter().all(|r| r.identical);
    out.status = if h.ok && files_ok {
        Status::RolledBack
    } else {
        Status::RollbackFailed
    };
    out.old_health = Some(h);
    Ok(out)
}

fn status_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit status {c}"),
        None => "a signal".into(),
    }
}

/// `kamailio -c` with the binary, cfg, defines and options that will run.
pub fn run_preflight(setup: &Setup, timeout: Duration) -> Preflight {
    let cmd = setup.command();
    let tokens = argv::from_argv(&cmd);
    let args = argv::preflight_args(&tokens);
    let binary = resolve_binary(setup);
    let mut command = vec![binary.display().to_string()];
    command.extend(args.iter().cloned());
    let result =
        runner::shell().and_then(|sh| runner::run(xshell::cmd!(sh, "{binary} {args...}"), timeout));
    match result {
        Ok(o) => Preflight {
            command,
            ok: o.success(),
            output: o.tail(12),
        },
        Err(e) => Preflight {
            command,
            ok: false,
            output: format!("{e:#}"),
        },
    }
}

/// The program of the setup's command line, found on PATH when it is a bare name.
pub fn resolve_binary(setup: &Setup) -> PathBuf {
    let b = setup.binary();
    if b.components().count() > 1 {
        return b;
    }
    runner::find_program(&b.display().to_string())
        .or_else(|| setup.running.as_ref().map(|r| r.exe.clone()))
        .unwrap_or(b)
}

/// Where a bare daemon's output goes: the file its predecessor wrote to, or a log of ours.
fn process_log(old: &Setup) -> PathBuf {
    if let Some(f) = old.running.as_ref().and_then(|r| r.stderr_file.clone()) {
        return f;
    }
    let base = old
        .pidfile
        .as_ref()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kamailio.kmemdbg-start.log")
}

fn start_new(
    old: &Setup,
    new: &Setup,
    changes: &[FileChange],
    opts: &Options,
    out: &mut Outcome,
    events: &mut dyn FnMut(&str),
) -> Result<()> {
    match &new.manager {
        Manager::Systemd { unit } => {
            if touches_unit(changes) {
                out.actions.push("systemctl daemon-reload".into());
                control::systemctl(&["daemon-reload"])?;
            }
            events(&format!("systemctl restart {unit}"));
            out.actions.push(format!("systemctl restart {unit}"));
            control::systemctl(&["restart", unit])?;
        }
        Manager::Sysv { name, .. } => {
            events(&format!("service {name} restart"));
            out.actions.push(format!("service {name} restart"));
            control::service(name, "restart")?;
        }
        Manager::Process => {
            if let Some(r) = &old.running {
                events(&format!("stopping PID {}", r.pid));
                out.actions.push(format!("stop PID {}", r.pid));
                control::stop_process(r.pid, opts.timeout)?;
            }
            pause_hook("restart:stopped");
            let log = process_log(old);
            out.log = Some(log.clone());
            let cmd = new.command();
            events(&format!("starting: {}", cmd.join(" ")));
            out.actions.push(format!("start {}", cmd.join(" ")));
            let o = control::start_process(&cmd, &log, opts.timeout)?;
            if !o.success() {
                anyhow::bail!(
                    "`{}` exited with {}; it printed:\n{}",
                    cmd.join(" "),
                    status_text(o.code),
                    o.tail(12)
                );
            }
        }
    }
    Ok(())
}

fn start_old(old: &Setup, changes: &[FileChange], opts: &Options, out: &mut Outcome) -> Result<()> {
    match &old.manager {
        Manager::Systemd { unit } => {
            if touches_unit(changes) {
                out.actions.push("systemctl daemon-reload".into());
                control::systemctl(&["daemon-reload"])?;
            }
            out.actions.push(format!("systemctl restart {unit}"));
            control::systemctl(&["restart", unit])?;
        }
        Manager::Sysv { name, .. } => {
            out.actions.push(format!("service {name} restart"));
            control::service(name, "restart")?;
        }
        Manager::Process => {
            let Some(r) = &old.running else { return Ok(()) };
            let log = process_log(old);
            out.actions.push(format!("start {}", r.argv.join(" ")));
            let o = control::start_process(&r.argv, &log, opts.timeout)?;
            if !o.success() {
                anyhow::bail!(
                    "the previous command line exited with {}:\n{}",
                    status_text(o.code),
                    o.tail(12)
                );
            }
        }
    }
    Ok(())
}

/// Stops a half-started new process (bare mode only: service managers
/// restart over it). Only a PID read from the new setup's pid file, never
/// the old PID.
fn rollback_stop(old: &Setup, new: &Setup, out: &mut Outcome) {
    if new.manager != Manager::Process {
        return;
    }
    let old_pid = old.running.as_ref().map(|r| r.pid);
    let new_pid = new
        .pidfile
        .as_deref()
        .and_then(|p| discover::read_pidfile(p).ok())
        .map(|(pid, _)| pid)
        .filter(|&p| Some(p) != old_pid && discover::alive(p));
    if let Some(pid) = new_pid {
        out.actions
            .push(format!("stop PID {pid} (the failed new start)"));
        let _ = control::stop_process(pid, Duration::from_secs(15));
    }
}

/// The current main PID for `setup`'s manager.
pub fn main_pid(setup: &Setup, not: Option<u32>) -> Option<u32> {
    match &setup.manager {
        Manager::Systemd { unit } => discover::main_pid_systemd(unit).ok().flatten(),
        Manager::Sysv { .. } | Manager::Process => {
            if let Some(p) = &setup.pidfile {
                return discover::read_pidfile(p).ok().map(|(pid, _)| pid);
            }
            // No pid file: a main process with the same command line that is new.
            let cmd = setup.command();
            discover::main_processes()
                .into_iter()
                .find(|r| r.argv == cmd && Some(r.pid) != not)
                .map(|r| r.pid)
        }
    }
}

fn check_health(setup: &Setup, old: &Setup, opts: &Options, baseline: Option<u16>) -> Health {
    let command = setup.command();
    let cfg = setup.cfg();
    let old_pid = old.running.as_ref().map(|r| r.pid);
    let is_new = !std::ptr::eq(setup, old);
    let not = if is_new { old_pid } else { None };
    let getter = || main_pid(setup, not).filter(|&p| Some(p) != not);
    // The new setup must run what was planned; the rollback only needs to run.
    let expect = if is_new {
        health::planned_options(&command)
    } else {
        Vec::new()
    };
    health::check(
        &health::Probe {
            main_pid: &getter,
            command: &command,
            cfg: cfg.as_deref(),
            expect: &expect,
            baseline_sip: baseline,
            expect_dumps: is_new && opts.expect_dumps,
            planned_log: if is_new { opts.planned_log } else { None },
        },
        opts.timeout,
    )
}

/// Which file or setting made the new main process run something else
/// than planned, as far as the files say now.
fn what_overrode(new: &Setup) -> String {
    match (&new.manager, &new.source) {
        (Manager::Systemd { unit }, CommandSource::Unit { dropin, .. }) => {
            let files =
                super::effective::show(unit).and_then(|st| super::effective::read_files(&st));
            let Ok(files) = files else {
                return format!("planned in {}", dropin.display());
            };
            let later = super::effective::winner(&files, dropin);
            if !later.is_empty() {
                return format!(
                    "{} sorts after kmemdbg's drop-in {} and sets its own ExecStart=, so systemd runs that one",
                    later
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    dropin.display()
                );
            }
            let exec_from = unit::service_config(&files)
                .ok()
                .and_then(|c| c.exec_start.map(|(_, p)| p));
            match exec_from {
                Some(p) if p != *dropin && files.iter().any(|f| f.path == *dropin) => format!(
                    "systemd takes ExecStart= from {}, not from kmemdbg's drop-in {}",
                    p.display(),
                    dropin.display()
                ),
                Some(p) => format!(
                    "ExecStart= in {} has them, so the program it starts ({}) does not pass them on to kamailio",
                    p.display(),
                    new.binary().display()
                ),
                None => format!("planned in {}", dropin.display()),
            }
        }
        (_, CommandSource::InitScript { path, line }) => format!(
            "{}:{} (OPTIONS=) has them: the init script does not pass them on",
            path.display(),
            line + 1
        ),
        _ => format!("the command line started was `{}`", new.command().join(" ")),
    }
}

/// Test hook (see [`crate::interrupt::pause_hook`]).
pub fn pause_hook(point: &str) {
    crate::interrupt::pause_hook(point)
}

/// Whether the file changes touch this setup's command-line source.
pub fn source_path(setup: &Setup) -> Option<PathBuf> {
    match &setup.source {
        CommandSource::Unit { dropin, .. } => Some(dropin.clone()),
        CommandSource::InitScript { path, .. } => Some(path.clone()),
        CommandSource::Argv => None,
    }
}
