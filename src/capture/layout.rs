//! How many lines a status dump prints, per allocator and Kamailio
//! version: the one table behind [`super::budget`]'s line estimates.
//!
//! Each row was read from Kamailio's own sources (the status printer for
//! the lines, the structs and `*_malloc_init` for the byte counts) and
//! cites the file and version it was read from. Byte counts are for 64-bit
//! builds with the allocator's debug info (`DBG_QM_MALLOC`, which
//! `DBG_SR_MEMORY` turns on): the layouts every memory-debug build here has.
//!
//! Pure data and lookups; never panics.

use crate::probe::version::Version;
use serde::Serialize;

/// A Kamailio allocator, as `-x` / `-X` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Allocator {
    Qm,
    Fm,
    Tlsf,
}

impl Allocator {
    /// `qm`, `q_malloc`, `fm`, `tlsf`... as `-x` accepts them (`core/mem/shm.c`).
    pub fn from_name(name: &str) -> Option<Allocator> {
        match name {
            "qm" | "q_malloc" | "qmalloc" => Some(Allocator::Qm),
            "fm" | "f_malloc" | "fmalloc" => Some(Allocator::Fm),
            "tlsf" | "tlsf_malloc" => Some(Allocator::Tlsf),
            _ => None,
        }
    }

    /// The allocators a proxy runs from its argv: `(shm, pkg)`. `-x` picks
    /// shm, `-X` pkg; pkg follows shm when only `-x` is given; both default
    /// to q_malloc (`SR_MEMMNG_DEFAULT "qm"`, `main.c` of 5.4.4, 5.6.3, 6.0.1).
    pub fn from_argv(argv: &[String]) -> (Allocator, Allocator) {
        let mut shm = None;
        let mut pkg = None;
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.as_str() {
                "-x" | "-X" => (a.as_str(), None),
                s if s.starts_with("-x") || s.starts_with("-X") => (&s[..2], Some(&s[2..])),
                _ => continue,
            };
            let Some(v) = inline.or_else(|| it.next().map(String::as_str)) else {
                break;
            };
            let Some(alloc) = Allocator::from_name(v) else {
                continue;
            };
            if flag == "-x" {
                shm = Some(alloc);
            } else {
                pkg = Some(alloc);
            }
        }
        let shm = shm.unwrap_or(Allocator::Qm);
        (shm, pkg.unwrap_or(shm))
    }
}

/// One row: what a status dump of `allocator` prints in versions
/// `from..=to` (major, minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub allocator: Allocator,
    pub from: (u32, u32),
    pub to: (u32, u32),
    /// Lines per used fragment in the fragment list (`N. address=`,
    /// `alloc'd from`, `start check=`); 0 when the printer lists none.
    pub lines_per_fragment: u64,
    /// Bytes of header per fragment (`sizeof(qm_frag) + sizeof(qm_frag_end)`),
    /// when the counters give the fragment count.
    pub frag_overhead: Option<u64>,
    /// `real_used` of a fresh pool (`ROUNDUP(sizeof(qm_block)) + FRAG_OVERHEAD`).
    pub init_overhead: Option<u64>,
    /// Where it was read: file and version.
    pub cite: &'static str,
}

