//! Where the proxy's log lines come from, read from "now" on: a log file
//! (syslog file or a stderr capture) followed from the size it had before
//! the trigger, across rotation and truncation, or journald through
//! `journalctl` with a cursor.
//!
//! Read-only: this module never writes, truncates or rotates a log, and
//! never reads lines written before [`Follower::start`].

use crate::runner;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which kind of log is followed (for messages and JSON).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceInfo {
    /// A syslog file (`--log`).
    Syslog { path: PathBuf },
    /// A file kamailio's stderr goes to (`--stderr`, kamailio `-E`).
    Stderr { path: PathBuf },
    /// journald (`--journal UNIT`).
    Journal { unit: String },
}

impl std::fmt::Display for SourceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceInfo::Syslog { path } => write!(f, "syslog file {}", path.display()),
            SourceInfo::Stderr { path } => write!(f, "stderr capture {}", path.display()),
            SourceInfo::Journal { unit } => write!(f, "journald unit {unit}"),
        }
    }
}

/// Syslog files kamailio's lines may go to (Debian/Ubuntu, RHEL, a local0 rule).
pub const SYSLOG_FILES: &[&str] = &[
    "/var/log/syslog",
    "/var/log/messages",
    "/var/log/kamailio.log",
];

/// How much of a syslog file's end is read to see whether kamailio logs there.
const SYSLOG_TAIL: u64 = 256 * 1024;

/// Where kamailio logs when the operator does not say: the first syslog
/// file whose recent lines come from kamailio; else journald for the
/// systemd unit the running kamailio belongs to; else `/var/log/syslog`
/// when it exists. Returns the source and why it was chosen. Reads only.
pub fn discover() -> Result<(SourceInfo, String)> {
    for f in SYSLOG_FILES {
        let p = Path::new(f);
        if tail_mentions(p, "kamailio") {
            return Ok((
                SourceInfo::Syslog {
                    path: p.to_path_buf(),
                },
                "its recent lines come from kamailio".into(),
            ));
        }
    }
    let mains = crate::service::discover::main_processes();
    let mut units: Vec<String> = mains
        .iter()
        .filter_map(|r| crate::service::discover::cgroup_unit(r.pid))
        .collect();
    units.sort();
    units.dedup();
    match units.as_slice() {
        [unit] => {
            return Ok((
                SourceInfo::Journal { unit: unit.clone() },
                format!(
                "kamailio runs as systemd unit {unit} and no syslog file ({}) receives its lines",
                SYSLOG_FILES.join(", ")
            ),
            ))
        }
        [] => {}
        many => bail!(
            "kamailio runs in several systemd units ({}): say which with --journal UNIT",
            many.join(", ")
        ),
    }
    let syslog = Path::new(SYSLOG_FILES[0]);
    if syslog.is_file() {
        return Ok((
            SourceInfo::Syslog {
                path: syslog.to_path_buf(),
            },
            "the system log (no kamailio line in it yet)".into(),
        ));
    }
    bail!("where does kamailio log? no syslog file ({}) receives its lines and no kamailio runs under systemd: pass --journal UNIT (systemd), --log FILE (syslog file) or --stderr FILE (kamailio -E)", SYSLOG_FILES.join(", "))
}

/// True when the last [`SYSLOG_TAIL`] bytes of `path` hold `word`.
fn tail_mentions(path: &Path, word: &str) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if f.seek(SeekFrom::Start(len.saturating_sub(SYSLOG_TAIL)))
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    if f.take(SYSLOG_TAIL).read_to_end(&mut buf).is_err() {
        return false;
    }
    memchr::memmem::find(&buf, word.as_bytes()).is_some()
}

/// What happened to the log while it was followed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStats {
    /// Where reading started (byte offset of the file; 0 for journald).
    pub start_offset: u64,
    /// Bytes read after the start.
    pub bytes: u64,
    /// Lines read after the start.
    pub lines: u64,
    /// Times the file was replaced by a new one (logrotate's rename).
    pub rotations: u32,
    /// Times the file shrank under us (logrotate's copytruncate, `> file`).
    pub truncations: u32,
}

/// Follows one log from the moment it is started.
pub enum Follower {
    File(FileFollower),
    Journal(JournalFollower),
}

impl Follower {
    /// Remembers where the log ends now; later polls return only newer lines.
    pub fn start(info: &SourceInfo) -> Result<Follower> {
        Ok(match info {
            SourceInfo::Syslog { path } | SourceInfo::Stderr { path } => {
                Follower::File(FileFollower::start(path)?)
            }
            SourceInfo::Journal { unit } => Follower::Journal(JournalFollower::start(unit)?),
        })
    }

    /// The complete lines written since the last poll.
    pub fn poll(&mut self) -> Result<Vec<String>> {
        match self {
            Follower::File(f) => f.poll(),
            Follower::Journal(j) => j.poll(),
        }
    }

