//! Where `scan` reads from: log files, stdin, or journald (`journalctl -u
//! UNIT`, through the runner), streamed in fixed-size chunks so memory
//! stays flat whatever the size of the log. A large regular file is read
//! in parts by one thread per core, its candidate lines scanned in order.
//!
//! Read-only: opens files for reading, runs `journalctl` (never with an
//! option that changes the journal). Never prints.

use super::prefilter::Prefilter;
use super::table::{FindMemo, Table};
use super::{see, Scanner, Seen};
use crate::runner;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Bytes read at a time.
const CHUNK: usize = 256 << 10;

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
    let (lines, bytes) = candidates_of(reader, &pre, &mut buf, &mut |i, l| scanner.line(i + 1, l))?;
    totals.lines += lines;
    totals.bytes += bytes;
    Ok(())
}

/// Reads `reader` in `buf`-sized chunks (a buffer reused from part to
/// part: its pages are not faulted in again) and calls `f(line_index,
/// line)` for each candidate line (`line_index` from 0). Returns the lines
/// and bytes read.
fn candidates_of(
    reader: &mut dyn Read,
    pre: &Prefilter,
    buf: &mut [u8],
    f: &mut dyn FnMut(u64, &[u8]),
) -> std::io::Result<(u64, u64)> {
    let mut filled = 0usize;
    let mut line_base = 0u64;
    let mut bytes = 0u64;
    loop {
        if filled == buf.len() {
            // one line longer than the buffer: read it as it is, cut here
            let n = pre.candidates(&buf[..filled], |i, l| f(line_base + i, l));
            line_base += n;
            filled = 0;
        }
        let n = match reader.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        bytes += n as u64;
        if n == 0 {
            if filled > 0 {
                let count = pre.candidates(&buf[..filled], |i, l| f(line_base + i, l));
                line_base += count + 1;
            }
            break;
        }
        filled += n;
        // whole lines go now; the unfinished last one waits for more bytes
        let Some(last_nl) = memchr::memrchr(b'\n', &buf[..filled]) else {
            continue;
        };
        let count = pre.candidates(&buf[..last_nl], |i, l| f(line_base + i, l));
        line_base += count + 1;
        buf.copy_within(last_nl + 1..filled, 0);
        filled -= last_nl + 1;
    }
    Ok((line_base, bytes))
}

/// Files at least this large are read by several threads.
const PARALLEL_MIN_BYTES: u64 = 64 << 20;
/// Size of one part of a large file (cut at a line start).
const PART_BYTES: u64 = 32 << 20;

/// The candidate lines of one part, read ([`see`]) on the reader's
/// thread, kept until the scanner gets to it.
struct Part {
    text: Vec<u8>,
    /// (line index in the part, start, end in `text`, what the line is).
    lines: Vec<(u64, usize, usize, Seen)>,
    line_count: u64,
    bytes: u64,
}

/// `start..end` of a file as a reader.
struct Range<'a> {
    file: &'a std::fs::File,
    pos: u64,
    end: u64,
}