/// Every row. q_malloc's rows differ only in the bytes (the printer has
/// printed 3 lines per used fragment since 3.x); f_malloc's and tlsf's
/// printers list no fragments at all.
pub const TABLE: &[Layout] = &[
    Layout {
        allocator: Allocator::Qm,
        from: (3, 3),
        to: (4, 1),
        lines_per_fragment: 3,
        // qm_frag: size, u, file, func, line, check = 48; qm_frag_end 48.
        frag_overhead: Some(96),
        // qm_block: 6 longs (48) + free_hash[2099] x qm_frag_lnk (104): 218,344; + 96.
        init_overhead: Some(218_440),
        cite: "mem/q_malloc.h (struct qm_frag, qm_frag_end, qm_frag_lnk, qm_block; QM_HASH_SIZE with ROUNDTO = sizeof(void*)), mem/q_malloc.c (qm_status, qm_malloc_init), kamailio 3.3.7 and 4.1.9",
    },
    Layout {
        allocator: Allocator::Qm,
        from: (4, 2),
        to: (4, 3),
        lines_per_fragment: 3,
        frag_overhead: Some(96),
        // qm_block gains `int type` (padded to 8) and `ffrags`: 64 + 218,296; + 96.
        init_overhead: Some(218_456),
        cite: "mem/q_malloc.h (qm_block gains type and ffrags), mem/q_malloc.c (qm_status, qm_malloc_init), kamailio 4.2.0 and 4.3.7",
    },
    Layout {
        allocator: Allocator::Qm,
        from: (4, 4),
        to: (5, 7),
        lines_per_fragment: 3,
        // qm_frag gains `mname`: 56; qm_frag_end 48.
        frag_overhead: Some(104),
        // 64 + free_hash[2099] x 112 = 235,152; + 104. Measured on 5.6.3 here too.
        init_overhead: Some(235_256),
        cite: "src/core/mem/q_malloc.h, src/core/mem/q_malloc.c (qm_status, qm_malloc_init), kamailio 5.4.4 and 5.6.3 (Debian sources), 4.4.7 (mem/)",
    },
    Layout {
        allocator: Allocator::Qm,
        from: (5, 8),
        to: (6, 0),
        lines_per_fragment: 3,
        // qm_frag gains reserved1: 64; qm_frag_end 48.
        frag_overhead: Some(112),
        // ROUNDTO 16, QM_MALLOC_OPTIMIZE_FACTOR 15: free_hash[2098] x 128 + 64 = 268,608; + 112.
        init_overhead: Some(268_720),
        cite: "src/core/mem/q_malloc.h, src/core/mem/q_malloc.c (qm_status, qm_malloc_init), kamailio 6.0.1 (Debian sources), same structs at 5.8.0",
    },
    Layout {
        allocator: Allocator::Fm,
        from: (3, 3),
        to: (6, 0),
        lines_per_fragment: 0,
        frag_overhead: None,
        init_overhead: None,
        cite: "src/core/mem/f_malloc.c fm_status (the fragment list is commented out; only free-list buckets are printed), kamailio 5.4.4, 5.6.3, 6.0.1; mem/f_malloc.c 3.3.7, 4.2.8",
    },
    Layout {
        allocator: Allocator::Tlsf,
        from: (4, 4),
        to: (6, 0),
        lines_per_fragment: 0,
        frag_overhead: None,
        init_overhead: None,
        cite: "src/core/mem/tlsf_malloc.c tlsf_status (pool header and free-list matrix, no fragment list), kamailio 5.4.4, 5.6.3, 6.0.1; mem/tlsf_malloc.c 4.4.7",
    },
];

/// The row for `allocator` in `version`, if the table has one.
pub fn lookup(allocator: Allocator, version: &Version) -> Option<&'static Layout> {
    let v = (version.major, version.minor);
    TABLE
        .iter()
        .find(|l| l.allocator == allocator && l.from <= v && v <= l.to)
}

/// The row for `allocator` in `version`; for a version newer than the
/// table, the allocator's newest row (layouts change rarely); else `None`.
pub fn lookup_or_newest(allocator: Allocator, version: &Version) -> Option<&'static Layout> {
    lookup(allocator, version).or_else(|| {
        let newest = TABLE.iter().rev().find(|l| l.allocator == allocator)?;
        ((version.major, version.minor) > newest.to).then_some(newest)
    })
}

