//! `kmemdbg hunt`: turns the command line into a checked [`hunt::Options`],
//! runs the hunt, and prints the ranked growth per class (text or
//! `kmemdbg.hunt/1` JSON), and the `--plot` chart.

use crate::capture::source::SourceInfo;
use crate::cli::HuntArgs;
use crate::hunt::{self, classes, plan, snap::Route, ClassResult, Event, Outcome, Stop};
use crate::report::chart_svg;
use crate::units::{human_bytes, human_delta};
use crate::ExitStatus;
use anyhow::{Context, Result};
use serde::Serialize;

/// `hunt --json` (schema `kmemdbg.hunt/1`; fields are only ever added):
/// `{"schema", "target", "classes": [{"class", "requests",
///   "growth": [{"site", "count", "bytes", "per_request", "held"}]}]}`;
/// `count` is null when the snapshots have no counts (mod.stats route).
#[derive(Serialize)]
pub struct HuntReport<'a> {
    pub schema: &'static str,
    pub target: &'a str,
    pub classes: Vec<ClassReport<'a>>,
}

#[derive(Serialize)]
pub struct ClassReport<'a> {
    pub class: &'a str,
    pub requests: u64,
    pub growth: &'a [hunt::verdict::SiteGrowth],
}

pub fn run(args: &HuntArgs) -> Result<ExitStatus> {
    let opts = options(args)?;
    let json = args.json;
    let outcome = hunt::run(&opts, &mut |e| progress(&e))?;
    if let Some(path) = &args.plot {
        let svg = chart_svg::render(&chart_of(&outcome));
        crate::fsx::create(path, svg.as_bytes(), 0o644)
            .with_context(|| format!("cannot write the chart {}", path.display()))?;
        eprintln!("kmemdbg: wrote the chart {}", path.display());
    }
    if json {
        crate::commands::print_json(&HuntReport {
            schema: "kmemdbg.hunt/1",
            target: &outcome.target,
            classes: outcome
                .classes
                .iter()
                .map(|c| ClassReport {
                    class: &c.class,
                    requests: c.requests,
                    growth: &c.growth,
                })
                .collect(),
        })?;
    } else {
        print!("{}", render_text(&outcome));
    }
    Ok(if outcome.stop.is_none() && outcome.answering {
        0
    } else {
        1
    })
}

/// Checks the command line and reads the user's scenario files.
fn options(args: &HuntArgs) -> Result<hunt::Options> {
    let bounds = plan::Bounds {
        requests: args.requests,
        rate: args.rate,
        settle: args.settle,
        max_time: args.max_time,
    };
    bounds.check()?;
    let target = plan::resolve(&args.target)?;
    let own = plan::is_own_address(target.ip());
    plan::check_target(target, own, args.allow_remote)?;
    let mut list = Vec::new();
    for entry in classes::parse_list(&args.classes)? {
        list.push(match entry {
            classes::Entry::Builtin(name) => {
                classes::builtin(&name).with_context(|| format!("no class {name}"))?
            }
            classes::Entry::File(path) => {
                let text = crate::fsx::read_text(std::path::Path::new(&path))?;
                classes::Class::user(&path, &text)?
            }
        });
    }
    let source = if let Some(p) = &args.stderr {
        Some(SourceInfo::Stderr { path: p.clone() })
    } else if let Some(u) = &args.journal {
        Some(SourceInfo::Journal { unit: u.clone() })
    } else {
        args.log
            .as_ref()
            .map(|p| SourceInfo::Syslog { path: p.clone() })
    };
    let route = match source {
        Some(source) => Route::Dump {
            source,
            timeout: args.dump_timeout,
        },
        None => Route::ModStats,
    };
    let fit = bounds.classes_that_fit(list.len());
    if fit < list.len() {
        eprintln!(
            "kmemdbg: --max-time {}s fits {fit} of the {} classes (each needs about {}s: \
             sending, --settle, snapshots); the rest will not run",
            args.max_time.as_secs(),
            list.len(),
            bounds.class_time().as_secs()
        );
    }
    Ok(hunt::Options {
        target,
        local_ip: own.then_some(target.ip()),
        ctl: args.ctl.clone(),
        classes: list,
        bounds,
        route,
    })
}

/// Progress on stderr (the report goes to stdout).
fn progress(e: &Event<'_>) {
    match e {
        Event::Snapshot { class, which } => {
            eprintln!("kmemdbg: {class}: snapshot ({which})")
        }
        Event::Driving {
            class,
            requests,
            rate,
        } => eprintln!("kmemdbg: {class}: sending {requests} requests at {rate}/s with sipp"),
        Event::Settling { class, up_to } => eprintln!(
            "kmemdbg: {class}: waiting up to {}s for timers and expiries",
            up_to.as_secs()
        ),
        Event::Done { result } => eprintln!(
            "kmemdbg: {}: {} requests{}; {} site(s) grew, {} leak candidate(s)",
            result.class,
            result.requests,
            match (result.answered, result.failed) {
                (Some(a), Some(f)) => format!(" ({a} completed, {f} failed)"),
                _ => String::new(),
            },
            result.growth.len(),
            result.growth.iter().filter(|g| !g.held).count()
        ),
        Event::Note(n) => eprintln!("kmemdbg: {n}"),
    }
}

/// Sites listed per class in the text report.
const TEXT_SITES: usize = 10;

