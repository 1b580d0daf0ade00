//! Sizing a capture to its log, before anything is triggered: how many
//! lines the requested dumps print against what the log lets through
//! ([`super::budget`]), and the switch to a summary when the fragment list
//! would not fit (or the refusal, with what would fit).
//!
//! Reads the proxy's counters over RPC; never triggers a dump and never
//! changes `mem_summary` (the trigger step does, with a guard).

use super::*;
use std::collections::HashMap;

/// What sizing decided.
#[derive(Debug, Default)]
pub(crate) struct Sized {
    /// The shm dump chosen: lines expected vs the log's budget.
    pub choice: Option<budget::Choice>,
    /// Free fragments of the shm pool (a status lists them too with
    /// `mem_status_mode`; gaps in fragment numbers account for them).
    pub free_fragments: u64,
    /// The pkg dumps chosen, all processes asked for together.
    pub pkg_choice: Option<budget::Choice>,
    /// Lines each process's pkg dump is expected to print.
    pub pkg_lines: HashMap<u32, u64>,
    /// Free fragments of each process's pkg pool (`pkg.stats`), as
    /// `free_fragments` is for shm.
    pub pkg_free: HashMap<u32, u64>,
}

impl Sized {
    /// Lines request `r` is expected to print, when sized.
    pub fn expected_lines(&self, r: &Request) -> Option<u64> {
        match (&r.target, &self.choice, &self.pkg_choice) {
            (Target::Shm, Some(c), _) => Some(c.status_lines),
            (Target::Pkg { pid, .. }, _, Some(_)) => self.pkg_lines.get(pid).copied(),
            _ => None,
        }
    }

    /// The choice that decided request `r`'s shape.
    pub fn choice_for(&self, r: &Request) -> Option<&budget::Choice> {
        match r.target {
            Target::Shm => self.choice.as_ref(),
            Target::Pkg { .. } => self.pkg_choice.as_ref(),
            Target::Signal { .. } => None,
        }
    }
}

/// Sizes the requested dumps against the log of `opts.source`, shm first,
/// then the pkg dumps in what is left of the same interval. A fragment
/// list is kept when it fits (or with `--full`), else replaced by a
/// summary; `--full` that will not fit is said before any trigger, with
/// what would make it fit.
pub(crate) fn size_to_log(
    opts: &Options,
    proxy: &Rpc,
    requests: &mut Vec<Request>,
    notes: &mut Vec<String>,
    settings: &mut Settings,
) -> Result<Sized> {
    let mut sized = Sized::default();
    let Some(k) = proxy.kamcmd.as_ref() else {
        return Ok(sized);
    };
    let wants_pkg = requests
        .iter()
        .any(|r| matches!(r.target, Target::Pkg { .. }) && r.expected_blocks != Some(0));
    if !opts.shm && !wants_pkg {
        return Ok(sized);
    }
    let (shm_layout, pkg_layout) = layouts(k, proxy.processes.as_deref(), opts);
    let budget = route::budget_of(&opts.source);
    if opts.shm {
        size_shm(
            opts, proxy, k, shm_layout, &budget, requests, notes, settings, &mut sized,
        )?;
    }
    if wants_pkg {
        let taken = sized.choice.as_ref().map_or(0, |c| match c.shape {
            budget::Shape::Status => c.status_lines,
            budget::Shape::Summary => c.summary_lines.unwrap_or(0),
        });
        let left = budget.after(taken, "the shm dump");
        size_pkg(opts, k, pkg_layout, &left, requests, settings, &mut sized);
    }
    Ok(sized)
}

/// The status layouts of the proxy's shm and pkg allocators: its version
/// from `core.version`, its allocators from the main process's `-x`/`-X`.
fn layouts(
    k: &Kamcmd,
    processes: Option<&[Process]>,
    opts: &Options,
) -> (&'static layout::Layout, &'static layout::Layout) {
    let version = route::version(k).and_then(|v| crate::probe::version::Version::parse(&v));
    let argv = trigger::main_pid(processes, &opts.pid_file)
        .ok()
        .and_then(crate::procfs::cmdline)
        .unwrap_or_default();
    let (shm, pkg) = layout::Allocator::from_argv(&argv);
    let pick = |a: layout::Allocator| {
        version
            .as_ref()
            .and_then(|v| layout::lookup_or_newest(a, v))
            .or_else(|| {
                (a != layout::Allocator::Qm)
                    .then(|| layout::TABLE.iter().rev().find(|l| l.allocator == a))
                    .flatten()
            })
            .unwrap_or_else(layout::fallback)
    };
    (pick(shm), pick(pkg))
}

