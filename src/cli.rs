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
    /// Make a running proxy print its memory (pkg per process, shm) and save exactly those lines
    Dump(DumpArgs),
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

#[derive(Debug, Args)]
#[command(
    long_about = "Makes a running Kamailio print its memory and saves exactly the dump lines to a file, \
for `kmemdbg analyze` and `kmemdbg diff`.\n\n\
How each dump is asked for (Kamailio 5.x):\n  \
--shm         cfg.set_now_int core mem_dump_shm 1: the shm status, printed at once\n  \
--pkg PID     cfg.set_now_int core mem_dump_pkg PID: that process prints its pkg memory the next \
time it runs its loop; receivers run it on their next SIP message (--poke sends them OPTIONS); \
processes are asked one at a time\n  \
--signal      SIGUSR1 to the main process (the seed's method, the only one on old versions): \
main's pkg and the shm, printed only when memlog <= debug\n\n\
The RPC dumps need the ctl and cfg_rpc modules. What a dump contains follows mem_summary \
(1 pkg status, 2 shm status, 4 pkg summary, 8 shm summary, 16 short status). \
kmemdbg reads the log from where it ended before the trigger (following rotation and \
truncation), waits for each dump's end marker, and says which processes did not answer and why \
(with the proxy's memlog, debug and mem_summary read over RPC).",
    after_help = "Exit status: 0 every requested dump was captured; 1 one or more did not answer (listed); \
2 usage or environment error (no ctl socket, unreadable log).\n\nExamples:\n  \
kmemdbg dump --shm --log /var/log/syslog\n  \
kmemdbg dump --shm --pkg all --poke 127.0.0.1:5060 --journal kamailio --out before.log\n  \
kmemdbg dump --shm --ctl /run/kamailio/kamailio_ctl --stderr /var/log/kamailio.err --out after.log\n  \
kmemdbg dump --signal --pid-file /run/kamailio/kamailio.pid --log /var/log/syslog\n  \
kmemdbg diff before.log after.log"
)]
pub struct DumpArgs {
    /// Dump the pkg (private) memory of this process, or of `all` of them (repeatable)
    #[arg(long, value_name = "PID|all")]
    pub pkg: Vec<String>,
    /// Dump the shm (shared) memory; the default when nothing else is asked for
    #[arg(long)]
    pub shm: bool,
    /// Also send SIGUSR1 to the main process (prints main's pkg and the shm when memlog <= debug)
    #[arg(long)]
    pub signal: bool,
    /// The ctl module's socket (unix:/path, a bare path, or udp:HOST:PORT)
    #[arg(long, value_name = "SOCKET", default_value = crate::kamcmd::DEFAULT_SOCKET)]
    pub ctl: String,
    /// Where the main PID is read when core.psx is not available (--signal without ctl)
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/run/kamailio/kamailio.pid"
    )]
    pub pid_file: PathBuf,
    /// Read the dump from this syslog file (default /var/log/syslog when none of --log/--journal/--stderr is given)
    #[arg(long, value_name = "FILE", group = "logsource")]
    pub log: Option<PathBuf>,
    /// Read the dump from journald for this unit (journalctl -u UNIT)
    #[arg(long, value_name = "UNIT", group = "logsource")]
    pub journal: Option<String>,
    /// Read the dump from the file kamailio's stderr goes to (kamailio -E / log_stderror=yes)
    #[arg(long, value_name = "FILE", group = "logsource")]
    pub stderr: Option<PathBuf>,
    /// Send SIP OPTIONS to this address (a listen address of the proxy) to wake receivers
    #[arg(long, value_name = "ADDR:PORT")]
    pub poke: Option<String>,
    /// Write the captured dumps here (default ./kmemdbg-dump-YYYYMMDDTHHMMSSZ.log)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Seconds to wait for each requested dump
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub timeout: f64,
    /// Machine-readable report on stdout (schema in README, "dump --json")
    #[arg(long)]
    pub json: bool,
}
