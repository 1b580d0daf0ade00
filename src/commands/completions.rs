//! `kmemdbg completions SHELL`: prints the completion script on stdout.

use crate::cli::CompletionsArgs;
use crate::docgen::completion;
use crate::ExitStatus;
use anyhow::{Context, Result};
use std::io::Write;

pub fn run(args: &CompletionsArgs) -> Result<ExitStatus> {
    let script = completion::script(args.shell);
    std::io::stdout()
        .lock()
        .write_all(&script)
        .context("cannot write the completion script to stdout")?;
    Ok(0)
}
