//! Assembles parsed lines into dump snapshots and sums them per allocation
//! site: one [`Snapshot`] per dump (process, pool, kind, time) with its heap
//! totals, its sites sorted by bytes (count and share), and any memory
//! corruption markers.
//!
//! Streaming and pure: [`Aggregator::feed`] takes one line at a time (any
//! size of input, memory bounded by the number of distinct sites and dumps),
//! [`Aggregator::finish`] returns the [`DumpLog`]. No I/O here (the reader
//! lives in [`super::read`]); lines of different processes may interleave,
//! each process has its own state. Never panics on any input.
//!
//! Fragments read from memory (`kmemdbg gdb`) go through the same builder
//! ([`snapshot_of_fragments`]), so a pool walked with gdb and a dump of it
//! rank their sites by one code path.

use crate::logline::{parse_site, Body, LineParser, Site};
use crate::mem::{Allocator, Pool};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// How many unreadable lines are kept as examples.
pub const UNREADABLE_SAMPLES: usize = 5;
/// How many characters of an unreadable line an example keeps.
pub const SAMPLE_CHARS: usize = 160;
/// How many corruption markers a snapshot keeps in full (all are counted).
pub const CORRUPTION_KEPT: usize = 1000;

/// What kind of dump: a fragment list or a per-site summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpKind {
    /// `qm_status` / `fm_status`: heap totals and (q_malloc) every fragment.
    Status,
    /// `qm_sums` / `fm_sums`: one line per site with count and bytes.
    Summary,
}

impl DumpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DumpKind::Status => "status",
            DumpKind::Summary => "summary",
        }
    }
}

/// Heap totals from the status header (each only when printed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HeapStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_with_overhead_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_used_bytes: Option<u64>,
}

impl HeapStats {
    pub fn is_empty(&self) -> bool {
        *self == HeapStats::default()
    }
}

/// One allocation site in one dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteStat {
    pub site: Site,
    /// Fragments (status) or the printed count (summary).
    pub count: u64,
    /// Sum of fragment sizes (allocator-rounded), 0 when sizes were not in the input.
    pub bytes: u64,
}

/// A damaged fragment or an allocator abort message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Corruption {
    /// Line number in the input (1-based).
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The fragment's address, when the marker sits in a fragment list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The site that allocated the damaged fragment, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The marker as printed (`* end overwritten(41414141, abcdefed)!`).
    pub text: String,
}

/// One dump of one process's pool at one time.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Position among all dumps of the input, by first line (0-based).
    pub index: usize,
    /// The file it came from (set by the reader's caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_no: Option<u32>,
    /// From the `Memory status (shm)` style header before the dump.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<Pool>,
    pub kind: DumpKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocator: Option<Allocator>,
    /// Timestamp of the first line (syslog / journald input only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub first_line: u64,
    pub last_line: u64,
    /// False when the dump stopped before its end marker (process killed,
    /// log cut): the numbers are a lower bound.
    pub complete: bool,
    /// True when the dump's first lines were missing (the input starts mid-dump).
    pub headless: bool,
    pub heap: HeapStats,
    /// Fragments (or summary counts) over all sites.
    pub total_count: u64,
    pub total_bytes: u64,
    /// Fragments listed without a site (a build without DBG_QM_MALLOC).
    pub fragments_without_site: u64,
    pub bytes_without_site: u64,
    /// Free fragments listed (mem_status_mode=1); not counted as in use.
    pub free_fragments: u64,
    /// Sites, most bytes first (then most fragments).
    pub sites: Vec<SiteStat>,
    /// Damaged fragments found in this dump (the first [`CORRUPTION_KEPT`]).
    pub corruption: Vec<Corruption>,
    pub corruption_total: u64,
}

impl Snapshot {
    /// `pid 7245 shm status` style label.
    pub fn label(&self) -> String {
        let who = match (self.pid, self.process_no) {
            (Some(p), Some(n)) => format!("pid {p} (process {n})"),
            (Some(p), None) => format!("pid {p}"),
            _ => "pid ?".to_string(),
        };
        let pool = self.pool.map_or("pool ?", Pool::as_str);
        format!("{who}, {pool} {}", self.kind.as_str())
    }
}

/// An unreadable line kept as an example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sample {
    pub line: u64,
    pub text: String,
}

/// What the lines were.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LineStats {
    pub lines: u64,
    pub dump_lines: u64,
    /// Per-allocation qm_malloc/qm_free lines (memdbg <= debug).
    pub alloc_debug_lines: u64,
    pub other_log_lines: u64,
    pub blank_lines: u64,
    /// Neither Kamailio log lines nor dump text (counted, first few sampled).
    pub unreadable_lines: u64,
    /// Lines longer than the reader's limit, skipped (also counted as unreadable).
    pub overlong_lines: u64,
    pub unreadable_samples: Vec<Sample>,
}

/// Everything read from one input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DumpLog {
    /// Every dump, in the order their first lines appear.
    pub snapshots: Vec<Snapshot>,
    /// Allocator abort messages outside any dump (`BUG: ... overwritten`).
    pub corruption: Vec<Corruption>,
    pub lines: LineStats,
}

impl DumpLog {
    /// Sets `source` on every snapshot.
    pub fn set_source(&mut self, source: &str) {
        for s in &mut self.snapshots {
            s.source = Some(source.to_string());
        }
    }

    /// Damaged fragments and abort messages, in and outside dumps.
    pub fn corruption_count(&self) -> u64 {
        self.snapshots
            .iter()
            .fold(self.corruption.len() as u64, |t, s| {
                t.saturating_add(s.corruption_total)
            })
    }
}

// ---------------------------------------------------------------- hashing

/// The Fx hash (rustc's) over a sample of the key: its length, its first 8
/// and its last 16 bytes (sites differ in their ends: function and line).
/// Keys are still compared in full, so a collision only costs a comparison;
/// the keys come from the dump, and a slow path is a slowdown, never a bug.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