    /// Everything left, including a last line without its newline.
    pub fn finish(&mut self) -> Result<Vec<String>> {
        match self {
            Follower::File(f) => f.finish(),
            Follower::Journal(j) => j.poll(),
        }
    }

    pub fn stats(&self) -> &SourceStats {
        match self {
            Follower::File(f) => &f.stats,
            Follower::Journal(j) => &j.stats,
        }
    }
}

/// Follows a file by path from its size at start. The open handle keeps
/// the old file readable after a rename, so nothing written just before a
/// rotation is lost.
pub struct FileFollower {
    path: PathBuf,
    file: File,
    ino: u64,
    dev: u64,
    offset: u64,
    partial: Vec<u8>,
    pub stats: SourceStats,
}

/// Never read more than this per poll (a huge dump arrives over several polls).
const MAX_READ: u64 = 64 << 20;

impl FileFollower {
    pub fn start(path: &Path) -> Result<FileFollower> {
        let file = File::open(path).with_context(|| {
            format!(
                "cannot open the log {} (does kamailio log there? see --log/--stderr/--journal)",
                path.display()
            )
        })?;
        let meta = file
            .metadata()
            .with_context(|| format!("cannot stat {}", path.display()))?;
        if meta.is_dir() {
            bail!("{} is a directory, not a log file", path.display());
        }
        let offset = meta.len();
        Ok(FileFollower {
            path: path.to_path_buf(),
            file,
            ino: meta.ino(),
            dev: meta.dev(),
            offset,
            partial: Vec::new(),
            stats: SourceStats {
                start_offset: offset,
                ..SourceStats::default()
            },
        })
    }

    pub fn poll(&mut self) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        self.read_available(&mut lines)?;
        // Rotated (a new file at the path) or truncated (same file, shorter)?
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.ino() != self.ino || meta.dev() != self.dev => {
                // The old file is complete now: drain it, then follow the new one from 0.
                self.read_available(&mut lines)?;
                self.flush_partial(&mut lines);
                if let Ok(file) = File::open(&self.path) {
                    self.file = file;
                    self.ino = meta.ino();
                    self.dev = meta.dev();
                    self.offset = 0;
                    self.stats.rotations += 1;
                    self.read_available(&mut lines)?;
                }
            }
            Ok(meta) if meta.len() < self.offset => {
                self.flush_partial(&mut lines);
                self.offset = 0;
                self.stats.truncations += 1;
                self.read_available(&mut lines)?;
            }
            // Missing for a moment during rotation: keep the old handle.
            _ => {}
        }
        Ok(lines)
    }

    pub fn finish(&mut self) -> Result<Vec<String>> {
        let mut lines = self.poll()?;
        self.flush_partial(&mut lines);
        Ok(lines)
    }

    fn read_available(&mut self, lines: &mut Vec<String>) -> Result<()> {
        loop {
            self.file
                .seek(SeekFrom::Start(self.offset))
                .with_context(|| format!("cannot seek in {}", self.path.display()))?;
            let mut buf = Vec::new();
            let n = (&mut self.file)
                .take(MAX_READ)
                .read_to_end(&mut buf)
                .with_context(|| format!("cannot read {}", self.path.display()))?;
            if n == 0 {
                return Ok(());
            }
            self.offset += n as u64;
            self.stats.bytes += n as u64;
            self.split_lines(&buf, lines);
            if (n as u64) < MAX_READ {
                return Ok(());
            }
        }
    }

    fn split_lines(&mut self, buf: &[u8], lines: &mut Vec<String>) {
        let mut rest = buf;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..nl]);
            lines.push(take_line(&mut self.partial));
            self.stats.lines += 1;
            rest = &rest[nl + 1..];
        }
        self.partial.extend_from_slice(rest);
    }

    fn flush_partial(&mut self, lines: &mut Vec<String>) {
        if !self.partial.is_empty() {
            lines.push(take_line(&mut self.partial));
            self.stats.lines += 1;
        }
    }
}

/// One line as text: CR stripped, invalid UTF-8 replaced (a log may hold anything).
fn take_line(buf: &mut Vec<u8>) -> String {
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    let s = String::from_utf8_lossy(buf).into_owned();
    buf.clear();
    s
}

/// Follows a systemd unit's journal with `journalctl` and a cursor.
pub struct JournalFollower {
    unit: String,
    program: PathBuf,
    /// The cursor after the last entry seen; `None` until the unit has one.
    cursor: Option<String>,
    /// Used while there is no cursor: entries from this UNIX time on.
    since: String,
    pub stats: SourceStats,
}

const JOURNAL_TIMEOUT: Duration = Duration::from_secs(20);

