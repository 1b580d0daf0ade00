//! Plans run-time changes for a [`Setup`]: the allocator (`-x qm`), pool
//! sizes (`-m`/`-M`), the binary. Each lands where the service reads it:
//! a variable in the options file when the command line takes it from one
//! (`-m $SHM_MEMORY`), an "extra options" variable when the command line has
//! one (`$EXTRA_OPTIONS`), else the command line itself: a systemd drop-in,
//! the init script's `OPTIONS=` line, or a bare process's argv.
//!
//! Pure: a setup (with the text of its files) in, new file contents and the
//! new setup out. Writing is [`super::journal`]'s job.

use super::argv::{self, Token};
use super::journal::FileChange;
use super::{sysv, unit, CommandSource, Setup};
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What should change in how kamailio runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// Shared memory pool in MB (`-m`).
    pub shm_mb: Option<u64>,
    /// Private memory per process in MB (`-M`).
    pub pkg_mb: Option<u64>,
    /// Run-time options the build needs, as option/value pairs (`[('x', "qm")]`).
    pub options: Vec<(char, String)>,
    /// Run a different binary (e.g. a freshly installed memory-debug build).
    pub binary: Option<PathBuf>,
}

/// One setting that changes, said for people.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Setting {
    /// `-m`, `-x`, `binary`.
    pub option: String,
    pub old: Option<String>,
    pub new: String,
    /// Where the change is written (file and variable, or "argv").
    pub written_to: String,
}

/// The outcome of planning.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The setup as it will be after the file changes.
    pub new_setup: Setup,
    pub file_changes: Vec<FileChange>,
    pub settings: Vec<Setting>,
}

impl RunPlan {
    pub fn is_empty(&self) -> bool {
        self.settings.is_empty()
    }
}

/// Plans `desired` on `setup`.
pub fn plan(setup: &Setup, desired: &Desired) -> Result<RunPlan> {
    let mut p = Planner {
        setup: setup.clone(),
        template_changed: false,
        changed_files: Vec::new(),
        settings: Vec::new(),
    };
    if let Some(b) = &desired.binary {
        p.set_binary(b)?;
    }
    if let Some(m) = desired.shm_mb {
        p.set_option('m', &m.to_string())?;
    }
    if let Some(m) = desired.pkg_mb {
        p.set_option('M', &m.to_string())?;
    }
    for (opt, value) in &desired.options {
        p.set_option(*opt, value)?;
    }
    p.finish(setup)
}

struct Planner {
    setup: Setup,
    template_changed: bool,
    /// Indices into options_files that changed.
    changed_files: Vec<usize>,
    settings: Vec<Setting>,
}

impl Planner {
    fn set_binary(&mut self, binary: &Path) -> Result<()> {
        let new = binary.display().to_string();
        let old = self.setup.binary();
        if old == binary {
            return Ok(());
        }
        if self
            .setup
            .template
            .first()
            .and_then(|t| t.variable())
            .is_some()
        {
            bail!("the command line takes its program from a variable; set it to {new} by hand");
        }
        if let CommandSource::InitScript { path, .. } = &self.setup.source {
            bail!(
                "{} starts DAEMON={}; installing another binary for a SysV service means editing DAEMON= by hand",
                path.display(),
                old.display()
            );
        }
        let prefix: String = self
            .setup
            .template
            .first()
            .map(|t| {
                t.text
                    .chars()
                    .take_while(|c| "-@:+!".contains(*c))
                    .collect()
            })
            .unwrap_or_default();
        self.setup.template[0] = Token::literal(&format!("{prefix}{new}"));
        self.template_changed = true;
        self.settings.push(Setting {
            option: "binary".into(),
            old: Some(old.display().to_string()),
            new,
            written_to: self.template_place(),
        });
        Ok(())
    }

    fn template_place(&self) -> String {
        match &self.setup.source {
            CommandSource::Unit { dropin, .. } => format!("{} (ExecStart=)", dropin.display()),
            CommandSource::InitScript { path, line } => {
                format!("{}:{} (OPTIONS=)", path.display(), line + 1)
            }
            CommandSource::Argv => "the command line (argv)".into(),
        }
    }

