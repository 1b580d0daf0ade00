//! `kmemdbg build`: runs [`crate::build`], shows progress (a bar on a
//! terminal, a line every few seconds elsewhere, always on stderr) and
//! prints the result (text, or `--json` on stdout).

use crate::build::{self, BuildFailed, Event, Observer, Outcome, Request, Selection, Status};
use crate::cli::BuildArgs;
use crate::ExitStatus;
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// `build --json` schema `kmemdbg.build/1`: `{ "schema", "ok", ...Outcome }`
/// on a run that ended, `{ "schema", "ok": false, "status": "failed",
/// "failure": BuildFailed }` when a build step failed.
#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    ok: bool,
    #[serde(flatten)]
    outcome: &'a Outcome,
}

#[derive(Serialize)]
struct FailedReport<'a> {
    schema: &'static str,
    ok: bool,
    status: &'static str,
    failure: &'a BuildFailed,
}

pub fn run(args: &BuildArgs) -> Result<ExitStatus> {
    let modules = match (&args.modules, args.all_modules) {
        (Some(list), _) => {
            let names = build::parse_module_list(list);
            if names.is_empty() {
                bail!("--modules {list:?}: no module names (expected e.g. --modules ctl,sl,tm)");
            }
            Selection::List(names)
        }
        (None, true) => Selection::All,
        (None, false) => Selection::TreeDefault,
    };
    let jobs = match args.jobs {
        Some(0) => bail!("--jobs 0: give at least 1 (default: every core)"),
        Some(n) => n,
        None => build::default_jobs(),
    };
    let req = Request {
        source: args.source.clone(),
        jobs,
        modules,
        install: args.install,
        stage: None,
        prefix: args.prefix.clone(),
        log: args.log.clone(),
    };
    let mut shown = Shown::new(std::io::stderr().is_terminal());
    let result = build::run(&req, &mut shown);
    shown.finish();
    let outcome = match result {
        Ok(o) => o,
        Err(err) => {
            if args.json {
                if let Some(f) = err.downcast_ref::<BuildFailed>() {
                    crate::commands::print_json(&FailedReport {
                        schema: "kmemdbg.build/1",
                        ok: false,
                        status: "failed",
                        failure: f,
                    })?;
                    return Ok(2);
                }
            }
            return Err(err);
        }
    };
    let ok = outcome.status != Status::NotConverted && outcome.ready();
    if args.json {
        crate::commands::print_json(&Report {
            schema: "kmemdbg.build/1",
            ok,
            outcome: &outcome,
        })?;
    } else {
        print!("{}", render_text(&outcome));
    }
    Ok(if ok { 0 } else { 1 })
}

