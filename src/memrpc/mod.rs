//! Pure reader of the memory RPC answers that users paste beside (or instead
//! of) a log: `pkg.stats`, `core.shmmem` / `shm.stats`, `shm.report`,
//! `mod.stats` / `mod.statsx`, `core.psx` / `core.ps`, and `kamctl stats shmem`, in the
//! encodings they come in: kamcmd's text (`{`, `key: value`, `}` and bare
//! lines such as `Module: core`), JSON-RPC as printed by kamcli, kamctl
//! `rpc` or curl, XML-RPC, and the `shmem:NAME = N` lines of `kamctl stats`.
//!
//! Text in, [`Answers`] out: [`Reader::feed`] takes one line at a time (so it
//! can sit beside the log-line reader and see only the lines that reader did
//! not understand), [`Reader::finish`] returns what was read. Values are kept
//! as printed (signed, wide): a counter that wrapped stays visibly wrong here
//! and [`verdict`] says so; nothing is corrected or invented. Never panics
//! (fuzzed below); memory is bounded by the largest single answer kept
//! ([`MAX_CHUNK_BYTES`]).
//!
//! What a format cannot carry stays `None`: a `mod.stats` block's pool when
//! the paste has no `mod.stats … pkg|shm` command line, a `pkg.stats`
//! record's `desc` before Kamailio 5.4, a pool's largest free fragment
//! outside `shm.report`.

mod encodings;
mod pasted;
pub mod verdict;

use crate::logline::prefix::strip_line_number;
use crate::mem::Pool;
use encodings::{json_items, xml_items, Item, Value};
use pasted::bare_record_start;
use serde::Serialize;

/// Longest JSON or XML answer kept to be read whole; a longer one is counted
/// as unread.
pub const MAX_CHUNK_BYTES: usize = 4 << 20;

/// How an answer was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// kamcmd's text output.
    KamcmdText,
    /// JSON-RPC (kamcli, kamctl rpc, jsonrpcs over HTTP or FIFO).
    Json,
    /// XML-RPC (xmlrpc module).
    XmlRpc,
    /// `kamctl stats shmem` / `stats.get_statistics shmem:` lines.
    KamctlStats,
}

/// Which RPC a record answers, recognised from its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `pkg.stats` (kex): one record per process.
    PkgStats,
    /// `core.shmmem` (core) or `shm.stats` (corex).
    ShmStats,
    /// `shm.report` (corex): with the largest free fragment.
    ShmReport,
    /// `kamctl stats shmem` or `stats.get_statistics shmem:`.
    ShmStatistics,
    /// The heap lines of a status dump in a log (`heap size=`, `used=`).
    StatusDump,
}

/// One pool's figures as printed. Every number is optional: an answer
/// carries what its method carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolFigures {
    pub pool: Pool,
    pub method: Method,
    pub encoding: Encoding,
    /// 1-based line of the input where the record starts.
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<i128>,
    /// The process description (`desc` of pkg.stats since 5.4, or from `core.psx`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    pub total: Option<i128>,
    pub free: Option<i128>,
    pub used: Option<i128>,
    pub real_used: Option<i128>,
    pub max_used: Option<i128>,
    /// All fragments (`total_frags`, `fragments`).
    pub fragments: Option<i128>,
    /// Free fragments (`free_frags` of shm.report).
    pub free_fragments: Option<i128>,
    /// The largest free fragment (`max_free_frag_size` of shm.report).
    pub largest_free: Option<i128>,
    /// How to call it when not by pool and PID (a dump: `dump 2 (pid 7, shm status)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl PoolFigures {
    fn new(pool: Pool, method: Method, encoding: Encoding, line: u64) -> PoolFigures {
        PoolFigures {
            pool,
            method,
            encoding,
            line,
            pid: None,
            rank: None,
            desc: None,
            total: None,
            free: None,
            used: None,
            real_used: None,
            max_used: None,
            fragments: None,
            free_fragments: None,
            largest_free: None,
            name: None,
        }
    }

    /// The heap figures of a status dump read from a log (`heap size=`,
    /// `used=`, `used+overhead=`, `free=`, `max used`), to be judged like an
    /// RPC answer. `pool` is `None` when the dump does not say (then shm is
    /// assumed for the remedies only, never shown as a fact).
    pub fn from_dump(
        name: String,
        pool: Option<Pool>,
        line: u64,
        heap: [Option<u64>; 5],
    ) -> PoolFigures {
        let wide = |v: Option<u64>| v.map(i128::from);
        let mut p = PoolFigures::new(
            pool.unwrap_or(Pool::Shm),
            Method::StatusDump,
            Encoding::KamcmdText,
            line,
        );
        p.total = wide(heap[0]);
        p.used = wide(heap[1]);
        p.real_used = wide(heap[2]);
        p.free = wide(heap[3]);
        p.max_used = wide(heap[4]);
        p.name = Some(name);
        p
    }

    /// `pkg of pid N (desc)` / `shm`.
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        match (self.pool, self.pid) {
            (Pool::Pkg, Some(pid)) => match &self.desc {
                Some(d) if !d.is_empty() => format!("pkg of pid {pid} ({d})"),
                _ => format!("pkg of pid {pid}"),
            },
            (p, _) => p.as_str().to_string(),
        }
    }
}