/// 8 bytes of `b` from `at` (zero-padded), little-endian.
#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    let part = &b[at.min(b.len())..(at + 8).min(b.len())];
    w[..part.len()].copy_from_slice(part);
    u64::from_le_bytes(w)
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n <= 24 {
            let mut at = 0;
            while at < n {
                self.add(word(bytes, at));
                at += 8;
            }
        } else {
            self.add(word(bytes, 0));
            self.add(word(bytes, n - 16));
            self.add(word(bytes, n - 8));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

// ---------------------------------------------------------------- builder

#[derive(Debug, Default, Clone, Copy)]
struct Acc {
    count: u64,
    bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct PendingFragment {
    size: u64,
    free: bool,
}

/// Who printed a line (the parts of the prefix a dump keeps).
#[derive(Debug, Clone, Copy)]
struct Ctx<'a> {
    pid: Option<u32>,
    process_no: Option<u32>,
    allocator: Option<Allocator>,
    time: Option<&'a [u8]>,
    repeat: u64,
}

/// [`Ctx`] with the time as a range of the line.
#[derive(Debug, Clone, Copy)]
struct MemoCtx {
    pid: Option<u32>,
    process_no: Option<u32>,
    allocator: Option<Allocator>,
    time: Option<(usize, usize)>,
    repeat: u64,
}

/// A dump being read.
#[derive(Debug)]
struct Builder {
    pid: Option<u32>,
    process_no: Option<u32>,
    pool: Option<Pool>,
    /// The pool is whatever the previous chunk announced (chunked reading only).
    pool_from_previous: bool,
    kind: DumpKind,
    allocator: Option<Allocator>,
    time: Option<String>,
    first_line: u64,
    last_line: u64,
    headless: bool,
    listing: bool,
    end_seen: bool,
    heap: HeapStats,
    sites: FxMap<Box<[u8]>, Acc>,
    pending: Option<PendingFragment>,
    fragments_without_site: u64,
    bytes_without_site: u64,
    free_fragments: u64,
    /// A fragment line was read (the fragment context below is this builder's own).
    had_fragment: bool,
    last_address: Vec<u8>,
    last_site: Vec<u8>,
    /// The current fragment already has a corruption marker.
    fragment_flagged: bool,
    corruption: Vec<Corruption>,
    corruption_total: u64,
}

impl Builder {
    fn new(kind: DumpKind, line: u64, headless: bool, ctx: &Ctx) -> Builder {
        Builder {
            pid: ctx.pid,
            process_no: ctx.process_no,
            pool: None,
            pool_from_previous: false,
            kind,
            allocator: ctx.allocator,
            time: ctx.time.map(|t| String::from_utf8_lossy(t).into_owned()),
            first_line: line,
            last_line: line,
            headless,
            listing: false,
            end_seen: false,
            heap: HeapStats::default(),
            sites: FxMap::default(),
            pending: None,
            fragments_without_site: 0,
            bytes_without_site: 0,
            free_fragments: 0,
            had_fragment: false,
            last_address: Vec::new(),
            last_site: Vec::new(),
            fragment_flagged: false,
            corruption: Vec::new(),
            corruption_total: 0,
        }
    }

    /// An empty builder with the identity of `other` (kind, first line, process).
    fn empty_like(other: &Builder) -> Builder {
        let mut b = Builder::new(
            other.kind,
            other.first_line,
            other.headless,
            &Ctx {
                pid: other.pid,
                process_no: other.process_no,
                allocator: other.allocator,
                time: None,
                repeat: 1,
            },
        );
        b.time.clone_from(&other.time);
        b.pool = other.pool;
        b.pool_from_previous = other.pool_from_previous;
        b
    }

    fn flush_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            if p.free {
                self.free_fragments += 1;
            } else {
                self.fragments_without_site += 1;
                self.bytes_without_site = self.bytes_without_site.saturating_add(p.size);
            }
        }
    }

    #[inline]
    fn add_site(&mut self, site: &[u8], count: u64, bytes: u64) {
        if let Some(acc) = self.sites.get_mut(site) {
            acc.count = acc.count.saturating_add(count);
            acc.bytes = acc.bytes.saturating_add(bytes);
        } else {
            self.sites.insert(site.into(), Acc { count, bytes });
        }
    }

    /// Complete: the end marker, or a short status (mem_summary & 16: header only).
    fn complete(&self) -> bool {
        self.end_seen
            || (self.kind == DumpKind::Status
                && !self.listing
                && self.heap.max_used_bytes.is_some())
    }

    fn mark(&mut self, line: u64, text: &[u8]) {
        self.corruption_total += 1;
        if self.corruption.len() >= CORRUPTION_KEPT {
            return;
        }
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.corruption.push(Corruption {
            line,
            pid: self.pid,
            address: (!self.last_address.is_empty()).then(|| lossy(&self.last_address)),
            site: (!self.last_site.is_empty()).then(|| lossy(&self.last_site)),
            text: lossy(text),
        });
    }

    /// Applies one dump line (not a line that starts or announces a dump).
    #[inline]
    fn apply(&mut self, line_no: u64, body: &Body, repeat: u64) {
        self.last_line = line_no;
        match *body {
            Body::HeapSize(v) => self.heap.size_bytes = Some(v),
            Body::Used {
                used,
                used_overhead,
                free,
            } => {
                self.heap.used_bytes = Some(used);
                self.heap.used_with_overhead_bytes = Some(used_overhead);
                self.heap.free_bytes = Some(free);
            }
            Body::MaxUsed(v) => self.heap.max_used_bytes = Some(v),
            Body::FragmentsBegin => self.listing = true,
            Body::Fragment {
                free,
                address,
                size,
            } => {
                self.listing = true;
                self.flush_pending();
                self.pending = Some(PendingFragment { size, free });
                self.had_fragment = true;
                self.last_address.clear();
                self.last_address.extend_from_slice(address);
                self.last_site.clear();
                self.fragment_flagged = false;
            }
            Body::Site { freed, site } => {
                self.listing = true;
                self.last_site.clear();
                self.last_site.extend_from_slice(site);
                match self.pending.take() {
                    Some(p) if p.free || freed => self.free_fragments += 1,
                    Some(p) => self.add_site(site, repeat, p.size.saturating_mul(repeat)),
                    None if freed => {
                        self.free_fragments = self.free_fragments.saturating_add(repeat)
                    }
                    // a site with no fragment line before it (filtered input): count only
                    None => self.add_site(site, repeat, 0),
                }
            }
            Body::Checks { ok: false, text } if !self.fragment_flagged => {
                self.fragment_flagged = true;
                self.mark(line_no, text);
            }
            Body::Overwritten { text } => {
                if self.fragment_flagged {
                    // the guard-word line already counted this fragment; keep the clearer text
                    if let Some(last) = self.corruption.last_mut() {
                        if last.line + 3 >= line_no {
                            last.text = String::from_utf8_lossy(text).into_owned();
                        }
                    }
                } else {
                    self.fragment_flagged = true;
                    self.mark(line_no, text);
                }
            }
            Body::SumRow { count, size, site } => {
                self.add_site(
                    site,
                    count.saturating_mul(repeat),
                    size.saturating_mul(repeat),
                );
            }
            Body::FreeList => self.flush_pending(),
            Body::End => self.end_seen = true,
            _ => {}
        }
    }

    /// Adds what `later` read after this builder's last line (chunked reading).
    fn absorb(&mut self, later: Builder) {
        for (site, acc) in later.sites {
            if let Some(a) = self.sites.get_mut(&site) {
                a.count = a.count.saturating_add(acc.count);
                a.bytes = a.bytes.saturating_add(acc.bytes);
            } else {
                self.sites.insert(site, acc);
            }
        }
        let h = later.heap;
        self.heap.size_bytes = h.size_bytes.or(self.heap.size_bytes);
        self.heap.used_bytes = h.used_bytes.or(self.heap.used_bytes);
        self.heap.used_with_overhead_bytes = h
            .used_with_overhead_bytes
            .or(self.heap.used_with_overhead_bytes);
        self.heap.free_bytes = h.free_bytes.or(self.heap.free_bytes);
        self.heap.max_used_bytes = h.max_used_bytes.or(self.heap.max_used_bytes);
        self.listing |= later.listing;
        self.end_seen |= later.end_seen;
        self.fragments_without_site += later.fragments_without_site;
        self.bytes_without_site = self
            .bytes_without_site
            .saturating_add(later.bytes_without_site);
        self.free_fragments = self.free_fragments.saturating_add(later.free_fragments);
        let room = CORRUPTION_KEPT.saturating_sub(self.corruption.len());
        self.corruption
            .extend(later.corruption.into_iter().take(room));
        self.corruption_total += later.corruption_total;
        self.last_line = self.last_line.max(later.last_line);
        if later.had_fragment {
            self.had_fragment = true;
            self.pending = later.pending;
            self.last_address = later.last_address;
            self.last_site = later.last_site;
            self.fragment_flagged = later.fragment_flagged;
        }
    }

    fn shift_lines(&mut self, offset: u64) {
        self.first_line += offset;
        self.last_line += offset;
        for c in &mut self.corruption {
            c.line += offset;
        }
    }

    fn finish(mut self) -> Snapshot {
        self.flush_pending();
        let complete = self.complete();
        let mut sites: Vec<SiteStat> = self
            .sites
            .into_iter()
            .map(|(k, a)| SiteStat {
                site: parse_site(&k),
                count: a.count,
                bytes: a.bytes,
            })
            .collect();
        sites.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then(b.count.cmp(&a.count))
                .then_with(|| a.site.text.cmp(&b.site.text))
        });
        Snapshot {
            index: 0,
            source: None,
            pid: self.pid,
            process_no: self.process_no,
            pool: self.pool,
            kind: self.kind,
            allocator: self.allocator,
            time: self.time,
            first_line: self.first_line,
            last_line: self.last_line,
            complete,
            headless: self.headless,
            heap: self.heap,
            total_count: sites.iter().fold(0u64, |t, s| t.saturating_add(s.count)),
            total_bytes: sites.iter().fold(0u64, |t, s| t.saturating_add(s.bytes)),
            fragments_without_site: self.fragments_without_site,
            bytes_without_site: self.bytes_without_site,
            free_fragments: self.free_fragments,
            sites,
            corruption: self.corruption,
            corruption_total: self.corruption_total,
        }
    }
}

