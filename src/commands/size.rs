//! `kmemdbg size`: new pool sizes (`-m`/`-M`) where the service reads them,
//! then the guided restart; `--suggest` proposes sizes from current use.

use crate::cli::SizeArgs;
use crate::commands::guided::{guided, report_unchanged, target};
use crate::kamcmd::{records, Kamcmd};
use crate::service::plan::{self, Desired};
use crate::service::suggest::{self, PoolProposal};
use crate::service::{discover, health, Setup};
use crate::ExitStatus;
use anyhow::{bail, Context, Result};
use serde::Serialize;

/// `size --suggest --json`: schema `kmemdbg.size-suggest/1`.
#[derive(Serialize)]
struct SuggestReport {
    schema: &'static str,
    proposals: Vec<PoolProposal>,
    notes: Vec<String>,
    apply: Option<String>,
}

pub fn run(args: &SizeArgs) -> Result<ExitStatus> {
    let old = discover::discover(&target(&args.target))?;
    if args.suggest {
        return suggest(&old, args);
    }
    if args.shm.is_none() && args.pkg.is_none() {
        bail!("say which size: --shm MB and/or --pkg MB (or --suggest to get a proposal)");
    }
    for (name, v) in [("--shm", args.shm), ("--pkg", args.pkg)] {
        if v == Some(0) {
            bail!("{name} 0: a pool needs at least 1 MB");
        }
    }
    let desired = Desired {
        shm_mb: args.shm,
        pkg_mb: args.pkg,
        ..Desired::default()
    };
    let p = plan::plan(&old, &desired)?;
    if p.is_empty() {
        let msg = format!(
            "already -m {} -M {}: nothing to change",
            old.option('m').unwrap_or_else(|| "(default)".into()),
            old.option('M').unwrap_or_else(|| "(default)".into())
        );
        report_unchanged(args.guided.json, &msg)?;
        return Ok(0);
    }
    guided(
        &old,
        &p.new_setup,
        &p.settings,
        &p.file_changes,
        &args.guided,
        args.dry_run,
    )
}

fn suggest(setup: &Setup, args: &SizeArgs) -> Result<ExitStatus> {
    let Some(r) = &setup.running else {
        bail!("kamailio is not running: --suggest reads current use from the running proxy");
    };
    let cfg_text = setup
        .cfg()
        .and_then(|c| std::fs::read_to_string(c).ok())
        .unwrap_or_default();
    let sock = health::ctl_socket(&r.argv, &cfg_text).context(
        "no ctl socket found for this proxy: --suggest needs the ctl module (loadmodule \"ctl.so\")",
    )?;
    let k = Kamcmd::new(Some(&sock))?;
    let mut proposals = Vec::new();
    let mut notes = Vec::new();
    let shm_text = k.call(&["core.shmmem"])?;
    match records::parse_shmmem(&shm_text)
        .as_ref()
        .and_then(suggest::shm)
    {
        Some(p) => proposals.push(p),
        None => notes.push(format!(
            "core.shmmem answered no sizes: {:?}",
            shm_text.trim()
        )),
    }
    match k.call(&["pkg.stats"]) {
        Ok(t) => match suggest::pkg(&records::parse_pkg_stats(&t)) {
            Some(p) => proposals.push(p),
            None => notes.push("pkg.stats answered no sizes".into()),
        },
        Err(e) => notes.push(format!(
            "private memory not measured: pkg.stats needs the kex module ({})",
            format!("{e:#}").lines().next().unwrap_or("")
        )),
    }
    let mut apply_args = Vec::new();
    for p in &proposals {
        if p.proposed_mb != p.current_mb {
            apply_args.push(format!("--{} {}", p.pool, p.proposed_mb));
        }
    }
    let target = match (&args.target.service, &args.target.pidfile) {
        (Some(s), _) => format!(" --service {s}"),
        (_, Some(p)) => format!(" --pidfile {}", p.display()),
        _ => String::new(),
    };
    let apply =
        (!apply_args.is_empty()).then(|| format!("kmemdbg size {}{target}", apply_args.join(" ")));
    if args.guided.json {
        crate::commands::print_json(&SuggestReport {
            schema: "kmemdbg.size-suggest/1",
            proposals,
            notes,
            apply,
        })?;
        return Ok(0);
    }
    for p in &proposals {
        println!(
            "{}: {} MB now, proposed {} MB",
            p.pool, p.current_mb, p.proposed_mb
        );
        println!("  {}", p.reasoning);
    }
    for n in &notes {
        println!("note: {n}");
    }
    match apply {
        Some(a) => println!("to apply: {a}"),
        None => println!("no change proposed"),
    }
    Ok(0)
}