/// One `mod.stats` block: the memory one module holds, per allocating function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModBlock {
    /// From the `Module: NAME` line; `None` when the paste has only the entries.
    pub module: Option<String>,
    /// From the command line (`mod.stats all pkg`); `None` when the paste does not say.
    pub pool: Option<Pool>,
    pub encoding: Encoding,
    pub line: u64,
    pub entries: Vec<ModEntry>,
    /// The `Total:` line as printed; `None` when the block was cut before it.
    pub total: Option<i128>,
    /// The block's closing `}` (or the end of its JSON/XML answer) was seen.
    pub complete: bool,
}

impl ModBlock {
    /// Sum of the entries (what `Total:` should say).
    pub fn entries_bytes(&self) -> i128 {
        self.entries.iter().map(|e| e.bytes).sum()
    }
}

/// `function(line): bytes` (and `mod.statsx`'s `bytes (count)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModEntry {
    pub site: String,
    pub bytes: i128,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i128>,
}

/// One process of `core.psx` (or `core.psa`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    pub index: Option<i128>,
    pub pid: i128,
    pub desc: String,
}

/// Everything read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Answers {
    pub pools: Vec<PoolFigures>,
    pub modules: Vec<ModBlock>,
    pub processes: Vec<Process>,
    /// Lines that were part of an answer that was read.
    pub lines_used: u64,
    /// Those lines, as inclusive ranges (first, last).
    #[serde(skip)]
    pub used_ranges: Vec<(u64, u64)>,
    /// Of the lines used, how many the caller had found unreadable (see [`Reader::feed_tagged`]).
    #[serde(skip)]
    pub used_unreadable: u64,
    /// First lines of JSON answers the input stops inside: only their
    /// complete records were read (as members, see [`Shape::JsonMembers`]).
    #[serde(skip)]
    pub cut_answers: Vec<u64>,
}

impl Answers {
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty() && self.modules.is_empty() && self.processes.is_empty()
    }

    /// Whether line `n` was part of an answer that was read.
    pub fn used_line(&self, n: u64) -> bool {
        self.used_ranges.iter().any(|&(a, b)| a <= n && n <= b)
    }
}

/// Where the reader is.
#[derive(Debug)]
enum State {
    Idle,
    /// A lone `{`: kamcmd struct or pretty JSON, decided by the next line.
    Brace {
        line: u64,
    },
    Struct(OpenStruct),
    Chunk(Chunk),
    /// After a `core.ps` command line: kamcmd prints each process as a PID
    /// line then a description line. Holds a PID waiting for its line.
    Ps(Option<(i128, u64)>),
}

#[derive(Debug)]
struct OpenStruct {
    line: u64,
    fields: Vec<(String, Value)>,
    /// How the record was opened: `{`, or a bare first field.
    shape: Shape,
}

