//! `kmemdbg dump`'s capability: make a running proxy print its memory and
//! collect exactly those lines.
//!
//! The order is fixed: remember where the log ends ([`source`]), trigger
//! ([`trigger`]: the shm dump, then each pkg dump one process at a time,
//! because every process reads the *latest* `mem_dump_pkg` value when it
//! catches up; then SIGUSR1), and read the log from that point, keeping the
//! lines of the requested dumps ([`blocks`]) until each one's end marker or
//! the timeout. What did not answer gets its likely causes ([`explain`]).
//!
//! This module never prints (it reports [`Event`]s to the caller), never
//! writes a file (kept lines go to the writer it is given), and changes
//! nothing on the proxy but the two dump-trigger values.

pub mod blocks;
pub mod budget;
pub mod explain;
pub mod loss;
pub mod route;
mod session;
pub mod source;
#[cfg(test)]
mod tests;
pub mod trigger;

use crate::kamcmd::{Kamcmd, Process};
use crate::mem::Pool;
use anyhow::{bail, Context, Result};
use blocks::{Block, Scanner, State};
use explain::{Evidence, Method, Settings};
use serde::Serialize;
use source::{Follower, SourceInfo, SourceStats};
use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Which processes' pkg memory to dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkgSelection {
    None,
    /// Every process that reads cfg changes (all but the main process).
    All,
    Pids(Vec<u32>),
}

/// What to dump and where to read it.
#[derive(Debug, Clone)]
pub struct Options {
    pub pkg: PkgSelection,
    pub shm: bool,
    pub signal: bool,
    /// ctl socket (`unix:/path`, a bare path, `udp:host:port`); `None` means
    /// Debian's default.
    pub ctl: Option<String>,
    /// Where the main PID is read when `core.psx` is not available.
    pub pid_file: PathBuf,
    pub source: SourceInfo,
    /// A loopback listen address to send SIP OPTIONS to (wakes receivers).
    pub poke: Option<SocketAddr>,
    /// How long to wait for each requested dump.
    pub timeout: Duration,
    /// Take the shm fragment list even when the log cannot carry it.
    pub full: bool,
    /// Take the shm summary even when the list would fit.
    pub summary: bool,
}

/// One requested dump.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    /// `mem_dump_shm`: printed by the process that runs the RPC.
    Shm,
    /// `mem_dump_pkg PID`.
    Pkg { pid: u32, description: String },
    /// SIGUSR1 to the main process.
    Signal { pid: u32 },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Shm => write!(f, "shm"),
            Target::Pkg { pid, description } if description.is_empty() => {
                write!(f, "pkg of PID {pid}")
            }
            Target::Pkg { pid, description } => write!(f, "pkg of PID {pid} ({description})"),
            Target::Signal { pid } => write!(f, "SIGUSR1 dump of the main process (PID {pid})"),
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every expected block reached its end marker.
    Ok,
    /// Something was printed but not all of it (cut off, or only part of
    /// the expected blocks).
    Truncated,
    /// Nothing appeared.
    Missing,
    /// Part of it was dropped by the log (rate limit): see `lost_lines`.
    Lost,
    /// Not triggered: the settings say nothing would be printed.
    Skipped,
}

/// One requested dump and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub target: Target,
    /// Blocks the proxy's settings say it prints (`None`: unknown, 1 assumed).
    pub expected_blocks: Option<usize>,
    /// Indexes into [`Outcome::blocks`].
    pub blocks: Vec<usize>,
    pub status: Status,
    /// Likely causes when not `ok`, most likely first.
    pub causes: Vec<String>,
    /// SIP OPTIONS sent to wake it.
    pub pokes: u32,
    /// Seconds spent waiting for it.
    pub waited_s: f64,
    /// The trigger itself failed after the dump had started (e.g. the
    /// process printing it died and the RPC lost its peer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_error: Option<String>,
    /// Every line of it arrived.
    pub complete: bool,
    /// Lines the log dropped (when `status` is `lost`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_lines: Option<u64>,
    /// Who dropped them and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_cause: Option<String>,
    /// A summary asked for instead of the shm fragment list (mem_summary 12 + SIGUSR1).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub summary: bool,
    #[serde(skip)]
    triggered: bool,
    #[serde(skip)]
    exited: bool,
}

