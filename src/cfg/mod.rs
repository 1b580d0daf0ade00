//! Making memory dumps visible in `kamailio.cfg`: read the effective
//! `debug` / `memlog` / `memdbg` / `mem_summary` (preprocessor-aware), plan
//! the smallest edit that gives `memlog <= debug`, `memdbg > debug`, the
//! summaries the analysis needs and the `ctl` + `cfg_rpc` modules, have
//! `kamailio -c` accept it, then write it through [`crate::fsx`].
//!
//! The library API other steps (`convert`, restart) call:
//! [`plan`] -> [`Plan`] (changes, diff, `changed()`), [`apply`] (check +
//! atomic write + backup), [`revert`], and [`live::apply_live`] for a
//! running proxy. [`reader`], [`policy`] and [`edit`] are pure; only
//! [`check`] runs kamailio and only [`apply`] / [`revert`] write, and only
//! through `fsx`. Nothing here prints.

pub mod argv;
pub mod check;
pub mod edit;
pub mod live;
pub mod policy;
pub mod reader;

pub use edit::{ChangeKind, DebugOverride};
pub use policy::Goals;
pub use reader::{Define, Param, Value};

use crate::{fsx, probe};
use anyhow::{anyhow, bail, Context, Result};
use reader::{Config, Loaded, Loader};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to do, beyond "make dumps visible".
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--define` plus the service's `-A` defines.
    pub defines: Vec<Define>,
    pub goals: Goals,
    /// The kamailio that checks the result (`--binary`; default: found on PATH).
    pub binary: Option<PathBuf>,
    /// `-d` / `--debug=N` on the service's command line.
    pub debug_override: Option<DebugOverride>,
}

/// The file system as the reader sees it.
struct FsLoader;

impl Loader for FsLoader {
    fn load(&mut self, path: &Path) -> Loaded {
        match std::fs::read(path) {
            Ok(t) => Loaded::Text(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded::NotFound,
            Err(e) if path.is_dir() => Loaded::Failed(format!("is a directory ({e})")),
            Err(e) => Loaded::Failed(format!(
                "{e}{}",
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    " (run as the file's owner or root)"
                } else {
                    ""
                }
            )),
        }
    }
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// One parameter's effective value and where it comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Effective {
    pub param: Param,
    pub value: Value,
    /// `kamailio.cfg:171`, or `None` when Kamailio's default applies.
    pub set_at: Option<String>,
    /// The value as written there (`DBGLEVEL`).
    pub written: Option<String>,
    /// Macros it went through, with where each is defined.
    pub via: Vec<String>,
}

/// One change, ready to print: `kamailio.cfg:171: memlog 5 -> 2 (debug is 2 via DBGLEVEL)`.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    pub file: PathBuf,
    pub line: usize,
    pub kind: ChangeKind,
    pub subject: String,
    pub from: Option<String>,
    pub to: String,
    pub why: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub text: String,
}

/// One file the plan changes.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: PathBuf,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
    pub edits: Vec<edit::RawEdit>,
}

/// Everything [`plan`] found and decided; nothing written yet.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub cfg: PathBuf,
    pub binary: Option<PathBuf>,
    pub kamailio_version: Option<String>,
    pub defines: Vec<Define>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug_override: Option<String>,
    pub before: Vec<Effective>,
    pub after: Vec<Effective>,
    pub changes: Vec<ChangeReport>,
    /// What was already right.
    pub kept: Vec<String>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub files: Vec<FileChange>,
    #[serde(skip)]
    edges: Vec<check::Edge>,
    #[serde(skip)]
    binary_error: Option<String>,
}

impl Plan {
    /// True when some file would change.
    pub fn changed(&self) -> bool {
        !self.files.is_empty()
    }
    /// Unified diff of every file that would change.
    pub fn diff(&self) -> String {
        self.files
            .iter()
            .map(|f| {
                fsx::unified_diff(
                    Path::new(&display_path(&self.cfg, &f.path)),
                    &String::from_utf8_lossy(&f.old),
                    &String::from_utf8_lossy(&f.new),
                )
            })
            .collect()
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub changed: bool,
    pub written: Vec<PathBuf>,
    pub backups: Vec<PathBuf>,
    pub check: Option<check::CheckReport>,
}

/// Reads `path` (and its includes) and plans the edit.
pub fn plan(path: &Path, opts: &Options) -> Result<Plan> {
    // `path` as given; the reader normalizes it (`./k.cfg` -> `k.cfg`).
    let (binary, version, binary_error) = match probe::find_binary(opts.binary.as_deref()) {
        Ok(b) => match probe::run_probe(&b, probe::PROBE_TIMEOUT) {
            Ok(info) => (Some(b), Some(info.version), None),
            Err(e) => {
                if opts.binary.is_some() {
                    return Err(e);
                }
                (Some(b), None, None)
            }
        },
        Err(e) if opts.binary.is_some() => return Err(e),
        Err(e) => (None, None, Some(format!("{e:#}"))),
    };
    let vtuple = version.as_ref().map(|v| (v.major, v.minor, v.patch));
    let cfg = reader::read(path, &opts.defines, vtuple, &mut FsLoader)?;
    let mut warnings = cfg.warnings.clone();
    if vtuple.is_none() && cfg.files.iter().any(|f| contains(&f.text, b"KAMAILIO_")) {
        warnings.push("the kamailio version is unknown here, so #!ifdef KAMAILIO_x branches count as undefined; pass --binary".into());
    }
    let over = opts.debug_override.as_ref();
    let edited = edit::plan_edits(&cfg, &opts.goals, over)?;
    warnings.extend(edited.warnings.iter().cloned());
    let after_cfg = if edited.files.is_empty() {
        None
    } else {
        let after = edit::reread(&cfg, &edited, &opts.defines, vtuple)
            .context("internal: the edited config does not read back; nothing was written")?;
        edit::verify(&cfg, &after, &opts.goals, over)?;
        Some(after)
    };
    let main = cfg.files[0].path.clone();
    let show = |p: &Path| display_path(&main, p);
    let mut kept = edited.kept.clone();
    let present: Vec<String> = ["ctl", "cfg_rpc"]
        .iter()
        .filter_map(|m| {
            let lm = cfg.has_module(m)?;
            Some(format!(
                "{m} ({}:{})",
                show(cfg.path(lm.keyword.file)),
                lm.line
            ))
        })
        .collect();
    if !present.is_empty() {
        kept.push(format!("loaded for run-time dumps: {}", present.join(", ")));
    }
    let changes = edited
        .changes
        .iter()
        .map(|c| {
            let file = cfg.path(c.file).to_path_buf();
            let what = match &c.from {
                Some(from) => format!("{} {from} -> {}", c.subject, c.to),
                None if c.kind == ChangeKind::Module => c.to.clone(),
                None => format!("{} (not set) -> {}", c.subject, c.to),
            };
            ChangeReport {
                text: format!("{}:{}: {what} ({})", show(&file), c.line, c.why),
                file,
                line: c.line,
                kind: c.kind,
                subject: c.subject.clone(),
                from: c.from.clone(),
                to: c.to.clone(),
                why: c.why.clone(),
                warning: c.warning.clone(),
            }
        })
        .collect();
    let mut files: Vec<FileChange> = edited
        .files
        .iter()
        .map(|f| FileChange {
            path: cfg.path(f.file).to_path_buf(),
            old: cfg.files[f.file].text.to_vec(),
            new: f.new_text.clone(),
            edits: f.edits.clone(),
        })
        .collect();
    // Included files first, the main cfg last.
    files.sort_by_key(|f| f.path == main);
    let edges = cfg
        .includes
        .iter()
        .filter_map(|inc| {
            let target = inc.target?;
            Some(check::Edge {
                from: cfg.path(inc.from).to_path_buf(),
                from_text: cfg.files[inc.from].text.to_vec(),
                arg: (inc.arg.start, inc.arg.end),
                target: cfg.path(target).to_path_buf(),
            })
        })
        .collect();
    Ok(Plan {
        cfg: main.clone(),
        binary,
        kamailio_version: version.map(|v| v.to_string()),
        defines: opts.defines.clone(),
        debug_override: over.map(|o| format!("debug {} via {}", o.value, o.how)),
        before: effective(&cfg, &main),
        after: effective(after_cfg.as_ref().unwrap_or(&cfg), &main),
        changes,
        kept,
        warnings,
        files,
        edges,
        binary_error,
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `kamailio.cfg` for the main file, `inc/mem.cfg` for one under its
/// directory, the full path otherwise.
pub fn display_path(main: &Path, p: &Path) -> String {
    let dir = main.parent().unwrap_or(Path::new(""));
    if dir.as_os_str().is_empty() {
        return p.display().to_string();
    }
    match p.strip_prefix(dir) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => p.display().to_string(),
    }
}

fn effective(cfg: &Config, main: &Path) -> Vec<Effective> {
    Param::ALL
        .iter()
        .map(|&p| match cfg.in_effect(p) {
            Some(s) => Effective {
                param: p,
                value: s.value.clone(),
                set_at: Some(format!(
                    "{}:{}",
                    display_path(main, cfg.path(s.keyword.file)),
                    s.line
                )),
                written: Some(s.written.clone()),
                via: s
                    .via
                    .iter()
                    .map(|m| {
                        let at = match &m.origin {
                            reader::Origin::File { file, line } => {
                                format!("{}:{line}", display_path(main, cfg.path(*file)))
                            }
                            other => cfg.origin(other),
                        };
                        format!("{} ({at})", m.name)
                    })
                    .collect(),
            },
            None => Effective {
                param: p,
                value: p.default_value(),
                set_at: None,
                written: None,
                via: Vec::new(),
            },
        })
        .collect()
}

/// Checks the plan with `kamailio -c`, then writes every changed file
/// (atomic, mode and owner kept, first original backed up). Nothing is
/// written when the check fails, a file changed since [`plan`] read it, or
/// a file is read-only.
pub fn apply(plan: &Plan) -> Result<Applied> {
    if !plan.changed() {
        return Ok(Applied {
            changed: false,
            written: Vec::new(),
            backups: Vec::new(),
            check: None,
        });
    }
    for f in &plan.files {
        let now = fsx::read(&f.path)?;
        if now != f.old {
            bail!(
                "{} changed since kmemdbg read it; nothing was written: run kmemdbg cfg again",
                f.path.display()
            );
        }
    }
    for f in &plan.files {
        fsx::check_writable(&f.path)?;
    }
    let binary = plan.binary.as_ref().ok_or_else(|| {
        anyhow!(
            "{}; kmemdbg checks every edit with `kamailio -c` before writing, so nothing was written",
            plan.binary_error.as_deref().unwrap_or("no kamailio binary")
        )
    })?;
    let inputs: Vec<check::FileInput> = plan
        .files
        .iter()
        .map(|f| check::FileInput {
            path: f.path.clone(),
            old: f.old.clone(),
            edits: f.edits.clone(),
        })
        .collect();
    let report = check::check_candidate(binary, &plan.cfg, &inputs, &plan.edges, &plan.defines)?;
    if !report.ok {
        let mut msg = format!(
            "`kamailio -c` rejected the edited config, so nothing was replaced.\n  check: {}\n  kamailio said:\n{}",
            report.command,
            tail(&report.output, 15)
        );
        if let Ok(now) = check::check_current(binary, &plan.cfg, &plan.defines) {
            if !now.ok {
                msg.push_str(&format!(
                    "\n  note: the config as it is now fails the same check ({}): fix that first",
                    now.command
                ));
            }
        }
        bail!(msg);
    }
    let mut written = Vec::new();
    let mut backups = Vec::new();
    for f in &plan.files {
        fsx::change(&f.path, &f.new).with_context(|| {
            if written.is_empty() {
                "nothing was written".to_string()
            } else {
                format!(
                    "already written: {}; `kmemdbg cfg --cfg {} --revert` restores them",
                    written
                        .iter()
                        .map(|p: &PathBuf| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    plan.cfg.display()
                )
            }
        })?;
        written.push(f.path.clone());
        backups.push(fsx::backup_path(&f.path));
    }
    Ok(Applied {
        changed: true,
        written,
        backups,
        check: Some(report),
    })
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One file `revert` looked at.
#[derive(Debug, Clone, Serialize)]
pub struct Reverted {
    pub file: PathBuf,
    pub restored: bool,
}

/// Puts back the first original of the cfg and of every file it includes
/// (with `defines`), byte for byte.
pub fn revert(path: &Path, defines: &[Define]) -> Result<Vec<Reverted>> {
    let mut files = vec![path.to_path_buf()];
    if let Ok(cfg) = reader::read(path, defines, None, &mut FsLoader) {
        files.extend(cfg.files.iter().skip(1).map(|f| f.path.clone()));
    } else if !path.exists() && !fsx::backup_path(path).exists() {
        bail!("{}: no such file and no backup to restore", path.display());
    }
    let mut out = Vec::new();
    for f in files {
        let r = fsx::revert(&f)?;
        out.push(Reverted {
            file: f,
            restored: r == fsx::Reverted::Restored,
        });
    }
    Ok(out)
}
