//! The make build (Kamailio 3.x - 6.x): `make cfg`, `make all`, `make install`.
//!
//! `make cfg` writes `src/config.mak` (the computed `C_DEFS`) and
//! `src/modules.lst` (the module list), and a later `make` trusts them even
//! after `Makefile.defs` changed: so configuring runs whenever `config.mak`
//! is older than `Makefile.defs`/`Makefile.groups`, or another module list
//! or prefix is asked for. A module list is given as
//! `include_modules="a b" exclude_modules="<every other module>"`; the
//! default keeps what the tree has (`make cfg-defs` leaves `modules.lst`).
//! What the tree will compile with is read back from make itself
//! (`--eval` prints `C_DEFS`, `CFLAGS`, `CC`, the module list). This module
//! never edits `Makefile.defs` (that is `patch`).

use super::{memdebug_define, Backend, BuildSystem, Config, Request, Selection, Session, Tree};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// What make says the configured tree compiles with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub cc: String,
    pub cflags: String,
    pub c_defs: String,
    pub prefix: String,
    pub main_name: String,
    /// Module names (`modules/tm` -> `tm`), sorted.
    pub modules: Vec<String>,
}

/// The `--eval` rule that prints the variables [`parse_query`] reads.
pub const QUERY_RULE: &str = "kmemdbg-query: ; @: \
$(info KMEMDBG_CC=$(CC)) \
$(info KMEMDBG_CFLAGS=$(CFLAGS)) \
$(info KMEMDBG_C_DEFS=$(C_DEFS) $(DEFS)) \
$(info KMEMDBG_PREFIX=$(PREFIX)) \
$(info KMEMDBG_MAIN_NAME=$(MAIN_NAME)) \
$(info KMEMDBG_MODULES=$(cmodules))";

/// Reads the `KMEMDBG_*=` lines printed by [`QUERY_RULE`] (pure).
pub fn parse_query(text: &str) -> Query {
    let mut q = Query::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("KMEMDBG_") else {
            continue;
        };
        let Some((key, value)) = rest.split_once('=') else {
            continue;
        };
        let value = value.trim().to_string();
        match key {
            "CC" => q.cc = value,
            "CFLAGS" => q.cflags = value,
            "C_DEFS" => q.c_defs = value,
            "PREFIX" => q.prefix = value,
            "MAIN_NAME" => q.main_name = value,
            "MODULES" => {
                let mut m: Vec<String> = value
                    .split_whitespace()
                    .map(|p| {
                        p.trim_end_matches('/')
                            .rsplit('/')
                            .next()
                            .unwrap_or(p)
                            .to_string()
                    })
                    .filter(|n| !n.is_empty())
                    .collect();
                m.sort();
                m.dedup();
                q.modules = m;
            }
            _ => {}
        }
    }
    q
}

/// The arguments of the configure step (pure). `all_modules` is every
/// module directory; `have_modules_lst` tells whether the tree already has
/// a module list to keep.
pub fn cfg_args(
    selection: &Selection,
    all_modules: &[String],
    have_modules_lst: bool,
    prefix: Option<&str>,
) -> Vec<String> {
    let mut args = Vec::new();
    match selection {
        Selection::TreeDefault if have_modules_lst => args.push("cfg-defs".to_string()),
        Selection::TreeDefault => args.push("cfg".to_string()),
        Selection::List(list) => {
            let others: Vec<&str> = all_modules
                .iter()
                .filter(|m| !list.contains(m))
                .map(String::as_str)
                .collect();
            args.push("cfg".to_string());
            args.push(format!("include_modules={}", list.join(" ")));
            args.push(format!("exclude_modules={}", others.join(" ")));
        }
        Selection::All => {
            args.push("cfg".to_string());
            args.push("include_modules=".to_string());
            args.push("exclude_modules=".to_string());
        }
    }
    if let Some(p) = prefix.filter(|p| !p.is_empty()) {
        args.push(format!("PREFIX={p}"));
    }
    args
}

/// The `MEMDBG ?= 0` (or similar) line of `Makefile.defs`, with its number (pure).
pub fn memdbg_off_line(makefile_defs: &str) -> Option<(usize, String)> {
    makefile_defs.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim();
        let (name, value) = t.split_once('=')?;
        let name = name.trim_end_matches(['?', ':', '+']).trim();
        (matches!(name, "MEMDBG") && value.trim() == "0").then(|| (i + 1, t.to_string()))
    })
}

pub struct MakeBackend {
    tree: Tree,
    query: Option<Query>,
}

impl MakeBackend {
    pub fn new(tree: Tree) -> MakeBackend {
        MakeBackend { tree, query: None }
    }

    fn src(&self) -> &Path {
        &self.tree.src
    }

