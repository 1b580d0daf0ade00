//! Property tests of the guided restart's two pure-ish halves:
//!
//! - the journal (`service::journal`): a set of file changes (edit, create
//!   in new directories, remove), with a failure at any point of the
//!   sequence, leaves every file, backup and directory of the tree exactly
//!   as it was (bytes and modes); applied in full and undone, the same;
//! - the plan (`service::plan`) on a bare process and on a systemd unit
//!   with an options file: the new command line has what was asked, keeps
//!   everything else, equals what the planned files say, and planning the
//!   same again changes nothing.
//!
//! Everything happens in temp dirs; nothing is started.

use kmemdbg::service::journal::{FileChange, Journal};
use kmemdbg::service::plan::{plan, with_files, Desired};
use kmemdbg::service::{argv, discover, CommandSource, Manager, Running, Setup};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Every file and directory under `root`: path -> (mode, bytes or None for a dir).
fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).expect("read dir") {
            let p = e.expect("entry").path();
            let meta = std::fs::symlink_metadata(&p).expect("meta");
            let mode = meta.permissions().mode() & 0o7777;
            let rel = p.strip_prefix(root).expect("under root").to_path_buf();
            if meta.is_dir() {
                out.insert(rel, (mode, None));
                dirs.push(p);
            } else {
                out.insert(rel, (mode, Some(std::fs::read(&p).expect("read"))));
            }
        }
    }
    out
}

/// What a generated change does to its file.
#[derive(Debug, Clone)]
enum Op {
    Edit(Vec<u8>),
    Create(Vec<u8>),
    Remove,
}

/// How the change at the failure point fails (before anything of it is written).
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The file changed since it was read (its `before` is stale).
    Stale,
    /// The path is a directory.
    Directory,
    /// A parent of a new file is a regular file.
    ParentIsFile,
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..64)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        bytes().prop_map(Op::Edit),
        bytes().prop_map(Op::Create),
        Just(Op::Remove),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::Stale),
        Just(Fault::Directory),
        Just(Fault::ParentIsFile)
    ]
}

/// Builds the changes in `root`: file i exists (with `old[i]`) for edits and
/// removals; a created file goes into new nested directories. Some existing
/// files already carry a backup from an earlier run.
fn setup_changes(root: &Path, ops: &[(Op, Vec<u8>, bool)]) -> Vec<FileChange> {
    let mut changes = Vec::new();
    for (i, (op, old, earlier_backup)) in ops.iter().enumerate() {
        match op {
            Op::Edit(_) | Op::Remove => {
                let path = root.join(format!("f{i}.conf"));
                std::fs::write(&path, old).expect("write");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))
                    .expect("mode");
                let mut before = old.clone();
                if *earlier_backup {
                    // An earlier run changed it: the backup holds an older text.
                    kmemdbg::fsx::change(&path, &[old.as_slice(), b"#earlier"].concat())
                        .expect("change");
                    before = std::fs::read(&path).expect("read");
                }
                let after = match op {
                    Op::Edit(new) => Some(new.clone()),
                    _ => None,
                };
                changes.push(FileChange {
                    path,
                    before: Some(before),
                    after,
                    mode: 0o644,
                    why: "test".into(),
                });
            }
            Op::Create(new) => {
                let path = root.join(format!("d{i}/sub/f{i}.conf"));
                changes.push(FileChange {
                    path,
                    before: None,
                    after: Some(new.clone()),
                    mode: 0o600,
                    why: "test".into(),
                });
            }
        }
    }
    changes
}

