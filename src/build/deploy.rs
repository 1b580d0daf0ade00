//! The staged install: `make install` (or `cmake --install`) writes into an
//! empty staging directory (`BASEDIR`/`DESTDIR`), then [`deploy`] puts each
//! staged file in its place through [`crate::fsx`]: a file that was there
//! is kept first as `NAME.kmemdbg-orig`, a new file, link or directory is
//! listed in a manifest written *before* anything is copied, so an install
//! stopped half-way (a signal, a full disk) is completed by running it again
//! and undone by [`undeploy`] in every case.
//!
//! A configuration file already in place (anything under an `etc/`
//! directory) is never overwritten: `make install` itself keeps an existing
//! `kamailio.cfg`. This module never writes outside the paths the staging
//! directory names, never deletes a file it did not install, and never
//! prints (lines go to the caller's callback).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// File name of the manifest, kept in the build's stamp directory.
pub const MANIFEST_NAME: &str = ".kmemdbg-install.json";
pub const SCHEMA: &str = "kmemdbg.install-manifest/1";

/// What an installed path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Link,
    Dir,
}

/// One installed path and what was there before the first install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: PathBuf,
    pub kind: Kind,
    /// Something was at `path` before (a file: its backup is NAME.kmemdbg-orig).
    pub existed: bool,
    /// It was a symbolic link to this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_link: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub entries: Vec<Entry>,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Option<Manifest>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::fsx::read_text(path)?;
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a kmemdbg install manifest", path.display()))?;
        if m.schema != SCHEMA {
            bail!("{}: unknown schema {:?}", path.display(), m.schema);
        }
        Ok(Some(m))
    }

    fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        crate::fsx::create(path, text.as_bytes(), 0o644)
            .with_context(|| format!("cannot write the install manifest {}", path.display()))
    }
}

/// What [`deploy`] did.
#[derive(Debug, Clone, Default)]
pub struct Deployed {
    /// Files and links written.
    pub written: usize,
    /// Configuration files left as they were.
    pub kept: Vec<PathBuf>,
}

/// A path under an `etc` directory: configuration, never overwritten.
fn is_config(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "etc")
}

