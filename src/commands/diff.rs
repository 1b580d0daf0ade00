//! `kmemdbg diff`: compares dumps of the same heap over time and ranks the
//! sites that grew; with three or more dumps, flags the ones that grew every
//! time. The comparison is [`crate::dump::diff`]; this file loads and prints.

use crate::cli::DiffArgs;
use crate::commands::analyze::{load, select, warnings};
use crate::commands::{signed_thousands, thousands};
use crate::dump::{diff_all, GroupBy, Series, SeriesKey, Snapshot};
use crate::ExitStatus;
use anyhow::{bail, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `diff --json` schema `kmemdbg.diff/1` (fields are only ever added).
#[derive(Serialize)]
pub struct DiffReport {
    pub schema: &'static str,
    pub by: GroupBy,
    pub top: usize,
    pub files: Vec<String>,
    /// Heaps with two or more dumps; `growing` cut to `top` (all when 0).
    pub series: Vec<Series>,
    /// Heaps dumped only once (nothing to compare them with).
    pub single: Vec<String>,
    pub warnings: Vec<String>,
    /// Known leak fixes of the top growing sites, when the version is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_fixes: Option<crate::commands::fixes::KnownReport>,
    /// Inputs whose log dropped lines: growth from them is a lower bound.
    pub lost: Vec<super::lost_view::LostFile>,
}

pub fn run(args: &DiffArgs) -> Result<ExitStatus> {
    if super::modstats_view::all_snapshots(&args.files)? {
        let pool = match args.dumps.pool {
            Some(crate::mem::Pool::Pkg) => "pkg",
            _ => "shm",
        };
        let version = args.dumps.kamailio_version.as_deref();
        return super::modstats_view::diff(&args.files, pool, args.top, args.json, version);
    }
    let mut inputs = load(&args.files)?;
    let lost = super::lost_view::scan(&args.files);
    super::lost_view::mark(&lost, &mut inputs);
    let chosen = select(&inputs, args.dumps.pool, args.dumps.pid)?;
    let by = args.dumps.by;
    let (mut series, single) = diff_all(chosen.iter().copied(), by);
    if series.is_empty() {
        let labels: Vec<String> = single.iter().map(|k| k.label()).collect();
        bail!(
            "nothing to compare: every heap was dumped once ({}); give dumps taken at different times, \
oldest first (kmemdbg diff before.log after.log), or a log holding two dumps of the same process",
            labels.join("; ")
        );
    }
    if args.top > 0 {
        for s in &mut series {
            s.growing.truncate(args.top);
        }
    }
    let mut warn = order_warnings(&args.files, &chosen);
    warn.extend(
        warnings(&inputs, &chosen)
            .into_iter()
            .filter(|w| !w.contains("fragments listed without a site")),
    );
    let known =
        crate::commands::fixes::known_for(args.dumps.kamailio_version.as_deref(), &args.files)?;
    let known_fixes = known.as_ref().map(|k| {
        let keys = series.iter().flat_map(|s| s.growing.iter().take(3));
        crate::commands::fixes::for_keys(k, by, keys.map(|g| g.key.as_str()))
    });
    if args.json {
        crate::commands::print_json(&DiffReport {
            schema: "kmemdbg.diff/1",
            by,
            top: args.top,
            files: args.files.iter().map(|p| p.display().to_string()).collect(),
            series,
            single: single.iter().map(|k| k.label()).collect(),
            warnings: warn,
            known_fixes,
            lost,
        })?;
        return Ok(0);
    }
    let mut o = super::lost_view::render(&lost);
    for w in &warn {
        let _ = writeln!(o, "warning: {w}");
    }
    for s in &series {
        render_series(&mut o, s, by);
    }
    if !single.is_empty() {
        let labels: Vec<String> = single.iter().map(|k| k.label()).collect();
        let _ = writeln!(o, "\nnot compared (one dump each): {}", labels.join("; "));
    }
    if let (Some(r), Some(k)) = (&known_fixes, &known) {
        crate::commands::fixes::render_known(&mut o, r, &k.data);
    }
    print!("{o}");
    Ok(0)
}

/// One heap: its dumps, the totals' change, then the growing sites.
pub fn render_series(o: &mut String, s: &Series, by: GroupBy) {
    let _ = writeln!(o, "\n== {}: {} dumps", s.label, s.points.len());
    for (i, p) in s.points.iter().enumerate() {
        let _ = write!(
            o,
            "   {}. {}:{}",
            i + 1,
            p.source.as_deref().unwrap_or("-"),
            p.first_line
        );
        if let Some(pid) = p.pid {
            let _ = write!(o, " pid {pid}");
        }
        if let Some(t) = &p.time {
            let _ = write!(o, " {t}");
        }
        let _ = write!(
            o,
            ": {} fragments, {} bytes",
            thousands(p.total_count),
            thousands(p.total_bytes)
        );
        if p.lost {
            o.push_str(" [LOST]");
        } else if !p.complete {
            o.push_str(" [TRUNCATED]");
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "   change: {} fragments, {} bytes; {} grew, {} shrank or vanished",
        signed_thousands(s.total_count_growth),
        signed_thousands(s.total_bytes_growth),
        plural(s.growing.len(), by.as_str()),
        s.shrinking
    );
    if s.growing.is_empty() {
        o.push_str("   nothing grew\n");
        return;
    }
    let steps = s.points.len() >= 3;
    let _ = writeln!(
        o,
        "   {:>13} {:>10} {:>6}  {}",
        "bytes",
        "count",
        "share",
        by.as_str()
    );
    for g in &s.growing {
        let _ = writeln!(
            o,
            "   {:>13} {:>10} {:>6}  {}",
            signed_thousands(g.bytes_growth),
            signed_thousands(g.count_growth),
            format!("{:.1}%", g.share_of_growth * 100.0),
            g.key
        );
        if steps {
            let counts: Vec<String> = g.counts.iter().map(|c| thousands(*c)).collect();
            let _ = writeln!(
                o,
                "   {:>13} {:>10} {:>6}  {}count {} ({} fragments, {} bytes per snapshot)",
                "",
                "",
                "",
                if g.grew_every_time {
                    "LEAK SUSPECT, grew every time: "
                } else {
                    ""
                },
                counts.join(" -> "),
                rate(g.count_per_snapshot),
                rate(g.bytes_per_snapshot)
            );
        }
    }
    if steps {
        let _ = writeln!(
            o,
            "   {} leak suspect(s): sites that grew at every one of the {} steps",
            s.suspects,
            s.points.len() - 1
        );
    }
}

/// `1 site`, `3 sites`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `+400`, `+38,400`, `+0.5`, `-2.3`: growth per snapshot.
fn rate(v: f64) -> String {
    if v.fract().abs() < 1e-9 && v.abs() < 9.0e15 {
        signed_thousands(v as i64)
    } else {
        format!("{v:+.1}")
    }
}

/// Inputs that cannot give a true comparison: the same dump given twice (the
/// same file, or two files with the same bytes), and dumps that are not in
/// time order (a heap's peak use went down, or a later dump's log time is
/// earlier). Said before the tables and in `--json`'s `warnings`.
pub fn order_warnings(files: &[PathBuf], chosen: &[&Snapshot]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in files.iter().enumerate() {
        for b in &files[i + 1..] {
            let same_file = match (a.canonicalize(), b.canonicalize()) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            };
            if same_file {
                out.push(format!(
                    "{} is given twice: a dump compared with itself shows no growth; give a dump taken later",
                    b.display()
                ));
            } else if same_bytes(a, b) {
                out.push(format!(
                    "{} and {} hold the same bytes: the same dump twice? Nothing can grow between them; give a dump taken later",
                    a.display(),
                    b.display()
                ));
            }
        }
    }
    let mut keys: Vec<SeriesKey> = Vec::new();
    for s in chosen {
        let k = SeriesKey::of(s);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for key in keys {
        let dumps: Vec<&&Snapshot> = chosen.iter().filter(|s| SeriesKey::of(s) == key).collect();
        for pair in dumps.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let at = |s: &Snapshot| {
                format!(
                    "{}:{}",
                    s.source.as_deref().unwrap_or("input"),
                    s.first_line
                )
            };
            if let (Some(x), Some(y)) = (a.heap.max_used_bytes, b.heap.max_used_bytes) {
                if y < x {
                    out.push(format!(
                        "{}: the peak use went down from {} bytes ({}) to {} ({}); a heap's peak never goes down while \
the proxy runs, so these dumps are out of time order (give them oldest first) or the proxy restarted in between",
                        key.label(),
                        thousands(x),
                        at(a),
                        thousands(y),
                        at(b)
                    ));
                    continue;
                }
            }
            if let (Some(x), Some(y)) = (
                a.time.as_deref().and_then(time_key),
                b.time.as_deref().and_then(time_key),
            ) {
                if y < x {
                    out.push(format!(
                        "{}: the dump at {} ({}) is older than the one before it at {} ({}): give the dumps oldest first",
                        key.label(),
                        at(b),
                        b.time.as_deref().unwrap_or_default(),
                        at(a),
                        a.time.as_deref().unwrap_or_default()
                    ));
                }
            }
        }
    }
    out
}

/// True when both files can be read and hold the same bytes.
fn same_bytes(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::io::Read;
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    if ma.len() != mb.len() || !ma.is_file() || !mb.is_file() {
        return false;
    }
    let (Ok(mut fa), Ok(mut fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let Ok(n) = fa.read(&mut ba) else {
            return false;
        };
        if n == 0 {
            return true;
        }
        if fb.read_exact(&mut bb[..n]).is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// A log time as a sortable key: ISO times (`2024-11-25T22:09:01`) as text,
/// syslog times (`Nov 25 22:09:01`) as (month, day, time). None otherwise.
pub fn time_key(t: &str) -> Option<(u32, u32, String)> {
    let t = t.trim();
    let b = t.as_bytes();
    if b.len() >= 19 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return Some((0, 0, t.get(..19)?.to_string()));
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = t.split_whitespace();
    let month = MONTHS.iter().position(|m| Some(*m) == parts.next())? as u32 + 1;
    let day: u32 = parts.next()?.parse().ok()?;
    let clock = parts.next()?;
    (clock.len() >= 8 && clock.as_bytes()[2] == b':').then(|| (month, day, clock.to_string()))
}
