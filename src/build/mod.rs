//! Building a converted Kamailio source tree, and proving the result.
//!
//! One flow for both build systems ([`make`] for 3.x-6.x, [`cmake`] for
//! 6.x): check the tools ([`prereq`]), configure when the configuration is
//! stale or the module list/prefix changed, refuse a tree whose defines
//! carry no memory debugging, clean every object compiled with other
//! defines (the [`stamp`] records what the objects were built with), compile
//! with progress, check that no object predates the clean (a mixed build is
//! a defect), then ask the new binary `-V` and fail unless it is
//! memory-debug ready. A tree already built that way and unchanged is
//! "up to date" without compiling.
//!
//! The whole compiler output goes to a log file (kmemdbg's own file, written
//! as it streams). Build steps run with `LC_ALL=C`: untranslated compiler
//! messages with plain quotes, so the first error can be read back. This module never edits a source file (that is `patch`),
//! never prints (it reports through [`Observer`]), and runs every program
//! through [`crate::runner`].

pub mod cmake;
pub mod deploy;
pub mod diagnose;
pub mod make;
pub mod prereq;
pub mod stamp;
pub mod tree;

use crate::probe::{self, verdict::verdict, BuildInfo, Verdict};
use crate::runner::{self, StreamEvent};
pub use crate::source::BuildSystem;
use anyhow::{bail, Context, Result};
use diagnose::{FirstError, ProgressLine};
use serde::Serialize;
use stamp::{Snapshot, Stamp, State};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
pub use tree::Tree;

/// How long one build step may run before it is stopped.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(4 * 3600);
/// How long a quick query (`make` printing its variables) may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Which modules to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// What the tree is configured with (its `modules.lst` or CMake cache),
    /// or the tree's own default set when it was never configured.
    TreeDefault,
    /// The core and exactly these modules.
    List(Vec<String>),
    /// Every module directory the tree has (each needs its libraries).
    All,
}

/// What to build and how.
#[derive(Debug, Clone)]
pub struct Request {
    pub source: PathBuf,
    pub jobs: usize,
    pub modules: Selection,
    pub install: bool,
    pub prefix: Option<PathBuf>,
    /// Install into this empty staging directory first, then put each file
    /// in place with backups and a manifest ([`deploy`]), so that
    /// [`uninstall`] can undo it. `None`: the build system installs directly.
    pub stage: Option<PathBuf>,
    /// Where the compiler output goes (default: `SOURCE/kmemdbg-build.log`).
    pub log: Option<PathBuf>,
}

/// What the build tells its caller as it goes.
pub enum Event<'a> {
    /// A step starts: what it is for, and the command line.
    Step { what: &'a str, command: &'a str },
    /// Compile progress: files compiled so far and, when known, the
    /// fraction done (0.0-1.0). Also sent periodically with no change.
    Progress {
        compiled: usize,
        fraction: Option<f64>,
    },
    /// Something worth one line (a decision: cleaning, resuming, ...).
    Note(&'a str),
}

/// Receives [`Event`]s (the face draws a progress bar or prints lines).
pub trait Observer {
    fn event(&mut self, event: Event<'_>);
}

/// How the run ended, when it ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Compiled (some or all files) and proven.
    Built,
    /// Nothing to compile: already built with memory debugging, unchanged.
    UpToDate,
    /// The tree's defines carry no memory debugging: nothing was compiled.
    NotConverted,
}

/// The result of a build run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub status: Status,
    pub generation: BuildSystem,
    pub source: PathBuf,
    pub jobs: usize,
    /// The modules configured for this build (names).
    pub modules: Vec<String>,
    pub log: PathBuf,
    /// False when this run wrote no log (up to date: the path is the last build's log).
    pub log_written: bool,
    /// Objects from other defines were removed before compiling.
    pub cleaned: bool,
    /// An interrupted build with the same defines was continued.
    pub resumed: bool,
    /// Source files compiled in this run.
    pub compiled: usize,
    pub elapsed_s: f64,
    /// The built binary and the directory to pass to `kamailio -L`.
    pub binary: PathBuf,
    pub modules_dir: PathBuf,
    /// The memory-debug define the configuration carries (e.g. `-DDBG_SR_MEMORY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memdebug_define: Option<String>,
    /// Why the tree counts as not converted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The installed binary (with `--install`) and its verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_verdict: Option<Verdict>,
}

