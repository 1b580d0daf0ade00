//! The cfg step of `convert`: what must change in kamailio.cfg so dumps are
//! printed (`memlog <= debug`), as file changes the guided restart writes
//! (and puts back when the restart fails).
//!
//! [`CfgFixer`] is the seam to the cfg module (issue 5, `kmemdbg cfg`),
//! which owns the preprocessor-aware editing. Until it is merged,
//! [`Interim`] does the narrow, common case and refuses the rest: it asks
//! kamailio itself (`--cfg-print`, which resolves `#!ifdef` and includes)
//! for the effective `debug`, and edits a single top-level `memlog=` line.
//! It never edits a file it is unsure about; it says "use kmemdbg cfg".

use crate::runner;
use crate::service::journal::FileChange;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The cfg changes and what to tell the operator.
#[derive(Debug, Clone, Default)]
pub struct CfgPlan {
    pub changes: Vec<FileChange>,
    /// One line per change or finding (`kamailio.cfg:171: memlog 5 -> 2 ...`).
    pub notes: Vec<String>,
}

/// Plans the cfg edits that make memory dumps visible.
pub trait CfgFixer {
    /// `defines` are the `-A` names of the command line that will run.
    fn plan(&self, cfg: &Path, defines: &[String], binary: &Path) -> Result<CfgPlan>;
}

/// The narrow stand-in used until the cfg module lands (see the module doc).
pub struct Interim;

/// Effective values of a preprocessed cfg (`kamailio --cfg-print` output).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effective {
    pub debug: Option<i64>,
    pub memlog: Option<i64>,
    pub memdbg: Option<i64>,
    pub modules: Vec<String>,
}

/// Reads `--cfg-print` output: surviving `#!define`s, the last `debug=`,
/// `memlog=`, `memdbg=` and the loaded modules. Pure.
pub fn effective(printed: &str) -> Effective {
    let mut defines: BTreeMap<String, String> = BTreeMap::new();
    let mut e = Effective::default();
    let value = |v: &str, defines: &BTreeMap<String, String>| -> Option<i64> {
        let v = v.split('#').next()?.trim().trim_end_matches(';').trim();
        v.parse()
            .ok()
            .or_else(|| defines.get(v).and_then(|d| d.trim().parse().ok()))
    };
    for line in printed.lines() {
        let t = line.trim();
        if let Some(rest) = t
            .strip_prefix("#!define ")
            .or_else(|| t.strip_prefix("#!redefine "))
            .or_else(|| t.strip_prefix("#!trydef "))
        {
            let mut parts = rest.trim().splitn(2, char::is_whitespace);
            if let Some(name) = parts.next() {
                let val = parts.next().unwrap_or("").trim().to_string();
                if t.starts_with("#!trydef") && defines.contains_key(name) {
                    continue;
                }
                defines.insert(name.to_string(), val);
            }
            continue;
        }
        if t.starts_with('#') {
            continue;
        }
        if let Some(m) = t.strip_prefix("loadmodule") {
            let name = m.trim().trim_matches('"').trim_end_matches(".so");
            let name = name.rsplit('/').next().unwrap_or(name).trim_matches('"');
            e.modules.push(name.trim_end_matches(".so").to_string());
            continue;
        }
        if let Some((k, v)) = t.split_once('=') {
            match k.trim() {
                "debug" => e.debug = value(v, &defines).or(e.debug),
                "memlog" | "mem_log" => e.memlog = value(v, &defines).or(e.memlog),
                "memdbg" | "mem_dbg" => e.memdbg = value(v, &defines).or(e.memdbg),
                _ => {}
            }
        }
    }
    e
}

impl CfgFixer for Interim {
    fn plan(&self, cfg: &Path, defines: &[String], binary: &Path) -> Result<CfgPlan> {
        let sh = runner::shell()?;
        let mut args: Vec<String> =
            vec!["--cfg-print".into(), "-f".into(), cfg.display().to_string()];
        for d in defines {
            args.push("-A".into());
            args.push(d.clone());
        }
        let out = runner::run(
            xshell::cmd!(sh, "{binary} {args...}"),
            Duration::from_secs(30),
        )?
        .check()
        .with_context(|| {
            format!(
                "cannot read {} through {} --cfg-print",
                cfg.display(),
                binary.display()
            )
        })?;
        let eff = effective(&out.stdout_text());
        let mut plan = CfgPlan::default();
        let Some(debug) = eff.debug else {
            bail!("{}: no debug= found (or set from an unknown macro); set memlog <= debug with kmemdbg cfg", cfg.display());
        };
        for m in ["ctl", "cfg_rpc"] {
            if !eff.modules.iter().any(|x| x == m) {
                plan.notes.push(format!(
                    "{}: module {m} is not loaded: dumps cannot be asked for at run time (kmemdbg cfg adds it)",
                    cfg.display()
                ));
            }
        }
        if let Some(d) = eff.memdbg {
            if d <= debug {
                plan.notes.push(format!(
                    "{}: memdbg={d} <= debug={debug}: every allocation will be logged (flood); raise memdbg above debug",
                    cfg.display()
                ));
            }
        }
        let memlog = eff.memlog.unwrap_or(debug + 1);
        if memlog <= debug {
            plan.notes.push(format!(
                "{}: memlog={memlog} <= debug={debug}: dumps are printed already",
                cfg.display()
            ));
            return Ok(plan);
        }
        let text = crate::fsx::read_text(cfg)?;
        let re = regex::Regex::new(r"^(\s*memlog\s*=\s*)([^\s#;]+)")?;
        let hits: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| re.is_match(l))
            .map(|(i, _)| i)
            .collect();
        if hits.len() != 1 {
            bail!(
                "{}: memlog={memlog} is above debug={debug}, and {} memlog= lines are in this file: the interim cfg step only edits a single top-level line; run kmemdbg cfg --cfg {}",
                cfg.display(),
                hits.len(),
                cfg.display()
            );
        }
        let idx = hits[0];
        let mut new = String::with_capacity(text.len());
        for (i, line) in text.split_inclusive('\n').enumerate() {
            if i == idx {
                new.push_str(&re.replace(line, |c: &regex::Captures| format!("{}{debug}", &c[1])));
            } else {
                new.push_str(line);
            }
        }
        plan.notes.push(format!(
            "{}:{}: memlog {memlog} -> {debug} (debug is {debug}): memory dumps get printed",
            cfg.display(),
            idx + 1
        ));
        plan.changes.push(FileChange {
            path: cfg.to_path_buf(),
            before: Some(text.into_bytes()),
            after: Some(new.into_bytes()),
            mode: 0o644,
            why: "memlog <= debug, so dumps are printed".into(),
        });
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_default_printed() {
        // The lines of `kamailio --cfg-print -f /etc/kamailio/kamailio.cfg` (5.6.3) that matter.
        let printed = "#!KAMAILIO\n#!define DBGLEVEL 2\n#!define FLT_ACC 1\ndebug=DBGLEVEL\nlog_stderror=no\nmemdbg=5\nmemlog=5\nloadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\n";
        let e = effective(printed);
        assert_eq!(e.debug, Some(2));
        assert_eq!(e.memlog, Some(5));
        assert_eq!(e.memdbg, Some(5));
        assert_eq!(e.modules, ["ctl", "cfg_rpc"]);
    }
}
