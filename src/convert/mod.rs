//! The one command: inspect -> patch -> build -> install -> cfg -> runtime
//! -> restart, each step skipped when it is already done, stopping at the
//! first failure with what was done, what was not, and how to undo; and
//! `revert`, which undoes a conversion from the backups with the same
//! guided restart.
//!
//! Orchestration only: every step is a capability module ([`crate::probe`],
//! the source/build seam [`SourceSteps`] (real: [`source_step::Real`] over
//! [`crate::patch`] and [`crate::build`]), [`crate::cfg`], [`crate::service`]). [`prepare`] changes nothing
//! (it is what `--check` runs); [`execute`] does the work. A SIGINT is
//! honoured between steps and stops a build or install in progress (the
//! runner stops make's process group; the install stops between files),
//! never inside the restart; the report then says `interrupted`. Never prints.

pub mod source_step;

use crate::probe::{self, BuildInfo, Verdict};
use crate::service::journal::FileChange;
use crate::service::plan::{self, Desired, RunPlan};
use crate::service::restart::{self, Outcome};
use crate::service::{argv, discover, CommandSource, Manager, Setup, Target};
use crate::{fsx, interrupt, kamcmd};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Step names, in order (the `--json` contract: `steps[].name`).
pub const STEPS: &[&str] = &[
    "inspect", "patch", "build", "install", "cfg", "runtime", "restart",
];

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Nothing to do: already so.
    Already,
    /// Not needed on this box (e.g. no build for a binary that has debug support).
    Skipped,
    /// Would change (`--check`), or is about to.
    Pending,
    /// Changed by this run.
    Done,
    Failed,
    /// Not reached (an earlier step failed or a signal stopped the run).
    NotRun,
}

/// One step of the report (`{name, changed, detail}` plus `status`).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: &'static str,
    /// With `--check`: would change. Otherwise: changed by this run.
    pub changed: bool,
    pub status: StepStatus,
    pub detail: String,
}

/// What the build step made.
#[derive(Debug, Clone)]
pub struct Built {
    pub binary: PathBuf,
    /// The directory of the built modules (`kamailio -L`).
    pub modules_dir: PathBuf,
    /// Something was compiled (false: the build was up to date).
    pub compiled: bool,
}

/// The source/build/install seam ([`source_step::Real`] in production).
pub trait SourceSteps {
    /// Rewrites the tree for a memory-debug build; Ok(true) when it changed something.
    fn patch(&self, source: &Path) -> Result<bool>;
    /// Builds the tree (`modules`: the module list).
    fn build(
        &self,
        source: &Path,
        modules: Option<&str>,
        events: &mut dyn FnMut(&str),
    ) -> Result<Built>;
    /// Installs the build; returns the installed binary.
    fn install(
        &self,
        source: &Path,
        modules: Option<&str>,
        events: &mut dyn FnMut(&str),
    ) -> Result<PathBuf>;
    /// Undoes `install`: originals back, installed files removed (one line each).
    fn uninstall(&self, source: &Path) -> Result<Vec<String>>;
    /// Undoes `patch` from its backups; Ok(true) when it restored something.
    fn revert(&self, source: &Path) -> Result<bool>;
}

/// What `convert` was asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    pub source: Option<PathBuf>,
    /// `--cfg`; None: the one the proxy loads ([`discover::find_cfg`]).
    pub cfg: Option<PathBuf>,
    pub target: Target,
    pub modules: Option<String>,
    pub install: bool,
    /// Install prefix (`--prefix`); absolute.
    pub prefix: Option<PathBuf>,
    pub restart: restart::Options,
}

/// Everything [`prepare`] found; nothing has changed yet.
pub struct Prepared {
    pub setup: Setup,
    /// The cfg the proxy loads, and how kmemdbg knows.
    pub cfg: PathBuf,
    pub cfg_source: String,
    /// (memlog, debug) the converted proxy must run with, when the cfg decides them.
    pub planned_log: Option<(i64, i64)>,
    pub build: BuildInfo,
    pub verdict: Verdict,
    pub steps: Vec<Step>,
    pub cfg_changes: Vec<FileChange>,
    pub run_plan: RunPlan,
    /// The run-time settings asked for (the source steps add the new binary).
    pub desired: Desired,
    /// Why a restart is needed, when it is.
    pub restart_reason: Option<String>,
    /// The source steps must run first.
    pub needs_source: bool,
    /// The tree's build is complete and unchanged (the build step is "already").
    pub built: Option<Built>,
}

