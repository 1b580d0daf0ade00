//! Reads back what the walking script printed (pure: text in, no I/O; never
//! panics, fuzzed below). Lines that are not the script's are ignored, so
//! gdb's own chatter ("[Thread debugging using libthread_db enabled]", ...)
//! does no harm.

use super::script::{BEGIN, END, ERROR, FRAG};
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

    proptest::proptest! {
        #[test]
        fn never_panics(s in "(kmemdbg-(frag|walk (begin|end|error:))|alloc'd from|size=|[0-9a-z=: ]){0,40}\\n?") {
            let _ = parse(&s);
        }
    }
}