    fn set_option(&mut self, opt: char, value: &str) -> Result<()> {
        let old = self.setup.option(opt);
        if old.as_deref() == Some(value) {
            return Ok(());
        }
        let place;
        match argv::find(&self.setup.template, opt) {
            Some(found) => {
                let var = found
                    .value_at
                    .and_then(|i| self.setup.template[i].variable().map(String::from));
                match var {
                    Some(var) if self.setup.source != CommandSource::Argv => {
                        place = self.set_var(&var, value)?;
                    }
                    _ => {
                        argv::set(&mut self.setup.template, opt, value);
                        self.template_changed = true;
                        place = self.template_place();
                    }
                }
            }
            None => {
                let extra = argv::options_variables(&self.setup.template)
                    .into_iter()
                    .map(|(_, v)| v)
                    .next();
                match extra {
                    Some(var) if self.var_file(&var).is_some() => {
                        let current = self
                            .setup
                            .env()
                            .into_iter()
                            .rev()
                            .find(|(k, _)| *k == var)
                            .map(|(_, v)| v)
                            .unwrap_or_default();
                        let mut toks = vec![Token::literal("kamailio")];
                        toks.extend(argv::tokenize(&current));
                        argv::set(&mut toks, opt, value);
                        let new_value = toks[1..]
                            .iter()
                            .map(|t| t.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" ");
                        place = self.set_var(&var, &new_value)?;
                    }
                    _ => {
                        argv::set(&mut self.setup.template, opt, value);
                        self.template_changed = true;
                        place = self.template_place();
                    }
                }
            }
        }
        self.settings.push(Setting {
            option: format!("-{opt}"),
            old,
            new: value.to_string(),
            written_to: place,
        });
        Ok(())
    }

    /// The options file that should hold `var`: the last one that sets it,
    /// else the primary one.
    fn var_file(&self, var: &str) -> Option<usize> {
        self.setup
            .options_files
            .iter()
            .rposition(|f| f.vars().iter().any(|(k, _)| k == var))
            .or(self.setup.primary_options)
    }

    fn set_var(&mut self, var: &str, value: &str) -> Result<String> {
        let Some(idx) = self.var_file(var) else {
            // No options file: write the value into the command line itself.
            let pos = self
                .setup
                .template
                .iter()
                .position(|t| t.variable() == Some(var));
            if let Some(pos) = pos {
                self.setup.template[pos] = Token::literal(value);
                self.template_changed = true;
                return Ok(self.template_place());
            }
            bail!("no options file to set {var} in");
        };
        let f = &mut self.setup.options_files[idx];
        let text = f.text.clone().unwrap_or_default();
        if let Some(new) = unit::set_env_var(&text, var, value) {
            f.text = Some(new);
            if !self.changed_files.contains(&idx) {
                self.changed_files.push(idx);
            }
        }
        Ok(format!("{} ({var}=)", f.path.display()))
    }