impl Prepared {
    /// Any step would change something.
    pub fn pending(&self) -> bool {
        self.steps.iter().any(|s| s.status == StepStatus::Pending)
    }
    /// Every file the restart would write, cfg first.
    pub fn file_changes(&self) -> Vec<FileChange> {
        let mut v = self.cfg_changes.clone();
        v.extend(self.run_plan.file_changes.iter().cloned());
        v
    }
}

fn step(name: &'static str, status: StepStatus, detail: impl Into<String>) -> Step {
    Step {
        name,
        changed: status == StepStatus::Pending,
        status,
        detail: detail.into(),
    }
}

/// The run-time options a verdict asks for, as (option, value) pairs.
pub fn runtime_pairs(v: &Verdict) -> Vec<(char, String)> {
    option_pairs(&v.runtime_options)
}

/// `["-x", "qm"]` -> `[('x', "qm")]`.
fn option_pairs(opts: &[String]) -> Vec<(char, String)> {
    let mut out = Vec::new();
    let mut it = opts.iter();
    while let Some(o) = it.next() {
        if let (Some(c), Some(val)) = (
            o.strip_prefix('-').and_then(|s| s.chars().next()),
            it.next(),
        ) {
            out.push((c, val.clone()));
        }
    }
    out
}

/// What [`plan_cfg`] returns: the file changes, one line for the report,
/// the planned (memlog, debug).
pub type CfgStep = (Vec<FileChange>, String, Option<(i64, i64)>);

/// The cfg step: [`crate::cfg::plan`] evaluated with the service's own
/// `-A` defines and `-d`/`--debug`, as file changes the guided restart
/// writes (and puts back on a failed restart). Returns the changes, one
/// line for the report, and the (memlog, debug) the proxy will run with
/// when the cfg alone decides them (no `-d` on the command line).
pub fn plan_cfg(cfg: &Path, command: &[String], binary: &Path) -> Result<CfgStep> {
    let facts = crate::cfg::argv::parse_argv(command);
    let cfg_decides = facts.debug.is_none();
    let opts = crate::cfg::Options {
        defines: facts.defines,
        goals: crate::cfg::Goals::default(),
        binary: Some(binary.to_path_buf()),
        debug_override: facts.debug,
    };
    let plan = crate::cfg::plan(cfg, &opts)?;
    let changes: Vec<FileChange> = plan
        .files
        .iter()
        .map(|f| FileChange {
            mode: std::fs::metadata(&f.path)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                .unwrap_or(0o644),
            path: f.path.clone(),
            before: Some(f.old.clone()),
            after: Some(f.new.clone()),
            why: "memory dumps visible (kmemdbg cfg's edit)".into(),
        })
        .collect();
    let mut lines: Vec<String> = if plan.changed() {
        plan.changes.iter().map(|c| c.text.clone()).collect()
    } else {
        plan.kept.clone()
    };
    lines.extend(plan.warnings.iter().map(|w| format!("warning: {w}")));
    if lines.is_empty() {
        lines.push("memlog <= debug already".into());
    }
    let after = |p: crate::cfg::Param| {
        plan.after
            .iter()
            .find(|e| e.param == p)
            .and_then(|e| e.value.as_int())
    };
    let planned = match (
        after(crate::cfg::Param::Memlog),
        after(crate::cfg::Param::Debug),
    ) {
        (Some(m), Some(d)) if cfg_decides => Some((m, d)),
        _ => None,
    };
    Ok((changes, lines.join("; "), planned))
}