/// The human report: per class, leak candidates then held sites, ranked.
pub fn render_text(o: &Outcome) -> String {
    let mut s = format!(
        "kmemdbg hunt {}: snapshots by {}{}\n",
        o.target,
        o.route,
        if o.counts {
            " (fragment counts and bytes per site)"
        } else {
            " (bytes per allocation site only: no fragment counts)"
        }
    );
    for n in &o.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    for c in &o.classes {
        s.push('\n');
        s.push_str(&class_text(c, o.counts));
    }
    s.push('\n');
    let ranked = ranking(o);
    if ranked.is_empty() {
        s.push_str("no leak candidate: nothing grew that did not go back\n");
    } else {
        s.push_str("leak candidates, most bytes per request first:\n");
        for (class, g) in ranked.iter().take(TEXT_SITES) {
            s.push_str(&format!(
                "  {:>10}/request  {:<12} {}\n",
                per_request(g.per_request),
                class,
                g.site
            ));
        }
    }
    match &o.stop {
        None => {}
        Some(Stop::Interrupted { during }) => {
            s.push_str(&format!("stopped by a signal during {during}\n"))
        }
        Some(Stop::NotAnswering { after }) => s.push_str(&format!(
            "THE PROXY STOPPED ANSWERING SIP OPTIONS after class {after}\n"
        )),
        Some(Stop::OutOfTime { before }) => s.push_str(&format!(
            "--max-time reached: stopped before class {before}\n"
        )),
        Some(Stop::Failed { during, error }) => {
            s.push_str(&format!("stopped: class {during} failed: {error}\n"))
        }
    }
    if !o.not_run.is_empty() {
        s.push_str(&format!("not run: {}\n", o.not_run.join(", ")));
    }
    if !matches!(o.stop, Some(Stop::NotAnswering { .. })) {
        s.push_str(if o.answering {
            "the proxy answers SIP OPTIONS at the end\n"
        } else {
            "THE PROXY DOES NOT ANSWER SIP OPTIONS at the end\n"
        });
    }
    match (o.settings_before, o.settings_after) {
        (Some(b), Some(a)) if a == b => s.push_str(&format!(
            "proxy settings as they were: mem_summary {}, memlog {}\n",
            b.0, b.1
        )),
        (Some(b), Some(a)) => s.push_str(&format!(
            "proxy settings CHANGED during the run: mem_summary {} -> {}, memlog {} -> {}\n",
            b.0, a.0, b.1, a.1
        )),
        _ => {}
    }
    s
}

fn class_text(c: &ClassResult, counts: bool) -> String {
    let answered = match (c.answered, c.failed) {
        (Some(a), Some(f)) => format!(", {a} completed, {f} failed"),
        _ => String::new(),
    };
    let mut s = format!(
        "== {}: {} requests{answered} ({})\n",
        c.class, c.requests, c.about
    );
    s.push_str(&format!(
        "   peak {:.0}s after the first snapshot, last at {:.0}s{}\n",
        c.peak_s,
        c.end_s,
        if c.settled_early {
            " (memory was back before --settle ran out)"
        } else {
            ""
        }
    ));
    if c.growth.is_empty() {
        s.push_str("   nothing grew\n");
        return s;
    }
    if counts {
        s.push_str("   verdict      fragments        bytes   per request  site\n");
    } else {
        s.push_str("   verdict           bytes   per request  site\n");
    }
    for g in c.growth.iter().take(TEXT_SITES) {
        let verdict = if g.held { "held" } else { "LEAK?" };
        let bytes = human_delta(g.bytes as f64);
        if counts {
            let count = g.count.map_or("-".into(), |n| format!("{n:+}"));
            s.push_str(&format!(
                "   {verdict:<9} {count:>12} {bytes:>12} {:>13}  {}\n",
                per_request(g.per_request),
                g.site
            ));
        } else {
            s.push_str(&format!(
                "   {verdict:<9} {bytes:>12} {:>13}  {}\n",
                per_request(g.per_request),
                g.site
            ));
        }
    }
    if c.growth.len() > TEXT_SITES {
        s.push_str(&format!(
            "   ({} more; --json lists all)\n",
            c.growth.len() - TEXT_SITES
        ));
    }
    s
}

fn per_request(v: f64) -> String {
    if v.abs() >= 1024.0 {
        human_bytes(v)
    } else {
        format!("{v:.1} B")
    }
}

/// Leak candidates of every class, most bytes per request first.
fn ranking(o: &Outcome) -> Vec<(&str, &hunt::verdict::SiteGrowth)> {
    let mut all: Vec<(&str, &hunt::verdict::SiteGrowth)> = o
        .classes
        .iter()
        .flat_map(|c| {
            c.growth
                .iter()
                .filter(|g| !g.held)
                .map(move |g| (c.class.as_str(), g))
        })
        .collect();
    all.sort_by(|a, b| b.1.per_request.total_cmp(&a.1.per_request));
    all
}

/// One panel per class: bytes above the class's first snapshot of its top
/// sites, at the first snapshot, the peak and the end.
pub fn chart_of(o: &Outcome) -> chart_svg::Chart {
    chart_svg::Chart {
        title: format!("kmemdbg hunt {}: memory growth per traffic class", o.target),
        subtitle: format!(
            "bytes above each class's first snapshot (snapshots by {}): at the start, right after the traffic, after the settle time",
            o.route
        ),
        panels: o
            .classes
            .iter()
            .map(|c| chart_svg::Panel {
                title: format!(
                    "{}: {} requests{}",
                    c.class,
                    c.requests,
                    if c.growth.is_empty() {
                        ", nothing grew"
                    } else {
                        ""
                    }
                ),
                lines: c
                    .trace
                    .iter()
                    .map(|(site, b)| {
                        let held = c.growth.iter().any(|g| &g.site == site && g.held);
                        chart_svg::Line {
                            label: format!("{}{site}", if held { "(held) " } else { "" }),
                            points: vec![
                                (0.0, b[0] as f64),
                                (c.peak_s, b[1] as f64),
                                (c.end_s, b[2] as f64),
                            ],
                        }
                    })
                    .collect(),
            })
            .collect(),
        markers: Vec::new(),
    }
}