impl Outcome {
    /// True when the binary (and the installed one) can produce dumps.
    pub fn ready(&self) -> bool {
        self.verdict.as_ref().is_some_and(|v| v.ready)
            && self.installed_verdict.as_ref().map_or(true, |v| v.ready)
    }
}

/// A build step that failed: the command, the first error and the log.
#[derive(Debug, Clone, Serialize)]
pub struct BuildFailed {
    pub command: String,
    pub exit_code: Option<i32>,
    pub log: PathBuf,
    pub first_error: Option<FirstError>,
}

impl std::fmt::Display for BuildFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = match self.exit_code {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".into(),
        };
        writeln!(f, "build failed: `{}` ({status})", self.command)?;
        match &self.first_error {
            Some(e) => {
                let loc = e.location();
                if loc.is_empty() {
                    writeln!(f, "  first error: {}", e.message)?;
                } else {
                    writeln!(f, "  first error: {loc}: {}", e.message)?;
                }
                writeln!(f, "  (log line {})", e.log_line)?;
                if let Some(h) = &e.hint {
                    writeln!(f, "  hint: {h}")?;
                }
            }
            None => writeln!(f, "  no compiler error recognised; read the end of the log")?,
        }
        write!(f, "  whole log: {}", self.log.display())
    }
}
impl std::error::Error for BuildFailed {}

/// What a configured tree will compile with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Compiler, flags and defines: objects made with another fingerprint
    /// must not survive into this build.
    pub fingerprint: String,
    /// The memory-debug define in effect, if any.
    pub memdebug_define: Option<String>,
    /// The modules configured (names).
    pub modules: Vec<String>,
    pub prefix: String,
    pub binary: PathBuf,
    pub modules_dir: PathBuf,
}

/// The memory-debug define among compiler arguments (`-DDBG_SR_MEMORY`).
pub fn memdebug_define(defines: &str) -> Option<String> {
    defines
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("-D"))
        .map(|d| d.split('=').next().unwrap_or(d))
        .find(|d| crate::mem::MEMDEBUG_FLAGS.contains(d))
        .map(|d| format!("-D{d}"))
}

/// The build log, opened (truncated) only when the first build step runs:
/// a run that compiles nothing ("up to date") keeps the last build's log,
/// and when it installs, the install's output is appended to that log.
/// Lines noted before that are kept in memory and written first.
struct Log {
    path: PathBuf,
    file: Option<std::fs::File>,
    pending: Vec<u8>,
    /// Append to the existing log instead of starting a new one.
    append: bool,
}

impl Log {
    fn start(&mut self) -> Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        let file = if self.append && self.path.is_file() {
            // kmemdbg's own log (not a user's file): appended in place.
            std::fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .with_context(|| format!("cannot append to the build log {}", self.path.display()))
        } else {
            crate::fsx::create_stream(&self.path)
        };
        let mut file =
            file.context("cannot write the build log (pass --log FILE somewhere writable)")?;
        file.write_all(&self.pending)
            .with_context(|| format!("cannot write the build log {}", self.path.display()))?;
        self.pending.clear();
        self.file = Some(file);
        Ok(())
    }
}

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => {
                self.pending.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// The running build: log file, observer, progress counters.
pub struct Session<'a> {
    log: Log,
    pub log_path: PathBuf,
    log_lines: usize,
    obs: &'a mut dyn Observer,
    pub compiled: usize,
}

