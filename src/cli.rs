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
    /// Make memory dumps visible in kamailio.cfg (memlog <= debug), checked by `kamailio -c`; or live via kamcmd
    Cfg(CfgArgs),
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
    long_about = "A memory-debug build prints no memory summary unless memlog <= debug. This reads the cfg the \
way Kamailio does (#!define/#!trydef/#!redefine, nested #!ifdef/#!ifndef/#!else, #!substdef, include_file/\
import_file, -A defines), shows which line sets debug, memlog, memdbg, mem_summary, log_stderror, \
log_facility and mem_join (or that Kamailio's default applies), and makes the smallest edit:\n\
  memlog       lowered to the effective debug (or --memlog N <= debug) on the line in effect\n\
  memdbg       kept above debug (at or below, every malloc/free is logged)\n\
  mem_summary  given the pkg+shm summaries (bits 4+8), or exactly --summary\n\
  ctl, cfg_rpc loadmodule lines added after the last loadmodule when missing (kamcmd needs them)\n\
A missing parameter is inserted right after the debug= line. Comments, spacing, CRLF and every other \
byte stay. `kamailio -c` must accept the result before it replaces the file (atomic, mode and owner \
kept, first original kept as FILE.kmemdbg-orig, --revert restores it). Running it again changes nothing.\n\n\
Kamailio prints shutdown and SIGUSR1 summaries only when memlog <= debug. Dumps asked over RPC \
(cfg.set_now_int core mem_dump_pkg PID / mem_dump_shm 1) are printed at ALERT level anyway, but \
need ctl + cfg_rpc.\n\n\
--live sets memlog / memdbg / mem_summary in the running proxy (cfg.set_now_int, read back with \
cfg.get): no restart; lost at the next restart unless the file is edited too.",
    after_help = "Examples:\n  kmemdbg cfg --cfg /etc/kamailio/kamailio.cfg --dry-run\n  \
kmemdbg cfg --cfg /etc/kamailio/kamailio.cfg --define WITH_DEBUG\n  \
kmemdbg cfg --cfg /etc/kamailio/kamailio.cfg --memlog 1 --summary pkg,shm,status,sums\n  \
kmemdbg cfg --cfg /etc/kamailio/kamailio.cfg --live          # file and running proxy\n  \
kmemdbg cfg --live --ctl /run/kamailio/kamailio_ctl           # running proxy only\n  \
kmemdbg cfg --cfg /etc/kamailio/kamailio.cfg --revert\n\n\
--summary words: pkg, shm (default both), status, sums (default sums), short, all, none, or 0-31 \
(1 pkg status, 2 shm status, 4 pkg summary, 8 shm summary, 16 short status).\n\
Defines of a running kamailio started with this cfg (-A NAME) are used automatically."
)]
pub struct CfgArgs {
    /// The kamailio.cfg to read and edit (Debian: /etc/kamailio/kamailio.cfg)
    #[arg(long, value_name = "FILE", required_unless_present = "live")]
    pub cfg: Option<PathBuf>,
    /// memlog to set (must be <= the effective debug); default: the effective debug
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub memlog: Option<i64>,
    /// memdbg to set; default: kept, or moved just above debug when at or below it
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub memdbg: Option<i64>,
    /// What dumps carry (mem_summary): e.g. pkg,shm,sums (12) or all (15)
    #[arg(long, value_name = "LIST")]
    pub summary: Option<String>,
    /// A define the service starts with (as kamailio -A NAME[=VALUE]); repeatable
    #[arg(long = "define", short = 'A', value_name = "NAME[=VALUE]")]
    pub define: Vec<String>,
    #[command(flatten)]
    pub binary: BinaryArg,
    /// Also apply memlog / memdbg / mem_summary to the running proxy (kamcmd, no restart)
    #[arg(long)]
    pub live: bool,
    /// The proxy's ctl socket for --live (default: unix:/run/kamailio/kamailio_ctl)
    #[arg(long, value_name = "SOCKET", requires = "live")]
    pub ctl: Option<String>,
    /// Print the diff (and the live changes) without writing or setting anything
    #[arg(long)]
    pub dry_run: bool,
    /// Put back the first original of the cfg and its included files
    #[arg(long, requires = "cfg", conflicts_with_all = ["live", "memlog", "memdbg", "summary", "dry_run"])]
    pub revert: bool,
    /// Machine-readable output (schema kmemdbg.cfg/1, see README)
    #[arg(long)]
    pub json: bool,
}
