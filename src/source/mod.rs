//! What a Kamailio source tree is made of: where `Makefile.defs` sits (top
//! level up to 4.x, `src/` from 5.0), the version it declares
//! (`VERSION`/`PATCHLEVEL`/`SUBLEVEL`), the saved make configuration
//! (`config.mak`, `modules.lst`, `Makefile.vars`), the CMake files of 6.x
//! (`CMakeLists.txt` + `cmake/defs.cmake`) and configured CMake build
//! directories (`CMakeCache.txt` whose `CMAKE_HOME_DIRECTORY` is the tree).
//!
//! This module only reads: it never writes a file and never runs a
//! program. [`locate`] finds paths without parsing anything (so `--revert`
//! works even on a damaged tree); [`detect`] also reads and parses the
//! files. The parsers ([`makefile`], [`cmake`]) are pure.

pub mod cmake;
pub mod makefile;

use crate::fsx;
use crate::probe::Version;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How a tree is built: `make cfg` + `make all` (3.x - 6.x) or
/// `cmake -B build` + `cmake --build build` (6.x). The one enum for it:
/// recipes (`patch`) name it, `build` runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildSystem {
    Make,
    Cmake,
}

impl BuildSystem {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildSystem::Make => "make",
            BuildSystem::Cmake => "cmake",
        }
    }
}

/// Product names of the Kamailio family, as `MAIN_NAME`/`FLAVOUR` spell them.
pub const PRODUCTS: [&str; 4] = ["kamailio", "ser", "openser", "sip-router"];

/// Where the files are. Paths are relative to `root` unless absolute (a
/// build directory given outside the tree).
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub root: PathBuf,
    /// `Makefile.defs` or `src/Makefile.defs`.
    pub defs: Option<PathBuf>,
    /// `CMakeLists.txt` and `cmake/defs.cmake`, when both exist.
    pub cmake_lists: Option<PathBuf>,
    pub cmake_defs: Option<PathBuf>,
    /// Configured CMake build directories of this tree.
    pub build_dirs: Vec<PathBuf>,
    pub notes: Vec<String>,
}

impl Layout {
    /// Absolute path of a path from this layout.
    pub fn abs(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }
    /// The directory make runs in for the core (`.` up to 4.x, `src` from 5.0).
    pub fn make_dir(&self) -> Option<PathBuf> {
        self.defs
            .as_ref()
            .map(|d| d.parent().map(Path::to_path_buf).unwrap_or_default())
    }
    /// The saved `make cfg` output next to Makefile.defs (may not exist).
    pub fn config_mak(&self) -> Option<PathBuf> {
        self.make_dir().map(|d| d.join("config.mak"))
    }
    pub fn modules_lst(&self) -> Option<PathBuf> {
        self.make_dir().map(|d| d.join("modules.lst"))
    }
    /// `Makefile.vars`, which Makefile.defs includes before its defaults.
    pub fn vars(&self) -> Option<PathBuf> {
        self.make_dir().map(|d| d.join("Makefile.vars"))
    }
    /// Every file a conversion may change (existing or not), for `--revert`.
    pub fn candidates(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        v.extend(self.defs.clone());
        v.extend(self.vars());
        v.extend(self.config_mak());
        v.extend(self.cmake_defs.clone());
        for b in &self.build_dirs {
            v.push(b.join("CMakeCache.txt"));
        }
        v
    }
}

/// The make side of a tree, read.
#[derive(Debug, Clone, Serialize)]
pub struct MakeSide {
    pub defs: PathBuf,
    pub version: Option<String>,
    pub products: Vec<String>,
    /// Existing saved configuration.
    pub config_mak: Option<PathBuf>,
    pub modules_lst: Option<PathBuf>,
    pub vars: Option<PathBuf>,
    /// True when the core was built already (an object file next to the defs).
    pub built: bool,
}

/// The CMake side of a tree, read.
#[derive(Debug, Clone, Serialize)]
pub struct CMakeSide {
    pub lists: PathBuf,
    pub defs: PathBuf,
    pub project: String,
    pub version: Option<String>,
    /// The `option(...)` names `cmake/defs.cmake` declares.
    pub options: Vec<String>,
    pub build_dirs: Vec<PathBuf>,
}

/// A detected tree.
#[derive(Debug, Clone, Serialize)]
pub struct Tree {
    pub layout: Layout,
    /// `kamailio`, `ser`, `openser`, `sip-router`.
    pub product: String,
    pub version: Option<Version>,
    /// Which file the version came from.
    pub version_from: Option<PathBuf>,
    pub make: Option<MakeSide>,
    pub cmake: Option<CMakeSide>,
    pub notes: Vec<String>,
}

