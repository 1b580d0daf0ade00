//! Which build system a Kamailio source tree uses, and where its parts are.
//!
//! Only what `build` needs, on top of [`crate::source::detect`]: the make
//! tree (`src/Makefile.defs`, or `Makefile.defs` at the top for 3.x/4.x) or
//! the CMake tree (6.x) and its build directory. It reads and never writes.

use crate::source::{self, BuildSystem};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// A located source tree.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The top of the tree (what holds `src/`, or `Makefile.defs` for 3.x/4.x).
    pub root: PathBuf,
    /// Where make runs (`root/src` for 5.x+, `root` before); for CMake the
    /// directory that holds `modules/`.
    pub src: PathBuf,
    pub generation: BuildSystem,
    /// CMake's build directory (`root/build`).
    pub build_dir: Option<PathBuf>,
}

impl Tree {
    /// The directory of module sources (`src/modules`).
    pub fn modules_dir(&self) -> PathBuf {
        self.src.join("modules")
    }

    /// Names of every module directory the tree has, sorted.
    pub fn module_names(&self) -> Vec<String> {
        let marker = match self.generation {
            BuildSystem::Make => "Makefile",
            BuildSystem::Cmake => "CMakeLists.txt",
        };
        let mut names: Vec<String> = std::fs::read_dir(self.modules_dir())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join(marker).is_file())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Finds the tree at `dir` (its top or its `src/`: [`crate::source::detect`]
/// decides both) and picks the build system: a 6.x tree has
/// both make files and CMake files, and CMake is used unless the tree was
/// already configured with make (`src/config.mak` exists). The CMake build
/// directory is the configured one (`build/` preferred), else `build/`.
pub fn detect(dir: &Path) -> Result<Tree> {
    if !dir.is_dir() {
        bail!("{}: no such directory (given with --source)", dir.display());
    }
    let found = source::detect(dir, &[])?;
    let root = found.root().to_path_buf();
    let make_dir = found
        .make
        .as_ref()
        .map(|m| root.join(m.defs.parent().unwrap_or(Path::new(""))));
    let make_configured = make_dir
        .as_ref()
        .is_some_and(|d| d.join("config.mak").is_file());
    if let Some(cm) = &found.cmake {
        if !make_configured || make_dir.is_none() {
            let build = cm
                .build_dirs
                .iter()
                .find(|b| b.as_path() == Path::new("build"))
                .or_else(|| cm.build_dirs.iter().find(|b| !b.as_os_str().is_empty()))
                .map(|b| root.join(b))
                .unwrap_or_else(|| root.join("build"));
            return Ok(Tree {
                src: root.join("src"),
                root,
                generation: BuildSystem::Cmake,
                build_dir: Some(build),
            });
        }
    }
    match make_dir {
        Some(src) => Ok(Tree {
            root,
            src,
            generation: BuildSystem::Make,
            build_dir: None,
        }),
        None => bail!(
            "{}: a CMake tree without make files, but its CMake side was not recognised",
            root.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn make_tree_from_top_or_src() {
        let d = tempfile::tempdir().unwrap();
        touch(
            &d.path().join("src/Makefile.defs"),
            "MAIN_NAME=kamailio\nMEMDBG ?= 1\n",
        );
        touch(&d.path().join("src/modules/sl/Makefile"), "");
        touch(&d.path().join("src/modules/notamodule.txt"), "");
        for dir in [d.path().to_path_buf(), d.path().join("src")] {
            let t = detect(&dir).unwrap();
            assert_eq!(t.generation, BuildSystem::Make);
            assert_eq!(t.root, d.path().canonicalize().unwrap());
            assert_eq!(t.src, t.root.join("src"));
            assert_eq!(t.module_names(), ["sl"]);
        }
    }

    #[test]
    fn cmake_unless_configured_with_make() {
        let d = tempfile::tempdir().unwrap();
        touch(&d.path().join("src/Makefile.defs"), "MAIN_NAME=kamailio\n");
        touch(
            &d.path().join("CMakeLists.txt"),
            "project(\n  kamailio\n  VERSION 6.0.0)\n",
        );
        touch(
            &d.path().join("cmake/defs.cmake"),
            "option(DBG_SR_MEMORY \"x\" ON)\n",
        );
        let t = detect(d.path()).unwrap();
        assert_eq!(t.generation, BuildSystem::Cmake);
        assert_eq!(t.build_dir, Some(t.root.join("build")));
        touch(&d.path().join("src/config.mak"), "");
        assert_eq!(detect(d.path()).unwrap().generation, BuildSystem::Make);
    }

    #[test]
    fn not_a_tree_says_what_to_pass() {
        let d = tempfile::tempdir().unwrap();
        let err = detect(d.path()).unwrap_err().to_string();
        assert!(err.contains("not a Kamailio source tree"), "{err}");
        let err = detect(&d.path().join("nope")).unwrap_err().to_string();
        assert!(err.contains("no such directory"), "{err}");
    }
}
