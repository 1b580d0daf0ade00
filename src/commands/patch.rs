//! `kmemdbg patch`: detect the tree, plan the conversion with the
//! generation's recipe, then print the diff (`--dry-run`), write it, or put
//! the originals back (`--revert`). Text first; `--json` prints the
//! `kmemdbg.patch/1` report. All decisions live in `crate::patch`.

use crate::cli::PatchArgs;
use crate::patch::{self, FileChange, Generation, NextStep, Options};
use crate::source;
use crate::ExitStatus;
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

/// `patch --json` schema (fields are only ever added):
/// `{ "schema": "kmemdbg.patch/1", "mode": "patch|dry_run|revert",
///    "status": "converted|already_converted|would_convert|reverted|would_revert|nothing_to_revert",
///    "source": DIR, "product": "kamailio"?, "version": "5.6.3"?,
///    "generations": [{"name","title","build"}], "debug_flag": "DBG_SR_MEMORY"?,
///    "files": [{"path","role","generation","changed","notes":[..],"diff"}],
///    "backups": [path..], "next_steps": [{"phase":"build|check|run","command"?,"why"}],
///    "runtime_options": ["-x","qm"], "notes": [..] }`
#[derive(Serialize)]
pub struct PatchReport {
    pub schema: &'static str,
    pub mode: &'static str,
    pub status: &'static str,
    pub source: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub generations: Vec<Generation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug_flag: Option<String>,
    pub files: Vec<FileChange>,
    pub backups: Vec<PathBuf>,
    pub next_steps: Vec<NextStep>,
    pub runtime_options: Vec<String>,
    pub notes: Vec<String>,
}

pub fn run(args: &PatchArgs) -> Result<ExitStatus> {
    if args.revert {
        return revert(args);
    }
    let tree = source::detect(&args.source, &args.build_dir)?;
    let plan = patch::plan(
        &tree,
        &Options {
            generation: args.generation.clone(),
        },
    )?;
    let already = plan.already_converted();
    let (mode, status) = match (args.dry_run, already) {
        (_, true) => (
            if args.dry_run { "dry_run" } else { "patch" },
            "already_converted",
        ),
        (true, false) => ("dry_run", "would_convert"),
        (false, false) => ("patch", "converted"),
    };
    let written = if args.dry_run || already {
        Vec::new()
    } else {
        patch::apply(&plan)?
    };
    let backups: Vec<PathBuf> = plan
        .files
        .iter()
        .filter(|f| crate::fsx::backup_path(&plan.root.join(&f.path)).exists())
        .map(|f| crate::fsx::backup_path(&f.path))
        .collect();
    let report = PatchReport {
        schema: "kmemdbg.patch/1",
        mode,
        status,
        source: plan.root.clone(),
        product: Some(tree.product.clone()),
        version: tree.version.as_ref().map(|v| v.to_string()),
        generations: plan.generations.clone(),
        debug_flag: Some(plan.debug_flag.clone()),
        files: plan.files.clone(),
        backups,
        next_steps: plan.next_steps.clone(),
        runtime_options: plan.runtime_options.clone(),
        notes: plan.notes.clone(),
    };
    if args.json {
        crate::commands::print_json(&report)?;
    } else {
        print!("{}", render_text(&report, &tree, &written, args));
    }
    Ok(0)
}