/// Every path under `stage` (directories before their contents), as
/// (staged path, destination).
fn staged(stage: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    fn walk(stage: &Path, dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) -> Result<()> {
        let mut rd: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .flatten()
            .collect();
        rd.sort_by_key(|e| e.file_name());
        for e in rd {
            let p = e.path();
            let rel = p.strip_prefix(stage).unwrap_or(&p);
            out.push((p.clone(), Path::new("/").join(rel)));
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(stage, &p, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(stage, stage, &mut out)?;
    Ok(out)
}

/// Puts every file of `stage` in place (see the module doc), recording it
/// in `manifest` first. Honours a signal between files: the install then
/// stops with an error saying how far it got.
pub fn deploy(stage: &Path, manifest: &Path, events: &mut dyn FnMut(&str)) -> Result<Deployed> {
    let paths = staged(stage)?;
    let mut m = Manifest::read(manifest)?.unwrap_or(Manifest {
        schema: SCHEMA.into(),
        entries: Vec::new(),
    });
    let mut plan: Vec<(PathBuf, PathBuf, Kind)> = Vec::new();
    let mut out = Deployed::default();
    for (from, to) in paths {
        let meta = std::fs::symlink_metadata(&from)?;
        let kind = if meta.file_type().is_symlink() {
            Kind::Link
        } else if meta.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        let here = std::fs::symlink_metadata(&to).ok();
        let listed = m.entries.iter().any(|e| e.path == to);
        if kind != Kind::Dir && here.is_some() && is_config(&to) && !listed {
            out.kept.push(to);
            continue;
        }
        if kind == Kind::Dir && here.is_some() && !listed {
            continue;
        }
        if !listed {
            let old_link = here
                .as_ref()
                .filter(|h| h.file_type().is_symlink())
                .and_then(|_| std::fs::read_link(&to).ok());
            if here.as_ref().is_some_and(|h| h.is_dir()) && kind != Kind::Dir {
                bail!(
                    "{}: a directory is in the way of the installed file; nothing was installed",
                    to.display()
                );
            }
            m.entries.push(Entry {
                path: to.clone(),
                kind,
                existed: here.is_some(),
                old_link,
            });
        }
        plan.push((from, to, kind));
    }
    m.write(manifest)?;
    let total = plan.iter().filter(|p| p.2 != Kind::Dir).count();
    for (from, to, kind) in plan {
        match kind {
            Kind::Dir => std::fs::create_dir_all(&to)
                .with_context(|| format!("cannot create {}", to.display()))?,
            Kind::Link => {
                let target = std::fs::read_link(&from)?;
                crate::fsx::symlink(&to, &target)?;
                out.written += 1;
            }
            Kind::File => {
                let entry = m.entries.iter().find(|e| e.path == to);
                if entry.is_some_and(|e| e.existed && e.old_link.is_none()) && to.is_file() {
                    crate::fsx::backup_once(&to)?;
                }
                let bytes = crate::fsx::read(&from)?;
                let mode = std::fs::metadata(&from)?.permissions().mode() & 0o7777;
                crate::fsx::create(&to, &bytes, mode)?;
                out.written += 1;
                if out.written == 1 {
                    crate::interrupt::pause_hook("install:copying");
                }
            }
        }
        if crate::interrupt::requested() && out.written < total {
            return Err(crate::runner::Interrupted {
                message: format!(
                    "stopped by a signal with {} of {total} files in place (the manifest {} lists them all)",
                    out.written,
                    manifest.display()
                ),
            }
            .into());
        }
    }
    events(&format!(
        "install: {} files in place{}",
        out.written,
        if out.kept.is_empty() {
            String::new()
        } else {
            format!(
                "; kept {} existing configuration file(s), e.g. {}",
                out.kept.len(),
                out.kept[0].display()
            )
        }
    ));
    Ok(out)
}

/// Undoes every install recorded in `manifest`: files that were there get
/// their original back, links their old target; files, links and (empty)
/// directories that were not there are removed; then the manifest goes.
/// Returns one line per path. A missing manifest: nothing installed.
pub fn undeploy(manifest: &Path) -> Result<Vec<String>> {
    let Some(m) = Manifest::read(manifest)? else {
        return Ok(Vec::new());
    };
    let mut lines = Vec::new();
    for e in m.entries.iter().rev() {
        let here = std::fs::symlink_metadata(&e.path).ok();
        if let (true, Some(target)) = (e.existed, &e.old_link) {
            crate::fsx::symlink(&e.path, target)?;
            lines.push(format!(
                "{}: link back to {}",
                e.path.display(),
                target.display()
            ));
        } else if e.existed {
            // A file that was there: its first original comes back.
            if e.kind == Kind::File
                && crate::fsx::revert(&e.path)? == crate::fsx::Reverted::Restored
            {
                lines.push(format!("{}: original put back", e.path.display()));
            }
        } else if here.is_none() {
            // Already gone.
        } else if e.kind == Kind::Dir {
            if crate::fsx::remove_empty_dir(&e.path) {
                lines.push(format!("{}: removed (empty)", e.path.display()));
            }
        } else {
            crate::fsx::remove(&e.path)?;
            lines.push(format!("{}: removed", e.path.display()));
        }
    }
    crate::fsx::remove(manifest)?;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A staging dir mirroring `root` (a temp "/" stand-in): `root` is
    /// joined under the stage so destinations land inside the temp dir.
    fn stage_for(root: &Path) -> tempfile::TempDir {
        let stage = tempfile::tempdir().unwrap();
        let base = stage.path().join(root.strip_prefix("/").unwrap());
        std::fs::create_dir_all(base.join("sbin")).unwrap();
        std::fs::create_dir_all(base.join("lib/kamailio")).unwrap();
        std::fs::create_dir_all(base.join("etc/kamailio")).unwrap();
        std::fs::write(base.join("sbin/kamailio"), "new binary").unwrap();
        std::fs::set_permissions(
            base.join("sbin/kamailio"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(base.join("lib/kamailio/libx.so.1.0"), "lib").unwrap();
        std::os::unix::fs::symlink("libx.so.1.0", base.join("lib/kamailio/libx.so.1")).unwrap();
        std::fs::write(base.join("etc/kamailio/kamailio.cfg"), "sample cfg").unwrap();
        stage
    }

    #[test]
    fn deploys_with_backups_keeps_config_and_undeploys_byte_for_byte() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("sbin")).unwrap();
        std::fs::create_dir_all(r.join("etc/kamailio")).unwrap();
        std::fs::write(r.join("sbin/kamailio"), "old binary").unwrap();
        std::fs::write(r.join("etc/kamailio/kamailio.cfg"), "user cfg").unwrap();
        let stage = stage_for(r);
        let manifest = r.join("manifest.json");
        let d = deploy(stage.path(), &manifest, &mut |_| {}).unwrap();
        assert_eq!(d.written, 3);
        assert_eq!(d.kept, [r.join("etc/kamailio/kamailio.cfg")]);
        assert_eq!(
            std::fs::read(r.join("sbin/kamailio")).unwrap(),
            b"new binary"
        );
        assert_eq!(
            std::fs::read(r.join("sbin/kamailio.kmemdbg-orig")).unwrap(),
            b"old binary"
        );
        assert_eq!(
            std::fs::read(r.join("etc/kamailio/kamailio.cfg")).unwrap(),
            b"user cfg"
        );
        assert_eq!(
            std::fs::read_link(r.join("lib/kamailio/libx.so.1")).unwrap(),
            Path::new("libx.so.1.0")
        );
        // A second install keeps the first original and the manifest's view.
        deploy(stage.path(), &manifest, &mut |_| {}).unwrap();
        assert_eq!(
            std::fs::read(r.join("sbin/kamailio.kmemdbg-orig")).unwrap(),
            b"old binary"
        );
        undeploy(&manifest).unwrap();
        assert_eq!(
            std::fs::read(r.join("sbin/kamailio")).unwrap(),
            b"old binary"
        );
        assert!(!r.join("sbin/kamailio.kmemdbg-orig").exists());
        assert!(!r.join("lib").exists(), "new directories are removed");
        assert!(!manifest.exists());
        assert_eq!(
            std::fs::read(r.join("etc/kamailio/kamailio.cfg")).unwrap(),
            b"user cfg"
        );
        assert!(undeploy(&manifest).unwrap().is_empty());
    }
}
