//! Applies a set of file changes and can undo exactly them: the journal of
//! one guided restart (cfg, options file, drop-in, init script, argv record).
//!
//! Every write goes through [`crate::fsx`]. Undo restores the bytes each
//! file had *before this run* (not the first original, which may be older):
//! when this run made the backup, [`crate::fsx::revert`] puts it back and
//! removes it; otherwise the saved bytes are written back with
//! [`crate::fsx::replace`]. Files this run created are removed again, and
//! so are directories it created. Nothing here decides when to undo.

use crate::fsx;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One file to change. `before`/`after` None means "does not exist".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
    /// Mode for a file that is created.
    pub mode: u32,
    /// Why it changes, for the plan.
    pub why: String,
}

impl FileChange {
    /// A unified diff for people (creation and removal included).
    pub fn diff(&self) -> String {
        let nul = |b: &Option<Vec<u8>>| b.as_ref().is_some_and(|b| b.contains(&0));
        if nul(&self.before) || nul(&self.after) {
            let verb = match (&self.before, &self.after) {
                (None, _) => "new file",
                (_, None) => "remove",
                _ => "change",
            };
            return format!("{verb} {} ({})\n", self.path.display(), self.why);
        }
        let text = |b: &Option<Vec<u8>>| {
            b.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let d = fsx::unified_diff(&self.path, &text(&self.before), &text(&self.after));
        match (&self.before, &self.after) {
            (None, Some(_)) => format!("new file {}\n{d}", self.path.display()),
            (Some(_), None) => format!("remove {}\n{d}", self.path.display()),
            _ => d,
        }
    }
}

/// What was done to one file, so it can be undone.
#[derive(Debug, Clone)]
struct Done {
    path: PathBuf,
    before: Option<Vec<u8>>,
    /// The fsx backup was made by this run.
    backup_made: bool,
    /// Directories this run created for the file (deepest last).
    dirs_made: Vec<PathBuf>,
    /// The file's permission bits before the run, to recreate a removed file with them.
    mode: Option<u32>,
}

/// The file changes of one run, applied in order.
#[derive(Debug, Default)]
pub struct Journal {
    done: Vec<Done>,
}

/// One file put back by [`Journal::undo`].
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub path: PathBuf,
    /// "restored", "removed" (created by this run) or an error.
    pub outcome: String,
    /// The file's bytes now equal what they were before the run.
    pub identical: bool,
}

impl Journal {
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Applies `changes` in order. On the first failure, undoes what was
    /// applied and returns the error.
    pub fn apply(changes: &[FileChange]) -> Result<Journal> {
        let mut j = Journal::default();
        for c in changes {
            if let Err(e) = j.apply_one(c) {
                let undone = j.undo();
                let bad: Vec<String> = undone
                    .iter()
                    .filter(|r| !r.identical)
                    .map(|r| format!("{}: {}", r.path.display(), r.outcome))
                    .collect();
                if bad.is_empty() {
                    return Err(e.context(
                        "nothing was changed (the files written before it were put back)",
                    ));
                }
                return Err(e.context(format!(
                    "and these files could not be put back: {}",
                    bad.join("; ")
                )));
            }
        }
        Ok(j)
    }