    fn finish(self, old: &Setup) -> Result<RunPlan> {
        let mut file_changes = Vec::new();
        for &idx in &self.changed_files {
            let before = &old.options_files[idx];
            let after = &self.setup.options_files[idx];
            file_changes.push(FileChange {
                path: after.path.clone(),
                before: before.text.clone().map(String::into_bytes),
                after: after.text.clone().map(String::into_bytes),
                mode: 0o644,
                why: "options file read by the service".into(),
            });
        }
        let mut new_setup = self.setup;
        if self.template_changed {
            match &new_setup.source {
                CommandSource::Unit { dropin, stale, .. } => {
                    for old_dropin in stale {
                        if let Ok(bytes) = std::fs::read(old_dropin) {
                            file_changes.push(FileChange {
                                path: old_dropin.clone(),
                                before: Some(bytes),
                                after: None,
                                mode: 0o644,
                                why: format!(
                                    "kmemdbg's earlier drop-in, which no longer sorts last ({} replaces it)",
                                    dropin.display()
                                ),
                            });
                        }
                    }
                    let unit = match &new_setup.manager {
                        super::Manager::Systemd { unit } => unit.clone(),
                        _ => String::new(),
                    };
                    let before = std::fs::read(dropin).ok();
                    let why: Vec<String> = self
                        .settings
                        .iter()
                        .map(|s| format!("{} {}", s.option, s.new))
                        .collect();
                    let text = unit::render_dropin(&unit, &argv::render(&new_setup.template), &why);
                    file_changes.push(FileChange {
                        path: dropin.clone(),
                        before,
                        after: Some(text.into_bytes()),
                        mode: 0o644,
                        why: "systemd drop-in (the unit has no variable for this); its name sorts after every other drop-in, so its ExecStart= wins".into(),
                    });
                    new_setup.source = CommandSource::Unit {
                        exec_from: dropin.clone(),
                        dropin: dropin.clone(),
                        stale: Vec::new(),
                    };
                }
                CommandSource::InitScript { path, line } => {
                    let text = crate::fsx::read_text(path)?;
                    let new = sysv::set_options_line(&text, *line, &new_setup.template)?;
                    file_changes.push(FileChange {
                        path: path.clone(),
                        before: Some(text.into_bytes()),
                        after: Some(new.into_bytes()),
                        mode: 0o755,
                        why: "init script OPTIONS= (it reads no variable for this)".into(),
                    });
                }
                CommandSource::Argv => {
                    if let Some(pidfile) = &new_setup.pidfile {
                        let record = super::argv_record_path(pidfile);
                        if !record.exists() {
                            let orig = old
                                .template
                                .iter()
                                .map(|t| t.text.as_str())
                                .collect::<Vec<_>>()
                                .join("\0");
                            file_changes.push(FileChange {
                                path: record,
                                before: None,
                                after: Some(format!("{orig}\0").into_bytes()),
                                mode: 0o600,
                                why: "the original command line, for kmemdbg revert".into(),
                            });
                        }
                    }
                }
            }
        }
        Ok(RunPlan {
            new_setup,
            file_changes,
            settings: self.settings,
        })
    }
}

/// The setup as it will be once `changes` are written: options files get
/// their new text, a unit is re-read with its drop-ins as changed, an init
/// script's `OPTIONS=` line is read again. A bare process keeps its argv
/// (the caller sets the template when it changes the argv).
pub fn with_files(setup: &Setup, changes: &[FileChange]) -> Result<Setup> {
    let mut s = setup.clone();
    let after = |p: &Path| {
        changes
            .iter()
            .find(|c| c.path == p)
            .map(|c| c.after.clone())
    };
    for f in &mut s.options_files {
        if let Some(a) = after(&f.path) {
            f.text = a.map(|b| String::from_utf8_lossy(&b).into_owned());
        }
    }
    match s.source.clone() {
        CommandSource::Unit { dropin, stale, .. } => {
            let mut files: Vec<unit::UnitFile> = Vec::new();
            for f in &s.unit_files {
                match after(&f.path) {
                    Some(Some(b)) => files.push(unit::UnitFile {
                        path: f.path.clone(),
                        text: String::from_utf8_lossy(&b).into_owned(),
                    }),
                    Some(None) => {}
                    None => files.push(f.clone()),
                }
            }
            if !s.unit_files.iter().any(|f| f.path == dropin) {
                if let Some(Some(b)) = after(&dropin) {
                    files.push(unit::UnitFile {
                        path: dropin.clone(),
                        text: String::from_utf8_lossy(&b).into_owned(),
                    });
                }
            }
            let cfg = unit::service_config(&files)?;
            let Some((exec, exec_from)) = cfg.exec_start else {
                bail!("after the change the unit would have no ExecStart=");
            };
            s.template = argv::tokenize(&exec);
            s.base_env = cfg.environment;
            let stale = stale
                .into_iter()
                .filter(|p| files.iter().any(|f| f.path == *p))
                .collect();
            s.source = CommandSource::Unit {
                exec_from,
                dropin,
                stale,
            };
            s.unit_files = files;
        }
        CommandSource::InitScript { path, .. } => {
            if let Some(Some(b)) = after(&path) {
                let name = match &s.manager {
                    super::Manager::Sysv { name, .. } => name.clone(),
                    _ => "kamailio".into(),
                };
                let parsed = sysv::parse(&String::from_utf8_lossy(&b), &name);
                let Some((line, _)) = parsed.options_line.clone() else {
                    bail!("{}: no OPTIONS= line after the change", path.display());
                };
                s.template = parsed.template().unwrap_or_default();
                s.source = CommandSource::InitScript { path, line };
            }
        }
        CommandSource::Argv => {}
    }
    Ok(s)
}

