//! `kmemdbg man [--dir DIR]`: writes every man page into DIR (through
//! `fsx::create`, skipping pages already identical), or prints kmemdbg(1).

use crate::cli::ManArgs;
use crate::docgen::man;
use crate::ExitStatus;
use anyhow::{Context, Result};
use std::io::Write;

pub fn run(args: &ManArgs) -> Result<ExitStatus> {
    let pages = man::all_pages()?;
    let Some(dir) = &args.dir else {
        let top = pages
            .first()
            .context("no man page was generated (empty command tree?)")?;
        std::io::stdout()
            .lock()
            .write_all(&top.roff)
            .context("cannot write the man page to stdout")?;
        return Ok(0);
    };
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create {}; pass --dir with a directory you can write",
            dir.display()
        )
    })?;
    let (mut written, mut unchanged) = (0, 0);
    for page in &pages {
        let path = dir.join(&page.file_name);
        if std::fs::read(&path).ok().as_deref() == Some(page.roff.as_slice()) {
            unchanged += 1;
            println!("already up to date: {}", path.display());
            continue;
        }
        crate::fsx::create(&path, &page.roff, 0o644)?;
        written += 1;
        println!("wrote {}", path.display());
    }
    println!(
        "{written} written, {unchanged} already up to date; read one with: man -l {}",
        dir.join("kmemdbg.1").display()
    );
    Ok(0)
}
