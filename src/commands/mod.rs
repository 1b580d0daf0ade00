//! The face: one module per subcommand, each turning parsed arguments into
//! work on the capability modules and printing the result (text or JSON).
//! Only this layer prints.

pub mod analyze;
pub mod build;
pub mod cfg;
pub mod completions;
pub mod convert;
pub mod diff;
pub mod dump;
pub mod fixes;
pub mod gdb;
pub mod gdb_script;
pub mod gen_dump;
pub mod guided;
pub mod hunt;
pub mod inspect;
pub mod lost_view;
pub mod man;
pub mod modstats_view;
pub mod patch;
pub mod report;
pub mod restart;
pub mod revert;
pub mod scan;
pub mod size;
pub mod triage;
pub mod verify;
pub mod watch;

use crate::cli::{Cli, Command};
use crate::ExitStatus;
use anyhow::Result;

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<ExitStatus> {
    match cli.command {
        Command::Inspect(a) => inspect::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Dump(a) => dump::run(&a),
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
        Command::Analyze(a) => analyze::run(&a),
        Command::Diff(a) => diff::run(&a),
        Command::GenDump(a) => gen_dump::run(&a),
        Command::Scan(a) => scan::run(&a),
        Command::Hunt(a) => hunt::run(&a),
        Command::Fixes(a) => fixes::run(&a),
        Command::Report(a) => report::run(&a),
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Signed [`thousands`] with an explicit sign: `+1,000`, `-12`, `0`.
pub fn signed_thousands(n: i64) -> String {
    match n.cmp(&0) {
        std::cmp::Ordering::Greater => format!("+{}", thousands(n.unsigned_abs())),
        std::cmp::Ordering::Less => format!("-{}", thousands(n.unsigned_abs())),
        std::cmp::Ordering::Equal => "0".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(33554432), "33,554,432");
        assert_eq!(signed_thousands(-1234), "-1,234");
        assert_eq!(signed_thousands(5), "+5");
    }
}
