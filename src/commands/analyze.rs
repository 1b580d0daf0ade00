//! `kmemdbg analyze`: reads dumps out of logs and prints, per dump, the heap
//! use and the sites by bytes; memory corruption first, then the verdicts on
//! every pool the input shows (dumps' heap lines and pasted RPC answers:
//! exhausted, near full, wrapped counters, fragmentation). Reading is done by
//! [`crate::dump`] (log lines) and [`crate::memrpc`] (RPC answers, fed by
//! the dump reader with the lines it did not take); verdicts by
//! [`crate::memrpc::verdict`]; this file loads, filters and prints.

use crate::cli::AnalyzeArgs;
use crate::commands::thousands;
use crate::dump::{self, DumpKind, DumpLog, Group, GroupBy, Pool, Snapshot};
use crate::memrpc::verdict::{self, Failures, Kind, Verdict};
use crate::memrpc::PoolFigures;
use crate::units::human_bytes;
use crate::ExitStatus;
use anyhow::{bail, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One input file and what was read from it.
pub struct Input {
    pub path: PathBuf,
    pub log: DumpLog,
}

/// Whether nothing in a log could be read as memory data: no dump, no
/// corruption marker, no RPC answer, no failed allocation.
fn nothing_read(log: &DumpLog) -> bool {
    log.snapshots.is_empty()
        && log.corruption.is_empty()
        && log.rpc.is_empty()
        && log.lines.out_of_memory_lines == 0
}

/// Reads every file; fails (exit 2) when none holds a dump, a corruption
/// message, a memory RPC answer or a failed allocation, explaining what the
/// input was instead.
pub fn load(files: &[PathBuf]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in files {
        let log = dump::read_path(path)?;
        inputs.push(Input {
            path: path.clone(),
            log,
        });
    }
    if inputs.iter().all(|i| nothing_read(&i.log)) {
        let why: Vec<String> = inputs.iter().map(|i| not_a_dump(&i.path, &i.log)).collect();
        bail!(
            "{}\n  a dump needs memlog <= debug in the running proxy, then a trigger: `kmemdbg dump`, \
`kamcmd cfg.set_now_int core mem_dump_pkg PID` / `mem_dump_shm 1`, SIGUSR1, or a shutdown; \
or paste the answers of `kamcmd pkg.stats`, `kamcmd core.shmmem`, `kamcmd mod.stats all all`",
            why.join("\n")
        );
    }
    Ok(inputs)
}

/// Why a file held no dump, in one line.
fn not_a_dump(path: &Path, log: &DumpLog) -> String {
    let l = &log.lines;
    let shown = path.display();
    if l.lines == 0 {
        return format!("{shown}: empty (0 bytes): no memory dump in it");
    }
    if l.alloc_debug_lines > 0 {
        return format!(
            "{shown}: no memory dump in {} lines; it has {} per-allocation qm_malloc/qm_free lines \
(memdbg <= debug logs every allocation; keep memdbg above debug) but no qm_status/qm_sums dump",
            thousands(l.lines),
            thousands(l.alloc_debug_lines)
        );
    }
    let mut s = format!(
        "{shown}: not a Kamailio memory dump: {} lines, {} log lines without memory figures, {} unreadable",
        thousands(l.lines),
        thousands(l.other_log_lines),
        thousands(l.unreadable_lines)
    );
    if let Some(sample) = l.unreadable_samples.first() {
        let _ = write!(s, " (line {}: {})", sample.line, sample.text);
    }
    s
}

fn matches(s: &Snapshot, pool: Option<Pool>, pid: Option<u32>) -> bool {
    pool.map_or(true, |p| s.pool == Some(p)) && pid.map_or(true, |p| s.pid == Some(p))
}

/// The dumps selected by `--pool` / `--pid`; an error naming what exists when none match.
pub fn select(inputs: &[Input], pool: Option<Pool>, pid: Option<u32>) -> Result<Vec<&Snapshot>> {
    let all: Vec<&Snapshot> = inputs.iter().flat_map(|i| &i.log.snapshots).collect();
    let chosen: Vec<&Snapshot> = all
        .iter()
        .copied()
        .filter(|s| matches(s, pool, pid))
        .collect();
    if chosen.is_empty() && !all.is_empty() {
        let mut seen: Vec<String> = all.iter().map(|s| s.label()).collect();
        seen.dedup();
        seen.truncate(12);
        let mut filter = String::new();
        if let Some(p) = pool {
            let _ = write!(filter, " --pool {}", p.as_str());
        }
        if let Some(p) = pid {
            let _ = write!(filter, " --pid {p}");
        }
        bail!(
            "no dump matches{filter}; the input has: {}",
            seen.join("; ")
        );
    }
    Ok(chosen)
}

/// `analyze --json` schema `kmemdbg.analyze/1` (fields are only ever added).
#[derive(Serialize)]
pub struct AnalyzeReport {
    pub schema: &'static str,
    pub by: GroupBy,
    pub top: usize,
    pub files: Vec<FileReport>,
    /// Every corruption marker, in dumps and outside them (also in `dumps[].corruption`).
    pub corruption: Vec<CorruptionReport>,
    pub dumps: Vec<DumpReport>,
    pub warnings: Vec<String>,
    /// One verdict per pool the input shows (dumps' heap lines, RPC answers).
    pub verdicts: Vec<FileVerdict>,
    /// Pasted `mod.stats` blocks, `pkg.stats` / `core.shmmem` / `shm.report`
    /// figures and `core.psx` processes, per file.
    pub rpc: Vec<RpcReport>,
    /// Known leak fixes of each dump's largest sites, when the version is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_fixes: Option<crate::commands::fixes::KnownReport>,
    /// Inputs whose log dropped lines (dumps in them are incomplete).
    pub lost: Vec<super::lost_view::LostFile>,
}

#[derive(Serialize)]
pub struct FileVerdict {
    pub file: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// From a dump's heap lines (the text report shows those only when not ok).
    #[serde(skip)]
    pub dump: bool,
}

#[derive(Serialize)]
pub struct RpcReport {
    pub file: String,
    #[serde(flatten)]
    pub answers: crate::memrpc::Answers,
}

#[derive(Serialize)]
pub struct FileReport {
    pub path: String,
    pub dumps: usize,
    pub lines: dump::LineStats,
}

#[derive(Serialize)]
pub struct CorruptionReport {
    pub file: String,
    #[serde(flatten)]
    pub marker: dump::Corruption,
}

#[derive(Serialize)]
pub struct DumpReport {
    pub file: String,
    #[serde(flatten)]
    pub summary: DumpSummary,
    /// The top groups (all with `--top 0`), most bytes first.
    pub groups: Vec<Group>,
    /// What the top list left out.
    pub rest: Rest,
    pub corruption: Vec<dump::Corruption>,
}

/// A snapshot without its site list.
#[derive(Serialize)]
pub struct DumpSummary {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_no: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<Pool>,
    pub kind: DumpKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocator: Option<dump::Allocator>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub first_line: u64,
    pub last_line: u64,
    pub complete: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lost: bool,
    pub headless: bool,
    pub heap: dump::HeapStats,
    pub total_count: u64,
    pub total_bytes: u64,
    pub distinct_sites: usize,
    pub fragments_without_site: u64,
    pub bytes_without_site: u64,
    pub free_fragments: u64,
    pub corruption_total: u64,
}

#[derive(Debug, Serialize, Default)]
pub struct Rest {
    pub groups: usize,
    pub count: u64,
    pub bytes: u64,
}

fn summary(s: &Snapshot) -> DumpSummary {
    DumpSummary {
        index: s.index,
        pid: s.pid,
        process_no: s.process_no,
        pool: s.pool,
        kind: s.kind,
        allocator: s.allocator,
        time: s.time.clone(),
        first_line: s.first_line,
        last_line: s.last_line,
        complete: s.complete,
        lost: s.lost,
        headless: s.headless,
        heap: s.heap.clone(),
        total_count: s.total_count,
        total_bytes: s.total_bytes,
        distinct_sites: s.sites.len(),
        fragments_without_site: s.fragments_without_site,
        bytes_without_site: s.bytes_without_site,
        free_fragments: s.free_fragments,
        corruption_total: s.corruption_total,
    }
}

/// Top `top` groups (all when 0) and what was left out.
pub fn top_groups(s: &Snapshot, by: GroupBy, top: usize) -> (Vec<Group>, Rest) {
    let mut groups = dump::group(s, by);
    let mut rest = Rest::default();
    if top > 0 && groups.len() > top {
        for g in groups.drain(top..) {
            rest.groups += 1;
            rest.count += g.count;
            rest.bytes += g.bytes;
        }
    }
    (groups, rest)
}

/// Warnings about the dumps themselves (truncated, headless, no sizes, ...).
pub fn warnings(inputs: &[Input], chosen: &[&Snapshot]) -> Vec<String> {
    let mut w = Vec::new();
    // the same dump pasted twice (or the same file given twice)
    for (k, a) in chosen.iter().enumerate() {
        if let Some(b) = chosen[..k].iter().find(|b| same_dump(a, b)) {
            w.push(format!(
                "dump {} ({}) repeats dump {} line for line: the same dump pasted twice? count it once",
                a.index + 1,
                a.label(),
                b.index + 1
            ));
        }
    }
    for s in chosen {
        let at = format!("{}:{}", s.source.as_deref().unwrap_or("-"), s.first_line);
        if !s.complete {
            w.push(format!(
                "{at}: dump of {} stops at line {} before its end marker (process killed, or the log was cut): its numbers are a lower bound",
                s.label(),
                s.last_line
            ));
        }
        if s.headless {
            w.push(format!(
                "{at}: dump of {} starts before the input does (its first lines are missing)",
                s.label()
            ));
        }
        if s.total_bytes == 0 && s.total_count > 0 {
            w.push(format!(
                "{at}: only `alloc'd from` lines, no fragment sizes: sites are ranked by count"
            ));
        }
        if s.fragments_without_site > 0 {
            w.push(format!(
                "{at}: {} fragments listed without a site: the binary lacks memory debugging (DBG_QM_MALLOC / DBG_SR_MEMORY with -x qm)",
                thousands(s.fragments_without_site)
            ));
        }
        if s.kind == DumpKind::Status && s.allocator == Some(dump::Allocator::Fm) {
            w.push(format!(
                "{at}: f_malloc's status lists no fragments; its sites come from fm_sums (mem_summary 4 or 8), or run with -x qm"
            ));
        }
    }
    for i in inputs {
        let l = &i.log.lines;
        if l.uniq_lines > 0 {
            w.push(format!(
                "{}: {} lines carry `uniq -c` counts: the lines of every dump and process were merged, \
so the pool, the process and the dump's boundaries are not in this paste (shown as `pool ?`, `pid ?`){}",
                i.path.display(),
                thousands(l.uniq_lines),
                if i.log.snapshots.iter().all(|s| s.total_bytes == 0) {
                    "; no fragment sizes either: sites are ranked by count"
                } else {
                    ""
                }
            ));
        }
        for m in &i.log.rpc.modules {
            if m.pool.is_none() {
                w.push(format!(
                    "{}:{}: mod.stats block{}: the paste does not say whether it is pkg or shm (no `mod.stats … pkg|shm` line above it)",
                    i.path.display(),
                    m.line,
                    m.module.as_deref().map(|n| format!(" of {n}")).unwrap_or_default()
                ));
            }
            if !m.complete || m.total.is_none() {
                w.push(format!(
                    "{}:{}: mod.stats block{} is cut short (no `Total:` line): its entries are a lower bound",
                    i.path.display(),
                    m.line,
                    m.module.as_deref().map(|n| format!(" of {n}")).unwrap_or_default()
                ));
            }
        }
        for line in &i.log.rpc.cut_answers {
            w.push(format!(
                "{}:{line}: a JSON answer is cut short (the paste stops inside it): only its complete records were read",
                i.path.display()
            ));
        }
        if nothing_read(&i.log) {
            w.push(not_a_dump(&i.path, &i.log));
        }
    }
    w
}

/// Two dumps with the same writer, heap figures and sites: one dump read twice.
fn same_dump(a: &Snapshot, b: &Snapshot) -> bool {
    a.pid == b.pid
        && a.pool == b.pool
        && a.kind == b.kind
        && a.time == b.time
        && a.heap == b.heap
        && a.total_count == b.total_count
        && a.total_bytes == b.total_bytes
        && a.fragments_without_site == b.fragments_without_site
        && a.sites.len() == b.sites.len()
        && (a.total_count > 0 || !a.heap.is_empty())
        // without a time, one process dumping twice with nothing changed looks the same
        && a.time.is_some()
}

/// The failed allocations a log shows (they decide between a full pool and fragmentation).
fn failures(log: &DumpLog) -> Failures {
    let l = &log.lines;
    Failures {
        pkg: l.out_of_memory_pkg,
        shm: l.out_of_memory_shm,
        unknown: l
            .out_of_memory_lines
            .saturating_sub(l.out_of_memory_pkg + l.out_of_memory_shm),
    }
}

/// The heap figures of a status dump, to be judged like an RPC answer.
fn dump_figures(s: &Snapshot) -> Option<PoolFigures> {
    let h = &s.heap;
    h.size_bytes?;
    let mut p = PoolFigures::from_dump(
        format!("dump {} ({})", s.index + 1, s.label()),
        s.pool,
        s.first_line,
        [
            h.size_bytes,
            h.used_bytes,
            h.used_with_overhead_bytes,
            h.free_bytes,
            h.max_used_bytes,
        ],
    );
    // the free list bounds the largest free fragment (q_malloc / f_malloc buckets)
    p.largest_free = s.free_list.largest_bound.map(i128::from);
    p.free_fragments = s.free_list.fragments.map(i128::from);
    Some(p)
}

/// Verdicts on every pool of the input: the chosen dumps' heap lines and the
/// RPC answers (`--pid` / `--pool` filter both).
pub fn verdicts(
    inputs: &[Input],
    chosen: &[&Snapshot],
    pool: Option<Pool>,
    pid: Option<u32>,
) -> Vec<FileVerdict> {
    let mut out = Vec::new();
    for i in inputs {
        let file = i.path.display().to_string();
        let f = failures(&i.log);
        for s in chosen
            .iter()
            .filter(|s| s.source.as_deref() == Some(file.as_str()))
        {
            if let Some(p) = dump_figures(s) {
                let v = verdict::judge(&p, &f);
                // a dump whose pool is not known gets no pool-specific remedies
                let mut v = v;
                if s.pool.is_none() && v.kind != Kind::Wrapped {
                    v.next.clear();
                }
                out.push(FileVerdict {
                    file: file.clone(),
                    verdict: v,
                    dump: true,
                });
            }
        }
        for p in &i.log.rpc.pools {
            if pool.is_some_and(|q| q != p.pool) {
                continue;
            }
            if pid.is_some_and(|q| p.pid != Some(i128::from(q))) {
                continue;
            }
            let mut p = p.clone();
            if p.desc.is_none() {
                p.desc = i
                    .log
                    .rpc
                    .processes
                    .iter()
                    .find(|x| Some(x.pid) == p.pid)
                    .map(|x| x.desc.clone());
            }
            out.push(FileVerdict {
                file: file.clone(),
                verdict: verdict::judge(&p, &f),
                dump: false,
            });
        }
    }
    out
}

pub fn run(args: &AnalyzeArgs) -> Result<ExitStatus> {
    if super::modstats_view::all_snapshots(&args.files)? {
        let version = args.dumps.kamailio_version.as_deref();
        return super::modstats_view::analyze(&args.files, args.top, args.json, version);
    }
    let mut inputs = load(&args.files)?;
    let lost = super::lost_view::scan(&args.files);
    super::lost_view::mark(&lost, &mut inputs);
    let pool = args.dumps.pool;
    let chosen = select(&inputs, pool, args.dumps.pid)?;
    let by = args.dumps.by;
    let corruption = corruption_list(&inputs, &chosen, args.dumps.pid);
    // what was read is reported, whatever it says: 0 (2 only when nothing could be read)
    let status = 0;
    let verdicts = verdicts(&inputs, &chosen, pool, args.dumps.pid);
    let known =
        crate::commands::fixes::known_for(args.dumps.kamailio_version.as_deref(), &args.files)?;
    let known_fixes = known.as_ref().map(|k| {
        let tops: Vec<Group> = chosen.iter().flat_map(|s| top_groups(s, by, 3).0).collect();
        crate::commands::fixes::for_keys(k, by, tops.iter().map(|g| g.key.as_str()))
    });
    if args.json {
        let report = AnalyzeReport {
            schema: "kmemdbg.analyze/1",
            by,
            top: args.top,
            files: inputs
                .iter()
                .map(|i| FileReport {
                    path: i.path.display().to_string(),
                    dumps: i.log.snapshots.len(),
                    lines: i.log.lines.clone(),
                })
                .collect(),
            corruption,
            dumps: chosen
                .iter()
                .map(|s| {
                    let (groups, rest) = top_groups(s, by, args.top);
                    DumpReport {
                        file: s.source.clone().unwrap_or_default(),
                        summary: summary(s),
                        groups,
                        rest,
                        corruption: s.corruption.clone(),
                    }
                })
                .collect(),
            warnings: warnings(&inputs, &chosen),
            verdicts,
            rpc: inputs
                .iter()
                .filter(|i| !i.log.rpc.is_empty())
                .map(|i| RpcReport {
                    file: i.path.display().to_string(),
                    answers: i.log.rpc.clone(),
                })
                .collect(),
            known_fixes,
            lost,
        };
        crate::commands::print_json(&report)?;
        return Ok(status);
    }
    let mut o = super::lost_view::render(&lost);
    o.push_str(&render_text(&inputs, &chosen, by, args.top, args.dumps.pid));
    o.push_str(&render_rpc(&inputs, &verdicts, args.top));
    if let (Some(r), Some(k)) = (&known_fixes, &known) {
        crate::commands::fixes::render_known(&mut o, r, &k.data);
    }
    if !chosen.is_empty() {
        o.push_str(&next_step(&args.files, &chosen, by));
    }
    print!("{o}");
    Ok(status)
}

/// What to do after reading dumps: a single dump shows what is in use, not
/// what grows; the answer is a second dump after traffic, then `diff`.
fn next_step(files: &[std::path::PathBuf], chosen: &[&Snapshot], by: GroupBy) -> String {
    let shown: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let (series, _) = crate::dump::diff_all(chosen.iter().copied(), by);
    if !series.is_empty() {
        return format!(
            "\nnext: {} heap(s) were dumped more than once: `kmemdbg diff {}` names the sites that grew between the dumps\n",
            series.len(),
            shown.join(" ")
        );
    }
    let last = shown.last().cloned().unwrap_or_default();
    format!(
        "\nnext: each heap above was dumped once, and one dump shows what is in use, not what leaks. \
Let traffic run (an hour of ordinary traffic, or a load test), take a second dump of the same processes, then compare:\n  \
kmemdbg dump --shm --pkg all --out after.log\n  kmemdbg diff {last} after.log\n"
    )
}

/// Corruption in the chosen dumps, plus abort messages outside dumps (of `--pid` when given).
fn corruption_list(
    inputs: &[Input],
    chosen: &[&Snapshot],
    pid: Option<u32>,
) -> Vec<CorruptionReport> {
    let mut out = Vec::new();
    for i in inputs {
        let file = i.path.display().to_string();
        for c in &i.log.corruption {
            if pid.map_or(true, |p| c.pid == Some(p)) {
                out.push(CorruptionReport {
                    file: file.clone(),
                    marker: c.clone(),
                });
            }
        }
    }
    for s in chosen {
        for c in &s.corruption {
            out.push(CorruptionReport {
                file: s.source.clone().unwrap_or_default(),
                marker: c.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file).then(a.marker.line.cmp(&b.marker.line)));
    out
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The human report: corruption first, then each file's line statistics, then each dump.
pub fn render_text(
    inputs: &[Input],
    chosen: &[&Snapshot],
    by: GroupBy,
    top: usize,
    pid: Option<u32>,
) -> String {
    let mut o = String::new();
    let corruption = corruption_list(inputs, chosen, pid);
    if !corruption.is_empty() {
        let listed_in_dumps: usize = chosen.iter().map(|s| s.corruption.len()).sum();
        let total: u64 = chosen.iter().map(|s| s.corruption_total).sum::<u64>()
            + (corruption.len() - listed_in_dumps) as u64;
        let _ = writeln!(
            o,
            "!!! MEMORY CORRUPTION: {} marker(s). This is not a leak: code wrote past a fragment or freed it twice.",
            thousands(total)
        );
        for c in corruption.iter().take(20) {
            let m = &c.marker;
            let _ = write!(o, "!!!   {}:{}", c.file, m.line);
            if let Some(p) = m.pid {
                let _ = write!(o, " pid {p}");
            }
            if let Some(a) = &m.address {
                let _ = write!(o, " fragment {a}");
            }
            if let Some(site) = &m.site {
                let _ = write!(o, " alloc'd from {site}");
            }
            let _ = writeln!(o, ": {}", m.text.trim());
        }
        if corruption.len() > 20 {
            let _ = writeln!(o, "!!!   ... {} more (see --json)", corruption.len() - 20);
        }
        let said = |w: &str| corruption.iter().any(|c| c.marker.text.contains(w));
        if said("already freed") {
            let _ = writeln!(
                o,
                "!!! next: a pointer freed twice: the code at `called from` freed what the code at `first free` had \
already freed"
            );
        }
        if said("beginning overwritten") {
            let _ = writeln!(
                o,
                "!!! next: a `beginning overwritten` fragment was overrun by the code owning the fragment before it"
            );
        }
        if said("end overwritten") || !(said("already freed") || said("beginning overwritten")) {
            let _ = writeln!(
                o,
                "!!! next: an `end overwritten` fragment was overrun by the code that owns it (the site shown) or \
wrote past the fragment before it"
            );
        }
        let _ = writeln!(
            o,
            "!!! report these lines with the Kamailio version and modules\n"
        );
    }
    for i in inputs {
        let l = &i.log.lines;
        let kinds = |k: DumpKind| i.log.snapshots.iter().filter(|s| s.kind == k).count();
        let mut pids: Vec<Option<u32>> = i.log.snapshots.iter().map(|s| s.pid).collect();
        pids.sort();
        pids.dedup();
        // a dump without a PID (journalctl -o cat) is of an unknown process: never counted as one
        let known = pids.iter().flatten().count();
        let processes = match (known, pids.contains(&None)) {
            (0, true) => "process(es) unknown (no PID in the input)".to_string(),
            (n, true) => format!("{n} process(es) and process(es) unknown"),
            (n, false) => format!("{n} process(es)"),
        };
        let _ = writeln!(
            o,
            "{}: {} lines, {} dumps ({} status, {} summary) from {processes}",
            i.path.display(),
            thousands(l.lines),
            i.log.snapshots.len(),
            kinds(DumpKind::Status),
            kinds(DumpKind::Summary),
        );
        if l.alloc_debug_lines > 0 {
            let _ = writeln!(
                o,
                "  {} per-allocation qm_malloc/qm_free lines skipped (memdbg <= debug logs every allocation; keep memdbg above debug)",
                thousands(l.alloc_debug_lines)
            );
        }
        if l.rpc_lines > 0 {
            let r = &i.log.rpc;
            let _ = writeln!(
                o,
                "  {} lines of pasted RPC answers: {} pool figure(s), {} mod.stats block(s), {} process(es) named",
                thousands(l.rpc_lines),
                r.pools.len(),
                r.modules.len(),
                r.processes.len()
            );
        }
        if l.unreadable_lines > 0 {
            let _ = writeln!(
                o,
                "  {} lines not understood, e.g.:",
                thousands(l.unreadable_lines)
            );
            for s in &l.unreadable_samples {
                let _ = writeln!(o, "    line {}: {}", s.line, s.text);
            }
        }
    }
    for w in warnings(inputs, chosen) {
        let _ = writeln!(o, "warning: {w}");
    }
    for s in chosen {
        o.push('\n');
        render_dump(&mut o, s, by, top, inputs.len() > 1);
    }
    o
}

fn render_dump(o: &mut String, s: &Snapshot, by: GroupBy, top: usize, name_file: bool) {
    let _ = write!(
        o,
        "== dump {}: {}, lines {}-{}",
        s.index + 1,
        s.label(),
        s.first_line,
        s.last_line
    );
    if name_file {
        let _ = write!(o, " of {}", s.source.as_deref().unwrap_or("-"));
    }
    if let Some(t) = &s.time {
        let _ = write!(o, ", {t}");
    }
    if s.lost {
        o.push_str(" [LOST]");
    } else if !s.complete {
        o.push_str(" [TRUNCATED]");
    }
    o.push('\n');
    render_body(o, s, by, top);
}

/// A snapshot's heap line and its site table, the top `top` groups by `by`
/// (also `kmemdbg gdb`'s, so a walked pool reads like a dump).
pub fn render_body(o: &mut String, s: &Snapshot, by: GroupBy, top: usize) {
    let h = &s.heap;
    let wrapped = dump_figures(s).and_then(|p| verdict::wrapped(&p));
    if let (Some(size), Some(w)) = (h.size_bytes, &wrapped) {
        // never a free amount or a use above 100% from figures that wrapped
        let _ = write!(o, "   heap {}", human_bytes(size as f64));
        if let Some(u) = h.used_bytes.filter(|u| *u <= size) {
            let _ = write!(o, ": used {}", thousands(u));
        }
        let _ = writeln!(
            o,
            " ({} impossible: the counters wrapped, see the verdicts)",
            w.fields.join(", ")
        );
    } else if let Some(size) = h.size_bytes {
        let _ = write!(o, "   heap {}", human_bytes(size as f64));
        if let (Some(u), Some(uo), Some(f)) =
            (h.used_bytes, h.used_with_overhead_bytes, h.free_bytes)
        {
            let _ = write!(
                o,
                ": used {} ({}), with overhead {}, free {}",
                thousands(u),
                percent(u as f64 / size.max(1) as f64),
                thousands(uo),
                thousands(f)
            );
        }
        if let Some(m) = h.max_used_bytes {
            let _ = write!(o, ", max used {}", thousands(m));
        }
        o.push('\n');
    }
    if s.sites.is_empty() {
        if s.fragments_without_site == 0 {
            o.push_str("   no allocation sites in this dump\n");
        }
        return;
    }
    if s.total_bytes == 0 && s.total_count > 0 {
        // sizes are not in the input: never shown as 0 bytes
        let _ = writeln!(
            o,
            "   in use: {} fragments from {} sites (no sizes in the input: ranked by count)",
            thousands(s.total_count),
            s.sites.len()
        );
    } else {
        let _ = writeln!(
            o,
            "   in use: {} bytes in {} fragments from {} sites",
            thousands(s.total_bytes),
            thousands(s.total_count),
            s.sites.len()
        );
    }
    if s.corruption_total > 0 {
        let _ = writeln!(
            o,
            "   !!! {} damaged fragment(s) in this dump (listed at the top)",
            s.corruption_total
        );
    }
    let (groups, rest) = top_groups(s, by, top);
    let _ = writeln!(
        o,
        "   {:>13} {:>6} {:>9}  {}",
        "bytes",
        "share",
        "count",
        by.as_str()
    );
    let sized = s.total_bytes > 0;
    for g in &groups {
        let _ = writeln!(
            o,
            "   {:>13} {:>6} {:>9}  {}",
            if sized {
                thousands(g.bytes)
            } else {
                "?".to_string()
            },
            percent(g.share),
            thousands(g.count),
            g.key
        );
    }
    if rest.groups > 0 {
        let _ = writeln!(
            o,
            "   {:>13} {:>6} {:>9}  ({} more; --top 0 lists all)",
            thousands(rest.bytes),
            "",
            thousands(rest.count),
            rest.groups
        );
    }
    if s.fragments_without_site > 0 {
        let _ = writeln!(
            o,
            "   {:>13} {:>6} {:>9}  (fragments without a site)",
            thousands(s.bytes_without_site),
            "",
            thousands(s.fragments_without_site)
        );
    }
}

/// The verdicts, then the pasted RPC answers: failed allocations, mod.stats
/// per module, pool figures.
pub fn render_rpc(inputs: &[Input], verdicts: &[FileVerdict], top: usize) -> String {
    let mut o = String::new();
    for i in inputs {
        let l = &i.log.lines;
        if l.out_of_memory_lines > 0 {
            let _ = writeln!(
                o,
                "\n{}: {} out-of-memory line(s) (naming pkg {}, shm {}, no pool {})",
                i.path.display(),
                thousands(l.out_of_memory_lines),
                thousands(l.out_of_memory_pkg),
                thousands(l.out_of_memory_shm),
                thousands(
                    l.out_of_memory_lines
                        .saturating_sub(l.out_of_memory_pkg + l.out_of_memory_shm)
                )
            );
        }
        if l.out_of_memory_lines > 0 && i.log.snapshots.is_empty() && i.log.rpc.pools.is_empty() {
            o.push_str(
                "   next: these lines say memory ran out, not why; a small pool and a leak look the same here: \
paste `kamcmd pkg.stats` and `kamcmd core.shmmem` (or run `kmemdbg watch`) to see which pool is full and whether it grows\n",
            );
        }
        for m in &i.log.rpc.modules {
            let shown = m.module.as_deref().unwrap_or("(module not in the paste)");
            let pool = m.pool.map_or("pool ?", Pool::as_str);
            let _ = write!(
                o,
                "\n== mod.stats {shown}, {pool}, line {}: {} entries, {} bytes",
                m.line,
                m.entries.len(),
                thousands_signed(m.entries_bytes())
            );
            match m.total {
                Some(t) if t < 0 => {
                    let _ = write!(o, " (its Total: {t} wrapped at 32 bits)");
                }
                Some(t) if t != m.entries_bytes() => {
                    let _ = write!(o, " (its Total: says {})", thousands_signed(t));
                }
                Some(_) => {}
                None => o.push_str(" (no Total: line: cut short)"),
            }
            o.push('\n');
            let mut entries: Vec<_> = m.entries.iter().collect();
            entries.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.site.cmp(&b.site)));
            let n = if top == 0 {
                entries.len()
            } else {
                top.min(entries.len())
            };
            for e in &entries[..n] {
                let _ = writeln!(o, "   {:>13}  {}", thousands_signed(e.bytes), e.site);
            }
            if entries.len() > n {
                let _ = writeln!(o, "   ({} more; --top 0 lists all)", entries.len() - n);
            }
        }
    }
    // many healthy processes (pkg.stats of a busy proxy) in one line each file
    let ok_pkg =
        |v: &FileVerdict| !v.dump && v.verdict.kind == Kind::Ok && v.verdict.pool == Pool::Pkg;
    let mut grouped: Vec<String> = Vec::new();
    for i in inputs {
        let file = i.path.display().to_string();
        let oks: Vec<&FileVerdict> = verdicts
            .iter()
            .filter(|v| v.file == file && ok_pkg(v))
            .collect();
        if oks.len() > 3 {
            let top = oks
                .iter()
                .max_by(|a, b| {
                    let share = |v: &FileVerdict| v.verdict.use_share.unwrap_or(0.0);
                    share(a).total_cmp(&share(b))
                })
                .map(|v| v.verdict.text.clone())
                .unwrap_or_default();
            grouped.push(format!(
                "  {file}: pkg of {} processes ok; the fullest: {top}",
                oks.len()
            ));
        }
    }
    let shown: Vec<&FileVerdict> = verdicts
        .iter()
        .filter(|v| !(v.dump && v.verdict.kind == Kind::Ok))
        .filter(|v| {
            !(ok_pkg(v)
                && verdicts
                    .iter()
                    .filter(|w| w.file == v.file && ok_pkg(w))
                    .count()
                    > 3)
        })
        .collect();
    if !shown.is_empty() || !grouped.is_empty() {
        o.push_str("\nverdicts:\n");
        for g in &grouped {
            let _ = writeln!(o, "{g}");
        }
        for v in shown {
            let _ = writeln!(o, "  {}:{}: {}", v.file, v.verdict.line, v.verdict.text);
            for n in &v.verdict.next {
                let _ = writeln!(o, "      next: {n}");
            }
        }
    }
    o
}

fn thousands_signed(n: i128) -> String {
    let t = thousands(n.unsigned_abs().min(u128::from(u64::MAX)) as u64);
    if n < 0 {
        format!("-{t}")
    } else {
        t
    }
}