impl Tree {
    pub fn root(&self) -> &Path {
        &self.layout.root
    }
    /// A one-line description: "kamailio 5.6.3 (src/Makefile.defs, CMake)".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = &self.make {
            parts.push(m.defs.display().to_string());
        }
        if let Some(c) = &self.cmake {
            parts.push(format!("{} + {}", c.lists.display(), c.defs.display()));
        }
        format!(
            "{} {} ({})",
            self.product,
            self.version
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "of unknown version".into()),
            parts.join(", ")
        )
    }
}

/// Finds the files of the tree at `dir` without parsing them.
/// `extra_build_dirs` are CMake build directories outside the usual places.
pub fn locate(dir: &Path, extra_build_dirs: &[PathBuf]) -> Result<Layout> {
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("{}: cannot open the source directory", dir.display()))?;
    if !meta.is_dir() {
        bail!(
            "{}: is not a directory (give --source the top directory of a Kamailio source tree)",
            dir.display()
        );
    }
    let given = dir
        .canonicalize()
        .with_context(|| format!("{}: cannot resolve the path", dir.display()))?;
    let mut notes = Vec::new();
    // `--source kamailio-5.6.3/src` (where make runs in 5.x+) means the tree above it.
    let root = match tree_above_src(&given) {
        Some(parent) => {
            notes.push(format!(
                "{} is the src/ directory of the tree {}: using the tree",
                given.display(),
                parent.display()
            ));
            parent
        }
        None => given,
    };
    let top = Path::new("Makefile.defs");
    let src = Path::new("src/Makefile.defs");
    let defs = match (root.join(src).exists(), root.join(top).exists()) {
        (true, true) => {
            notes.push("both Makefile.defs and src/Makefile.defs exist; using src/Makefile.defs (the 5.x layout)".into());
            Some(src.to_path_buf())
        }
        (true, false) => Some(src.to_path_buf()),
        (false, true) => Some(top.to_path_buf()),
        (false, false) => None,
    };
    let (lists, cdefs) = (Path::new("CMakeLists.txt"), Path::new("cmake/defs.cmake"));
    let has_cmake = root.join(lists).is_file() && root.join(cdefs).is_file();
    let mut build_dirs = Vec::new();
    if has_cmake {
        build_dirs = find_build_dirs(&root);
    }
    for extra in extra_build_dirs {
        let abs = if extra.is_absolute() {
            extra.clone()
        } else {
            std::env::current_dir()?.join(extra)
        };
        let cache = abs.join("CMakeCache.txt");
        if !cache.is_file() && !fsx::backup_path(&cache).is_file() {
            bail!(
                "{}: no CMakeCache.txt here (given with --build-dir): not a configured CMake build directory",
                extra.display()
            );
        }
        let abs = abs.canonicalize().unwrap_or(abs);
        let rel = abs
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .unwrap_or(abs);
        if !build_dirs.contains(&rel) {
            build_dirs.push(rel);
        }
    }
    Ok(Layout {
        root,
        defs,
        cmake_lists: has_cmake.then(|| lists.to_path_buf()),
        cmake_defs: has_cmake.then(|| cdefs.to_path_buf()),
        build_dirs,
        notes,
    })
}

/// The top of the 5.x+ tree whose `src/` directory `dir` is: `dir` is named
/// `src` and holds `Makefile.defs`, and its parent has no `Makefile.defs`
/// of its own (the 3.x/4.x layout keeps it at the top).
fn tree_above_src(dir: &Path) -> Option<PathBuf> {
    let parent = dir.parent()?;
    (dir.file_name().is_some_and(|n| n == "src")
        && dir.join("Makefile.defs").is_file()
        && !parent.join("Makefile.defs").is_file())
    .then(|| parent.to_path_buf())
}

/// Build directories of `root`: `root` itself and directories up to two
/// levels below it holding a CMakeCache.txt (or its kmemdbg backup) that was
/// configured for `root`. Hidden directories and symlinks are skipped.
fn find_build_dirs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut check = |dir: &Path| {
        let cache = dir.join("CMakeCache.txt");
        let text = std::fs::read(&cache)
            .or_else(|_| std::fs::read(fsx::backup_path(&cache)))
            .ok();
        if let Some(bytes) = text {
            let home = cmake::cache_home(&String::from_utf8_lossy(&bytes));
            let same = home
                .map(PathBuf::from)
                .and_then(|h| h.canonicalize().ok())
                .is_some_and(|h| h == root);
            if same {
                found.push(
                    dir.strip_prefix(root)
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                );
            }
        }
    };
    check(root);
    let subdirs = |dir: &Path| -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    for d1 in subdirs(root) {
        check(&d1);
        for d2 in subdirs(&d1) {
            check(&d2);
        }
    }
    found
}