/// Makes `changes[k]` fail with `fault`, touching the tree only before the
/// snapshot is taken.
fn inject(root: &Path, changes: &mut [FileChange], k: usize, fault: Fault) {
    match fault {
        Fault::Stale => {
            let c = &mut changes[k];
            let mut stale = c.before.clone().unwrap_or_default();
            stale.extend_from_slice(b"stale");
            c.before = Some(stale);
        }
        Fault::Directory => {
            let dir = root.join(format!("dir{k}"));
            std::fs::create_dir(&dir).expect("dir");
            changes[k] = FileChange {
                path: dir,
                before: Some(b"x".to_vec()),
                after: Some(b"y".to_vec()),
                mode: 0o644,
                why: "test".into(),
            };
        }
        Fault::ParentIsFile => {
            let blocker = root.join(format!("blocker{k}"));
            std::fs::write(&blocker, b"a file").expect("write");
            changes[k] = FileChange {
                path: blocker.join("sub/new.conf"),
                before: None,
                after: Some(b"y".to_vec()),
                mode: 0o644,
                why: "test".into(),
            };
        }
    }
}

fn ops() -> impl Strategy<Value = Vec<(Op, Vec<u8>, bool)>> {
    proptest::collection::vec((op(), bytes(), any::<bool>()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_failure_at_any_point_restores_every_byte(ops in ops(), at in any::<proptest::sample::Index>(), fault in fault()) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let mut changes = setup_changes(root, &ops);
        let k = at.index(changes.len());
        inject(root, &mut changes, k, fault);
        let before = tree(root);
        let result = Journal::apply(&changes);
        prop_assert!(result.is_err(), "change {} should have failed ({:?})", k, fault);
        let err = format!("{:#}", result.expect_err("error"));
        prop_assert!(err.contains("nothing was changed"), "{}", err);
        prop_assert_eq!(tree(root), before);
    }

    #[test]
    fn applied_then_undone_restores_every_byte(ops in ops()) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let changes = setup_changes(root, &ops);
        let before = tree(root);
        let mut journal = Journal::apply(&changes).expect("apply");
        for c in &changes {
            prop_assert_eq!(std::fs::read(&c.path).ok(), c.after.clone());
        }
        let restored = journal.undo();
        prop_assert!(restored.iter().all(|r| r.identical), "{:?}", restored);
        prop_assert_eq!(tree(root), before);
    }
}

/// A bare process's setup: its argv is the template.
fn process(argv: Vec<String>) -> Setup {
    Setup {
        manager: Manager::Process,
        running: Some(Running {
            pid: 4242,
            argv: argv.clone(),
            exe: PathBuf::from(&argv[0]),
            stderr_file: None,
            start_ticks: 1,
        }),
        template: argv::from_argv(&argv),
        source: CommandSource::Argv,
        base_env: Vec::new(),
        options_files: Vec::new(),
        primary_options: None,
        pidfile: None,
        unit_files: Vec::new(),
    }
}

fn desired() -> impl Strategy<Value = Desired> {
    (
        proptest::option::of(1u64..4096),
        proptest::option::of(1u64..1024),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(shm, pkg, qm, binary)| Desired {
            shm_mb: shm,
            pkg_mb: pkg,
            options: if qm {
                vec![('x', "qm".into())]
            } else {
                Vec::new()
            },
            binary: binary.then(|| PathBuf::from("/opt/kmd/sbin/kamailio")),
        })
}

