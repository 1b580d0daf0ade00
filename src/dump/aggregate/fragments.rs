//! Fragments read from memory (`kmemdbg gdb`) summed by the same builder
//! as a dump's lines, so a walked pool and a dump of it rank sites alike.

use super::*;

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
