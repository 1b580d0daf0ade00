//! `kmemdbg hunt`'s capability: which kind of traffic makes the proxy's
//! memory grow. For each class in turn ([`classes`]): snapshot shared
//! memory ([`snap`]), send N requests with sipp ([`drive`]), snapshot again
//! (the peak), wait for the proxy's timers and expiries (`--settle`, ended
//! early once memory is back to where it was), snapshot a third time, and
//! rank the growth ([`verdict`]). The third snapshot is the next class's
//! first. Bounds and the target check come first ([`plan`]).
//!
//! It sends traffic only to the target it was given, leaves the proxy's
//! settings as they were (only capture's summary dump switches
//! `mem_summary`, and its guard puts it back; `mem_summary` and `memlog` are
//! read before and after, to show it), stops at a Ctrl-C (sipp with it), at the time
//! budget, or when the proxy stops answering SIP OPTIONS, and says which.
//! Never prints (progress goes to the caller as [`Event`]s).

pub mod classes;
pub mod drive;
pub mod plan;
pub mod snap;
pub mod verdict;

use crate::kamcmd::Kamcmd;
use anyhow::{Context, Result};
use classes::Class;
use serde::Serialize;
use snap::Route;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use verdict::{SiteGrowth, Tally};

/// Everything a hunt needs, checked.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: SocketAddr,
    /// The local address sipp sends from (`None` for a remote target).
    pub local_ip: Option<IpAddr>,
    pub ctl: String,
    pub classes: Vec<Class>,
    pub bounds: plan::Bounds,
    /// Route for the first snapshot; a dump route falls back to
    /// `mod.stats` when the first dump does not arrive.
    pub route: Route,
}

/// How long tm keeps a finished transaction (its wait timer, 5 s by default).
pub const TM_WAIT: Duration = Duration::from_secs(5);

/// How many sites per class the plot follows.
pub const PLOT_SITES: usize = 6;

/// One class's result.
#[derive(Debug, Clone, Serialize)]
pub struct ClassResult {
    pub class: String,
    pub about: String,
    /// Requests sent (sipp's count of calls created, else `--requests`).
    pub requests: u64,
    pub answered: Option<u64>,
    pub failed: Option<u64>,
    pub growth: Vec<SiteGrowth>,
    /// Seconds from the first snapshot to the peak and to the last one.
    pub peak_s: f64,
    pub end_s: f64,
    /// Memory was back before the settle time ran out.
    pub settled_early: bool,
    /// For the plot: (site, bytes above the first snapshot at 0, peak, end).
    #[serde(skip)]
    pub trace: Vec<(String, [i64; 3])>,
}

/// Why a hunt stopped before its last class.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Stop {
    /// Ctrl-C or SIGTERM.
    Interrupted { during: String },
    /// The proxy did not answer SIP OPTIONS after this class.
    NotAnswering { after: String },
    /// `--max-time` would be exceeded by the next class.
    OutOfTime { before: String },
    /// Something failed (a snapshot, sipp).
    Failed { during: String, error: String },
}

/// The whole hunt.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub target: String,
    /// `summary dump`, `status dump` (fragment counts) or `mod.stats` (bytes only).
    pub route: &'static str,
    pub counts: bool,
    pub classes: Vec<ClassResult>,
    /// Classes not run (stopped or out of time).
    pub not_run: Vec<String>,
    pub stop: Option<Stop>,
    /// The proxy answered SIP OPTIONS at the end.
    pub answering: bool,
    /// `mem_summary` and `memlog` before and after (None: unreadable).
    pub settings_before: Option<(i64, i64)>,
    pub settings_after: Option<(i64, i64)>,
    pub notes: Vec<String>,
}

/// Progress, for the caller to show.
#[derive(Debug)]
pub enum Event<'a> {
    Snapshot {
        class: &'a str,
        which: &'a str,
    },
    Driving {
        class: &'a str,
        requests: u32,
        rate: u32,
    },
    Settling {
        class: &'a str,
        up_to: Duration,
    },
    Done {
        result: &'a ClassResult,
    },
    Note(&'a str),
}

