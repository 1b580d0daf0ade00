//! Kamailio's own verdict on an edited cfg: `kamailio -c -f CANDIDATE`.
//!
//! Each edited file is written as a scratch candidate in its own directory
//! (so relative includes resolve exactly as for the real file); files that
//! include an edited file get a candidate too, with that one include
//! pointed at the other candidate. The check runs from `/`, like the
//! service, with the same `-A` defines. Candidates are removed afterwards.
//! This module never replaces a user's file; see `fsx::change`.

use super::edit::{apply_edits, RawEdit};
use super::reader::{Define, MAX_INCLUDE_FNAME};
use crate::{fsx, runner};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `kamailio -c` may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// One file of the plan: its path, original bytes and edits.
#[derive(Debug, Clone)]
pub struct FileInput {
    pub path: PathBuf,
    pub old: Vec<u8>,
    pub edits: Vec<RawEdit>,
}

/// An include edge: `from` includes `target` through the quoted argument at
/// `arg` (byte range in `from`'s original text).
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: PathBuf,
    pub from_text: Vec<u8>,
    pub arg: (usize, usize),
    pub target: PathBuf,
}

/// What `kamailio -c` said.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    /// The command as run (with the real file names).
    pub command: String,
    /// Its output, candidate names replaced by the real ones.
    pub output: String,
}

/// Runs `binary -c` on the planned result of `main` without touching it.
pub fn check_candidate(
    binary: &Path,
    main: &Path,
    changed: &[FileInput],
    edges: &[Edge],
    defines: &[Define],
) -> Result<CheckReport> {
    // Files that need a candidate: the edited ones and every file on an
    // include path from the main cfg to one of them.
    let mut need: BTreeSet<PathBuf> = changed.iter().map(|f| f.path.clone()).collect();
    loop {
        let before = need.len();
        for e in edges {
            if need.contains(&e.target) {
                need.insert(e.from.clone());
            }
        }
        if need.len() == before {
            break;
        }
    }
    need.insert(main.to_path_buf());

    // Reserve a candidate name per file first, so includes can point at them.
    let mut scratch: BTreeMap<PathBuf, fsx::Scratch> = BTreeMap::new();
    for p in &need {
        scratch.insert(p.clone(), fsx::scratch_beside(p, b"")?);
    }
    let mut contents: BTreeMap<PathBuf, (Vec<u8>, Vec<RawEdit>)> = BTreeMap::new();
    for f in changed {
        contents.insert(f.path.clone(), (f.old.clone(), f.edits.clone()));
    }
    for e in edges {
        if !need.contains(&e.target) || !need.contains(&e.from) {
            continue;
        }
        let entry = contents
            .entry(e.from.clone())
            .or_insert_with(|| (e.from_text.clone(), Vec::new()));
        let cand = &scratch[&e.target];
        let arg = include_arg(&e.from_text[e.arg.0..e.arg.1], cand.path())?;
        entry.1.push(RawEdit {
            start: e.arg.0,
            end: e.arg.1,
            text: arg,
            seq: usize::MAX,
        });
    }
    for p in &need {
        let bytes = match contents.get(p) {
            Some((old, edits)) => apply_edits(old, edits)?.0,
            None => fsx::read(p)?,
        };
        let s = &scratch[p];
        fsx::replace(s.path(), &bytes)
            .with_context(|| format!("cannot write the candidate for {}", p.display()))?;
    }
    let cand_main = absolute(scratch[main].path())?;
    let out = run_check(binary, &cand_main, defines)?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    for (real, s) in &scratch {
        let cand = s.path().display().to_string();
        let abs = absolute(s.path())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let real = real.display().to_string();
        if !abs.is_empty() {
            text = text.replace(&abs, &real);
        }
        text = text.replace(&cand, &real);
        if let Some(name) = s.path().file_name().and_then(|n| n.to_str()) {
            text = text.replace(name, &real);
        }
    }
    Ok(CheckReport {
        ok: out.success(),
        command: command_line(binary, main, defines),
        output: text,
    })
}

/// Runs `binary -c` on the file as it is now (to tell "our edit broke it"
/// from "it was broken already").
pub fn check_current(binary: &Path, main: &Path, defines: &[Define]) -> Result<CheckReport> {
    let out = run_check(binary, &absolute(main)?, defines)?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(CheckReport {
        ok: out.success(),
        command: command_line(binary, main, defines),
        output: text,
    })
}

fn run_check(binary: &Path, cfg: &Path, defines: &[Define]) -> Result<runner::Output> {
    let sh = runner::shell()?;
    // The service runs from `/`: relative includes resolve as they would there.
    sh.change_dir("/");
    let mut args: Vec<String> = Vec::new();
    for d in defines {
        args.push("-A".into());
        args.push(d.as_arg());
    }
    runner::run(
        xshell::cmd!(sh, "{binary} -c -f {cfg} {args...}"),
        CHECK_TIMEOUT,
    )
    .with_context(|| {
        format!(
            "cannot run {} -c to check the edited config",
            binary.display()
        )
    })
}

fn command_line(binary: &Path, main: &Path, defines: &[Define]) -> String {
    let mut s = format!("{} -c -f {}", binary.display(), main.display());
    for d in defines {
        s.push_str(&format!(" -A {}", d.as_arg()));
    }
    s
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("cannot read the current directory")?
        .join(p))
}

/// The include argument that names `candidate` in place of `old_arg`
/// (`"sub/mem.cfg"` -> `"sub/.kmemdbg-check-1-2.cfg"`), within Kamailio's
/// length limit.
fn include_arg(old_arg: &[u8], candidate: &Path) -> Result<Vec<u8>> {
    let inner = old_arg
        .strip_prefix(b"\"")
        .and_then(|a| a.strip_suffix(b"\""))
        .unwrap_or(old_arg);
    let inner = String::from_utf8_lossy(inner);
    let name = candidate
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let dir = match inner.rfind('/') {
        Some(i) => &inner[..=i],
        None => "",
    };
    let arg = format!("\"{dir}{name}\"");
    if arg.len() >= MAX_INCLUDE_FNAME {
        bail!(
            "cannot check the edit: the include argument {arg} would exceed Kamailio's {} characters",
            MAX_INCLUDE_FNAME - 1
        );
    }
    Ok(arg.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_args_keep_their_directory() {
        let c = Path::new("/etc/k/sub/.kmemdbg-check-1-a.cfg");
        assert_eq!(
            include_arg(b"\"sub/mem.cfg\"", c).unwrap(),
            b"\"sub/.kmemdbg-check-1-a.cfg\""
        );
        assert_eq!(
            include_arg(b"\"/etc/k/sub/mem.cfg\"", c).unwrap(),
            b"\"/etc/k/sub/.kmemdbg-check-1-a.cfg\""
        );
        assert_eq!(
            include_arg(b"\"mem.cfg\"", c).unwrap(),
            b"\".kmemdbg-check-1-a.cfg\""
        );
    }
}
