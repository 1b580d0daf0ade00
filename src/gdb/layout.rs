//! Where each Kamailio generation keeps its memory pools and how it marks a
//! fragment free: the facts the gdb scripts depend on, in one table that the
//! tests enumerate. Read from `mem/q_malloc.[ch]`, `mem/f_malloc.[ch]`,
//! `mem/mem.c`, `mem/shm_mem.c` (3.x, 4.x) and `core/mem/q_malloc.c`,
//! `f_malloc.c`, `pkg.c`, `shm.c` (5.4.4, 5.6.3, 6.0.1). A new release that
//! moves things gets a new row here, not a new `if`.
//!
//! Common to every generation: a pool is a `struct qm_block` / `struct
//! fm_block` with `first_frag`; q_malloc fragments end at `last_frag_end` and
//! the next one starts at `f + sizeof(struct qm_frag) + f->size +
//! sizeof(struct qm_frag_end)`; f_malloc fragments end at `last_frag` and the
//! next starts at `f + sizeof(struct fm_frag) + f->size`. With memory
//! debugging each fragment carries `file` (`MODULE: PATH`, 3.x on), `func`,
//! `line` (and `mname` from 4.4 on, which repeats the module).

use crate::probe::Version;
use serde::Serialize;

/// One generation's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// Versions covered, for messages: `3.0 - 4.1`.
    pub versions: &'static str,
    /// First version of this layout (inclusive).
    pub since: (u32, u32, u32),
    /// Pool variable of pkg memory for q_malloc and f_malloc.
    pub qm_pkg: &'static str,
    pub fm_pkg: &'static str,
    /// Pool variable of shared memory for q_malloc and f_malloc.
    pub qm_shm: &'static str,
    pub fm_shm: &'static str,
    /// Field of `struct qm_frag` that is 0 exactly when the fragment is used.
    pub qm_free_mark: &'static str,
    /// Same for `struct fm_frag`.
    pub fm_free_mark: &'static str,
    /// The allocator is chosen when compiling (one pool variable whose type
    /// says which), not at run time with -x/-X.
    pub compile_time_allocator: bool,
    /// What the reader of a script should know about this generation.
    pub note: &'static str,
}

/// Newest first; the first row whose `since` is <= the version applies.
pub const LAYOUTS: &[Layout] = &[
    Layout {
        versions: "4.4 - 6.x",
        since: (4, 4, 0),
        qm_pkg: "_qm_pkg_block",
        fm_pkg: "_fm_pkg_block",
        qm_shm: "_qm_shm_block",
        fm_shm: "_fm_shm_block",
        qm_free_mark: "u.is_free",
        fm_free_mark: "is_free",
        compile_time_allocator: false,
        note: "allocators are chosen at run time (-x for shm, -X for pkg); the pool variable of the allocator not in use is 0",
    },
    Layout {
        versions: "4.3.3 - 4.3.x",
        since: (4, 3, 3),
        qm_pkg: "mem_block",
        fm_pkg: "mem_block",
        qm_shm: "shm_block",
        fm_shm: "shm_block",
        qm_free_mark: "u.is_free",
        fm_free_mark: "is_free",
        compile_time_allocator: true,
        note: "one allocator compiled in (MEMMNG); mem_block/shm_block have its type",
    },
    Layout {
        versions: "4.2 - 4.3.2",
        since: (4, 2, 0),
        qm_pkg: "mem_block",
        fm_pkg: "mem_block",
        qm_shm: "shm_block",
        fm_shm: "shm_block",
        qm_free_mark: "u.is_free",
        fm_free_mark: "prv_free",
        compile_time_allocator: true,
        note: "one allocator compiled in (MEMMNG); f_malloc fragments in a free list have prv_free set",
    },
    Layout {
        versions: "3.0 - 4.1",
        since: (3, 0, 0),
        qm_pkg: "mem_block",
        fm_pkg: "mem_block",
        qm_shm: "shm_block",
        fm_shm: "shm_block",
        qm_free_mark: "u.is_free",
        fm_free_mark: "u.nxt_free",
        compile_time_allocator: true,
        note: "one allocator compiled in; f_malloc has no free mark here: the last free fragment of each free list (nxt_free == 0) is listed as used, as in the manual script (u.reserved == 0)",
    },
];

/// The layout of `v`; versions before 3.0 (SER/OpenSER) use the 3.0 row,
/// which is what the manual's scripts assume.
pub fn layout_for(v: &Version) -> &'static Layout {
    let key = (v.major, v.minor, v.patch);
    LAYOUTS
        .iter()
        .find(|l| l.since <= key)
        .unwrap_or(&LAYOUTS[LAYOUTS.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn versions_map_to_rows() {
        assert_eq!(layout_for(&v("6.0.1")).qm_pkg, "_qm_pkg_block");
        assert_eq!(layout_for(&v("5.6.3")).fm_shm, "_fm_shm_block");
        assert_eq!(layout_for(&v("5.4.4")).qm_free_mark, "u.is_free");
        assert_eq!(layout_for(&v("4.4.0")).fm_free_mark, "is_free");
        assert_eq!(layout_for(&v("4.3.7")).fm_free_mark, "is_free");
        assert_eq!(layout_for(&v("4.3.2")).fm_free_mark, "prv_free");
        assert_eq!(layout_for(&v("4.2.0")).qm_pkg, "mem_block");
        assert_eq!(layout_for(&v("4.1.9")).fm_free_mark, "u.nxt_free");
        assert_eq!(layout_for(&v("3.3.7")).qm_shm, "shm_block");
        assert_eq!(layout_for(&v("1.5.0")).versions, "3.0 - 4.1");
    }

    #[test]
    fn table_is_ordered_newest_first() {
        for w in LAYOUTS.windows(2) {
            assert!(w[0].since > w[1].since, "{:?} before {:?}", w[0], w[1]);
        }
        for l in LAYOUTS {
            assert!(!l.qm_free_mark.is_empty() && !l.fm_free_mark.is_empty());
            assert_eq!(l.compile_time_allocator, l.qm_pkg == l.fm_pkg);
        }
    }
}
