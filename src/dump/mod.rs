//! The diagnosis path: read Kamailio memory dumps and name what grows.
//!
//! - lines are read by [`crate::logline`] (one log line in, what it is out);
//! - [`aggregate`]: lines in, one [`Snapshot`] per dump out (sites by bytes,
//!   heap totals, corruption markers; pure, streaming); the types are in
//!   [`snapshot`], grouping sites by function, file or module in [`group`];
//!   [`snapshot_of_fragments`] sums fragments read from memory (`gdb`) the same way;
//! - [`diff`]: snapshots of the same heap over time in, growth per site out;
//! - [`read`]: the only I/O: streams a file or pipe into the aggregator;
//! - [`modstats`]: `mod.stats` snapshot files (`dump --mod-stats`): header, reader, diff;
//! - [`generate`]: synthetic dumps for benchmarks and scale tests.
//!
//! Nothing here writes a user's file, runs a program or touches a proxy.
//! Capture (`kmemdbg dump`) calls [`read_snapshots`] on what it collected.

pub mod aggregate;
pub mod diff;
pub mod generate;
pub mod group;
pub mod modstats;
pub mod read;
pub mod snapshot;

pub use crate::logline::{parse_line, parse_site, Body, Site};
pub use crate::mem::{Allocator, Pool};
pub use aggregate::{
    aggregate_text, snapshot_of_fragments, Aggregator, DumpSeen, MemoryFragment, MemoryOrigin,
};
pub use diff::{diff_all, Growth, Series, SeriesKey};
pub use group::{group, Group, GroupBy};
pub use read::{read_path, read_snapshots};
pub use snapshot::{Corruption, DumpKind, DumpLog, HeapStats, LineStats, SiteStat, Snapshot};
