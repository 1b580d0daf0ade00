//! Source conversion: rewrite a Kamailio source tree so that it builds with
//! memory debugging, generation by generation, and undo it.
//!
//! The flow is [`plan`] (pure decisions on the files read by
//! `source::detect`: which recipes apply, the new text of every file, the
//! steps the build and the run must take next), then [`apply`] (every
//! write through `fsx`: checked first for all files, then atomic, backup of
//! the first original, rolled back if a later write fails). [`plan_revert`]
//! and [`apply_revert`] put the first originals back byte for byte.
//!
//! This module never runs a program (no `make cfg`, no `cmake`): it tells
//! the build step what to run in [`Plan::next_steps`]. The recipes are data
//! (`patches/*.toml`, see [`recipe`]); the rewriting rules live in
//! [`engine`] and are pure.

pub mod engine;
pub mod recipe;

use crate::fsx;
use crate::source::BuildSystem;
use crate::source::{Layout, Tree};
use anyhow::{bail, Context, Result};
use recipe::Recipe;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What the caller chose.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Force one recipe by name (`--generation`), skipping version matching.
    pub generation: Option<String>,
}

/// What a file is to the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// `Makefile.defs`
    Defs,
    /// `Makefile.vars` (included by Makefile.defs before its defaults)
    Vars,
    /// `config.mak`, the saved `make cfg` result
    ConfigMak,
    /// `cmake/defs.cmake`
    CmakeDefs,
    /// a build directory's `CMakeCache.txt`
    CmakeCache,
}

/// One file the plan looked at, and what it would become.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    /// Relative to the tree's root (absolute for a build dir outside it).
    pub path: PathBuf,
    pub role: Role,
    /// The recipe that produced it (empty for a revert).
    pub generation: String,
    pub changed: bool,
    /// One line per change, `file:line: old -> new`.
    pub notes: Vec<String>,
    /// Unified diff, empty when unchanged.
    pub diff: String,
    #[serde(skip)]
    pub old: String,
    #[serde(skip)]
    pub new: String,
}

impl FileChange {
    fn new(path: PathBuf, role: Role, generation: &str, old: String, edit: engine::Edit) -> Self {
        let changed = old != edit.text;
        let diff = if changed {
            fsx::unified_diff(&path, &old, &edit.text)
        } else {
            String::new()
        };
        FileChange {
            path,
            role,
            generation: generation.to_string(),
            changed,
            notes: edit.notes,
            diff,
            old,
            new: edit.text,
        }
    }
}

/// A recipe that applies to the tree.
#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    pub name: String,
    pub title: String,
    pub build: BuildSystem,
}

/// When a next step happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Building the converted tree.
    Build,
    /// Checking the built binary.
    Check,
    /// Running it.
    Run,
}

/// Something the build step (or the operator) must do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextStep {
    pub phase: Phase,
    /// The build system the step belongs to (a 6.x tree can be built with either).
    pub build: Option<BuildSystem>,
    /// A command to run in the tree's root, when there is one.
    pub command: Option<String>,
    pub why: String,
}

/// What `patch` would do to a tree.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub root: PathBuf,
    #[serde(skip)]
    pub tree: Tree,
    pub generations: Vec<Generation>,
    /// The flag `kamailio -V` lists once the build is converted.
    pub debug_flag: String,
    pub files: Vec<FileChange>,
    pub next_steps: Vec<NextStep>,
    /// Options kamailio needs at run time (`["-x", "qm"]` for DBG_SR_MEMORY).
    pub runtime_options: Vec<String>,
    pub notes: Vec<String>,
}

impl Plan {
    /// The files that would change.
    pub fn changes(&self) -> impl Iterator<Item = &FileChange> {
        self.files.iter().filter(|f| f.changed)
    }
    /// True when nothing needs to change ("already converted").
    pub fn already_converted(&self) -> bool {
        self.changes().next().is_none()
    }
    /// The whole unified diff.
    pub fn diff(&self) -> String {
        self.changes().map(|f| f.diff.as_str()).collect()
    }
}