impl Request {
    fn new(target: Target, expected: Option<usize>) -> Request {
        Request {
            target,
            expected_blocks: expected,
            blocks: Vec::new(),
            status: Status::Missing,
            causes: Vec::new(),
            pokes: 0,
            waited_s: 0.0,
            trigger_error: None,
            complete: false,
            lost_lines: None,
            lost_cause: None,
            summary: false,
            triggered: false,
            exited: false,
        }
    }

    fn method(&self) -> Method {
        match self.target {
            Target::Shm => Method::RpcShm,
            Target::Pkg { .. } => Method::RpcPkg,
            Target::Signal { .. } => Method::Signal,
        }
    }

    /// The PID a pkg or signal request is about.
    pub fn pid(&self) -> Option<u32> {
        match self.target {
            Target::Shm => None,
            Target::Pkg { pid, .. } | Target::Signal { pid } => Some(pid),
        }
    }
}

/// Everything a capture found.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub source: SourceInfo,
    pub stats: SourceStats,
    pub settings: Settings,
    pub processes: Vec<Process>,
    pub requests: Vec<Request>,
    /// Every dump block seen after the trigger, kept or not.
    pub blocks: Vec<Block>,
    /// For each block, the request it answers (`None`: ignored, e.g. a
    /// second dump of a process that had already answered).
    pub owners: Vec<Option<usize>>,
    /// Lines written to the output.
    pub kept_lines: u64,
    /// Things the operator should know that are not failures.
    pub notes: Vec<String>,
    /// The shm dump chosen before triggering: lines expected vs the log's budget.
    pub choice: Option<budget::Choice>,
    /// Lines the log dropped, with the evidence.
    pub loss: loss::Loss,
    /// `mem_summary` could not be put back (the message says how).
    pub restore_error: Option<String>,
}

impl Outcome {
    /// True when every request that was triggered answered completely.
    pub fn all_ok(&self) -> bool {
        self.requests.iter().all(|r| matches!(r.status, Status::Ok))
    }

    /// Every triggered dump arrived whole (nothing lost or cut).
    pub fn complete(&self) -> bool {
        self.requests
            .iter()
            .all(|r| r.complete || r.status == Status::Skipped)
    }
}

/// Progress, for the caller to show.
#[derive(Debug)]
pub enum Event<'a> {
    /// Reading starts here.
    Following {
        source: &'a SourceInfo,
        offset: u64,
    },
    Triggered {
        target: &'a Target,
    },
    /// The shm dump chosen before triggering (said before, not after).
    Planned {
        choice: &'a budget::Choice,
    },
    Done {
        request: &'a Request,
    },
}

