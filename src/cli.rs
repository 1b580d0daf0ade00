//! The command line, declared and nothing else: every subcommand, its options
//! and the help text that teaches the procedure. The work lives in
//! [`crate::commands`].

pub use crate::mem::{Allocator, GroupBy, Pool};
use crate::units::parse_duration;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// `kmemdbg --version`: the crate version and the git revision it was built from.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("KMEMDBG_GIT_REV"),
    ")"
);

mod fixes;
pub use fixes::{FixesArgs, ReportArgs};
mod hunt;
pub use hunt::HuntArgs;

#[derive(Debug, Parser)]
#[command(
    name = "kmemdbg",
    version = VERSION_LINE,
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
    Inspect(InspectArgs),
    Verify(VerifyArgs),
    Patch(PatchArgs),
    Build(BuildArgs),
    Cfg(CfgArgs),
    Restart(RestartArgs),
    Size(SizeArgs),
    Convert(ConvertArgs),
    Revert(RevertArgs),
    Dump(DumpArgs),
    Analyze(AnalyzeArgs),
    Diff(DiffArgs),
    Watch(WatchArgs),
    Triage(TriageArgs),
    GdbScript(GdbScriptArgs),
    Gdb(GdbArgs),
    #[command(hide = true)]
    GenDump(GenDumpArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
    Fixes(FixesArgs),
    Report(ReportArgs),
    Hunt(HuntArgs),
    Scan(ScanArgs),
}

/// Which proxy: a service, or a plain process by its pid file.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// The systemd unit or SysV service that runs kamailio (e.g. kamailio)
    #[arg(long, value_name = "NAME", conflicts_with = "pidfile")]
    pub service: Option<String>,
    /// The pid file of a kamailio run as a plain daemon (its -P)
    #[arg(long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,
}

