//! `kmemdbg diff`: compares dumps of the same heap over time and ranks the
//! sites that grew; with three or more dumps, flags the ones that grew every
//! time. The comparison is [`crate::dump::diff`]; this file loads and prints.

use crate::cli::DiffArgs;
use crate::commands::analyze::{load, select, warnings};
use crate::commands::{signed_thousands, thousands};
use crate::dump::{diff_all, GroupBy, Series};
use crate::ExitStatus;
use anyhow::{bail, Result};
use serde::Serialize;
use std::fmt::Write as _;

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
}

pub fn run(args: &DiffArgs) -> Result<ExitStatus> {
    if super::modstats_view::all_snapshots(&args.files)? {
        let pool = match args.pool {
            Some(crate::mem::Pool::Pkg) => "pkg",
            _ => "shm",
        };
        return super::modstats_view::diff(&args.files, pool, args.top, args.json);
    }
    let inputs = load(&args.files)?;
    let chosen = select(&inputs, args.pool, args.pid)?;
    let by = args.by;
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
    let warn = warnings(&inputs, &chosen)
        .into_iter()
        .filter(|w| !w.contains("fragments listed without a site"))
        .collect::<Vec<_>>();
    if args.json {
        crate::commands::print_json(&DiffReport {
            schema: "kmemdbg.diff/1",
            by,
            top: args.top,
            files: args.files.iter().map(|p| p.display().to_string()).collect(),
            series,
            single: single.iter().map(|k| k.label()).collect(),
            warnings: warn,
        })?;
        return Ok(0);
    }
    let mut o = String::new();
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
        if !p.complete {
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
