//! `kmemdbg scan`: reads the log(s), prints the out-of-memory errors by
//! group, the timeline, what was ignored or lost, the verdict and the next
//! command (text, or `--json` schema `kmemdbg.scan/1`, see docs/commands/scan.md).

use crate::cli::ScanArgs;
use crate::commands::thousands;
use crate::kamcmd::Kamcmd;
use crate::scan::group::{Group, POOLS};
use crate::scan::input::{self, Totals};
use crate::scan::time::{civil_from_days, iso_utc, parse_since};
use crate::scan::verdict::{self, Context, Verdict};
use crate::scan::{Options, Scan, Scanner};
use crate::ExitStatus;
use anyhow::{Context as _, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The JSON schema name.
pub const SCHEMA: &str = "kmemdbg.scan/1";

/// Groups shown in the text output (the JSON lists all).
const TEXT_GROUPS: usize = 20;

fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One row of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    pub start: String,
    pub shm: u64,
    pub pkg: u64,
    pub sys: u64,
    pub unnamed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub bucket_s: u64,
    pub rows: Vec<TimelineRow>,
}

/// Minute counts merged into at most ~24 rows of a round width.
pub fn timeline(minutes: &BTreeMap<i64, [u64; 4]>) -> Option<Timeline> {
    let (first, last) = (*minutes.keys().next()?, *minutes.keys().next_back()?);
    let span = (last - first + 1).max(1);
    let width = [1i64, 5, 10, 15, 30, 60, 120, 360, 720, 1440, 10080]
        .into_iter()
        .find(|w| span / w < 24)
        .unwrap_or(10080);
    let mut rows: BTreeMap<i64, [u64; 4]> = BTreeMap::new();
    for (m, c) in minutes {
        let slot = rows.entry(m.div_euclid(width) * width).or_default();
        for i in 0..4 {
            slot[i] += c[i];
        }
    }
    Some(Timeline {
        bucket_s: width as u64 * 60,
        rows: rows
            .into_iter()
            .map(|(m, c)| TimelineRow {
                start: iso_utc(m as f64 * 60.0),
                shm: c[0],
                pkg: c[1],
                sys: c[2],
                unnamed: c[3],
            })
            .collect(),
    })
}

/// Lines the log says it dropped (journald, rsyslog rate limits).
#[derive(Serialize)]
struct Lost {
    lines: u64,
    reports: Vec<LostReport>,
}

#[derive(Serialize)]
struct LostReport {
    by: String,
    lines: Option<u64>,
    of: Option<String>,
    text: String,
}

fn lost_of(loss: &crate::scan::LossReport) -> Lost {
    Lost {
        lines: loss.reported_lines,
        reports: loss
            .reports
            .iter()
            .map(|d| LostReport {
                by: d.by.clone(),
                lines: d.lines,
                of: d.of.clone(),
                text: d.text.clone(),
            })
            .collect(),
    }
}

/// `scan --json`.
#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    inputs: &'a [String],
    lines: u64,
    bytes: u64,
    findings: u64,
    per_pool: BTreeMap<&'static str, u64>,
    groups: &'a [Group],
    starts: &'a [crate::scan::group::Start],
    timeline: Option<Timeline>,
    ignored: &'a [crate::scan::IgnoredCount],
    lost: Lost,
    before_since: u64,
    timed: bool,
    debug_build: Option<bool>,
    verdict: &'a Verdict,
    notes: &'a [String],
}

/// What the running proxy tells (roles, shm size, start time).
fn ask_proxy(ctl: &str, scan: &mut Scan, ctx: &mut Context, notes: &mut Vec<String>) {
    let k = match Kamcmd::new(Some(ctl)) {
        Ok(k) => k,
        Err(e) => {
            notes.push(format!("--ctl {ctl}: {e}"));
            return;
        }
    };
    match k.processes() {
        Ok(procs) => take_proxy(&k, &procs, scan, ctx),
        Err(e) => notes.push(format!(
            "core.psx over {ctl}: {e} (process roles not shown)"
        )),
    }
}