    fn run_query(&mut self, s: &mut Session<'_>) -> Result<Query> {
        if let Some(q) = &self.query {
            return Ok(q.clone());
        }
        let src = self.tree.src.clone();
        let sh = &crate::runner::shell()?;
        let rule = format!("--eval={QUERY_RULE}");
        let text = s.query(xshell::cmd!(
            sh,
            "make -C {src} -s --no-print-directory {rule} kmemdbg-query"
        ))?;
        let q = parse_query(&text);
        self.query = Some(q.clone());
        Ok(q)
    }

    /// `config.mak` and `modules.lst` exist and are newer than what makes them.
    fn configuration_fresh(&self) -> bool {
        let mtime = |name: &str| {
            std::fs::metadata(self.src().join(name))
                .and_then(|m| m.modified())
                .ok()
        };
        let (Some(cfg), Some(_lst)) = (mtime("config.mak"), mtime("modules.lst")) else {
            return false;
        };
        ["Makefile.defs", "Makefile.groups"]
            .iter()
            .all(|dep| mtime(dep).map_or(true, |d| d <= cfg))
    }
}

/// `--prefix` as the absolute path make must get.
fn prefix_arg(req: &Request) -> Option<String> {
    req.prefix.as_ref().map(|p| {
        let abs = if p.is_absolute() {
            p.clone()
        } else {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.clone())
        };
        abs.display().to_string().trim_end_matches('/').to_string()
    })
}

impl Backend for MakeBackend {
    fn generation(&self) -> BuildSystem {
        BuildSystem::Make
    }

    fn root(&self) -> &Path {
        &self.tree.root
    }

    fn stamp_dir(&self) -> PathBuf {
        self.tree.src.clone()
    }

    fn objects_root(&self) -> PathBuf {
        self.tree.src.clone()
    }

    fn sources(&self) -> (PathBuf, Vec<PathBuf>, Vec<PathBuf>) {
        (self.tree.src.clone(), Vec::new(), Vec::new())
    }

    fn configure(&mut self, s: &mut Session<'_>, req: &Request) -> Result<bool> {
        let all = self.tree.module_names();
        let fresh = self.configuration_fresh();
        let current = if fresh {
            Some(self.run_query(s)?)
        } else {
            None
        };
        let wanted_prefix = prefix_arg(req);
        let mut reasons = Vec::new();
        if !fresh {
            reasons.push("config.mak is missing or older than Makefile.defs".to_string());
        }
        if let Some(q) = &current {
            match &req.modules {
                Selection::List(list) if &q.modules != list => {
                    reasons.push("another module list was asked for".into())
                }
                Selection::All if q.modules != all => {
                    reasons.push("all modules were asked for".into())
                }
                _ => {}
            }
            if let Some(p) = &wanted_prefix {
                if p != &q.prefix {
                    reasons.push(format!("the prefix changes from {} to {p}", q.prefix));
                }
            }
        }
        if reasons.is_empty() {
            return Ok(false);
        }
        // Keep the prefix the tree was configured with unless told otherwise.
        let prefix = wanted_prefix.or_else(|| {
            let q = current.as_ref().map(|q| q.prefix.clone());
            q.or_else(|| saved_prefix(&self.tree.src.join("config.mak")))
        });
        let have_lst = self.tree.src.join("modules.lst").is_file();
        let args = cfg_args(&req.modules, &all, have_lst, prefix.as_deref());
        s.note(&format!("configuring: {}", reasons.join("; ")));
        let src = self.tree.src.clone();
        let sh = &crate::runner::shell()?;
        let cmd = xshell::cmd!(sh, "make -C {src} {args...}");
        s.step(
            "configure (make cfg: writes config.mak and modules.lst)",
            cmd,
            None,
        )?;
        self.query = None;
        Ok(true)
    }

    fn config(&mut self, s: &mut Session<'_>) -> Result<Config> {
        let q = self.run_query(s)?;
        let main = if q.main_name.is_empty() {
            "kamailio".to_string()
        } else {
            q.main_name.clone()
        };
        Ok(Config {
            fingerprint: format!("CC={}\nCFLAGS={}\nC_DEFS={}", q.cc, q.cflags, q.c_defs),
            memdebug_define: memdebug_define(&q.c_defs),
            modules: q.modules.clone(),
            prefix: q.prefix.clone(),
            binary: self.tree.src.join(main),
            modules_dir: self.tree.modules_dir(),
        })
    }

    fn not_converted_reason(&self, _cfg: &Config) -> String {
        let defs = self.tree.src.join("Makefile.defs");
        let where_ = match std::fs::read_to_string(&defs)
            .ok()
            .and_then(|t| memdbg_off_line(&t))
        {
            Some((n, line)) => format!("{}:{n}: `{line}`", defs.display()),
            None => format!("{}", self.tree.src.join("config.mak").display()),
        };
        format!(
            "the configured defines carry none of -DDBG_SR_MEMORY, -DDBG_QM_MALLOC, -DDBG_F_MALLOC ({where_}); \
             convert the tree first: kmemdbg patch --source {}",
            self.tree.root.display()
        )
    }