impl<'a> Session<'a> {
    fn open(log_path: &Path, obs: &'a mut dyn Observer) -> Result<Session<'a>> {
        Ok(Session {
            log: Log {
                path: log_path.to_path_buf(),
                file: None,
                pending: Vec::new(),
                append: false,
            },
            log_path: log_path.to_path_buf(),
            log_lines: 0,
            obs,
            compiled: 0,
        })
    }

    /// True once a build step has written the log.
    pub fn log_written(&self) -> bool {
        self.log.file.is_some()
    }

    /// Later steps add to the existing log (the last build's output stays).
    fn append_to_log(&mut self) {
        self.log.append = true;
    }

    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.log, "kmemdbg: {text}");
        self.log_lines += 1;
        self.obs.event(Event::Note(text));
    }

    /// Runs one step, streaming its output into the log. `estimate` is the
    /// number of files it should compile, when known. A non-zero exit is a
    /// [`BuildFailed`] carrying the first error of this step's output.
    pub fn step(
        &mut self,
        what: &str,
        cmd: xshell::Cmd<'_>,
        estimate: Option<usize>,
    ) -> Result<()> {
        // Untranslated messages with plain quotes, so the log can be read.
        let cmd = cmd.env("LC_ALL", "C");
        let display = cmd.to_string();
        if !self.log_written() {
            self.log.start()?;
            let path = self.log_path.display().to_string();
            self.obs
                .event(Event::Note(&format!("whole compiler output: {path}")));
        }
        let _ = writeln!(self.log, "kmemdbg: {what}: {display}");
        self.log_lines += 1;
        self.obs.event(Event::Step {
            what,
            command: &display,
        });
        let first_line = self.log_lines;
        let mut step_text = String::new();
        let mut compiled_here = 0usize;
        let mut fraction: Option<f64> = None;
        let base = self.compiled;
        let mut last_report = Instant::now();
        let obs = &mut *self.obs;
        let mut lines = 0usize;
        let result = runner::run_streaming(cmd, STEP_TIMEOUT, &mut self.log, &mut |ev| {
            let changed = match ev {
                StreamEvent::Line(line) => {
                    lines += 1;
                    // Keep what a diagnosis needs; a 20-screen log stays on disk.
                    if step_text.len() < 8 << 20 {
                        step_text.push_str(line);
                        step_text.push('\n');
                    }
                    match diagnose::progress_line(line) {
                        ProgressLine::Compiled => {
                            compiled_here += 1;
                            if let Some(total) = estimate.filter(|t| *t > 0) {
                                fraction = Some((compiled_here as f64 / total as f64).min(0.99));
                            }
                            true
                        }
                        ProgressLine::Fraction { done, total } => {
                            compiled_here += 1;
                            if total > 0 {
                                fraction = Some((done as f64 / total as f64).min(1.0));
                            }
                            true
                        }
                        ProgressLine::Other => false,
                    }
                }
                StreamEvent::Tick => false,
            };
            if changed || last_report.elapsed() >= Duration::from_millis(500) {
                last_report = Instant::now();
                obs.event(Event::Progress {
                    compiled: base + compiled_here,
                    fraction,
                });
            }
        });
        self.log_lines += lines;
        self.compiled += compiled_here;
        let out = result
            .with_context(|| format!("{what} did not finish; log: {}", self.log_path.display()))?;
        if out.success() {
            return Ok(());
        }
        let _ = self.log.flush();
        let first_error = diagnose::first_error(&step_text).map(|mut e| {
            e.log_line += first_line;
            e
        });
        Err(BuildFailed {
            command: out.display,
            exit_code: out.code,
            log: self.log_path.clone(),
            first_error,
        }
        .into())
    }

    /// Runs a short command whose output is data (not logged line by line).
    pub fn query(&mut self, cmd: xshell::Cmd<'_>) -> Result<String> {
        let out = runner::run(cmd.env("LC_ALL", "C"), QUERY_TIMEOUT)?;
        let _ = writeln!(self.log, "kmemdbg: query: {}", out.display);
        let _ = self.log.write_all(&out.stderr);
        self.log_lines += 1 + out.stderr_text().lines().count();
        if !out.success() {
            let text = out.stderr_text();
            let first_error = diagnose::first_error(&text);
            return Err(BuildFailed {
                command: out.display,
                exit_code: out.code,
                log: self.log_path.clone(),
                first_error,
            }
            .into());
        }
        Ok(out.stdout_text())
    }
}

