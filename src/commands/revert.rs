//! `kmemdbg revert`: undo a conversion from the backups, guided restart.

use crate::cli::RevertArgs;
use crate::commands::guided::{guided, report_unchanged, target};
use crate::convert::{self, source_step, SourceSteps};
use crate::ExitStatus;
use anyhow::Result;

pub fn run(args: &RevertArgs) -> Result<ExitStatus> {
    let p = convert::plan_revert(&target(&args.target), args.cfg.as_deref())?;
    if let Some(src) = &args.source {
        if !args.guided.json {
            println!("source tree {}:", src.display());
        }
        let changed = source_step::Real::default().revert(src)?;
        if !args.guided.json {
            println!(
                "  {}",
                if changed {
                    "patch reverted"
                } else {
                    "no patch to revert"
                }
            );
        }
    }
    if p.changes.is_empty() {
        let msg = "nothing to revert: no kmemdbg backups or drop-in for this proxy";
        report_unchanged(args.guided.json, msg)?;
        // Stale backups identical to their files are just removed.
        convert::remove_backups(&p.backups);
        uninstall(args)?;
        return Ok(0);
    }
    if !args.guided.json {
        for n in &p.notes {
            println!("revert: {n}");
        }
    }
    let code = guided(
        &p.setup,
        &p.new_setup,
        &[],
        &p.changes,
        &args.guided,
        args.dry_run,
    )?;
    if code == 0 && !args.dry_run {
        for line in convert::remove_backups(&p.backups) {
            if !args.guided.json {
                println!("- {line}");
            }
        }
        uninstall(args)?;
    }
    Ok(code)
}

/// With --source: removes what `convert --install` installed, once nothing
/// runs it any more (after the reverted setup started, or when nothing had to restart).
fn uninstall(args: &RevertArgs) -> Result<()> {
    let Some(src) = &args.source else {
        return Ok(());
    };
    if args.dry_run {
        return Ok(());
    }
    let lines = source_step::Real::default().uninstall(src)?;
    if !args.guided.json {
        if lines.is_empty() {
            println!("- nothing installed by kmemdbg from {}", src.display());
        }
        // Originals put back one per line; removals counted.
        let (removed, back): (Vec<&String>, Vec<&String>) =
            lines.iter().partition(|l| l.contains(": removed"));
        for l in back {
            println!("- uninstall: {l}");
        }
        if !removed.is_empty() {
            println!(
                "- uninstall: removed {} installed file(s) and directories, e.g. {}",
                removed.len(),
                removed[0].split(": removed").next().unwrap_or_default()
            );
        }
    }
    Ok(())
}
