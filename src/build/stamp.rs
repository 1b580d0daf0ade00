//! The build stamp: what the objects in a tree were compiled with, and a
//! snapshot of the sources when the last build finished.
//!
//! kmemdbg keeps it as `.kmemdbg-build.json` next to the build's config
//! (`src/` for make trees, the CMake build directory). It is how `build`
//! knows, without compiling, that (a) every object since `epoch` was made
//! with the same defines (`fingerprint`) - if they differ, objects from
//! before the conversion must go - and (b) nothing changed since the last
//! complete build ("up to date"). Rendering and parsing are pure; the
//! snapshot walk only reads metadata. It never deletes or edits sources.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// File name of the stamp.
pub const STAMP_NAME: &str = ".kmemdbg-build.json";

/// Whether the last build ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Started (after any clean) but not finished: an interrupted build
    /// resumes from here with the same fingerprint.
    Building,
    /// Finished and proven memory-debug ready.
    Complete,
}

/// The stamp's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub schema: String,
    pub state: State,
    /// The compiler, flags and defines every object since `epoch` was built with.
    pub fingerprint: String,
    /// Unix time (ns) after which every object in the tree was compiled with
    /// `fingerprint` (the time of the last clean, or of the first build).
    pub epoch_ns: u128,
    /// The module selection and install prefix the build was configured with.
    pub request: String,
    /// Sources when the build completed (only meaningful when complete).
    pub snapshot: Snapshot,
    /// The binary this build makes and its modules directory (absent in
    /// stamps written before these fields existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<std::path::PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules_dir: Option<std::path::PathBuf>,
}

/// A cheap summary of a source tree: changes to any source file change it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub files: u64,
    pub bytes: u64,
    pub newest_ns: u128,
}

pub const SCHEMA: &str = "kmemdbg.build-stamp/1";