/// The shm dump: fragment list or summary (SIGUSR1 with mem_summary 12,
/// when memlog <= debug lets one be printed), or the routes that work.
#[allow(clippy::too_many_arguments)]
fn size_shm(
    opts: &Options,
    proxy: &Rpc,
    k: &Kamcmd,
    l: &layout::Layout,
    b: &budget::Budget,
    requests: &mut Vec<Request>,
    notes: &mut Vec<String>,
    settings: &mut Settings,
    sized: &mut Sized,
) -> Result<()> {
    let Ok(c) = route::shm_counters(k) else {
        return Ok(());
    };
    sized.free_fragments = c.free_fragments;
    let sites = route::shm_sites(k);
    let mut ch = budget::choose(
        budget::status_lines(&c, l),
        sites.map(budget::summary_lines),
        b,
        opts.full,
    );
    if opts.summary && ch.shape == budget::Shape::Status {
        ch.shape = budget::Shape::Summary;
        ch.fits = ch.summary_lines.map_or(true, |l| ch.budget.fits(l));
        ch.why = format!("--summary: one line per allocation site ({})", ch.why);
    }
    if ch.shape == budget::Shape::Summary {
        let memlog_ok = matches!((settings.memlog, settings.debug), (Some(m), Some(d)) if m <= d);
        if memlog_ok {
            switch_to_summary(requests, proxy.processes.as_deref(), opts, settings)?;
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
    ch.why = format!("{} ({})", ch.why, describe(l));
    sized.choice = Some(ch);
    Ok(())
}

/// The pkg dumps of the processes asked for, from each one's `pkg.stats`
/// counters: kept as they are when they fit (or `--full`); else each is
/// asked for as a summary (mem_summary 12 over its dump, put back after:
/// the RPC pkg dump prints at ALERT level, memlog does not matter).
fn size_pkg(
    opts: &Options,
    k: &Kamcmd,
    l: &layout::Layout,
    left: &budget::Budget,
    requests: &mut [Request],
    settings: &Settings,
    sized: &mut Sized,
) {
    let Some(ms) = settings.mem_summary else {
        return;
    };
    let Ok(counters) = route::pkg_counters(k) else {
        return;
    };
    let summary_each = budget::summary_lines(route::pkg_sites(k).unwrap_or(0));
    let status = ms & 1 != 0;
    let mut per_process = Vec::new();
    for r in requests.iter() {
        let Target::Pkg { pid, .. } = r.target else {
            continue;
        };
        if r.expected_blocks == Some(0) {
            continue;
        }
        let Some((_, c)) = counters.iter().find(|(p, _)| *p == pid) else {
            continue;
        };
        let mut lines = 0u64;
        if status {
            lines += budget::status_lines(c, l);
        }
        if ms & 4 != 0 {
            lines += summary_each;
        }
        sized.pkg_lines.insert(pid, lines);
        sized.pkg_free.insert(pid, c.free_fragments);
        per_process.push((pid, budget::status_lines(c, l)));
    }
    if per_process.is_empty() {
        return;
    }
    let mut ch = budget::choose_pkg(&per_process, status, summary_each, left, opts.full);
    if status && ch.shape == budget::Shape::Summary {
        let as_summary = Settings {
            mem_summary: Some(trigger::SUMMARY_BITS),
            ..settings.clone()
        };
        for r in requests.iter_mut() {
            if let Target::Pkg { pid, .. } = r.target {
                if let Some(lines) = sized.pkg_lines.get_mut(&pid) {
                    r.summary = true;
                    r.expected_blocks = as_summary.expected_blocks(Method::RpcPkg);
                    *lines = summary_each;
                }
            }
        }
    }
    ch.why = format!("{} ({})", ch.why, describe(l));
    sized.pkg_choice = Some(ch);
}

/// `q_malloc 4.4-5.7: 3 lines per used fragment`, for the operator.
fn describe(l: &layout::Layout) -> String {
    let name = match l.allocator {
        layout::Allocator::Qm => "q_malloc",
        layout::Allocator::Fm => "f_malloc",
        layout::Allocator::Tlsf => "tlsf",
    };
    format!(
        "{name} {}.{}-{}.{}: {} lines per used fragment",
        l.from.0, l.from.1, l.to.0, l.to.1, l.lines_per_fragment
    )
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
