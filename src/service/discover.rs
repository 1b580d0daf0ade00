//! Finds how this kamailio runs: a systemd unit (`systemctl cat`), a SysV
//! init script, or a bare process (its pid file, or found by its executable
//! in /proc, argv read from `/proc/PID/cmdline`).
//!
//! Reads /proc, unit files, init scripts and options files; runs only
//! `systemctl show` (through [`crate::runner`], see [`super::effective`]).
//! Never changes anything.

use super::{
    argv, effective, sysv, unit, CommandSource, Manager, OptionsFile, Running, Setup, Target,
};
use crate::procfs;
use crate::runner;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Names a kamailio binary has had.
pub use crate::procfs::PROGRAM_NAMES;

/// Where kmemdbg writes systemd drop-ins (`KMEMDBG_SYSTEMD_DIR` replaces
/// `/etc/systemd/system`, for tests and image builders).
pub fn systemd_dir() -> PathBuf {
    std::env::var_os("KMEMDBG_SYSTEMD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/systemd/system"))
}

/// Where init scripts live (`KMEMDBG_INITD_DIR` replaces `/etc/init.d`).
pub fn initd_dir() -> PathBuf {
    std::env::var_os("KMEMDBG_INITD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/init.d"))
}

/// `kamailio` -> `kamailio.service`.
pub fn unit_name(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// Reads one process from /proc ([`crate::procfs`]); None when it is gone or a zombie.
pub fn read_process(pid: u32) -> Option<Running> {
    let stat = procfs::stat(pid).filter(|s| s.is_alive())?;
    let argv = procfs::cmdline(pid).unwrap_or_default();
    let exe = procfs::exe(pid).unwrap_or_default();
    let stderr_file = procfs::fd_target(pid, 2).filter(|p| p.is_file());
    Some(Running {
        pid,
        argv,
        exe,
        stderr_file,
        start_ticks: stat.start_ticks,
    })
}

/// (state, start time in ticks) from `/proc/PID/stat` (the name may hold spaces).
pub fn parse_stat(stat: &str) -> Option<(char, u64)> {
    procfs::parse_stat(stat).map(|s| (s.state, s.start_ticks))
}

pub use crate::procfs::{alive, children_of, parent_of};

/// Every kamailio main process (its parent is not a kamailio of the same binary).
pub fn main_processes() -> Vec<Running> {
    procfs::kamailio_main_pids()
        .into_iter()
        .filter_map(read_process)
        .collect()
}

/// Reads a pid file: the PID and the process when it runs.
pub fn read_pidfile(path: &Path) -> Result<(u32, Option<Running>)> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read pid file {} (is kamailio running with -P {}?)",
            path.display(),
            path.display()
        )
    })?;
    let pid: u32 = text.trim().parse().with_context(|| {
        format!(
            "{}:1: {:?} is not a process id",
            path.display(),
            text.trim()
        )
    })?;
    Ok((pid, read_process(pid)))
}

/// The systemd unit a process belongs to (from `/proc/PID/cgroup`).
pub fn cgroup_unit(pid: u32) -> Option<String> {
    unit_from_cgroup(&crate::procfs::cgroup(pid)?)
}

/// `0::/system.slice/kamailio.service` -> `kamailio.service`.
pub fn unit_from_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.rsplit('/')
            .next()
            .filter(|s| s.ends_with(".service"))
            .map(String::from)
    })
}