// ---------------------------------------------------------------- aggregator

/// Where a process stands when its lines are read from the middle of the
/// input (chunked reading): its state before the chunk is unknown until the
/// chunks are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The state is known (reading from the start, or after a dump header).
    Known,
    /// Before this process's first fragment line in the chunk: lines that
    /// depend on the previous fragment are kept in `head` to be replayed.
    Head,
    /// After it: lines go to the continuation builder in `open`.
    Continuation,
}

/// How the part of a chunk that continues the previous chunk's dump ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContinuationEnd {
    /// The dump's end marker.
    End,
    /// A new dump (or pool header) of the same process.
    Reset,
}

/// A line kept for replay when chunks are joined.
#[derive(Debug)]
enum HeadEvent {
    Site {
        line: u64,
        repeat: u64,
        freed: bool,
        site: Box<[u8]>,
    },
    Mark {
        line: u64,
        overwritten: bool,
        text: Box<[u8]>,
    },
    /// A line that ends the previous fragment (next fragment, free list, end marker).
    Flush { line: u64 },
}

/// Lines kept per process before its first fragment line in a chunk; past
/// that, the chunk is read again in order (never happens with real dumps:
/// a fragment line comes every third line).
const HEAD_EVENTS_MAX: usize = 256;

/// Per-process state: the pool announced for its next dump, and the open dump.
#[derive(Debug)]
struct ProcState {
    pid: Option<u32>,
    pending_pool: Option<Pool>,
    /// False (chunked reading) until this chunk announced a pool or used the previous one's.
    pending_pool_known: bool,
    open: Option<Builder>,
    phase: Phase,
    head: Vec<HeadEvent>,
    /// The continuation builder, once closed (chunked reading).
    continuation: Option<Builder>,
    continuation_end: Option<ContinuationEnd>,
}

/// Turns lines into snapshots. Feed every line in order, then [`finish`](Aggregator::finish).
///
/// For speed, a large file can be cut at line boundaries, each part read by
/// [`Aggregator::new_chunk`] on its own thread and the parts joined in order
/// with [`Aggregator::join`]: the result is the same as feeding every line
/// to one aggregator.
#[derive(Debug)]
pub struct Aggregator {
    parser: LineParser,
    /// The last `start check=` line with intact guard words, and who wrote
    /// it: one such line follows every fragment, byte for byte the same.
    checks_line: Vec<u8>,
    checks_ctx: Option<MemoCtx>,
    line_no: u64,
    procs: Vec<ProcState>,
    last_proc: usize,
    done: Vec<Builder>,
    corruption: Vec<Corruption>,
    stats: LineStats,
    /// Reading from the middle of the input.
    chunk: bool,
    /// A chunk whose head could not be kept (see [`HEAD_EVENTS_MAX`]).
    inexact: bool,
    /// Reading a last line that has no `\n`.
    unterminated: bool,
}

impl Default for Aggregator {
    fn default() -> Aggregator {
        Aggregator::new()
    }
}

/// A dump that is finished (for callers that wait for dumps while reading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSeen {
    pub pid: Option<u32>,
    pub pool: Option<Pool>,
    pub kind: DumpKind,
    pub complete: bool,
}

impl Aggregator {
    /// An aggregator for input read from its start.
    pub fn new() -> Aggregator {
        Aggregator {
            parser: LineParser::new(),
            checks_line: Vec::new(),
            checks_ctx: None,
            line_no: 0,
            procs: Vec::new(),
            last_proc: 0,
            done: Vec::new(),
            corruption: Vec::new(),
            stats: LineStats::default(),
            chunk: false,
            inexact: false,
            unterminated: false,
        }
    }

    /// An aggregator for a part of the input that starts at a line boundary
    /// somewhere after the start; join it to the previous parts with [`join`](Aggregator::join).
    pub fn new_chunk() -> Aggregator {
        Aggregator {
            chunk: true,
            ..Aggregator::new()
        }
    }

    /// Lines fed so far.
    pub fn lines(&self) -> u64 {
        self.line_no
    }

    /// Dumps closed so far (complete, or cut by a later dump of the same process).
    pub fn completed(&self) -> Vec<DumpSeen> {
        self.done
            .iter()
            .map(|b| DumpSeen {
                pid: b.pid,
                pool: b.pool,
                kind: b.kind,
                complete: b.complete(),
            })
            .collect()
    }

    /// `(pid, pool)` of dumps still open (waiting for their end marker).
    pub fn open_dumps(&self) -> Vec<(Option<u32>, Option<Pool>)> {
        self.procs
            .iter()
            .filter_map(|p| p.open.as_ref().map(|b| (p.pid, b.pool)))
            .collect()
    }

    /// The input's last line when it has no `\n`: it may be cut short, so
    /// guard words that look damaged there are not taken for corruption.
    pub fn feed_unterminated(&mut self, line: &[u8]) {
        self.unterminated = true;
        self.feed(line);
        self.unterminated = false;
    }

    /// A line too long to read (the reader skipped it): counted as unreadable.
    pub fn feed_overlong(&mut self, len: u64) {
        self.line_no += 1;
        self.stats.lines += 1;
        self.stats.overlong_lines += 1;
        self.stats.unreadable_lines += 1;
        if self.stats.unreadable_samples.len() < UNREADABLE_SAMPLES {
            self.stats.unreadable_samples.push(Sample {
                line: self.line_no,
                text: format!("(a line of {len} bytes, too long to read)"),
            });
        }
    }

    #[inline]
    fn proc_index(&mut self, pid: Option<u32>) -> usize {
        if let Some(p) = self.procs.get(self.last_proc) {
            if p.pid == pid {
                return self.last_proc;
            }
        }
        let i = match self.procs.iter().position(|p| p.pid == pid) {
            Some(i) => i,
            None => {
                self.procs.push(ProcState {
                    pid,
                    pending_pool: None,
                    pending_pool_known: !self.chunk,
                    open: None,
                    phase: if self.chunk {
                        Phase::Head
                    } else {
                        Phase::Known
                    },
                    head: Vec::new(),
                    continuation: None,
                    continuation_end: None,
                });
                self.procs.len() - 1
            }
        };
        self.last_proc = i;
        i
    }

