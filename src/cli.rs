//! The command line, declared and nothing else: every subcommand, its options
//! and the help text that teaches the procedure. The work lives in
//! [`crate::commands`].

use crate::units::parse_duration;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Sample a running proxy's memory (pkg per process, shm) over time: live view, CSV, SVG chart
    Watch(WatchArgs),
    /// Leak or pool too small? The stop-traffic-and-wait procedure, guided and measured
    Triage(TriageArgs),
    /// Print the gdb script that walks q_malloc/f_malloc fragments, for this binary's version
    GdbScript(GdbScriptArgs),
    /// Walk a live process (--pid) or a core file with gdb and rank the allocation sites
    Gdb(GdbArgs),
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

/// The proxy's ctl socket.
#[derive(Debug, Args, Clone)]
pub struct CtlArg {
    /// The ctl module's binrpc socket: unix:/path, /path, udp:HOST:PORT, tcp:HOST:PORT
    #[arg(long, value_name = "SOCKET", default_value = crate::kamcmd::DEFAULT_SOCKET)]
    pub ctl: String,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Samples a running proxy's memory every --interval for --duration (it always stops by \
itself): each process's private memory (`pkg.stats`, needs the kex module), the shared pool \
(`core.shmmem`) and, with --mod-stats, shared memory per module (`mod.stats all shm`).\n\n\
On a terminal it shows a live table (per process: used, free, trend per minute, a sparkline); \
otherwise it prints one plain line per sample and one per process whose use changed. \
--csv and --plot files are rewritten after every sample, so an interrupted watch keeps its data.\n\n\
Memory that only grows under steady traffic is the first sign of a leak; memory that rises \
and falls with traffic is not. `kmemdbg triage` turns that into a verdict.",
    after_help = "Examples:\n  kmemdbg watch --interval 5s --duration 10m\n  \
kmemdbg watch --ctl unix:/run/kamailio/kamailio_ctl --csv mem.csv --plot mem.svg\n  \
kmemdbg watch --duration 1h --interval 30s --mod-stats --plot mem.svg --json"
)]
pub struct WatchArgs {
    /// Time between samples: 5, 5s, 1m
    #[arg(long, value_name = "S", default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// How long to watch before stopping: 90s, 10m, 2h
    #[arg(long, value_name = "D", default_value = "10m", value_parser = parse_duration)]
    pub duration: Duration,
    #[command(flatten)]
    pub ctl: CtlArg,
    /// Write every sample to this CSV file (columns in README, "watch")
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Draw memory over time (shm, pkg per process) into this SVG file
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Also sample shared memory per module (mod.stats all shm; kex module)
    #[arg(long)]
    pub mod_stats: bool,
    /// Plain lines even on a terminal
    #[arg(long)]
    pub plain: bool,
    /// Print a machine-readable summary at the end instead of text (schema in README)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    long_about = "The first question of every \"out of memory\" hunt: is the pool too small, or is \
there a leak? The manual procedure: stop all traffic, wait about 20 minutes (transactions and \
other temporary memory are released), place a few calls; if the errors start at once, it is a \
leak; if you are not sure, treat it as a leak.\n\n\
triage does that and measures it: it records a baseline, asks you to stop traffic (or takes \
--traffic-stopped / --yes), watches memory during the idle period, then sends --probe-calls SIP \
OPTIONS in two rounds and checks whether each round leaves memory behind. It concludes:\n\
  pool too small  memory came back down when traffic stopped and the probes left nothing:\n\
                  proposes -m/-M sizes and the `kmemdbg size` command\n\
  leak            each probe round left memory behind (or memory never came back):\n\
                  next steps `kmemdbg convert` or `kmemdbg dump` + `kmemdbg diff`\n\
  not sure        said so, with why; treated as a leak.\n\
It never changes the proxy's settings; the only thing it sends is the OPTIONS probes.",
    after_help = "Exit status: 0 pool too small (no leak seen); 1 leak or not sure (treated as leak); 2 error.\n\n\
Examples:\n  kmemdbg triage\n  kmemdbg triage --idle 20 --probe-calls 10 --target 127.0.0.1:5060\n  \
kmemdbg triage --traffic-stopped --idle 5 --json"
)]
pub struct TriageArgs {
    /// Minutes to wait with traffic stopped (the manual procedure says about 20)
    #[arg(long, value_name = "MINUTES", default_value_t = 20.0)]
    pub idle: f64,
    /// The idle period in seconds instead of minutes (tests, demos)
    #[arg(long, value_name = "S", hide = true)]
    pub idle_seconds: Option<f64>,
    /// SIP OPTIONS requests sent after the idle period, in two rounds
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub probe_calls: u32,
    /// Where the probes go (default: the proxy's first UDP listen address, from core.sockets_list)
    #[arg(long, value_name = "HOST:PORT")]
    pub target: Option<String>,
    /// Longest wait for memory to settle after each probe round (tm keeps a
    /// finished transaction about 5 s)
    #[arg(long, value_name = "S", default_value = "15s", value_parser = parse_duration)]
    pub settle: Duration,
    /// Time between samples (default: the idle period / 40, between 1 s and 30 s)
    #[arg(long, value_name = "S", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    #[command(flatten)]
    pub ctl: CtlArg,
    /// Traffic is already stopped: do not ask
    #[arg(long, alias = "yes", short = 'y')]
    pub traffic_stopped: bool,
    /// Also write the samples as CSV (same columns as watch --csv)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Also draw the samples as an SVG chart
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Machine-readable verdict (schema in README)
    #[arg(long)]
    pub json: bool,
}

