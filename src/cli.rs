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

/// The subcommands. Keep doc comments off these variants: clap applies a
/// variant's doc comment after its Args struct and resets `long_about`, so
/// `about` and `long_about` both live on the Args struct's `#[command(...)]`.
#[derive(Debug, Subcommand)]
pub enum Command {
    Inspect(InspectArgs),
    Verify(VerifyArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
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
    /// Machine-readable output (schema in README, "inspect --json")
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
