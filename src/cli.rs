//! The command line, declared and nothing else: every subcommand, its options
//! and the help text that teaches the procedure. The work lives in
//! [`crate::commands`].

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "kmemdbg",
    version = crate::commands::VERSION_LINE,
    about = "Find Kamailio memory leaks: convert a box to a memory-debug build, verify build flags, read the dumps",
    long_about = "Find Kamailio memory leaks.\n\n\
The manual procedure (\"out of memory\" troubleshooting) is: check `kamailio -V`, rebuild with \
memory debugging, set memlog <= debug in the config, restart, make the proxy dump its memory and \
read the dump. kmemdbg does each step safely (atomic writes, backups, --dry-run, --revert) and \
then names the allocation site that grows.\n\n\
Start with `kmemdbg inspect`.",
    after_help = "Exit status: 0 ok; 1 a check failed (verify); 2 usage, environment or input error; 3 changes pending (--check)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a kamailio binary was compiled with and whether it can produce memory dumps
    Inspect(InspectArgs),
    /// CI gate: exit 1 unless the binary has the required build flags (memory debugging, ...)
    Verify(VerifyArgs),
    /// Read memory dumps from a log: heap use and allocation sites per process and pool
    Analyze(AnalyzeArgs),
    /// Compare dumps taken at different times and name the allocation sites that grow
    Diff(DiffArgs),
    /// Write a synthetic memory dump to stdout (benchmarks and scale tests)
    #[command(hide = true)]
    GenDump(GenDumpArgs),
}

/// Where to find the binary.
#[derive(Debug, Args, Clone)]
pub struct BinaryArg {
    /// The kamailio binary to ask (default: `kamailio` in PATH, /usr/sbin, /usr/local/sbin).
    /// A fresh build tree's binary works too: --binary src/kamailio
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Seconds `kamailio -V` may take before it counts as hung
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub probe_timeout: f64,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Runs `kamailio -V` (and `-I`), parses version, source id, architecture, every compile \
flag and compile-time size, and says whether this build can print memory dumps with allocation sites:\n\
  DBG_QM_MALLOC  ready (q_malloc with debug info)\n\
  DBG_F_MALLOC   ready with f_malloc (q_malloc preferred)\n\
  DBG_SR_MEMORY  ready; run kamailio with `-x qm`\n\
  none           not ready: rebuild (kmemdbg convert)",
    after_help = "Examples:\n  kmemdbg inspect\n  kmemdbg inspect --binary /usr/local/sbin/kamailio --json"
)]
pub struct InspectArgs {
    #[command(flatten)]
    pub binary: BinaryArg,
    /// Machine-readable output (schema in README, "inspect --json")
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Checks the build flags of a kamailio binary against requirements and exits 1 when any \
fails, listing each. Meant for CI: run it on the binary your pipeline just built \
(--binary src/kamailio) before it is installed.",
    after_help = "Exit status: 0 every requirement holds; 1 one or more failed; 2 no binary, not Kamailio, \
unparsable output or -V hung.\n\nExamples:\n  kmemdbg verify --memdebug\n  \
kmemdbg verify --binary src/kamailio --memdebug --forbid DBG_F_MALLOC --min-version 5.4 --junit report.xml"
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub binary: BinaryArg,
    /// Require memory-debug support for this generation (DBG_QM_MALLOC, DBG_F_MALLOC or DBG_SR_MEMORY)
    #[arg(long)]
    pub memdebug: bool,
    /// Require this compile flag (repeatable), e.g. --require USE_TLS
    #[arg(long, value_name = "FLAG")]
    pub require: Vec<String>,
    /// Fail when this compile flag is present (repeatable), e.g. --forbid F_MALLOC
    #[arg(long, value_name = "FLAG")]
    pub forbid: Vec<String>,
    /// Require at least this version, e.g. 5.4 or 5.6.3
    #[arg(long, value_name = "X.Y")]
    pub min_version: Option<String>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
    /// Also write a JUnit XML report (one testcase per requirement)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// How `analyze` / `diff` sum allocation sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ByArg {
    /// Each `module: file: function(line)` on its own
    Site,
    /// All lines of one function
    Function,
    /// All sites in one source file
    File,
    /// All sites of one module (tm, htable, core, ...)
    Module,
}

/// A memory pool, as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolArg {
    /// Private memory of one process
    Pkg,
    /// Shared memory
    Shm,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Reads Kamailio memory dumps out of a log and prints, for each dump (process, pool, time), \