    /// Reads one line (without its `\n`).
    pub fn feed(&mut self, line: &[u8]) {
        self.line_no += 1;
        self.stats.lines += 1;
        let line_no = self.line_no;
        if let Some(m) = self.checks_ctx {
            if line == &self.checks_line[..] {
                // the same bytes as a line already parsed: same meaning
                self.stats.dump_lines += 1;
                let ctx = Ctx {
                    pid: m.pid,
                    process_no: m.process_no,
                    allocator: m.allocator,
                    time: m.time.map(|(a, b)| &line[a..b]),
                    repeat: m.repeat,
                };
                self.dispatch(
                    line_no,
                    &Body::Checks {
                        ok: true,
                        text: &[],
                    },
                    &ctx,
                );
                return;
            }
        }
        let parsed = self.parser.parse(line);
        let mut body = parsed.body;
        if let (Body::Checks { ok: false, text }, true) = (body, self.unterminated) {
            // the input stops inside this line: its guard words may be cut short
            body = Body::Checks { ok: true, text };
        }
        match body {
            Body::Blank => {
                self.stats.blank_lines += 1;
                return;
            }
            Body::AllocDebug => {
                self.stats.alloc_debug_lines += 1;
                return;
            }
            Body::OtherLog => {
                self.stats.other_log_lines += 1;
                return;
            }
            Body::Unreadable => {
                self.stats.unreadable_lines += 1;
                if self.stats.unreadable_samples.len() < UNREADABLE_SAMPLES {
                    self.stats.unreadable_samples.push(Sample {
                        line: line_no,
                        text: sample_text(line),
                    });
                }
                return;
            }
            Body::Corruption { text } => {
                self.stats.other_log_lines += 1;
                self.corruption.push(Corruption {
                    line: line_no,
                    pid: parsed.prefix.pid,
                    address: None,
                    site: None,
                    text: String::from_utf8_lossy(text).into_owned(),
                });
                return;
            }
            _ => {}
        }
        self.stats.dump_lines += 1;
        let p = parsed.prefix;
        // a fragment or site line of the dump the same process has open: what
        // `dispatch` would do, without its detours (not before a chunk's first fragment)
        if matches!(body, Body::Fragment { .. } | Body::Site { .. }) {
            if let Some(st) = self.procs.get_mut(self.last_proc) {
                if st.pid == p.pid && st.phase != Phase::Head {
                    if let Some(b) = st.open.as_mut() {
                        b.apply(line_no, &body, u64::from(p.repeat));
                        return;
                    }
                }
            }
        }
        let ctx = Ctx {
            pid: p.pid,
            process_no: p.process_no,
            allocator: p.allocator,
            time: p.time,
            repeat: u64::from(p.repeat),
        };
        if matches!(body, Body::Checks { ok: true, .. }) {
            self.checks_line.clear();
            self.checks_line.extend_from_slice(line);
            self.checks_ctx = Some(MemoCtx {
                pid: ctx.pid,
                process_no: ctx.process_no,
                allocator: ctx.allocator,
                time: p.time.map(|t| {
                    let start = t.as_ptr() as usize - line.as_ptr() as usize;
                    (start, start + t.len())
                }),
                repeat: ctx.repeat,
            });
        }
        self.dispatch(line_no, &body, &ctx);
    }

    /// Hands a dump line to its process's state machine.
    #[inline]
    fn dispatch(&mut self, line_no: u64, body: &Body, ctx: &Ctx) {
        let pi = self.proc_index(ctx.pid);
        match self.procs[pi].phase {
            Phase::Known => self.apply(pi, line_no, body, ctx),
            Phase::Head => self.head(pi, line_no, body, ctx),
            Phase::Continuation => {
                if matches!(
                    body,
                    Body::PoolHeader { .. } | Body::StatusStart { .. } | Body::SumsStart { .. }
                ) {
                    self.end_continuation(pi, ContinuationEnd::Reset);
                    self.apply(pi, line_no, body, ctx);
                } else {
                    self.apply(pi, line_no, body, ctx);
                    if matches!(body, Body::End) {
                        self.end_continuation(pi, ContinuationEnd::End);
                    }
                }
            }
        }
    }

    /// The sequential state machine of one process.
    #[inline]
    fn apply(&mut self, pi: usize, line_no: u64, body: &Body, ctx: &Ctx) {
        match *body {
            Body::PoolHeader { pool, .. } => {
                self.close(pi);
                let st = &mut self.procs[pi];
                st.pending_pool = Some(pool);
                st.pending_pool_known = true;
                return;
            }
            Body::StatusStart { allocator } | Body::SumsStart { allocator } => {
                self.close(pi);
                let kind = if matches!(body, Body::StatusStart { .. }) {
                    DumpKind::Status
                } else {
                    DumpKind::Summary
                };
                let st = &mut self.procs[pi];
                let mut b = Builder::new(kind, line_no, false, ctx);
                b.pool = st.pending_pool.take();
                b.pool_from_previous = !st.pending_pool_known;
                st.pending_pool_known = true;
                b.allocator = allocator.or(ctx.allocator);
                b.listing = kind == DumpKind::Summary;
                st.open = Some(b);
                return;
            }
            // free-list lines or an end marker of a dump we did not see begin
            Body::FreeList | Body::End if self.procs[pi].open.is_none() => return,
            _ => {}
        }
        let st = &mut self.procs[pi];
        let continuation = st.phase != Phase::Known;
        let b = st.open.get_or_insert_with(|| {
            let kind = if matches!(body, Body::SumRow { .. }) {
                DumpKind::Summary
            } else {
                DumpKind::Status
            };
            let mut b = Builder::new(kind, line_no, true, ctx);
            if continuation {
                // continues the previous chunk's dump, or starts headless there
                b.pool_from_previous = true;
            } else {
                b.pool = st.pending_pool.take();
                b.pool_from_previous = !st.pending_pool_known;
                st.pending_pool_known = true;
            }
            b
        });
        b.apply(line_no, body, ctx.repeat);
        if matches!(body, Body::End) && !continuation {
            self.close(pi);
        }
    }

    /// A line of a process whose state before this chunk is not known yet.
    fn head(&mut self, pi: usize, line_no: u64, body: &Body, ctx: &Ctx) {
        match *body {
            Body::PoolHeader { .. } | Body::StatusStart { .. } | Body::SumsStart { .. } => {
                self.end_continuation(pi, ContinuationEnd::Reset);
                self.apply(pi, line_no, body, ctx);
            }
            Body::End => {
                self.push_head(pi, HeadEvent::Flush { line: line_no });
                if let Some(b) = self.procs[pi].open.as_mut() {
                    b.apply(line_no, body, ctx.repeat);
                }
                self.end_continuation(pi, ContinuationEnd::End);
            }
            Body::FreeList => self.push_head(pi, HeadEvent::Flush { line: line_no }),
            Body::Fragment { .. } => {
                self.push_head(pi, HeadEvent::Flush { line: line_no });
                self.procs[pi].phase = Phase::Continuation;
                self.apply(pi, line_no, body, ctx);
            }
            Body::Site { freed, site } => {
                self.ensure_open(pi, line_no, body, ctx);
                self.push_head(
                    pi,
                    HeadEvent::Site {
                        line: line_no,
                        repeat: ctx.repeat,
                        freed,
                        site: site.into(),
                    },
                );
            }
            Body::Checks { ok: false, text } | Body::Overwritten { text } => {
                self.ensure_open(pi, line_no, body, ctx);
                self.push_head(
                    pi,
                    HeadEvent::Mark {
                        line: line_no,
                        overwritten: matches!(body, Body::Overwritten { .. }),
                        text: text.into(),
                    },
                );
            }
            Body::Checks { ok: true, .. } => {
                self.ensure_open(pi, line_no, body, ctx);
            }
            // heap totals, summary rows: independent of what came before
            _ => self.apply(pi, line_no, body, ctx),
        }
    }

    /// Makes sure the continuation builder exists (it records where the dump
    /// part of this chunk begins), without applying the line.
    fn ensure_open(&mut self, pi: usize, line_no: u64, body: &Body, ctx: &Ctx) {
        let st = &mut self.procs[pi];
        let b = st.open.get_or_insert_with(|| {
            let kind = if matches!(body, Body::SumRow { .. }) {
                DumpKind::Summary
            } else {
                DumpKind::Status
            };
            let mut b = Builder::new(kind, line_no, true, ctx);
            b.pool_from_previous = true;
            b
        });
        b.last_line = line_no;
    }

