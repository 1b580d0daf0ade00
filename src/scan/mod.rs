//! `kmemdbg scan`: the out-of-memory errors in a proxy's log, grouped by
//! pool, process, module and function, with a verdict (pool too small, or
//! a leak) and the next command.
//!
//! - [`table`]: the messages of every generation (`data/oom-patterns.toml`);
//! - [`classify`]: one line -> finding / ignored (and why) / start / nothing;
//! - [`group`]: counts, times, rates, timeline;
//! - [`verdict`]: what the pattern suggests, and the next command;
//! - [`prefilter`]: finds the candidate lines in a buffer (the fast path);
//! - [`input`]: reads files, stdin and journald (the only I/O here).
//!
//! Everything but `input` is pure. [`Scanner`] keeps memory flat in the
//! input's size: per group and per minute, never per line. Nothing here
//! writes a file or touches the proxy.

pub mod classify;
pub mod group;
pub mod input;
pub mod prefilter;
pub mod table;
pub mod time;
pub mod verdict;

use crate::capture::loss::drop_in_line;
pub use crate::capture::loss::{journald_drops_json, JOURNALD_DROPPED_MESSAGE_ID};
pub use crate::capture::loss::{Drop, Loss, Loss as LossReport};
use crate::logline::split_message;
use classify::{classify_found, Class, Fields, Ignored};
use group::{Group, Groups, Record, Start};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use table::{FindMemo, OomPool, Table};

/// Lines of the same process this close to each other are taken as one
/// failure told twice (the allocator's line, then its caller's).
const NEIGHBOUR_LINES: u64 = 6;

/// Reads one line's fields with the project's log-line reader.
pub fn fields_of(line: &[u8]) -> Fields<'_> {
    let (prefix, location, message) = split_message(line);
    Fields {
        log_line: prefix.log_line,
        time: prefix.time,
        pid: prefix.pid,
        rank: prefix.process_no,
        level: prefix.level,
        module: location.module,
        function: location.function,
        message,
    }
}

/// How a scan is run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Year for timestamps that have none (BSD syslog).
    pub year: i64,
    /// Only lines at or after this time (seconds since the epoch); lines
    /// without a time are kept.
    pub since: Option<f64>,
}

/// Per process: the last finding with a known pool, and findings waiting
/// for theirs.
#[derive(Debug, Default)]
struct Neighbours {
    last_known: Option<(u64, OomPool)>,
    pending: Vec<Record>,
}

/// The streaming scanner: feed it the candidate lines, then [`Scanner::finish`].
pub struct Scanner {
    table: &'static Table,
    options: Options,
    groups: Groups,
    neighbours: HashMap<Option<u32>, Neighbours>,
    ignored: BTreeMap<Ignored, u64>,
    ignored_examples: BTreeMap<Ignored, String>,
    loss: Loss,
    /// Read drop reports from the lines themselves (files); `--journal`
    /// asks journald for its own entries instead.
    drops_in_lines: bool,
    before_since: u64,
    timed: bool,
    allocator_with_caller: u64,
    allocator_without_caller: u64,
    memo: FindMemo,
}

impl Scanner {
    pub fn new(options: Options) -> Scanner {
        Scanner {
            table: Table::embedded(),
            options,
            groups: Groups::default(),
            neighbours: HashMap::new(),
            ignored: BTreeMap::new(),
            ignored_examples: BTreeMap::new(),
            loss: Loss::default(),
            drops_in_lines: true,
            before_since: 0,
            timed: false,
            allocator_with_caller: 0,
            allocator_without_caller: 0,
            memo: FindMemo::new(),
        }
    }

    /// A new input (file, stdin, journal) begins: line numbers restart, and
    /// its errors belong to no start of the previous input.
    /// `drops_in_lines`: rate-limit reports are read from the input's lines
    /// (a syslog file); false for journald, whose reports come apart
    /// ([`Scanner::add_drops`]).
    pub fn begin_input(&mut self, drops_in_lines: bool) {
        self.drops_in_lines = drops_in_lines;
        self.flush_all();
        self.neighbours.clear();
        self.groups.new_input();
    }

    /// What [`see`] needs to read lines for this scanner elsewhere (on
    /// other threads): the table, the year, whether rate-limit reports are
    /// read from the lines.
    pub fn seeing(&self) -> (&'static Table, i64, bool) {
        (self.table, self.options.year, self.drops_in_lines)
    }

    /// Reads one line (`line_no` counts from 1). Lines the prefilter did
    /// not pass need not be given.
    pub fn line(&mut self, line_no: u64, bytes: &[u8]) {
        let seen = see(
            self.table,
            self.options.year,
            self.drops_in_lines,
            &mut self.memo,
            bytes,
        );
        self.apply(line_no, bytes, seen);
    }

