//! The CMake build (Kamailio 6.x): configure with the memory-debug option
//! ON, `cmake --build`, `cmake --install`.
//!
//! The option is `DBG_SR_MEMORY` in 6.0.0-6.0.3 and `MEMDBG` from 6.0.4
//! (read from `cmake/defs.cmake`). A configured build directory caches it
//! (and the module group/list, the prefix) in `CMakeCache.txt`; configuring
//! again runs only when one of them differs from what is wanted, so an
//! unchanged tree stays "up to date" without a CMake run. This module
//! never edits the tree's CMake files.

use super::{Backend, BuildSystem, Config, Request, Selection, Session, Tree};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `NAME:TYPE=VALUE` entries of a `CMakeCache.txt` (pure; comments skipped).
pub fn parse_cache(text: &str) -> BTreeMap<String, (String, String)> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let l = line.trim_end();
        if l.is_empty() || l.starts_with('#') || l.starts_with("//") {
            continue;
        }
        let Some((key, value)) = l.split_once('=') else {
            continue;
        };
        let (name, ty) = key.split_once(':').unwrap_or((key, ""));
        map.insert(name.to_string(), (ty.to_string(), value.to_string()));
    }
    map
}

/// The name of the memory-debug option in this tree's `cmake/defs.cmake` (pure).
pub fn debug_option(defs_cmake: &str) -> &'static str {
    if defs_cmake.contains("option(MEMDBG") {
        "MEMDBG"
    } else {
        "DBG_SR_MEMORY"
    }
}

fn is_on(v: &str) -> bool {
    matches!(
        v.to_ascii_uppercase().as_str(),
        "ON" | "1" | "TRUE" | "YES" | "Y"
    )
}

/// The `-D` arguments configure needs to give (pure): the debug option, and
/// the module selection / prefix when they differ from the cache.
pub fn configure_defs(option: &str, selection: &Selection, prefix: Option<&str>) -> Vec<String> {
    let mut defs = vec![format!("-D{option}=ON")];
    match selection {
        Selection::TreeDefault => {}
        Selection::List(list) => {
            defs.push("-DMODULE_GROUP_NAME=".into());
            defs.push(format!("-DINCLUDE_MODULES={}", list.join(" ")));
            defs.push("-DEXCLUDE_MODULES=".into());
        }
        Selection::All => {
            defs.push("-DMODULE_GROUP_NAME=ALL".into());
            defs.push("-DINCLUDE_MODULES=".into());
            defs.push("-DEXCLUDE_MODULES=".into());
        }
    }
    if let Some(p) = prefix {
        defs.push(format!("-DCMAKE_INSTALL_PREFIX={p}"));
    }
    defs
}

pub struct CmakeBackend {
    tree: Tree,
    build: PathBuf,
    option: &'static str,
}

impl CmakeBackend {
    pub fn new(tree: Tree) -> CmakeBackend {
        let build = tree
            .build_dir
            .clone()
            .unwrap_or_else(|| tree.root.join("build"));
        let option = std::fs::read_to_string(tree.root.join("cmake/defs.cmake"))
            .map(|t| debug_option(&t))
            .unwrap_or("DBG_SR_MEMORY");
        CmakeBackend {
            tree,
            build,
            option,
        }
    }

    fn cache(&self) -> BTreeMap<String, (String, String)> {
        std::fs::read_to_string(self.build.join("CMakeCache.txt"))
            .map(|t| parse_cache(&t))
            .unwrap_or_default()
    }

    fn value(cache: &BTreeMap<String, (String, String)>, name: &str) -> String {
        cache.get(name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Modules CMake set up (each gets a directory under build/src/modules).
    fn configured_modules(&self) -> Vec<String> {
        let dir = self.build.join("src/modules");
        let mut m: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join("CMakeFiles").is_dir())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        m.sort();
        m
    }
}

impl Backend for CmakeBackend {
    fn generation(&self) -> BuildSystem {
        BuildSystem::Cmake
    }

    fn root(&self) -> &Path {
        &self.tree.root
    }

    fn stamp_dir(&self) -> PathBuf {
        self.build.clone()
    }

    fn objects_root(&self) -> PathBuf {
        self.build.clone()
    }

    fn sources(&self) -> (PathBuf, Vec<PathBuf>, Vec<PathBuf>) {
        (
            self.tree.root.clone(),
            vec![self.build.clone()],
            vec![self.build.join("CMakeCache.txt")],
        )
    }

    fn configure(&mut self, s: &mut Session<'_>, req: &Request) -> Result<bool> {
        let cache = self.cache();
        let mut reasons = Vec::new();
        if cache.is_empty() {
            reasons.push(format!("{} is not configured yet", self.build.display()));
        } else {
            if !is_on(&Self::value(&cache, self.option)) {
                reasons.push(format!("{} is not ON in the CMake cache", self.option));
            }
            let group = Self::value(&cache, "MODULE_GROUP_NAME");
            let include = Self::value(&cache, "INCLUDE_MODULES");
            match &req.modules {
                Selection::List(list) if !group.trim().is_empty() || include != list.join(" ") => {
                    reasons.push("another module list was asked for".into())
                }
                Selection::All if group != "ALL" => {
                    reasons.push("all modules were asked for".into())
                }
                _ => {}
            }
        }
        let prefix = req.prefix.as_ref().map(|p| {
            let abs = if p.is_absolute() {
                p.clone()
            } else {
                std::env::current_dir()
                    .map(|d| d.join(p))
                    .unwrap_or_else(|_| p.clone())
            };
            abs.display().to_string()
        });
        if let Some(p) = &prefix {
            if !cache.is_empty() && Self::value(&cache, "CMAKE_INSTALL_PREFIX") != *p {
                reasons.push(format!("the prefix changes to {p}"));
            }
        }
        if reasons.is_empty() {
            return Ok(false);
        }
        s.note(&format!("configuring: {}", reasons.join("; ")));
        let defs = configure_defs(self.option, &req.modules, prefix.as_deref());
        let (root, build) = (self.tree.root.clone(), self.build.clone());
        let sh = &crate::runner::shell()?;
        let cmd = xshell::cmd!(sh, "cmake -S {root} -B {build} {defs...}");
        s.step("configure (cmake, memory debugging ON)", cmd, None)?;
        Ok(true)
    }