/// How a record's fields are printed when they do not come as a whole answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// kamcmd's `{` … `}`.
    Braced,
    /// kamcmd's `key: value` lines pasted without their braces (the record
    /// starts at `entry:`, as `pkg.stats` prints it, and ends at a line that
    /// is not a field or at the next `entry:`).
    Bare,
    /// JSON members cut out of a pretty-printed answer (`"PID": 12,`, as
    /// `kamctl ps | grep -B1 …` leaves them): ends at a line that is not a
    /// member (grep's `--`) or at a member seen twice.
    JsonMembers,
}

#[derive(Debug)]
struct Chunk {
    json: bool,
    line: u64,
    text: String,
    /// JSON only: open braces/brackets outside strings, and string state.
    depth: i64,
    in_string: bool,
    escaped: bool,
}

/// The streaming reader: one line at a time.
#[derive(Debug)]
pub struct Reader {
    state: State,
    out: Answers,
    /// The last `mod.stats` / `pkg.stats` command line seen: which pool a
    /// following `mod.stats` answer is about (`all` means pkg then shm).
    command_pools: Vec<Pool>,
    /// `Module: NAME` waiting for its block(s), and how many blocks it had.
    module: Option<(String, u64, usize)>,
    /// Entries printed without a `Module:` header or braces (a grep of mod.stats).
    loose: Option<ModBlock>,
    /// `shmem:NAME = N` lines being collected.
    stats: Option<PoolFigures>,
    /// Lines fed since the reader left `Idle`, with the caller's tag
    /// (`true`: the caller found the line unreadable).
    tags: Vec<(u64, bool)>,
    /// Whether any line was fed at all (see [`Reader::append`]).
    fed: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    pub fn new() -> Reader {
        Reader {
            state: State::Idle,
            out: Answers::default(),
            command_pools: Vec::new(),
            module: None,
            loose: None,
            stats: None,
            tags: Vec::new(),
            fed: false,
        }
    }

    /// [`Reader::feed`] for a caller that counts lines itself: `unreadable`
    /// says whether the caller found line `n` unreadable, so that it can
    /// take the lines used here out of that count ([`Answers::used_unreadable`]).
    /// Lines that cannot start or continue an answer are passed over
    /// without allocating (this sits beside a log reader that sees every line).
    pub fn feed_tagged(&mut self, n: u64, raw: &[u8], unreadable: bool) {
        self.fed = true;
        let raw = strip_line_number(raw).unwrap_or(raw);
        if matches!(self.state, State::Idle) && !may_start(raw) {
            self.flush_stats();
            self.flush_loose();
            return;
        }
        self.tags.push((n, unreadable));
        self.feed(n, raw);
        if matches!(self.state, State::Idle) {
            self.tags.clear();
        }
    }

    /// Appends what a reader of a later part of the same input read, its
    /// lines shifted by `offset` (an answer cut by the boundary between the
    /// parts is lost; its lines stay counted as the caller counted them).
    /// An answer the later part leaves open stays open here, to be ended by
    /// the next part's boundary or read by [`Reader::finish`].
    pub fn append(&mut self, mut later: Reader, offset: u64) {
        // what the later part left open continues into the part after it (or
        // is cut by the end of the input, seen by the last `finish`); what
        // this part left open was then cut by the boundary and is dropped.
        // A later part with no lines at all changes nothing.
        let open = std::mem::replace(&mut later.state, State::Idle);
        if later.fed {
            self.state = match open {
                State::Idle => State::Idle,
                State::Ps(p) => State::Ps(p.map(|(pid, at)| (pid, at + offset))),
                State::Brace { line } => State::Brace {
                    line: line + offset,
                },
                State::Struct(mut s) => {
                    s.line += offset;
                    State::Struct(s)
                }
                State::Chunk(mut c) => {
                    c.line += offset;
                    State::Chunk(c)
                }
            };
            self.tags = std::mem::take(&mut later.tags)
                .into_iter()
                .map(|(n, unreadable)| (n + offset, unreadable))
                .collect();
        }
        let a = later.finish();
        for mut p in a.pools {
            p.line += offset;
            self.out.pools.push(p);
        }
        for mut m in a.modules {
            m.line += offset;
            self.out.modules.push(m);
        }
        self.out.processes.extend(a.processes);
        self.out
            .cut_answers
            .extend(a.cut_answers.iter().map(|l| l + offset));
        self.out.lines_used += a.lines_used;
        self.out.used_unreadable += a.used_unreadable;
        self.out.used_ranges.extend(
            a.used_ranges
                .into_iter()
                .map(|(x, y)| (x + offset, y + offset)),
        );
    }

