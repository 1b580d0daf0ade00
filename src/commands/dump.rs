//! `kmemdbg dump`: trigger memory dumps on a running proxy, save exactly
//! those lines, and say which processes did not answer and why.

use crate::capture::source::SourceInfo;
use crate::capture::{self, blocks::Block, Event, Outcome, PkgSelection, Status, Target};
use crate::cli::DumpArgs;
use crate::fsx;
use crate::ExitStatus;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// `dump --json` schema (fields are only ever added):
/// `{ "schema": "kmemdbg.dump/1", "ok": bool, "out": path|null,
///    "source": {"kind": "syslog|stderr|journal", "path"|"unit"},
///    "stats": {"start_offset","bytes","lines","rotations","truncations"},
///    "settings": {"debug","memlog","mem_summary","log_facility","unreadable"?},
///    "requests": [{"target": {"kind": "shm"|"pkg"|"signal", "pid"?, "description"?},
///                  "status": "ok|truncated|missing|skipped", "expected_blocks",
///                  "blocks": [index], "causes": [text], "pokes", "waited_s"}],
///    "blocks": [{"pid","pool","kind","state","lines","entries","short","heading",
///                "corruption","note","kept"}],
///    "kept_lines", "notes": [text] }`.
#[derive(Serialize)]
pub struct DumpReport<'a> {
    pub schema: &'static str,
    pub ok: bool,
    pub out: Option<String>,
    pub source: &'a SourceInfo,
    pub stats: &'a capture::source::SourceStats,
    pub settings: &'a capture::explain::Settings,
    pub requests: &'a [capture::Request],
    pub blocks: Vec<BlockReport<'a>>,
    pub kept_lines: u64,
    pub notes: &'a [String],
    /// Every triggered dump arrived whole.
    pub complete: bool,
    /// Lines the log dropped (0 when none is known).
    pub lost_lines: u64,
    /// Who dropped them and why (`null` when nothing was lost).
    pub cause: Option<String>,
    /// The shm dump chosen before triggering (status or summary) and why.
    pub choice: &'a Option<capture::budget::Choice>,
    /// The pkg dumps chosen before triggering (all processes asked for together).
    pub pkg_choice: &'a Option<capture::budget::Choice>,
    /// `--settle`: what the wait for in-flight transactions saw.
    pub settle: Option<capture::route::Settled>,
    /// mem_summary could not be put back (with the command that does it).
    pub restore_error: &'a Option<String>,
}

#[derive(Serialize)]
pub struct BlockReport<'a> {
    #[serde(flatten)]
    pub block: &'a Block,
    /// Written to the output (it answers a request).
    pub kept: bool,
}

pub fn run(args: &DumpArgs) -> Result<ExitStatus> {
    if args.mod_stats {
        return run_mod_stats(args);
    }
    let opts = options(args)?;
    // From here Ctrl-C unwinds (mem_summary is put back) instead of killing.
    crate::interrupt::arm();
    let out_path = args.out.clone().unwrap_or_else(default_out);
    let settle = match args.settle {
        Some(limit) => {
            let k = crate::kamcmd::Kamcmd::new(Some(&args.ctl))?;
            let main_pid = main_pid_of(&k, &args.pid_file);
            Some(settle_before(&k, limit, &out_path, main_pid))
        }
        None => None,
    };
    let mut staged = fsx::Staged::new(&out_path, 0o640)?;
    let json = args.json;
    let outcome = {
        let mut w = BufWriter::new(staged.file());
        let outcome = capture::capture(&opts, &mut w, &mut |e| progress(&e))?;
        w.flush()
            .with_context(|| format!("cannot write {}", out_path.display()))?;
        outcome
    };
    let wrote = outcome.kept_lines > 0;
    if wrote {
        staged.commit()?;
    }
    let out_shown = wrote.then(|| out_path.display().to_string());
    if json {
        crate::commands::print_json(&DumpReport {
            schema: "kmemdbg.dump/1",
            ok: outcome.all_ok(),
            out: out_shown,
            source: &outcome.source,
            stats: &outcome.stats,
            settings: &outcome.settings,
            requests: &outcome.requests,
            blocks: outcome
                .blocks
                .iter()
                .zip(&outcome.owners)
                .map(|(block, o)| BlockReport {
                    block,
                    kept: o.is_some(),
                })
                .collect(),
            kept_lines: outcome.kept_lines,
            notes: &outcome.notes,
            complete: outcome.complete(),
            lost_lines: lost_lines(&outcome),
            cause: outcome.requests.iter().find_map(|r| r.lost_cause.clone()),
            choice: &outcome.choice,
            pkg_choice: &outcome.pkg_choice,
            settle,
            restore_error: &outcome.restore_error,
        })?;
    } else {
        print!(
            "{}",
            render_text(&outcome, wrote.then_some(out_path.as_path()))
        );
    }
    Ok(if outcome.all_ok() { 0 } else { 1 })
}