    fn config(&mut self, _s: &mut Session<'_>) -> Result<Config> {
        let cache = self.cache();
        let mut fp = String::new();
        for (name, (ty, value)) in &cache {
            let relevant = ty == "BOOL"
                || (name.starts_with("CMAKE_C_FLAGS") && ty != "INTERNAL")
                || name == "CMAKE_C_COMPILER"
                || name == "CMAKE_BUILD_TYPE";
            if relevant {
                fp.push_str(&format!("{name}={value}\n"));
            }
        }
        let on = is_on(&Self::value(&cache, self.option));
        let main = Self::value(&cache, "MAIN_NAME");
        let main = if main.is_empty() {
            "kamailio".to_string()
        } else {
            main
        };
        Ok(Config {
            fingerprint: fp,
            memdebug_define: on.then(|| "-DDBG_SR_MEMORY".to_string()),
            modules: self.configured_modules(),
            prefix: Self::value(&cache, "CMAKE_INSTALL_PREFIX"),
            binary: self.build.join("src").join(main),
            modules_dir: self.build.join("src/modules"),
        })
    }

    fn not_converted_reason(&self, _cfg: &Config) -> String {
        format!(
            "{} is not ON in {}; configure with -D{}=ON",
            self.option,
            self.build.join("CMakeCache.txt").display(),
            self.option
        )
    }

    fn clean(&mut self, s: &mut Session<'_>) -> Result<()> {
        let build = self.build.clone();
        let sh = &crate::runner::shell()?;
        s.step(
            "clean (cmake --build --target clean)",
            xshell::cmd!(sh, "cmake --build {build} --target clean"),
            None,
        )
    }

    fn estimate(&self, _cfg: &Config, _since: Option<u128>) -> Option<usize> {
        // CMake prints its own fraction ([ 42%] or [12/345]).
        None
    }

    fn compile(&mut self, s: &mut Session<'_>, jobs: usize, estimate: Option<usize>) -> Result<()> {
        let build = self.build.clone();
        let sh = &crate::runner::shell()?;
        let j = jobs.max(1).to_string();
        s.step(
            "compile (cmake --build)",
            xshell::cmd!(sh, "cmake --build {build} -j {j}"),
            estimate,
        )
    }

    fn install(
        &mut self,
        s: &mut Session<'_>,
        cfg: &Config,
        stage: Option<&Path>,
    ) -> Result<PathBuf> {
        let build = self.build.clone();
        let sh = &crate::runner::shell()?;
        let mut cmd = xshell::cmd!(sh, "cmake --install {build}");
        if let Some(d) = stage {
            cmd = cmd.env("DESTDIR", d);
        }
        s.step("install (cmake --install)", cmd, None)?;
        let cache = self.cache();
        let sbin = Self::value(&cache, "CMAKE_INSTALL_SBINDIR");
        let sbin = if sbin.is_empty() {
            "sbin".to_string()
        } else {
            sbin
        };
        let name = cfg
            .binary
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "kamailio".into());
        Ok(PathBuf::from(&cfg.prefix).join(sbin).join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_real_cache_excerpt() {
        // Lines from a CMakeCache.txt written by `cmake -S kamailio-6.0.1 -B build` here.
        let cache = parse_cache(
            "# This is the CMakeCache file.\n//Install path prefix\nCMAKE_INSTALL_PREFIX:PATH=/usr/local\n\
             DBG_SR_MEMORY:BOOL=ON\nINCLUDE_MODULES:STRING=sl ctl\nMODULE_GROUP_NAME:STRING=\n\
             CMAKE_GENERATOR:INTERNAL=Unix Makefiles\n",
        );
        assert_eq!(cache["DBG_SR_MEMORY"], ("BOOL".into(), "ON".into()));
        assert_eq!(cache["INCLUDE_MODULES"].1, "sl ctl");
        assert_eq!(cache["MODULE_GROUP_NAME"].1, "");
        assert_eq!(cache["CMAKE_INSTALL_PREFIX"].1, "/usr/local");
    }

    #[test]
    fn option_name_by_version() {
        assert_eq!(
            debug_option("option(DBG_SR_MEMORY \"Use memory debugging system\" ON)"),
            "DBG_SR_MEMORY"
        );
        assert_eq!(
            debug_option("option(MEMDBG \"Memory debugging\" ON)"),
            "MEMDBG"
        );
    }

    #[test]
    fn configure_arguments() {
        let list = Selection::List(vec!["ctl".into(), "sl".into()]);
        assert_eq!(
            configure_defs("DBG_SR_MEMORY", &list, Some("/opt/k")),
            [
                "-DDBG_SR_MEMORY=ON",
                "-DMODULE_GROUP_NAME=",
                "-DINCLUDE_MODULES=ctl sl",
                "-DEXCLUDE_MODULES=",
                "-DCMAKE_INSTALL_PREFIX=/opt/k"
            ]
        );
        assert_eq!(
            configure_defs("MEMDBG", &Selection::TreeDefault, None),
            ["-DMEMDBG=ON"]
        );
    }
}