/// Runs a capture: triggers every requested dump and writes the lines of
/// the dumps that answered to `out`, in the order they were logged.
pub fn capture(
    opts: &Options,
    out: &mut dyn Write,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Outcome> {
    let wants_rpc = opts.shm || opts.pkg != PkgSelection::None;
    if !wants_rpc && !opts.signal {
        bail!("nothing to dump: give --shm, --pkg PID|all or --signal");
    }
    // RPC: needed for --shm/--pkg; for --signal alone it only adds the
    // process list and the settings.
    let kamcmd = match Kamcmd::new(opts.ctl.as_deref()) {
        Ok(k) => Some(k),
        Err(e) if wants_rpc => return Err(e),
        Err(_) => None,
    };
    let (processes, rpc_error) = match &kamcmd {
        Some(k) => match k.processes() {
            Ok(p) => (Some(p), None),
            Err(e) if wants_rpc => {
                return Err(e.context("cannot list the proxy's processes (core.psx)"))
            }
            Err(e) => (None, Some(format!("{e:#}"))),
        },
        None => (None, Some("no kamcmd".to_string())),
    };
    let settings = match (&kamcmd, &rpc_error) {
        (Some(k), None) => trigger::settings(k),
        (_, why) => Settings {
            unreadable: why.clone(),
            ..Settings::default()
        },
    };

    let (mut requests, mut notes) = plan(opts, processes.as_deref(), &settings)?;
    let mut settings = settings;
    let mut choice = None;
    let mut free_fragments = 0;
    if let (true, Some(k)) = (opts.shm, kamcmd.as_ref()) {
        if let Ok(c) = route::shm_counters(k) {
            free_fragments = c.free_fragments;
            let sites = route::shm_sites(k);
            let b = route::budget_of(&opts.source);
            let mut ch = budget::choose(
                budget::status_lines(&c),
                sites.map(budget::summary_lines),
                &b,
                opts.full,
            );
            if opts.summary && ch.shape == budget::Shape::Status {
                ch.shape = budget::Shape::Summary;
                ch.fits = ch.summary_lines.map_or(true, |l| ch.budget.fits(l));
                ch.why = format!("--summary: one line per allocation site ({})", ch.why);
            }
            if ch.shape == budget::Shape::Summary {
                let memlog_ok =
                    matches!((settings.memlog, settings.debug), (Some(m), Some(d)) if m <= d);
                if memlog_ok {
                    switch_to_summary(&mut requests, processes.as_deref(), opts, &mut settings)?;
                } else if opts.summary {
                    bail!(
                        "--summary: a summary is printed only when memlog <= debug (memlog={}, debug={}): `kamcmd cfg.set_now_int core memlog {}` first, or use --mod-stats (no log needed)",
                        show(settings.memlog),
                        show(settings.debug),
                        settings.debug.unwrap_or(1)
                    );
                } else {
                    notes.push(format!(
                        "the shm fragment list (about {} lines) will not fit ({}), and a summary needs memlog <= debug (memlog={}, debug={}): taking the list anyway. Routes that work: `kmemdbg dump --mod-stats` (no log, no change), or `kamcmd cfg.set_now_int core memlog {}` then dump again for a summary, or `kmemdbg gdb` on a build with symbols",
                        ch.status_lines,
                        ch.budget.sink,
                        show(settings.memlog),
                        show(settings.debug),
                        settings.debug.unwrap_or(1)
                    ));
                }
            }
            on_event(Event::Planned { choice: &ch });
            choice = Some(ch);
        }
    }
    let proxy_pids: Option<HashSet<u32>> = processes
        .as_ref()
        .map(|ps| ps.iter().map(|p| p.pid).collect());

    let follower = Follower::start(&opts.source)?;
    let unit = match &opts.source {
        SourceInfo::Journal { unit } => Some(loss::unit_name(unit)),
        _ => None,
    };
    on_event(Event::Following {
        source: &opts.source,
        offset: follower.stats().start_offset,
    });
    let mut s = Session {
        follower,
        scanner: Scanner::new(settings.short_status()),
        queue: VecDeque::new(),
        out,
        owners: Vec::new(),
        kept_lines: 0,
        lines_since_trigger: 0,
        proxy_pids,
        main_pid: trigger::main_pid(processes.as_deref(), &opts.pid_file).ok(),
        last_kept: None,
        poll_every: match opts.source {
            SourceInfo::Journal { .. } => Duration::from_millis(400),
            _ => Duration::from_millis(50),
        },
        loss: loss::Loss::default(),
        numbering: loss::Numbering::default(),
        unit,
        last_line_at: None,
        closed: false,
    };
    let started = Instant::now();
    let mut restore_error = None;

    let receivers = processes
        .as_ref()
        .map(|ps| ps.iter().filter(|p| p.is_receiver()).count())
        .unwrap_or(1)
        .max(1) as u32;
    for r in 0..requests.len() {
        if requests[r].expected_blocks == Some(0) {
            requests[r].status = Status::Skipped;
            continue;
        }
        // Owned blocks need `triggered`; lines can only follow the trigger anyway.
        requests[r].triggered = true;
        let mut guard = None;
        if requests[r].summary {
            guard = Some(trigger::MemSummaryGuard::set(
                rpc(&kamcmd)?,
                trigger::SUMMARY_BITS,
            )?);
            crate::interrupt::pause_hook("dump:summary-set");
            if crate::interrupt::requested() {
                bail!(
                    "interrupted (Ctrl-C) before the summary was asked for; mem_summary put back"
                );
            }
        }
        let fired = match &requests[r].target {
            Target::Shm => trigger::shm(rpc(&kamcmd)?),
            Target::Pkg { pid, .. } => trigger::pkg(rpc(&kamcmd)?, *pid),
            Target::Signal { pid } => trigger::sigusr1(*pid),
        };
        if let Err(e) = fired {
            // The shm dump runs inside the RPC: when the process printing it
            // dies, the RPC fails but half a dump is in the log. Look first.
            s.wait_for(
                &mut requests,
                r,
                opts.timeout.min(Duration::from_secs(2)),
                |_| {},
            )?;
            if requests[r].blocks.is_empty() {
                return Err(e);
            }
            requests[r].trigger_error = Some(format!("{e:#}"));
            requests[r].exited = true;
        }
        on_event(Event::Triggered {
            target: &requests[r].target,
        });
        let is_receiver = matches!(&requests[r].target,
            Target::Pkg { description, .. } if description.contains("receiver"));
        let max_pokes = 10 + 5 * receivers;
        let poke = opts.poke.filter(|_| is_receiver);
        s.wait_for(&mut requests, r, opts.timeout, |req| {
            if let Some(addr) = poke {
                if req.pokes < max_pokes {
                    req.pokes += 1;
                    // A failed poke only costs a try; the timeout bounds the wait.
                    let _ = trigger::poke(addr);
                }
            }
        })?;
        if let Some(mut g) = guard.take() {
            if let Err(e) = g.restore() {
                restore_error = Some(format!("{e:#}"));
            }
        }
        requests[r].status = if s.satisfied(&requests, r) {
            Status::Ok
        } else if requests[r].blocks.is_empty() {
            Status::Missing
        } else {
            Status::Truncated
        };
        on_event(Event::Done {
            request: &requests[r],
        });
    }
    // Lines already read may still finish a late dump.
    s.drain(&mut requests, None);
    if let (Some(ch), Some(k)) = (&choice, kamcmd.as_ref()) {
        let cut = (0..requests.len()).any(|i| {
            matches!(requests[i].target, Target::Shm)
                && requests[i].triggered
                && !s.satisfied(&requests, i)
        });
        if cut && !ch.fits {
            s.collect_journald_drops(k, ch, started, &mut requests, &mut notes)?;
        }
    }
    s.scanner.finish();
    s.out.flush().context("cannot write the captured dump")?;

    let blocks = s.scanner.blocks().to_vec();
    let stats = s.follower.stats().clone();
    let any_dump_seen = !blocks.is_empty();
    for r in requests.iter_mut() {
        if r.status == Status::Skipped || !r.triggered {
            r.causes = explain::causes(
                r.method(),
                &settings,
                &opts.source,
                &Evidence {
                    lines_since_trigger: s.lines_since_trigger,
                    any_dump_seen: true,
                    description: description_of(r),
                    timeout_s: opts.timeout.as_secs_f64(),
                    ..Evidence::default()
                },
            );
            continue;
        }
        let complete = r
            .blocks
            .iter()
            .filter(|&&i| blocks[i].state == State::Complete)
            .count();
        let cut = r
            .blocks
            .iter()
            .any(|&i| matches!(blocks[i].state, State::Truncated | State::Open));
        r.status = if complete >= r.expected_blocks.unwrap_or(1) && !cut {
            Status::Ok
        } else if r.blocks.is_empty() {
            Status::Missing
        } else {
            Status::Truncated
        };
        let holes = if matches!(r.target, Target::Shm) {
            s.numbering.holes(free_fragments)
        } else {
            0
        };
        let over_budget = matches!(r.target, Target::Shm)
            && choice
                .as_ref()
                .is_some_and(|c| !c.fits && c.shape == budget::Shape::Status);
        let quiet = !s.still_growing();
        if r.status != Status::Missing
            && (s.loss.any()
                || holes > 0
                || (r.status == Status::Truncated && over_budget && quiet))
        {
            let mut l = s.loss.clone();
            l.missing_fragments = l.missing_fragments.max(holes);
            r.status = Status::Lost;
            let estimate = choice.as_ref().map(|c| {
                c.status_lines
                    .saturating_sub(r.blocks.iter().map(|&i| blocks[i].lines as u64).sum())
            });
            r.lost_lines = Some(if l.lost_lines() > 0 {
                l.lost_lines()
            } else {
                estimate.unwrap_or(0)
            });
            r.lost_cause = Some(if l.any() {
                l.cause()
            } else {
                format!(
                    "the log's rate limit ({}): about {} lines expected, the dump stopped and the log went quiet; the log has not yet said how many it dropped",
                    choice.as_ref().map_or("unknown".into(), |c| c.budget.sink.clone()),
                    choice.as_ref().map_or(0, |c| c.status_lines)
                )
            });
        }
        r.complete = r.status == Status::Ok;
        if r.status != Status::Ok {
            let partial: Vec<&Block> = r
                .blocks
                .iter()
                .map(|&i| &blocks[i])
                .filter(|b| b.state != State::Complete)
                .collect();
            let poke_target = opts.poke.map(|a| a.to_string());
            r.causes = explain::causes(
                r.method(),
                &settings,
                &opts.source,
                &Evidence {
                    triggered: true,
                    lines_since_trigger: s.lines_since_trigger,
                    any_dump_seen,
                    description: description_of(r),
                    pokes: r.pokes,
                    poke_target,
                    exited: r.exited,
                    partial,
                    timeout_s: opts.timeout.as_secs_f64(),
                    still_growing: s.still_growing(),
                },
            );
            if let Some(c) = &r.lost_cause {
                r.causes.insert(0, format!("LOST: {c}"));
                if let Some(ch) = &choice {
                    r.causes.extend(ch.remedies.iter().cloned());
                }
            }
            if let Some(e) = &r.trigger_error {
                r.causes.push(format!(
                    "the trigger failed after the dump had started: {e}"
                ));
            }
        }
    }
    if restore_error.is_none() {
        restore_error = trigger::RESTORE_FAILED
            .lock()
            .ok()
            .and_then(|mut f| f.take());
    }
    Ok(Outcome {
        choice,
        loss: s.loss.clone(),
        restore_error,
        source: opts.source.clone(),
        stats,
        settings,
        processes: processes.unwrap_or_default(),
        requests,
        blocks,
        owners: s.owners,
        kept_lines: s.kept_lines,
        notes,
    })
}

fn show(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
}

/// Replaces the shm fragment list with a summary: SIGUSR1 to main with
/// `mem_summary` 12 (pkg and shm summaries), set and put back around it.
fn switch_to_summary(
    requests: &mut Vec<Request>,
    processes: Option<&[Process]>,
    opts: &Options,
    settings: &mut Settings,
) -> Result<()> {
    requests.retain(|r| !matches!(r.target, Target::Shm));
    settings.mem_summary = Some(trigger::SUMMARY_BITS);
    let expected = settings.expected_blocks(Method::Signal);
    if let Some(r) = requests
        .iter_mut()
        .find(|r| matches!(r.target, Target::Signal { .. }))
    {
        r.summary = true;
        r.expected_blocks = expected;
        return Ok(());
    }
    let pid = trigger::main_pid(processes, &opts.pid_file)?;
    let mut r = Request::new(Target::Signal { pid }, expected);
    r.summary = true;
    requests.insert(0, r);
    Ok(())
}

fn description_of(r: &Request) -> Option<&str> {
    match &r.target {
        Target::Pkg { description, .. } if !description.is_empty() => Some(description),
        _ => None,
    }
}

fn rpc(k: &Option<Kamcmd>) -> Result<&Kamcmd> {
    k.as_ref()
        .context("this dump needs the ctl socket (kamcmd): pass --ctl SOCKET")
}

/// The requests, in the order they are triggered: shm first (printed at
/// once), then pkg one process at a time (receivers and timers first,
/// processes that rarely wake last), then SIGUSR1.
pub fn plan(
    opts: &Options,
    processes: Option<&[Process]>,
    settings: &Settings,
) -> Result<(Vec<Request>, Vec<String>)> {
    let mut reqs = Vec::new();
    let mut notes = Vec::new();
    if opts.shm {
        reqs.push(Request::new(
            Target::Shm,
            settings.expected_blocks(Method::RpcShm),
        ));
    }
    let main = trigger::main_pid(processes, &opts.pid_file).ok();
    let pkg_expected = settings.expected_blocks(Method::RpcPkg);
    let describe = |pid: u32| {
        processes
            .and_then(|ps| ps.iter().find(|p| p.pid == pid))
            .map(|p| p.description.clone())
    };
    match &opts.pkg {
        PkgSelection::None => {}
        PkgSelection::All => {
            let mut ps: Vec<&Process> = processes
                .context("--pkg all needs the process list (core.psx over --ctl)")?
                .iter()
                .filter(|p| Some(p.pid) != main)
                .collect();
            ps.sort_by_key(|p| wake_rank(&p.description));
            for p in ps {
                reqs.push(Request::new(
                    Target::Pkg {
                        pid: p.pid,
                        description: p.description.clone(),
                    },
                    pkg_expected,
                ));
            }
            if let (Some(pid), false) = (main, opts.signal) {
                notes.push(format!(
                    "the main process (PID {pid}) is not in --pkg all: it reads cfg changes only after a signal; add --signal for its dump"
                ));
            }
        }
        PkgSelection::Pids(pids) => {
            for &pid in pids {
                let Some(description) = describe(pid) else {
                    let known: Vec<String> = processes
                        .unwrap_or_default()
                        .iter()
                        .map(|p| format!("{} ({})", p.pid, p.description))
                        .collect();
                    bail!(
                        "PID {pid} is not a process of this proxy; core.psx lists: {}",
                        known.join(", ")
                    );
                };
                let expected = if Some(pid) == main {
                    Some(0) // main reads cfg changes only after a signal
                } else {
                    pkg_expected
                };
                reqs.push(Request::new(Target::Pkg { pid, description }, expected));
            }
        }
    }
    if opts.signal {
        let pid = match main {
            Some(p) => p,
            None => trigger::main_pid(processes, &opts.pid_file)?,
        };
        reqs.push(Request::new(
            Target::Signal { pid },
            settings.expected_blocks(Method::Signal),
        ));
    }
    Ok((reqs, notes))
}

/// Processes that wake by themselves or on a poke first.
fn wake_rank(description: &str) -> u8 {
    let d = description.to_ascii_lowercase();
    if d.contains("receiver") && !d.contains("tcp") {
        0
    } else if d.contains("slow timer") {
        3
    } else if d.contains("timer") || d.contains("ctl") {
        1
    } else if d.contains("tcp") || d.contains("tls") {
        4
    } else {
        2
    }
}

/// Reading state shared by all the waits of one capture.
struct Session<'o> {
    follower: Follower,
    scanner: Scanner,
    /// Lines read but not yet looked at (a wait stops at the line that
    /// completes its dump; the rest belongs to the next wait).
    queue: VecDeque<String>,
    out: &'o mut dyn Write,
    owners: Vec<Option<usize>>,
    kept_lines: u64,
    lines_since_trigger: u64,
    proxy_pids: Option<HashSet<u32>>,
    main_pid: Option<u32>,
    poll_every: Duration,
    /// When the last line was kept (for dumps of unknown length).
    last_kept: Option<Instant>,
    /// Lines the log says it dropped, and holes in the shm fragment numbers.
    loss: loss::Loss,
    numbering: loss::Numbering,
    /// The journald unit (`kamailio.service`) whose drop reports count.
    unit: Option<String>,
    /// When the last line of any kind was read.
    last_line_at: Option<Instant>,
    /// No new block answers a request any more (kmemdbg's own probe dumps follow).
    closed: bool,
}