/// Runs the hunt. Errors only before the first class (the proxy cannot be
/// read at all); later failures end the hunt with a [`Stop`].
pub fn run(opts: &Options, on_event: &mut dyn FnMut(Event<'_>)) -> Result<Outcome> {
    crate::interrupt::arm();
    let start = Instant::now();
    let kamcmd = Kamcmd::new(Some(&opts.ctl))?;
    kamcmd.methods().with_context(|| {
        format!(
            "cannot talk to the proxy over {}: give its ctl socket with --ctl",
            kamcmd.socket
        )
    })?;
    let settings_before = settings(&kamcmd);
    let mut notes = Vec::new();
    let mut route = opts.route.clone();
    let first_class = opts.classes.first().map_or("", |c| c.name.as_str());
    on_event(Event::Snapshot {
        class: first_class,
        which: "before",
    });
    let mut before = match snap::take(&route, &kamcmd) {
        Ok(t) => t,
        Err(_) if crate::interrupt::requested() => {
            return Ok(Outcome {
                target: opts.target.to_string(),
                route: route.name(),
                counts: false,
                classes: Vec::new(),
                not_run: opts.classes.iter().map(|c| c.name.clone()).collect(),
                stop: Some(Stop::Interrupted {
                    during: "the first snapshot".into(),
                }),
                answering: answers(opts.target),
                settings_before,
                settings_after: settings(&kamcmd),
                notes,
            })
        }
        Err(e) if route.has_counts() => {
            let n = format!(
                "no dump from the log ({e:#}); using mod.stats instead: bytes per module: function(line), no fragment counts"
            );
            on_event(Event::Note(&n));
            notes.push(n);
            route = Route::ModStats;
            snap::take(&route, &kamcmd)?
        }
        Err(e) => return Err(e),
    };
    if opts.bounds.settle < TM_WAIT {
        notes.push(format!(
            "--settle {}s is shorter than tm's wait timer (about {}s): finished transactions \
             still held then are listed as leak candidates",
            opts.bounds.settle.as_secs(),
            TM_WAIT.as_secs()
        ));
    }
    if route.has_counts() {
        notes.push(snap::ARTEFACT_NOTE.to_string());
    }
    if !route.has_counts() && !notes.iter().any(|n| n.contains("mod.stats")) {
        notes.push(
            "snapshots by mod.stats (no log given): bytes per module: function(line), no fragment counts; \
             give --log, --journal or --stderr for counts per allocation site"
                .to_string(),
        );
    }
    let mut results = Vec::new();
    let mut stop = None;
    let mut not_run = Vec::new();
    for (i, class) in opts.classes.iter().enumerate() {
        if stop.is_some() {
            not_run.push(class.name.clone());
            continue;
        }
        let remaining = opts.bounds.max_time.saturating_sub(start.elapsed());
        if remaining < opts.bounds.class_time() {
            stop = Some(Stop::OutOfTime {
                before: class.name.clone(),
            });
            not_run.push(class.name.clone());
            continue;
        }
        let step = run_class(opts, &route, &kamcmd, class, &before, remaining, on_event);
        match step {
            Ok((result, after)) => {
                on_event(Event::Done { result: &result });
                results.push(result);
                before = after;
                if crate::interrupt::requested() {
                    stop = Some(Stop::Interrupted {
                        during: format!("class {}", class.name),
                    });
                } else if !answers(opts.target) {
                    stop = Some(Stop::NotAnswering {
                        after: class.name.clone(),
                    });
                }
            }
            Err(e)
                if e.downcast_ref::<crate::runner::Interrupted>().is_some()
                    || crate::interrupt::requested() =>
            {
                stop = Some(Stop::Interrupted {
                    during: format!("class {}", class.name),
                });
            }
            Err(e) => {
                stop = Some(if answers(opts.target) {
                    Stop::Failed {
                        during: class.name.clone(),
                        error: format!("{e:#}"),
                    }
                } else {
                    Stop::NotAnswering {
                        after: opts.classes[..i]
                            .last()
                            .map_or_else(|| "(before the first class)".into(), |c| c.name.clone()),
                    }
                });
            }
        }
    }
    let answering = answers(opts.target);
    Ok(Outcome {
        target: opts.target.to_string(),
        route: if before.kind.is_empty() {
            route.name()
        } else {
            before.kind
        },
        counts: before.sites.values().any(|c| c.count.is_some()),
        classes: results,
        not_run,
        stop,
        answering,
        settings_before,
        settings_after: settings(&kamcmd),
        notes,
    })
}

/// One class: traffic, peak snapshot, settle, last snapshot.
fn run_class(
    opts: &Options,
    route: &Route,
    kamcmd: &Kamcmd,
    class: &Class,
    before: &Tally,
    remaining: Duration,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(ClassResult, Tally)> {
    let t0 = Instant::now();
    let base_in_use = snap::shm_in_use(kamcmd).ok();
    on_event(Event::Driving {
        class: &class.name,
        requests: opts.bounds.requests,
        rate: opts.bounds.rate,
    });
    let sipp_time = remaining
        .saturating_sub(opts.bounds.settle + plan::OVERHEAD_PER_CLASS)
        .max(opts.bounds.drive_time() + Duration::from_secs(10));
    let driven = drive::run(&drive::Drive {
        scenario: &class.scenario,
        target: opts.target,
        local_ip: opts.local_ip,
        requests: opts.bounds.requests,
        rate: opts.bounds.rate,
        expires_s: opts.bounds.expires_s(),
        timeout: sipp_time,
    })?;
    on_event(Event::Snapshot {
        class: &class.name,
        which: "peak",
    });
    let peak = snap::take(route, kamcmd)?;
    let peak_s = t0.elapsed().as_secs_f64();
    on_event(Event::Settling {
        class: &class.name,
        up_to: opts.bounds.settle,
    });
    let settled_early = settle(kamcmd, base_in_use, opts.bounds.settle);
    on_event(Event::Snapshot {
        class: &class.name,
        which: "after settle",
    });
    let after = snap::take(route, kamcmd)?;
    let end_s = t0.elapsed().as_secs_f64();
    let requests = driven
        .stats
        .created
        .unwrap_or(u64::from(opts.bounds.requests));
    let growth = verdict::judge(before, &peak, &after, requests);
    let trace = growth
        .iter()
        .take(PLOT_SITES)
        .map(|g| {
            let b = before.get(&g.site).bytes;
            let d = |t: &Tally| {
                i64::try_from(i128::from(t.get(&g.site).bytes) - i128::from(b)).unwrap_or(0)
            };
            (g.site.clone(), [0, d(&peak), d(&after)])
        })
        .collect();
    Ok((
        ClassResult {
            class: class.name.clone(),
            about: class.about.to_string(),
            requests,
            answered: driven.stats.successful,
            failed: driven.stats.failed,
            growth,
            peak_s,
            end_s,
            settled_early,
            trace,
        },
        after,
    ))
}

/// Waits up to `settle`, ending early once shared memory in use is back at
/// `base` (or below). Returns true when it ended early. A Ctrl-C ends it.
fn settle(kamcmd: &Kamcmd, base: Option<u64>, settle: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < settle {
        if crate::interrupt::requested() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(500).min(settle));
        if let (Some(b), Ok(now)) = (base, snap::shm_in_use(kamcmd)) {
            if now <= b {
                return true;
            }
        }
    }
    false
}

/// The proxy answers a SIP OPTIONS (any reply) within 2 s.
pub fn answers(target: SocketAddr) -> bool {
    crate::sip::options(target, Duration::from_secs(2)).is_ok()
}

fn settings(k: &Kamcmd) -> Option<(i64, i64)> {
    Some((
        k.cfg_get_int("core", "mem_summary").ok()?,
        k.cfg_get_int("core", "memlog").ok()?,
    ))
}
