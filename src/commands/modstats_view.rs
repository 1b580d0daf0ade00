//! `analyze` and `diff` of `mod.stats` snapshot files (`kmemdbg dump
//! --mod-stats`): bytes per `module: function(line)`, never counts unless
//! Kamailio gave them (`mod.mem_statsx`). The reading is
//! [`crate::dump::modstats`]; this file loads, orders and prints.

use crate::dump::modstats::{self, Change, Snapshot};
use crate::dump::GroupBy;
use crate::ExitStatus;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

/// True when the file starts with the snapshot header.
pub fn is_snapshot_file(path: &Path) -> bool {
    if path.as_os_str() == "-" {
        return false;
    }
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    modstats::is_snapshot(&String::from_utf8_lossy(&head[..n]))
}

/// Routes `files` here when they are snapshots: `Some(true)` all are,
/// `Some(false)` none is; an error when they are mixed.
pub fn all_snapshots(files: &[PathBuf]) -> Result<bool> {
    let n = files.iter().filter(|f| is_snapshot_file(f)).count();
    if n > 0 && n < files.len() {
        bail!("mod.stats snapshots and dump logs cannot be mixed: a snapshot has bytes per module function, a dump has fragments per file and line; compare snapshots with snapshots");
    }
    Ok(n > 0 && n == files.len())
}

struct Loaded {
    path: String,
    snap: Snapshot,
}

fn load(files: &[PathBuf]) -> Result<Vec<Loaded>> {
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Ok(Loaded {
                path: p.display().to_string(),
                snap: modstats::parse(&text),
            })
        })
        .collect()
}

#[derive(Serialize)]
struct AnalyzeReport<'a> {
    schema: &'static str,
    files: Vec<FileReport<'a>>,
    /// Known leak fixes of each shm section's largest sites, when the version is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    known_fixes: Option<crate::commands::fixes::KnownReport>,
}

#[derive(Serialize)]
struct FileReport<'a> {
    path: &'a str,
    header: &'a modstats::Header,
    sections: Vec<SectionReport<'a>>,
}

#[derive(Serialize)]
struct SectionReport<'a> {
    rpc: &'a str,
    pool: &'a str,
    /// For pkg: the only process this section describes.
    answered_by: Option<&'a str>,
    total_bytes: i64,
    /// Most bytes first, cut to `top`.
    sites: Vec<&'a modstats::ModSite>,
    /// Whether `count` is Kamailio's own (mod.mem_statsx) or absent (mod.stats).
    counts: bool,
}

/// `kmemdbg analyze A.modstats`: each section's sites by bytes.
pub fn analyze(
    files: &[PathBuf],
    top: usize,
    json: bool,
    kamailio_version: Option<&str>,
) -> Result<ExitStatus> {
    let loaded = load(files)?;
    let mut reports = Vec::new();
    for l in &loaded {
        let mut sections = Vec::new();
        for s in &l.snap.sections {
            let mut sites: Vec<&modstats::ModSite> = s.sites.iter().collect();
            sites.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name().cmp(&b.name())));
            if top > 0 {
                sites.truncate(top);
            }
            sections.push(SectionReport {
                rpc: &s.rpc,
                pool: &s.pool,
                answered_by: s.answered_by.as_deref(),
                total_bytes: s.totals.values().sum(),
                counts: s.sites.iter().any(|x| x.count.is_some()),
                sites,
            });
        }
        reports.push(FileReport {
            path: &l.path,
            header: &l.snap.header,
            sections,
        });
    }
    let known = crate::commands::fixes::known_for(kamailio_version, files)?;
    let known_fixes = known.as_ref().map(|k| {
        let keys: Vec<String> = reports
            .iter()
            .flat_map(|f| f.sections.iter().filter(|s| s.pool == "shm"))
            .flat_map(|s| s.sites.iter().take(3).map(|x| x.name()))
            .collect();
        crate::commands::fixes::for_keys(k, GroupBy::Site, keys.iter().map(String::as_str))
    });
    if json {
        crate::commands::print_json(&AnalyzeReport {
            schema: "kmemdbg.analyze-mod-stats/1",
            files: reports,
            known_fixes,
        })?;
        return Ok(0);
    }
    let mut o = String::new();
    for f in &reports {
        let _ = writeln!(
            o,
            "== {}: mod.stats snapshot{}{}",
            f.path,
            f.header
                .time
                .as_deref()
                .map(|t| format!(" of {t}"))
                .unwrap_or_default(),
            f.header
                .main_pid
                .map(|p| format!(", main PID {p}"))
                .unwrap_or_default()
        );
        for s in &f.sections {
            let who = s
                .answered_by
                .map(|b| format!(" (process {b} only: the one that answered the RPC)"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "{} {}: {} in all{who}",
                s.pool,
                s.rpc,
                crate::units::human_bytes(s.total_bytes as f64)
            );
            for x in &s.sites {
                let count = x
                    .count
                    .map(|c| format!("  ({c} allocations)"))
                    .unwrap_or_default();
                let _ = writeln!(o, "  {:>12}  {}{count}", bytes_text(x.bytes), x.name());
            }
        }
        let _ = writeln!(o, "(bytes per module function from mod.stats; no file names, and no counts unless mod.mem_statsx gave them)");
    }
    if let (Some(r), Some(k)) = (&known_fixes, &known) {
        crate::commands::fixes::render_known(&mut o, r, &k.data);
    }
    print!("{o}");
    Ok(0)
}

