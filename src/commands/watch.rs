//! `kmemdbg watch`: samples a running proxy's memory for a bounded time,
//! shows it live (or as plain lines), and keeps `--csv` / `--plot` files up
//! to date after every sample.

use crate::cli::WatchArgs;
use crate::kamcmd::Kamcmd;
use crate::report::{chart_svg, csv};
use crate::units::{human_bytes, human_delta, human_secs, utc_text};
use crate::watch::series::{series_of, sparkline, Series, SeriesKind};
use crate::watch::{Sample, Sampler};
use crate::ExitStatus;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One series in `watch --json` (and in `triage --json`).
#[derive(Debug, Serialize)]
pub struct SeriesSummary {
    pub pool: SeriesKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub label: String,
    pub total_bytes: u64,
    pub first_bytes: u64,
    pub last_bytes: u64,
    pub max_bytes: u64,
    pub change_bytes: i64,
    pub slope_bytes_per_min: f64,
}

/// `watch --json` schema `kmemdbg.watch/1`:
/// `{ "schema", "ctl", "version"?, "interval_s", "duration_s", "samples",
///    "series": [SeriesSummary...], "notes": [..], "csv"?, "plot"? }`.
#[derive(Debug, Serialize)]
pub struct WatchReport {
    pub schema: &'static str,
    pub ctl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub interval_s: f64,
    pub duration_s: f64,
    pub samples: usize,
    pub series: Vec<SeriesSummary>,
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csv: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plot: Option<PathBuf>,
}

pub fn summarize(series: &[Series]) -> Vec<SeriesSummary> {
    series
        .iter()
        .map(|s| {
            let t = s.trend();
            SeriesSummary {
                pool: s.pool,
                pid: s.pid,
                label: s.label.clone(),
                total_bytes: s.total_bytes,
                first_bytes: s.first() as u64,
                last_bytes: s.last() as u64,
                max_bytes: s.max() as u64,
                change_bytes: t.change_bytes as i64,
                slope_bytes_per_min: (t.slope_bytes_per_s * 60.0).round(),
            }
        })
        .collect()
}

/// Where the chart and CSV go, and what to call the proxy in them.
pub struct Outputs<'a> {
    pub csv: Option<&'a Path>,
    pub plot: Option<&'a Path>,
    pub title: String,
    pub source: String,
    /// Moments marked on the chart (seconds since the first sample, label).
    pub markers: Vec<(f64, String)>,
}

impl Outputs<'_> {
    /// Rewrites the CSV and the chart from all samples so far (atomic replace).
    pub fn write(&self, samples: &[Sample]) -> Result<()> {
        if let Some(path) = self.csv {
            crate::fsx::create(path, csv::render(samples).as_bytes(), 0o644)
                .with_context(|| format!("cannot write the CSV file {}", path.display()))?;
        }
        if let Some(path) = self.plot {
            let mut chart = chart_of(samples, &self.title, &self.source);
            chart.markers = self.markers.clone();
            let svg = chart_svg::render(&chart);
            crate::fsx::create(path, svg.as_bytes(), 0o644)
                .with_context(|| format!("cannot write the chart {}", path.display()))?;
        }
        Ok(())
    }
}

/// The chart of a watch: shm on top, pkg per process below, modules last.
pub fn chart_of(samples: &[Sample], title: &str, source: &str) -> chart_svg::Chart {
    let series = series_of(samples);
    let span = samples.last().map_or(0.0, |s| s.elapsed_s);
    let when = samples
        .first()
        .map(|s| utc_text(s.unix_ms))
        .unwrap_or_default();
    let line = |s: &Series| chart_svg::Line {
        label: s.label.clone(),
        points: s.points.clone(),
    };
    let pick =
        |pool: SeriesKind| -> Vec<&Series> { series.iter().filter(|s| s.pool == pool).collect() };
    let mut panels = Vec::new();
    if let Some(shm) = pick(SeriesKind::Shm).first() {
        panels.push(chart_svg::Panel {
            title: format!(
                "Shared memory (shm), pool {}",
                human_bytes(shm.total_bytes as f64)
            ),
            lines: vec![chart_svg::Line {
                label: "shm, all processes".into(),
                points: shm.points.clone(),
            }],
        });
    }
    let pkg = pick(SeriesKind::Pkg);
    if !pkg.is_empty() {
        let size = pkg[0].total_bytes;
        panels.push(chart_svg::Panel {
            title: format!(
                "Private memory (pkg) per process, pool {} each",
                human_bytes(size as f64)
            ),
            lines: pkg
                .iter()
                .map(|s| chart_svg::Line {
                    label: s.label.trim_start_matches("pkg ").to_string(),
                    points: s.points.clone(),
                })
                .collect(),
        });
    }
    let mods = pick(SeriesKind::Module);
    if !mods.is_empty() {
        panels.push(chart_svg::Panel {
            title: "Shared memory per module (mod.stats)".into(),
            lines: mods.into_iter().map(line).collect(),
        });
    }
    chart_svg::Chart {
        title: title.to_string(),
        subtitle: format!(
            "{source}: {} from {when}; in use = used + allocator overhead",
            chart_svg::span_text(samples.len(), span)
        ),
        panels,
        markers: Vec::new(),
    }
}