/// Kamailio's allocators that carry allocation sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Allocator {
    /// q_malloc (`-x qm`; DBG_QM_MALLOC / DBG_SR_MEMORY builds)
    Qm,
    /// f_malloc (`-x fm`, the default of many builds; DBG_F_MALLOC / DBG_SR_MEMORY)
    Fm,
}

/// A memory pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolArg {
    /// The process's private memory (-M)
    Pkg,
    /// The shared memory of all processes (-m)
    Shm,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Prints a gdb script that walks every fragment of a q_malloc or f_malloc pool and \
prints the used ones with the file, function, line and module that allocated them (builds with \
memory debugging: DBG_QM_MALLOC, DBG_F_MALLOC or DBG_SR_MEMORY, and debug symbols).\n\n\
The pool variables and fragment fields changed across versions: before 4.4 the pools are \
`mem_block` / `shm_block`; from 4.4 on `_qm_pkg_block`, `_fm_shm_block`, ...; f_malloc marks \
free fragments by `u.nxt_free` (3.x-4.1), `prv_free` (4.2-4.3.2) or `is_free` (4.3.3 on). The \
version comes from --binary (kamailio -V) or --kamailio-version.",
    after_help = "Use the script with:\n  gdb -p PID -batch -x walk.gdb            (a running process)\n  \
gdb /usr/sbin/kamailio CORE -batch -x walk.gdb   (a core file)\n\n\
Examples:\n  kmemdbg gdb-script --allocator qm > walk.gdb\n  \
kmemdbg gdb-script --allocator fm --pool shm --from 2000 --to 10000 --binary /usr/local/sbin/kamailio\n  \
kmemdbg gdb-script --allocator qm --kamailio-version 4.2"
)]
pub struct GdbScriptArgs {
    /// The allocator the process runs with (-x / -X, or the build's default)
    #[arg(long, value_enum)]
    pub allocator: Allocator,
    /// The pool to walk
    #[arg(long, value_enum, default_value = "pkg")]
    pub pool: PoolArg,
    /// First fragment index printed
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub from: u64,
    /// Stop after this many fragments (bounds the walk on a damaged pool)
    #[arg(long, value_name = "M", default_value_t = 1_000_000)]
    pub to: u64,
    /// Take the version from this build instead of --binary (e.g. 4.2 or 5.6.3)
    #[arg(long, value_name = "X.Y[.Z]")]
    pub kamailio_version: Option<String>,
    #[command(flatten)]
    pub binary: BinaryArg,
}

#[derive(Debug, Args)]
#[command(
    long_about = "Runs gdb in batch mode on a running process (--pid; the process is paused while gdb \
walks it) or on a core file (--core), walks the used fragments of its pkg or shm pool with the \
script `kmemdbg gdb-script` prints, and ranks the allocation sites by bytes and count - the \
answer a memory dump gives, for when no dump can be had (a crashed process, a box without \
logs).\n\n\
Needs a binary with debug symbols (a source build keeps -g; Debian's package is stripped and \
has no -dbgsym package in the default archive) and memory debugging compiled in.",
    after_help = "Exit status: 0 sites listed; 2 gdb missing, no symbols, pool not found, timeout.\n\n\
Examples:\n  kmemdbg gdb --pid 12345\n  kmemdbg gdb --pid 12345 --pool shm --top 20\n  \
kmemdbg gdb --core /var/crash/core.kamailio.1234 --binary /usr/local/sbin/kamailio --json"
)]
pub struct GdbArgs {
    /// A running kamailio process to attach to
    #[arg(
        long,
        value_name = "PID",
        conflicts_with = "core",
        required_unless_present = "core"
    )]
    pub pid: Option<u32>,
    /// A core file of a kamailio process
    #[arg(long, value_name = "FILE")]
    pub core: Option<PathBuf>,
    /// The pool to walk
    #[arg(long, value_enum, default_value = "pkg")]
    pub pool: PoolArg,
    /// The allocator (default: found from the pool variables the process has set)
    #[arg(long, value_enum)]
    pub allocator: Option<Allocator>,
    /// Show this many sites
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub top: usize,
    /// Longest time gdb may run (the process stays paused meanwhile)
    #[arg(long, value_name = "S", default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Take the version from this build instead of asking the binary
    #[arg(long, value_name = "X.Y[.Z]")]
    pub kamailio_version: Option<String>,
    #[command(flatten)]
    pub binary: BinaryArg,
    /// Machine-readable output (schema in README)
    #[arg(long)]
    pub json: bool,
}