/// A command line as people write it: the binary, then options in any order.
fn argv_strategy() -> impl Strategy<Value = Vec<String>> {
    let opts = proptest::sample::subsequence(
        vec![
            vec!["-f", "/etc/kamailio/kamailio.cfg"],
            vec!["-P", "/run/kamailio/kamailio.pid"],
            vec!["-m", "64"],
            vec!["-M", "8"],
            vec!["-x", "tlsf"],
            vec!["-A", "WITH_DEBUG"],
            vec!["-E"],
            vec!["-DD"],
            vec!["-Y", "/run/kamailio"],
        ],
        0..9,
    );
    (opts, any::<u64>()).prop_map(|(mut opts, seed)| {
        let mut s = seed;
        for i in (1..opts.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            opts.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mut argv = vec!["/usr/sbin/kamailio".to_string()];
        argv.extend(opts.into_iter().flatten().map(str::to_string));
        argv
    })
}

fn values(cmd: &[String], opt: char) -> Vec<String> {
    argv::find_all(&argv::from_argv(cmd), opt)
        .into_iter()
        .map(|f| f.value)
        .collect()
}

/// What the plan must give: the asked values, everything else kept.
fn check_plan(setup: &Setup, d: &Desired) -> Result<(), TestCaseError> {
    let p = plan(setup, d).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    let old = setup.command();
    let new = p.new_setup.command();
    let asked = [
        ('m', d.shm_mb.map(|v| v.to_string())),
        ('M', d.pkg_mb.map(|v| v.to_string())),
    ];
    for (opt, want) in asked {
        match want {
            Some(v) => prop_assert_eq!(setup_value(&new, opt), Some(v), "-{} in {:?}", opt, new),
            None => prop_assert_eq!(setup_value(&new, opt), setup_value(&old, opt)),
        }
    }
    if d.options.is_empty() {
        prop_assert_eq!(values(&new, 'x'), values(&old, 'x'));
    } else {
        prop_assert_eq!(setup_value(&new, 'x'), Some("qm".to_string()), "{:?}", new);
    }
    match &d.binary {
        Some(b) => prop_assert_eq!(&new[0], &b.display().to_string()),
        None => prop_assert_eq!(&new[0], &old[0]),
    }
    for opt in ['f', 'P', 'A', 'Y'] {
        prop_assert_eq!(values(&new, opt), values(&old, opt), "-{} changed", opt);
    }
    for flag in ["-E", "-DD"] {
        prop_assert_eq!(
            new.iter().filter(|a| *a == flag).count(),
            old.iter().filter(|a| *a == flag).count()
        );
    }
    // What the planned files say is the new setup (a bare process's command
    // line is its argv, not a file: nothing to read back).
    if !matches!(setup.source, CommandSource::Argv) {
        let reread = with_files(setup, &p.file_changes)
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        prop_assert_eq!(reread.command(), new.clone());
    }
    // Planned again on the result: nothing to do.
    let again = plan(&p.new_setup, d).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    prop_assert!(again.is_empty(), "second plan: {:?}", again.settings);
    prop_assert!(again.file_changes.is_empty());
    Ok(())
}

/// The value of the last `-opt` (the one kamailio uses).
fn setup_value(cmd: &[String], opt: char) -> Option<String> {
    values(cmd, opt).pop()
}

/// Debian's kamailio.service, with the options file at `defaults`.
fn debian_unit(defaults: &Path, exec: &str) -> String {
    format!(
        "# /lib/systemd/system/kamailio.service\n[Unit]\nDescription=Kamailio SIP Server\n\n[Service]\n\
Type=forking\nUser=kamailio\nGroup=kamailio\nEnvironment='CFGFILE=/etc/kamailio/kamailio.cfg'\n\
Environment='SHM_MEMORY=64'\nEnvironment='PKG_MEMORY=8'\nEnvironmentFile=-{}\nPIDFile=/run/kamailio/kamailio.pid\n\
ExecStart={exec}\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n",
        defaults.display()
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn plan_on_a_bare_process(argv in argv_strategy(), d in desired()) {
        check_plan(&process(argv), &d)?;
    }

    #[test]
    fn plan_on_a_systemd_unit_with_an_options_file(
        shm_line in prop_oneof![Just(""), Just("SHM_MEMORY=128\n"), Just("#SHM_MEMORY=64\n")],
        pkg_line in prop_oneof![Just(""), Just("PKG_MEMORY=16\n"), Just("#PKG_MEMORY=8\n")],
        extra in prop_oneof![Just(None), Just(Some("")), Just(Some("-A WITH_DEBUG"))],
        d in desired(),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let defaults = dir.path().join("kamailio.defaults");
        let mut text = format!("{shm_line}{pkg_line}");
        let mut exec = "/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY".to_string();
        if let Some(e) = extra {
            text.push_str(&format!("EXTRA_OPTIONS=\"{e}\"\n"));
            exec.push_str(" $EXTRA_OPTIONS");
        }
        std::fs::write(&defaults, &text).expect("write");
        let files = kmemdbg::service::unit::parse_systemctl_cat(&debian_unit(&defaults, &exec));
        let setup = discover::systemd_setup("kamailio.service", files)
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        check_plan(&setup, &d)?;
    }
}