impl JournalFollower {
    pub fn start(unit: &str) -> Result<JournalFollower> {
        let program = runner::find_program("journalctl").context(
            "journalctl not found: --journal needs systemd's journalctl (or use --log/--stderr)",
        )?;
        let since = format!(
            "@{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        );
        let mut j = JournalFollower {
            unit: unit.to_string(),
            program,
            cursor: None,
            since,
            stats: SourceStats::default(),
        };
        // The newest entry's cursor marks "now"; its text is not wanted.
        let sh = runner::shell()?;
        let program = &j.program;
        let unit = &j.unit;
        let out = runner::run(
            xshell::cmd!(
                sh,
                "{program} -u {unit} -n 1 -o cat --show-cursor --no-pager -q"
            ),
            JOURNAL_TIMEOUT,
        )?;
        let out = out.check().with_context(|| {
            format!("cannot read the journal of {unit} (is journald running? are you root or in group systemd-journal?)")
        })?;
        let (_, cursor) = split_cursor(&out.stdout_text());
        j.cursor = cursor;
        Ok(j)
    }

    pub fn poll(&mut self) -> Result<Vec<String>> {
        let sh = runner::shell()?;
        let program = &self.program;
        let unit = &self.unit;
        let position: Vec<String> = match &self.cursor {
            Some(c) => vec!["--after-cursor".into(), c.clone()],
            None => vec!["--since".into(), self.since.clone()],
        };
        let out = runner::run(
            xshell::cmd!(
                sh,
                "{program} -u {unit} {position...} -o short-iso --show-cursor --no-pager -q"
            ),
            JOURNAL_TIMEOUT,
        )?
        .check()
        .with_context(|| format!("cannot read the journal of {unit}"))?;
        let text = out.stdout_text();
        let (lines, cursor) = split_cursor(&text);
        if cursor.is_some() {
            self.cursor = cursor;
        }
        self.stats.bytes += out.stdout.len() as u64;
        self.stats.lines += lines.len() as u64;
        Ok(lines)
    }
}

/// Splits journalctl's output into entry lines and the trailing
/// `-- cursor: ...` line (pure).
pub fn split_cursor(text: &str) -> (Vec<String>, Option<String>) {
    let mut lines = Vec::new();
    let mut cursor = None;
    for l in text.lines() {
        if let Some(c) = l.strip_prefix("-- cursor: ") {
            cursor = Some(c.trim().to_string());
        } else if l.starts_with("-- No entries --") || l.starts_with("-- Journal begins") {
            continue;
        } else {
            lines.push(l.trim_end_matches('\r').to_string());
        }
    }
    (lines, cursor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn reads_only_lines_after_start() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("k.log");
        append(&log, "old 1\nold 2\n");
        let mut f = FileFollower::start(&log).unwrap();
        assert!(f.poll().unwrap().is_empty());
        append(&log, "new 1\nnew ");
        assert_eq!(f.poll().unwrap(), ["new 1"]);
        append(&log, "2\r\n");
        assert_eq!(f.poll().unwrap(), ["new 2"]);
        append(&log, "tail without newline");
        assert_eq!(f.finish().unwrap(), ["tail without newline"]);
        assert_eq!(f.stats.start_offset, 12);
    }

    #[test]
    fn follows_rename_rotation_without_losing_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("syslog");
        append(&log, "before\n");
        let mut f = FileFollower::start(&log).unwrap();
        append(&log, "a\nb");
        // logrotate: rename, the writer finishes its line in the old file, new file appears.
        std::fs::rename(&log, dir.path().join("syslog.1")).unwrap();
        append(&dir.path().join("syslog.1"), "\nc\n");
        append(&log, "d\n");
        assert_eq!(f.poll().unwrap(), ["a", "b", "c", "d"]);
        assert_eq!(f.stats.rotations, 1);
        append(&log, "e\n");
        assert_eq!(f.poll().unwrap(), ["e"]);
    }

    #[test]
    fn follows_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("k.log");
        append(&log, "a long old line before the start\n");
        let mut f = FileFollower::start(&log).unwrap();
        // copytruncate: the file is emptied and written again from 0.
        std::fs::write(&log, "x\n").unwrap();
        assert_eq!(f.poll().unwrap(), ["x"]);
        assert_eq!(f.stats.truncations, 1);
    }

    #[test]
    fn invalid_utf8_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("k.log");
        append(&log, "");
        let mut f = FileFollower::start(&log).unwrap();
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(b"bad \xff byte\n").unwrap();
        assert_eq!(f.poll().unwrap(), ["bad \u{fffd} byte"]);
        let err = FileFollower::start(&dir.path().join("nope")).err().unwrap();
        assert!(err.to_string().contains("cannot open the log"), "{err}");
    }

    #[test]
    fn cursor_split() {
        let (l, c) =
            split_cursor("2026-11-25T22:09:01+0000 h kamailio[1]: x\n-- cursor: s=abc;i=1\n");
        assert_eq!(l, ["2026-11-25T22:09:01+0000 h kamailio[1]: x"]);
        assert_eq!(c.as_deref(), Some("s=abc;i=1"));
        let (l, c) = split_cursor("-- No entries --\n");
        assert!(l.is_empty() && c.is_none());
    }
}
