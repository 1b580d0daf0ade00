//! `kmemdbg convert`: the one command (see [`crate::convert`]).

use crate::cli::ConvertArgs;
use crate::commands::guided::{
    confirm, options, render_outcome, render_plan, render_setup, target,
};
use crate::convert::{self, source_step, Report, Request, Step, StepStatus};
use crate::ExitStatus;
use anyhow::Result;
use serde::Serialize;

/// `convert --json`: schema `kmemdbg.convert/1` (fields are only ever added).
/// `changed`: with --check, something is pending; otherwise this run changed something.
#[derive(Serialize)]
struct ConvertJson<'a> {
    schema: &'static str,
    changed: bool,
    check: bool,
    ok: bool,
    interrupted: bool,
    steps: &'a [Step],
    #[serde(skip_serializing_if = "Option::is_none")]
    restart: Option<&'a crate::service::restart::Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    undo: Option<&'a str>,
    /// `--check` on a DBG_SR_MEMORY build that still needs changes: the
    /// route that needs none (`dump --mod-stats`), to take first.
    #[serde(skip_serializing_if = "Option::is_none")]
    log_free_route: Option<&'static str>,
}

fn render_steps(steps: &[Step]) -> String {
    let mut s = String::new();
    for st in steps {
        let mark = match st.status {
            StepStatus::Already => "already",
            StepStatus::Skipped => "skipped",
            StepStatus::Pending => "PENDING",
            StepStatus::Done => "DONE",
            StepStatus::Failed => "FAILED",
            StepStatus::NotRun => "not run",
        };
        s.push_str(&format!("  {:<8} {:<8} {}\n", st.name, mark, st.detail));
    }
    s
}

pub fn run(args: &ConvertArgs) -> Result<ExitStatus> {
    let req = Request {
        source: args.source.clone(),
        cfg: args.cfg.clone(),
        target: target(&args.target),
        modules: args.modules.clone(),
        install: args.install,
        prefix: args.prefix.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                std::env::current_dir()
                    .map(|d| d.join(p))
                    .unwrap_or_else(|_| p.clone())
            }
        }),
        restart: crate::service::restart::Options {
            expect_dumps: true,
            ..options(&args.guided)
        },
    };
    let prepared = convert::prepare(&req)?;
    let json = args.guided.json;
    if args.check {
        let pending = prepared.pending();
        let log_free_route = prepared.verdict.log_free_route.filter(|_| pending);
        if json {
            crate::commands::print_json(&ConvertJson {
                schema: "kmemdbg.convert/1",
                changed: pending,
                check: true,
                ok: true,
                interrupted: false,
                steps: &prepared.steps,
                restart: None,
                undo: None,
                log_free_route,
            })?;
        } else {
            print!("{}", render_steps(&prepared.steps));
            if let Some(route) = log_free_route {
                println!("before converting: this build has DBG_SR_MEMORY, so {route}");
            }
            println!(
                "{}",
                if pending {
                    "changes pending"
                } else {
                    "nothing to do: converted"
                }
            );
        }
        return Ok(if pending { 3 } else { 0 });
    }
    let undo = format!(
        "kmemdbg revert{}{}{}",
        match &args.cfg {
            Some(c) => format!(" --cfg {}", c.display()),
            None => String::new(),
        },
        match &args.source {
            Some(s) => format!(" --source {}", s.display()),
            None => String::new(),
        },
        match (&args.target.service, &args.target.pidfile) {
            (Some(s), _) => format!(" --service {s}"),
            (_, Some(p)) => format!(" --pidfile {}", p.display()),
            _ => String::new(),
        }
    );
    if !json {
        print!("{}", render_setup(&prepared.setup));
        println!(
            "  cfg:      {} ({})",
            prepared.cfg.display(),
            prepared.cfg_source
        );
        print!("{}", render_steps(&prepared.steps));
    }
    if !prepared.pending() {
        let report = Report {
            steps: prepared.steps.clone(),
            restart: None,
            interrupted: false,
            ok: true,
            undo: None,
        };
        return finish(&report, json, false);
    }
    if prepared.restart_reason.is_some() && !json {
        print!(
            "{}",
            render_plan(
                &prepared.setup,
                &prepared.run_plan.new_setup,
                &prepared.run_plan.settings,
                &prepared.file_changes(),
                req.restart.timeout
            )
        );
        if prepared.needs_source {
            println!(
                "  the start command runs the new build instead of {}: {}",
                prepared.setup.binary().display(),
                if req.install {
                    "the installed binary"
                } else {
                    "the binary built in the tree, with -L its modules directory"
                }
            );
        }
    }
    crate::service::restart::check_restartable(&prepared.setup)?;
    if !confirm(args.guided.yes, "Convert now?")? {
        println!("not converted; nothing changed");
        return Ok(1);
    }
    let mut events = |e: &str| {
        if !json {
            println!("- {e}");
        }
    };
    let source = source_step::Real {
        prefix: req.prefix.clone(),
    };
    let report = convert::execute(prepared, &req, &source, &undo, &mut events)?;
    finish(&report, json, true)
}

/// The steps this run did ("nothing" when none), and those it did not.
fn done_and_not(report: &Report) -> (String, String) {
    let names = |f: &dyn Fn(StepStatus) -> bool| {
        report
            .steps
            .iter()
            .filter(|s| f(s.status))
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let done = names(&|s| s == StepStatus::Done);
    let not = names(&|s| matches!(s, StepStatus::NotRun | StepStatus::Failed));
    (
        if done.is_empty() {
            "nothing".into()
        } else {
            done
        },
        not,
    )
}

fn finish(report: &Report, json: bool, ran: bool) -> Result<ExitStatus> {
    let code = if report.ok
        || (report.interrupted && !report.steps.iter().any(|s| s.status == StepStatus::Failed))
    {
        if report.interrupted {
            1
        } else {
            0
        }
    } else {
        match report.restart.as_ref() {
            Some(o) => crate::commands::guided::exit_for(o).max(1),
            None => 1,
        }
    };
    if json {
        crate::commands::print_json(&ConvertJson {
            schema: "kmemdbg.convert/1",
            changed: report.changed(),
            check: false,
            ok: report.ok,
            interrupted: report.interrupted,
            steps: &report.steps,
            restart: report.restart.as_ref(),
            undo: report.undo.as_deref(),
            log_free_route: None,
        })?;
        return Ok(code);
    }
    if ran {
        println!("steps:");
        print!("{}", render_steps(&report.steps));
    }
    if let Some(o) = &report.restart {
        print!("{}", render_outcome(o));
    }
    if report.interrupted {
        let (done, not) = done_and_not(report);
        println!(
            "INTERRUPTED. done: {}; not done: {}",
            done,
            if not.is_empty() {
                "nothing".into()
            } else {
                not
            }
        );
        println!(
            "run the same command again to complete the conversion, or undo with: {}",
            report
                .undo
                .clone()
                .unwrap_or_else(|| "kmemdbg revert".into())
        );
    } else if report.ok {
        if report.changed() {
            println!("converted. Dumps: kamcmd -s CTL cfg.set_now_int core mem_dump_shm 1 (shm), cfg.set_now_int core mem_dump_pkg PID (one process); they appear in kamailio's log (memlog <= debug).");
            if let Some(u) = &report.undo {
                println!("undo: {u}");
            }
        } else {
            println!("nothing to do: already converted");
        }
    } else {
        let (done, not) = done_and_not(report);
        println!("FAILED. done: {done}; not done: {not}");
        if let Some(u) = &report.undo {
            println!("undo what was done: {u}");
        }
    }
    Ok(code)
}