    /// Reads line `n` (1-based). Returns nothing: what was read is in
    /// [`Reader::finish`], which lines were used in [`Answers::used_line`].
    pub fn feed(&mut self, n: u64, raw: &[u8]) {
        self.fed = true;
        // a paste copied from a pastebin page: `  12. ` before each line
        let raw = strip_line_number(raw).unwrap_or(raw);
        let text = String::from_utf8_lossy(raw);
        let line = text.trim_end_matches(['\r', '\n']);
        let state = std::mem::replace(&mut self.state, State::Idle);
        self.state = match state {
            State::Idle => self.idle(n, line),
            State::Brace { line: start } => {
                let t = line.trim_start();
                if t.starts_with('"') {
                    let mut c = Chunk::new(true, start, "{");
                    c.depth = 1;
                    self.chunk_line(c, n, line)
                } else {
                    self.struct_line(
                        OpenStruct {
                            line: start,
                            fields: Vec::new(),
                            shape: Shape::Braced,
                        },
                        n,
                        line,
                    )
                }
            }
            State::Struct(s) => self.struct_line(s, n, line),
            State::Chunk(c) => self.chunk_line(c, n, line),
            State::Ps(pending) => self.ps_line(pending, n, line),
        };
    }

    fn idle(&mut self, n: u64, line: &str) -> State {
        let t = line.trim();
        if t != "{" && !t.starts_with("shmem:") {
            self.flush_stats();
        }
        if !is_mod_entry(t) {
            self.flush_loose();
        }
        if t.is_empty() {
            return State::Idle;
        }
        if t == "{" {
            return State::Brace { line: n };
        }
        if t.starts_with("<?xml") || t.starts_with("<methodResponse") {
            return self.chunk_line(Chunk::new(false, n, ""), n, line);
        }
        if t.starts_with("{\"") || t == "[" || t.starts_with("[{") || t.starts_with("[\"") {
            return self.chunk_line(Chunk::new(true, n, ""), n, line);
        }
        if let Some(shape) = bare_record_start(t) {
            let s = OpenStruct {
                line: n,
                fields: Vec::new(),
                shape,
            };
            return self.struct_line(s, n, line);
        }
        if let Some(name) = t.strip_prefix("Module:") {
            self.end_module();
            self.module = Some((name.trim().to_string(), n, 0));
            self.mark(n, n);
            return State::Idle;
        }
        if let Some(rest) = t.strip_prefix("shmem:") {
            if let Some((key, value)) = rest.split_once('=').or_else(|| rest.split_once("::")) {
                if let Some(v) = encodings::int(value.trim()) {
                    let s = self.stats.get_or_insert_with(|| {
                        PoolFigures::new(Pool::Shm, Method::ShmStatistics, Encoding::KamctlStats, n)
                    });
                    set_shm_statistic(s, key.trim().trim_end_matches(':'), v);
                    self.mark(n, n);
                    return State::Idle;
                }
            }
        }
        if is_mod_entry(t) {
            if let Some((site, bytes, count)) = mod_entry(t) {
                let pool = self.command_pools.first().copied();
                let b = self.loose.get_or_insert_with(|| ModBlock {
                    module: None,
                    pool,
                    encoding: Encoding::KamcmdText,
                    line: n,
                    entries: Vec::new(),
                    total: None,
                    complete: false,
                });
                b.entries.push(ModEntry { site, bytes, count });
                self.mark(n, n);
                return State::Idle;
            }
        }
        if let Some(pools) = command_pools(t) {
            self.command_pools = pools;
            self.mark(n, n);
        }
        if t.split_whitespace().any(|w| w == "core.ps") {
            self.mark(n, n);
            return State::Ps(None);
        }
        State::Idle
    }