    fn push_head(&mut self, pi: usize, ev: HeadEvent) {
        let head = &mut self.procs[pi].head;
        if let (HeadEvent::Flush { line }, Some(HeadEvent::Flush { line: last })) =
            (&ev, head.last_mut())
        {
            *last = *line;
            return;
        }
        if head.len() >= HEAD_EVENTS_MAX {
            self.inexact = true;
            return;
        }
        head.push(ev);
    }

    fn end_continuation(&mut self, pi: usize, how: ContinuationEnd) {
        let st = &mut self.procs[pi];
        st.continuation = st.open.take();
        st.continuation_end = Some(how);
        st.phase = Phase::Known;
    }

    fn close(&mut self, pi: usize) {
        if let Some(b) = self.procs[pi].open.take() {
            self.done.push(b);
        }
    }

    /// Appends `chunk`, the part of the input right after what `self` has
    /// read. Returns the chunk back when it cannot be joined exactly (then
    /// feed its lines to `self` instead).
    pub fn join(&mut self, mut chunk: Aggregator) -> Result<(), Box<Aggregator>> {
        if chunk.inexact || self.chunk {
            return Err(Box::new(chunk));
        }
        let offset = self.line_no;
        // line statistics
        let s = &mut self.stats;
        let c = &chunk.stats;
        s.lines += c.lines;
        s.dump_lines += c.dump_lines;
        s.alloc_debug_lines += c.alloc_debug_lines;
        s.other_log_lines += c.other_log_lines;
        s.blank_lines += c.blank_lines;
        s.unreadable_lines += c.unreadable_lines;
        s.overlong_lines += c.overlong_lines;
        for sample in chunk.stats.unreadable_samples.drain(..) {
            if s.unreadable_samples.len() < UNREADABLE_SAMPLES {
                s.unreadable_samples.push(Sample {
                    line: sample.line + offset,
                    ..sample
                });
            }
        }
        for mut c in chunk.corruption.drain(..) {
            c.line += offset;
            self.corruption.push(c);
        }
        self.line_no += chunk.line_no;

        // 1. each process's beginning in the chunk joins the dump it continues
        let mut ends = Vec::new();
        for cp in &mut chunk.procs {
            let gi = self.proc_index(cp.pid);
            let (cont, cont_end) = match cp.phase {
                Phase::Known => (cp.continuation.take(), cp.continuation_end),
                Phase::Head | Phase::Continuation => (cp.open.take(), None),
            };
            let mut cont = cont.map(|mut b| {
                b.shift_lines(offset);
                b
            });
            // a dump the chunk begins without its header starts at the chunk's first line of it
            if self.procs[gi].open.is_none() {
                if let Some(c) = &cont {
                    let mut b = Builder::empty_like(c);
                    b.pool = self.procs[gi].pending_pool.take();
                    b.pool_from_previous = false;
                    self.procs[gi].open = Some(b);
                    if let Some(c) = cont.as_mut() {
                        c.pool_from_previous = false;
                    }
                }
            }
            for ev in cp.head.drain(..) {
                let gp = &mut self.procs[gi];
                match ev {
                    HeadEvent::Flush { line } => {
                        if let Some(b) = gp.open.as_mut() {
                            b.apply(line + offset, &Body::FreeList, 1);
                        }
                    }
                    HeadEvent::Site {
                        line,
                        repeat,
                        freed,
                        site,
                    } => {
                        if let Some(b) = gp.open.as_mut() {
                            b.apply(line + offset, &Body::Site { freed, site: &site }, repeat);
                        }
                    }
                    HeadEvent::Mark {
                        line,
                        overwritten,
                        text,
                    } => {
                        if let Some(b) = gp.open.as_mut() {
                            let body = if overwritten {
                                Body::Overwritten { text: &text }
                            } else {
                                Body::Checks {
                                    ok: false,
                                    text: &text,
                                }
                            };
                            b.apply(line + offset, &body, 1);
                        }
                    }
                }
            }
            if let Some(c) = cont {
                if let Some(b) = self.procs[gi].open.as_mut() {
                    b.absorb(c);
                }
            }
            match cont_end {
                Some(ContinuationEnd::End) => {
                    if let Some(b) = self.procs[gi].open.as_mut() {
                        b.end_seen = true;
                    }
                    self.close(gi);
                }
                Some(ContinuationEnd::Reset) => self.close(gi),
                None => {}
            }
            ends.push(gi);
        }
        // 2. dumps the chunk read whole; those that began without a pool
        //    header in the chunk take the pool announced before it
        for mut b in chunk.done.drain(..) {
            b.shift_lines(offset);
            let gi = self.proc_index(b.pid);
            if b.pool_from_previous {
                b.pool = self.procs[gi].pending_pool.take();
                b.pool_from_previous = false;
            }
            self.done.push(b);
        }
        // 3. where each process stands at the end of the chunk
        for (cp, gi) in chunk.procs.drain(..).zip(ends) {
            if cp.phase != Phase::Known {
                continue; // its open dump was joined above
            }
            let gp = &mut self.procs[gi];
            if let Some(mut b) = cp.open {
                b.shift_lines(offset);
                if b.pool_from_previous {
                    b.pool = gp.pending_pool.take();
                    b.pool_from_previous = false;
                }
                gp.open = Some(b);
            }
            if cp.pending_pool_known {
                gp.pending_pool = cp.pending_pool;
            }
        }
        Ok(())
    }

    /// Closes every open dump (as truncated unless it looks complete) and
    /// returns everything read, dumps ordered by their first line.
    pub fn finish(mut self) -> DumpLog {
        for i in 0..self.procs.len() {
            self.close(i);
        }
        let mut snapshots: Vec<Snapshot> = self.done.into_iter().map(Builder::finish).collect();
        snapshots.sort_by_key(|s| s.first_line);
        for (i, s) in snapshots.iter_mut().enumerate() {
            s.index = i;
            for c in &mut s.corruption {
                c.pid = c.pid.or(s.pid);
            }
        }
        DumpLog {
            snapshots,
            corruption: self.corruption,
            lines: self.stats,
        }
    }
}

/// A printable excerpt of an unreadable line.
fn sample_text(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n >= SAMPLE_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads a whole text (tests, small inputs): every line, then finish.
pub fn aggregate_text(text: &[u8]) -> DumpLog {
    let mut agg = Aggregator::new();
    let mut rest = text;
    while !rest.is_empty() {
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                agg.feed(&rest[..i]);
                rest = &rest[i + 1..];
            }
            None => {
                agg.feed_unterminated(rest);
                rest = &rest[rest.len()..];
            }
        }
    }
    agg.finish()
}

// ---------------------------------------------------------------- fragments read from memory

/// One fragment read from a process's memory instead of a log (`kmemdbg gdb`
/// walking a pool): what a `qm_status` fragment line and the `alloc'd from`
/// line under it say.
#[derive(Debug, Clone, Copy)]
pub struct MemoryFragment<'a> {
    /// The fragment's size as the allocator keeps it (the `size=` of qm_status).
    pub size_bytes: u64,
    pub free: bool,
    pub address: &'a str,
    /// `core: core/x.c: f(12)`; `None` when the build has no memory debugging.
    pub site: Option<&'a str>,
}

/// Whose fragments they are, the pool's totals, and whether the walk
/// reached the pool's end (a dump's end marker).
#[derive(Debug, Clone, Default)]
pub struct MemoryOrigin {
    pub pid: Option<u32>,
    pub pool: Option<Pool>,
    pub allocator: Option<Allocator>,
    pub heap: HeapStats,
    pub complete: bool,
}