    fn clean(&mut self, s: &mut Session<'_>) -> Result<()> {
        let src = self.tree.src.clone();
        let sh = &crate::runner::shell()?;
        s.step(
            "clean (make clean)",
            xshell::cmd!(sh, "make -C {src} clean"),
            None,
        )
    }

    fn estimate(&self, cfg: &Config, incremental_since: Option<u128>) -> Option<usize> {
        let mut dirs: Vec<PathBuf> = vec![self.tree.src.join("core")];
        dirs.extend(cfg.modules.iter().map(|m| self.tree.modules_dir().join(m)));
        let mut count = 0usize;
        let mut consider = |c: &Path| {
            let needs = match incremental_since {
                None => true,
                Some(_) => {
                    let o = c.with_extension("o");
                    match (std::fs::metadata(c), std::fs::metadata(&o)) {
                        (Ok(cm), Ok(om)) => {
                            super::stamp::mtime_ns(&om) < super::stamp::mtime_ns(&cm)
                        }
                        _ => true,
                    }
                }
            };
            if needs {
                count += 1;
            }
        };
        if let Ok(rd) = std::fs::read_dir(&self.tree.src) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "c") {
                    consider(&e.path());
                }
            }
        }
        for d in dirs {
            super::stamp::walk(&d, &[], &mut |p, name, _| {
                if name.ends_with(".c") {
                    consider(p)
                }
            });
        }
        Some(count)
    }

    fn compile(&mut self, s: &mut Session<'_>, jobs: usize, estimate: Option<usize>) -> Result<()> {
        let src = self.tree.src.clone();
        let sh = &crate::runner::shell()?;
        let j = format!("-j{}", jobs.max(1));
        s.step(
            "compile (make all)",
            xshell::cmd!(sh, "make -C {src} {j} all"),
            estimate,
        )
    }

    fn install(
        &mut self,
        s: &mut Session<'_>,
        cfg: &Config,
        stage: Option<&Path>,
    ) -> Result<PathBuf> {
        let src = self.tree.src.clone();
        let sh = &crate::runner::shell()?;
        // BASEDIR moves every install path under the stage (as packagers do).
        let basedir: Vec<String> = stage
            .map(|d| format!("BASEDIR={}", d.display()))
            .into_iter()
            .collect();
        s.step(
            "install (make install)",
            xshell::cmd!(sh, "make -C {src} install {basedir...}"),
            None,
        )?;
        let name = cfg
            .binary
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "kamailio".into());
        Ok(PathBuf::from(&cfg.prefix).join("sbin").join(name))
    }
}

/// The `PREFIX=` a previous `make cfg` saved in `config.mak`.
fn saved_prefix(config_mak: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config_mak).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PREFIX="))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && !v.contains("$("))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_query_output() {
        let q = parse_query(
            "KMEMDBG_CC=gcc\nKMEMDBG_CFLAGS=-g -O2\nKMEMDBG_C_DEFS=-DNAME='\"kamailio\"' -DDBG_SR_MEMORY \n\
             KMEMDBG_PREFIX=/usr/local\nKMEMDBG_MAIN_NAME=kamailio\nKMEMDBG_MODULES= modules/tm modules/sl  modules/ctl/\nnoise\n",
        );
        assert_eq!(q.cc, "gcc");
        assert_eq!(q.c_defs, "-DNAME='\"kamailio\"' -DDBG_SR_MEMORY");
        assert_eq!(q.modules, ["ctl", "sl", "tm"]);
        assert_eq!(q.prefix, "/usr/local");
    }

    #[test]
    fn cfg_arguments_for_each_selection() {
        let all: Vec<String> = ["ctl", "sl", "tm", "xlog"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let list = Selection::List(vec!["sl".into(), "tm".into()]);
        assert_eq!(
            cfg_args(&list, &all, true, Some("/opt/k")),
            [
                "cfg",
                "include_modules=sl tm",
                "exclude_modules=ctl xlog",
                "PREFIX=/opt/k"
            ]
        );
        assert_eq!(
            cfg_args(&Selection::TreeDefault, &all, true, None),
            ["cfg-defs"]
        );
        assert_eq!(
            cfg_args(&Selection::TreeDefault, &all, false, None),
            ["cfg"]
        );
        assert_eq!(
            cfg_args(&Selection::All, &all, true, None),
            ["cfg", "include_modules=", "exclude_modules="]
        );
    }

    #[test]
    fn names_the_memdbg_line() {
        let defs = "# comment\nMEMMNG ?= 0\nMEMDBG ?= 0\nifeq ($(MEMDBG), 1)\n";
        assert_eq!(memdbg_off_line(defs), Some((3, "MEMDBG ?= 0".to_string())));
        assert_eq!(memdbg_off_line("MEMDBG ?= 1\n"), None);
    }
}
