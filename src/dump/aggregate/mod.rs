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

use crate::logline::{parse_site, Body, LineParser};
use crate::mem::{Allocator, Pool};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

mod builder;
mod fragments;
#[cfg(test)]
mod tests;

use super::snapshot::*;
use builder::*;
pub use fragments::{snapshot_of_fragments, MemoryFragment, MemoryOrigin};

// ---------------------------------------------------------------- one dump being summed (impl in builder.rs)

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
    uniq: bool,
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
    free_list: FreeListStats,
    /// A fragment line was read (the fragment context below is this builder's own).
    had_fragment: bool,
    last_address: Vec<u8>,
    last_site: Vec<u8>,
    /// The current fragment already has a corruption marker.
    fragment_flagged: bool,
    corruption: Vec<Corruption>,
    corruption_total: u64,
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
    /// A free-list line with figures (`bucket size:`, `TOTAL:`).
    Free {
        line: u64,
        high: u64,
        first: u64,
        total: Option<(u64, u64)>,
    },
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
    /// Reads the RPC answers among the lines that are not dump lines.
    rpc: crate::memrpc::Reader,
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
            rpc: crate::memrpc::Reader::new(),
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
                if m.uniq {
                    self.stats.uniq_lines += 1;
                }
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
        if parsed.prefix.uniq {
            self.stats.uniq_lines += 1;
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
            Body::OutOfMemory { pool, .. } => {
                self.stats.other_log_lines += 1;
                self.stats.out_of_memory_lines += 1;
                match pool {
                    Some(Pool::Pkg) => self.stats.out_of_memory_pkg += 1,
                    Some(Pool::Shm) => self.stats.out_of_memory_shm += 1,
                    None => {}
                }
                return;
            }
            Body::OtherLog => {
                self.stats.other_log_lines += 1;
                self.rpc.feed_tagged(line_no, line, false);
                return;
            }
            Body::Unreadable => {
                self.stats.unreadable_lines += 1;
                self.rpc.feed_tagged(line_no, line, true);
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
        // a free-list bucket on a line of its own (`\t\t bucket size: ...`,
        // the second half of a `hash=` message) continues the last writer's dump
        let continues = p.pid.is_none()
            && !p.log_line
            && matches!(body, Body::FreeBucket { .. } | Body::FreeList);
        let ctx = Ctx {
            pid: if continues {
                self.procs.get(self.last_proc).map_or(p.pid, |st| st.pid)
            } else {
                p.pid
            },
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
                uniq: p.uniq,
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
            Body::FreeList | Body::FreeBucket { .. } | Body::FreeTotal { .. } | Body::End
                if self.procs[pi].open.is_none() =>
            {
                return
            }
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
            Body::FreeBucket { high, first } => self.push_head(
                pi,
                HeadEvent::Free {
                    line: line_no,
                    high,
                    first,
                    total: None,
                },
            ),
            Body::FreeTotal { fragments, bytes } => self.push_head(
                pi,
                HeadEvent::Free {
                    line: line_no,
                    high: 0,
                    first: 0,
                    total: Some((fragments, bytes)),
                },
            ),
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
        s.out_of_memory_lines += c.out_of_memory_lines;
        s.out_of_memory_pkg += c.out_of_memory_pkg;
        s.out_of_memory_shm += c.out_of_memory_shm;
        s.uniq_lines += c.uniq_lines;
        let theirs = std::mem::take(&mut chunk.rpc);
        self.rpc.append(theirs, offset);
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
                    HeadEvent::Free {
                        line,
                        high,
                        first,
                        total,
                    } => {
                        if let Some(b) = gp.open.as_mut() {
                            let body = match total {
                                Some((fragments, bytes)) => Body::FreeTotal { fragments, bytes },
                                None => Body::FreeBucket { high, first },
                            };
                            b.apply(line + offset, &body, 1);
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
        let rpc = self.rpc.finish();
        let mut lines = self.stats;
        // lines of RPC answers were counted as not understood (or as other log lines)
        lines.unreadable_lines = lines.unreadable_lines.saturating_sub(rpc.used_unreadable);
        lines.other_log_lines = lines
            .other_log_lines
            .saturating_sub(rpc.lines_used.saturating_sub(rpc.used_unreadable));
        lines.rpc_lines = rpc.lines_used;
        lines.unreadable_samples.retain(|s| !rpc.used_line(s.line));
        DumpLog {
            snapshots,
            corruption: self.corruption,
            lines,
            rpc,
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