/// How a guided restart is confirmed and bounded.
#[derive(Debug, Args, Clone)]
pub struct GuidedArgs {
    /// Go ahead without asking (required when there is no terminal to ask on)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Seconds the health check (and the stop) may take, for each start
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub timeout: f64,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "Guided restart: pre-flight, stop, start, health check, rollback when the new setup fails",
    long_about = "Restarts kamailio the safe way. Finds how it runs (systemd unit, SysV script, or a plain \
daemon by its pid file or in /proc, reusing its exact command line), makes a DBG_SR_MEMORY build run with \
q_malloc (-x qm: in the options file when the service reads one, else a systemd drop-in, else the \
command line), runs `kamailio -c` with the binary and cfg that will run (a failure stops here, before \
anything is stopped), prints the plan and asks. After the start it checks health within --timeout: the \
main process stays alive, its children run (core.psx when ctl answers), and SIP OPTIONS to one of its UDP \
listen addresses on loopback is answered. When the new setup fails, every file kmemdbg changed is put \
back, the previous setup is started again and checked, and both results are reported.",
    after_help = "Exit status: 0 restarted and healthy; 1 pre-flight failed (nothing stopped) or the new setup \
failed and was rolled back; 2 error, or the rollback did not come back healthy.\n\nExamples:\n  \
kmemdbg restart --service kamailio\n  kmemdbg restart --pidfile /run/kamailio/kamailio.pid --yes --timeout 20\n  \
kmemdbg restart --pidfile /run/kamailio/kamailio.pid --dry-run"
)]
pub struct RestartArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub guided: GuidedArgs,
    /// Keep the run-time options as they are (do not add -x qm)
    #[arg(long)]
    pub as_is: bool,
    /// Print the plan and the file diffs, change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "Change the memory pool sizes (-m shared, -M private) with a guided restart",
    long_about = "The \"memory pool is too small\" branch of the out-of-memory troubleshooting procedure. Writes the new sizes where the service \
reads them (SHM_MEMORY/PKG_MEMORY in /etc/default/kamailio or /etc/sysconfig/kamailio, else -m/-M in a \
systemd drop-in, the init script or the process's command line), with backups, then does the guided \
restart (see `kmemdbg restart --help`). A size the proxy cannot start with (a pkg pool too small for the \
cfg passes `kamailio -c` but fails at start) is rolled back, and the command exits 1.\n\n\
--suggest reads current use over the ctl socket (core.shmmem; pkg.stats needs the kex module) and \
proposes sizes with the reasoning; it changes nothing.",
    after_help = "Examples:\n  kmemdbg size --suggest --service kamailio\n  \
kmemdbg size --shm 128 --service kamailio\n  kmemdbg size --pkg 16 --pidfile /run/kamailio/kamailio.pid --yes"
)]
pub struct SizeArgs {
    /// Shared memory pool in MB (-m)
    #[arg(long, value_name = "MB")]
    pub shm: Option<u64>,
    /// Private memory per process in MB (-M)
    #[arg(long, value_name = "MB")]
    pub pkg: Option<u64>,
    /// Propose sizes from current use (changes nothing)
    #[arg(long)]
    pub suggest: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub guided: GuidedArgs,
    /// Print the plan and the file diffs, change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "The one command: inspect, patch, build, install, cfg, run-time options, restart",
    long_about = "Converts a box to memory-debug runs in one command: inspect the binary the service runs; \
when it has no memory debugging, patch, build (and with --install, install) the sources; make the cfg \
print dumps (memlog <= debug); give the build its run-time options (-x qm for DBG_SR_MEMORY); then the \
guided restart with rollback. Each step already done is skipped, so a second run changes nothing. It \
stops at the first failure and says what was done, what was not, and how to undo (kmemdbg revert).\n\n\
Ctrl-C is honoured at any step: a file being written is finished (atomic), a build or install in \
progress is stopped (make's whole process group), a restart in progress always finishes (or rolls back) \
first; kmemdbg then says INTERRUPTED, what was done and what was not, and exits 1. A rerun of the same \
command completes the conversion (an interrupted build continues, it is never taken as finished) and \
`kmemdbg revert --source DIR` undoes it.",
    after_help = "Exit status: 0 converted (or nothing to do); 1 a step failed (a failed restart is rolled \
back); 2 error; 3 with --check: changes pending. --json: {\"schema\": \"kmemdbg.convert/1\", \"changed\", \
\"ok\", \"interrupted\", \"steps\": [{\"name\", \"changed\", \"status\", \"detail\"}], \"restart\"}\n\n\
Examples:\n  kmemdbg convert --check          # finds the proxy, its service and its cfg by itself\n  \
kmemdbg convert --cfg /etc/kamailio/kamailio.cfg --service kamailio\n  \
kmemdbg convert --cfg /etc/kamailio/kamailio.cfg --pidfile /run/kamailio/kamailio.pid --check --json\n  \
kmemdbg convert --source /usr/src/kamailio-5.6.3 --cfg /etc/kamailio/kamailio.cfg --install --yes\n  \
kmemdbg convert --source ~/kamailio-5.6.3 --modules ctl,sl,tm --install --prefix /opt/kmd --cfg kamailio.cfg --yes"
)]
pub struct ConvertArgs {
    /// Kamailio source tree, for a binary without memory debugging
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// The kamailio.cfg the proxy loads (default: found from the running proxy's -f, else its
    /// service's command line and environment files, else the binary's compiled default)
    #[arg(long, value_name = "FILE")]
    pub cfg: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Modules to build (comma-separated) with --source
    #[arg(long, value_name = "LIST")]
    pub modules: Option<String>,
    /// Install the built binary and run it (staged: files already there are kept as
    /// NAME.kmemdbg-orig, `revert --source` puts them back and removes the rest)
    #[arg(long)]
    pub install: bool,
    /// Install prefix for --install (the build is configured for it); default: the tree's
    #[arg(long, value_name = "DIR", requires = "install")]
    pub prefix: Option<PathBuf>,
    /// Change nothing; exit 0 when nothing is pending, 3 when changes are pending
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub guided: GuidedArgs,
}

