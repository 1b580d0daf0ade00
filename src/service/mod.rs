//! How a Kamailio runs on this box, and the guided restart that changes it
//! safely: find the service (systemd unit, SysV script or bare process),
//! plan the run-time changes (`-x qm`, `-m`/`-M`, the binary), pre-flight
//! with `kamailio -c`, stop, start, health-check, and roll back to the
//! previous setup when the new one fails.
//!
//! Readers of unit files, init scripts and command lines ([`argv`],
//! [`unit`], [`sysv`]) are pure. Everything that touches the box goes
//! through [`crate::runner`] (programs, including `systemctl`/`service`,
//! found with [`crate::runner::find_program`]) and [`crate::fsx`] (files).
//! This module never prints, and never leaves a box that had a running
//! proxy without one: every failure after the stop ends in a rollback.

pub mod argv;
pub mod control;
pub mod discover;
pub mod effective;
pub mod health;
pub mod journal;
pub mod plan;
pub mod restart;
pub mod suggest;
pub mod sysv;
pub mod unit;

use argv::Token;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Who starts and stops kamailio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Manager {
    /// A systemd unit (`systemctl restart NAME`).
    Systemd { unit: String },
    /// A SysV init script (`service NAME restart`).
    Sysv { name: String, script: PathBuf },
    /// A bare daemon started by hand or by a script (pid file or found in /proc).
    Process,
}

impl Manager {
    pub fn describe(&self) -> String {
        match self {
            Manager::Systemd { unit } => format!("systemd unit {unit}"),
            Manager::Sysv { name, script } => {
                format!("SysV service {name} ({})", script.display())
            }
            Manager::Process => "a plain process (no service manager)".into(),
        }
    }
}

/// A kamailio main process found in /proc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Running {
    pub pid: u32,
    /// Exactly as in `/proc/PID/cmdline`.
    pub argv: Vec<String>,
    /// `/proc/PID/exe`.
    pub exe: PathBuf,
    /// Where its stderr goes when that is a regular file (logs with `-E`).
    pub stderr_file: Option<PathBuf>,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
}

/// Where the command line is written down, i.e. what kmemdbg edits to change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandSource {
    /// `ExecStart=` of a unit; changes go to kmemdbg's drop-in `dropin`
    /// (named to sort after every other drop-in); `stale`: kmemdbg's earlier
    /// drop-ins that no longer sort last (removed when `dropin` is written).
    Unit {
        exec_from: PathBuf,
        dropin: PathBuf,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        stale: Vec<PathBuf>,
    },
    /// The `OPTIONS="..."` line (0-based `line`) of an init script.
    InitScript { path: PathBuf, line: usize },
    /// The argv of the running process (nothing on disk).
    Argv,
}

/// An options file the service reads (`EnvironmentFile=`, `DEFAULTS=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsFile {
    pub path: PathBuf,
    /// None when the file does not exist (yet).
    pub text: Option<String>,
    /// A missing file is fine for the service (`EnvironmentFile=-...`).
    pub optional: bool,
}

impl OptionsFile {
    pub fn vars(&self) -> Vec<(String, String)> {
        self.text
            .as_deref()
            .map(unit::parse_env_file)
            .unwrap_or_default()
    }
}

/// Everything kmemdbg knows about how this kamailio runs.
#[derive(Debug, Clone)]
pub struct Setup {
    pub manager: Manager,
    /// The main process, when one runs.
    pub running: Option<Running>,
    /// The command line as written in its source (variables unexpanded).
    pub template: Vec<Token>,
    pub source: CommandSource,
    /// Environment set by the unit (`Environment=`) or the init script's own defaults.
    pub base_env: Vec<(String, String)>,
    /// Options files, in the order the service reads them (later ones win).
    pub options_files: Vec<OptionsFile>,
    /// Index in `options_files` of the file kmemdbg writes new settings to.
    pub primary_options: Option<usize>,
    /// The pid file of the main process, when known.
    pub pidfile: Option<PathBuf>,
    /// systemd only: the unit file and its drop-ins as `systemctl cat` showed them.
    pub unit_files: Vec<unit::UnitFile>,
}

impl Setup {
    /// The variables in effect when the service starts.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.base_env.clone();
        for f in &self.options_files {
            env.extend(f.vars());
        }
        env
    }

    /// The command line that starts (or would start) kamailio, expanded.
    pub fn command(&self) -> Vec<String> {
        match self.source {
            CommandSource::Argv => self.template.iter().map(|t| t.text.clone()).collect(),
            _ => unit::expand(&self.template, &self.env()),
        }
    }

    /// The binary the command line runs.
    pub fn binary(&self) -> PathBuf {
        PathBuf::from(self.command().first().cloned().unwrap_or_default())
    }

    /// The cfg file the command line loads (`-f`, else the compiled default).
    pub fn cfg(&self) -> Option<PathBuf> {
        let cmd = argv::from_argv(&self.command());
        argv::find(&cmd, 'f').map(|f| PathBuf::from(f.value))
    }

    /// `-A` defines on the command line (they change what the cfg means).
    pub fn defines(&self) -> Vec<String> {
        let cmd = argv::from_argv(&self.command());
        argv::find_all(&cmd, 'A')
            .into_iter()
            .map(|f| f.value)
            .collect()
    }

    /// The value of short option `opt` on the command line in effect.
    pub fn option(&self, opt: char) -> Option<String> {
        argv::find(&argv::from_argv(&self.command()), opt).map(|f| f.value)
    }

    /// Every file whose current text this setup depends on.
    pub fn files(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = self
            .options_files
            .iter()
            .map(|f| f.path.as_path())
            .collect();
        match &self.source {
            CommandSource::Unit { dropin, .. } => v.push(dropin),
            CommandSource::InitScript { path, .. } => v.push(path),
            CommandSource::Argv => {}
        }
        v
    }
}

/// How the operator names the proxy on the command line.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub service: Option<String>,
    pub pidfile: Option<PathBuf>,
}

/// Where kmemdbg keeps the original argv of a bare process it restarted with
/// a changed command line (so `revert` can go back to it).
pub fn argv_record_path(pidfile: &Path) -> PathBuf {
    let mut name = pidfile.file_name().unwrap_or_default().to_os_string();
    name.push(".kmemdbg-argv");
    pidfile.with_file_name(name)
}
