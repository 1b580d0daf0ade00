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

#[derive(Debug, Args)]
#[command(
    about = "Write one Markdown file for a bug report about memory: version, verdict, pools, errors, sites, known fixes",
    long_about = "Writes what a Kamailio bug report about memory needs into one Markdown file (at most \
60 KB, so it pastes into an issue): `kamailio -V` and the memory-debug verdict, the run options and the \
cfg's global settings, `pkg.stats` per process and the shm figures (over the ctl socket), the latest \
out-of-memory errors in the proxy's log (as `kmemdbg scan` reads them), the top allocation sites (growth \
across the dumps given with --dumps, else a fresh `mod.stats` snapshot: largest sites now) and the \
known leak fixes for them after the running version.\n\n\
IP addresses (loopback kept), SIP URIs, user names and passwords, and Call-IDs are masked unless \
--no-redact. A section that cannot be filled (no ctl socket, no log, no kex module) says why; the \
report is written anyway. Nothing on the box or in the proxy is changed.",
    after_help = "Exit status: 0 written (sections it could not fill say why); 2 bad input (a pid file, \
dump or log that does not exist, an output that cannot be written).\n\nExamples:\n  \
kmemdbg report --service kamailio\n  \
kmemdbg report --pidfile /run/kamailio/kamailio.pid --ctl /run/kamailio/kamailio_ctl --out report.md\n  \
kmemdbg report --service kamailio --dumps before.modstats after.modstats\n  \
kmemdbg report --pidfile /run/kamailio/kamailio.pid --log /var/log/kamailio.log --no-redact"
)]
pub struct ReportArgs {
    #[command(flatten)]
    pub target: super::TargetArgs,
    /// The ctl module's socket (unix:/path, a bare path, or udp:HOST:PORT)
    #[arg(long, value_name = "SOCKET", default_value = crate::kamcmd::DEFAULT_SOCKET)]
    pub ctl: String,
    /// Write the report here (default ./kmemdbg-report-YYYYMMDDTHHMMSSZ.md)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Scan this log for out-of-memory errors (default: the proxy's stderr file, else its unit's journal)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Dumps taken with `kmemdbg dump` (logs or --mod-stats snapshots), oldest first: the top sites by growth
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub dumps: Vec<PathBuf>,
    /// The kamailio binary to ask for -V (default: the running process's)
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Do not mask addresses, URIs, users and Call-IDs
    #[arg(long)]
    pub no_redact: bool,
    /// Machine-readable summary on stdout (schema kmemdbg.report/1)
    #[arg(long)]
    pub json: bool,
}
