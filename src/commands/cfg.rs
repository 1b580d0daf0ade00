//! `kmemdbg cfg`: show the effective memory-debug values of a kamailio.cfg,
//! edit the lines in effect (checked by `kamailio -c`), `--revert`, and
//! `--live` on a running proxy. The work is in [`crate::cfg`]; this prints.

use crate::cfg::{self, argv, live, policy, Define, Goals, Options, Param, Plan};
use crate::cli::CfgArgs;
use crate::kamcmd::Kamcmd;
use crate::ExitStatus;
use anyhow::{Context, Result};
use serde::Serialize;

/// `cfg --json` schema `kmemdbg.cfg/1` (fields are only ever added):
/// `{ "schema", "plan": Plan|null, "dry_run", "diff": string|null,
///    "applied": {changed, written, backups, check}|null,
///    "reverted": [{file, restored}]|null, "live": LiveReport|null,
///    "notes": [string] }`.
#[derive(Serialize)]
struct CfgReport {
    schema: &'static str,
    plan: Option<Plan>,
    dry_run: bool,
    diff: Option<String>,
    applied: Option<cfg::Applied>,
    reverted: Option<Vec<cfg::Reverted>>,
    live: Option<live::LiveReport>,
    notes: Vec<String>,
}

pub fn run(args: &CfgArgs) -> Result<ExitStatus> {
    let mut defines = Vec::new();
    for d in &args.define {
        defines.push(Define::parse(d)?);
    }
    let mut notes = Vec::new();
    let mut report = CfgReport {
        schema: "kmemdbg.cfg/1",
        plan: None,
        dry_run: args.dry_run,
        diff: None,
        applied: None,
        reverted: None,
        live: None,
        notes: Vec::new(),
    };

    if args.revert {
        let path = args.cfg.clone().context("--revert needs --cfg FILE")?;
        let reverted = cfg::revert(&path, &defines)?;
        if !args.json {
            for r in &reverted {
                if r.restored {
                    println!(
                        "restored: {} (first original, byte for byte)",
                        r.file.display()
                    );
                } else {
                    println!("nothing to restore: {} (no backup)", r.file.display());
                }
            }
        }
        report.reverted = Some(reverted);
        return finish(args, report);
    }

    let goals = Goals {
        memlog: args.memlog,
        memdbg: args.memdbg,
        summary: args
            .summary
            .as_deref()
            .map(policy::parse_summary)
            .transpose()?,
    };

    if let Some(path) = &args.cfg {
        let mut opts = Options {
            defines: defines.clone(),
            goals: goals.clone(),
            binary: args.binary.binary.clone(),
            debug_override: None,
        };
        let services = argv::running_services(path);
        if let Some(s) = services.first() {
            for d in &s.facts.defines {
                if !opts.defines.iter().any(|x| x.name == d.name) {
                    opts.defines.push(d.clone());
                }
            }
            opts.debug_override = s.facts.debug.clone();
            notes.push(format!(
                "a kamailio runs with this cfg (PID {}): its defines{} are used",
                s.pid,
                if s.facts.defines.is_empty() {
                    " (none)".to_string()
                } else {
                    format!(
                        " -A {}",
                        s.facts
                            .defines
                            .iter()
                            .map(Define::as_arg)
                            .collect::<Vec<_>>()
                            .join(" -A ")
                    )
                }
            ));
            if s.facts.log_stderr {
                notes.push("it runs with -E: its logs (and dumps) go to stderr".into());
            }
        }
        let plan = cfg::plan(path, &opts)?;
        if !args.json {
            print_plan(&plan);
        }
        if args.dry_run {
            let diff = plan.diff();
            if !args.json {
                if plan.changed() {
                    println!("\n{diff}");
                }
                println!("dry run: nothing written (kamailio -c runs when you apply)");
            }
            report.diff = Some(diff);
        } else {
            let applied = cfg::apply(&plan)?;
            if !args.json {
                print_applied(&plan, &applied);
            }
            report.applied = Some(applied);
        }
        report.plan = Some(plan);
    }

    if args.live {
        let k = Kamcmd::new(args.ctl.as_deref())?;
        let lr = live::apply_live(&k, &goals, args.dry_run)?;
        if !args.json {
            print_live(&lr);
        }
        report.live = Some(lr);
    }
    if !args.json {
        for n in &notes {
            println!("note: {n}");
        }
    }
    report.notes = notes;
    finish(args, report)
}

