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
pub mod layout;
pub mod loss;
pub mod route;
mod session;
mod sizing;
pub mod source;
#[cfg(test)]
mod tests;
pub mod trigger;
mod verdict;

use crate::kamcmd::{Kamcmd, Process};
use crate::mem::Pool;
use anyhow::{bail, Context, Result};
use blocks::{Block, Scanner, State};
use explain::{Evidence, Method, Settings};
use serde::Serialize;
use source::{Follower, SourceInfo, SourceStats};
use std::collections::{HashMap, HashSet, VecDeque};
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
    /// Lines it was sized at before triggering (from the pool's counters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_lines: Option<u64>,
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
    /// Fragments missing inside the dump's numbered list (gaps in the
    /// fragment indexes), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_fragments: Option<u64>,
    /// A summary asked for instead of the shm fragment list (mem_summary 12 + SIGUSR1).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub summary: bool,
    #[serde(skip)]
    triggered: bool,
    /// The log was still growing when the wait for it ended (not later,
    /// when kmemdbg's own probe for drop reports adds lines).
    #[serde(skip)]
    growing_at_deadline: bool,
    #[serde(skip)]
    exited: bool,
}

impl Request {
    fn new(target: Target, expected: Option<usize>) -> Request {
        Request {
            target,
            expected_blocks: expected,
            expected_lines: None,
            blocks: Vec::new(),
            status: Status::Missing,
            causes: Vec::new(),
            pokes: 0,
            waited_s: 0.0,
            trigger_error: None,
            complete: false,
            lost_lines: None,
            lost_cause: None,
            missing_fragments: None,
            summary: false,
            triggered: false,
            growing_at_deadline: false,
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
    /// The pkg dumps chosen before triggering, all processes asked for together.
    pub pkg_choice: Option<budget::Choice>,
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
///
/// The steps, in order: reach the proxy ([`connect`]), plan the requests
/// ([`plan`]), size them against the log ([`sizing::size_to_log`]), start
/// reading the log ([`Session::open`]), trigger each request and wait for it
/// ([`trigger_and_wait`], which sets `mem_summary` for a summary and puts it
/// back), collect late drop reports ([`collect_late_drops`]), and judge each
/// request ([`verdict::judge`]).
pub fn capture(
    opts: &Options,
    out: &mut dyn Write,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Outcome> {
    let proxy = connect(opts)?;
    let processes = proxy.processes.as_deref();
    let (mut requests, mut notes) = plan(opts, processes, &proxy.settings)?;
    let mut settings = proxy.settings.clone();
    let sized = sizing::size_to_log(opts, &proxy, &mut requests, &mut notes, &mut settings)?;
    for r in requests.iter_mut() {
        r.expected_lines = sized.expected_lines(r);
    }
    for ch in sized.choice.iter().chain(&sized.pkg_choice) {
        on_event(Event::Planned { choice: ch });
    }
    let mut s = Session::open(opts, out, &settings, processes)?;
    on_event(Event::Following {
        source: &opts.source,
        offset: s.follower.stats().start_offset,
    });
    let started = Instant::now();
    let mut restore_error = None;
    for r in 0..requests.len() {
        if let Some(e) = trigger_and_wait(opts, &proxy, &mut s, &mut requests, r, on_event)? {
            restore_error = Some(e);
        }
    }
    // Lines already read may still finish a late dump.
    s.drain(&mut requests, None);
    collect_late_drops(&mut s, &proxy, &sized, started, &mut requests, &mut notes)?;
    s.scanner.finish();
    s.out.flush().context("cannot write the captured dump")?;

    let blocks = s.scanner.blocks().to_vec();
    for (i, r) in requests.iter_mut().enumerate() {
        verdict::judge(i, r, &blocks, &s, &sized, opts, &settings);
    }
    if restore_error.is_none() {
        restore_error = trigger::RESTORE_FAILED
            .lock()
            .ok()
            .and_then(|mut f| f.take());
    }
    Ok(Outcome {
        choice: sized.choice,
        pkg_choice: sized.pkg_choice,
        loss: s.loss.clone(),
        restore_error,
        source: opts.source.clone(),
        stats: s.follower.stats().clone(),
        settings,
        processes: proxy.processes.unwrap_or_default(),
        requests,
        blocks,
        owners: s.owners,
        kept_lines: s.kept_lines,
        notes,
    })
}

/// The proxy as reached over RPC: the ctl client, its processes and its
/// logging settings (each `None`/unreadable when RPC is not available).
pub(crate) struct Rpc {
    kamcmd: Option<Kamcmd>,
    processes: Option<Vec<Process>>,
    settings: Settings,
}

/// Reaches the proxy. RPC is needed for --shm/--pkg; for --signal alone it
/// only adds the process list and the settings.
fn connect(opts: &Options) -> Result<Rpc> {
    let wants_rpc = opts.shm || opts.pkg != PkgSelection::None;
    if !wants_rpc && !opts.signal {
        bail!("nothing to dump: give --shm, --pkg PID|all or --signal");
    }
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
    Ok(Rpc {
        kamcmd,
        processes,
        settings,
    })
}

/// Triggers request `r` and waits for its lines. A summary request sets
/// `mem_summary` first and puts it back after the wait (the guard also puts
/// it back on Ctrl-C or error). Returns a failure to put it back.
fn trigger_and_wait(
    opts: &Options,
    proxy: &Rpc,
    s: &mut Session<'_>,
    requests: &mut [Request],
    r: usize,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Option<String>> {
    if requests[r].expected_blocks == Some(0) {
        requests[r].status = Status::Skipped;
        return Ok(None);
    }
    // Owned blocks need `triggered`; lines can only follow the trigger anyway.
    requests[r].triggered = true;
    let mut guard = None;
    if requests[r].summary {
        guard = Some(trigger::MemSummaryGuard::set(
            rpc(&proxy.kamcmd)?,
            trigger::SUMMARY_BITS,
        )?);
        crate::interrupt::pause_hook("dump:summary-set");
        if crate::interrupt::requested() {
            bail!("interrupted (Ctrl-C) before the summary was asked for; mem_summary put back");
        }
    }
    fire(opts, proxy, s, requests, r)?;
    on_event(Event::Triggered {
        target: &requests[r].target,
    });
    let receivers = proxy
        .processes
        .as_ref()
        .map(|ps| ps.iter().filter(|p| p.is_receiver()).count())
        .unwrap_or(1)
        .max(1) as u32;
    let is_receiver = matches!(&requests[r].target,
        Target::Pkg { description, .. } if description.contains("receiver"));
    let max_pokes = 10 + 5 * receivers;
    let poke = opts.poke.filter(|_| is_receiver);
    s.wait_for(requests, r, opts.timeout, |req| {
        if let Some(addr) = poke {
            if req.pokes < max_pokes {
                req.pokes += 1;
                // A failed poke only costs a try; the timeout bounds the wait.
                let _ = trigger::poke(addr);
            }
        }
    })?;
    requests[r].growing_at_deadline = s.still_growing();
    let restore_error = guard
        .take()
        .and_then(|mut g| g.restore().err())
        .map(|e| format!("{e:#}"));
    requests[r].status = if s.satisfied(requests, r) {
        Status::Ok
    } else if requests[r].blocks.is_empty() {
        Status::Missing
    } else {
        Status::Truncated
    };
    on_event(Event::Done {
        request: &requests[r],
    });
    Ok(restore_error)
}

/// Sends request `r`'s trigger. The shm dump runs inside the RPC: when the
/// process printing it dies, the RPC fails but half a dump is in the log,
/// so a failed trigger looks at the log before it counts as an error.
fn fire(
    opts: &Options,
    proxy: &Rpc,
    s: &mut Session<'_>,
    requests: &mut [Request],
    r: usize,
) -> Result<()> {
    let fired = match &requests[r].target {
        Target::Shm => trigger::shm(rpc(&proxy.kamcmd)?),
        Target::Pkg { pid, .. } => trigger::pkg(rpc(&proxy.kamcmd)?, *pid),
        Target::Signal { pid } => trigger::sigusr1(*pid),
    };
    if let Err(e) = fired {
        s.wait_for(
            requests,
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
    Ok(())
}

/// When a dump that was known not to fit came out cut, waits for the log's
/// own report of how many lines it dropped (journald, rsyslog).
fn collect_late_drops(
    s: &mut Session<'_>,
    proxy: &Rpc,
    sized: &sizing::Sized,
    started: Instant,
    requests: &mut [Request],
    notes: &mut Vec<String>,
) -> Result<()> {
    let Some(k) = proxy.kamcmd.as_ref() else {
        return Ok(());
    };
    let cut_over_budget = (0..requests.len()).find_map(|i| {
        let ch = sized.choice_for(&requests[i])?;
        (requests[i].triggered && !s.satisfied(requests, i) && !ch.fits).then_some(ch)
    });
    if let Some(ch) = cut_over_budget {
        s.collect_journald_drops(k, ch, started, requests, notes)?;
    }
    Ok(())
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
    /// Lines the log says it dropped.
    loss: loss::Loss,
    /// The fragment numbers of each status request (shm, and each pkg
    /// dump: every process numbers its own list from 0), by request index.
    numbering: HashMap<usize, loss::Numbering>,
    /// The journald unit (`kamailio.service`) whose drop reports count.
    unit: Option<String>,
    /// When the last line of any kind was read.
    last_line_at: Option<Instant>,
    /// No new block answers a request any more (kmemdbg's own probe dumps follow).
    closed: bool,
}