    fn apply_one(&mut self, c: &FileChange) -> Result<()> {
        let current = match std::fs::read(&c.path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", c.path.display())),
        };
        let mode = std::fs::metadata(&c.path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777);
        if current != c.before {
            bail!(
                "{} changed since kmemdbg read it; run again to plan with its new contents",
                c.path.display()
            );
        }
        match (&c.before, &c.after) {
            (Some(_), Some(after)) => {
                let backup_made = !fsx::backup_path(&c.path).exists();
                fsx::change(&c.path, after)?;
                self.done.push(Done {
                    path: c.path.clone(),
                    before: c.before.clone(),
                    backup_made,
                    dirs_made: Vec::new(),
                    mode,
                });
            }
            (None, Some(after)) => {
                let mut dirs_made = Vec::new();
                if let Some(parent) = c.path.parent() {
                    let mut missing: Vec<PathBuf> = parent
                        .ancestors()
                        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
                        .map(Path::to_path_buf)
                        .collect();
                    missing.reverse();
                    for d in &missing {
                        std::fs::create_dir(d)
                            .with_context(|| format!("cannot create {}", d.display()))?;
                        dirs_made.push(d.clone());
                    }
                }
                // Record before writing, so a failed write still removes the dirs.
                self.done.push(Done {
                    path: c.path.clone(),
                    before: None,
                    backup_made: false,
                    dirs_made,
                    mode,
                });
                fsx::create(&c.path, after, c.mode)?;
            }
            (Some(_), None) => {
                let backup_made = !fsx::backup_path(&c.path).exists();
                if backup_made {
                    fsx::backup_once(&c.path)?;
                }
                fsx::remove(&c.path)?;
                self.done.push(Done {
                    path: c.path.clone(),
                    before: c.before.clone(),
                    backup_made,
                    dirs_made: Vec::new(),
                    mode,
                });
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// Puts every file back as it was before [`Journal::apply`], last change first.
    pub fn undo(&mut self) -> Vec<Restored> {
        let mut out = Vec::new();
        while let Some(d) = self.done.pop() {
            let result = undo_one(&d);
            let now = std::fs::read(&d.path).ok();
            let identical = now == d.before;
            out.push(Restored {
                path: d.path.clone(),
                outcome: match result {
                    Ok(s) => s.to_string(),
                    Err(e) => format!("FAILED: {e:#}"),
                },
                identical,
            });
        }
        out
    }
}

fn undo_one(d: &Done) -> Result<&'static str> {
    match &d.before {
        None => {
            if d.path.exists() {
                fsx::remove(&d.path)?;
            }
            for dir in d.dirs_made.iter().rev() {
                fsx::remove_empty_dir(dir);
            }
            Ok("removed")
        }
        Some(before) => {
            if d.backup_made {
                fsx::revert(&d.path)?;
                if std::fs::read(&d.path).ok().as_deref() == Some(before.as_slice()) {
                    return Ok("restored");
                }
            }
            if d.path.exists() {
                fsx::replace(&d.path, before)?;
            } else {
                fsx::create(&d.path, before, d.mode.unwrap_or(0o644))?;
            }
            Ok("restored")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_restores_this_runs_before_not_the_first_original() {
        let dir = tempfile::tempdir().unwrap();
        let opts = dir.path().join("kamailio");
        std::fs::write(&opts, "SHM_MEMORY=64\n").unwrap();
        // An earlier run: 64 -> 128 (backup holds 64).
        fsx::change(&opts, b"SHM_MEMORY=128\n").unwrap();
        let dropin = dir.path().join("k.service.d/kmemdbg.conf");
        let changes = vec![
            FileChange {
                path: opts.clone(),
                before: Some(b"SHM_MEMORY=128\n".to_vec()),
                after: Some(b"SHM_MEMORY=256\n".to_vec()),
                mode: 0o644,
                why: String::new(),
            },
            FileChange {
                path: dropin.clone(),
                before: None,
                after: Some(b"[Service]\n".to_vec()),
                mode: 0o644,
                why: String::new(),
            },
        ];
        let mut j = Journal::apply(&changes).unwrap();
        assert!(dropin.exists());
        let r = j.undo();
        assert!(r.iter().all(|r| r.identical), "{r:?}");
        assert_eq!(std::fs::read(&opts).unwrap(), b"SHM_MEMORY=128\n");
        assert_eq!(
            std::fs::read(fsx::backup_path(&opts)).unwrap(),
            b"SHM_MEMORY=64\n"
        );
        assert!(!dropin.exists());
        assert!(!dir.path().join("k.service.d").exists());
    }

    #[test]
    fn first_change_backup_is_removed_on_undo() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kamailio.cfg");
        std::fs::write(&cfg, "memlog=5\n").unwrap();
        let mut j = Journal::apply(&[FileChange {
            path: cfg.clone(),
            before: Some(b"memlog=5\n".to_vec()),
            after: Some(b"memlog=2\n".to_vec()),
            mode: 0o644,
            why: String::new(),
        }])
        .unwrap();
        assert!(fsx::backup_path(&cfg).exists());
        j.undo();
        assert_eq!(std::fs::read(&cfg).unwrap(), b"memlog=5\n");
        assert!(!fsx::backup_path(&cfg).exists());
    }

    #[test]
    fn stale_plan_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kamailio.cfg");
        std::fs::write(&cfg, "memlog=4\n").unwrap();
        let err = Journal::apply(&[FileChange {
            path: cfg.clone(),
            before: Some(b"memlog=5\n".to_vec()),
            after: Some(b"memlog=2\n".to_vec()),
            mode: 0o644,
            why: String::new(),
        }])
        .unwrap_err();
        assert!(format!("{err:#}").contains("changed since"), "{err:#}");
        assert_eq!(std::fs::read(&cfg).unwrap(), b"memlog=4\n");
    }
}