/// `1,234` (a wrapped, negative value keeps its sign).
fn bytes_text(b: i64) -> String {
    if b < 0 {
        crate::commands::signed_thousands(b)
    } else {
        crate::commands::thousands(b as u64)
    }
}

#[derive(Serialize)]
struct DiffReport<'a> {
    schema: &'static str,
    /// Oldest first (by the header's time).
    files: Vec<&'a str>,
    pool: &'a str,
    /// Growth from the first to the last snapshot, most first; cut to `top`.
    growing: Vec<Change>,
    /// Sites that grew between every pair of consecutive snapshots (3 or more).
    grew_every_time: Vec<String>,
    /// Known leak fixes of the top growing sites, when the version is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    known_fixes: Option<crate::commands::fixes::KnownReport>,
}

/// `kmemdbg diff A.modstats B.modstats [...]`: orders the snapshots by the
/// time in their headers and ranks sites by bytes gained, for `pool`.
pub fn diff(
    files: &[PathBuf],
    pool: &str,
    top: usize,
    json: bool,
    kamailio_version: Option<&str>,
) -> Result<ExitStatus> {
    let mut loaded = load(files)?;
    if loaded.len() < 2 {
        bail!("nothing to compare: give two or more mod.stats snapshots (kmemdbg dump --mod-stats, before and after)");
    }
    // the header's time has whole seconds: two snapshots of the same second
    // are ordered by when their files were written
    let written = |path: &str| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    loaded.sort_by_key(|l| (l.snap.header.unix_time.unwrap_or(0), written(&l.path)));
    let first = &loaded[0].snap;
    let last = &loaded[loaded.len() - 1].snap;
    if first.section(pool).is_none() || last.section(pool).is_none() {
        bail!("the snapshots have no {pool} section (dump --mod-stats saves shm and pkg)");
    }
    let mut growing = modstats::diff(first, last, pool);
    let mut every: Option<Vec<String>> = None;
    if loaded.len() >= 3 {
        for w in loaded.windows(2) {
            let grew: Vec<String> = modstats::diff(&w[0].snap, &w[1].snap, pool)
                .into_iter()
                .filter(|c| c.delta_bytes > 0)
                .map(|c| c.site)
                .collect();
            every = Some(match every {
                None => grew,
                Some(prev) => prev.into_iter().filter(|s| grew.contains(s)).collect(),
            });
        }
    }
    growing.retain(|c| c.delta_bytes != 0);
    if top > 0 {
        growing.truncate(top);
    }
    let ordered: Vec<PathBuf> = loaded.iter().map(|l| PathBuf::from(&l.path)).collect();
    let known = crate::commands::fixes::known_for(kamailio_version, &ordered)?;
    let known_fixes = known.as_ref().map(|k| {
        let keys = growing.iter().filter(|c| c.delta_bytes > 0).take(3);
        crate::commands::fixes::for_keys(k, GroupBy::Site, keys.map(|c| c.site.as_str()))
    });
    let files: Vec<&str> = loaded.iter().map(|l| l.path.as_str()).collect();
    if json {
        crate::commands::print_json(&DiffReport {
            schema: "kmemdbg.diff-mod-stats/1",
            files,
            pool,
            growing,
            grew_every_time: every.unwrap_or_default(),
            known_fixes,
        })?;
        return Ok(0);
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "== {pool} by module function, {} snapshots: {} -> {}",
        loaded.len(),
        first.header.time.as_deref().unwrap_or("?"),
        last.header.time.as_deref().unwrap_or("?")
    );
    if pool == "pkg" {
        let _ = writeln!(
            o,
            "(pkg: only the process that answered the RPC, {})",
            last.section("pkg")
                .and_then(|s| s.answered_by.as_deref())
                .unwrap_or("?")
        );
    }
    if growing.is_empty() {
        let _ = writeln!(o, "no site changed");
    }
    for c in &growing {
        let count = c
            .delta_count
            .map(|n| format!("  ({n:+} allocations)"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {:>12}  {}  ({} -> {}){count}",
            crate::commands::signed_thousands(c.delta_bytes),
            c.site,
            c.before_bytes,
            c.after_bytes
        );
    }
    if let Some(e) = every.filter(|e| !e.is_empty()) {
        let _ = writeln!(o, "grew in every interval: {}", e.join(", "));
    }
    if let (Some(r), Some(k)) = (&known_fixes, &known) {
        crate::commands::fixes::render_known(&mut o, r, &k.data);
    }
    print!("{o}");
    Ok(0)
}
