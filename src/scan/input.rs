//! Where `scan` reads from: log files, stdin, or journald (`journalctl -u
//! UNIT`, through the runner), streamed in fixed-size chunks so memory
//! stays flat whatever the size of the log.
//!
//! Read-only: opens files for reading, runs `journalctl` (never with an
//! option that changes the journal). Never prints.

use super::prefilter::Prefilter;
use super::Scanner;
use crate::runner;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Bytes read at a time.
const CHUNK: usize = 4 << 20;

/// What was read in all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub lines: u64,
    pub bytes: u64,
}

/// Streams `reader` through the prefilter into `scanner`.
pub fn scan_reader(
    reader: &mut dyn Read,
    scanner: &mut Scanner,
    totals: &mut Totals,
) -> Result<()> {
    let pre = Prefilter::new();
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0usize;
    let mut line_base = 0u64;
    loop {
        if filled == buf.len() {
            // one line longer than the buffer: read it as it is, cut here
            let n = pre.candidates(&buf[..filled], |i, l| scanner.line(line_base + i + 1, l));
            line_base += n;
            filled = 0;
        }
        let n = reader.read(&mut buf[filled..])?;
        totals.bytes += n as u64;
        if n == 0 {
            if filled > 0 {
                let count =
                    pre.candidates(&buf[..filled], |i, l| scanner.line(line_base + i + 1, l));
                line_base += count + 1;
            }
            break;
        }
        filled += n;
        // whole lines go now; the unfinished last one waits for more bytes
        let Some(last_nl) = memchr::memrchr(b'\n', &buf[..filled]) else {
            continue;
        };
        let count = pre.candidates(&buf[..last_nl], |i, l| scanner.line(line_base + i + 1, l));
        line_base += count + 1;
        buf.copy_within(last_nl + 1..filled, 0);
        filled -= last_nl + 1;
    }
    totals.lines += line_base;
    Ok(())
}

/// Scans one file.
pub fn scan_file(path: &Path, scanner: &mut Scanner, totals: &mut Totals) -> Result<()> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        bail!(
            "{} is a directory; give the log file itself",
            path.display()
        );
    }
    scan_reader(&mut f, scanner, totals).with_context(|| format!("reading {}", path.display()))
}

/// How long journalctl may take to print a unit's whole journal.
const JOURNAL_TIMEOUT: Duration = Duration::from_secs(3600);

/// `journalctl -u UNIT [--since @EPOCH] -o short-iso-precise`, streamed
/// into `scanner` like a file.
pub fn scan_journal(
    unit: &str,
    since: Option<f64>,
    scanner: &mut Scanner,
    totals: &mut Totals,
) -> Result<()> {
    let program = runner::find_program("journalctl").context(
        "journalctl not found: --journal needs systemd's journalctl (or give the log file)",
    )?;
    let sh = runner::shell()?;
    let since_args: Vec<String> = since
        .map(|s| vec!["--since".to_string(), format!("@{}", s.floor() as i64)])
        .unwrap_or_default();
    let cmd = xshell::cmd!(
        sh,
        "{program} -u {unit} {since_args...} -o short-iso-precise --no-pager -q"
    );
    let out = runner::run_reading(cmd, JOURNAL_TIMEOUT, &mut |r| {
        scan_reader(r, scanner, totals)
    })?;
    if !out.success() {
        bail!(
            "`{}` failed (exit {:?}): {}; is journald running, and are you root or in group systemd-journal?",
            out.display,
            out.code,
            out.tail(3).trim()
        );
    }
    Ok(())
}

/// journald's own reports of lines it dropped for `unit` (`Suppressed N
/// messages from UNIT`, logged by systemd-journald, not by the unit).
pub fn journal_drops(unit: &str, since: Option<f64>) -> Vec<super::Drop> {
    let Some(program) = runner::find_program("journalctl") else {
        return Vec::new();
    };
    let Ok(sh) = runner::shell() else {
        return Vec::new();
    };
    let since_args: Vec<String> = since
        .map(|s| vec!["--since".to_string(), format!("@{}", s.floor() as i64)])
        .unwrap_or_default();
    let id = format!("MESSAGE_ID={}", super::JOURNALD_DROPPED_MESSAGE_ID);
    let out = runner::run(
        xshell::cmd!(sh, "{program} {id} {since_args...} -o json --no-pager -q"),
        Duration::from_secs(60),
    );
    match out {
        Ok(o) if o.success() => super::journald_drops_json(&o.stdout_text(), unit),
        _ => Vec::new(),
    }
}

/// Scans the log kamailio writes to, found as `kmemdbg dump` finds it
/// ([`crate::capture::source::discover`]): a syslog file, a stderr capture
/// or journald. Returns what was read (and why it was chosen).
pub fn scan_discovered(
    scanner: &mut Scanner,
    since: Option<f64>,
    totals: &mut Totals,
) -> Result<String> {
    use crate::capture::source::{discover, SourceInfo};
    let (info, why) = discover()?;
    match &info {
        SourceInfo::Syslog { path } | SourceInfo::Stderr { path } => {
            scanner.begin_input(true);
            scan_file(path, scanner, totals)?;
        }
        SourceInfo::Journal { unit } => {
            scanner.begin_input(false);
            scan_journal(unit, since, scanner, totals)?;
            scanner.add_drops(journal_drops(unit, since));
        }
    }
    Ok(format!("{info} ({why})"))
}