/// The human result: the verdict first, then the details.
pub fn render_text(o: &Outcome) -> String {
    let mut s = String::new();
    let binary = o.binary.display();
    match o.status {
        Status::NotConverted => {
            s.push_str(&format!(
                "NOT CONVERTED: nothing compiled: {}\n",
                o.reason.as_deref().unwrap_or("no memory-debug define")
            ));
        }
        _ => {
            let head = match (&o.verdict, o.status) {
                (Some(v), Status::UpToDate) if v.ready => format!(
                    "up to date: {binary} was built with memory debugging and nothing changed since; nothing compiled"
                ),
                (Some(v), _) if v.ready => format!("built: {binary}: {}", v.summary),
                (Some(v), _) => format!(
                    "NOT READY: the build finished but {binary} lacks memory debugging: {}",
                    v.summary
                ),
                (None, _) => format!("built: {binary}"),
            };
            s.push_str(&head);
            s.push('\n');
        }
    }
    s.push_str(&format!(
        "  source:   {} ({})\n",
        o.source.display(),
        match o.generation {
            crate::source::BuildSystem::Make => "make",
            crate::source::BuildSystem::Cmake => "cmake",
        }
    ));
    if let Some(b) = &o.build {
        s.push_str(&format!("  version:  {} {}\n", b.product, b.version));
    }
    if let Some(d) = &o.memdebug_define {
        s.push_str(&format!("  defines:  {d}\n"));
    }
    s.push_str(&format!(
        "  modules:  {}\n",
        if o.modules.is_empty() {
            "(none)".to_string()
        } else {
            o.modules.join(" ")
        }
    ));
    if o.status == Status::Built {
        let mut how = format!(
            "  compiled: {} files with {} jobs in {:.1} s",
            o.compiled, o.jobs, o.elapsed_s
        );
        if o.cleaned {
            how.push_str(" (cleaned first: no object from before the conversion survived)");
        }
        if o.resumed {
            how.push_str(" (continued an interrupted build)");
        }
        s.push_str(&how);
        s.push('\n');
    }
    if o.status != Status::NotConverted {
        s.push_str(&format!(
            "  run:      {binary} -L {} -f kamailio.cfg{}\n",
            o.modules_dir.display(),
            o.verdict
                .as_ref()
                .map(|v| v
                    .runtime_options
                    .iter()
                    .map(|x| format!(" {x}"))
                    .collect::<String>())
                .unwrap_or_default()
        ));
    }
    if let Some(i) = &o.installed {
        let state = match &o.installed_verdict {
            Some(v) if v.ready => "memory-debug ready".to_string(),
            Some(v) => format!("NOT READY: {}", v.summary),
            None => String::new(),
        };
        s.push_str(&format!("  installed: {} ({state})\n", i.display()));
    }
    s.push_str(&format!(
        "  log:      {}{}\n",
        o.log.display(),
        match (o.log_written, o.status) {
            (true, Status::UpToDate) => " (the last build's, with this run's install appended)",
            (true, _) => "",
            (false, _) => " (the last build's; this run wrote none)",
        }
    ));
    if let Some(v) = &o.verdict {
        s.push_str(&format!("  next: {}\n", v.next_step));
    }
    s
}

/// Progress on stderr: a bar on a terminal, else a line every few seconds.
struct Shown {
    bar: Option<ProgressBar>,
    tty: bool,
    started: Instant,
    last_line: Instant,
    compiling: bool,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

impl Shown {
    fn new(tty: bool) -> Shown {
        Shown {
            bar: None,
            tty,
            started: Instant::now(),
            last_line: Instant::now(),
            compiling: false,
        }
    }

    fn say(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// A long command line (a 250-module exclude list) cut for the screen;
/// the log has it whole.
fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(max_chars).collect();
    format!("{cut} ... (whole command in the log)")
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

impl Observer for Shown {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Step { what, command } => {
                self.finish();
                self.compiling = what.starts_with("compile");
                self.started = Instant::now();
                self.say(&format!("kmemdbg: {what}: {}", shorten(command, 160)));
                if self.tty && self.compiling {
                    let bar = ProgressBar::new(1000);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{bar:30}] {percent:>3}% {msg} elapsed {elapsed_precise} ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.enable_steady_tick(Duration::from_millis(200));
                    self.bar = Some(bar);
                }
            }
            Event::Note(text) => self.say(&format!("kmemdbg: {text}")),
            Event::Progress { compiled, fraction } => {
                if let Some(b) = &self.bar {
                    if let Some(f) = fraction {
                        b.set_position((f * 1000.0) as u64);
                    }
                    b.set_message(format!("{compiled} files compiled"));
                } else if self.compiling && self.last_line.elapsed() >= LINE_EVERY {
                    self.last_line = Instant::now();
                    let elapsed = self.started.elapsed();
                    let mut line = format!("kmemdbg: compiling: {compiled} files compiled");
                    if let Some(f) = fraction.filter(|f| *f > 0.0) {
                        let eta = elapsed.mul_f64((1.0 - f) / f);
                        line.push_str(&format!(
                            " (~{:.0}%), elapsed {}, ETA {}",
                            f * 100.0,
                            clock(elapsed),
                            clock(eta)
                        ));
                    } else {
                        line.push_str(&format!(", elapsed {}", clock(elapsed)));
                    }
                    eprintln!("{line}");
                }
            }
        }
    }
}
