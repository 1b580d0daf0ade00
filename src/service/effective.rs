//! The unit as systemd sees it: `systemctl show` names the unit file
//! (`FragmentPath`) and every drop-in (`DropInPaths`: `/etc`, `/run`,
//! `/usr/lib`, `NAME.service.d/` and the top-level `service.d/`) in the
//! order systemd applies them; the files are then read from disk, so a
//! later restart runs what they say (kmemdbg reloads systemd after writing).
//!
//! Also decides the name of kmemdbg's own drop-in: it must sort after every
//! other drop-in present (systemd applies drop-ins in file-name order,
//! whatever directory they sit in), so that its `ExecStart=` wins. An
//! operator's file is never edited or renamed here.
//!
//! [`parse_show`], [`dropin_name`] and [`winner`] are pure. [`show`] runs
//! only `systemctl show` (through [`crate::runner`]); [`read_files`] only
//! reads. Nothing here writes.

use super::unit::{UnitFile, DROPIN_MARK};
use crate::runner;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `systemctl show` says about a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitState {
    pub id: String,
    /// `loaded`, `not-found`, `masked`, `bad-setting`, `error`.
    pub load_state: String,
    pub active_state: String,
    pub fragment: Option<PathBuf>,
    /// In the order systemd applies them.
    pub dropins: Vec<PathBuf>,
    /// The files on disk changed since systemd loaded them.
    pub need_reload: bool,
    pub main_pid: Option<u32>,
}

/// The properties [`show`] asks for.
pub const PROPERTIES: &str =
    "Id,LoadState,ActiveState,FragmentPath,DropInPaths,NeedDaemonReload,MainPID";

/// Reads `systemctl show -p ...` output (`KEY=VALUE` lines).
pub fn parse_show(text: &str) -> UnitState {
    let mut st = UnitState::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "Id" => st.id = v.to_string(),
            "LoadState" => st.load_state = v.to_string(),
            "ActiveState" => st.active_state = v.to_string(),
            "FragmentPath" => st.fragment = (!v.is_empty()).then(|| PathBuf::from(v)),
            "DropInPaths" => st.dropins = v.split_whitespace().map(PathBuf::from).collect(),
            "NeedDaemonReload" => st.need_reload = v == "yes",
            "MainPID" => st.main_pid = v.parse().ok().filter(|&p: &u32| p != 0),
            _ => {}
        }
    }
    st
}

/// `systemctl show -p PROPERTIES UNIT`.
pub fn show(unit: &str) -> Result<UnitState> {
    let Some(systemctl) = runner::find_program("systemctl") else {
        bail!("systemctl not found in PATH");
    };
    let sh = runner::shell()?;
    let props = PROPERTIES;
    let out = runner::run(
        xshell::cmd!(sh, "{systemctl} show -p {props} {unit}"),
        Duration::from_secs(20),
    )?
    .check()?;
    Ok(parse_show(&out.stdout_text()))
}

/// Refuses units kmemdbg cannot change safely; `Ok(false)` when systemd
/// does not know the unit (the caller may try SysV).
pub fn usable(unit: &str, st: &UnitState) -> Result<bool> {
    match st.load_state.as_str() {
        "loaded" => {}
        "not-found" | "" => return Ok(false),
        "masked" => bail!(
            "{unit} is masked ({} points to /dev/null): systemd will not start it; unmask it first (systemctl unmask {unit}) if it should run",
            st.fragment
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "its unit file".into())
        ),
        other => bail!(
            "{unit} is not loaded (LoadState={other}){}: see `systemctl status {unit}` and fix the unit first",
            st.fragment
                .as_deref()
                .map(|p| format!(" from {}", p.display()))
                .unwrap_or_default()
        ),
    }
    if st.fragment.is_none() {
        bail!("{unit} has no unit file (systemctl show gives no FragmentPath): kmemdbg changes units that have one");
    }
    Ok(true)
}