    /// Counts one line already read by [`see`] (on any thread, with this
    /// scanner's year and `drops_in_lines`). Lines must come in the
    /// input's order: what a line means can depend on the lines before it
    /// (a start, the neighbouring line of the same process).
    pub fn apply(&mut self, line_no: u64, bytes: &[u8], seen: Seen) {
        if seen.epoch.is_some() {
            self.timed = true;
        }
        if let (Some(since), Some(e)) = (self.options.since, seen.epoch) {
            if e < since {
                self.before_since += 1;
                return;
            }
        }
        let text = |s: Option<Span>| s.map(|s| String::from_utf8_lossy(s.of(bytes)).into_owned());
        match seen.class {
            SeenClass::Other { drop } => {
                if let Some(d) = drop {
                    self.add_drop(d);
                }
            }
            SeenClass::Start { shm, pkg } => {
                self.flush_all();
                self.neighbours.clear();
                self.groups.start(Start {
                    line: line_no,
                    time: text(seen.time),
                    epoch: seen.epoch,
                    shm_bytes: shm,
                    pkg_bytes: pkg,
                    findings: 0,
                    first_after_s: None,
                    per_pool: [0; 4],
                });
            }
            SeenClass::Ignored { why } => {
                *self.ignored.entry(why).or_default() += 1;
                self.ignored_examples.entry(why).or_insert_with(|| {
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
                });
            }
            SeenClass::Finding {
                entry,
                pool,
                module,
                function,
                size,
                debug_build,
            } => {
                if size.is_some() {
                    if debug_build {
                        self.allocator_with_caller += 1;
                    } else {
                        self.allocator_without_caller += 1;
                    }
                }
                let rec = Record {
                    pool,
                    pool_from: "message",
                    pid: seen.pid,
                    rank: seen.rank,
                    module: text(module),
                    function: text(function),
                    pattern: entry,
                    line: line_no,
                    time: text(seen.time),
                    epoch: seen.epoch,
                    size,
                    example: bytes.to_vec(),
                    debug_build,
                };
                self.finding(rec);
            }
        }
    }

    /// Gives an unnamed pool the pool of the same process's neighbouring
    /// line; counts the findings once their pool is settled.
    fn finding(&mut self, mut rec: Record) {
        let n = self.neighbours.entry(rec.pid).or_default();
        if rec.pool == OomPool::Unnamed {
            if let Some((line, pool)) = n.last_known {
                if rec.line.saturating_sub(line) <= NEIGHBOUR_LINES {
                    rec.pool = pool;
                    rec.pool_from = "neighbour";
                    self.count(rec);
                    return;
                }
            }
            n.pending.push(rec);
            if n.pending.len() > 8 {
                let old = n.pending.remove(0);
                self.count(old);
            }
            return;
        }
        let pool = rec.pool;
        n.last_known = Some((rec.line, pool));
        let waiting = std::mem::take(&mut n.pending);
        for mut w in waiting {
            if rec.line.saturating_sub(w.line) <= NEIGHBOUR_LINES {
                w.pool = pool;
                w.pool_from = "neighbour";
            }
            self.count(w);
        }
        self.count(rec);
    }

    fn count(&mut self, rec: Record) {
        let id = self
            .table
            .entries
            .get(rec.pattern)
            .map_or("?", |e| e.id.as_str());
        self.groups.add(rec, id);
    }

    fn flush_all(&mut self) {
        let waiting: Vec<Record> = self
            .neighbours
            .values_mut()
            .flat_map(|n| std::mem::take(&mut n.pending))
            .collect();
        let mut waiting = waiting;
        waiting.sort_by_key(|r| r.line);
        for r in waiting {
            self.count(r);
        }
    }

    /// Drop reports found elsewhere (journald's own entries for `--journal`).
    pub fn add_drops(&mut self, drops: Vec<Drop>) {
        for d in drops {
            self.add_drop(d);
        }
    }

    /// Every report counts (two reports of the same size are two drops);
    /// the first 100 are kept as examples.
    fn add_drop(&mut self, d: Drop) {
        self.loss.reported_lines = self
            .loss
            .reported_lines
            .saturating_add(d.lines.unwrap_or(0));
        if self.loss.reports.len() < 100 {
            self.loss.reports.push(d);
        }
    }