    fn struct_line(&mut self, mut s: OpenStruct, n: u64, line: &str) -> State {
        let t = line.trim();
        if s.shape != Shape::Braced {
            return self.bare_line(s, n, t);
        }
        if t == "}" {
            self.mark(s.line, n);
            self.close_struct(s.line, s.fields, Encoding::KamcmdText, true);
            return State::Idle;
        }
        if t == "{" {
            // kamcmd prints nested structs as nested braces: keep the fields flat
            return State::Struct(s);
        }
        match t.split_once(':') {
            Some((k, v)) if !k.is_empty() && !k.contains(' ') || is_mod_entry(t) => {
                let (k, v) = if is_mod_entry(t) {
                    // `func(12): 34`: the key holds no colon
                    t.rsplit_once(':').unwrap_or((k, v))
                } else {
                    (k, v)
                };
                s.fields
                    .push((k.trim().to_string(), encodings::value(v.trim())));
                State::Struct(s)
            }
            _ if t.is_empty() => State::Struct(s),
            _ => {
                // not a kamcmd struct after all (or one cut short): keep what it had
                if !s.fields.is_empty() {
                    self.mark(s.line, n.saturating_sub(1));
                    self.close_struct(s.line, s.fields, Encoding::KamcmdText, false);
                }
                self.idle(n, line)
            }
        }
    }

    fn chunk_line(&mut self, mut c: Chunk, n: u64, line: &str) -> State {
        if c.text.len() + line.len() > MAX_CHUNK_BYTES {
            return State::Idle;
        }
        if !c.text.is_empty() {
            c.text.push('\n');
        }
        c.text.push_str(line);
        let done = if c.json {
            c.scan_json(line);
            c.depth <= 0
        } else {
            line.contains("</methodResponse>")
        };
        if !done {
            return State::Chunk(c);
        }
        let items = if c.json {
            json_items(&c.text)
        } else {
            xml_items(&c.text)
        };
        if let Some(items) = items {
            let enc = if c.json {
                Encoding::Json
            } else {
                Encoding::XmlRpc
            };
            let before = self.counts();
            for item in items {
                self.item(item, c.line, enc);
            }
            if self.counts() != before {
                self.mark(c.line, n);
            }
            self.end_module();
        }
        State::Idle
    }

    fn counts(&self) -> (usize, usize, usize) {
        (
            self.out.pools.len(),
            self.out.modules.len(),
            self.out.processes.len(),
        )
    }

    fn item(&mut self, item: Item, line: u64, enc: Encoding) {
        match item {
            Item::Text(t) => {
                if let Some(name) = t.trim().strip_prefix("Module:") {
                    self.end_module();
                    self.module = Some((name.trim().to_string(), line, 0));
                }
            }
            Item::Struct(fields) => self.close_struct(line, fields, enc, true),
        }
    }