/// Finds the setup, inspects the binary and plans every step. Changes nothing.
pub fn prepare(req: &Request) -> Result<Prepared> {
    let setup = discover::discover(&req.target)?;
    let binary = restart::resolve_binary(&setup);
    let build = probe::run_probe(&binary, probe::PROBE_TIMEOUT)?;
    let verdict = probe::verdict::verdict(&build);
    let mut steps = vec![step(
        "inspect",
        StepStatus::Already,
        format!(
            "{} {} ({}): {}",
            build.product,
            build.version,
            binary.display(),
            verdict.summary
        ),
    )];
    let needs_source = !verdict.ready;
    let (source_runtime, built) = plan_source_steps(req, &binary, &verdict, &mut steps)?;

    let (cfg, cfg_source) = resolve_cfg(req, &setup, &binary)?;
    let (cfg_changes, cfg_detail, planned_log) = plan_cfg(&cfg, &setup.command(), &binary)
        .with_context(|| format!("planning the cfg step for {}", cfg.display()))?;
    steps.push(step(
        "cfg",
        if cfg_changes.is_empty() {
            StepStatus::Already
        } else {
            StepStatus::Pending
        },
        cfg_detail,
    ));

    // runtime: what the build needs on the command line.
    let desired = Desired {
        options: if needs_source {
            if source_runtime.is_empty() {
                vec![('x', "qm".into())]
            } else {
                source_runtime
            }
        } else {
            runtime_pairs(&verdict)
        },
        ..Desired::default()
    };
    let run_plan = plan::plan(&setup, &desired)?;
    let rt_detail = runtime_detail(&setup, &desired, &run_plan);
    steps.push(step(
        "runtime",
        if run_plan.is_empty() {
            StepStatus::Already
        } else {
            StepStatus::Pending
        },
        rt_detail,
    ));

    // restart: needed for changes, or when the running proxy lags behind what is on disk.
    let restart_reason = if !cfg_changes.is_empty() || !run_plan.is_empty() || needs_source {
        Some("to load the changes above".to_string())
    } else {
        lagging(&setup, &cfg, &desired)
    };
    steps.push(restart_step(&setup, restart_reason.as_deref()));
    Ok(Prepared {
        setup,
        cfg,
        cfg_source,
        planned_log,
        build,
        verdict,
        steps,
        cfg_changes,
        run_plan,
        desired,
        restart_reason,
        needs_source,
        built,
    })
}

/// Run-time options as `(letter, value)` pairs (`('x', "qm")`).
type RuntimeOptions = Vec<(char, String)>;

/// The patch, build and install steps: already done, pending, or skipped
/// when the binary has memory debugging already. Returns the run-time
/// options the patched source needs and the finished build, if any.
fn plan_source_steps(
    req: &Request,
    binary: &Path,
    verdict: &Verdict,
    steps: &mut Vec<Step>,
) -> Result<(RuntimeOptions, Option<Built>)> {
    let mut source_runtime = Vec::new();
    let mut built: Option<Built> = None;
    if !verdict.ready {
        let Some(src) = &req.source else {
            bail!(
                "{} has no memory debugging ({}); convert needs the Kamailio sources to rebuild it: pass --source DIR (Debian: apt-get source kamailio)",
                binary.display(),
                verdict.summary
            );
        };
        let state = source_step::inspect(src)
            .with_context(|| format!("inspecting the source tree {}", src.display()))?;
        source_runtime = option_pairs(&state.runtime_options);
        steps.push(if state.patch_pending.is_empty() {
            step(
                "patch",
                StepStatus::Already,
                format!(
                    "{} is patched for a memory-debug build ({})",
                    src.display(),
                    state.generations.join(", ")
                ),
            )
        } else {
            step(
                "patch",
                StepStatus::Pending,
                format!("{}: {}", src.display(), state.patch_pending.join("; ")),
            )
        });
        // Patched and built (an earlier run stopped before the restart):
        // the build is done when its stamp says complete and nothing changed.
        let modules = req.modules.as_deref().map(crate::build::parse_module_list);
        built = state
            .patch_pending
            .is_empty()
            .then(|| crate::build::completed(src, modules.as_deref(), req.prefix.as_deref()))
            .flatten()
            .map(|c| Built {
                binary: c.binary,
                modules_dir: c.modules_dir,
                compiled: false,
            });
        steps.push(match &built {
            Some(b) => step(
                "build",
                StepStatus::Already,
                format!(
                    "{} is built with memory debugging and nothing changed since",
                    b.binary.display()
                ),
            ),
            None => step(
                "build",
                StepStatus::Pending,
                format!(
                    "build {}{}{} (compiles only what changed)",
                    src.display(),
                    req.modules
                        .as_deref()
                        .map(|m| format!(" with modules {m}"))
                        .unwrap_or_default(),
                    req.prefix
                        .as_deref()
                        .map(|p| format!(" for prefix {}", p.display()))
                        .unwrap_or_default()
                ),
            ),
        });
        steps.push(step(
            "install",
            if req.install {
                StepStatus::Pending
            } else {
                StepStatus::Skipped
            },
            if req.install {
                format!(
                    "install the new build into {} (staged; originals kept, revert --source undoes it) and run it",
                    req.prefix
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the tree's prefix".into())
                )
            } else {
                "not asked (--install): the proxy will run the built binary from the tree".into()
            },
        ));
    } else {
        let why = format!(
            "the binary already has {}",
            verdict.flag.unwrap_or("memory debugging")
        );
        steps.push(step("patch", StepStatus::Skipped, why.clone()));
        steps.push(step("build", StepStatus::Skipped, why.clone()));
        steps.push(step("install", StepStatus::Skipped, why));
    }
    Ok((source_runtime, built))
}

