//! The words of Kamailio's memory, shared by every module that reads or
//! asks about it: which pool, which allocator, how sites are grouped. Plain
//! data (clap's `ValueEnum` is derived here so the command line and the
//! capabilities share one type), and the one answer to "is this a
//! memory-debug build?" ([`memdebug_flag`], [`records_sites`]); no I/O,
//! and nothing here knows about logs, RPC or how a command prints.

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

/// The compile-time flags that make Kamailio record allocation sites, in
/// order of preference: q_malloc's own debug (`DBG_QM_MALLOC`), the 4.3+
/// switch for every allocator (`DBG_SR_MEMORY`), f_malloc's (`DBG_F_MALLOC`).
pub const MEMDEBUG_FLAGS: [&str; 3] = ["DBG_QM_MALLOC", "DBG_SR_MEMORY", "DBG_F_MALLOC"];

/// "Is this a memory-debug build?": the preferred flag among those a build
/// has (`has` answers for one flag name: from `kamailio -V`, `core.flags`
/// or compiler defines), or `None` for a build without memory debugging.
pub fn memdebug_flag(has: impl Fn(&str) -> bool) -> Option<&'static str> {
    MEMDEBUG_FLAGS.into_iter().find(|f| has(f))
}

/// Does a build with these flags record allocation sites for `allocator`?
/// `DBG_SR_MEMORY` covers both; otherwise each allocator has its own flag.
pub fn records_sites(has: impl Fn(&str) -> bool, allocator: Allocator) -> bool {
    has("DBG_SR_MEMORY")
        || match allocator {
            Allocator::Qm => has("DBG_QM_MALLOC"),
            Allocator::Fm => has("DBG_F_MALLOC"),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memdebug_verdict_prefers_q_malloc() {
        let flags = |list: &'static [&'static str]| move |f: &str| list.contains(&f);
        assert_eq!(memdebug_flag(flags(&["F_MALLOC", "Q_MALLOC"])), None);
        assert_eq!(
            memdebug_flag(flags(&["DBG_F_MALLOC", "DBG_QM_MALLOC"])),
            Some("DBG_QM_MALLOC")
        );
        assert_eq!(
            memdebug_flag(flags(&["DBG_SR_MEMORY", "DBG_F_MALLOC"])),
            Some("DBG_SR_MEMORY")
        );
        assert!(records_sites(flags(&["DBG_SR_MEMORY"]), Allocator::Fm));
        assert!(!records_sites(flags(&["DBG_QM_MALLOC"]), Allocator::Fm));
        assert!(records_sites(flags(&["DBG_F_MALLOC"]), Allocator::Fm));
    }
}