/// Reads the original argv kept by [`plan`] for a bare process.
pub fn read_argv_record(path: &Path) -> Result<Vec<String>> {
    let bytes = crate::fsx::read(path)?;
    let argv: Vec<String> = bytes
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if argv.is_empty() {
        bail!("{}: empty command line record", path.display());
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::super::{Manager, OptionsFile};
    use super::*;

    fn debian_systemd(defaults: &str) -> Setup {
        let cat = format!(
            "# /lib/systemd/system/kamailio.service\n{}",
            super::super::unit::tests_support::DEBIAN_UNIT
        );
        let files = unit::parse_systemctl_cat(&cat);
        let cfg = unit::service_config(&files).unwrap();
        let files2 = files.clone();
        let (exec, from) = cfg.exec_start.unwrap();
        Setup {
            manager: Manager::Systemd {
                unit: "kamailio.service".into(),
            },
            running: None,
            template: argv::tokenize(&exec),
            source: CommandSource::Unit {
                exec_from: from,
                dropin: PathBuf::from("/nonexistent/kamailio.service.d/kmemdbg.conf"),
                stale: Vec::new(),
            },
            base_env: cfg.environment,
            options_files: vec![OptionsFile {
                path: "/etc/default/kamailio".into(),
                text: Some(defaults.into()),
                optional: true,
            }],
            primary_options: Some(0),
            pidfile: Some("/run/kamailio/kamailio.pid".into()),
            unit_files: files2,
        }
    }

    #[test]
    fn debian_unit_sizes_go_to_defaults_and_qm_to_a_dropin() {
        let s = debian_systemd("#SHM_MEMORY=64\n#PKG_MEMORY=8\n");
        let p = plan(
            &s,
            &Desired {
                shm_mb: Some(128),
                pkg_mb: Some(8),
                options: vec![('x', "qm".into())],
                binary: None,
            },
        )
        .unwrap();
        assert_eq!(p.settings.len(), 2, "{:?}", p.settings);
        assert_eq!(p.file_changes.len(), 2);
        let defaults = String::from_utf8(p.file_changes[0].after.clone().unwrap()).unwrap();
        assert_eq!(defaults, "#SHM_MEMORY=64\nSHM_MEMORY=128\n#PKG_MEMORY=8\n");
        let dropin = String::from_utf8(p.file_changes[1].after.clone().unwrap()).unwrap();
        assert!(dropin.contains("\nExecStart=\nExecStart=/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY -x qm\n"), "{dropin}");
        assert_eq!(
            p.new_setup.command().join(" "),
            "/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f /etc/kamailio/kamailio.cfg -m 128 -M 8 -x qm"
        );
        let again = plan(
            &p.new_setup,
            &Desired {
                shm_mb: Some(128),
                options: vec![('x', "qm".into())],
                ..Default::default()
            },
        )
        .unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn extra_options_variable_is_used() {
        let mut s = debian_systemd("EXTRA_OPTIONS=-A WITH_DEBUG\n");
        s.template = argv::tokenize("/usr/sbin/kamailio -f $CFGFILE $EXTRA_OPTIONS");
        let p = plan(
            &s,
            &Desired {
                options: vec![('x', "qm".into())],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.file_changes.len(), 1);
        assert_eq!(
            String::from_utf8(p.file_changes[0].after.clone().unwrap()).unwrap(),
            "EXTRA_OPTIONS=\"-A WITH_DEBUG -x qm\"\n"
        );
    }
}