/// Reads the unit file and its drop-ins from disk, in systemd's order.
/// When the files changed since systemd loaded them, the drop-ins are those
/// on disk now (what the next reload and restart will apply).
pub fn read_files(st: &UnitState) -> Result<Vec<UnitFile>> {
    let mut out = Vec::new();
    let dropins = if st.need_reload && !st.id.is_empty() {
        scan_dropins(&st.id)
    } else {
        st.dropins.clone()
    };
    for p in st.fragment.iter().chain(dropins.iter()) {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        let text = crate::fsx::text_of(p, bytes)?;
        out.push(UnitFile {
            path: p.clone(),
            text,
        });
    }
    Ok(out)
}

/// Directories systemd (252) reads system units from, highest priority first.
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/run/systemd/generator.late",
];

/// The drop-in directory names of `unit`, least specific first:
/// `service.d`, `a-.service.d`, `a-b-.service.d`, then `a-b-c.service.d`.
pub fn dropin_dir_names(unit: &str) -> Vec<String> {
    let Some((stem, kind)) = unit.rsplit_once('.') else {
        return vec![format!("{unit}.d")];
    };
    let mut v = vec![format!("{kind}.d")];
    let base = stem.split('@').next().unwrap_or(stem);
    let mut at = 0;
    while let Some(i) = base[at..].find('-') {
        v.push(format!("{}-.{kind}.d", &base[..at + i]));
        at += i + 1;
    }
    if stem.contains('@') {
        v.push(format!("{base}@.{kind}.d"));
    }
    v.push(format!("{unit}.d"));
    v
}

/// The drop-ins on disk now, in the order systemd will apply them after
/// its next reload: every `*.conf` of every drop-in directory of `unit`, a
/// name in a higher-priority directory hiding the same name below it,
/// sorted by file name.
pub fn scan_dropins(unit: &str) -> Vec<PathBuf> {
    let mut by_name: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for dir in UNIT_DIRS {
        for d in dropin_dir_names(unit) {
            let Ok(rd) = std::fs::read_dir(Path::new(dir).join(&d)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".conf") || name.starts_with('.') {
                    continue;
                }
                by_name.entry(name).or_insert_with(|| e.path());
            }
        }
    }
    by_name.into_values().collect()
}

/// True for a drop-in kmemdbg wrote (its first line is [`DROPIN_MARK`]).
pub fn is_ours(f: &UnitFile) -> bool {
    f.text.starts_with(DROPIN_MARK)
}

/// The file name for kmemdbg's drop-in: `kmemdbg.conf` when it sorts
/// after every name in `others`, else `zz-kmemdbg.conf`, `zzz-kmemdbg.conf`...
/// (byte order, as systemd sorts). None when no such name sorts last
/// (another name starts with a byte above `z`).
pub fn dropin_name(others: &[String]) -> Option<String> {
    let after_all = |n: &str| others.iter().all(|o| o.as_bytes() < n.as_bytes());
    if after_all("kmemdbg.conf") {
        return Some("kmemdbg.conf".into());
    }
    (2..=64)
        .map(|z| format!("{}-kmemdbg.conf", "z".repeat(z)))
        .find(|n| after_all(n))
}