/// Chooses the recipes for `tree`.
fn select(tree: &Tree, opts: &Options, recipes: Vec<Recipe>) -> Result<(Vec<Recipe>, Vec<String>)> {
    let root = tree.root().display().to_string();
    let known: Vec<String> = recipes
        .iter()
        .map(|r| format!("{} ({})", r.name, r.versions.text))
        .collect();
    let fits = |r: &Recipe| match r.build {
        BuildSystem::Make => tree
            .make
            .as_ref()
            .is_some_and(|m| Some(m.defs.as_path()) == r.defs.as_deref().map(Path::new)),
        BuildSystem::Cmake => tree.cmake.is_some(),
    };
    if let Some(name) = &opts.generation {
        let Some(r) = recipes.into_iter().find(|r| &r.name == name) else {
            bail!(
                "--generation {name}: no such generation; known: {}",
                known.join(", ")
            );
        };
        if !fits(&r) {
            let needs = match r.build {
                BuildSystem::Make => r.defs.clone().unwrap_or_default(),
                BuildSystem::Cmake => "CMakeLists.txt with cmake/defs.cmake".into(),
            };
            bail!(
                "--generation {name} converts {needs}, which {root} does not have (found: {})",
                tree.describe()
            );
        }
        return Ok((vec![r], Vec::new()));
    }
    let Some(version) = &tree.version else {
        bail!(
            "{root}: cannot tell the Kamailio version (no VERSION/PATCHLEVEL/SUBLEVEL in Makefile.defs, \
             no project(... VERSION) in CMakeLists.txt); pass --generation NAME (known: {})",
            known.join(", ")
        );
    };
    let mut notes = Vec::new();
    let mut chosen = Vec::new();
    for r in recipes {
        if fits(&r) && r.versions.contains(version) {
            chosen.push(r);
        }
    }
    if chosen.is_empty() {
        bail!(
            "{root}: found {}, but no recipe covers it. Known generations: {}. If this tree's build \
             files look like one of them, pass --generation NAME (nothing was changed)",
            tree.describe(),
            known.join(", ")
        );
    }
    if tree.cmake.is_some() && !chosen.iter().any(|r| r.build == BuildSystem::Cmake) {
        notes.push(format!(
            "CMake files found, but no CMake recipe covers version {version}: they were left alone"
        ));
    }
    Ok((chosen, notes))
}

fn read(tree: &Tree, rel: &Path) -> Result<String> {
    fsx::read_text(&tree.layout.abs(rel))
}

/// Decides everything: which recipes, the new text of each file, the next
/// steps. Reads files; writes nothing. Any file that does not fit the
/// recipe makes the whole plan an error (naming `file:line`).
pub fn plan(tree: &Tree, opts: &Options) -> Result<Plan> {
    let (recipes, mut notes) = select(tree, opts, recipe::all()?)?;
    notes.extend(tree.notes.iter().cloned());
    let mut files = Vec::new();
    let mut steps = Vec::new();
    let mut run_steps = Vec::new();
    for r in &recipes {
        match r.build {
            BuildSystem::Make => {
                let m = tree.make.as_ref().context("no make side")?;
                let label = |p: &Path| p.display().to_string();
                let old = read(tree, &m.defs)?;
                let e = engine::convert_defs(&label(&m.defs), &old, r)?;
                files.push(FileChange::new(m.defs.clone(), Role::Defs, &r.name, old, e));
                if let Some(v) = &m.vars {
                    let old = read(tree, v)?;
                    let e = engine::convert_vars(&label(v), &old, r)?;
                    files.push(FileChange::new(v.clone(), Role::Vars, &r.name, old, e));
                }
                if let Some(c) = &m.config_mak {
                    let old = read(tree, c)?;
                    let e = engine::convert_config_mak(&label(c), &old, r)?;
                    files.push(FileChange::new(c.clone(), Role::ConfigMak, &r.name, old, e));
                }
                steps.extend(make_steps(tree, r));
            }
            BuildSystem::Cmake => {
                let c = tree.cmake.as_ref().context("no cmake side")?;
                let (option, note) =
                    engine::cmake_option_for(r, tree.version.as_ref(), &c.options)?;
                notes.extend(note);
                let old = read(tree, &c.defs)?;
                let e = engine::convert_cmake_defs(&c.defs.display().to_string(), &old, &option)?;
                files.push(FileChange::new(
                    c.defs.clone(),
                    Role::CmakeDefs,
                    &r.name,
                    old,
                    e,
                ));
                for b in &c.build_dirs {
                    let cache = b.join("CMakeCache.txt");
                    if !tree.layout.abs(&cache).exists() {
                        continue;
                    }
                    let old = read(tree, &cache)?;
                    let e =
                        engine::convert_cmake_cache(&cache.display().to_string(), &old, &option)?;
                    if !crate::source::cmake::cache_entries(&old)
                        .iter()
                        .any(|x| x.name == option)
                    {
                        notes.push(format!(
                            "{}: no {option} entry; the next configure takes the default from {}",
                            cache.display(),
                            c.defs.display()
                        ));
                    }
                    files.push(FileChange::new(cache, Role::CmakeCache, &r.name, old, e));
                }
                steps.extend(cmake_steps(c, &option, r));
            }
        }
        let run = NextStep {
            phase: Phase::Run,
            build: None,
            command: (!r.runtime_options.is_empty())
                .then(|| format!("kamailio {} ...", r.runtime_options.join(" "))),
            why: r.runtime_note.clone(),
        };
        if !run_steps.contains(&run) {
            run_steps.push(run);
        }
    }
    steps.extend(run_steps);
    let first = &recipes[0];
    Ok(Plan {
        root: tree.root().to_path_buf(),
        tree: tree.clone(),
        generations: recipes
            .iter()
            .map(|r| Generation {
                name: r.name.clone(),
                title: r.title.clone(),
                build: r.build,
            })
            .collect(),
        debug_flag: first.debug_flag.clone(),
        files,
        next_steps: steps,
        runtime_options: first.runtime_options.clone(),
        notes,
    })
}

