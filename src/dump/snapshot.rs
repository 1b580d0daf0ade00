//! What reading dumps produces: one [`Snapshot`] per dump (process, pool,
//! kind, time, heap totals, sites by bytes, corruption markers) and the
//! [`DumpLog`] of a whole input with its line counts. Plain data.

use crate::logline::Site;
use crate::mem::{Allocator, Pool};
use serde::Serialize;

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
    /// The log dropped lines of this dump (gaps in its fragment numbers, or
    /// a cut dump in a file that reports dropped lines): LOST, not
    /// TRUNCATED. Set by the caller that scanned the file for loss.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lost: bool,
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
    /// What the dump's free list says (q_malloc / f_malloc `bucket size:`, `TOTAL:`).
    #[serde(skip)]
    pub free_list: FreeListStats,
}

/// A status dump's free list, summed: enough to tell fragmentation (much
/// free memory, no large free fragment) from a full pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FreeListStats {
    /// Upper bound of the highest non-empty bucket: no free fragment is larger.
    pub largest_bound: Option<u64>,
    /// The largest `(first N)` fragment printed: a free fragment that exists.
    pub largest_seen: Option<u64>,
    /// `TOTAL: N free fragments = M free bytes`.
    pub fragments: Option<u64>,
    pub bytes: Option<u64>,
}

impl FreeListStats {
    /// Adds a `bucket size:` or `TOTAL:` line.
    pub(crate) fn add(&mut self, body: &crate::logline::Body) {
        match *body {
            crate::logline::Body::FreeBucket { high, first } => {
                self.largest_bound = Some(self.largest_bound.unwrap_or(0).max(high));
                self.largest_seen = Some(self.largest_seen.unwrap_or(0).max(first));
            }
            crate::logline::Body::FreeTotal { fragments, bytes } => {
                self.fragments = Some(fragments);
                self.bytes = Some(bytes);
            }
            _ => {}
        }
    }

    /// Adds what a later part of the same dump said.
    pub(crate) fn merge(&mut self, later: &FreeListStats) {
        for (a, b) in [
            (&mut self.largest_bound, later.largest_bound),
            (&mut self.largest_seen, later.largest_seen),
        ] {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0).max(b));
            }
        }
        self.fragments = later.fragments.or(self.fragments);
        self.bytes = later.bytes.or(self.bytes);
    }
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
    /// Failed allocations (`Free fragment not found`, `no more shm memory`, ...).
    pub out_of_memory_lines: u64,
    /// Of those, the ones that name pkg / shm.
    pub out_of_memory_pkg: u64,
    pub out_of_memory_shm: u64,
    /// Lines of a pasted RPC answer (`pkg.stats`, `mod.stats`, ...), read into [`DumpLog::rpc`].
    pub rpc_lines: u64,
    /// Lines with a `uniq -c` count: their pool, process and order are not in the input.
    pub uniq_lines: u64,
}

/// Everything read from one input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DumpLog {
    /// Every dump, in the order their first lines appear.
    pub snapshots: Vec<Snapshot>,
    /// Allocator abort messages outside any dump (`BUG: ... overwritten`).
    pub corruption: Vec<Corruption>,
    pub lines: LineStats,
    /// Memory RPC answers pasted in the input (lines no dump reader took).
    pub rpc: crate::memrpc::Answers,
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