/// Where kmemdbg's drop-in goes for `unit` among `files` (the unit file
/// and its drop-ins in systemd's order), and its earlier drop-ins that no
/// longer sort last (to be removed when the new one is written).
pub fn place_dropin(unit: &str, dir: &Path, files: &[UnitFile]) -> Result<(PathBuf, Vec<PathBuf>)> {
    let own_dir = dir.join(format!("{unit}.d"));
    let mine = |f: &UnitFile| is_ours(f) && f.path.parent() == Some(own_dir.as_path());
    let dropins = files.get(1..).unwrap_or_default();
    let others: Vec<String> = dropins
        .iter()
        .filter(|f| !mine(f))
        .filter_map(|f| f.path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let ours: Vec<&UnitFile> = dropins.iter().filter(|f| mine(f)).collect();
    // An earlier drop-in of ours that still sorts after every other one stays.
    let keep = ours.iter().rev().find(|f| {
        f.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .is_some_and(|n| others.iter().all(|o| o.as_bytes() < n.as_bytes()))
    });
    let path = match keep {
        Some(f) => f.path.clone(),
        None => {
            let Some(name) = dropin_name(&others) else {
                bail!(
                    "no file name for kmemdbg's drop-in sorts after every drop-in of {unit} ({}): rename the one that sorts last",
                    others.join(", ")
                );
            };
            own_dir.join(name)
        }
    };
    let stale = ours
        .iter()
        .map(|f| f.path.clone())
        .filter(|p| *p != path)
        .collect();
    Ok((path, stale))
}

/// kmemdbg's drop-ins of a systemd setup (in kmemdbg's directory, marked).
pub fn our_dropins(setup: &super::Setup) -> Vec<PathBuf> {
    let super::Manager::Systemd { unit } = &setup.manager else {
        return Vec::new();
    };
    let own_dir = super::discover::systemd_dir().join(format!("{unit}.d"));
    let mut v: Vec<PathBuf> = setup
        .unit_files
        .iter()
        .filter(|f| is_ours(f) && f.path.parent() == Some(own_dir.as_path()))
        .map(|f| f.path.clone())
        .collect();
    if let super::CommandSource::Unit { dropin, .. } = &setup.source {
        if !v.contains(dropin) && dropin.exists() {
            v.push(dropin.clone());
        }
    }
    v
}

/// The unit as systemd applies it, for the plan: unit file, drop-ins in
/// order, where `ExecStart=` comes from, and kmemdbg's drop-in.
pub fn describe(setup: &super::Setup) -> Vec<String> {
    let super::CommandSource::Unit {
        exec_from, dropin, ..
    } = &setup.source
    else {
        return Vec::new();
    };
    let mut v = Vec::new();
    if let Some(f) = setup.unit_files.first() {
        v.push(format!("unit file: {}", f.path.display()));
    }
    let names: Vec<String> = setup
        .unit_files
        .iter()
        .skip(1)
        .map(|f| f.path.display().to_string())
        .collect();
    if !names.is_empty() {
        v.push(format!(
            "drop-ins, in the order systemd applies them: {}",
            names.join(", ")
        ));
    }
    v.push(format!(
        "ExecStart= in effect from: {}",
        exec_from.display()
    ));
    v.push(format!(
        "kmemdbg's drop-in: {} (its name sorts after every other drop-in, so its ExecStart= wins)",
        dropin.display()
    ));
    if let Some(n) = overridden_note(setup) {
        v.push(n);
    }
    v
}

/// When kmemdbg's earlier drop-in no longer wins: which files sort after it.
pub fn overridden_note(setup: &super::Setup) -> Option<String> {
    let super::CommandSource::Unit { stale, .. } = &setup.source else {
        return None;
    };
    let notes: Vec<String> = stale
        .iter()
        .map(|s| {
            let later = winner(&setup.unit_files, s);
            if later.is_empty() {
                format!("kmemdbg's drop-in {} no longer sorts last", s.display())
            } else {
                format!(
                    "kmemdbg's drop-in {} no longer wins: {} sort(s) after it and set(s) ExecStart=",
                    s.display(),
                    later
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        })
        .collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// The drop-ins that sort after `ours` and set `ExecStart=` (they win over it).
pub fn winner(files: &[UnitFile], ours: &Path) -> Vec<PathBuf> {
    let Some(pos) = files.iter().position(|f| f.path == ours) else {
        return Vec::new();
    };
    files[pos + 1..]
        .iter()
        .filter(|f| {
            f.text
                .lines()
                .any(|l| l.trim_start().starts_with("ExecStart"))
        })
        .map(|f| f.path.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `systemctl show -p PROPERTIES kamailio` in an sd box (systemd 252)
    /// with drop-ins in /run and /etc and the top-level service.d.
    const SHOW: &str = "Id=kamailio.service\nLoadState=loaded\nActiveState=active\nFragmentPath=/lib/systemd/system/kamailio.service\nDropInPaths=/run/systemd/system/kamailio.service.d/aa.conf /etc/systemd/system/kamailio.service.d/override.conf /run/systemd/system/service.d/zz.conf\nNeedDaemonReload=no\nMainPID=63\n";

    #[test]
    fn show_output() {
        let st = parse_show(SHOW);
        assert_eq!(st.load_state, "loaded");
        assert_eq!(st.dropins.len(), 3);
        assert!(st.dropins[2].ends_with("service.d/zz.conf"));
        assert_eq!(st.main_pid, Some(63));
        assert!(usable("kamailio.service", &st).unwrap());
        let masked = parse_show(
            "LoadState=masked\nFragmentPath=/etc/systemd/system/kamailio.service\nMainPID=0\n",
        );
        assert_eq!(masked.main_pid, None);
        let e = usable("kamailio.service", &masked).unwrap_err().to_string();
        assert!(
            e.contains("masked") && e.contains("/etc/systemd/system/kamailio.service"),
            "{e}"
        );
        assert!(!usable("x.service", &parse_show("LoadState=not-found\n")).unwrap());
    }

    #[test]
    fn names_sort_last() {
        assert_eq!(dropin_name(&[]).as_deref(), Some("kmemdbg.conf"));
        assert_eq!(
            dropin_name(&["10-a.conf".into()]).as_deref(),
            Some("kmemdbg.conf")
        );
        assert_eq!(
            dropin_name(&["override.conf".into()]).as_deref(),
            Some("zz-kmemdbg.conf")
        );
        assert_eq!(
            dropin_name(&["zz-late.conf".into()]).as_deref(),
            Some("zzz-kmemdbg.conf")
        );
        assert_eq!(dropin_name(&["~x.conf".into()]), None);
    }

    fn f(path: &str, text: &str) -> UnitFile {
        UnitFile {
            path: PathBuf::from(path),
            text: text.into(),
        }
    }

    #[test]
    fn placing_ours() {
        let dir = Path::new("/etc/systemd/system");
        let unit = f("/lib/systemd/system/kamailio.service", "[Service]\n");
        let op = f(
            "/etc/systemd/system/kamailio.service.d/override.conf",
            "[Service]\nExecStart=\nExecStart=/usr/sbin/kamailio\n",
        );
        let old = f(
            "/etc/systemd/system/kamailio.service.d/kmemdbg.conf",
            &format!(
                "{DROPIN_MARK} for x\n[Service]\nExecStart=\nExecStart=/usr/sbin/kamailio -x qm\n"
            ),
        );
        // kmemdbg.conf sorts before override.conf: a new name, the old one stale.
        let files = vec![unit.clone(), old.clone(), op.clone()];
        let (p, stale) = place_dropin("kamailio.service", dir, &files).unwrap();
        assert_eq!(p, dir.join("kamailio.service.d/zz-kmemdbg.conf"));
        assert_eq!(stale, vec![old.path.clone()]);
        assert_eq!(winner(&files, &old.path), vec![op.path.clone()]);
        // Ours already last: kept.
        let files = vec![
            unit.clone(),
            op.clone(),
            f(&p.display().to_string(), &old.text),
        ];
        let (p2, stale) = place_dropin("kamailio.service", dir, &files).unwrap();
        assert_eq!((p2, stale.len()), (p.clone(), 0));
        // An operator's file that only looks like ours (another directory) is not ours.
        let run = f(
            "/run/systemd/system/kamailio.service.d/kmemdbg.conf",
            &old.text,
        );
        let (p3, stale) = place_dropin("kamailio.service", dir, &[unit, run]).unwrap();
        assert_eq!(p3, dir.join("kamailio.service.d/zz-kmemdbg.conf"));
        assert!(stale.is_empty());
    }

    #[test]
    fn dropin_dirs() {
        assert_eq!(
            dropin_dir_names("kamailio.service"),
            ["service.d", "kamailio.service.d"]
        );
        assert_eq!(
            dropin_dir_names("a-b.service"),
            ["service.d", "a-.service.d", "a-b.service.d"]
        );
        assert_eq!(
            dropin_dir_names("kamailio@x.service"),
            ["service.d", "kamailio@.service.d", "kamailio@x.service.d"]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[A-Za-z=/ .\\n0-9-]{0,200}", names in proptest::collection::vec("[a-z~0-9.-]{0,12}", 0..5)) {
            let _ = parse_show(&s);
            if let Some(n) = dropin_name(&names) {
                proptest::prop_assert!(names.iter().all(|o| o.as_bytes() < n.as_bytes()));
            }
        }
    }
}