/// Sums fragments read from memory into a [`Snapshot`], through the same
/// builder that sums a `qm_status` dump's lines: same site parsing, same
/// totals, same order, so [`group`] ranks them exactly as it ranks a dump.
/// `first_line`/`last_line` count fragments here (0 .. the number given).
pub fn snapshot_of_fragments<'a>(
    origin: &MemoryOrigin,
    fragments: impl IntoIterator<Item = MemoryFragment<'a>>,
) -> Snapshot {
    let ctx = Ctx {
        pid: origin.pid,
        process_no: None,
        allocator: origin.allocator,
        time: None,
        repeat: 1,
    };
    let mut b = Builder::new(DumpKind::Status, 0, false, &ctx);
    b.pool = origin.pool;
    b.heap = origin.heap.clone();
    b.listing = true;
    for (n, f) in fragments.into_iter().enumerate() {
        let n = n as u64 + 1;
        b.apply(
            n,
            &Body::Fragment {
                free: f.free,
                address: f.address.as_bytes(),
                size: f.size_bytes,
            },
            1,
        );
        if let Some(site) = f.site {
            b.apply(
                n,
                &Body::Site {
                    freed: f.free,
                    site: site.as_bytes(),
                },
                1,
            );
        }
    }
    b.end_seen = origin.complete;
    b.finish()
}

// ---------------------------------------------------------------- grouping

pub use crate::mem::GroupBy;

impl GroupBy {
    /// The group a site belongs to.
    pub fn key(self, site: &Site) -> String {
        let module = site.module.as_deref();
        let with_module = |rest: &str| match module {
            Some(m) => format!("{m}: {rest}"),
            None => rest.to_string(),
        };
        match self {
            GroupBy::Site => site.text.clone(),
            GroupBy::Function => with_module(&format!("{}: {}", site.file, site.function)),
            GroupBy::File => with_module(&site.file),
            GroupBy::Module => module.unwrap_or("(no module printed)").to_string(),
        }
    }
}

/// Sites summed by a [`GroupBy`] key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub key: String,
    pub count: u64,
    pub bytes: u64,
    /// Share of the dump's bytes (of its count when sizes are unknown), 0..=1.
    pub share: f64,
    /// How many distinct sites the group holds.
    pub sites: usize,
}

/// The sites of `snap` summed by `by`, most bytes first.
pub fn group(snap: &Snapshot, by: GroupBy) -> Vec<Group> {
    let mut map: HashMap<String, (u64, u64, usize)> = HashMap::new();
    for s in &snap.sites {
        let e = map.entry(by.key(&s.site)).or_default();
        e.0 = e.0.saturating_add(s.count);
        e.1 = e.1.saturating_add(s.bytes);
        e.2 += 1;
    }
    let by_bytes = snap.total_bytes > 0;
    let total = if by_bytes {
        snap.total_bytes
    } else {
        snap.total_count
    };
    let mut groups: Vec<Group> = map
        .into_iter()
        .map(|(key, (count, bytes, sites))| Group {
            share: if total == 0 {
                0.0
            } else if by_bytes {
                bytes as f64 / total as f64
            } else {
                count as f64 / total as f64
            },
            key,
            count,
            bytes,
            sites,
        })
        .collect();
    groups.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.key.cmp(&b.key))
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(text: &str) -> DumpLog {
        aggregate_text(text.as_bytes())
    }

    // Real lines from ../shared/samples/kamailio-5.6.3-stderr-dumps.log (trimmed).
    const SHM_STATUS: &str = " 6(7245) ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)
 6(7245) ALERT: qm_status: qm_status(): (0x7f5288951000):
 6(7245) ALERT: qm_status: qm_status(): heap size= 33554432
 6(7245) ALERT: qm_status: qm_status(): used= 2474872, used+overhead=2715744, free=30838688
 6(7245) ALERT: qm_status: qm_status(): max used (+overhead)= 2716320
 6(7245) ALERT: qm_status: qm_status(): dumping all alloc'ed. fragments:
 6(7245) ALERT: qm_status: qm_status():      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1
 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)
 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed
 2(7241) NOTICE: <core> [core/mem/q_malloc.c:373]: qm_malloc(): qm_malloc(0x7f528abb0010, 2008) called from core: core/receive.c: receive_msg(340)
 6(7245) ALERT: qm_status: qm_status():     10. N  address=0x7f528898ab60 frag=0x7f528898ab28 size=278544 used=1
 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/dns_cache.c: init_dns_cache(349)
 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed
 6(7245) ALERT: qm_status: qm_status():     11. N  address=0x7f52889cebd8 frag=0x7f52889ceba0 size=8 used=1
 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)
 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed
 6(7245) ALERT: qm_status: qm_status(): dumping free list stats :
 6(7245) ALERT: qm_status: qm_status(): hash=  72. fragments no.:     1, unused:     0
\t\t bucket size:       576 -       576 (first       576)
 6(7245) ALERT: qm_status: qm_status(): -----------------------------
