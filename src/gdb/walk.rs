//! Reads back what the walking script printed (pure: text in, no I/O; never
//! panics, fuzzed below). Lines that are not the script's are ignored, so
//! gdb's own chatter ("[Thread debugging using libthread_db enabled]", ...)
//! does no harm.

use super::script::{BEGIN, END, ERROR, FRAG};
use crate::dump::{self, HeapStats, MemoryFragment, MemoryOrigin, Pool, Snapshot};
use serde::Serialize;

/// One used fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fragment {
    pub index: u64,
    pub size_bytes: u64,
    pub address: String,
    /// `core: core/sr_module.c: fix_param(1144)`; `None` without memory debugging.
    pub site: Option<String>,
}

/// The pool header the script printed before walking.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Heap {
    pub pool: String,
    pub allocator: String,
    pub size_bytes: u64,
    pub used_bytes: u64,
    pub real_used_bytes: u64,
}

/// Everything one walk printed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Walk {
    pub heap: Option<Heap>,
    pub fragments: Vec<Fragment>,
    /// Fragments visited (used or free), from the end line.
    pub visited: Option<u64>,
    /// The walk reached the pool's end (not stopped by `--to`).
    pub complete: bool,
    /// The script's own error line (pool variable is 0, ...).
    pub error: Option<String>,
}