/// Finds and reads the tree at `dir`: [`locate`], then the version, the
/// product and the CMake options. Errors name the file (and line) at fault.
pub fn detect(dir: &Path, extra_build_dirs: &[PathBuf]) -> Result<Tree> {
    let layout = locate(dir, extra_build_dirs)?;
    if layout.defs.is_none() && layout.cmake_lists.is_none() {
        bail!(
            "{}: not a Kamailio source tree: found none of Makefile.defs, src/Makefile.defs, \
             CMakeLists.txt with cmake/defs.cmake (give --source the directory with Kamailio's top-level Makefile)",
            layout.root.display()
        );
    }
    let mut notes = layout.notes.clone();
    let mut make = None;
    let mut product = None;
    if let Some(defs) = &layout.defs {
        let path = layout.abs(defs);
        let text = fsx::read_text(&path)?;
        let label = defs.display().to_string();
        let mk = makefile::parse(&label, &text)?;
        let products = makefile::product_names(&mk);
        let known = products.iter().find(|p| PRODUCTS.contains(&p.as_str()));
        let Some(known) = known else {
            bail!(
                "{}: not a Kamailio source tree: {label} names no Kamailio/SER/OpenSER product \
                 (no MAIN_NAME or FLAVOUR of {})",
                layout.root.display(),
                PRODUCTS.join(", ")
            );
        };
        product = Some(known.clone());
        let exists = |p: Option<PathBuf>| p.filter(|p| layout.abs(p).exists());
        let make_dir = layout.make_dir().unwrap_or_default();
        make = Some(MakeSide {
            defs: defs.clone(),
            version: makefile::version_of(&mk),
            products,
            config_mak: exists(layout.config_mak()),
            modules_lst: exists(layout.modules_lst()),
            vars: exists(layout.vars()),
            built: layout.abs(&make_dir.join("main.o")).exists(),
        });
    }
    let mut cmake_side = None;
    if let (Some(lists), Some(cdefs)) = (&layout.cmake_lists, &layout.cmake_defs) {
        let lists_text = fsx::read_text(&layout.abs(lists))?;
        let defs_text = fsx::read_text(&layout.abs(cdefs))?;
        match cmake::project(&lists_text) {
            Some((name, version)) if name.eq_ignore_ascii_case("kamailio") => {
                product.get_or_insert_with(|| "kamailio".to_string());
                cmake_side = Some(CMakeSide {
                    lists: lists.clone(),
                    defs: cdefs.clone(),
                    project: name,
                    version,
                    options: cmake::options(&defs_text)
                        .into_iter()
                        .map(|o| o.name)
                        .collect(),
                    build_dirs: layout.build_dirs.clone(),
                });
            }
            other => {
                let what = other
                    .map(|(n, _)| format!("project({n})"))
                    .unwrap_or_else(|| "no project()".into());
                if make.is_none() {
                    bail!(
                        "{}: not a Kamailio source tree: CMakeLists.txt declares {what}, not project(kamailio)",
                        layout.root.display()
                    );
                }
                notes.push(format!(
                    "CMakeLists.txt declares {what}, not kamailio: CMake files ignored"
                ));
            }
        }
    }
    // The version: Makefile.defs first (6.0.1's CMakeLists.txt still says 6.0.0).
    let mut version = None;
    let mut version_from = None;
    if let Some(m) = &make {
        if let Some(v) = m.version.as_deref().and_then(Version::parse) {
            version = Some(v);
            version_from = Some(m.defs.clone());
        }
    }
    if let Some(c) = &cmake_side {
        if let Some(cv) = c.version.as_deref().and_then(Version::parse) {
            match &version {
                None => {
                    version = Some(cv);
                    version_from = Some(c.lists.clone());
                }
                Some(v) if (v.major, v.minor, v.patch) != (cv.major, cv.minor, cv.patch) => {
                    notes.push(format!(
                        "{} says {cv}, {} says {v}; using {v}",
                        c.lists.display(),
                        version_from
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(Tree {
        layout,
        product: product.unwrap_or_else(|| "kamailio".into()),
        version,
        version_from,
        make,
        cmake: cmake_side,
        notes,
    })
}