    /// A struct is complete: what does it answer?
    fn close_struct(
        &mut self,
        line: u64,
        fields: Vec<(String, Value)>,
        enc: Encoding,
        whole: bool,
    ) {
        if let Some((name, mline, blocks)) = self.module.take() {
            let pool = match (self.command_pools.len(), blocks) {
                (0, _) => None,
                (1, _) => self.command_pools.first().copied(),
                (_, b) => self.command_pools.get(b).copied(),
            };
            self.out.modules.push(mod_block(
                Some(name.clone()),
                pool,
                enc,
                mline,
                &fields,
                whole,
            ));
            self.module = Some((name, mline, blocks + 1));
            return;
        }
        if fields.iter().any(|(k, _)| is_mod_key(k)) {
            let pool = self.command_pools.first().copied();
            self.out
                .modules
                .push(mod_block(None, pool, enc, line, &fields, whole));
            return;
        }
        let get = |name: &str| -> Option<i128> {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.int())
        };
        let text = |name: &str| -> Option<String> {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.text())
        };
        if get("total_size").is_some() && get("pid").is_some() {
            let mut p = PoolFigures::new(Pool::Pkg, Method::PkgStats, enc, line);
            p.pid = get("pid");
            p.rank = get("rank");
            p.desc = text("desc");
            p.total = get("total_size");
            p.free = get("free");
            p.used = get("used");
            p.real_used = get("real_used");
            p.fragments = get("total_frags");
            self.out.pools.push(p);
        } else if get("total_size").is_some() && get("free_size_s").is_some() {
            let mut p = PoolFigures::new(Pool::Shm, Method::ShmReport, enc, line);
            p.total = get("total_size");
            p.free = get("free_size_s");
            p.used = get("used_size_s");
            p.real_used = get("real_used_s");
            p.max_used = get("max_used_s");
            p.fragments = get("total_frags");
            p.free_fragments = get("free_frags");
            p.largest_free = get("max_free_frag_size");
            self.out.pools.push(p);
        } else if get("total").is_some() && (get("free").is_some() || get("used").is_some()) {
            let mut p = PoolFigures::new(Pool::Shm, Method::ShmStats, enc, line);
            p.total = get("total");
            p.free = get("free");
            p.used = get("used");
            p.real_used = get("real_used");
            p.max_used = get("max_used");
            p.fragments = get("fragments");
            self.out.pools.push(p);
        } else if let Some(pid) = get("PID").or_else(|| get("pid")) {
            if let Some(desc) = text("DSC").or_else(|| text("description")) {
                self.out.processes.push(Process {
                    index: get("IDX").or_else(|| get("index")),
                    pid,
                    desc,
                });
            }
        }
    }

    fn end_module(&mut self) {
        self.module = None;
    }

    fn flush_stats(&mut self) {
        if let Some(s) = self.stats.take() {
            self.out.pools.push(s);
        }
    }

    fn flush_loose(&mut self) {
        if let Some(b) = self.loose.take() {
            self.out.modules.push(b);
        }
    }

    fn mark(&mut self, first: u64, last: u64) {
        if first > last {
            return;
        }
        self.out.used_unreadable += self
            .tags
            .iter()
            .filter(|&&(n, u)| u && first <= n && n <= last)
            .count() as u64;
        if let Some(r) = self.out.used_ranges.last_mut() {
            if first <= r.1 + 1 && first >= r.0 {
                let added = last.saturating_sub(r.1);
                r.1 = r.1.max(last);
                self.out.lines_used += added;
                return;
            }
        }
        self.out.used_ranges.push((first, last));
        self.out.lines_used += last - first + 1;
    }

    /// Ends the input: a struct still open (a paste cut short) is kept, marked incomplete.
    pub fn finish(mut self) -> Answers {
        let state = std::mem::replace(&mut self.state, State::Idle);
        match state {
            State::Struct(s) if s.shape != Shape::Braced => {
                let last = s.line + s.fields.len() as u64;
                self.close_bare(s, last);
            }
            State::Struct(s) if !s.fields.is_empty() => {
                let last = s.line + s.fields.len() as u64;
                self.mark(s.line, last);
                self.close_struct(s.line, s.fields, Encoding::KamcmdText, false);
            }
            State::Chunk(c) if c.json => self.salvage_json(c),
            _ => {}
        }
        self.flush_stats();
        self.flush_loose();
        self.out
    }
}

impl Chunk {
    fn new(json: bool, line: u64, start: &str) -> Chunk {
        Chunk {
            json,
            line,
            text: start.to_string(),
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    fn scan_json(&mut self, line: &str) {
        for c in line.chars() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == '"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                '"' => self.in_string = true,
                '{' | '[' => self.depth += 1,
                '}' | ']' => self.depth -= 1,
                _ => {}
            }
        }
    }
}