impl Walk {
    /// The walked fragments summed by the dump aggregation
    /// ([`dump::snapshot_of_fragments`]): the same sites, totals and ranking a
    /// `qm_status` dump of the pool would give (`pid` of a live target).
    pub fn snapshot(&self, pid: Option<u32>) -> Snapshot {
        let heap = self.heap.as_ref();
        let origin = MemoryOrigin {
            pid,
            pool: heap.and_then(|h| match h.pool.as_str() {
                "pkg" => Some(Pool::Pkg),
                "shm" => Some(Pool::Shm),
                _ => None,
            }),
            allocator: heap.and_then(|h| match h.allocator.as_str() {
                "qm" => Some(dump::Allocator::Qm),
                "fm" => Some(dump::Allocator::Fm),
                _ => None,
            }),
            heap: heap.map_or_else(HeapStats::default, |h| HeapStats {
                size_bytes: Some(h.size_bytes),
                used_bytes: Some(h.used_bytes),
                used_with_overhead_bytes: Some(h.real_used_bytes),
                // what qm_status / fm_status print as free=
                free_bytes: Some(h.size_bytes.saturating_sub(h.real_used_bytes)),
                max_used_bytes: None,
            }),
            complete: self.complete,
        };
        dump::snapshot_of_fragments(
            &origin,
            self.fragments.iter().map(|f| MemoryFragment {
                size_bytes: f.size_bytes,
                free: false,
                address: &f.address,
                site: f.site.as_deref(),
            }),
        )
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn num(line: &str, key: &str) -> Option<u64> {
    field(line, key)?.parse().ok()
}

/// Parses the script's output.
pub fn parse(text: &str) -> Walk {
    let mut w = Walk::default();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix(FRAG) {
            let mut words = rest.split_whitespace();
            let Some(index) = words.next().and_then(|i| i.parse().ok()) else {
                continue;
            };
            let Some(size_bytes) = num(rest, "size") else {
                continue;
            };
            let address = field(rest, "addr").unwrap_or_default().to_string();
            let site = rest
                .split_once("alloc'd from ")
                .map(|(_, s)| s.trim().to_string())
                .filter(|s| s != "?" && !s.is_empty());
            w.fragments.push(Fragment {
                index,
                size_bytes,
                address,
                site,
            });
        } else if let Some(rest) = l.strip_prefix(BEGIN) {
            w.heap = Some(Heap {
                pool: field(rest, "pool").unwrap_or_default().to_string(),
                allocator: field(rest, "allocator").unwrap_or_default().to_string(),
                size_bytes: num(rest, "heap").unwrap_or(0),
                used_bytes: num(rest, "used").unwrap_or(0),
                real_used_bytes: num(rest, "real_used").unwrap_or(0),
            });
        } else if let Some(rest) = l.strip_prefix(END) {
            w.visited = num(rest, "fragments");
            w.complete = field(rest, "complete") == Some("1");
        } else if let Some(rest) = l.strip_prefix(ERROR) {
            w.error = Some(rest.trim().to_string());
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_walk() {
        let out = "[Thread debugging using libthread_db enabled]\n\
kmemdbg-walk begin pool=pkg allocator=qm heap=4194304 used=438392 real_used=734384\n\
kmemdbg-frag 0 size=8 addr=0x7f528898a6c8 alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)\n\
kmemdbg-frag 3 size=112 addr=0x7f528898a800 alloc'd from ?\n\
kmemdbg-walk end fragments=12 used=2 complete=1\n";
        let w = parse(out);
        let h = w.heap.as_ref().unwrap();
        assert_eq!((h.pool.as_str(), h.allocator.as_str()), ("pkg", "qm"));
        assert_eq!(h.size_bytes, 4194304);
        assert_eq!(h.real_used_bytes, 734384);
        assert_eq!(w.fragments.len(), 2);
        assert_eq!(
            w.fragments[0].site.as_deref(),
            Some("core: core/mem/q_malloc.c: qm_shm_lock_init(1277)")
        );
        assert_eq!(w.fragments[0].address, "0x7f528898a6c8");
        assert_eq!(w.fragments[1].site, None);
        assert_eq!(w.visited, Some(12));
        assert!(w.complete);
    }

    #[test]
    fn reads_the_error() {
        let w = parse("kmemdbg-walk error: _fm_pkg_block is 0: not f_malloc\n");
        assert_eq!(w.error.as_deref(), Some("_fm_pkg_block is 0: not f_malloc"));
        assert!(w.heap.is_none() && !w.complete);
    }

    /// The shm qm_status dump of the real 5.6.3 excerpt, and the same fragments
    /// as the walking script prints them: one ranking, for every `--by`.
    #[test]
    fn walked_fragments_rank_like_the_real_status_dump() {
        let text = include_str!("../../tests/fixtures/dumps/kamailio-5.6.3-excerpt.log");
        let log = dump::aggregate_text(text.as_bytes());
        let status = log
            .snapshots
            .iter()
            .find(|s| s.kind == dump::DumpKind::Status && s.pool == Some(Pool::Shm))
            .expect("the excerpt's shm status dump");
        // the dump's fragments, printed the way the walking script prints them
        let mut out = String::from(
            "kmemdbg-walk begin pool=shm allocator=qm heap=33554432 used=2474872 real_used=2715744\n",
        );
        let mut n = 0;
        for line in text.lines().filter(|l| l.starts_with(" 6(7245)")) {
            match dump::parse_line(line.as_bytes()).body {
                dump::Body::Fragment { address, size, .. } => {
                    out.push_str(&format!(
                        "{FRAG} {n} size={size} addr={} ",
                        String::from_utf8_lossy(address)
                    ));
                    n += 1;
                }
                dump::Body::Site { site, .. } => {
                    out.push_str(&format!("alloc'd from {}\n", String::from_utf8_lossy(site)));
                }
                _ => {}
            }
        }
        out.push_str(&format!("{END} fragments={n} used={n} complete=1\n"));
        let w = parse(&out);
        assert_eq!(w.fragments.len(), 53);
        let walked = w.snapshot(Some(7245));
        assert_eq!(walked.sites, status.sites);
        assert_eq!(walked.total_bytes, status.total_bytes);
        assert_eq!(walked.heap.size_bytes, status.heap.size_bytes);
        assert_eq!(walked.heap.free_bytes, status.heap.free_bytes);
        assert_eq!(walked.pool, Some(Pool::Shm));
        assert!(walked.complete);
        for by in [
            dump::GroupBy::Site,
            dump::GroupBy::Function,
            dump::GroupBy::File,
            dump::GroupBy::Module,
        ] {
            assert_eq!(dump::group(&walked, by), dump::group(status, by), "{by:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "(kmemdbg-(frag|walk (begin|end|error:))|alloc'd from|size=|[0-9a-z=: ]){0,40}\\n?") {
            let _ = parse(&s);
        }
    }
}
