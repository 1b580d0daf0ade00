//! kmemdbg: convert a Kamailio box to a memory-debug build, verify the flags
//! a binary was compiled with, and find the allocation site that leaks.
//!
//! Layers, arrows pointing down only (see ARCHITECTURE.md):
//! - face: [`cli`] declares the command line, [`commands`] runs each
//!   subcommand and is the only layer that prints; [`report`] formats.
//! - capabilities: [`probe`] (what a binary was built with), [`dump`]
//!   (reading memory dumps, naming the site that grows), ...
//! - ground: [`runner`] (every external program), [`fsx`] (every write).

pub mod cli;
pub mod commands;
pub mod dump;
pub mod fsx;
pub mod probe;
pub mod report;
pub mod runner;

/// Exit status of a command that ran to its end: 0 all good, 1 a check
/// failed, 3 changes are pending (`--check`). Errors (usage, environment,
/// bad input) exit 2 from `main`.
pub type ExitStatus = i32;