/// `core.version` as one line, when the proxy answers it.
pub fn proxy_version(k: &Kamcmd) -> Option<String> {
    k.call(&["core.version"])
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

pub fn run(args: &WatchArgs) -> Result<ExitStatus> {
    if args.interval < Duration::from_millis(100) {
        bail!("--interval must be at least 100ms (each sample is a few RPCs)");
    }
    let kamcmd = Kamcmd::new(Some(&args.ctl.ctl))?;
    let mut sampler = connect(kamcmd, args.mod_stats)?;
    let version = proxy_version(sampler.kamcmd());
    let socket = sampler.kamcmd().socket.clone();
    let outputs = Outputs {
        csv: args.csv.as_deref(),
        plot: args.plot.as_deref(),
        title: format!(
            "Memory over time: {}",
            version.as_deref().unwrap_or("kamailio")
        ),
        source: socket.clone(),
        markers: Vec::new(),
    };
    let live = !args.plain && !args.json && std::io::stdout().is_terminal();
    if !args.json {
        for n in &sampler.notes {
            eprintln!("kmemdbg: note: {n}");
        }
        if !live {
            println!(
                "watching {socket} every {} for {}{}",
                human_secs(args.interval.as_secs_f64()),
                human_secs(args.duration.as_secs_f64()),
                version
                    .as_deref()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default()
            );
        }
    }
    // Ctrl-C (or SIGTERM) ends the sampling like --duration does: the CSV,
    // the chart and the summary hold every sample taken.
    crate::interrupt::arm();
    let start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut tick = 0u32;
    let mut notes_shown = sampler.notes.len();
    loop {
        let sampled = sampler.sample();
        // a note that came up while sampling (e.g. core.shmmem's figures wrapped)
        if !args.json {
            for n in &sampler.notes[notes_shown..] {
                eprintln!("kmemdbg: note: {n}");
            }
        }
        notes_shown = sampler.notes.len();
        if let Some(dir) = &args.snapshots {
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let path = dir.join(format!(
                "kmemdbg-{}-{tick:04}.modstats",
                super::dump::utc_stamp(at)
            ));
            super::dump::save_mod_stats(sampler.kamcmd(), &path)?;
        }
        match sampled {
            Ok(s) => samples.push(s),
            Err(e) if !samples.is_empty() => {
                outputs.write(&samples)?;
                return Err(e.context(format!(
                    "sampling stopped after {} samples (the CSV and chart hold what was read)",
                    samples.len()
                )));
            }
            Err(e) => return Err(e),
        }
        outputs.write(&samples)?;
        if live {
            print!(
                "{}",
                live_view(&samples, &socket, args.interval, args.duration)
            );
        } else if !args.json {
            print!("{}", plain_lines(&samples));
        }
        let _ = std::io::stdout().flush();
        tick += 1;
        let next = args.interval.mul_f64(f64::from(tick));
        if next > args.duration || crate::interrupt::requested() {
            break;
        }
        while start.elapsed() < next && !crate::interrupt::requested() {
            let wait = next.saturating_sub(start.elapsed());
            std::thread::sleep(wait.min(Duration::from_millis(100)));
        }
        if crate::interrupt::requested() {
            break;
        }
    }
    let series = series_of(&samples);
    if args.json {
        crate::commands::print_json(&WatchReport {
            schema: "kmemdbg.watch/1",
            ctl: socket,
            version,
            interval_s: args.interval.as_secs_f64(),
            duration_s: args.duration.as_secs_f64(),
            samples: samples.len(),
            series: summarize(&series),
            notes: sampler.notes.clone(),
            csv: args.csv.clone(),
            plot: args.plot.clone(),
        })?;
        return Ok(0);
    }
    print!("{}", final_summary(&series));
    if let Some(p) = &args.csv {
        println!("csv:   {}", p.display());
    }
    if let Some(p) = &args.plot {
        println!("chart: {}", p.display());
    }
    Ok(0)
}

/// One line for the whole proxy, then one per process whose use changed
/// (every process on the first sample).
pub fn plain_lines(samples: &[Sample]) -> String {
    let Some(cur) = samples.last() else {
        return String::new();
    };
    let prev = samples.len().checked_sub(2).map(|i| &samples[i]);
    let mut out = format!(
        "[{:>7}] shm {} in use, {} free ({:.1}% of {})",
        human_secs(cur.elapsed_s),
        human_bytes(cur.shm.real_used_bytes as f64),
        human_bytes(cur.shm.free_bytes as f64),
        pct(cur.shm.real_used_bytes, cur.shm.total_bytes),
        human_bytes(cur.shm.total_bytes as f64)
    );
    if let Some(p) = prev {
        let d = cur.shm.real_used_bytes as f64 - p.shm.real_used_bytes as f64;
        if d != 0.0 {
            out.push_str(&format!(" {}", human_delta(d)));
        }
    }
    if !cur.pkg.is_empty() {
        out.push_str(&format!(
            "; pkg {} in use in {} processes",
            human_bytes(cur.pkg_real_used_total() as f64),
            cur.pkg.len()
        ));
    }
    out.push('\n');
    for p in &cur.pkg {
        let before = prev.and_then(|s| s.pkg.iter().find(|x| x.pid == p.pid));
        let change = before.map(|b| p.real_used_bytes as f64 - b.real_used_bytes as f64);
        if change == Some(0.0) {
            continue;
        }
        out.push_str(&format!(
            "           pkg {:>7} {:<40} {} in use, {} free{}\n",
            p.pid,
            clip(&p.desc, 40),
            human_bytes(p.real_used_bytes as f64),
            human_bytes(p.free_bytes as f64),
            change
                .map(|c| format!(" {}", human_delta(c)))
                .unwrap_or_default()
        ));
    }
    for m in &cur.mods {
        let before = prev.and_then(|s| s.mods.iter().find(|x| x.module == m.module));
        if before.is_some_and(|b| b.bytes == m.bytes) {
            continue;
        }
        out.push_str(&format!(
            "           shm module {:<30} {}\n",
            m.module,
            human_bytes(m.bytes as f64)
        ));
    }
    out
}

/// The terminal view: cleared and redrawn after every sample.
pub fn live_view(
    samples: &[Sample],
    socket: &str,
    interval: Duration,
    duration: Duration,
) -> String {
    let series = series_of(samples);
    let elapsed = samples.last().map_or(0.0, |s| s.elapsed_s);
    let mut out = String::from("\x1b[H\x1b[2J");
    out.push_str(&format!(
        "kmemdbg watch {socket}   {} of {}, every {}   (Ctrl-C stops; --csv/--plot stay up to date)\n\n",
        human_secs(elapsed),
        human_secs(duration.as_secs_f64()),
        human_secs(interval.as_secs_f64())
    ));
    out.push_str(&format!(
        "{:<6} {:>7}  {:<34} {:>10} {:>10} {:>12}  {}\n",
        "pool", "pid", "process", "in use", "free", "trend/min", "last 30 samples"
    ));
    for s in &series {
        let values: Vec<f64> = s.points.iter().map(|p| p.1).collect();
        let t = s.trend();
        let free = if s.total_bytes > 0 {
            human_bytes(s.total_bytes as f64 - s.last())
        } else {
            "-".to_string()
        };
        let (pool, name) = match s.pool {
            SeriesKind::Shm => ("shm", "all processes".to_string()),
            SeriesKind::Pkg => (
                "pkg",
                s.label
                    .splitn(3, ' ')
                    .nth(2)
                    .unwrap_or_default()
                    .to_string(),
            ),
            SeriesKind::Module => ("module", s.label.trim_start_matches("shm ").to_string()),
        };
        out.push_str(&format!(
            "{:<6} {:>7}  {:<34} {:>10} {:>10} {:>12}  {}\n",
            pool,
            s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            clip(&name, 34),
            human_bytes(s.last()),
            free,
            human_delta((t.slope_bytes_per_s * 60.0).round()),
            sparkline(&values, 30)
        ));
    }
    out
}

/// After the run: what changed, biggest growth first.
pub fn final_summary(series: &[Series]) -> String {
    let mut rows: Vec<&Series> = series.iter().collect();
    rows.sort_by(|a, b| {
        let ca = a.trend().change_bytes;
        let cb = b.trend().change_bytes;
        cb.partial_cmp(&ca).unwrap_or(std::cmp::Ordering::Equal)
    });
    let n = series.first().map_or(0, |s| s.points.len());
    let mut out = format!("\nsummary ({n} samples), largest growth first:\n");
    for s in rows {
        let t = s.trend();
        out.push_str(&format!(
            "  {:<52} {:>10} -> {:<10} change {:>11}  trend {}/min\n",
            clip(&s.label, 52),
            human_bytes(s.first()),
            human_bytes(s.last()),
            human_delta(t.change_bytes),
            human_delta((t.slope_bytes_per_s * 60.0).round())
        ));
    }
    out
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// [`Sampler::new`], with an error that names the ctl sockets of the
/// kamailio processes running here when the given one does not answer.
pub fn connect(kamcmd: Kamcmd, mod_stats: bool) -> Result<Sampler> {
    let asked = kamcmd.socket.clone();
    Sampler::new(kamcmd, mod_stats).map_err(|e| {
        let found: Vec<String> = running_ctl_sockets()
            .into_iter()
            .filter(|(_, s)| *s != asked)
            .map(|(pid, s)| format!("--ctl {s} (kamailio PID {pid})"))
            .collect();
        if found.is_empty() {
            e
        } else {
            e.context(format!(
                "no proxy answers on {asked}; the kamailio running here answers on {}",
                found.join(", ")
            ))
        }
    })
}

/// (main PID, ctl socket) of every kamailio running here whose socket exists.
fn running_ctl_sockets() -> Vec<(u32, String)> {
    crate::service::health::running_ctl_sockets()
        .into_iter()
        .filter_map(|(pid, s)| s.map(|s| (pid, s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::{PkgStat, ShmStat};

    fn sample(t: f64, shm: u64, recv: u64) -> Sample {
        let pkg = |pid, desc: &str, used| PkgStat {
            pid,
            rank: 1,
            desc: desc.into(),
            used_bytes: used,
            real_used_bytes: used,
            free_bytes: (4 << 20) - used,
            total_bytes: 4 << 20,
        };
        Sample {
            elapsed_s: t,
            unix_ms: 1_700_000_000_000 + (t * 1000.0) as u64,
            shm: ShmStat {
                used_bytes: shm,
                real_used_bytes: shm,
                max_used_bytes: shm,
                free_bytes: (32 << 20) - shm,
                total_bytes: 32 << 20,
                fragments: None,
            },
            pkg: vec![
                pkg(10, "main process - attendant", 700_000),
                pkg(11, "udp receiver child=0 sock=127.0.0.1:5060", recv),
            ],
            mods: vec![],
            rcv_requests: None,
        }
    }

    #[test]
    fn plain_lines_show_changes_only() {
        let s = vec![
            sample(0.0, 1 << 20, 700_000),
            sample(1.0, (1 << 20) + 2048, 704_096),
        ];
        let first = plain_lines(&s[..1]);
        assert_eq!(first.lines().count(), 3, "{first}");
        assert!(first
            .starts_with("[     0s] shm 1.0 MiB in use, 31.0 MiB free (3.1% of 32.0 MiB); pkg"));
        let next = plain_lines(&s);
        assert_eq!(next.lines().count(), 2, "{next}");
        assert!(
            next.lines().next().unwrap().contains(" +2.0 KiB;"),
            "{next}"
        );
        assert!(
            next.contains("pkg      11 udp receiver child=0 sock=127.0.0.1:5060"),
            "{next}"
        );
        assert!(next.trim_end().ends_with("+4.0 KiB"), "{next}");
    }

    #[test]
    fn live_view_has_a_row_per_series_with_trend() {
        let s: Vec<Sample> = (0..4)
            .map(|i| sample(f64::from(i) * 10.0, (1 << 20) + i as u64 * 1024, 700_000))
            .collect();
        let v = live_view(
            &s,
            "unix:/run/ctl",
            Duration::from_secs(10),
            Duration::from_secs(60),
        );
        assert!(v.starts_with("\x1b[H\x1b[2J"));
        assert!(v.contains("30s of 1m00s, every 10s"), "{v}");
        let shm = v.lines().find(|l| l.starts_with("shm")).unwrap();
        assert!(shm.contains("+6.0 KiB") && shm.ends_with("▁▃▆█"), "{shm}");
        assert_eq!(v.lines().filter(|l| l.starts_with("pkg")).count(), 2);
        let summary = final_summary(&series_of(&s));
        assert!(
            summary
                .lines()
                .nth(2)
                .unwrap()
                .contains("shm (all processes)"),
            "{summary}"
        );
    }
}
