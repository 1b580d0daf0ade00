//! Safe file changes: the only module that writes a user's file.
//!
//! Every write goes through [`replace`]: a temp file in the same directory,
//! fsync, the original's mode and owner, then `rename` - a reader (or a crash)
//! sees the old file or the new one, never half of one. The first original of
//! any file kmemdbg changes is kept beside it as `NAME.kmemdbg-orig` (never
//! overwritten by later runs, never world-readable: configs hold passwords),
//! and [`revert`] puts it back byte for byte. Nothing here writes in place.

use anyhow::{bail, Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Suffix of the backup kept next to a changed file.
pub const BACKUP_SUFFIX: &str = ".kmemdbg-orig";

/// Where the first original of `path` is kept.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(BACKUP_SUFFIX);
    path.with_file_name(name)
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads a text file; binary garbage (NUL bytes or invalid UTF-8) is an error
/// that names the file and the line where it starts.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    text_of(path, bytes)
}

/// Checks that `bytes` read from `path` are text and returns them as a String.
pub fn text_of(path: &Path, bytes: Vec<u8>) -> Result<String> {
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        let line = bytes[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
        bail!(
            "{}:{line}: contains a NUL byte: this is not a text file (binary garbage?)",
            path.display()
        );
    }
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let pos = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
            bail!(
                "{}:{line}: invalid UTF-8: this does not look like a text file",
                path.display()
            )
        }
    }
}

/// Atomically replaces `path` with `contents`, keeping mode and owner.
/// The file must exist (kmemdbg edits files, it does not invent them; use
/// [`create`] for new files).
pub fn replace(path: &Path, contents: &[u8]) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    write_atomic(
        path,
        contents,
        meta.mode() & 0o7777,
        Some((meta.uid(), meta.gid())),
    )
}

/// Atomically creates (or replaces) `path` with `contents` and `mode`.
pub fn create(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    write_atomic(path, contents, mode, None)
}

/// Atomically makes `path` a symbolic link to `target` (replacing a file
/// or link there): the link is made under a temp name in the same
/// directory and renamed into place.
pub fn symlink(path: &Path, target: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".kmemdbg-link-{}-{}.tmp",
        std::process::id(),
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("cannot create a link in {}", dir.display()))?;
    fault_point(path);
    fs::rename(&tmp, path).with_context(|| {
        let _ = fs::remove_file(&tmp);
        format!("cannot rename the temp link over {}", path.display())
    })
}

/// A new file written in pieces (a captured dump can be larger than
/// memory): the bytes go to a temp file in the target's directory and
/// [`Staged::commit`] renames it into place atomically. Dropped without a
/// commit, it leaves nothing behind.
pub struct Staged {
    path: PathBuf,
    mode: u32,
    tmp: tempfile::NamedTempFile,
}

impl Staged {
    pub fn new(path: &Path, mode: u32) -> Result<Staged> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = temp_beside(&dir).with_context(|| {
            format!(
                "cannot create a file in {} (missing or read-only directory?)",
                dir.display()
            )
        })?;
        Ok(Staged {
            path: path.to_path_buf(),
            mode,
            tmp,
        })
    }

    /// Where the pieces go.
    pub fn file(&mut self) -> &mut fs::File {
        self.tmp.as_file_mut()
    }

    /// fsync, set the mode, rename over the target.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.tmp
            .as_file()
            .sync_all()
            .with_context(|| format!("cannot write {}", path.display()))?;
        fs::set_permissions(self.tmp.path(), fs::Permissions::from_mode(self.mode))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
        self.tmp
            .persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot rename the temp file over {}", path.display()))?;
        Ok(())
    }
}

fn write_atomic(path: &Path, contents: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = temp_beside(&dir).with_context(|| {
        format!(
            "cannot create a temp file in {} (read-only directory?)",
            dir.display()
        )
    })?;
    tmp.write_all(contents)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write a temp file in {}", dir.display()))?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set mode on temp file for {}", path.display()))?;
    if let Some((uid, gid)) = owner {
        // Only root can give a file away; for anyone else the owner is already theirs.
        let _ = std::os::unix::fs::chown(tmp.path(), Some(uid), Some(gid));
    }
    fault_point(path);
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot rename the temp file over {}", path.display()))?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Start of every temp file kmemdbg writes beside a user's file; the name
/// goes on with the writer's PID: `.kmemdbg-PID-RANDOM.tmp`.
const TEMP_PREFIX: &str = ".kmemdbg-";

/// A new temp file in `dir`, named after this process. Temps left in `dir`
/// by a kmemdbg that was killed (its PID no longer runs) are removed first:
/// a `kill -9` between write and rename leaves no litter for long.
fn temp_beside(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    remove_stale_temps(dir);
    tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(".tmp")
        .tempfile_in(dir)
}