#[derive(Debug, Args)]
#[command(
    about = "Undo a conversion (cfg, options, drop-in, command line) from the backups, with a guided restart",
    long_about = "Undoes a conversion: every file kmemdbg changed for this proxy goes back to the original \
it kept (NAME.kmemdbg-orig): options file, init script, the cfg and the other backed-up files in its \
directory; kmemdbg's systemd drop-in is removed; a plain daemon gets its original command line back. \
Then the same guided restart (pre-flight, health check, rollback). Backups are removed once the \
reverted setup runs. With --source, the tree's patch is undone too and, once the previous setup runs \
again, everything `convert --install` installed goes: files that were there get their original back, \
new files are removed (the tree's install manifest lists them).",
    after_help = "Examples:\n  kmemdbg revert --yes\n  kmemdbg revert --cfg /etc/kamailio/kamailio.cfg --service kamailio\n  \
kmemdbg revert --cfg /etc/kamailio/kamailio.cfg --pidfile /run/kamailio/kamailio.pid --yes"
)]
pub struct RevertArgs {
    /// The kamailio.cfg the proxy loads (default: the one on its command line)
    #[arg(long, value_name = "FILE")]
    pub cfg: Option<PathBuf>,
    /// Also revert the source tree's patch
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub guided: GuidedArgs,
    /// Print the plan and the file diffs, change nothing
    #[arg(long)]
    pub dry_run: bool,
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
    about = "Show what a kamailio binary was compiled with and whether it can produce memory dumps",
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
    /// Machine-readable output (schema: docs/json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "CI gate: exit 1 unless the binary has the required build flags (memory debugging, ...)",
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
    about = "Print the shell completion script for bash, zsh or fish",
    long_about = "Prints the completion script for SHELL on stdout, generated from kmemdbg's own \
command-line definitions (every subcommand and option). The Debian package installs the bash and zsh \
scripts already; this is for `cargo install` users.",
    after_help = "Examples:\n  \
# bash, for your user\n  \
mkdir -p ~/.local/share/bash-completion/completions\n  \
kmemdbg completions bash > ~/.local/share/bash-completion/completions/kmemdbg\n  \
# zsh: any directory in $fpath\n  \
kmemdbg completions zsh > ~/.zfunc/_kmemdbg\n  \
# fish\n  \
kmemdbg completions fish > ~/.config/fish/completions/kmemdbg.fish"
)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(
    about = "Write the man pages (kmemdbg.1 and one per subcommand) or print kmemdbg.1",
    long_about = "Generates the man pages from kmemdbg's own command-line definitions: kmemdbg(1) for \
the tool and kmemdbg-NAME(1) for each subcommand. With --dir, writes every page there (creating the \
directory; pages already up to date are left alone); without it, prints kmemdbg(1) as roff on stdout. \
The Debian package installs the pages already; this is for `cargo install` users.",
    after_help = "Examples:\n  \
kmemdbg man | man -l -\n  \
kmemdbg man --dir ~/.local/share/man/man1 && man kmemdbg-verify"
)]
pub struct ManArgs {
    /// Write kmemdbg.1 and kmemdbg-NAME.1 for every subcommand into DIR
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    about = "Rewrite a Kamailio source tree for a memory-debug build (one recipe per generation)",
    long_about = "Rewrites a Kamailio source tree so that it builds with memory debugging, the way \
the \"out of memory\" procedure asks (\"remove F_MALLOC, add DBG_QM_MALLOC\"), for the tree's own \
generation: it finds Makefile.defs (top level or src/), the version, a saved `make cfg` \
(config.mak, which would otherwise keep the old defines), Makefile.vars, DEFS_RM/extra_defs that \
drop the debug define, cmake/defs.cmake and configured CMake build directories, and changes each \
one. Then it prints what the build must do next (e.g. `make cfg`, reconfigure) and what kamailio \
needs at run time (e.g. `-x qm`).\n\n\
Every write is atomic, the first original of each file is kept as NAME.kmemdbg-orig, a second run \
says \"already converted\" and writes nothing, and --revert puts the originals back byte for byte. \
When a file does not have the shape the recipe knows (a switch set twice, the allocator inside an \
unknown conditional, a damaged file), nothing is changed and the error names file:line.",
    after_help = concat!(
        "Exit status: 0 converted, already converted, reverted or dry run; 2 not a Kamailio tree, unknown \
generation, ambiguous or damaged file, unreadable or read-only file (nothing changed).\n\n",
        "Generations (--generation NAME):\n",
        "  openser-ser   OpenSER 1.x, SER 0.x-2.x, Kamailio 1.x-3.0: -DF_MALLOC -> -DDBG_QM_MALLOC in DEFS\n",
        "  3.x           Kamailio 3.1-3.3: MEMDBG ?= 1 (q_malloc with debug info)\n",
        "  4.0-4.3       Kamailio 4.0-4.3: MEMMNG ?= 1 and MEMDBG ?= 1\n",
        "  4.4           Kamailio 4.4: MEMDBG ?= 1 (DBG_SR_MEMORY; run with -x qm)\n",
        "  5.x-6.x-make  Kamailio 5.x/6.x, src/Makefile.defs: MEMDBG ?= 1 (DBG_SR_MEMORY; run with -x qm)\n",
        "  6.x-cmake     Kamailio 6.x, CMake: option DBG_SR_MEMORY (6.0.0-6.0.3) or MEMDBG (6.0.4+) ON,\n",
        "                in cmake/defs.cmake and in each build directory's CMakeCache.txt\n\n",
        "Examples:\n",
        "  kmemdbg patch --source /usr/src/kamailio-5.6.3 --dry-run\n",
        "  kmemdbg patch --source /usr/src/kamailio-5.6.3\n",
        "  kmemdbg patch --source . --build-dir ../build-kamailio --json\n",
        "  kmemdbg patch --source . --generation 5.x-6.x-make   # a tree whose version no recipe names\n",
        "  kmemdbg patch --source /usr/src/kamailio-5.6.3 --revert"
    )
)]
pub struct PatchArgs {
    /// The Kamailio source tree: the directory with the top-level Makefile
    #[arg(long, value_name = "DIR")]
    pub source: PathBuf,
    /// Print the unified diff and the next steps; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Put back the originals kept by earlier runs, byte for byte, and remove the backups
    #[arg(long, conflicts_with = "generation")]
    pub revert: bool,
    /// Use this recipe instead of the one the version selects (list below)
    #[arg(long, value_name = "NAME")]
    pub generation: Option<String>,
    /// A CMake build directory outside the tree whose CMakeCache.txt must be converted too
    /// (repeatable; build directories up to two levels inside the tree are found)
    #[arg(long, value_name = "DIR")]
    pub build_dir: Vec<PathBuf>,
    /// Machine-readable output (schema: docs/json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "Rebuild a converted source tree (progress, full log, first error) and prove the binary has memory debugging",
    long_about = "Rebuilds a Kamailio source tree that `kmemdbg patch` converted, the way the tree needs:\n\
  make trees (3.x-6.x): `make cfg` (with the module list), `make -jN all`, `make install`;\n\
  CMake trees (6.x):    configure with the memory-debug option ON, build, install.\n\
First it checks make, the C compiler, bison and flex (cmake for 6.x) and names the Debian and RPM \
packages of any that is missing. Objects compiled with other defines (before the conversion) are \
cleaned first: a mixed build is refused. Progress shows on a terminal as a bar, elsewhere as a line \
every few seconds; the whole compiler output goes to a log file whose path is printed. On failure \
it prints the first error (file:line and message) with a hint when the cause is known (a missing \
header names its -dev package). After the build it asks the new binary `-V` and exits 1 unless it \
is memory-debug ready. A tree already built with memory debugging and unchanged since is reported \
\"up to date\" without compiling.",
    after_help = "Exit status: 0 built (or up to date) and memory-debug ready; 1 the tree is not converted \
(nothing compiled) or the binary lacks memory debugging; 2 missing tools, a failed build, or bad input.\n\n\
Examples:\n  kmemdbg build --source ~/kamailio-5.6.3\n  \
kmemdbg build --source ~/kamailio-5.6.3 --modules ctl,cfg_rpc,sl,tm,pv,kex -j 4\n  \
kmemdbg build --source ~/kamailio-5.6.3 --install --prefix /opt/kamailio-memdbg\n  \
kmemdbg build --source ~/kamailio-6.0.1 --json > build.json"
)]
pub struct BuildArgs {
    /// The source tree (the directory that holds src/, or src/ itself)
    #[arg(long, value_name = "DIR")]
    pub source: PathBuf,
    /// Parallel compile jobs (default: every core)
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Build the core and only these modules (comma-separated), e.g. ctl,cfg_rpc,sl,tm,pv
    /// (default: what the tree is configured with, or the tree's own default set)
    #[arg(long, value_name = "LIST", conflicts_with = "all_modules")]
    pub modules: Option<String>,
    /// Build every module directory of the tree (each needs its libraries)
    #[arg(long)]
    pub all_modules: bool,
    /// Install after a successful build (make install / cmake --install)
    #[arg(long)]
    pub install: bool,
    /// Installation prefix (compiled into the binary's default paths)
    #[arg(long, value_name = "DIR", requires = "install")]
    pub prefix: Option<PathBuf>,
    /// Where the whole compiler output goes (default: SOURCE/kmemdbg-build.log)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Machine-readable result on stdout (schema: docs/json.md); progress stays on stderr
    #[arg(long)]
    pub json: bool,
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
    about = "Sample a running proxy's memory (pkg per process, shm) over time: live view, CSV, SVG chart",
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
    /// Write every sample to this CSV file (columns: docs/commands/watch.md)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Draw memory over time (shm, pkg per process) into this SVG file
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Also sample shared memory per module (mod.stats all shm; kex module)
    #[arg(long)]
    pub mod_stats: bool,
    /// Also save a mod.stats snapshot per sample in DIR (as `dump --mod-stats`; `diff DIR/*.modstats`)
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Plain lines even on a terminal
    #[arg(long)]
    pub plain: bool,
    /// Print a machine-readable summary at the end instead of text (schema: docs/json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "Leak or pool too small? The stop-traffic-and-wait procedure, guided and measured",
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
    /// Machine-readable verdict (schema: docs/json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "Print the gdb script that walks q_malloc/f_malloc fragments, for this binary's version",
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
kmemdbg gdb-script --allocator qm --kamailio-version 4.2\n  \
kmemdbg gdb-script --allocator qm --pool shm --python > walk.py   (gdb -p PID -batch -x walk.py)"
)]
pub struct GdbScriptArgs {
    /// The allocator the process runs with (-x / -X, or the build's default)
    #[arg(long, value_enum)]
    pub allocator: Allocator,
    /// The pool to walk
    #[arg(long, value_enum, default_value = "pkg")]
    pub pool: Pool,
    /// First fragment index printed
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub from: u64,
    /// Stop after this many fragments (bounds the walk on a damaged pool)
    #[arg(long, value_name = "M", default_value_t = 1_000_000)]
    pub to: u64,
    /// Take the version from this build instead of --binary (e.g. 4.2 or 5.6.3)
    #[arg(long, value_name = "X.Y[.Z]")]
    pub kamailio_version: Option<String>,
    /// Print the same walk as a gdb Python script (save as walk.py; ~100x faster on big pools)
    #[arg(long)]
    pub python: bool,
    #[command(flatten)]
    pub binary: BinaryArg,
}

