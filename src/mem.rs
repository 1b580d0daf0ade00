//! The words of Kamailio's memory, shared by every module that reads or
//! asks about it: which pool, which allocator. Plain data, no I/O; nothing
//! here knows about logs, RPC or the command line.

/// Which memory pool a dump is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// Private memory of one process.
    Pkg,
    /// Shared memory (one heap for all processes).
    Shm,
}

impl Pool {
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Pkg => "pkg",
            Pool::Shm => "shm",
        }
    }
}

/// Which allocator printed a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Allocator {
    /// q_malloc (`qm_status`, `qm_sums`): fragment lists with sites.
    QMalloc,
    /// f_malloc (`fm_status`, `fm_sums`): heap totals and summaries only.
    FMalloc,
}