fn make_steps(tree: &Tree, r: &Recipe) -> Vec<NextStep> {
    let Some(m) = &tree.make else {
        return Vec::new();
    };
    let dir = m
        .defs
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| format!("{}/", p.display()))
        .unwrap_or_default();
    let mut v = Vec::new();
    if m.config_mak.is_none() {
        v.push(NextStep {
            phase: Phase::Build,
            build: Some(BuildSystem::Make),
            command: Some("make cfg".into()),
            why: format!(
                "saves the new defines in {dir}config.mak, which later make runs reuse (add the \
                 options you build with, e.g. include_modules=\"...\")"
            ),
        });
    }
    if m.built {
        v.push(NextStep {
            phase: Phase::Build,
        build: Some(BuildSystem::Make),
            command: Some("make clean".into()),
            why: "objects compiled before carry the old allocator defines: every one must be recompiled"
                .into(),
        });
    }
    v.push(NextStep {
        phase: Phase::Build,
        build: Some(BuildSystem::Make),
        command: Some("make all".into()),
        why: if m.config_mak.is_some() {
            format!("builds with the defines now cached in {dir}config.mak (kmemdbg updated it; a `make cfg` again must repeat the options you used the first time)")
        } else {
            "builds the core and modules with memory debugging".into()
        },
    });
    if !r.set.is_empty() {
        let vars: Vec<String> = r
            .set
            .iter()
            .map(|s| format!("{}={}", s.variable, s.value))
            .collect();
        let names: Vec<&str> = r.set.iter().map(|s| s.variable.as_str()).collect();
        v.push(NextStep {
            phase: Phase::Build,
            build: Some(BuildSystem::Make),
            command: None,
            why: format!(
                "give no other value of {} (the files now say {}), and no DEFS_RM or extra_defs that \
                 drop {}, on the make command line or in the environment: those win over the files",
                names.join(" or "),
                vars.join(", "),
                r.defines().present.join(" ")
            ),
        });
    }
    let binary = match (dir.as_str(), tree.product.as_str()) {
        ("", "sip-router") => "./ser".to_string(),
        ("", p) => format!("./{p}"),
        (d, _) => format!("{d}kamailio"),
    };
    v.push(NextStep {
        phase: Phase::Check,
        build: Some(BuildSystem::Make),
        command: Some(format!("kmemdbg verify --binary {binary} --memdebug")),
        why: format!("the new binary's -V must list {}", r.debug_flag),
    });
    v
}

fn cmake_steps(c: &crate::source::CMakeSide, option: &str, r: &Recipe) -> Vec<NextStep> {
    let mut v = Vec::new();
    let dirs: Vec<String> = if c.build_dirs.is_empty() {
        v.push(NextStep {
            phase: Phase::Build,
            build: Some(BuildSystem::Cmake),
            command: Some(format!("cmake -S . -B build -D{option}=ON")),
            why: format!("configures a build directory with {option} on"),
        });
        vec!["build".into()]
    } else {
        c.build_dirs
            .iter()
            .map(|b| {
                let d = if b.as_os_str().is_empty() {
                    ".".to_string()
                } else {
                    b.display().to_string()
                };
                v.push(NextStep {
                    phase: Phase::Build,
                    build: Some(BuildSystem::Cmake),
                    command: Some(format!("cmake -S . -B {d}")),
                    why: format!("reconfigures {d}: its CMakeCache.txt now says {option}=ON"),
                });
                d
            })
            .collect()
    };
    for d in &dirs {
        v.push(NextStep {
            phase: Phase::Build,
            build: Some(BuildSystem::Cmake),
            command: Some(format!("cmake --build {d}")),
            why: "rebuilds everything with DBG_SR_MEMORY".into(),
        });
        v.push(NextStep {
            phase: Phase::Check,
            build: Some(BuildSystem::Cmake),
            command: Some(format!(
                "kmemdbg verify --binary {d}/src/kamailio --memdebug"
            )),
            why: format!("the new binary's -V must list {}", r.debug_flag),
        });
    }
    v
}