/// The row the line estimates use when the version or allocator is not
/// known: q_malloc of 4.4 - 5.7 (Debian 11 and 12).
pub fn fallback() -> &'static Layout {
    &TABLE[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn rows_by_version() {
        let q = |s| lookup(Allocator::Qm, &v(s)).map(|l| l.frag_overhead);
        assert_eq!(q("3.3.7"), Some(Some(96)));
        assert_eq!(q("4.2.8"), Some(Some(96)));
        assert_eq!(q("5.4.4"), Some(Some(104)));
        assert_eq!(q("5.6.3"), Some(Some(104)));
        assert_eq!(q("6.0.1"), Some(Some(112)));
        assert_eq!(q("7.0.0"), None);
        let newest = |s| lookup_or_newest(Allocator::Qm, &v(s)).map(|l| l.frag_overhead);
        assert_eq!(newest("6.1.0"), Some(Some(112)));
        assert_eq!(newest("3.1.0"), None);
        assert_eq!(
            lookup(Allocator::Fm, &v("5.6.3")).map(|l| l.lines_per_fragment),
            Some(0)
        );
        assert!(lookup(Allocator::Tlsf, &v("4.2.0")).is_none());
        // Every row names a file and a version.
        for l in TABLE {
            assert!(
                l.cite.contains("malloc.") && l.cite.contains("kamailio"),
                "{l:?}"
            );
            assert!(l.from <= l.to);
        }
    }

    /// The byte counts follow from the structs (64-bit longs and pointers).
    #[test]
    fn init_overheads_follow_the_structs() {
        let hash = |factor: u64, roundto: u64| (1u64 << factor) / roundto + (64 - factor) + 1;
        assert_eq!(48 + hash(14, 8) * (48 + 48 + 8) + 96, 218_440);
        assert_eq!(64 + hash(14, 8) * (48 + 48 + 8) + 96, 218_456);
        assert_eq!(64 + hash(14, 8) * (56 + 48 + 8) + 104, 235_256);
        assert_eq!(64 + hash(15, 16) * (64 + 48 + 16) + 112, 268_720);
    }

    /// `(index, address, frag, size)` of each `N. N  address=.. frag=.. size=..` line.
    fn fragments(text: &str) -> Vec<(u64, u64, u64, u64)> {
        let hex = |l: &str, key: &str| {
            let v = l.split(key).nth(1)?.split_whitespace().next()?;
            u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
        };
        text.lines()
            .filter_map(|l| {
                let head = l
                    .split(". N  address=")
                    .next()
                    .filter(|h| h.len() < l.len())?;
                let index = head.rsplit(' ').next()?.parse().ok()?;
                let size = l
                    .split("size=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()?;
                Some((index, hex(l, "address=")?, hex(l, "frag=")?, size))
            })
            .collect()
    }

    /// Real dumps against the table: the header bytes between two
    /// neighbouring fragments (next frag - frag - size), the `qm_frag`
    /// before the address (address - frag, qm_frag_end being 48), and 3
    /// lines per fragment. 5.6.3: Debian's package here; 6.0.1: a user's
    /// stderr paste (kamailio/kamailio#4231, tests/fixtures/real/).
    #[test]
    fn real_dumps_match_the_rows() {
        let cases = [
            (
                "5.6.3",
                include_str!("../../tests/fixtures/dumps/kamailio-5.6.3-excerpt.log"),
            ),
            (
                "6.0.1",
                include_str!("../../tests/fixtures/real/k4231-stderr-qm-status-6.0.1.log"),
            ),
        ];
        for (version, text) in cases {
            let row = lookup(Allocator::Qm, &v(version)).expect("row");
            let per = row.frag_overhead.expect("bytes");
            let frags = fragments(text);
            assert!(frags.len() >= 4, "{version}");
            let mut pairs = 0;
            for w in frags.windows(2) {
                let ((i, addr, frag, size), (j, _, next, _)) = (w[0], w[1]);
                assert_eq!(addr - frag, per - 48, "{version}: qm_frag at {i}");
                if j == i + 1 {
                    assert_eq!(next - frag - size, per, "{version}: fragments {i} and {j}");
                    pairs += 1;
                }
            }
            assert!(pairs >= 3, "{version}");
            let status_lines = text
                .lines()
                .filter(|l| l.contains("qm_status(): ") && !l.contains("qm_status(): dumping"))
                .filter(|l| {
                    l.contains(" address=")
                        || l.contains("alloc'd from")
                        || l.contains("start check=")
                })
                .count() as u64;
            assert_eq!(
                status_lines,
                frags.len() as u64 * row.lines_per_fragment,
                "{version}"
            );
        }
    }

    #[test]
    fn allocators_from_argv() {
        let a = |s: &str| {
            Allocator::from_argv(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
        };
        assert_eq!(a("kamailio -f x.cfg"), (Allocator::Qm, Allocator::Qm));
        assert_eq!(a("kamailio -x fm"), (Allocator::Fm, Allocator::Fm));
        assert_eq!(
            a("kamailio -x tlsf -X qm"),
            (Allocator::Tlsf, Allocator::Qm)
        );
        assert_eq!(a("kamailio -xqm -X"), (Allocator::Qm, Allocator::Qm));
    }
}