/// Roles without `--ctl`: the ctl socket of a kamailio running here, found
/// from its command line and cfg as `watch` and `size` find it, taken only
/// when its `core.psx` lists a PID of the log's errors (a log from another
/// box or an earlier run gets no roles). Never fails the scan: a note says
/// where the roles came from, or why there are none.
fn discover_proxy(scan: &mut Scan, ctx: &mut Context, notes: &mut Vec<String>) {
    let running = crate::service::health::running_ctl_sockets();
    if running.is_empty() {
        notes.push(
            "process roles not shown: no kamailio runs here (--ctl SOCKET asks a proxy)".into(),
        );
        return;
    }
    let mut log_pids: Vec<u32> = scan.groups.iter().filter_map(|g| g.pid).collect();
    log_pids.sort_unstable();
    log_pids.dedup();
    let mut why = Vec::new();
    for (pid, sock) in running {
        // a proxy none of whose processes wrote the log is not asked
        if !log_pids.iter().any(|&p| descends_from(p, pid)) {
            why.push(format!("kamailio PID {pid} runs none of the log's PIDs"));
            continue;
        }
        let Some(sock) = sock else {
            why.push(format!(
                "kamailio PID {pid}: no ctl socket found (no ctl module, or its socket is not \
                 where its cfg or -Y says)"
            ));
            continue;
        };
        let procs = Kamcmd::new(Some(&sock)).and_then(|k| k.processes().map(|p| (k, p)));
        match procs {
            Ok((k, procs)) if procs.iter().any(|p| log_pids.contains(&p.pid)) => {
                take_proxy(&k, &procs, scan, ctx);
                ctx.ctl = Some(sock.clone());
                notes.push(format!(
                    "process roles from core.psx over {sock} (kamailio PID {pid}, its ctl socket \
                     found from its command line and cfg)"
                ));
                return;
            }
            Ok(_) => why.push(format!(
                "kamailio PID {pid} ({sock}) runs none of the log's PIDs"
            )),
            Err(e) if format!("{e:#}").contains("Permission denied") => why.push(format!(
                "kamailio PID {pid}: permission denied on {sock} (run as root or as its owner)"
            )),
            Err(e) => why.push(format!("kamailio PID {pid}: {e}")),
        }
    }
    notes.push(format!("process roles not shown: {}", why.join("; ")));
}

/// True when `pid` runs and is `main` or one of its descendants.
fn descends_from(pid: u32, main: u32) -> bool {
    let mut p = pid;
    for _ in 0..16 {
        if p == main {
            return crate::procfs::alive(pid);
        }
        match crate::procfs::parent_of(p) {
            Some(parent) if parent > 1 => p = parent,
            _ => return false,
        }
    }
    false
}

/// Takes roles, ranks, shm size and start time from the proxy that runs
/// the log's processes.
fn take_proxy(k: &Kamcmd, procs: &[crate::kamcmd::Process], scan: &mut Scan, ctx: &mut Context) {
    for g in &mut scan.groups {
        if let Some(p) = procs.iter().find(|p| Some(p.pid) == g.pid) {
            g.role = Some(p.description.clone());
            if g.rank.is_none() {
                g.rank = Some(p.idx);
            }
        }
    }
    if let Ok(text) = k.call(&["core.shmmem"]) {
        ctx.shm_total = crate::kamcmd::records::parse_shmmem(&text).map(|s| s.total_bytes);
    }
    ctx.started_epoch = proxy_started_epoch(k);
}

/// When the running proxy started (seconds since the epoch), from `core.uptime`.
pub fn proxy_started_epoch(k: &Kamcmd) -> Option<f64> {
    let text = k.call(&["core.uptime"]).ok()?;
    let up = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("uptime:")
            .and_then(|v| v.trim().parse::<f64>().ok())
    })?;
    Some(now_epoch() - up)
}

/// What `triage` tells about the proxy's log: errors already there?
#[derive(Debug, Clone, Serialize)]
pub struct LogErrors {
    pub source: String,
    /// Which lines were counted: since the proxy started, or (no
    /// timestamps) after the log's last start line, or the whole log.
    pub range: String,
    pub findings: u64,
    pub per_pool: BTreeMap<&'static str, u64>,
}