/// Writes every changed file of `plan`: first checks that each is still as
/// read and writable (else nothing is written), then replaces them one by
/// one (atomic, first original kept). If a write fails, the files already
/// written get their previous text back. Returns the paths written.
pub fn apply(plan: &Plan) -> Result<Vec<PathBuf>> {
    let changes: Vec<&FileChange> = plan.changes().collect();
    for c in &changes {
        let abs = plan.root.join(&c.path);
        let now = fsx::read(&abs)?;
        if now != c.old.as_bytes() {
            bail!(
                "{}: changed since kmemdbg read it; run again (nothing was changed)",
                c.path.display()
            );
        }
        fsx::check_writable(&abs)?;
    }
    let mut written: Vec<&FileChange> = Vec::new();
    for c in &changes {
        let abs = plan.root.join(&c.path);
        if let Err(e) = fsx::change(&abs, c.new.as_bytes()) {
            let mut restored = Vec::new();
            for w in written.iter().rev() {
                if fsx::replace(&plan.root.join(&w.path), w.old.as_bytes()).is_ok() {
                    restored.push(w.path.display().to_string());
                }
            }
            return Err(e.context(format!(
                "{}: could not be written{}",
                c.path.display(),
                if restored.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; put back the files written before: {}",
                        restored.join(", ")
                    )
                }
            )));
        }
        written.push(c);
    }
    Ok(written.iter().map(|c| c.path.clone()).collect())
}

/// What `--revert` would restore.
#[derive(Debug, Clone, Serialize)]
pub struct RevertPlan {
    pub root: PathBuf,
    /// `old` is the current text, `new` the kept original (lossy for display).
    pub files: Vec<FileChange>,
    pub next_steps: Vec<NextStep>,
}

fn role_of(layout: &Layout, rel: &Path) -> Role {
    if Some(rel) == layout.defs.as_deref() {
        Role::Defs
    } else if Some(rel.to_path_buf()) == layout.vars() {
        Role::Vars
    } else if Some(rel.to_path_buf()) == layout.config_mak() {
        Role::ConfigMak
    } else if Some(rel) == layout.cmake_defs.as_deref() {
        Role::CmakeDefs
    } else {
        Role::CmakeCache
    }
}

/// Finds every file of the tree that has a kept original.
pub fn plan_revert(layout: &Layout) -> Result<RevertPlan> {
    let mut files = Vec::new();
    let mut next_steps = Vec::new();
    for rel in layout.candidates() {
        let abs = layout.abs(&rel);
        let backup = fsx::backup_path(&abs);
        let role = role_of(layout, &rel);
        if !backup.exists() {
            // Written after the conversion: it may still hold the debug settings.
            if abs.exists()
                && role == Role::ConfigMak
                && layout
                    .candidates()
                    .iter()
                    .any(|c| fsx::backup_path(&layout.abs(c)).exists())
            {
                next_steps.push(NextStep {
                    phase: Phase::Build,
                    build: Some(BuildSystem::Make),
                    command: Some("make cfg".into()),
                    why: format!(
                        "{} was written after the conversion and still caches its defines",
                        rel.display()
                    ),
                });
            }
            if abs.exists()
                && role == Role::CmakeCache
                && layout
                    .cmake_defs
                    .as_ref()
                    .is_some_and(|d| fsx::backup_path(&layout.abs(d)).exists())
            {
                next_steps.push(NextStep {
                    phase: Phase::Build,
                    build: Some(BuildSystem::Cmake),
                    command: None,
                    why: format!(
                        "{} was configured after the conversion and keeps the memory-debug option on: \
                         reconfigure it with the option OFF, or remove that build directory",
                        rel.display()
                    ),
                });
            }
            continue;
        }
        let old = String::from_utf8_lossy(&std::fs::read(&abs).unwrap_or_default()).into_owned();
        let new = String::from_utf8_lossy(&fsx::read(&backup)?).into_owned();
        let e = engine::Edit {
            text: new,
            notes: vec![format!(
                "{}: restored from {}",
                rel.display(),
                backup.display()
            )],
        };
        files.push(FileChange::new(rel, role, "", old, e));
    }
    Ok(RevertPlan {
        root: layout.root.clone(),
        files,
        next_steps,
    })
}

/// Puts every kept original back (byte for byte) and removes the backups.
/// Checks first that every file can be written, so either all are
/// restored or none is.
pub fn apply_revert(rp: &RevertPlan) -> Result<Vec<PathBuf>> {
    for f in &rp.files {
        let abs = rp.root.join(&f.path);
        if abs.exists() {
            fsx::check_writable(&abs)?;
        }
    }
    let mut done = Vec::new();
    for f in &rp.files {
        fsx::revert(&rp.root.join(&f.path))?;
        done.push(f.path.clone());
    }
    Ok(done)
}
