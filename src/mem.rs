//! The words of Kamailio's memory, shared by every module that reads or
//! asks about it: which pool, which allocator, how sites are grouped. Plain
//! data (clap's `ValueEnum` is derived here so the command line and the
//! capabilities share one type); no I/O, and nothing here knows about logs,
//! RPC or how a command prints.

/// Which memory pool.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// The process's private memory (-M)
    Pkg,
    /// The shared memory of all processes (-m)
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

/// Kamailio's allocators that carry allocation sites. On the command line
/// and in `gdb`'s JSON they are `qm` / `fm` (Kamailio's `-x` values); in a
/// dump's JSON `q_malloc` / `f_malloc` (the names its messages print).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, clap::ValueEnum)]
pub enum Allocator {
    /// q_malloc (`-x qm`; DBG_QM_MALLOC / DBG_SR_MEMORY builds)
    #[value(name = "qm")]
    #[serde(rename = "q_malloc")]
    Qm,
    /// f_malloc (`-x fm`, the default of many builds; DBG_F_MALLOC / DBG_SR_MEMORY)
    #[value(name = "fm")]
    #[serde(rename = "f_malloc")]
    Fm,
}

impl Allocator {
    /// `q_malloc` / `f_malloc`.
    pub fn name(self) -> &'static str {
        match self {
            Allocator::Qm => "q_malloc",
            Allocator::Fm => "f_malloc",
        }
    }

    /// `qm` / `fm` (Kamailio's `-x` value).
    pub fn short(self) -> &'static str {
        match self {
            Allocator::Qm => "qm",
            Allocator::Fm => "fm",
        }
    }

    /// Serializes as [`Allocator::short`] (for a `#[serde(serialize_with)]` field).
    pub fn serialize_short<S: serde::Serializer>(a: &Allocator, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(a.short())
    }
}

/// What sites are summed by (`--by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Each `module: file: function(line)` on its own
    #[default]
    Site,
    /// All lines of one function
    Function,
    /// All sites in one source file
    File,
    /// All sites of one module (tm, htable, core, ...)
    Module,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Site => "site",
            GroupBy::Function => "function",
            GroupBy::File => "file",
            GroupBy::Module => "module",
        }
    }
}