/// Scans the proxy's log since the proxy started: the out-of-memory errors
/// already happening. The log is the file the proxy's stderr goes to when
/// it logs there ([`input::proxy_stderr`]), else the one `dump` would read
/// ([`input::scan_discovered`]). A log without timestamps (stderr) counts
/// from its last start line of the proxy.
pub fn log_errors(k: &Kamcmd) -> Result<LogErrors> {
    let now = now_epoch();
    let year = civil_from_days((now / 86400.0).floor() as i64).0;
    let since = proxy_started_epoch(k);
    let mut scanner = Scanner::new(Options { year, since });
    let mut totals = Totals::default();
    let pids: Vec<u32> = k
        .processes()
        .map(|ps| ps.iter().map(|p| p.pid).collect())
        .unwrap_or_default();
    let source = match input::proxy_stderr(&pids) {
        Some(path) => {
            scanner.begin_input(true);
            input::scan_file(&path, &mut scanner, &mut totals)?;
            format!(
                "stderr capture {} (where the proxy's stderr goes)",
                path.display()
            )
        }
        None => input::scan_discovered(&mut scanner, since, &mut totals)?,
    };
    let scan = scanner.finish(totals.lines, totals.bytes);
    let per_pool = |counts: &[u64; 4]| -> BTreeMap<&'static str, u64> {
        POOLS
            .iter()
            .zip(counts)
            .filter(|(_, &c)| c > 0)
            .map(|(p, &c)| (p.as_str(), c))
            .collect()
    };
    let (range, findings, pools) = match (scan.timed, since, scan.starts.last()) {
        (true, Some(_), _) => (
            "since the proxy started (core.uptime), by the lines' timestamps".to_string(),
            scan.findings,
            scan.per_pool()
                .into_iter()
                .map(|(p, c)| (p.as_str(), c))
                .collect(),
        ),
        (false, _, Some(last)) => (
            format!(
                "after the log's last start line of the proxy (line {}; the log has no timestamps)",
                last.line
            ),
            last.findings,
            per_pool(&last.per_pool),
        ),
        _ => (
            "the whole log (no timestamps and no start line of the proxy in it)".to_string(),
            scan.findings,
            scan.per_pool()
                .into_iter()
                .map(|(p, c)| (p.as_str(), c))
                .collect(),
        ),
    };
    Ok(LogErrors {
        source,
        range,
        findings,
        per_pool: pools,
    })
}

/// `--service UNIT` / `--pidfile FILE` for the suggested commands.
fn target_of(args: &ScanArgs) -> String {
    if let Some(unit) = &args.journal {
        return format!("--service {}", unit.trim_end_matches(".service"));
    }
    if Path::new("/run/kamailio/kamailio.pid").exists() {
        return "--pidfile /run/kamailio/kamailio.pid".into();
    }
    "--service kamailio".into()
}

