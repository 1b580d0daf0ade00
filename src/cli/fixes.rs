//! The command line of `fixes` and `report`, declared and nothing else (kept
//! beside `cli.rs` so that file stays one screenful per subcommand).

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(
    about = "Known leak fixes after a Kamailio version, for a module, file or allocation site",
    long_about = "Lists the leak fixes of Kamailio made after version V that touch a module, a file or \
the function of an allocation site, strongest match first (same function, same file, same module), \
each with the release to upgrade to: a later release of V's own branch, else the first release of a \
later branch that has it, else \"development only\", and the commit.\n\n\
The list is mined from Kamailio's git history (commits whose message says they fix a leak or a \
missing free, and their backports) and built into kmemdbg; the output says which commit it was \
mined at. A fix is in V when V's release holds the commit or one of its backports. The version is \
never guessed: give the one the proxy runs (`kamailio -V` prints it).",
    after_help = "Exit status: 0 listed (also when no fix is known: one sentence says so); 2 bad \
version or input.\n\nExamples:\n  kmemdbg fixes --version 5.6.3 --module siputils\n  \
kmemdbg fixes --version 5.6.3 --site 'siputils: checks.c: get_uri_param(120)'\n  \
kmemdbg fixes --version 6.0.1 --module dmq --json\n  \
kmemdbg fixes --version 5.6.3          # every known leak fix after 5.6.3"
)]
pub struct FixesArgs {
    /// The Kamailio version that runs (X.Y.Z, as `kamailio -V` prints it)
    #[arg(long, value_name = "X.Y.Z")]
    pub version: String,
    /// Only fixes that change this module (tm, dialog, core, ...)
    #[arg(long, value_name = "M")]
    pub module: Option<String>,
    /// An allocation site as a dump prints it (`tm: t_hooks.c: init_tmcb_lists(71)`), a function or a file
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Read the fixes from this data file instead of the built-in one (a freshly mined data/known-fixes.tsv)
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Machine-readable output (schema kmemdbg.fixes/1)
    #[arg(long)]
    pub json: bool,
}