/// One build system.
pub trait Backend {
    fn generation(&self) -> BuildSystem;
    /// The top of the tree.
    fn root(&self) -> &Path;
    /// Where the stamp is kept.
    fn stamp_dir(&self) -> PathBuf;
    /// Where objects are (walked for leftovers), and directories to skip.
    fn objects_root(&self) -> PathBuf;
    /// Where sources are (for the snapshot), directories to skip, extra files.
    fn sources(&self) -> (PathBuf, Vec<PathBuf>, Vec<PathBuf>);
    /// Configures when needed (stale, or another module list/prefix was
    /// asked for); returns true when it ran.
    fn configure(&mut self, s: &mut Session<'_>, req: &Request) -> Result<bool>;
    /// What the configured tree will compile with.
    fn config(&mut self, s: &mut Session<'_>) -> Result<Config>;
    /// Why the configuration has no memory debugging (for the message).
    fn not_converted_reason(&self, cfg: &Config) -> String;
    /// Removes every object (the tree's own clean).
    fn clean(&mut self, s: &mut Session<'_>) -> Result<()>;
    /// How many files the compile step will compile, when it can be told.
    fn estimate(&self, cfg: &Config, epoch_ns: Option<u128>) -> Option<usize>;
    fn compile(&mut self, s: &mut Session<'_>, jobs: usize, estimate: Option<usize>) -> Result<()>;
    /// Installs (under `stage` when given: `BASEDIR`/`DESTDIR`); returns
    /// the installed binary's final path.
    fn install(
        &mut self,
        s: &mut Session<'_>,
        cfg: &Config,
        stage: Option<&Path>,
    ) -> Result<PathBuf>;
}

fn backend_for(tree: Tree) -> Box<dyn Backend> {
    match tree.generation {
        BuildSystem::Make => Box::new(make::MakeBackend::new(tree)),
        BuildSystem::Cmake => Box::new(cmake::CmakeBackend::new(tree)),
    }
}

/// Default number of parallel jobs: every core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Checks that every program the build needs is on PATH.
pub fn check_prereqs(generation: BuildSystem) -> Result<()> {
    let cc = std::env::var("CC").ok();
    let tools = prereq::required(generation, cc.as_deref());
    let gone = prereq::missing(&tools, &|name| which::which(name).is_ok());
    if !gone.is_empty() {
        bail!("{}", prereq::explain(&gone));
    }
    Ok(())
}

/// Runs the whole build (see the module doc).
pub fn run(req: &Request, obs: &mut dyn Observer) -> Result<Outcome> {
    let started = Instant::now();
    let source = std::fs::canonicalize(&req.source).unwrap_or_else(|_| req.source.clone());
    let tree = tree::detect(&source)?;
    check_prereqs(tree.generation)?;
    for name in match &req.modules {
        Selection::List(l) => l.as_slice(),
        _ => &[],
    } {
        check_module_name(&tree, name)?;
    }
    let root = tree.root.clone();
    let mut backend = backend_for(tree);
    let log_path = req
        .log
        .clone()
        .unwrap_or_else(|| root.join("kmemdbg-build.log"));
    let log_path = if log_path.is_absolute() {
        log_path
    } else {
        std::env::current_dir()
            .map(|d| d.join(&log_path))
            .unwrap_or(log_path)
    };
    let mut s = Session::open(&log_path, obs)?;
    let stamp_dir = backend.stamp_dir();
    let old = Stamp::read(&stamp_dir);

    let configured = backend.configure(&mut s, req)?;
    let cfg = backend.config(&mut s)?;
    let mut out = Outcome {
        status: Status::Built,
        generation: backend.generation(),
        source: root.clone(),
        jobs: req.jobs,
        modules: cfg.modules.clone(),
        log: log_path.clone(),
        log_written: false,
        cleaned: false,
        resumed: false,
        compiled: 0,
        elapsed_s: 0.0,
        binary: cfg.binary.clone(),
        modules_dir: cfg.modules_dir.clone(),
        memdebug_define: cfg.memdebug_define.clone(),
        reason: None,
        build: None,
        verdict: None,
        installed: None,
        installed_verdict: None,
    };
    if cfg.memdebug_define.is_none() {
        let reason = backend.not_converted_reason(&cfg);
        s.note(&format!("not converted: {reason}"));
        out.status = Status::NotConverted;
        out.reason = Some(reason);
        out.log_written = s.log_written();
        out.elapsed_s = started.elapsed().as_secs_f64();
        return Ok(out);
    }
    let request = format!("modules={} prefix={}", cfg.modules.join(","), cfg.prefix);
    let (src_dir, skip, extra) = backend.sources();
    let skip_refs: Vec<&Path> = skip.iter().map(PathBuf::as_path).collect();
    let extra_refs: Vec<&Path> = extra.iter().map(PathBuf::as_path).collect();
    let snapshot_now = stamp::snapshot(&src_dir, &skip_refs, &extra_refs);
    let objects_root = backend.objects_root();

    if let Some(st) = &old {
        let binary_fresh = std::fs::metadata(&cfg.binary)
            .map(|m| stamp::mtime_ns(&m) >= st.epoch_ns)
            .unwrap_or(false);
        if !configured
            && st.state == State::Complete
            && st.fingerprint == cfg.fingerprint
            && st.request == request
            && st.snapshot == snapshot_now
            && binary_fresh
        {
            s.note(
                "up to date: built with memory debugging, nothing changed since; nothing compiled",
            );
            out.status = Status::UpToDate;
            prove(&mut out)?;
            if req.install {
                s.append_to_log();
                install(&mut *backend, &mut s, &cfg, req, &mut out)?;
            }
            out.log_written = s.log_written();
            out.elapsed_s = started.elapsed().as_secs_f64();
            return Ok(out);
        }
    }

    // Decide what survives: only objects made with this fingerprint.
    let epoch_ns = match &old {
        Some(st) if st.fingerprint == cfg.fingerprint => {
            if st.state == State::Building {
                s.note("continuing an interrupted build with the same defines");
                out.resumed = true;
            }
            st.epoch_ns
        }
        other => {
            let leftovers = stamp::objects(&objects_root, &skip_for_objects(&*backend));
            if leftovers.is_empty() {
                stamp::now_ns()
            } else {
                let why = match other {
                    Some(_) => "the defines changed since the last build",
                    None => {
                        "the tree holds objects kmemdbg did not build (their defines are unknown)"
                    }
                };
                s.note(&format!(
                    "cleaning {} objects: {why}; nothing compiled before the conversion may survive",
                    leftovers.len()
                ));
                backend.clean(&mut s)?;
                let rest = stamp::objects(&objects_root, &skip_for_objects(&*backend));
                for p in &rest {
                    crate::fsx::remove_build_output(p)?;
                }
                if !rest.is_empty() {
                    s.note(&format!(
                        "removed {} objects the tree's clean left behind",
                        rest.len()
                    ));
                }
                out.cleaned = true;
                stamp::now_ns()
            }
        }
    };
    write_stamp(
        &stamp_dir,
        &cfg,
        &request,
        epoch_ns,
        State::Building,
        Snapshot::default(),
    )?;
    let estimate = backend.estimate(&cfg, (!out.cleaned).then_some(epoch_ns));
    backend.compile(&mut s, req.jobs, estimate)?;
    out.compiled = s.compiled;

    let mut stale =
        stamp::objects_older_than(&objects_root, &skip_for_objects(&*backend), epoch_ns);
    match std::fs::metadata(&cfg.binary) {
        Ok(m) if stamp::mtime_ns(&m) < epoch_ns => stale.push(cfg.binary.clone()),
        Ok(_) => {}
        Err(_) => bail!(
            "the build finished but {} is missing; see {}",
            cfg.binary.display(),
            log_path.display()
        ),
    }
    if !stale.is_empty() {
        bail!(
            "mixed build: {} file(s) predate the clean and may carry the old allocator, e.g. {}; \
             remove them (or run the tree's clean) and build again",
            stale.len(),
            stale[0].display()
        );
    }
    prove(&mut out)?;
    if out.verdict.as_ref().is_some_and(|v| v.ready) {
        let snapshot_after = stamp::snapshot(&src_dir, &skip_refs, &extra_refs);
        write_stamp(
            &stamp_dir,
            &cfg,
            &request,
            epoch_ns,
            State::Complete,
            snapshot_after,
        )?;
        if req.install {
            install(&mut *backend, &mut s, &cfg, req, &mut out)?;
        }
    }
    out.compiled = s.compiled;
    out.log_written = s.log_written();
    out.elapsed_s = started.elapsed().as_secs_f64();
    Ok(out)
}

/// The install manifest of the tree at `source` (see [`deploy`]).
pub fn manifest_path(source: &Path) -> Result<PathBuf> {
    let source = std::fs::canonicalize(source)
        .with_context(|| format!("cannot read the source tree {}", source.display()))?;
    Ok(backend_for(tree::detect(&source)?)
        .stamp_dir()
        .join(deploy::MANIFEST_NAME))
}

/// Undoes every staged install of the tree at `source` (see [`deploy::undeploy`]).
pub fn uninstall(source: &Path) -> Result<Vec<String>> {
    deploy::undeploy(&manifest_path(source)?)
}

/// A build that [`run`] finished and proved, found without running anything
/// but `kamailio -V`.
#[derive(Debug, Clone)]
pub struct Completed {
    pub binary: PathBuf,
    pub modules_dir: PathBuf,
}

/// Is the tree at `source` built with memory debugging, finished, and
/// unchanged since (with these `modules` and this `prefix`, when given)?
/// Reads the stamp, the sources' metadata and asks the binary `-V`;
/// changes nothing. An interrupted build (stamp state `building`), a
/// source or build file changed since, another module list or prefix, or a
/// binary older than the stamp's epoch is `None`: the build step must run.
pub fn completed(
    source: &Path,
    modules: Option<&[String]>,
    prefix: Option<&Path>,
) -> Option<Completed> {
    let source = std::fs::canonicalize(source).ok()?;
    let backend = backend_for(tree::detect(&source).ok()?);
    let st = Stamp::read(&backend.stamp_dir())?;
    if st.state != State::Complete {
        return None;
    }
    let (src_dir, skip, extra) = backend.sources();
    let skip: Vec<&Path> = skip.iter().map(PathBuf::as_path).collect();
    let extra: Vec<&Path> = extra.iter().map(PathBuf::as_path).collect();
    if stamp::snapshot(&src_dir, &skip, &extra) != st.snapshot {
        return None;
    }
    let binary = st.binary.clone()?;
    let fresh = std::fs::metadata(&binary)
        .map(|m| stamp::mtime_ns(&m) >= st.epoch_ns)
        .unwrap_or(false);
    if !fresh {
        return None;
    }
    let (built_modules, built_prefix) = parse_request(&st.request);
    if modules.is_some_and(|m| m != built_modules.as_slice()) {
        return None;
    }
    if let Some(p) = prefix {
        let p = p.display().to_string();
        if p.trim_end_matches('/') != built_prefix.trim_end_matches('/') {
            return None;
        }
    }
    let info = probe::run_probe(&binary, probe::PROBE_TIMEOUT).ok()?;
    verdict(&info).ready.then(|| Completed {
        binary,
        modules_dir: st.modules_dir.clone().unwrap_or_default(),
    })
}

/// `modules=a,b prefix=/p` (the stamp's `request`) -> (modules, prefix).
fn parse_request(request: &str) -> (Vec<String>, String) {
    let mut modules = Vec::new();
    let mut prefix = String::new();
    for word in request.split_whitespace() {
        if let Some(m) = word.strip_prefix("modules=") {
            modules = parse_module_list(m);
        } else if let Some(p) = word.strip_prefix("prefix=") {
            prefix = p.to_string();
        }
    }
    (modules, prefix)
}

fn skip_for_objects(backend: &dyn Backend) -> Vec<&'static Path> {
    // Objects live only in build outputs; nothing to skip today, kept as a
    // hook (e.g. vendored prebuilt objects) without touching call sites.
    let _ = backend;
    Vec::new()
}

fn install(
    backend: &mut dyn Backend,
    s: &mut Session<'_>,
    cfg: &Config,
    req: &Request,
    out: &mut Outcome,
) -> Result<()> {
    let installed = backend.install(s, cfg, req.stage.as_deref())?;
    if let Some(stage) = &req.stage {
        let manifest = backend.stamp_dir().join(deploy::MANIFEST_NAME);
        let mut lines = Vec::new();
        deploy::deploy(stage, &manifest, &mut |l| lines.push(l.to_string()))?;
        for l in lines {
            s.note(&l);
        }
    }
    let info = probe::run_probe(&installed, probe::PROBE_TIMEOUT)
        .with_context(|| format!("installed, but {} does not answer -V", installed.display()))?;
    out.installed_verdict = Some(verdict(&info));
    out.installed = Some(installed);
    Ok(())
}

/// Asks the built binary for its flags (`verify --memdebug`).
fn prove(out: &mut Outcome) -> Result<()> {
    let info = probe::run_probe(&out.binary, probe::PROBE_TIMEOUT).with_context(|| {
        format!(
            "the build finished but {} does not answer -V",
            out.binary.display()
        )
    })?;
    out.verdict = Some(verdict(&info));
    out.build = Some(info);
    Ok(())
}

fn write_stamp(
    dir: &Path,
    cfg: &Config,
    request: &str,
    epoch_ns: u128,
    state: State,
    snapshot: Snapshot,
) -> Result<()> {
    let st = Stamp {
        schema: stamp::SCHEMA.into(),
        state,
        fingerprint: cfg.fingerprint.clone(),
        epoch_ns,
        request: request.to_string(),
        snapshot,
        binary: Some(cfg.binary.clone()),
        modules_dir: Some(cfg.modules_dir.clone()),
    };
    crate::fsx::create(&dir.join(stamp::STAMP_NAME), st.render().as_bytes(), 0o644)
        .with_context(|| format!("cannot write the build stamp in {}", dir.display()))
}

/// A module name must be a module directory of the tree.
fn check_module_name(tree: &Tree, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let names = tree.module_names();
    if valid && names.iter().any(|n| n == name) {
        return Ok(());
    }
    let prefix: String = name.chars().take(2).collect();
    let close: Vec<&String> = names
        .iter()
        .filter(|n| {
            prefix.chars().count() == 2
                && (n.contains(name) || name.contains(n.as_str()) || n.starts_with(&prefix))
        })
        .take(8)
        .collect();
    let suggestion = if close.is_empty() {
        String::new()
    } else {
        format!(
            "; did you mean: {}?",
            close
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    bail!(
        "--modules: {name:?} is not a module of this tree (no {}){suggestion}",
        tree.modules_dir().join(name).display()
    )
}

/// Parses `--modules` (comma- or space-separated names, `.so` allowed).
pub fn parse_module_list(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|n| n.trim().trim_end_matches(".so").to_string())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_memdebug_define() {
        assert_eq!(
            memdebug_define("-DNAME='\"kamailio\"' -DF_MALLOC -DDBG_SR_MEMORY -DUSE_TCP")
                .as_deref(),
            Some("-DDBG_SR_MEMORY")
        );
        assert_eq!(
            memdebug_define("-DDBG_QM_MALLOC=1").as_deref(),
            Some("-DDBG_QM_MALLOC")
        );
        assert_eq!(
            memdebug_define("-DF_MALLOC -DQ_MALLOC -DDBG_SR_MEMORYX"),
            None
        );
    }

    #[test]
    fn unknown_module_names_are_refused_with_suggestions() {
        let d = tempfile::tempdir().unwrap();
        for m in ["tm", "tmx", "sl"] {
            std::fs::create_dir_all(d.path().join("src/modules").join(m)).unwrap();
            std::fs::write(d.path().join("src/modules").join(m).join("Makefile"), "").unwrap();
        }
        std::fs::write(d.path().join("src/Makefile.defs"), "MAIN_NAME=kamailio\n").unwrap();
        let t = tree::detect(d.path()).unwrap();
        assert!(check_module_name(&t, "tm").is_ok());
        let err = check_module_name(&t, "tmm").unwrap_err().to_string();
        assert!(err.contains("did you mean: tm, tmx?"), "{err}");
        for odd in ["aé", "é", "../x", ""] {
            assert!(check_module_name(&t, odd).is_err(), "{odd}");
        }
    }

    #[test]
    fn reads_the_stamp_request_back() {
        assert_eq!(
            parse_request("modules=ctl,sl,tm prefix=/opt/k"),
            (
                vec!["ctl".into(), "sl".into(), "tm".into()],
                "/opt/k".into()
            )
        );
        assert_eq!(parse_request("modules= prefix="), (vec![], String::new()));
    }

    #[test]
    fn module_lists_accept_commas_spaces_and_so() {
        assert_eq!(parse_module_list("tm, sl.so  ctl,,tm"), ["ctl", "sl", "tm"]);
        assert!(parse_module_list(" , ").is_empty());
    }

    #[test]
    fn an_install_on_an_up_to_date_tree_appends_to_the_build_log() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("kmemdbg-build.log");
        let new_log = |append| Log {
            path: path.clone(),
            file: None,
            pending: Vec::new(),
            append,
        };
        let mut log = new_log(false);
        writeln!(log, "CC (gcc) [kamailio] core/action.o").unwrap();
        log.start().unwrap();
        drop(log);
        let mut log = new_log(true);
        writeln!(log, "kmemdbg: up to date").unwrap();
        log.start().unwrap();
        writeln!(log, "install").unwrap();
        drop(log);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "CC (gcc) [kamailio] core/action.o\nkmemdbg: up to date\ninstall\n"
        );
        let mut log = new_log(false);
        log.start().unwrap();
        drop(log);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "",
            "a new build starts a new log"
        );
    }

    #[test]
    fn failure_message_has_location_hint_and_log() {
        let f = BuildFailed {
            command: "make -C src -j2 all".into(),
            exit_code: Some(2),
            log: PathBuf::from("/t/kmemdbg-build.log"),
            first_error: Some(FirstError {
                file: Some("core/action.c".into()),
                line: Some(12),
                message: "expected ';'".into(),
                log_line: 40,
                hint: None,
            }),
        };
        let text = f.to_string();
        assert!(
            text.contains("first error: core/action.c:12: expected ';'"),
            "{text}"
        );
        assert!(text.contains("whole log: /t/kmemdbg-build.log"), "{text}");
    }
}