impl Stamp {
    pub fn render(&self) -> String {
        // Serialising plain data cannot fail; keep a fallback anyway.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Parses a stamp; anything unreadable (old schema, garbage) is `None`:
    /// the caller then treats the tree as built by someone else.
    pub fn parse(text: &str) -> Option<Stamp> {
        let s: Stamp = serde_json::from_str(text).ok()?;
        (s.schema == SCHEMA).then_some(s)
    }

    pub fn read(dir: &Path) -> Option<Stamp> {
        std::fs::read_to_string(dir.join(STAMP_NAME))
            .ok()
            .and_then(|t| Stamp::parse(&t))
    }
}

/// Now, as Unix nanoseconds.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Modification time as Unix nanoseconds.
pub fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// True for files whose change must trigger a rebuild: C sources and
/// headers, grammar files, and build files.
pub fn is_source(name: &str) -> bool {
    // `librpath.lst` and `makecfg.lst` are written by make itself (a module's
    // or library's link settings; `make install` rewrites them to relink for
    // the install path): outputs, not inputs.
    if name == STAMP_NAME || name == "librpath.lst" || name == "makecfg.lst" {
        return false;
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    matches!(
        ext,
        "c" | "h" | "y" | "lex" | "l" | "mak" | "lst" | "cmake" | "in"
    ) || name.starts_with("Makefile")
        || name == "CMakeLists.txt"
        || name == "CMakeCache.txt"
}

/// True for files a compile produced: objects, shared objects, archives.
pub fn is_object(name: &str) -> bool {
    name.ends_with(".o") || name.ends_with(".so") || name.ends_with(".a") || name.contains(".so.")
}

/// Walks `dir` (skipping `.git` and the `skip` directories) and calls `f`
/// for each regular file with its name and metadata.
pub fn walk(dir: &Path, skip: &[&Path], f: &mut dyn FnMut(&Path, &str, &std::fs::Metadata)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if ft.is_dir() {
            if name == ".git" || skip.iter().any(|s| *s == path) {
                continue;
            }
            walk(&path, skip, f);
        } else if ft.is_file() {
            if let Ok(meta) = entry.metadata() {
                f(&path, &name, &meta);
            }
        }
    }
}

/// The snapshot of the sources under `dir` (plus the `extra` files).
pub fn snapshot(dir: &Path, skip: &[&Path], extra: &[&Path]) -> Snapshot {
    let mut s = Snapshot::default();
    let mut add = |meta: &std::fs::Metadata| {
        s.files += 1;
        s.bytes += meta.len();
        s.newest_ns = s.newest_ns.max(mtime_ns(meta));
    };
    walk(dir, skip, &mut |_, name, meta| {
        if is_source(name) {
            add(meta)
        }
    });
    for p in extra {
        if let Ok(meta) = std::fs::metadata(p) {
            add(&meta);
        }
    }
    s
}

/// Objects under `dir` older than `epoch_ns`: compiled before the last
/// clean, i.e. possibly with other defines. Must be empty after a build.
pub fn objects_older_than(dir: &Path, skip: &[&Path], epoch_ns: u128) -> Vec<std::path::PathBuf> {
    let mut old = Vec::new();
    walk(dir, skip, &mut |path, name, meta| {
        if is_object(name) && mtime_ns(meta) < epoch_ns {
            old.push(path.to_path_buf());
        }
    });
    old.sort();
    old
}

/// Every object under `dir`.
pub fn objects(dir: &Path, skip: &[&Path]) -> Vec<std::path::PathBuf> {
    objects_older_than(dir, skip, u128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            schema: SCHEMA.into(),
            state: State::Building,
            fingerprint: "CC=gcc\nC_DEFS=-DNAME='\"kamailio\"' -DDBG_SR_MEMORY".into(),
            epoch_ns: 1_700_000_000_000_000_000,
            request: "modules=sl,tm prefix=/usr/local".into(),
            snapshot: Snapshot::default(),
            binary: Some("/src/kamailio".into()),
            modules_dir: None,
        }
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let s = stamp();
        assert_eq!(Stamp::parse(&s.render()), Some(s.clone()));
        assert_eq!(Stamp::parse("not json"), None);
        assert_eq!(Stamp::parse("{\"schema\":\"other/9\"}"), None);
        // A stamp written before `binary` existed still reads.
        let mut v: serde_json::Value = serde_json::from_str(&s.render()).unwrap();
        v.as_object_mut().unwrap().remove("binary");
        let old = v.to_string();
        assert_eq!(Stamp::parse(&old).and_then(|s| s.binary), None);
        assert!(Stamp::parse(&old).is_some(), "{old}");
    }

    #[test]
    fn snapshot_changes_when_a_source_changes_but_not_for_objects() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("core")).unwrap();
        std::fs::write(d.path().join("core/a.c"), "int a;").unwrap();
        std::fs::write(d.path().join("Makefile.defs"), "MEMDBG ?= 1").unwrap();
        let s1 = snapshot(d.path(), &[], &[]);
        assert_eq!(s1.files, 2);
        std::fs::write(d.path().join("core/a.o"), "obj").unwrap();
        assert_eq!(snapshot(d.path(), &[], &[]), s1, "objects are not sources");
        std::fs::write(d.path().join("core/librpath.lst"), "LIB_RPATH_LST:=/x/").unwrap();
        assert_eq!(
            snapshot(d.path(), &[], &[]),
            s1,
            "make install's relink record"
        );
        assert!(is_source("modules.lst"));
        std::fs::write(d.path().join("core/a.c"), "int a = 1;").unwrap();
        assert_ne!(snapshot(d.path(), &[], &[]), s1);
    }

    #[test]
    fn finds_objects_older_than_the_epoch() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("old.o"), "").unwrap();
        std::fs::create_dir_all(d.path().join("modules/sl")).unwrap();
        std::fs::write(d.path().join("modules/sl/sl.so"), "").unwrap();
        std::fs::write(d.path().join("x.c"), "").unwrap();
        assert_eq!(objects(d.path(), &[]).len(), 2);
        let epoch = now_ns() + 1;
        assert_eq!(objects_older_than(d.path(), &[], epoch).len(), 2);
        assert!(objects_older_than(d.path(), &[], 0).is_empty());
        assert!(is_object("libsrdb1.so.1.0"));
        assert!(!is_object("sl.c"));
    }
}