/// Whether a line (outside an answer) can start one or be a one-line item.
fn may_start(raw: &[u8]) -> bool {
    let t = match raw.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) => &raw[i..],
        None => return false,
    };
    match t[0] {
        b'{' | b'[' | b'<' => true,
        b'M' => t.starts_with(b"Module:"),
        b's' if t.starts_with(b"shmem:") => true,
        b'e' if t.starts_with(b"entry:") => true,
        b'"' => true,
        _ => {
            memchr::memmem::find(t, b"): ").is_some()
                || memchr::memmem::find(t, b"mod.stats").is_some()
        }
    }
}

/// Reads a whole text (tests, small pastes).
pub fn read_text(text: &str) -> Answers {
    let mut r = Reader::new();
    for (i, line) in text.lines().enumerate() {
        r.feed(i as u64 + 1, line.as_bytes());
    }
    r.finish()
}

fn set_shm_statistic(s: &mut PoolFigures, key: &str, v: i128) {
    match key {
        "total_size" => s.total = Some(v),
        "free_size" => s.free = Some(v),
        "used_size" => s.used = Some(v),
        "real_used_size" => s.real_used = Some(v),
        "max_used_size" => s.max_used = Some(v),
        "fragments" => s.fragments = Some(v),
        _ => {}
    }
}

/// `name(123)`: a mod.stats key.
fn is_mod_key(k: &str) -> bool {
    let Some(open) = k.find('(') else {
        return false;
    };
    k.ends_with(')')
        && open > 0
        && k[open + 1..k.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && k.len() > open + 2
        && k[..open]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// `func(12): 345` or `func(12): 345 (6)`.
fn is_mod_entry(t: &str) -> bool {
    mod_entry(t).is_some()
}

fn mod_entry(t: &str) -> Option<(String, i128, Option<i128>)> {
    let (k, v) = t.rsplit_once(": ")?;
    if !is_mod_key(k.trim()) {
        return None;
    }
    let v = v.trim();
    let (bytes, count) = match v.split_once(' ') {
        Some((b, c)) => (
            encodings::int(b)?,
            Some(encodings::int(
                c.trim().trim_start_matches('(').trim_end_matches(')'),
            )?),
        ),
        None => (encodings::int(v)?, None),
    };
    Some((k.trim().to_string(), bytes, count))
}

fn mod_block(
    module: Option<String>,
    pool: Option<Pool>,
    encoding: Encoding,
    line: u64,
    fields: &[(String, Value)],
    complete: bool,
) -> ModBlock {
    let mut entries = Vec::new();
    let mut total = None;
    for (k, v) in fields {
        if k == "Total" {
            total = v.int();
            continue;
        }
        let (bytes, count) = match v {
            Value::Int(b) => (Some(*b), None),
            Value::Text(s) => match mod_entry(&format!("{k}: {s}")) {
                Some((_, b, c)) => (Some(b), c),
                None => (None, None),
            },
        };
        if let Some(bytes) = bytes {
            entries.push(ModEntry {
                site: k.clone(),
                bytes,
                count,
            });
        }
    }
    ModBlock {
        module,
        pool,
        encoding,
        line,
        entries,
        total,
        complete,
    }
}

/// A shell line that runs a memory RPC: which pool(s) its `mod.stats` answer is about.
fn command_pools(t: &str) -> Option<Vec<Pool>> {
    let runs_rpc = ["kamcmd", "kamctl", "kamcli", "sercmd", "curl", "rpc"]
        .iter()
        .any(|w| t.contains(w));
    if !runs_rpc {
        return None;
    }
    let words: Vec<&str> = t
        .split(|c: char| c.is_whitespace() || c == '|' || c == '"' || c == '\'' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let at = words
        .iter()
        .position(|w| w.ends_with("mod.stats") || w.ends_with("mod.statsx"))?;
    let kind = words.get(at + 2).copied().unwrap_or("");
    Some(match kind {
        "pkg" => vec![Pool::Pkg],
        "shm" => vec![Pool::Shm],
        "all" => vec![Pool::Pkg, Pool::Shm],
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests;
