//! kmemdbg: convert a Kamailio box to a memory-debug build, verify the flags
//! a binary was compiled with, and find the allocation site that leaks.
//!
//! Layers, arrows pointing down only (see ARCHITECTURE.md):
//! - face: [`cli`] declares the command line, [`commands`] runs each
//!   subcommand and is the only layer that prints; [`report`] formats.
//! - orchestration: [`convert`] (the one command, and revert).
//! - capabilities: one module per step (probe, source, patch, build, cfg,
//!   service, capture, dump, watch, triage, gdb, fixes, docgen); the table in
//!   ARCHITECTURE.md says which module owns what.
//! - ground: [`runner`] (every external program), [`fsx`] (every write),
//!   [`kamcmd`] (RPC to a running proxy), [`sip`] (the OPTIONS probe).

pub mod bugreport;
pub mod build;
pub mod capture;
pub mod cfg;
pub mod cli;
pub mod commands;
pub mod convert;
pub mod docgen;
pub mod dump;
pub mod fixes;
pub mod fsx;
pub mod gdb;
pub mod hunt;
pub mod interrupt;
pub mod kamcmd;
pub mod logline;
pub mod mem;
pub mod memrpc;
pub mod patch;
pub mod probe;
pub mod procfs;
pub mod report;
pub mod runner;
pub mod scan;
pub mod service;
pub mod sip;
pub mod source;
pub mod triage;
pub mod units;
pub mod watch;

/// Exit status of a command that ran to its end: 0 all good, 1 a check
/// failed, 3 changes are pending (`--check`). Errors (usage, environment,
/// bad input) exit 2 from `main`.
pub type ExitStatus = i32;