impl Read for Range<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = ((self.end - self.pos) as usize).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// How a reader thread reads lines: [`Scanner::seeing`].
type Seeing = (&'static Table, i64, bool);

fn read_part(
    file: &std::fs::File,
    start: u64,
    end: u64,
    pre: &Prefilter,
    seeing: Seeing,
    memo: &mut FindMemo,
    buf: &mut [u8],
) -> std::io::Result<Part> {
    let (table, year, drops_in_lines) = seeing;
    let mut part = Part {
        text: Vec::new(),
        lines: Vec::new(),
        line_count: 0,
        bytes: 0,
    };
    let mut range = Range {
        file,
        pos: start,
        end,
    };
    let (text, lines) = (&mut part.text, &mut part.lines);
    let (count, bytes) = candidates_of(&mut range, pre, buf, &mut |i, l| {
        let seen = see(table, year, drops_in_lines, memo, l);
        let at = text.len();
        text.extend_from_slice(l);
        lines.push((i, at, text.len(), seen));
    })?;
    part.line_count = count;
    part.bytes = bytes;
    Ok(part)
}

/// A large regular file: parts of [`PART_BYTES`] cut at line starts (as
/// `analyze` cuts its input, [`crate::dump::read::split_points`]), read and
/// prefiltered by `threads` threads in turn, their candidate lines given to
/// `scanner` in the file's order on this thread. The readers also read
/// each candidate line's fields, time and class ([`see`], the costly part);
/// this thread only counts them, in order ([`Scanner::apply`]), so the
/// result is exactly that of one stream. Memory stays flat: each
/// reader keeps at most one finished part waiting.
fn scan_parts(
    file: &std::fs::File,
    len: u64,
    threads: usize,
    part_bytes: u64,
    scanner: &mut Scanner,
    totals: &mut Totals,
) -> Result<()> {
    let n = (len / part_bytes.max(1)).max(threads as u64) as usize;
    let parts = crate::dump::read::split_points(file, len, n)?;
    let pre = Prefilter::new();
    let seeing = scanner.seeing();
    std::thread::scope(|scope| -> Result<()> {
        let mut receivers = Vec::with_capacity(threads);
        for w in 0..threads {
            let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Part>>(1);
            receivers.push(rx);
            let (parts, pre) = (&parts, &pre);
            scope.spawn(move || {
                let mut memo = FindMemo::new();
                let mut buf = vec![0u8; CHUNK];
                for &(start, end) in parts.iter().skip(w).step_by(threads) {
                    let part = read_part(file, start, end, pre, seeing, &mut memo, &mut buf);
                    let failed = part.is_err();
                    if tx.send(part).is_err() || failed {
                        return;
                    }
                }
            });
        }
        let mut line_base = 0u64;
        for i in 0..parts.len() {
            let part = receivers[i % threads]
                .recv()
                .map_err(|_| anyhow::anyhow!("a reader thread stopped unexpectedly"))??;
            for (index, start, end, seen) in part.lines {
                scanner.apply(line_base + index + 1, &part.text[start..end], seen);
            }
            line_base += part.line_count;
            totals.bytes += part.bytes;
        }
        totals.lines += line_base;
        Ok(())
    })
}

/// Scans one file (a large regular file on several threads, see [`scan_parts`]).
pub fn scan_file(path: &Path, scanner: &mut Scanner, totals: &mut Totals) -> Result<()> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let meta = f.metadata().ok();
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        bail!(
            "{} is a directory; give the log file itself",
            path.display()
        );
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(crate::dump::read::MAX_THREADS);
    if let Some(m) = meta.filter(|m| m.is_file() && m.len() >= PARALLEL_MIN_BYTES) {
        if threads >= 2 {
            return scan_parts(&f, m.len(), threads, PART_BYTES, scanner, totals)
                .with_context(|| format!("reading {}", path.display()));
        }
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

/// How much of a stderr file's end is read to see whether the proxy logs there.
const STDERR_TAIL: u64 = 256 << 10;

/// The file the running proxy's stderr goes to, when the proxy logs there
/// (`-E` or `log_stderror=yes`, stderr sent to a file): the target of
/// `/proc/PID/fd/2` of its first process, a regular file whose last lines
/// carry the `N(PID)` of one of `pids` (its processes, from `core.psx`). A
/// stderr that only holds the startup messages of a proxy logging to syslog
/// has none of them, and is not taken. Reads only.
pub fn proxy_stderr(pids: &[u32]) -> Option<std::path::PathBuf> {
    use std::io::{Seek, SeekFrom};
    let main = *pids.first()?;
    let path = crate::procfs::fd_target(main, 2)?;
    let mut f = std::fs::File::open(&path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    f.seek(SeekFrom::Start(meta.len().saturating_sub(STDERR_TAIL)))
        .ok()?;
    let mut tail = Vec::new();
    f.take(STDERR_TAIL).read_to_end(&mut tail).ok()?;
    let marks: Vec<String> = pids.iter().map(|p| format!("({p}) ")).collect();
    let finder: Vec<memchr::memmem::Finder> = marks
        .iter()
        .map(|m| memchr::memmem::Finder::new(m.as_bytes()))
        .collect();
    finder
        .iter()
        .any(|f| f.find(&tail).is_some())
        .then_some(path)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Options;

    /// What a scan says, in a form to compare: everything it holds.
    fn summary(s: crate::scan::Scan) -> String {
        let json = |v: serde_json::Result<String>| v.unwrap_or_else(|e| e.to_string());
        // the fields serde skips
        let times: Vec<_> = s
            .groups
            .iter()
            .map(|g| (g.first_epoch, g.last_epoch, g.debug_build))
            .collect();
        let start_epochs: Vec<_> = s.starts.iter().map(|x| x.epoch).collect();
        format!(
            "{} {} {} {} {} {} {:?} {:?} {} {:?} {:?} groups {} {:?} starts {} {:?} ignored {} loss {} timeline {:?}",
            s.lines,
            s.bytes,
            s.findings,
            s.timed,
            s.before_since,
            s.before_first_start,
            s.first_unstarted_epoch,
            s.debug_build,
            s.groups.len(),
            s.per_pool(),
            times,
            json(serde_json::to_string(&s.groups)),
            start_epochs,
            json(serde_json::to_string(&s.starts)),
            s.starts.len(),
            json(serde_json::to_string(&s.ignored)),
            json(serde_json::to_string(&s.loss)),
            s.timeline
        )
    }

    /// `text` as one stream, then in parts on several threads: the same.
    fn same_in_parts(text: &[u8], options: &Options, cuts: &[(usize, u64)]) -> String {
        let mut one = Scanner::new(options.clone());
        let mut t1 = Totals::default();
        one.begin_input(true);
        scan_reader(&mut &text[..], &mut one, &mut t1).expect("stream");
        let want = summary(one.finish(t1.lines, t1.bytes));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.log");
        std::fs::write(&path, text).expect("write");
        let file = std::fs::File::open(&path).expect("open");
        for &(threads, part) in cuts {
            let mut s = Scanner::new(options.clone());
            let mut t = Totals::default();
            s.begin_input(true);
            scan_parts(&file, text.len() as u64, threads, part, &mut s, &mut t).expect("parts");
            assert_eq!(
                summary(s.finish(t.lines, t.bytes)),
                want,
                "{threads} threads, parts of {part}"
            );
        }
        want
    }

    #[test]
    fn parts_read_as_one_stream() {
        let mut text = String::new();
        for n in 0..400u32 {
            let pid = 100 + n % 3;
            let line = match n % 9 {
                0 => format!("Dec  6 10:00:{:02} h kamailio[{pid}]: ERROR: usrloc [u.c:1]: f(): could not allocate shared memory from shm pool\n", n % 60),
                1 => format!("Dec  6 10:01:{:02} h kamailio[{pid}]: ERROR: <core> [core/rvalue.c:1739]: rval_str_add2(): rv eval out of memory\n", n % 60),
                2 => format!("Dec  6 10:02:{:02} h kamailio[{pid}]: INFO: <core> [core/pt.c:1]: m(): Memory status no more pkg memory\n", n % 60),
                3 if n % 100 == 3 => "Dec  6 10:03:00 h kamailio[1]: INFO: <core> [main.c:1]: main(): processes (at least): 9 - shm size: 8388608 - pkg size: 8388608\n".to_string(),
                _ => format!("Dec  6 10:04:{:02} h kamailio[{pid}]: INFO: tm [t.c:1]: g(): nothing {n}\n", n % 60),
            };
            text.push_str(&line);
        }
        text.push_str(
            "Dec  6 10:05:00 h kamailio[7]: ERROR: <core> [x.c:1]: y(): no more shm memory",
        );
        let options = Options {
            year: 2026,
            since: None,
        };
        let want = same_in_parts(
            text.as_bytes(),
            &options,
            &[(2, 1000), (3, 777), (2, 64), (4, 1), (1, 5000)],
        );
        assert!(want.starts_with("401 "), "{want}");
        // --since cuts the same lines either way
        let since = Options {
            year: 2026,
            since: crate::scan::time::parse_epoch(b"Dec  6 10:02:30", 2026),
        };
        let cut = same_in_parts(text.as_bytes(), &since, &[(2, 1000), (3, 50)]);
        assert_ne!(cut, want);
    }

    /// Lines of every kind `see` and `apply` tell apart: findings with and
    /// without a pool (waiting for a neighbour), with and without a time,
    /// ignored ones, starts, rate-limit reports, plain lines.
    fn any_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (0u32..4, 0u32..60, 0usize..10).prop_map(|(pid, sec, kind)| {
            let t = format!("Dec  6 10:{:02}:{sec:02} h kamailio[{pid}]: ", sec % 7);
            match kind {
                0 => format!("{t}ERROR: usrloc [u.c:1]: f(): could not allocate shared memory from shm pool"),
                1 => format!("{t}ERROR: <core> [core/rvalue.c:1739]: rval_str_add2(): rv eval out of memory"),
                2 => format!("{t}ERROR: <core> [core/mem/q_malloc.c:430]: qm_malloc(): qm_malloc(0x7f, {}) called from usrloc: ucontact.c: new_ucontact(98), module: usrloc; Free fragment not found!", 100 + sec),
                3 => format!("{t}INFO: <core> [core/pt.c:1]: m(): no more pkg memory"),
                4 => format!("{t}INFO: <core> [main.c:1]: main(): processes (at least): 9 - shm size: 8388608 - pkg size: {}", 1 << (20 + sec % 3)),
                5 => format!(" {pid}({}) ERROR: tm [t.c:1]: g(): no more shm memory", 100 + pid),
                6 => format!("{t}ERROR: <script>: UA [out of memory 1.0]"),
                7 => format!("Dec  6 10:0{}:00 h rsyslogd: imuxsock lost {sec} messages from pid {pid} due to rate-limiting", sec % 7),
                8 => "memory: continuation without a prefix".to_string(),
                _ => format!("{t}INFO: tm [t.c:1]: h(): nothing {sec}"),
            }
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any mix of lines, any number of threads and size of parts: the
        /// parts give exactly what one stream gives.
        #[test]
        fn parts_equal_the_stream(
            lines in proptest::collection::vec(any_line(), 0..120),
            threads in 1usize..5,
            part in 1u64..600,
            newline_at_end: bool,
        ) {
            let mut text = lines.join("\n");
            if newline_at_end {
                text.push('\n');
            }
            let options = Options { year: 2026, since: None };
            same_in_parts(text.as_bytes(), &options, &[(threads, part)]);
        }
    }
}