pub fn run(args: &ScanArgs) -> Result<ExitStatus> {
    let now = now_epoch();
    let year = args
        .year
        .unwrap_or_else(|| civil_from_days((now / 86400.0).floor() as i64).0);
    let since = match &args.since {
        Some(s) => Some(parse_since(s, now).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let mut scanner = Scanner::new(Options { year, since });
    let mut totals = Totals::default();
    let mut inputs = Vec::new();
    if let Some(unit) = &args.journal {
        inputs.push(format!("journal of {unit}"));
        scanner.begin_input(false);
        input::scan_journal(unit, since, &mut scanner, &mut totals)?;
        scanner.add_drops(input::journal_drops(unit, since));
    }
    if args.logs.is_empty() && args.journal.is_none() {
        let what = input::scan_discovered(&mut scanner, since, &mut totals).context(
            "no log given and none found: give a log file (e.g. /var/log/syslog), - for stdin, or --journal UNIT",
        )?;
        inputs.push(what);
    }
    for path in &args.logs {
        scanner.begin_input(true);
        if path.as_os_str() == "-" {
            inputs.push("stdin".into());
            input::scan_reader(&mut std::io::stdin().lock(), &mut scanner, &mut totals)?;
        } else {
            inputs.push(path.display().to_string());
            input::scan_file(path, &mut scanner, &mut totals)?;
        }
    }
    let mut scan = scanner.finish(totals.lines, totals.bytes);
    let mut notes = Vec::new();
    let mut ctx = Context {
        target: target_of(args),
        ctl: args.ctl.clone(),
        ..Context::default()
    };
    if let Some(ctl) = &args.ctl {
        ask_proxy(ctl, &mut scan, &mut ctx, &mut notes);
    } else if scan.groups.iter().any(|g| g.pid.is_some()) {
        discover_proxy(&mut scan, &mut ctx, &mut notes);
    }
    if since.is_some() && !scan.timed && scan.lines > 0 {
        notes.push("--since was not applied: the log has no timestamps (a stderr capture)".into());
    }
    let verdict = verdict::decide(&scan, &ctx);
    let code = if scan.findings > 0 { 1 } else { 0 };
    if args.json {
        let per_pool = scan
            .per_pool()
            .into_iter()
            .map(|(p, c)| (p.as_str(), c))
            .collect();
        let report = Report {
            schema: SCHEMA,
            inputs: &inputs,
            lines: scan.lines,
            bytes: scan.bytes,
            findings: scan.findings,
            per_pool,
            groups: &scan.groups,
            starts: &scan.starts,
            timeline: timeline(&scan.timeline),
            ignored: &scan.ignored,
            lost: lost_of(&scan.loss),
            before_since: scan.before_since,
            timed: scan.timed,
            debug_build: scan.debug_build,
            verdict: &verdict,
            notes: &notes,
        };
        super::print_json(&report)?;
        return Ok(code);
    }
    print_text(&inputs, &scan, &verdict, &notes);
    Ok(code)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

fn print_text(inputs: &[String], scan: &Scan, verdict: &Verdict, notes: &[String]) {
    for n in notes {
        eprintln!("kmemdbg: note: {n}");
    }
    let pools: Vec<String> = scan
        .per_pool()
        .iter()
        .map(|(p, c)| format!("{} {}", thousands(*c), p.as_str()))
        .collect();
    println!(
        "{} out-of-memory error(s) in {} ({} lines){}",
        thousands(scan.findings),
        inputs.join(", "),
        thousands(scan.lines),
        if pools.is_empty() {
            String::new()
        } else {
            format!(": {}", pools.join(", "))
        }
    );
    if scan.before_since > 0 {
        println!(
            "({} matching lines before --since skipped)",
            thousands(scan.before_since)
        );
    }
    if !scan.groups.is_empty() {
        println!();
        println!(
            "{:<7} {:>7} {:>4}  {:<18} {:<12} {:<22} {:>9}  {:<19} {:<19} {:>8}  size",
            "pool",
            "pid",
            "rank",
            "role",
            "module",
            "function",
            "count",
            "first",
            "last",
            "per min"
        );
        for g in scan.groups.iter().take(TEXT_GROUPS) {
            let when =
                |t: &Option<String>, line: u64| t.clone().unwrap_or_else(|| format!("line {line}"));
            let size = match (g.size_min, g.size_max) {
                (Some(a), Some(b)) if a == b => format!("{a} B"),
                (Some(a), Some(b)) => format!("{a}-{b} B"),
                _ => "-".into(),
            };
            let pool = if g.pool_from == "neighbour" {
                format!("{}*", g.pool.as_str())
            } else {
                g.pool.as_str().to_string()
            };
            println!(
                "{:<7} {:>7} {:>4}  {:<18} {:<12} {:<22} {:>9}  {:<19} {:<19} {:>8}  {size}",
                pool,
                opt(g.pid),
                opt(g.rank),
                cut(g.role.as_deref().unwrap_or("-"), 18),
                cut(g.module.as_deref().unwrap_or("-"), 12),
                cut(g.function.as_deref().unwrap_or("-"), 22),
                thousands(g.count),
                cut(&when(&g.first_time, g.first_line), 19),
                cut(&when(&g.last_time, g.last_line), 19),
                g.per_minute.map_or("-".into(), |r| format!("{r:.1}")),
            );
        }
        if scan.groups.len() > TEXT_GROUPS {
            println!(
                "... {} more groups (--json lists all)",
                scan.groups.len() - TEXT_GROUPS
            );
        }
        if scan.groups.iter().any(|g| g.pool_from == "neighbour") {
            println!("(* pool taken from the same process's neighbouring line; the message does not name it)");
        }
        if let Some(g) = scan.groups.first() {
            println!("e.g. {}", g.example);
        }
    }
    if let Some(t) = timeline(&scan.timeline) {
        if t.rows.len() > 1 {
            println!();
            println!("timeline ({} min per row):", t.bucket_s / 60);
            let max = t
                .rows
                .iter()
                .map(|r| r.shm + r.pkg + r.sys + r.unnamed)
                .max()
                .unwrap_or(1)
                .max(1);
            for r in &t.rows {
                let n = r.shm + r.pkg + r.sys + r.unnamed;
                let bar = "#".repeat(((n * 40).div_ceil(max)) as usize);
                println!("  {}  {:>9}  {bar}", r.start, thousands(n));
            }
        }
    }
    if !scan.ignored.is_empty() {
        println!();
        println!("ignored on purpose (not counted above):");
        for i in &scan.ignored {
            println!("  {:>7} {}", thousands(i.count), i.explain);
            println!("          e.g. {}", cut(&i.example, 160));
        }
    }
    if scan.loss.reported_lines > 0 || !scan.loss.reports.is_empty() {
        println!();
        println!(
            "lost: the log dropped {} line(s) in this range (rate limit); the counts above are a lower bound",
            thousands(scan.loss.reported_lines)
        );
        for r in scan.loss.reports.iter().take(5) {
            println!("  {}", cut(&r.text, 160));
        }
    }
    println!();
    println!("verdict: {}", verdict.summary);
    for r in &verdict.reasons {
        println!("  - {r}");
    }
    if !verdict.next.is_empty() {
        println!();
        println!("next:");
        for n in &verdict.next {
            println!("  {}", n.command);
            println!("      {}", n.why);
        }
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('~');
        t
    }
}