fn revert(args: &PatchArgs) -> Result<ExitStatus> {
    let layout = source::locate(&args.source, &args.build_dir)?;
    if layout.defs.is_none() && layout.cmake_defs.is_none() {
        anyhow::bail!(
            "{}: not a Kamailio source tree: found none of Makefile.defs, src/Makefile.defs, \
             CMakeLists.txt with cmake/defs.cmake",
            layout.root.display()
        );
    }
    let rp = patch::plan_revert(&layout)?;
    let status = match (rp.files.is_empty(), args.dry_run) {
        (true, _) => "nothing_to_revert",
        (false, true) => "would_revert",
        (false, false) => "reverted",
    };
    if !args.dry_run {
        patch::apply_revert(&rp)?;
    }
    let report = PatchReport {
        schema: "kmemdbg.patch/1",
        mode: "revert",
        status,
        source: rp.root.clone(),
        product: None,
        version: None,
        generations: Vec::new(),
        debug_flag: None,
        files: rp.files.clone(),
        backups: Vec::new(),
        next_steps: rp.next_steps.clone(),
        runtime_options: Vec::new(),
        notes: Vec::new(),
    };
    if args.json {
        crate::commands::print_json(&report)?;
        return Ok(0);
    }
    let root = rp.root.display();
    match status {
        "nothing_to_revert" => {
            println!("nothing to revert in {root}: no file has a kept original (.kmemdbg-orig)")
        }
        "would_revert" => println!(
            "would revert {} file(s) in {root} (dry run, nothing written):",
            rp.files.len()
        ),
        _ => println!(
            "reverted {} file(s) in {root} to the originals, byte for byte:",
            rp.files.len()
        ),
    }
    for f in &rp.files {
        println!(
            "  {}{}",
            f.path.display(),
            if f.changed {
                ""
            } else {
                " (already identical; backup removed)"
            }
        );
    }
    if args.dry_run {
        for f in rp.files.iter().filter(|f| f.changed) {
            print!("{}", f.diff);
        }
    }
    print!("{}", steps_text(&rp.next_steps));
    Ok(0)
}

fn render_text(
    r: &PatchReport,
    tree: &source::Tree,
    written: &[PathBuf],
    args: &PatchArgs,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let flag = r.debug_flag.as_deref().unwrap_or("?");
    let head = match r.status {
        "already_converted" => format!(
            "already converted: {} builds with {flag}; nothing written",
            tree.describe()
        ),
        "would_convert" => format!(
            "would convert {} to a memory-debug build ({flag}); dry run, nothing written",
            tree.describe()
        ),
        _ => format!(
            "converted {} to a memory-debug build ({flag})",
            tree.describe()
        ),
    };
    let _ = writeln!(s, "{head}");
    for g in &r.generations {
        let _ = writeln!(s, "generation: {} - {}", g.name, g.title);
    }
    let changed: Vec<&FileChange> = r.files.iter().filter(|f| f.changed).collect();
    if !changed.is_empty() {
        let _ = writeln!(
            s,
            "{}:",
            if args.dry_run {
                "would change"
            } else {
                "changed"
            }
        );
        for f in &changed {
            for n in &f.notes {
                let _ = writeln!(s, "  {n}");
            }
        }
    }
    let same: Vec<String> = r
        .files
        .iter()
        .filter(|f| !f.changed)
        .map(|f| f.path.display().to_string())
        .collect();
    if !same.is_empty() {
        let _ = writeln!(s, "already right: {}", same.join(", "));
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    if args.dry_run {
        for f in &changed {
            s.push_str(&f.diff);
        }
    }
    if !written.is_empty() || (!r.backups.is_empty() && !args.dry_run) {
        let b: Vec<String> = r.backups.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(
            s,
            "originals kept: {} (undo: kmemdbg patch --source {} --revert)",
            b.join(", "),
            args.source.display()
        );
    }
    s.push_str(&steps_text(&r.next_steps));
    s
}

fn steps_text(steps: &[NextStep]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if steps.is_empty() {
        return s;
    }
    let _ = writeln!(s, "next:");
    for st in steps {
        let phase = match st.phase {
            patch::Phase::Build => "build",
            patch::Phase::Check => "check",
            patch::Phase::Run => "run",
        };
        let via = match st.build {
            Some(crate::source::BuildSystem::Make) => " (make)",
            Some(crate::source::BuildSystem::Cmake) => " (cmake)",
            None => "",
        };
        match &st.command {
            Some(c) => {
                let _ = writeln!(s, "  {phase}{via}: {c}\n      {}", st.why);
            }
            None => {
                let _ = writeln!(s, "  {phase}{via}: {}", st.why);
            }
        }
    }
    s
}