#[derive(Debug, Args)]
#[command(
    about = "Walk a live process (--pid) or a core file with gdb and rank the allocation sites",
    long_about = "Runs gdb in batch mode on a running process (--pid; the process is paused while gdb \
walks it) or on a core file (--core), walks the used fragments of its pkg or shm pool with the \
script `kmemdbg gdb-script` prints, and sums the fragments exactly as `analyze` sums a \
qm_status dump (sites by bytes and count, --by function/file/module) - the answer a memory dump \
gives, for when no dump can be had (a crashed process, a box without logs).\n\n\
Needs a binary with debug symbols (a source build keeps -g; Debian's package is stripped and \
has no -dbgsym package in the default archive) and memory debugging compiled in. Attaching \
needs ptrace: root, or the proxy's user when kernel.yama.ptrace_scope is 0; when the kernel \
refuses, kmemdbg says why and what to do (or read a core file saved with gcore).",
    after_help = "Exit status: 0 sites listed; 2 gdb missing, ptrace refused, no symbols, pool not found, timeout.\n\n\
Examples:\n  kmemdbg gdb --pid 12345\n  kmemdbg gdb --pid 12345 --pool shm --top 20\n  \
kmemdbg gdb --pid 12345 --by module\n  \
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
    pub pool: Pool,
    /// The allocator (default: found from the pool variables the process has set)
    #[arg(long, value_enum)]
    pub allocator: Option<Allocator>,
    /// Sites (or groups) listed; 0 lists all (text and --json, as in analyze)
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub top: usize,
    /// Sum sites by site, function, file or module (as analyze --by)
    #[arg(long, value_enum, default_value = "site")]
    pub by: GroupBy,
    /// Longest time gdb may run (the process stays paused meanwhile)
    #[arg(long, value_name = "S", default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Take the version from this build instead of asking the binary
    #[arg(long, value_name = "X.Y[.Z]")]
    pub kamailio_version: Option<String>,
    /// Walk with the plain gdb script (what gdb-script prints) even when gdb has Python
    #[arg(long)]
    pub cli_script: bool,
    #[command(flatten)]
    pub binary: BinaryArg,
    /// Machine-readable output (schema: docs/json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "Make memory dumps visible in kamailio.cfg (memlog <= debug), checked by `kamailio -c`; or live via kamcmd",
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
    /// Machine-readable output (schema kmemdbg.cfg/1, see docs/json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "Make a running proxy print its memory (pkg per process, shm) and save exactly those lines",
    long_about = "Makes a running Kamailio print its memory and saves exactly the dump lines to a file, \
for `kmemdbg analyze` and `kmemdbg diff`.\n\n\
How each dump is asked for (Kamailio 5.x):\n  \
--shm         cfg.set_now_int core mem_dump_shm 1: the shm status, printed at once\n  \
--pkg PID     cfg.set_now_int core mem_dump_pkg PID: that process prints its pkg memory the next \
time it runs its loop; receivers run it on their next SIP message (--poke sends them OPTIONS); \
processes are asked one at a time\n  \
--signal      SIGUSR1 to the main process (the method of the out-of-memory troubleshooting guide, the only one on old versions): \
main's pkg and the shm, printed only when memlog <= debug\n\n\
The RPC dumps need the ctl and cfg_rpc modules. What a dump contains follows mem_summary \
(1 pkg status, 2 shm status, 4 pkg summary, 8 shm summary, 16 short status). \
kmemdbg reads the log from where it ended before the trigger (following rotation and \
truncation), waits for each dump's end marker, and says which processes did not answer and why \
(with the proxy's memlog, debug and mem_summary read over RPC).\n\n\
Before triggering, kmemdbg estimates the lines a dump will print (shm from core.shmmem, each \
process's pkg from pkg.stats, summaries from mod.stats; lines per fragment by allocator and \
version) and what the log lets through (journald's RateLimitIntervalSec/RateLimitBurst from journald.conf \
and its .d/, scaled with free space, or the unit's LogRateLimit*; rsyslog's imuxsock/imjournal \
limits; no limit for a stderr file). When the shm fragment list would not fit, it takes a summary \
instead (one line per allocation site: mem_summary 12 set over RPC, SIGUSR1 to main, mem_summary \
put back afterwards, also on Ctrl-C or error); pkg fragment lists that would not fit (all the \
processes asked for together) become pkg summaries the same way, and the report says how many \
processes at a time would fit; --full asks for the lists anyway. Lines the log \
dropped (journald `Suppressed N messages`, rsyslog `messages lost due to rate-limiting`, holes in \
the fragment numbers) mark a dump LOST, with how many and why.\n\n\
--mod-stats needs no log and no change to the proxy: it saves kex's `mod.stats all shm` and \
`mod.stats all pkg` (the pkg of the process answering the RPC only) with a header (time, main PID, \
version) that `analyze` and `diff` read. Bytes per module: function(line), no counts.",
    after_help = "Exit status: 0 every requested dump was captured; 1 one or more did not answer (listed); \
2 usage or environment error (no ctl socket, unreadable log).\n\nExamples:\n  \
kmemdbg dump --shm                # the log found: a syslog file with kamailio's lines, else journald\n  \
kmemdbg dump --shm --log /var/log/syslog\n  \
kmemdbg dump --shm --pkg all --poke 127.0.0.1:5060 --journal kamailio --out before.log\n  \
kmemdbg dump --shm --ctl /run/kamailio/kamailio_ctl --stderr /var/log/kamailio.err --out after.log\n  \
kmemdbg dump --signal --pid-file /run/kamailio/kamailio.pid --log /var/log/syslog\n  \
kmemdbg diff before.log after.log\n  \
kmemdbg dump --mod-stats --out before.modstats   (later: --out after.modstats; kmemdbg diff before.modstats after.modstats)\n  \
kmemdbg dump --journal kamailio --full --timeout 60s"
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
    /// Read the dump from this syslog file. With none of --log/--journal/--stderr: the syslog
    /// file (/var/log/syslog, /var/log/messages, /var/log/kamailio.log) that receives kamailio's
    /// lines, else journald for the systemd unit kamailio runs in
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
    /// How long to wait for each requested dump (90, 30s, 2m)
    #[arg(long, value_name = "S", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Machine-readable report on stdout (schema: docs/json.md)
    #[arg(long)]
    pub json: bool,
    /// Ask for the whole fragment list even when the log cannot carry it (by default a summary is taken then)
    #[arg(long)]
    pub full: bool,
    /// Take the shm summary (one line per site: mem_summary 12 + SIGUSR1, put back after) even when the list would fit
    #[arg(long, conflicts_with = "full")]
    pub summary: bool,
    /// No log at all: save `kamcmd mod.stats all shm` and `all pkg` (bytes per module: function(line)) to --out
    #[arg(long, conflicts_with_all = ["full", "summary", "signal", "pkg"])]
    pub mod_stats: bool,
    /// First wait, at most S seconds, until in-flight transactions are gone: tm.stats current back to its level at the newest mod.stats snapshot of this proxy in --out's directory (else 0), or no longer falling
    #[arg(long, value_name = "S", value_parser = parse_duration)]
    pub settle: Option<Duration>,
}