fn finish(args: &CfgArgs, report: CfgReport) -> Result<ExitStatus> {
    if args.json {
        crate::commands::print_json(&report)?;
    }
    Ok(0)
}

fn print_plan(plan: &Plan) {
    let mut head = format!("{}", plan.cfg.display());
    if let Some(v) = &plan.kamailio_version {
        head.push_str(&format!(" (kamailio {v}"));
    } else {
        head.push_str(" (kamailio version unknown");
    }
    if plan.defines.is_empty() {
        head.push_str(", no defines)");
    } else {
        let d: Vec<String> = plan.defines.iter().map(Define::as_arg).collect();
        head.push_str(&format!(", defines: {})", d.join(" ")));
    }
    println!("{head}");
    for e in &plan.before {
        let value = e.value.to_string();
        let place = match &e.set_at {
            Some(at) => {
                let mut s = at.clone();
                if !e.via.is_empty() {
                    s.push_str(&format!(
                        " {}={} via {}",
                        e.param.name(),
                        e.written.as_deref().unwrap_or(""),
                        e.via.join(" -> ")
                    ));
                }
                s
            }
            None => "not set, built-in default applies".into(),
        };
        println!("  {:<13} {:<11} {place}", e.param.name(), value);
    }
    if let Some(o) = &plan.debug_override {
        println!("  (the service's command line sets {o})");
    }
    let stderr = plan
        .after
        .iter()
        .find(|e| e.param == Param::LogStderror)
        .and_then(|e| e.value.as_int())
        .unwrap_or(0);
    let facility = plan
        .after
        .iter()
        .find(|e| e.param == Param::LogFacility)
        .map(|e| e.value.to_string())
        .unwrap_or_default();
    if stderr == 0 {
        println!("  dumps go to syslog, facility {facility} (stderr when kamailio runs with -E)");
    } else {
        println!("  dumps go to stderr (log_stderror)");
    }
    if plan.changed() {
        println!("changes:");
        for c in &plan.changes {
            println!("  {}", c.text);
        }
    }
    if !plan.kept.is_empty() {
        println!("already right:");
        for k in &plan.kept {
            println!("  {k}");
        }
    }
    for w in &plan.warnings {
        println!("warning: {w}");
    }
}

fn print_applied(plan: &Plan, a: &cfg::Applied) {
    if !a.changed {
        println!("already: nothing to change, nothing written");
        return;
    }
    if let Some(c) = &a.check {
        println!("checked: `{}` accepted the edited config", c.command);
    }
    for (w, b) in a.written.iter().zip(&a.backups) {
        println!(
            "written: {} (first original kept as {})",
            w.display(),
            b.display()
        );
    }
    println!("undo: kmemdbg cfg --cfg {} --revert", plan.cfg.display());
    println!(
        "next: restart kamailio to load it, or set it now without a restart: kmemdbg cfg --cfg {} --live",
        plan.cfg.display()
    );
}

fn print_live(lr: &live::LiveReport) {
    let pid = lr
        .main_pid
        .map(|p| format!(", main PID {p}"))
        .unwrap_or_default();
    println!("live ({}{pid}, debug {}):", lr.socket, lr.debug);
    for c in &lr.changes {
        println!(
            "  {} {} -> {} ({}){}",
            c.name,
            c.from,
            c.to,
            c.why,
            if lr.dry_run {
                " [dry run: not set]"
            } else {
                ""
            }
        );
        if let Some(w) = &c.warning {
            println!("  warning: {w}");
        }
    }
    for k in &lr.kept {
        println!("  already: {k}");
    }
    if !lr.dry_run && !lr.changes.is_empty() {
        println!("  set with cfg.set_now_int and read back with cfg.get; no restart. Lost at the next restart unless the cfg says the same.");
    }
}