    /// The result. `lines` and `bytes` are what was read in all.
    pub fn finish(mut self, lines: u64, bytes: u64) -> Scan {
        self.flush_all();
        let groups = self.groups.sorted();
        let debug_build = match (self.allocator_with_caller, self.allocator_without_caller) {
            (0, 0) => None,
            (0, _) => Some(false),
            _ => Some(true),
        };
        Scan {
            lines,
            bytes,
            findings: self.groups.total,
            timed: self.timed,
            before_since: self.before_since,
            groups,
            timeline: self.groups.timeline,
            starts: self.groups.starts,
            before_first_start: self.groups.before_first_start,
            first_unstarted_epoch: self.groups.first_unstarted_epoch,
            ignored: self
                .ignored
                .into_iter()
                .map(|(why, count)| IgnoredCount {
                    why,
                    explain: why.explain(),
                    count,
                    example: self.ignored_examples.get(&why).cloned().unwrap_or_default(),
                })
                .collect(),
            loss: self.loss,
            debug_build,
        }
    }
}

/// Where a part of a line lies in it (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// `sub`'s place in `line`, when `sub` is a slice of `line`.
    fn within(line: &[u8], sub: &[u8]) -> Option<Span> {
        let base = line.as_ptr() as usize;
        let at = (sub.as_ptr() as usize).checked_sub(base)?;
        let end = at.checked_add(sub.len())?;
        if end > line.len() {
            return None;
        }
        Some(Span {
            start: u32::try_from(at).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    /// The part of `line` this span marks (empty when it does not fit).
    pub fn of(self, line: &[u8]) -> &[u8] {
        line.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// What one line is, read without any state (so on any thread): the
/// costly part of scanning a line, [`Scanner::apply`] does the rest in
/// order. Holds no copy of the line, only places in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub epoch: Option<f64>,
    pub time: Option<Span>,
    pub pid: Option<u32>,
    pub rank: Option<u32>,
    pub class: SeenClass,
}

/// [`Class`], with places in the line instead of borrowed slices.
#[derive(Debug, Clone, PartialEq)]
pub enum SeenClass {
    /// Nothing of interest, or a rate-limit report.
    Other {
        drop: Option<Drop>,
    },
    Start {
        shm: Option<u64>,
        pkg: Option<u64>,
    },
    Ignored {
        why: Ignored,
    },
    Finding {
        entry: usize,
        pool: OomPool,
        module: Option<Span>,
        function: Option<Span>,
        size: Option<u64>,
        debug_build: bool,
    },
}

/// Reads one line with no state but the year (for timestamps that have
/// none) and whether rate-limit reports are read from the lines.
/// `memo` remembers the table's answers for messages met again.
pub fn see(
    table: &Table,
    year: i64,
    drops_in_lines: bool,
    memo: &mut FindMemo,
    bytes: &[u8],
) -> Seen {
    let f = fields_of(bytes);
    let epoch = f.time.and_then(|t| time::parse_epoch(t, year));
    let span = |s: Option<&[u8]>| s.and_then(|s| Span::within(bytes, s));
    let found = table.find_memo(memo, f.message);
    let class = match classify_found(table, &f, found) {
        Class::Other => SeenClass::Other {
            drop: if drops_in_lines {
                std::str::from_utf8(bytes).ok().and_then(drop_in_line)
            } else {
                None
            },
        },
        Class::Start { shm, pkg } => SeenClass::Start { shm, pkg },
        Class::Ignored { why, .. } => SeenClass::Ignored { why },
        Class::Finding(x) => SeenClass::Finding {
            entry: x.entry,
            pool: x.pool,
            module: span(x.module),
            function: span(x.function),
            size: x.size,
            debug_build: x.debug_build,
        },
    };
    Seen {
        epoch,
        time: span(f.time),
        pid: f.pid,
        rank: f.rank,
        class,
    }
}

/// Lines ignored on purpose, by reason.
#[derive(Debug, Clone, Serialize)]
pub struct IgnoredCount {
    pub why: Ignored,
    pub explain: &'static str,
    pub count: u64,
    /// The first such line.
    pub example: String,
}

/// What a scan found.
#[derive(Debug, Clone)]
pub struct Scan {
    pub lines: u64,
    pub bytes: u64,
    pub findings: u64,
    /// Some line carried a time.
    pub timed: bool,
    /// Lines skipped for being older than --since.
    pub before_since: u64,
    pub groups: Vec<Group>,
    pub timeline: BTreeMap<i64, [u64; 4]>,
    pub starts: Vec<Start>,
    pub before_first_start: u64,
    pub first_unstarted_epoch: Option<f64>,
    pub ignored: Vec<IgnoredCount>,
    pub loss: Loss,
    /// From the allocator's lines: `Some(true)` when they name their
    /// caller (a memory-debug build), `Some(false)` when they do not,
    /// `None` when there were none.
    pub debug_build: Option<bool>,
}

impl Scan {
    /// Findings per pool.
    pub fn per_pool(&self) -> BTreeMap<OomPool, u64> {
        let mut m = BTreeMap::new();
        for g in &self.groups {
            *m.entry(g.pool).or_default() += g.count;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_real_lines() {
        // Debian 5.6.3 on this machine, stderr logging (tests/scan_real.rs)
        let f = fields_of(b" 2(12826) ERROR: usrloc [urecord.c:67]: new_urecord(): could not allocate shared memory from shm pool");
        assert_eq!((f.rank, f.pid), (Some(2), Some(12826)));
        assert_eq!(f.level, Some(&b"ERROR"[..]));
        assert_eq!(f.module, Some(&b"usrloc"[..]));
        assert_eq!(f.function, Some(&b"new_urecord"[..]));
        assert_eq!(f.message, b"could not allocate shared memory from shm pool");
        let f =
            fields_of(b" 1(19601) ERROR: <script>: request from UA [out of memory softphone 1.0]");
        assert_eq!(f.module, Some(&b"<script>"[..]));
        assert_eq!(f.message, b"request from UA [out of memory softphone 1.0]");
        // journald short-iso (journalctl -o short-iso-precise)
        let f = fields_of(b"2026-12-06T16:40:01.123456+0000 box kamailio[812]: ERROR: <core> [core/rvalue.c:253]: rval_new_empty(): could not allocate private memory from pkg pool");
        assert_eq!(f.pid, Some(812));
        assert_eq!(f.time, Some(&b"2026-12-06T16:40:01.123456+0000"[..]));
        assert_eq!(f.module, Some(&b"<core>"[..]));
        assert_eq!(f.function, Some(&b"rval_new_empty"[..]));
    }

    #[test]
    fn unnamed_pool_takes_the_neighbours() {
        let mut s = Scanner::new(Options::default());
        s.line(1, b" 1(7) ERROR: <core> [core/rvalue.c:253]: rval_new_empty(): could not allocate private memory from pkg pool");
        s.line(
            2,
            b" 1(7) ERROR: <core> [core/rvalue.c:1739]: rval_str_add2(): rv eval out of memory",
        );
        // the allocator's line comes before its caller's
        s.line(3, b" 2(8) ERROR: <core> [core/mem/q_malloc.c:430]: qm_malloc(): qm_malloc(0x7f00, 248) called from usrloc: ucontact.c: new_ucontact(98), module: usrloc; Free fragment not found!");
        s.line(4, b" 2(8) ERROR: usrloc [ucontact.c:141]: new_ucontact(): could not allocate shared memory from shm pool");
        // far from any named line: stays unnamed
        s.line(40, b" 3(9) ERROR: tm [t_funcs.c:1]: f(): no more memory");
        let scan = s.finish(40, 0);
        let per = scan.per_pool();
        assert_eq!(per.get(&OomPool::Pkg), Some(&2));
        assert_eq!(per.get(&OomPool::Shm), Some(&2));
        assert_eq!(per.get(&OomPool::Unnamed), Some(&1));
        let alloc = scan
            .groups
            .iter()
            .find(|g| g.size_min.is_some())
            .expect("allocator group");
        assert_eq!(
            (
                alloc.module.as_deref(),
                alloc.function.as_deref(),
                alloc.size_min,
                alloc.pool_from
            ),
            (Some("usrloc"), Some("new_ucontact"), Some(248), "neighbour")
        );
        assert_eq!(scan.debug_build, Some(true));
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes, any line numbers: the scanner never panics, and every
        /// finding is counted once in the pools and once in the groups.
        #[test]
        fn scanner_never_panics_and_counts_add_up(
            lines in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..120),
                    "( [0-9]\\([0-9]{1,5}\\) )?(ERROR|INFO|BUG): (usrloc|<core>|<script>) \\[[a-z]\\.c:[0-9]\\]: [a-z_]{1,8}\\(\\): (no more (pkg|shm) memory|could not allocate shared memory from shm pool|rv eval out of memory|qm_malloc\\(0x1, [0-9]{1,4}\\); Free fragment not found!|processes \\(at least\\): 1 - shm size: [0-9]{1,9} - pkg size: [0-9]{1,9})"
                        .prop_map(String::into_bytes),
                ],
                0..40,
            )
        ) {
            let mut s = Scanner::new(Options { year: 2026, since: None });
            s.begin_input(true);
            for (i, l) in lines.iter().enumerate() {
                s.line(i as u64 + 1, l);
            }
            let scan = s.finish(lines.len() as u64, 0);
            let by_pool: u64 = scan.per_pool().values().sum();
            let by_group: u64 = scan.groups.iter().map(|g| g.count).sum();
            prop_assert_eq!(by_pool, scan.findings);
            prop_assert_eq!(by_group, scan.findings);
        }
    }
}