#[derive(Debug, Args)]
#[command(
    about = "Read memory dumps from a log: heap use and allocation sites per process and pool",
    long_about = "Reads Kamailio memory dumps out of a log and prints, for each dump (process, pool, time), \
the heap use and the allocation sites sorted by bytes, with fragment count and share.\n\n\
Understands q_malloc fragment lists (qm_status) and summaries (qm_sums), f_malloc (fm_status, \
fm_sums), the layouts of 3.x, 4.x, 5.x and 6.x, lines from stderr (-E), syslog, journald \
(journalctl -o short, short-iso, short-precise, short-monotonic, short-unix, short-full, cat, json, \
json-seq, json-pretty; cat and json-pretty carry no PID: unknown), `uniq -c` output and pastebin line numbers, processes interleaved. \
The per-allocation qm_malloc/qm_free lines that memdbg <= debug floods a log with are counted, \
never taken for a dump.\n\n\
Also reads the memory RPC answers users paste beside a log: `pkg.stats`, `core.shmmem` / \
`shm.stats`, `shm.report`, `mod.stats`, `core.psx` as kamcmd prints them, as JSON-RPC (kamcli, \
kamctl rpc, curl) and as XML-RPC, and `kamctl stats shmem` lines; and the out-of-memory \
lines of a log. Every pool it sees gets a verdict: exhausted (free 0, or real_used at the \
pool's size whatever `used` says), near full, counters that wrapped (never shown as a \
negative free or a use above 100%), or fragmentation (free memory in pieces too small), \
each with what to do next.\n\n\
Memory corruption (`beginning overwritten`, `end overwritten`, double free) is shown first: it \
is a bug, not a leak. Lines it could not read are counted and a few are shown. A dump cut \
short (process killed, log rotated) is read with a warning. What a paste cannot carry (the \
pool in `uniq -c` output, sizes in `alloc'd from` lines alone) is said, never guessed.",
    after_help = "Exit status: 0 the input was read, whatever it shows (corruption, an exhausted pool: \
findings, not errors); 2 nothing in the input could be read, unreadable file, or nothing matches \
the filters.\n\n\
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
    #[command(flatten)]
    pub dumps: DumpFilters,
    /// Machine-readable output (schema kmemdbg.analyze/1, see docs/json.md)
    #[arg(long)]
    pub json: bool,
}