/// Finds the setup for `target` (see the module doc for the order).
pub fn discover(target: &Target) -> Result<Setup> {
    if let Some(pidfile) = &target.pidfile {
        let (pid, running) = read_pidfile(pidfile)?;
        let Some(running) = running else {
            bail!(
                "{} names PID {pid}, which is not running: start kamailio first (kmemdbg needs its command line from /proc)",
                pidfile.display()
            );
        };
        if !procfs::is_kamailio_program(&running.exe) {
            bail!(
                "{} names PID {pid}, which is {} and not kamailio",
                pidfile.display(),
                running.exe.display()
            );
        }
        return process_setup(running, Some(pidfile.clone()));
    }
    if let Some(name) = &target.service {
        return service_setup(name);
    }
    let mains = main_processes();
    match mains.len() {
        // Nothing runs: systemd's kamailio.service, when it has one loaded.
        0 if effective::show("kamailio.service").is_ok_and(|st| st.load_state == "loaded") => {
            service_setup("kamailio.service")
        }
        0 => bail!("no running kamailio found in /proc, and systemd has no kamailio.service; name it: --service NAME (systemd/SysV) or --pidfile FILE"),
        1 => {
            let r = mains.into_iter().next().expect("one");
            if let Some(u) = cgroup_unit(r.pid) {
                // A unit systemd knows (even masked or refused) is never
                // handled as a bare process: service_setup says what is wrong.
                if effective::show(&u)
                    .is_ok_and(|st| !st.load_state.is_empty() && st.load_state != "not-found")
                {
                    return service_setup(&u);
                }
            }
            let pidfile = argv::find(&argv::from_argv(&r.argv), 'P').map(|f| PathBuf::from(f.value));
            process_setup(r, pidfile)
        }
        _ => bail!(
            "several kamailio processes run here; say which one with --pidfile FILE or --service NAME:\n{}",
            mains
                .iter()
                .map(|r| format!("    PID {}: {}", r.pid, r.argv.join(" ")))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// A bare process: its argv is the command line.
pub fn process_setup(running: Running, pidfile: Option<PathBuf>) -> Result<Setup> {
    let tokens = argv::from_argv(&running.argv);
    let pidfile = pidfile.or_else(|| argv::find(&tokens, 'P').map(|f| PathBuf::from(f.value)));
    Ok(Setup {
        manager: Manager::Process,
        running: Some(running),
        template: tokens,
        source: CommandSource::Argv,
        base_env: Vec::new(),
        options_files: Vec::new(),
        primary_options: None,
        pidfile,
        unit_files: Vec::new(),
    })
}

/// A named service: systemd when it has the unit loaded, else SysV.
pub fn service_setup(name: &str) -> Result<Setup> {
    let unit = unit_name(name);
    if unit.contains("@.") {
        bail!(
            "{unit} is a template unit: name one of its instances, e.g. --service {}",
            unit.replacen("@.", "@NAME.", 1)
        );
    }
    let systemd_err = match effective::show(&unit) {
        Ok(st) if st.load_state == "bad-setting" && st.fragment.is_some() => {
            // systemd refused a setting: find it in the files, with its line.
            let files = effective::read_files(&st)?;
            unit::service_config(&files)
                .with_context(|| format!("systemd refuses to load {unit}"))?;
            bail!("systemd refuses to load {unit} (LoadState=bad-setting): see `systemctl status {unit}`")
        }
        Ok(st) if effective::usable(&unit, &st)? => {
            let files = effective::read_files(&st)?;
            return systemd_setup(&unit, files);
        }
        Ok(st) => anyhow::anyhow!("LoadState={}", st.load_state),
        Err(e) => e,
    };
    let base = name.trim_end_matches(".service");
    let script = initd_dir().join(base);
    if script.is_file() {
        return sysv_setup(base, &script);
    }
    bail!(
        "no service {name}: systemd does not know {unit} ({}) and there is no init script {}; for a plain process use --pidfile FILE",
        first_line(&systemd_err.to_string()),
        script.display()
    )
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn read_options_file(path: &Path, optional: bool) -> Result<OptionsFile> {
    let text = match std::fs::read(path) {
        Ok(b) => Some(crate::fsx::text_of(path, b)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(OptionsFile {
        path: path.to_path_buf(),
        text,
        optional,
    })
}

/// A systemd unit from its files (unit file first, then its drop-ins in
/// systemd's order): the `ExecStart=` in effect, `Environment=`, every
/// `EnvironmentFile=` read as systemd reads it (a missing `-` file or glob
/// is skipped; a missing file without `-` is an error naming the line).
pub fn systemd_setup(unit: &str, files: Vec<unit::UnitFile>) -> Result<Setup> {
    if files.is_empty() {
        bail!("{unit}: no unit file");
    }
    let cfg = unit::service_config(&files).with_context(|| format!("reading {unit}"))?;
    let Some((exec, exec_from)) = cfg.exec_start.clone() else {
        bail!("{unit} has no ExecStart=; kmemdbg cannot tell how it starts kamailio");
    };
    let exec = unit::expand_specifiers(&exec, unit).map_err(|why| {
        anyhow::anyhow!(
            "{}:{}: ExecStart= uses {why}",
            exec_from.display(),
            cfg.exec_start_line
        )
    })?;
    let mut options_files = Vec::new();
    let mut primary = None;
    for r in &cfg.environment_files {
        if r.is_glob() {
            let found = glob_files(&r.path);
            if found.is_empty() && !r.optional {
                bail!(
                    "{}:{}: EnvironmentFile={} matches no file, and without the '-' prefix systemd refuses to start {unit}",
                    r.from.display(),
                    r.line,
                    r.path
                );
            }
            for p in found {
                options_files.push(read_options_file(&p, true)?);
            }
        } else {
            let f = read_options_file(Path::new(&r.path), r.optional)?;
            if f.text.is_none() && !r.optional {
                bail!(
                    "{}:{}: EnvironmentFile={} does not exist, and without the '-' prefix systemd refuses to start {unit}: create it or write EnvironmentFile=-{}",
                    r.from.display(),
                    r.line,
                    r.path,
                    r.path
                );
            }
            if primary.is_none() {
                primary = Some(options_files.len());
            }
            options_files.push(f);
        }
    }
    let (dropin, stale) = effective::place_dropin(unit, &systemd_dir(), &files)?;
    let mut setup = Setup {
        manager: Manager::Systemd {
            unit: unit.to_string(),
        },
        running: None,
        template: argv::tokenize(&exec),
        source: CommandSource::Unit {
            exec_from,
            dropin,
            stale,
        },
        base_env: cfg.environment.clone(),
        options_files,
        primary_options: primary,
        pidfile: cfg.pid_file.map(PathBuf::from),
        unit_files: files,
    };
    setup.running = main_pid_systemd(unit)
        .ok()
        .flatten()
        .and_then(read_process)
        .or_else(|| {
            setup
                .pidfile
                .as_deref()
                .and_then(|p| read_pidfile(p).ok())
                .and_then(|(_, r)| r)
        });
    Ok(setup)
}

/// `systemctl show -p MainPID --value UNIT` (None when 0).
pub fn main_pid_systemd(unit: &str) -> Result<Option<u32>> {
    let Some(systemctl) = runner::find_program("systemctl") else {
        bail!("systemctl not found in PATH");
    };
    let sh = runner::shell()?;
    let out = runner::run(
        xshell::cmd!(sh, "{systemctl} show -p MainPID --value {unit}"),
        Duration::from_secs(20),
    )?
    .check()?;
    let pid: u32 = out.stdout_text().trim().parse().unwrap_or(0);
    Ok((pid != 0).then_some(pid))
}

fn glob_files(pattern: &str) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let re = regex::Regex::new(&format!(
        "^{}$",
        regex::escape(name).replace("\\*", ".*").replace("\\?", ".")
    ));
    let Ok(re) = re else { return Vec::new() };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| re.is_match(n)))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// A SysV service from its init script.
pub fn sysv_setup(name: &str, script: &Path) -> Result<Setup> {
    let text = crate::fsx::read_text(script)?;
    let parsed = sysv::parse(&text, name);
    let Some((line, _)) = parsed.options_line.clone() else {
        bail!(
            "{}: no OPTIONS=\"...\" line; kmemdbg cannot tell which command line the script runs",
            script.display()
        );
    };
    let template = parsed.template().unwrap_or_default();
    let mut options_files = Vec::new();
    let mut primary = None;
    if let Some(d) = &parsed.defaults_file {
        primary = Some(0);
        options_files.push(read_options_file(Path::new(d), true)?);
    }
    let base_env: Vec<(String, String)> = parsed
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut setup = Setup {
        manager: Manager::Sysv {
            name: name.to_string(),
            script: script.to_path_buf(),
        },
        running: None,
        template,
        source: CommandSource::InitScript {
            path: script.to_path_buf(),
            line,
        },
        base_env,
        options_files,
        primary_options: primary,
        pidfile: None,
        unit_files: Vec::new(),
    };
    let cmd = argv::from_argv(&setup.command());
    setup.pidfile = argv::find(&cmd, 'P')
        .map(|f| PathBuf::from(f.value))
        .or_else(|| parsed.vars.get("PIDFILE").map(PathBuf::from));
    setup.running = setup
        .pidfile
        .as_deref()
        .and_then(|p| read_pidfile(p).ok())
        .and_then(|(_, r)| r);
    Ok(setup)
}

/// Which cfg the proxy loads, and how kmemdbg knows: the running main
/// process's `-f`, else the command line its service would run (unit,
/// `Environment=`, `EnvironmentFile=` such as `CFGFILE` in
/// `/etc/default/kamailio`), else the binary's compiled default (`-h`).
/// When the running process and its service disagree, or a path is
/// relative, it is not certain: an error lists what was found and asks for
/// `--cfg`.
pub fn find_cfg(setup: &Setup, binary: &Path) -> Result<(PathBuf, String)> {
    let running = setup.running.as_ref().and_then(|r| {
        argv::find(&argv::from_argv(&r.argv), 'f').map(|f| (r.pid, PathBuf::from(f.value)))
    });
    let planned = setup.cfg();
    let ask = |what: String| -> anyhow::Error {
        anyhow::anyhow!(
            "cannot tell for certain which cfg the proxy loads: {what}; pass --cfg FILE"
        )
    };
    match (running, planned) {
        (Some((pid, r)), Some(p)) if r != p => Err(ask(format!(
            "\n    {} (-f of the running PID {pid})\n    {} (what {} would start)",
            r.display(),
            p.display(),
            setup.manager.describe()
        ))),
        (Some((pid, r)), _) if r.is_relative() => Err(ask(format!(
            "the running PID {pid} has a relative -f {}",
            r.display()
        ))),
        (Some((pid, r)), _) => Ok((r, format!("-f of the running PID {pid}"))),
        (None, Some(p)) if p.is_absolute() => Ok((
            p,
            format!("the command line of {}", setup.manager.describe()),
        )),
        (None, Some(p)) => Err(ask(format!("a relative -f {}", p.display()))),
        (None, None) => match compiled_default_cfg(binary) {
            Some(d) => Ok((
                d,
                format!(
                    "{}'s compiled default (no -f on its command line)",
                    binary.display()
                ),
            )),
            None => Err(ask(format!(
                "no -f on the command line and `{} -h` names no default",
                binary.display()
            ))),
        },
    }
}

/// `kamailio -h`'s default cfg path.
pub fn compiled_default_cfg(binary: &Path) -> Option<PathBuf> {
    let sh = runner::shell().ok()?;
    let out = runner::run(xshell::cmd!(sh, "{binary} -h"), Duration::from_secs(10)).ok()?;
    let mut text = out.stdout_text();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    parse_default_cfg(&text)
}

/// `-f file      Configuration file (default: /etc/kamailio/kamailio.cfg)` -> the path.
pub fn parse_default_cfg(help: &str) -> Option<PathBuf> {
    help.lines()
        .find(|l| l.trim_start().starts_with("-f "))
        .and_then(|l| l.split_once("(default:"))
        .and_then(|(_, rest)| rest.split(')').next())
        .map(|p| PathBuf::from(p.trim()))
        .filter(|p| p.is_absolute())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_cgroup() {
        let stat = "4242 (kamailio x) S 1 4240 4240 0 -1 4194368 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        assert_eq!(parse_stat(stat), Some(('S', 98765)));
        assert_eq!(
            unit_from_cgroup("0::/system.slice/kamailio.service\n").as_deref(),
            Some("kamailio.service")
        );
        assert_eq!(unit_from_cgroup("0::/user.slice/session-1.scope\n"), None);
        assert!(read_process(std::process::id()).is_some());
        assert!(alive(std::process::id()));
    }

    #[test]
    fn default_cfg_from_help() {
        // Debian 5.6.3's `kamailio -h`, the line as printed.
        let help = "    -c           Check configuration file for syntax errors\n    -f file      Configuration file (default: /etc/kamailio/kamailio.cfg)\n";
        assert_eq!(
            parse_default_cfg(help),
            Some(PathBuf::from("/etc/kamailio/kamailio.cfg"))
        );
        assert_eq!(parse_default_cfg("-f file  Configuration file\n"), None);
    }
}
