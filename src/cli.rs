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
    /// Rewrite a Kamailio source tree for a memory-debug build (one recipe per generation)
    Patch(PatchArgs),
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
    /// Machine-readable output (schema in README, "patch --json")
    #[arg(long)]
    pub json: bool,
}