/// The PID in a temp file's name written by [`temp_beside`], if it is one.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(TEMP_PREFIX)?.strip_suffix(".tmp")?;
    let (pid, random) = rest.split_once('-')?;
    if random.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Removes temps of [`temp_beside`] whose writer is gone. Best effort: a
/// directory that cannot be listed is left alone (the write reports it).
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        let alive = crate::procfs::alive(pid);
        if !alive && e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Test hook: when `KMEMDBG_FAULT_PAUSE_MS` is set, pause between the temp
/// write and the rename, so a test can kill the process at the worst moment.
fn fault_point(path: &Path) {
    if let Ok(ms) = std::env::var("KMEMDBG_FAULT_PAUSE_MS") {
        if let Ok(ms) = ms.parse::<u64>() {
            eprintln!("kmemdbg: fault point before rename of {}", path.display());
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
}

/// Keeps the first original of `path` as its backup. Does nothing when a
/// backup already exists (later runs never overwrite the first original).
/// The backup is never readable by "others". Returns the backup's path.
pub fn backup_once(path: &Path) -> Result<PathBuf> {
    let backup = backup_path(path);
    if backup.exists() {
        return Ok(backup);
    }
    let meta = fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    let original = read(path)?;
    write_atomic(
        &backup,
        &original,
        meta.mode() & 0o770,
        Some((meta.uid(), meta.gid())),
    )
    .with_context(|| format!("cannot keep a backup of {}", path.display()))?;
    Ok(backup)
}

/// Backs up (first time only) and then atomically replaces `path`.
/// Returns false, writing nothing, when the contents are already `new`.
pub fn change(path: &Path, new: &[u8]) -> Result<bool> {
    let old = read(path)?;
    if old == new {
        return Ok(false);
    }
    check_writable(path)?;
    backup_once(path)?;
    replace(path, new)?;
    Ok(true)
}

/// Fails with a clear message when `path` cannot be replaced by this user.
pub fn check_writable(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let readonly_file = meta.permissions().readonly();
    let dir_ok = tempfile::Builder::new()
        .prefix(".kmemdbg-probe-")
        .tempfile_in(dir)
        .is_ok();
    if readonly_file || !dir_ok {
        bail!(
            "{} is read-only{}: nothing was changed (run as the file's owner or root)",
            path.display(),
            if dir_ok {
                ""
            } else {
                " (its directory does not accept new files)"
            }
        );
    }
    Ok(())
}

/// Outcome of [`revert`].
#[derive(Debug, PartialEq, Eq)]
pub enum Reverted {
    Restored,
    NoBackup,
}

/// Puts the first original back (byte for byte, atomically, keeping the
/// current mode and owner) and removes the backup.
pub fn revert(path: &Path) -> Result<Reverted> {
    let backup = backup_path(path);
    if !backup.exists() {
        return Ok(Reverted::NoBackup);
    }
    let original = read(&backup)?;
    if path.exists() {
        replace(path, &original)?;
    } else {
        let mode = fs::metadata(&backup)?.mode() & 0o7777;
        create(path, &original, mode)?;
    }
    fs::remove_file(&backup).with_context(|| format!("cannot remove {}", backup.display()))?;
    Ok(Reverted::Restored)
}

/// A scratch file beside a user's file, removed when dropped: a candidate
/// that `kamailio -c` checks where relative includes resolve exactly as
/// for the real file. Mode 0600 (configs hold passwords); never replaces
/// anything (created with O_EXCL).
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates `.kmemdbg-check-<pid>-<n>.cfg` in `beside`'s directory with `contents`.
pub fn scratch_beside(beside: &Path, contents: &[u8]) -> Result<Scratch> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match beside.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let pid = std::process::id();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for n in 0..100u32 {
        let path = dir.join(format!(
            ".kmemdbg-check-{pid}-{:x}.cfg",
            seed.wrapping_add(n.wrapping_mul(7919)) & 0xffffff
        ));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                let scratch = Scratch { path };
                f.write_all(contents)
                    .and_then(|_| f.sync_all())
                    .with_context(|| {
                        format!("cannot write the candidate {}", scratch.path.display())
                    })?;
                return Ok(scratch);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot create a candidate file in {} (read-only directory?)",
                        dir.display()
                    )
                })
            }
        }
    }
    bail!("cannot find a free candidate name in {}", dir.display())
}

/// A unified diff of two texts, labelled with the file's path.
pub fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    let name = path.display().to_string();
    // A relative path gets git's a/ b/ (for `patch -p1`); an absolute one
    // stands as it is, as `diff -u` prints it.
    let (a, b) = if path.is_absolute() {
        (name.clone(), name)
    } else {
        (format!("a/{name}"), format!("b/{name}"))
    };
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&a, &b)
        .to_string()
}