/// Lines lost over all requests.
fn lost_lines(o: &Outcome) -> u64 {
    o.requests.iter().filter_map(|r| r.lost_lines).sum()
}

/// `dump --mod-stats --json` schema: `{ "schema": "kmemdbg.dump-mod-stats/1",
///   "out", "rpc", "header": {time, unix_time, main_pid, kamailio, ctl},
///   "sections": [{"rpc","pool","answered_by"?,"sites","total_bytes"}], "settle"?, "notes" }`.
#[derive(Serialize)]
struct ModStatsReport<'a> {
    schema: &'static str,
    out: String,
    rpc: &'a str,
    header: &'a crate::dump::modstats::Header,
    sections: Vec<SectionReport<'a>>,
    settle: Option<capture::route::Settled>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct SectionReport<'a> {
    rpc: &'a str,
    pool: &'a str,
    answered_by: Option<&'a str>,
    sites: usize,
    total_bytes: i64,
}

/// Takes a `mod.stats` snapshot over `k` and writes it to `path` (for
/// `watch --snapshots`); the main PID comes from `core.psx`.
pub fn save_mod_stats(k: &crate::kamcmd::Kamcmd, path: &Path) -> Result<()> {
    let main_pid = k
        .processes()
        .ok()
        .and_then(|ps| capture::trigger::main_pid(Some(&ps), Path::new("/nonexistent")).ok());
    let cap = capture::route::mod_stats(k, main_pid, capture::route::version(k))?;
    let mut staged = fsx::Staged::new(path, 0o640)?;
    staged
        .file()
        .write_all(cap.text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    staged.commit()
}

/// The proxy's main PID (from `core.psx`, else the PID file).
fn main_pid_of(k: &crate::kamcmd::Kamcmd, pid_file: &Path) -> Option<u32> {
    k.processes()
        .ok()
        .and_then(|ps| capture::trigger::main_pid(Some(&ps), pid_file).ok())
}

/// `--settle`: waits, at most `limit`, for `tm.stats` current to be back at
/// its level at the previous snapshot of this proxy (the newest
/// `mod.stats` snapshot in `out`'s directory with the same main PID, or
/// the same ctl socket), else at 0, or no longer falling.
fn settle_before(
    k: &crate::kamcmd::Kamcmd,
    limit: std::time::Duration,
    out: &Path,
    main_pid: Option<u32>,
) -> capture::route::Settled {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let files = snapshot_headers(dir);
    let baseline = crate::dump::modstats::settle_baseline(&files, main_pid, Some(&k.socket));
    let whence = match &baseline {
        Some(b) => format!(
            "back to {} (tm_current of the previous snapshot {})",
            b.current, b.from
        ),
        None => "back to 0 (no previous snapshot: waiting for 0 or no longer falling)".into(),
    };
    eprintln!(
        "kmemdbg: waiting at most {:.0}s for in-flight transactions to be {whence} (--settle)",
        limit.as_secs_f64()
    );
    let mut s = capture::route::settle(k, limit, baseline.as_ref().map(|b| b.current));
    s.note = match &baseline {
        Some(b) => format!(
            "{} (baseline from the previous snapshot {})",
            s.note, b.from
        ),
        None => format!(
            "{} (no previous snapshot: waiting for 0 or no longer falling)",
            s.note
        ),
    };
    s.baseline_from = baseline.map(|b| b.from);
    eprintln!("kmemdbg: {}", s.note);
    s
}

/// The first 4 KiB (the header) of each snapshot file in `dir`.
fn snapshot_headers(dir: &Path) -> Vec<(String, String)> {
    use std::io::Read;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let p = e.path();
        let mut buf = Vec::new();
        let read = std::fs::File::open(&p).and_then(|f| f.take(4096).read_to_end(&mut buf));
        if read.is_err() {
            continue;
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        if crate::dump::modstats::is_snapshot(&text) {
            out.push((p.display().to_string(), text));
        }
    }
    out
}

/// `dump --mod-stats`: the log-free route.
fn run_mod_stats(args: &DumpArgs) -> Result<ExitStatus> {
    let k = crate::kamcmd::Kamcmd::new(Some(&args.ctl))?;
    let out_path = args.out.clone().unwrap_or_else(|| {
        let p = default_out();
        p.with_extension("modstats")
    });
    let main_pid = main_pid_of(&k, &args.pid_file);
    let settle = args
        .settle
        .map(|limit| settle_before(&k, limit, &out_path, main_pid));
    let cap = capture::route::mod_stats(&k, main_pid, capture::route::version(&k))?;
    let mut staged = fsx::Staged::new(&out_path, 0o640)?;
    staged
        .file()
        .write_all(cap.text.as_bytes())
        .with_context(|| format!("cannot write {}", out_path.display()))?;
    staged.commit()?;
    let mut notes = Vec::new();
    if let Some(p) = cap.snapshot.section("pkg") {
        notes.push(format!(
            "the pkg section is the private memory of {} only (the process that answered the RPC), not of the other processes",
            p.answered_by.as_deref().unwrap_or("the process that answered the RPC")
        ));
    }
    if !cap.rpc.ends_with('x') {
        notes.push("mod.stats gives bytes per site, no counts".into());
    }
    if cap.snapshot.wrapped > 0 {
        notes.push(format!(
            "{} values are negative: Kamailio prints them as 32-bit ints, which wrap above 2 GiB",
            cap.snapshot.wrapped
        ));
    }
    let sections: Vec<SectionReport> = cap
        .snapshot
        .sections
        .iter()
        .map(|s| SectionReport {
            rpc: &s.rpc,
            pool: &s.pool,
            answered_by: s.answered_by.as_deref(),
            sites: s.sites.len(),
            total_bytes: s.totals.values().sum(),
        })
        .collect();
    if args.json {
        crate::commands::print_json(&ModStatsReport {
            schema: "kmemdbg.dump-mod-stats/1",
            out: out_path.display().to_string(),
            rpc: &cap.rpc,
            header: &cap.snapshot.header,
            sections,
            settle,
            notes,
        })?;
    } else {
        for s in &sections {
            println!(
                "ok        {}: {} sites, {} in all{}",
                s.rpc,
                s.sites,
                crate::units::human_bytes(s.total_bytes as f64),
                s.answered_by
                    .map(|b| format!(" (process {b} only)"))
                    .unwrap_or_default()
            );
        }
        for n in &notes {
            println!("note: {n}");
        }
        let p = out_path.display();
        println!("wrote {p}\nnext: kmemdbg analyze {p}   (kmemdbg diff BEFORE.modstats {p} ranks what grew)");
    }
    Ok(0)
}

/// Turns the command line into capture options (validating it first).
fn options(args: &DumpArgs) -> Result<capture::Options> {
    let pkg = pkg_selection(&args.pkg)?;
    let shm = args.shm || (pkg == PkgSelection::None && !args.signal);
    let source = if let Some(p) = &args.stderr {
        SourceInfo::Stderr { path: p.clone() }
    } else if let Some(u) = &args.journal {
        SourceInfo::Journal { unit: u.clone() }
    } else if let Some(p) = &args.log {
        SourceInfo::Syslog { path: p.clone() }
    } else {
        default_source()?
    };
    let poke = match &args.poke {
        Some(a) => Some(parse_addr(a)?),
        None => None,
    };
    if args.timeout.is_zero() {
        bail!("--timeout 0: give the time to wait for each dump, e.g. 10s");
    }
    Ok(capture::Options {
        pkg,
        shm,
        signal: args.signal,
        ctl: Some(args.ctl.clone()),
        pid_file: args.pid_file.clone(),
        source,
        poke,
        timeout: args.timeout,
        full: args.full,
        summary: args.summary,
    })
}

/// `--pkg 123 --pkg 456`, `--pkg all`, `--pkg 123,456`.
pub fn pkg_selection(values: &[String]) -> Result<PkgSelection> {
    let mut pids = Vec::new();
    for v in values.iter().flat_map(|v| v.split(',')) {
        let v = v.trim();
        if v.eq_ignore_ascii_case("all") {
            return Ok(PkgSelection::All);
        }
        let pid: u32 = v.parse().ok().filter(|&p| p > 0).with_context(|| {
            format!("--pkg {v:?}: expected a PID (see `kamcmd core.psx`) or `all`")
        })?;
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    Ok(if pids.is_empty() {
        PkgSelection::None
    } else {
        PkgSelection::Pids(pids)
    })
}

fn parse_addr(a: &str) -> Result<SocketAddr> {
    let addr = a
        .strip_prefix("udp:")
        .or_else(|| a.strip_prefix("sip:"))
        .unwrap_or(a);
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .with_context(|| format!("--poke {a:?}: expected ADDR:PORT, e.g. 127.0.0.1:5060"))
}

/// Where kamailio logs, found ([`capture::source::discover`]): a syslog
/// file that receives its lines, else journald for its systemd unit.
fn default_source() -> Result<SourceInfo> {
    let (source, why) = capture::source::discover()?;
    eprintln!("kmemdbg: reading {source}: {why} (choose with --log, --journal or --stderr)");
    Ok(source)
}

/// `kmemdbg-dump-20261125T221501Z.log` in the current directory.
fn default_out() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from(format!("kmemdbg-dump-{}.log", utc_stamp(secs)))
}

/// `YYYYMMDDTHHMMSSZ` for a UNIX time (UTC).
pub fn utc_stamp(secs: u64) -> String {
    // `2026-11-25 22:21:15 UTC` -> `20261125T222115Z`
    let text = crate::units::utc_text(secs * 1000);
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    format!("{}T{}Z", &digits[..8], &digits[8..])
}

/// Progress on stderr while waiting (the report itself goes to stdout).
fn progress(e: &Event<'_>) {
    match e {
        Event::Following { source, offset } => {
            eprintln!("kmemdbg: following the {source} from byte {offset}")
        }
        Event::Triggered { target } => eprintln!("kmemdbg: asked for {target}, waiting ..."),
        Event::Planned { choice } => {
            eprintln!("kmemdbg: {}", choice.why);
            if choice.shape == capture::budget::Shape::Status && !choice.fits {
                for r in &choice.remedies {
                    eprintln!("kmemdbg:   to make it fit: {r}");
                }
            }
        }
        Event::Done { request } => eprintln!(
            "kmemdbg: {}: {} after {:.1}s",
            request.target,
            status_word(request.status),
            request.waited_s
        ),
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "captured",
        // said while waiting, before the loss checks: the report says LOST or TRUNCATED
        Status::Truncated => "stopped before its end marker",
        Status::Missing => "did not answer",
        Status::Lost => "LOST (lines dropped by the log)",
        Status::Skipped => "skipped",
    }
}

/// The human report: one line per request, causes under each failure.
pub fn render_text(o: &Outcome, out: Option<&Path>) -> String {
    let mut s = String::new();
    for c in o.choice.iter().chain(&o.pkg_choice) {
        s.push_str(&format!("route: {}\n", c.why));
    }
    for r in &o.requests {
        let who = match &r.target {
            Target::Shm => "shm".to_string(),
            t => t.to_string(),
        };
        let blocks: Vec<String> = r
            .blocks
            .iter()
            .map(|&i| describe_block(&o.blocks[i], r.pid()))
            .collect();
        let status = match r.status {
            Status::Ok => "ok",
            Status::Truncated => "TRUNCATED",
            Status::Missing => "NO ANSWER",
            Status::Lost => "LOST",
            Status::Skipped => "SKIPPED",
        };
        s.push_str(&format!("{status:<9} {who}"));
        if !blocks.is_empty() {
            s.push_str(&format!(": {}", blocks.join("; ")));
        }
        if r.pokes > 0 {
            s.push_str(&format!(" ({} SIP OPTIONS sent)", r.pokes));
        }
        s.push('\n');
        for c in &r.causes {
            s.push_str(&format!("          - {c}\n"));
        }
    }
    let ignored = o.owners.iter().filter(|x| x.is_none()).count();
    if ignored > 0 {
        s.push_str(&format!(
            "ignored {ignored} other dump(s) in the log: not requested, or repeats (a process that wakes late runs every queued mem_dump_pkg change with the latest value)\n"
        ));
    }
    for n in &o.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    if let Some(e) = &o.restore_error {
        s.push_str(&format!("WARNING: {e}\n"));
    }
    if o.stats.rotations + o.stats.truncations > 0 {
        s.push_str(&format!(
            "note: the log was rotated {} and truncated {} time(s) while reading; no line was skipped\n",
            o.stats.rotations, o.stats.truncations
        ));
    }
    match out {
        Some(p) => {
            let p = p.display();
            s.push_str(&format!(
                "wrote {} lines to {p}\nnext: kmemdbg analyze {p}   (kmemdbg diff BEFORE {p} compares two dumps)\n",
                o.kept_lines
            ));
        }
        None => s.push_str("nothing captured; no file written\n"),
    }
    s
}

fn describe_block(b: &Block, requested_pid: Option<u32>) -> String {
    let pool = match b.pool {
        Some(crate::mem::Pool::Pkg) => "pkg ",
        Some(crate::mem::Pool::Shm) => "shm ",
        None => "",
    };
    let kind = match b.kind {
        Some(capture::blocks::Kind::Status) if b.short => "short status",
        Some(capture::blocks::Kind::Status) => "status",
        Some(capture::blocks::Kind::Summary) => "summary",
        None => "dump",
    };
    let unit = match b.kind {
        Some(capture::blocks::Kind::Summary) => "sites",
        _ => "fragments",
    };
    let state = match b.state {
        capture::blocks::State::Complete => String::new(),
        capture::blocks::State::Truncated => ", cut off".into(),
        capture::blocks::State::Open => ", unfinished".into(),
        capture::blocks::State::Empty => ", empty".into(),
    };
    let corrupt = if b.corruption {
        ", MEMORY CORRUPTION reported"
    } else {
        ""
    };
    let who = if requested_pid == Some(b.pid) {
        String::new()
    } else {
        format!("PID {} ", b.pid)
    };
    format!(
        "{who}{pool}{kind}, {} lines, {} {unit}{state}{corrupt}",
        b.lines, b.entries
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_795_645_275), "20261125T222115Z");
    }

    #[test]
    fn pkg_values() {
        assert_eq!(pkg_selection(&[]).unwrap(), PkgSelection::None);
        assert_eq!(
            pkg_selection(&["12,13".into(), "12".into()]).unwrap(),
            PkgSelection::Pids(vec![12, 13])
        );
        assert_eq!(pkg_selection(&["ALL".into()]).unwrap(), PkgSelection::All);
        let e = pkg_selection(&["x".into()]).unwrap_err().to_string();
        assert!(e.contains("expected a PID"), "{e}");
        assert!(pkg_selection(&["0".into()]).is_err());
    }

    #[test]
    fn poke_addresses() {
        assert_eq!(parse_addr("udp:127.0.0.1:5060").unwrap().port(), 5060);
        assert!(parse_addr("127.0.0.1").is_err());
    }
}