/// The cfg the service loads (found, or the one named, which must be it),
/// and how kmemdbg knows.
fn resolve_cfg(req: &Request, setup: &Setup, binary: &Path) -> Result<(PathBuf, String)> {
    let (cfg, cfg_source) = match &req.cfg {
        Some(c) => (c.clone(), "--cfg".to_string()),
        None => discover::find_cfg(setup, binary)?,
    };
    if let Some(rc) = &setup.cfg() {
        if !same_file(rc, &cfg) {
            bail!(
                "the proxy loads {}, not {}: pass --cfg {}",
                rc.display(),
                cfg.display(),
                rc.display()
            );
        }
    }
    Ok((cfg, cfg_source))
}

/// The runtime step's line: the options to set and where, or that the
/// proxy runs with them already.
fn runtime_detail(setup: &Setup, desired: &Desired, run_plan: &RunPlan) -> String {
    let detail = if run_plan.is_empty() {
        if desired.options.is_empty() {
            "no run-time options needed".to_string()
        } else {
            format!(
                "runs with {} already",
                desired
                    .options
                    .iter()
                    .map(|(o, v)| format!("-{o} {v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    } else {
        run_plan
            .settings
            .iter()
            .map(|s| {
                format!(
                    "{} {} -> {} in {}",
                    s.option,
                    s.old.clone().unwrap_or_else(|| "(unset)".into()),
                    s.new,
                    s.written_to
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match crate::service::effective::overridden_note(setup) {
        Some(n) if !run_plan.is_empty() => format!("{detail} ({n})"),
        _ => detail,
    }
}

/// The restart step: pending with its reason, or done.
fn restart_step(setup: &Setup, reason: Option<&str>) -> Step {
    match reason {
        Some(r) => step(
            "restart",
            StepStatus::Pending,
            format!("{} ({r})", describe_target(setup)),
        ),
        None => step(
            "restart",
            StepStatus::Already,
            format!("{} runs the converted setup", describe_target(setup)),
        ),
    }
}

fn describe_target(s: &Setup) -> String {
    match (&s.manager, &s.running) {
        (Manager::Process, Some(r)) => format!("kamailio PID {}", r.pid),
        (m, _) => m.describe(),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Why the running proxy does not run what is on disk (after an interrupted run).
fn lagging(setup: &Setup, cfg: &Path, desired: &Desired) -> Option<String> {
    let Some(r) = &setup.running else {
        return Some("no kamailio is running".into());
    };
    let running = argv::from_argv(&r.argv);
    for (opt, val) in &desired.options {
        if argv::find(&running, *opt).map(|f| f.value) != Some(val.clone()) {
            return Some(format!("PID {} runs without -{opt} {val}", r.pid));
        }
    }
    // Live values, when the proxy's ctl socket answers.
    let cfg_text = std::fs::read_to_string(cfg).unwrap_or_default();
    if let Some(sock) = crate::service::health::ctl_socket(&r.argv, &cfg_text) {
        if let Ok(k) = kamcmd::Kamcmd::new(Some(&sock)) {
            if let (Ok(m), Ok(d)) = (
                k.cfg_get_int("core", "memlog"),
                k.cfg_get_int("core", "debug"),
            ) {
                return (m > d).then(|| format!("PID {} runs with memlog={m} > debug={d}: it has not loaded the converted cfg", r.pid));
            }
        }
    }
    // Else: a cfg newer than the process.
    let started = process_start(r.pid)?;
    let modified = std::fs::metadata(cfg).and_then(|m| m.modified()).ok()?;
    (modified > started).then(|| format!("{} changed after PID {} started", cfg.display(), r.pid))
}

fn process_start(pid: u32) -> Option<std::time::SystemTime> {
    crate::procfs::started(pid)
}

/// The result of [`execute`].
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub steps: Vec<Step>,
    pub restart: Option<Outcome>,
    /// A signal stopped the run between steps.
    pub interrupted: bool,
    pub ok: bool,
    /// How to undo what was done.
    pub undo: Option<String>,
}

impl Report {
    pub fn changed(&self) -> bool {
        self.steps.iter().any(|s| s.changed)
    }
}

/// Runs the pending steps of `p`. `undo_hint` is the command that reverts.
pub fn execute(
    p: Prepared,
    req: &Request,
    source: &dyn SourceSteps,
    undo_hint: &str,
    events: &mut dyn FnMut(&str),
) -> Result<Report> {
    interrupt::arm();
    let mut steps = p.steps.clone();
    for s in &mut steps {
        s.changed = false;
    }
    let mut report = Report {
        steps,
        restart: None,
        interrupted: false,
        ok: false,
        undo: None,
    };
    // The binary the restart will run, and its modules when it runs from the tree.
    let mut new_binary: Option<(PathBuf, Option<PathBuf>)> = p
        .built
        .as_ref()
        .map(|b| (b.binary.clone(), Some(b.modules_dir.clone())));
    let order = ["patch", "build", "install"];
    for name in order {
        if stop_here(&mut report, name) {
            return Ok(report);
        }
        let Some(i) = report.steps.iter().position(|s| s.name == name) else {
            continue;
        };
        if report.steps[i].status != StepStatus::Pending {
            continue;
        }
        let src = req.source.clone().unwrap_or_default();
        let modules = req.modules.as_deref();
        events(&format!("{name}: {}", report.steps[i].detail));
        let r: Result<(bool, String)> = match name {
            "patch" => source.patch(&src).map(|c| {
                if c {
                    (true, format!("patched {}", src.display()))
                } else {
                    (false, format!("{} was patched already", src.display()))
                }
            }),
            "build" => source.build(&src, modules, events).map(|b| {
                new_binary = Some((b.binary.clone(), Some(b.modules_dir.clone())));
                if b.compiled {
                    (true, format!("built {}", b.binary.display()))
                } else {
                    (
                        false,
                        format!("{} is up to date (nothing compiled)", b.binary.display()),
                    )
                }
            }),
            _ => source.install(&src, modules, events).map(|b| {
                new_binary = Some((b.clone(), None));
                (true, format!("installed {}", b.display()))
            }),
        };
        match r {
            Ok((changed, d)) => {
                report.steps[i].status = if changed {
                    StepStatus::Done
                } else {
                    StepStatus::Already
                };
                report.steps[i].changed = changed;
                report.steps[i].detail = d;
                if changed {
                    report.undo = Some(undo_hint.to_string());
                }
            }
            Err(e) if interrupted(&e) => {
                // Stopped by the signal (make's whole process group is
                // gone): not done, and nothing half-done counts as done.
                report.steps[i].status = StepStatus::NotRun;
                report.steps[i].detail = format!(
                    "interrupted: {}",
                    match name {
                        "patch" => format!("{e:#}"),
                        "build" => format!(
                            "{e:#}; the build stamp says unfinished, so a rerun continues it"
                        ),
                        _ => format!(
                            "{e:#}; a rerun completes the install, revert --source removes it"
                        ),
                    }
                );
                report.interrupted = true;
                report.undo = Some(undo_hint.to_string());
                mark_not_run(&mut report);
                return Ok(report);
            }
            Err(e) => {
                report.steps[i].status = StepStatus::Failed;
                report.steps[i].detail = format!("{e:#}");
                mark_not_run(&mut report);
                return Ok(report);
            }
        }
    }
    // The new build goes into the restart plan: its binary (and, run from
    // the tree, `-L` its modules directory).
    let (run_plan, new_setup) = match &new_binary {
        Some((bin, modules_dir)) => {
            let mut desired = p.desired.clone();
            desired.binary = Some(bin.clone());
            if let Some(dir) = modules_dir {
                desired.options.push(('L', dir.display().to_string()));
            }
            match plan::plan(&p.setup, &desired) {
                Ok(rp) => {
                    if let Some(s) = report.steps.iter_mut().find(|s| s.name == "runtime") {
                        s.detail = rp
                            .settings
                            .iter()
                            .map(|s| format!("{} -> {} in {}", s.option, s.new, s.written_to))
                            .collect::<Vec<_>>()
                            .join("; ");
                        if s.status == StepStatus::Already && !rp.is_empty() {
                            s.status = StepStatus::Pending;
                        }
                    }
                    let ns = rp.new_setup.clone();
                    (rp, ns)
                }
                Err(e) => {
                    if let Some(s) = report.steps.iter_mut().find(|s| s.name == "runtime") {
                        s.status = StepStatus::Failed;
                        s.detail = format!("running {} needs: {e:#}", bin.display());
                    }
                    mark_not_run(&mut report);
                    return Ok(report);
                }
            }
        }
        None => (p.run_plan.clone(), p.run_plan.new_setup.clone()),
    };
    if stop_here(&mut report, "cfg") {
        return Ok(report);
    }
    if p.restart_reason.is_none() {
        report.ok = true;
        return Ok(report);
    }
    if stop_here(&mut report, "restart") {
        return Ok(report);
    }
    let mut changes = p.cfg_changes.clone();
    changes.extend(run_plan.file_changes.iter().cloned());
    events(&format!(
        "restart: {}",
        p.restart_reason.clone().unwrap_or_default()
    ));
    let opts = restart::Options {
        planned_log: p.planned_log,
        ..req.restart.clone()
    };
    let outcome = restart::execute(&p.setup, &new_setup, &changes, &opts, events)?;
    let ok = outcome.ok();
    for name in ["cfg", "runtime", "restart"] {
        if let Some(s) = report.steps.iter_mut().find(|s| s.name == name) {
            if s.status == StepStatus::Pending {
                s.status = if ok {
                    StepStatus::Done
                } else {
                    StepStatus::Failed
                };
                s.changed = ok;
                if !ok && name == "restart" {
                    s.detail = format!(
                        "{:?}: {}",
                        outcome.status,
                        outcome
                            .failure
                            .clone()
                            .unwrap_or_else(|| outcome.preflight.output.clone())
                    );
                }
            }
        }
    }
    report.ok = ok;
    if ok {
        report.undo = Some(undo_hint.to_string());
    }
    report.restart = Some(outcome);
    if interrupt::requested() {
        report.interrupted = true;
    }
    Ok(report)
}

/// A step's error that a signal caused (the build was stopped, or the
/// install stopped copying).
fn interrupted(e: &anyhow::Error) -> bool {
    interrupt::requested()
        || e.chain()
            .any(|c| c.downcast_ref::<crate::runner::Interrupted>().is_some())
}

/// Honours a signal before `name`: the remaining steps are marked not run.
fn stop_here(report: &mut Report, name: &str) -> bool {
    restart::pause_hook(&format!("step:{name}"));
    if !interrupt::requested() {
        return false;
    }
    report.interrupted = true;
    mark_not_run(report);
    true
}

fn mark_not_run(report: &mut Report) {
    for s in &mut report.steps {
        if s.status == StepStatus::Pending {
            s.status = StepStatus::NotRun;
        }
    }
}

// ---------------------------------------------------------------- revert

/// What `revert` will do.
pub struct RevertPlan {
    pub setup: Setup,
    pub new_setup: Setup,
    pub changes: Vec<FileChange>,
    /// Backups to remove once the reverted setup runs.
    pub backups: Vec<PathBuf>,
    pub notes: Vec<String>,
}

/// Plans the undo of a conversion: every file kmemdbg changed for this
/// proxy (options files, drop-in, init script, cfg and its directory's
/// backed-up files, a bare process's original argv) back to its first original.
pub fn plan_revert(target: &Target, cfg: Option<&Path>) -> Result<RevertPlan> {
    let setup = discover::discover(target)?;
    let mut changes = Vec::new();
    let mut backups = Vec::new();
    let mut notes = Vec::new();
    let mut candidates: Vec<PathBuf> = setup.options_files.iter().map(|f| f.path.clone()).collect();
    if let CommandSource::InitScript { path, .. } = &setup.source {
        candidates.push(path.clone());
    }
    let cfg = cfg.map(Path::to_path_buf).or_else(|| setup.cfg());
    if let Some(cfg) = &cfg {
        candidates.push(cfg.clone());
        if let Some(dir) = cfg.parent() {
            if let Ok(rd) = std::fs::read_dir(dir) {
                let mut v: Vec<PathBuf> = rd
                    .flatten()
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.strip_suffix(fsx::BACKUP_SUFFIX)
                            .map(|orig| dir.join(orig))
                    })
                    .collect();
                v.sort();
                candidates.extend(v);
            }
        }
    }
    candidates.dedup();
    for path in candidates {
        let backup = fsx::backup_path(&path);
        if !backup.exists() || changes.iter().any(|c: &FileChange| c.path == path) {
            continue;
        }
        let original = fsx::read(&backup)?;
        let current = std::fs::read(&path).ok();
        if current.as_deref() != Some(original.as_slice()) {
            notes.push(format!(
                "{}: back to the original kept in {}",
                path.display(),
                backup.display()
            ));
            changes.push(FileChange {
                path: path.clone(),
                before: current,
                after: Some(original),
                mode: 0o644,
                why: "kmemdbg's backup of the original".into(),
            });
        }
        backups.push(backup);
    }
    for dropin in crate::service::effective::our_dropins(&setup) {
        if dropin.exists() && !fsx::backup_path(&dropin).exists() {
            let text = fsx::read(&dropin)?;
            if text.starts_with(crate::service::unit::DROPIN_MARK.as_bytes()) {
                notes.push(format!("{}: remove kmemdbg's drop-in", dropin.display()));
                changes.push(FileChange {
                    path: dropin.clone(),
                    before: Some(text),
                    after: None,
                    mode: 0o644,
                    why: "written by kmemdbg".into(),
                });
                backups.push(fsx::backup_path(&dropin));
            }
        }
    }
    let mut new_setup = plan::with_files(&setup, &changes)?;
    if setup.source == CommandSource::Argv {
        if let Some(pidfile) = &setup.pidfile {
            let record = crate::service::argv_record_path(pidfile);
            if record.exists() {
                let orig = plan::read_argv_record(&record)?;
                notes.push(format!("command line back to: {}", orig.join(" ")));
                new_setup.template = argv::from_argv(&orig);
                changes.push(FileChange {
                    path: record.clone(),
                    before: Some(fsx::read(&record)?),
                    after: None,
                    mode: 0o600,
                    why: "record of the original command line".into(),
                });
                backups.push(fsx::backup_path(&record));
            }
        }
    }
    Ok(RevertPlan {
        setup,
        new_setup,
        changes,
        backups,
        notes,
    })
}

/// After a successful revert: the backups go, so the box is as before kmemdbg.
pub fn remove_backups(backups: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for b in backups {
        if b.exists() {
            match crate::fsx::remove(b) {
                Ok(()) => out.push(format!("removed {}", b.display())),
                Err(e) => out.push(format!("could not remove {}: {e:#}", b.display())),
            }
        }
        if let Some(dir) = b.parent() {
            if dir.extension().is_some_and(|e| e == "d")
                && std::fs::read_dir(dir)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false)
            {
                crate::fsx::remove_empty_dir(dir);
            }
        }
    }
    out
}
