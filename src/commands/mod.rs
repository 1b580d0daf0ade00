//! The face: one module per subcommand, each turning parsed arguments into
//! work on the capability modules and printing the result (text or JSON).
//! Only this layer prints.

pub mod dump;
pub mod inspect;
pub mod verify;

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
        Command::Dump(a) => dump::run(&a),
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
