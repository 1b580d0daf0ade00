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
pub mod source;
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

/// How long the log must stay quiet before a dump of unknown length counts as done.
const QUIET: Duration = Duration::from_secs(1);

impl Session<'_> {
    fn pump(&mut self) -> Result<()> {
        if crate::interrupt::requested() {
            bail!("interrupted (Ctrl-C): stopped waiting for the dump");
        }
        let lines = self.follower.poll()?;
        if !lines.is_empty() {
            self.last_line_at = Some(Instant::now());
        }
        self.lines_since_trigger += lines.len() as u64;
        self.queue.extend(lines);
        Ok(())
    }

    /// Waits until request `r` is answered, its process is gone, or `timeout`.
    fn wait_for(
        &mut self,
        reqs: &mut [Request],
        r: usize,
        timeout: Duration,
        mut wake: impl FnMut(&mut Request),
    ) -> Result<()> {
        let start = Instant::now();
        let wake_every = Duration::from_millis(400);
        let mut next_wake = start + Duration::from_millis(100);
        let pid = reqs[r].pid();
        let was_alive = pid.is_some_and(trigger::alive);
        loop {
            self.pump()?;
            if self.drain(reqs, Some(r)) || self.satisfied(reqs, r) {
                break;
            }
            let now = Instant::now();
            if now >= start + timeout {
                break;
            }
            if was_alive && pid.is_some_and(|p| !trigger::alive(p)) {
                // Read what it managed to write, then stop waiting.
                std::thread::sleep(self.poll_every);
                self.pump()?;
                self.drain(reqs, Some(r));
                reqs[r].exited = true;
                break;
            }
            // Wake only while nothing of this dump has arrived yet.
            if now >= next_wake && reqs[r].blocks.is_empty() {
                wake(&mut reqs[r]);
                next_wake = Instant::now() + wake_every;
            }
            std::thread::sleep(self.poll_every);
        }
        reqs[r].waited_s = start.elapsed().as_secs_f64();
        Ok(())
    }

    /// Feeds queued lines to the scanner, writing the kept ones. With
    /// `until`, stops right after the line that completes that request.
    fn drain(&mut self, reqs: &mut [Request], until: Option<usize>) -> bool {
        if let Some(r) = until {
            if self.satisfied(reqs, r) {
                return true;
            }
        }
        while let Some(line) = self.queue.pop_front() {
            if let Some(d) = loss::drop_in_line(&line) {
                if self.drop_is_ours(&d) {
                    // Kept in the output too, so `analyze` sees the loss.
                    if writeln!(self.out, "{line}").is_ok() {
                        self.kept_lines += 1;
                    }
                    self.loss.add(d);
                }
                continue;
            }
            let before = self.scanner.blocks().len();
            let idx = self.scanner.feed(&line);
            for b in before..self.scanner.blocks().len() {
                let owner = self.owner_for(reqs, b);
                if let Some(o) = owner {
                    reqs[o].blocks.push(b);
                }
                self.owners.push(owner);
            }
            if let Some(i) = idx {
                if let Some(o) = self.owners.get(i).copied().flatten() {
                    if matches!(reqs[o].target, Target::Shm) {
                        self.numbering.feed(&line);
                    }
                }
                if self.owners.get(i).copied().flatten().is_some() {
                    // A failed write surfaces at the final flush.
                    if writeln!(self.out, "{line}").is_ok() {
                        self.kept_lines += 1;
                        self.last_kept = Some(Instant::now());
                    }
                }
            }
            if let Some(r) = until {
                if self.satisfied(reqs, r) {
                    return true;
                }
            }
        }
        false
    }

    /// A drop report about this proxy: journald's for its unit, any of rsyslog's.
    fn drop_is_ours(&self, d: &loss::Drop) -> bool {
        match d.by.as_str() {
            "journald" => match (&self.unit, &d.of) {
                (Some(u), Some(of)) => u == of,
                (None, Some(of)) => of.starts_with("kamailio"),
                _ => false,
            },
            // imuxsock names the PID it saw, which is journald's own when
            // journald forwards; any drop while a dump passes counts.
            _ => true,
        }
    }

    /// The log grew within the last second.
    fn still_growing(&self) -> bool {
        self.last_line_at
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
    }

    /// journald (rsyslog's imuxsock alike) reports dropped lines only when
    /// the unit's (the PID's) next line of the same priority arrives after
    /// the interval: waits for the interval to end (when it is short), makes
    /// the proxy print a 5-line short shm status at the same ALERT priority
    /// from the same process, and reads the report.
    fn collect_journald_drops(
        &mut self,
        k: &Kamcmd,
        choice: &budget::Choice,
        started: Instant,
        reqs: &mut [Request],
        notes: &mut Vec<String>,
    ) -> Result<()> {
        let Some(interval) = choice.budget.interval else {
            return Ok(());
        };
        let sink = choice.budget.sink.clone();
        if sink != "journald" && !sink.starts_with("rsyslog") {
            return Ok(());
        }
        if interval > Duration::from_secs(60) {
            let later = match &self.unit {
                Some(unit) if sink == "journald" => format!(
                    "see `journalctl -u {unit} MESSAGE_ID={}`",
                    loss::JOURNALD_DROPPED_MESSAGE_ID
                ),
                _ => "look for `messages lost due to rate-limiting` in the log".to_string(),
            };
            notes.push(format!("{sink} reports how many lines it dropped only after its {:.0}s interval: later, {later}", interval.as_secs_f64()));
            return Ok(());
        }
        let wait =
            (started + interval + Duration::from_secs(1)).saturating_duration_since(Instant::now());
        notes.push(format!(
            "waited {:.0}s for the end of {sink}'s {:.0}s rate-limit interval, so that it reports how many lines it dropped",
            wait.as_secs_f64(),
            interval.as_secs_f64()
        ));
        let until = Instant::now() + wait;
        while Instant::now() < until {
            self.pump()?;
            self.drain(reqs, None);
            std::thread::sleep(self.poll_every);
        }
        self.closed = true;
        {
            let mut g = trigger::MemSummaryGuard::set(k, 16)?;
            let _ = trigger::shm(k);
            g.restore()?;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !self.loss.reports.iter().any(|d| d.lines.is_some()) {
            std::thread::sleep(self.poll_every);
            self.pump()?;
            self.drain(reqs, None);
        }
        Ok(())
    }

    fn complete_blocks(&self, req: &Request) -> usize {
        req.blocks
            .iter()
            .filter(|&&i| self.scanner.blocks()[i].state == State::Complete)
            .count()
    }

    /// Every expected block is complete. When the settings could not be
    /// read (no RPC), the count is unknown: one complete block and a quiet
    /// log (nothing kept for [`QUIET`]) end the wait instead.
    fn satisfied(&self, reqs: &[Request], r: usize) -> bool {
        let req = &reqs[r];
        match req.expected_blocks {
            Some(n) => self.complete_blocks(req) >= n,
            None => {
                self.complete_blocks(req) >= 1
                    && !self.has_open(req)
                    && self.last_kept.is_some_and(|t| t.elapsed() >= QUIET)
            }
        }
    }

    fn has_open(&self, req: &Request) -> bool {
        req.blocks
            .iter()
            .any(|&i| self.scanner.blocks()[i].state == State::Open)
    }

    /// The request a new block answers: one that was triggered, is not yet
    /// satisfied, has no block in progress, and matches pid and pool.
    fn owner_for(&self, reqs: &[Request], b: usize) -> Option<usize> {
        let block = &self.scanner.blocks()[b];
        let open = |req: &Request| {
            req.blocks
                .iter()
                .any(|&i| i != b && self.scanner.blocks()[i].state == State::Open)
        };
        let candidate = |req: &Request| {
            req.triggered
                && req
                    .expected_blocks
                    .map_or(true, |n| self.complete_blocks(req) < n)
                && !open(req)
        };
        let of_proxy = self
            .proxy_pids
            .as_ref()
            .map_or(true, |ps| ps.contains(&block.pid));
        let order = [
            |t: &Target, bl: &Block| matches!(t, Target::Signal { pid } if *pid == bl.pid),
            |t: &Target, bl: &Block| {
                matches!(t, Target::Pkg { pid, .. } if *pid == bl.pid) && bl.pool != Some(Pool::Shm)
            },
            // The RPC shm dump is a status printed by an RPC process, never
            // by main (main's shm lines are SIGUSR1 or shutdown dumps).
            |t: &Target, bl: &Block| {
                matches!(t, Target::Shm)
                    && bl.pool == Some(Pool::Shm)
                    && bl.kind == Some(blocks::Kind::Status)
            },
        ];
        let from_main = self.main_pid == Some(block.pid);
        if !of_proxy || self.closed {
            return None;
        }
        for matches in order {
            if let Some(i) = reqs.iter().position(|req| {
                candidate(req)
                    && matches(&req.target, block)
                    && !(from_main && matches!(req.target, Target::Shm))
            }) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procs() -> Vec<Process> {
        crate::kamcmd::parse_psx(
            "{\n IDX: 0\n PID: 100\n DSC: main process - attendant\n}\n\
             {\n IDX: 1\n PID: 101\n DSC: udp receiver child=0 sock=127.0.0.1:5090\n}\n\
             {\n IDX: 3\n PID: 103\n DSC: slow timer\n}\n\
             {\n IDX: 4\n PID: 104\n DSC: timer\n}\n\
             {\n IDX: 6\n PID: 106\n DSC: ctl handler\n}\n\
             {\n IDX: 7\n PID: 107\n DSC: tcp main process\n}\n",
        )
    }

    fn opts(pkg: PkgSelection, shm: bool, signal: bool) -> Options {
        Options {
            pkg,
            shm,
            signal,
            ctl: None,
            pid_file: "/nonexistent".into(),
            source: SourceInfo::Stderr {
                path: "/dev/null".into(),
            },
            poke: None,
            timeout: Duration::from_secs(1),
            full: false,
            summary: false,
        }
    }

    #[test]
    fn plan_orders_and_skips_main() {
        let s = Settings {
            mem_summary: Some(12),
            memlog: Some(5),
            debug: Some(2),
            ..Settings::default()
        };
        let ps = procs();
        let (r, notes) = plan(&opts(PkgSelection::All, true, false), Some(&ps), &s).unwrap();
        let names: Vec<String> = r.iter().map(|r| r.target.to_string()).collect();
        assert_eq!(names.len(), 6, "{names:?}");
        assert_eq!(names[0], "shm");
        assert!(names[1].contains("PID 101"), "{names:?}");
        assert!(names[4].contains("slow timer"), "{names:?}");
        assert!(names[5].contains("tcp main"), "{names:?}");
        assert!(notes[0].contains("main process (PID 100)"), "{notes:?}");
        // --signal with memlog > debug: planned as printing nothing.
        let (r, _) = plan(&opts(PkgSelection::None, false, true), Some(&ps), &s).unwrap();
        assert_eq!(r[0].expected_blocks, Some(0));
        // unknown PID
        let e = plan(
            &opts(PkgSelection::Pids(vec![5]), false, false),
            Some(&ps),
            &s,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("PID 5 is not a process") && e.contains("101 (udp receiver"),
            "{e}"
        );
    }

    /// The session keeps only the requested dump and stops at its end,
    /// leaving later lines for the next wait.
    #[test]
    fn drain_keeps_requested_blocks_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("k.log");
        std::fs::write(&log, "").unwrap();
        let mut out = Vec::new();
        let mut s = Session {
            follower: Follower::start(&SourceInfo::Stderr { path: log.clone() }).unwrap(),
            scanner: Scanner::new(false),
            queue: VecDeque::new(),
            out: &mut out,
            owners: Vec::new(),
            kept_lines: 0,
            lines_since_trigger: 0,
            proxy_pids: Some([7240, 7245].into_iter().collect()),
            main_pid: Some(7238),
            last_kept: None,
            poll_every: Duration::from_millis(10),
            loss: loss::Loss::default(),
            numbering: loss::Numbering::default(),
            unit: None,
            last_line_at: None,
            closed: false,
        };
        let sample = include_str!("../../tests/fixtures/capture/sample-5.6.3-dumps.log");
        s.queue.extend(sample.lines().map(String::from));
        let mut reqs = vec![Request::new(
            Target::Pkg {
                pid: 7240,
                description: "udp receiver".into(),
            },
            Some(1),
        )];
        reqs[0].triggered = true;
        assert!(s.drain(&mut reqs, Some(0)));
        // Stopped right at the end marker: the shm dump is still queued.
        assert!(s.queue.iter().any(|l| l.contains("Memory status (shm)")));
        assert_eq!(s.kept_lines, 47);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(" 1(7240) ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb()"));
        assert!(text
            .trim_end()
            .ends_with("qm_sums(): -----------------------------"));
        assert!(!text.contains("qm_malloc"));
    }
}