/// Which dumps `analyze` and `diff` read, how their sites are summed, and
/// which Kamailio printed them.
#[derive(Debug, Args)]
pub struct DumpFilters {
    /// Sum sites by site, function, file or module
    #[arg(long, value_enum, default_value = "site")]
    pub by: GroupBy,
    /// Only dumps of this pool
    #[arg(long, value_enum)]
    pub pool: Option<Pool>,
    /// Only dumps printed by this process
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// The Kamailio version that printed the dumps (X.Y.Z): the largest sites get their known leak fixes
    /// (`kmemdbg fixes`); without it, only the header of a file kmemdbg wrote gives the version
    #[arg(long, value_name = "X.Y.Z")]
    pub kamailio_version: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    about = "Compare dumps taken at different times and name the allocation sites that grow",
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
    #[command(flatten)]
    pub dumps: DumpFilters,
    /// Machine-readable output (schema kmemdbg.diff/1, see docs/json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    about = "Write a synthetic memory dump to stdout (benchmarks and scale tests)",
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
    pub pool: Pool,
    /// Extra fragments of the leaking site (htable) per dump
    #[arg(long, default_value_t = 0)]
    pub leak: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
#[command(
    about = "Find the out-of-memory errors in a proxy's log: which pool, which process and module, since when, and what to do",
    long_about = "Reads a Kamailio log (files, - for stdin, or journald with --journal UNIT) and finds the \
out-of-memory errors of every generation (SER, OpenSER, Kamailio 3.x to 6.x: `could not allocate shared \
memory from shm pool`, `no more pkg memory`, `qm_malloc(..., SIZE) ... Free fragment not found!`, ...). \
It groups them by pool (shm, pkg), process (PID, rank, and its role from core.psx when the proxy that \
wrote the log runs: over --ctl, or else over the ctl socket its command line and cfg name), module and function (with the size asked for, from the allocator's lines), with the first \
and last time, count, rate and a timeline.\n\n\
Then it says what the pattern suggests: errors within minutes of a start mean the pool is too small for \
the load (it proposes a size from the start line's `shm size` / `pkg size`); errors only after hours of \
running point to a leak (confirm with `kmemdbg triage`: idle, then retest).\n\n\
Not counted: lines at INFO/NOTICE/DEBUG level (`could not bind tm module` is INFO), the cfg script's own \
xlog text, the words inside a quoted SIP message or user agent, and the allocator's inner search line; \
they are listed apart as ignored. Lines the log lost to journald or rsyslog rate limits are reported.",
    after_help = "Exit status: 0 no out-of-memory error; 1 errors found; 2 bad input (unreadable file, bad --since, journalctl failed).\n\n\
Examples:\n  kmemdbg scan /var/log/syslog\n  kmemdbg scan --journal kamailio --since 2h\n  \
kmemdbg scan /var/log/kamailio.log --ctl unix:/run/kamailio/kamailio_ctl\n  \
journalctl -u kamailio | kmemdbg scan - --json"
)]
pub struct ScanArgs {
    /// Log files to read; `-` reads stdin; none: the log kamailio writes to (a syslog file, or the journal of its systemd unit), found as `kmemdbg dump` finds it
    #[arg(value_name = "LOG", conflicts_with = "journal")]
    pub logs: Vec<PathBuf>,
    /// Read the journal of this systemd unit instead (journalctl -u UNIT)
    #[arg(long, value_name = "UNIT")]
    pub journal: Option<String>,
    /// Only lines from this time on: 2026-12-06 16:00, 2026-12-06T16:00:00Z, 2026-12-06, or an age: 2h, 30m, 1d
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// The running proxy's ctl socket: process roles (core.psx), shm size, start time (unix:/path, /path, udp:HOST:PORT); default: the socket of the kamailio running here whose processes wrote the log (from its -f cfg's ctl modparam, or -Y), a note says which or why none
    #[arg(long, value_name = "SOCKET")]
    pub ctl: Option<String>,
    /// Year of timestamps that carry none (BSD syslog); default: this year
    #[arg(long, value_name = "YYYY", hide = true)]
    pub year: Option<i64>,
    /// Machine-readable output (schema kmemdbg.scan/1)
    #[arg(long)]
    pub json: bool,
}