";

    /// The qm_status text Kamailio would print for these fragments
    /// (`(size, site)`; the line layout of the real 5.6.3 lines above).
    fn status_text(frags: &[(u64, Option<String>)]) -> String {
        let p = " 6(7245) ALERT: qm_status: qm_status():";
        let mut t = format!(
            " 6(7245) ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)\n{p} (0x7f5288951000):\n{p} heap size= 33554432\n{p} used= 2474872, used+overhead=2715744, free=30838688\n{p} dumping all alloc'ed. fragments:\n"
        );
        for (i, (size, site)) in frags.iter().enumerate() {
            t.push_str(&format!(
                "{p}     {i:2}. N  address=0x{:x} frag=0x{:x} size={size} used=1\n",
                0x7f52_8898_a6c8u64 + i as u64 * 64,
                0x7f52_8898_a690u64 + i as u64 * 64
            ));
            if let Some(site) = site {
                t.push_str(&format!("{p}           alloc'd from {site}\n"));
            }
            t.push_str(&format!(
                "{p}          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed\n"
            ));
        }
        t.push_str(&format!(
            "{p} dumping free list stats :\n{p} -----------------------------\n"
        ));
        t
    }

    fn of_memory(frags: &[(u64, Option<String>)]) -> Snapshot {
        let addrs: Vec<String> = (0..frags.len()).map(|i| format!("0x{i:x}")).collect();
        snapshot_of_fragments(
            &MemoryOrigin {
                pid: Some(7245),
                pool: Some(Pool::Shm),
                allocator: Some(Allocator::Qm),
                heap: HeapStats::default(),
                complete: true,
            },
            frags
                .iter()
                .zip(&addrs)
                .map(|((size, site), a)| MemoryFragment {
                    size_bytes: *size,
                    free: false,
                    address: a,
                    site: site.as_deref(),
                }),
        )
    }

    fn assert_same_ranking(dump: &Snapshot, memory: &Snapshot) {
        assert_eq!(dump.sites, memory.sites);
        assert_eq!(
            (dump.total_count, dump.total_bytes),
            (memory.total_count, memory.total_bytes)
        );
        assert_eq!(
            (dump.fragments_without_site, dump.bytes_without_site),
            (memory.fragments_without_site, memory.bytes_without_site)
        );
        for by in [
            GroupBy::Site,
            GroupBy::Function,
            GroupBy::File,
            GroupBy::Module,
        ] {
            assert_eq!(group(dump, by), group(memory, by), "{by:?}");
        }
    }

    #[test]
    fn fragments_from_memory_rank_like_the_same_status_dump() {
        // sites copied from the real 5.6.3 log; ties in bytes broken by count, then name
        let frags: Vec<(u64, Option<String>)> = [
            (8, Some("core: core/mem/q_malloc.c: qm_shm_lock_init(1277)")),
            (278544, Some("core: core/dns_cache.c: init_dns_cache(349)")),
            (8, Some("core: core/mem/q_malloc.c: qm_shm_lock_init(1277)")),
            (2048, Some("tm: h_table.c: init_hash_table(471)")),
            (1024, Some("tm: h_table.c: init_hash_table(471)")),
            (3072, Some("htable: ht_api.c: ht_init_tables(257)")),
            (16, None),
            (48, Some("core: core/cfg/cfg_struct.c: cfg_clone_str(126)")),
        ]
        .into_iter()
        .map(|(s, site)| (s, site.map(str::to_string)))
        .collect();
        let log = aggregate_text(status_text(&frags).as_bytes());
        assert_eq!(log.snapshots.len(), 1);
        let dump = &log.snapshots[0];
        let memory = of_memory(&frags);
        assert_same_ranking(dump, &memory);
        assert_eq!(memory.sites[0].site.function, "init_dns_cache");
        assert_eq!((memory.sites[1].count, memory.sites[1].bytes), (2, 3072));
        assert_eq!(memory.fragments_without_site, 1);
        assert_eq!(memory.pool, Some(Pool::Shm));
        assert!(memory.complete);
        assert_eq!(group(&memory, GroupBy::Module)[0].key, "core");
        assert!(of_memory(&[]).sites.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn fragments_from_memory_rank_like_any_status_dump(frags in proptest::collection::vec(
            (0u64..5000, proptest::option::weighted(0.9, proptest::prop_oneof![
                proptest::prelude::Just("core: core/mem/q_malloc.c: qm_shm_lock_init(1277)".to_string()),
                proptest::prelude::Just("tm: h_table.c: init_hash_table(471)".to_string()),
                "(core|tm|sl): [a-z_/]{1,12}\\.c: [a-z_]{1,10}\\([0-9]{1,4}\\)",
            ])),
            0..40,
        )) {
            let log = aggregate_text(status_text(&frags).as_bytes());
            proptest::prop_assert_eq!(log.snapshots.len(), 1);
            assert_same_ranking(&log.snapshots[0], &of_memory(&frags));
        }
    }

    #[test]
    fn status_dump_sums_sites_by_bytes() {
        let l = log(SHM_STATUS);
        assert_eq!(l.snapshots.len(), 1);
        let s = &l.snapshots[0];
        assert_eq!(s.pid, Some(7245));
        assert_eq!(s.pool, Some(Pool::Shm));
        assert_eq!(s.kind, DumpKind::Status);
        assert!(s.complete && !s.headless);
        assert_eq!(s.heap.size_bytes, Some(33554432));
        assert_eq!(s.heap.max_used_bytes, Some(2716320));
        assert_eq!(s.total_count, 3);
        assert_eq!(s.total_bytes, 278544 + 16);
        assert_eq!(s.sites[0].site.function, "init_dns_cache");
        assert_eq!((s.sites[1].count, s.sites[1].bytes), (2, 16));
        assert_eq!((s.first_line, s.last_line), (2, 20));
        assert_eq!(l.lines.alloc_debug_lines, 1);
        assert_eq!(l.lines.unreadable_lines, 0);
        assert_eq!(l.corruption_count(), 0);
    }

    #[test]
    fn truncated_dump_is_kept_and_marked() {
        let cut: String = SHM_STATUS
            .lines()
            .take(12)
            .map(|l| format!("{l}\n"))
            .collect();
        let l = log(&cut);
        assert_eq!(l.snapshots.len(), 1);
        assert!(!l.snapshots[0].complete);
        assert_eq!(l.snapshots[0].total_count, 2);
    }

    #[test]
    fn a_log_cut_inside_a_guard_word_is_not_corruption() {
        let mut text: String = SHM_STATUS
            .lines()
            .take(9)
            .map(|l| format!("{l}\n"))
            .collect();
        text.truncate(text.len() - 4); // "abcde" of "abcdefed", no newline
        let l = log(&text);
        assert_eq!(l.corruption_count(), 0);
        assert!(!l.snapshots[0].complete);
        // a whole line with a wrong guard word ("abcdefee") is corruption
        assert_eq!(log(&format!("{text}fee\n")).corruption_count(), 1);
    }

    #[test]
    fn input_starting_mid_dump_is_headless() {
        let tail: String = SHM_STATUS
            .lines()
            .skip(9)
            .map(|l| format!("{l}\n"))
            .collect();
        let l = log(&tail);
        assert_eq!(l.snapshots.len(), 1);
        assert!(l.snapshots[0].headless);
        assert!(l.snapshots[0].complete);
        assert_eq!(l.snapshots[0].total_count, 2);
    }

    #[test]
    fn corruption_markers_name_fragment_and_site() {
        let text = " 6(7245) ALERT: qm_status: qm_status(): (0x7f5288951000):
 6(7245) ALERT: qm_status: qm_status(): dumping all alloc'ed. fragments:
 6(7245) ALERT: qm_status: qm_status():     10. N  address=0x7f528898ab60 frag=0x7f528898ab28 size=64 used=1
 6(7245) ALERT: qm_status: qm_status():           alloc'd from tm: t_hooks.c: insert_tmcb(103)
 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= 41414141, abcdefed
 6(7245) ALERT: qm_status: qm_status():          * end overwritten(41414141, abcdefed)!
 6(7245) ALERT: qm_status: qm_status(): -----------------------------
 1(7240) CRITICAL: <core> [core/mem/q_malloc.c:514]: qm_free(): BUG: freeing already freed pointer (0x7f52), called from tm: t_funcs.c: free_cell(100), first free tm: t_funcs.c: free_cell(100) - aborting
";
        let l = log(text);
        let s = &l.snapshots[0];
        assert_eq!(s.corruption_total, 1, "one damaged fragment, counted once");
        let c = &s.corruption[0];
        assert_eq!(c.address.as_deref(), Some("0x7f528898ab60"));
        assert_eq!(c.site.as_deref(), Some("tm: t_hooks.c: insert_tmcb(103)"));
        assert!(c.text.contains("end overwritten"));
        assert_eq!(l.corruption.len(), 1);
        assert_eq!(l.corruption[0].pid, Some(7240));
        assert_eq!(l.corruption_count(), 2);
    }

    #[test]
    fn interleaved_processes_stay_apart() {
        let text = " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 2(7241) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)
 2(7241) ALERT: qm_sums: qm_sums():  count=     7 size=       700 bytes from tm: t_hooks.c: insert_tmcb(103)
 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------
 2(7241) ALERT: qm_sums: qm_sums():  count=     1 size=        16 bytes from core: core/sr_module.c: fix_param(1144)
 2(7241) ALERT: qm_sums: qm_sums(): -----------------------------
";
        let l = log(text);
        assert_eq!(l.snapshots.len(), 2);
        assert_eq!(l.snapshots[0].pid, Some(7240));
        assert_eq!(l.snapshots[0].total_bytes, 112);
        assert_eq!(l.snapshots[1].pid, Some(7241));
        assert_eq!(l.snapshots[1].total_bytes, 716);
        assert_eq!(l.snapshots[1].total_count, 8);
        assert!(l
            .snapshots
            .iter()
            .all(|s| s.complete && s.kind == DumpKind::Summary));
    }

    #[test]
    fn grouping_by_function_file_module() {
        let text = " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       100 bytes from tm: t_hooks.c: insert_tmcb(103)
 1(7240) ALERT: qm_sums: qm_sums():  count=     1 size=       300 bytes from tm: t_hooks.c: insert_tmcb(110)
 1(7240) ALERT: qm_sums: qm_sums():  count=     1 size=        50 bytes from tm: t_lookup.c: t_newtran(12)
 1(7240) ALERT: qm_sums: qm_sums():  count=     5 size=        50 bytes from core: core/ut.h: pkg_str_dup(961)
 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------
";
        let l = log(text);
        let s = &l.snapshots[0];
        let f = group(s, GroupBy::Function);
        assert_eq!(f[0].key, "tm: t_hooks.c: insert_tmcb");
        assert_eq!((f[0].count, f[0].bytes, f[0].sites), (3, 400, 2));
        assert!((f[0].share - 0.8).abs() < 1e-9);
        let m = group(s, GroupBy::Module);
        assert_eq!(m[0].key, "tm");
        assert_eq!(m[0].bytes, 450);
        let fl = group(s, GroupBy::File);
        assert_eq!(fl[0].key, "tm: t_hooks.c");
        assert_eq!(group(s, GroupBy::Site).len(), 4);
    }

    #[test]
    fn filtered_input_counts_sites_without_sizes() {
        // grep "alloc'd from" dump.log | uniq -c
        let text = "      3  6(7245) ALERT: qm_status: qm_status():           alloc'd from tm: t_hooks.c: insert_tmcb(103)
      1  6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/ut.h: pkg_str_dup(961)
";
        let l = log(text);
        let s = &l.snapshots[0];
        assert!(s.headless);
        assert_eq!(s.total_count, 4);
        assert_eq!(s.total_bytes, 0);
        let g = group(s, GroupBy::Site);
        assert_eq!(g[0].count, 3);
        assert!((g[0].share - 0.75).abs() < 1e-9);
    }

    #[test]
    fn pool_header_then_new_dump_closes_unfinished_one() {
        let text = " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       100 bytes from tm: t_hooks.c: insert_tmcb(103)
 1(7240) NOTICE: <core> [main.c:869]: sig_usr(): Memory still-in-use summary (pkg):
 1(7240) NOTICE: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 1(7240) NOTICE: qm_sums: qm_sums():  count=     4 size=       200 bytes from tm: t_hooks.c: insert_tmcb(103)
 1(7240) NOTICE: qm_sums: qm_sums(): -----------------------------
";
        let l = log(text);
        assert_eq!(l.snapshots.len(), 2);
        assert!(!l.snapshots[0].complete);
        assert_eq!(l.snapshots[0].pool, None);
        assert!(l.snapshots[1].complete);
        assert_eq!(l.snapshots[1].pool, Some(Pool::Pkg));
    }

    /// Lines of every kind from two processes, for the join property.
    fn soup_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let body = prop_oneof![
            Just("ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)"),
            Just("ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process 1:"),
            Just("ALERT: qm_status: qm_status(): (0x7f5288951000):"),
            Just("ALERT: qm_status: qm_status(): heap size= 33554432"),
            Just("ALERT: qm_status: qm_status(): max used (+overhead)= 2716320"),
            Just("ALERT: qm_status: qm_status(): dumping all alloc'ed. fragments:"),
            Just("ALERT: qm_status: qm_status():      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1"),
            Just("ALERT: qm_status: qm_status():      1. N  address=0x7f528898a738 frag=0x7f528898a700 size=64 used=1"),
            Just("ALERT: qm_status: qm_status():      2. A  address=0x7f528898a7a8 frag=0x7f528898a770 size=16 used=1"),
            Just("ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)"),
            Just("ALERT: qm_status: qm_status():           alloc'd from tm: t_hooks.c: insert_tmcb(103)"),
            Just("ALERT: qm_status: qm_status():           freed from tm: t_hooks.c: insert_tmcb(103)"),
            Just("ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed"),
            Just("ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= 41414141, abcdefed"),
            Just("ALERT: qm_status: qm_status():          * end overwritten(41414141, abcdefed)!"),
            Just("ALERT: qm_status: qm_status(): dumping free list stats :"),
            Just("ALERT: qm_status: qm_status(): -----------------------------"),
            Just("ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:"),
            Just("ALERT: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)"),
            Just("NOTICE: <core> [core/mem/q_malloc.c:373]: qm_malloc(): qm_malloc(0x7f528abb0010, 24) called from core: core/cfg.y: yyparse(2068)"),
        ];
        let who = prop_oneof![
            Just(" 1(7240) "),
            Just(" 2(7241) "),
            Just("      3  1(7240) "),
            Just("Nov 25 22:09:01 sip1 kamailio[7240]: "),
            Just("Nov 25 22:09:02 sip1 kamailio[7240]: "),
        ];
        (who, body).prop_map(|(p, b)| format!("{p}{b}"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        #[test]
        fn joined_parts_equal_one_pass(
            lines in proptest::collection::vec(soup_line(), 0..80),
            cuts in proptest::collection::vec(0usize..80, 0..4),
        ) {
            let text = lines.join("\n");
            let one = aggregate_text(text.as_bytes());
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(lines.len())).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0];
            bounds.extend(cuts.into_iter().filter(|&c| c > 0));
            bounds.push(lines.len());
            bounds.dedup();
            let last = lines.len().saturating_sub(1);
            // the joined text has no final newline: its last line is read as unterminated
            let feed = |agg: &mut Aggregator, at: usize, l: &String| {
                if at == last && !l.is_empty() {
                    agg.feed_unterminated(l.as_bytes())
                } else if at != last {
                    agg.feed(l.as_bytes())
                }
            };
            let mut whole = Aggregator::new();
            for (i, w) in bounds.windows(2).enumerate() {
                let part = &lines[w[0]..w[1]];
                if i == 0 {
                    part.iter().enumerate().for_each(|(k, l)| feed(&mut whole, w[0] + k, l));
                    continue;
                }
                let mut chunk = Aggregator::new_chunk();
                part.iter().enumerate().for_each(|(k, l)| feed(&mut chunk, w[0] + k, l));
                if whole.join(chunk).is_err() {
                    part.iter().enumerate().for_each(|(k, l)| feed(&mut whole, w[0] + k, l));
                }
            }
            let joined = whole.finish();
            proptest::prop_assert_eq!(format!("{:?}", joined), format!("{:?}", one));
        }

        #[test]
        fn bytes_never_panic_and_join_exactly(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
            at in 0usize..100,
        ) {
            let one = aggregate_text(&bytes);
            // the same lines, as aggregate_text cuts them, read in two parts
            let mut lines = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let i = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                lines.push((&rest[..i], i < rest.len()));
                rest = &rest[(i + 1).min(rest.len())..];
            }
            let feed = |agg: &mut Aggregator, (l, ended): &(&[u8], bool)| {
                if *ended {
                    agg.feed(l)
                } else {
                    agg.feed_unterminated(l)
                }
            };
            let cut = at.min(lines.len());
            let mut whole = Aggregator::new();
            lines[..cut].iter().for_each(|l| feed(&mut whole, l));
            let mut chunk = Aggregator::new_chunk();
            lines[cut..].iter().for_each(|l| feed(&mut chunk, l));
            if whole.join(chunk).is_err() {
                lines[cut..].iter().for_each(|l| feed(&mut whole, l));
            }
            proptest::prop_assert_eq!(format!("{:?}", whole.finish()), format!("{:?}", one));
        }

        #[test]
        fn never_panics_on_line_soup(lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status(): (0x7f5288951000):".to_string()),
                proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status():      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1".to_string()),
                proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)".to_string()),
                proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= 0, abcdefed".to_string()),
                proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status():          * end overwritten(0, abcdefed)!".to_string()),
                proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status(): -----------------------------".to_string()),
                proptest::prelude::Just(" 1(7240) ALERT: qm_sums: qm_sums():  count=18446744073709551615 size=18446744073709551615 bytes from a: b: c(1)".to_string()),
                proptest::prelude::Just("      9  1(7240) ALERT: qm_sums: qm_sums():  count=18446744073709551615 size=18446744073709551615 bytes from a: b: c(1)".to_string()),
                proptest::prelude::Just(" 1(7240) ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process 7240:".to_string()),
                "[ -~]{0,40}",
            ],
            0..40,
        )) {
            let text = lines.join("\n");
            let l = aggregate_text(text.as_bytes());
            for s in &l.snapshots {
                for by in [GroupBy::Site, GroupBy::Function, GroupBy::File, GroupBy::Module] {
                    let _ = group(s, by);
                }
            }
        }
    }
}