the heap use and the allocation sites sorted by bytes, with fragment count and share.\n\n\
Understands q_malloc fragment lists (qm_status) and summaries (qm_sums), f_malloc (fm_status, \
fm_sums), the layouts of 3.x, 4.x, 5.x and 6.x, lines from stderr (-E), syslog, journald \
(short, short-iso), `uniq -c` output and pastebin line numbers, processes interleaved. \
The per-allocation qm_malloc/qm_free lines that memdbg <= debug floods a log with are counted, \
never taken for a dump.\n\n\
Memory corruption (`beginning overwritten`, `end overwritten`, double free) is shown first: it \
is a bug, not a leak. Lines it could not read are counted and a few are shown. A dump cut \
short (process killed, log rotated) is read with a warning.",
    after_help = "Exit status: 0 dumps read; 1 memory corruption found; 2 no dump in the input, \
unreadable file, or no dump matches the filters.\n\n\
Examples:\n  kmemdbg analyze /var/log/kamailio.log\n  \
kmemdbg analyze dump.log --pool shm --by module --top 5\n  \
journalctl -u kamailio -o short-iso | kmemdbg analyze -\n  \
kmemdbg analyze dump.log --pid 7240 --json"
)]
pub struct AnalyzeArgs {
    /// Log files holding dumps (`-` reads standard input)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Sites (or groups) listed per dump; 0 lists all
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Sum sites by site, function, file or module
    #[arg(long, value_enum, default_value = "site")]
    pub by: ByArg,
    /// Only dumps of this pool
    #[arg(long, value_enum)]
    pub pool: Option<PoolArg>,
    /// Only dumps printed by this process
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Machine-readable output (schema kmemdbg.analyze/1, see README)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Compares dumps of the same heap taken at different times and ranks the allocation \
sites whose fragment count or bytes grew. The dumps come from the files in the order given \
(oldest first), and from several dumps inside one file in the order they appear.\n\n\
Shared memory is one heap whichever process printed it; private (pkg) memory is compared per \
PID. Status dumps and summaries are compared separately. With three or more dumps, a site that \
grew every time is flagged as a leak suspect, with its growth per snapshot.",
    after_help = "Exit status: 0 compared; 2 nothing to compare (every heap dumped once), or no dump \
in the input.\n\n\
Examples:\n  kmemdbg diff before.log after.log\n  \
kmemdbg diff t0.log t1.log t2.log --pool shm --top 5\n  \
kmemdbg diff kamailio.log          # several dumps of the same process in one log\n  \
kmemdbg diff before.log after.log --by module --json"
)]
pub struct DiffArgs {
    /// Dumps, oldest first: OLD NEW [MORE...] (one file with several dumps works too)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Growing sites listed per heap; 0 lists all
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Sum sites by site, function, file or module
    #[arg(long, value_enum, default_value = "site")]
    pub by: ByArg,
    /// Only this pool
    #[arg(long, value_enum)]
    pub pool: Option<PoolArg>,
    /// Only dumps printed by this process
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Machine-readable output (schema kmemdbg.diff/1, see README)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Writes a synthetic Kamailio memory dump to stdout, deterministic for a given \
seed: the input of ci/bench-analyze.sh and of scale tests.",
    after_help = "Example:\n  kmemdbg gen-dump --layout qm-status --size 512MiB > /tmp/dump.log"
)]
pub struct GenDumpArgs {
    /// qm-status (5.x/6.x), qm-status-4x, qm-status-3x, qm-sums, fm-sums
    #[arg(long, default_value = "qm-status")]
    pub layout: String,
    /// Line prefix: stderr, syslog, journal-iso
    #[arg(long, default_value = "stderr")]
    pub prefix: String,
    /// Approximate output size: 4096, 100k, 64MiB, 1G
    #[arg(long, default_value = "1MiB")]
    pub size: String,
    /// Number of dumps (0: one status dump, or as many summaries as fit)
    #[arg(long, default_value_t = 0)]
    pub dumps: u32,
    /// Distinct allocation sites
    #[arg(long, default_value_t = 300)]
    pub sites: usize,
    /// Processes dumping at once (lines interleaved)
    #[arg(long, default_value_t = 1)]
    pub processes: u32,
    /// Pool named in the dump headers
    #[arg(long, value_enum, default_value = "shm")]
    pub pool: PoolArg,
    /// Extra fragments of the leaking site (htable) per dump
    #[arg(long, default_value_t = 0)]
    pub leak: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}