/// Creates (truncating) a file kmemdbg writes as a stream, e.g. a build log
/// that a person may `tail -f` while it grows. Only for kmemdbg's own files:
/// a user's file is never truncated, it is [`replace`]d.
pub fn create_stream(path: &Path) -> Result<fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))
}

/// Removes one file (not a directory), naming it in the error. For files
/// kmemdbg put there or is undoing (an installed file, a backup after a
/// successful revert, a file a journal created): a user's file that must
/// come back later is backed up first by the caller ([`backup_once`]).
pub fn remove(path: &Path) -> Result<()> {
    fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))
}

/// Removes a directory only when it is empty; true when it was removed.
/// Never removes anything inside a directory.
pub fn remove_empty_dir(dir: &Path) -> bool {
    fs::remove_dir(dir).is_ok()
}

/// Removes a file a compiler produced (`.o`, `.so`, `.so.N`, `.a`). Anything
/// else is refused: this never deletes a source.
pub fn remove_build_output(path: &Path) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let generated = name.ends_with(".o")
        || name.ends_with(".so")
        || name.ends_with(".a")
        || name.contains(".so.");
    if !generated {
        bail!(
            "{}: not a build output; refusing to remove it",
            path.display()
        );
    }
    remove(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_keeps_mode_and_first_original() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kamailio.cfg");
        fs::write(&p, "one\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(change(&p, b"two\n").unwrap());
        assert!(change(&p, b"three\n").unwrap());
        assert!(
            !change(&p, b"three\n").unwrap(),
            "same content must not write"
        );
        assert_eq!(fs::read(&p).unwrap(), b"three\n");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
        let b = backup_path(&p);
        assert_eq!(fs::read(&b).unwrap(), b"one\n");
        assert_eq!(
            fs::metadata(&b).unwrap().mode() & 0o007,
            0,
            "backup world-readable"
        );
        assert_eq!(revert(&p).unwrap(), Reverted::Restored);
        assert_eq!(fs::read(&p).unwrap(), b"one\n");
        assert!(!b.exists());
        assert_eq!(revert(&p).unwrap(), Reverted::NoBackup);
    }

    #[test]
    fn binary_garbage_is_named() {
        let err = text_of(Path::new("x.cfg"), b"a\nb\n\0zz".to_vec()).unwrap_err();
        assert!(err.to_string().starts_with("x.cfg:3:"), "{err}");
        let err = text_of(Path::new("y"), vec![b'a', b'\n', 0xff, 0xfe]).unwrap_err();
        assert!(err.to_string().starts_with("y:2:"), "{err}");
    }

    #[test]
    fn no_temp_files_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, "a").unwrap();
        change(&p, b"b").unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(".kmemdbg-")),
            "{names:?}"
        );
    }

    #[test]
    fn removes_only_build_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let o = dir.path().join("action.o");
        let c = dir.path().join("action.c");
        fs::write(&o, "obj").unwrap();
        fs::write(&c, "src").unwrap();
        remove_build_output(&o).unwrap();
        assert!(!o.exists());
        assert!(remove_build_output(&c).is_err());
        assert!(c.exists());
    }

    #[test]
    fn temps_of_dead_writers_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kamailio.cfg");
        fs::write(&p, "a").unwrap();
        // PID 0 never names a running writer; our own PID does.
        let stale = dir.path().join(".kmemdbg-0-abc123.tmp");
        let live = dir
            .path()
            .join(format!(".kmemdbg-{}-xyz.tmp", std::process::id()));
        let other = dir.path().join(".kmemdbg-notapid.tmp");
        for f in [&stale, &live, &other] {
            fs::write(f, "half").unwrap();
        }
        change(&p, b"b").unwrap();
        assert!(!stale.exists());
        assert!(live.exists(), "a running writer's temp is kept");
        assert!(other.exists(), "a name we did not write is kept");
        assert_eq!(temp_owner(".kmemdbg-12-a.tmp"), Some(12));
        assert_eq!(temp_owner(".kmemdbg-12-.tmp"), None);
        assert_eq!(temp_owner("x.kmemdbg-12-a.tmp"), None);
    }

    #[test]
    fn diff_headers_follow_the_path_kind() {
        let abs = unified_diff(Path::new("/etc/kamailio/kamailio.cfg"), "a\n", "b\n");
        assert!(
            abs.starts_with("--- /etc/kamailio/kamailio.cfg\n+++ /etc/kamailio/kamailio.cfg\n"),
            "{abs}"
        );
        let rel = unified_diff(Path::new("src/Makefile.defs"), "a\n", "b\n");
        assert!(
            rel.starts_with("--- a/src/Makefile.defs\n+++ b/src/Makefile.defs\n"),
            "{rel}"
        );
    }
}
