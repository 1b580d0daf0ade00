//! The face: one module per subcommand, each turning parsed arguments into
//! work on the capability modules and printing the result (text or JSON).
//! Only this layer prints.

pub mod build;
pub mod cfg;
pub mod completions;
pub mod convert;
pub mod gdb;
pub mod gdb_script;
pub mod inspect;
pub mod man;
pub mod patch;
pub mod restart;
pub mod revert;
pub mod size;
pub mod triage;
pub mod verify;
pub mod watch;

use crate::cli::{Cli, Command};
use crate::ExitStatus;
use anyhow::Result;

/// `kmemdbg --version`: the crate version and the git revision it was built from.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("KMEMDBG_GIT_REV"),
    ")"
);

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<ExitStatus> {
    match cli.command {
        Command::Inspect(a) => inspect::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Completions(a) => completions::run(&a),
        Command::Man(a) => man::run(&a),
        Command::Patch(a) => patch::run(&a),
        Command::Build(a) => build::run(&a),
        Command::Restart(a) => restart::run(&a),
        Command::Size(a) => size::run(&a),
        Command::Convert(a) => convert::run(&a),
        Command::Revert(a) => revert::run(&a),
        Command::Watch(a) => watch::run(&a),
        Command::Triage(a) => triage::run(&a),
        Command::GdbScript(a) => gdb_script::run(&a),
        Command::Gdb(a) => gdb::run(&a),
        Command::Cfg(a) => cfg::run(&a),
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
