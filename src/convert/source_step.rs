//! The source side of `convert --source DIR`: patch the tree for a
//! memory-debug build ([`crate::patch`]), build it ([`crate::build`], with
//! `--modules`), install it, and undo the patch for `revert --source`.
//!
//! A thin adapter: every decision and every write is the patch and build
//! modules' own (through `fsx` and `runner`). It never touches the service,
//! the cfg or a running proxy, and never prints (progress goes to the
//! caller's event callback).

use super::{Built, SourceSteps};
use crate::build::{self, Event, Observer, Selection, Status};
use crate::{patch, source};
use anyhow::{bail, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The real patch/build/install steps. `prefix`: where `make install`
/// puts the build (configured at the build step, so one build serves both);
/// `None` keeps the tree's own prefix.
#[derive(Debug, Clone, Default)]
pub struct Real {
    pub prefix: Option<PathBuf>,
}

/// What the source tree still needs, read without changing anything.
#[derive(Debug, Clone)]
pub struct SourceState {
    /// The patch would change files (one line per change).
    pub patch_pending: Vec<String>,
    /// Already patched: the tree's name for its generation(s).
    pub generations: Vec<String>,
    /// Options the patched build needs at run time (`-x qm`).
    pub runtime_options: Vec<String>,
}

/// Reads the tree at `dir` and plans the patch; writes nothing.
pub fn inspect(dir: &Path) -> Result<SourceState> {
    let tree = source::detect(dir, &[])?;
    let plan = patch::plan(&tree, &patch::Options::default())?;
    Ok(SourceState {
        patch_pending: plan
            .changes()
            .flat_map(|c| {
                if c.notes.is_empty() {
                    vec![c.path.display().to_string()]
                } else {
                    c.notes.clone()
                }
            })
            .collect(),
        generations: plan.generations.iter().map(|g| g.name.clone()).collect(),
        runtime_options: plan.runtime_options.clone(),
    })
}

/// Forwards build events as lines; compile progress at most every 15 s.
struct Lines<'a> {
    events: &'a mut dyn FnMut(&str),
    last: Instant,
}

impl Observer for Lines<'_> {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Step { what, command } => (self.events)(&format!("build: {what}: {command}")),
            Event::Note(t) => (self.events)(&format!("build: {t}")),
            Event::Progress { compiled, .. } => {
                if self.last.elapsed() >= Duration::from_secs(15) {
                    self.last = Instant::now();
                    (self.events)(&format!("build: {compiled} files compiled"));
                }
            }
        }
    }
}

fn run_build(
    dir: &Path,
    modules: Option<&str>,
    prefix: Option<&Path>,
    stage: Option<&Path>,
    events: &mut dyn FnMut(&str),
) -> Result<build::Outcome> {
    let selection = match modules {
        Some(list) => {
            let names = build::parse_module_list(list);
            if names.is_empty() {
                bail!("--modules {list:?}: no module names (expected e.g. --modules ctl,sl,tm)");
            }
            Selection::List(names)
        }
        None => Selection::TreeDefault,
    };
    let req = build::Request {
        source: dir.to_path_buf(),
        jobs: build::default_jobs(),
        modules: selection,
        install: stage.is_some(),
        prefix: prefix.map(Path::to_path_buf),
        stage: stage.map(Path::to_path_buf),
        log: None,
    };
    let mut obs = Lines {
        events,
        last: Instant::now(),
    };
    let out = build::run(&req, &mut obs)?;
    if out.status == Status::NotConverted {
        bail!(
            "{}: the tree is not converted ({}); the patch step did not take: run `kmemdbg patch --source {}` to see why",
            dir.display(),
            out.reason.as_deref().unwrap_or("no memory-debug define"),
            dir.display()
        );
    }
    if !out.ready() {
        bail!(
            "built {} but it lacks memory debugging ({}); log: {}",
            out.binary.display(),
            out.verdict
                .as_ref()
                .map(|v| v.summary.clone())
                .unwrap_or_else(|| "no verdict".into()),
            out.log.display()
        );
    }
    Ok(out)
}

impl SourceSteps for Real {
    fn patch(&self, dir: &Path) -> Result<bool> {
        let tree = source::detect(dir, &[])?;
        let plan = patch::plan(&tree, &patch::Options::default())?;
        if plan.already_converted() {
            return Ok(false);
        }
        patch::apply(&plan)?;
        Ok(true)
    }

    fn build(
        &self,
        dir: &Path,
        modules: Option<&str>,
        events: &mut dyn FnMut(&str),
    ) -> Result<Built> {
        let out = run_build(dir, modules, self.prefix.as_deref(), None, events)?;
        Ok(Built {
            binary: out.binary,
            modules_dir: out.modules_dir,
            compiled: out.status == Status::Built,
        })
    }

    fn install(
        &self,
        dir: &Path,
        modules: Option<&str>,
        events: &mut dyn FnMut(&str),
    ) -> Result<PathBuf> {
        // Staged: nothing lands in the prefix before the whole install is
        // made, and every file put there is listed for `revert --source`.
        let stage = tempfile::Builder::new()
            .prefix("kmemdbg-stage-")
            .tempdir()
            .map_err(anyhow::Error::from)
            .and_then(|d| {
                std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755))?;
                Ok(d)
            })?;
        let out = run_build(
            dir,
            modules,
            self.prefix.as_deref(),
            Some(stage.path()),
            events,
        )?;
        match out.installed {
            Some(b) => Ok(b),
            None => bail!("the build of {} installed nothing", dir.display()),
        }
    }

    fn uninstall(&self, dir: &Path) -> Result<Vec<String>> {
        build::uninstall(dir)
    }

    fn revert(&self, dir: &Path) -> Result<bool> {
        let layout = source::locate(dir, &[])?;
        let rp = patch::plan_revert(&layout)?;
        let written = patch::apply_revert(&rp)?;
        Ok(!written.is_empty())
    }
}
