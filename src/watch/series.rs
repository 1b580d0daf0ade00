//! Samples turned into lines: one series per pool (shm, each process's pkg,
//! each module's shm), each with its trend. Pure: no I/O.

use super::Sample;
use serde::Serialize;

/// What a series follows: the shm pool, one process's pkg pool, or one
/// module's share of shm (`mod.stats`). Not [`crate::mem::Pool`]: a module
/// series is not a pool of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeriesKind {
    Shm,
    Pkg,
    /// Shared memory held by one module (`mod.stats`).
    Module,
}

/// One line of the chart / one row of the live view.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub pool: SeriesKind,
    /// Process id for pkg series.
    pub pid: Option<u32>,
    /// `shm`, `pkg 15368 udp receiver child=0 ...`, `shm htable`.
    pub label: String,
    /// The pool's size (0 when unknown, for module series).
    pub total_bytes: u64,
    /// (seconds since start, bytes in use with allocator overhead)
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn last(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.1)
    }
    pub fn first(&self) -> f64 {
        self.points.first().map_or(0.0, |p| p.1)
    }
    pub fn max(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }
    pub fn trend(&self) -> Trend {
        trend(&self.points)
    }
}

/// How a series moved over the samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// Least-squares slope, bytes per second (0 with fewer than 2 points).
    pub slope_bytes_per_s: f64,
    /// Last value minus first value.
    pub change_bytes: f64,
}

/// Builds the series in a stable order: shm, then pkg by PID, then modules by name.
pub fn series_of(samples: &[Sample]) -> Vec<Series> {
    let mut out = Vec::new();
    if samples.is_empty() {
        return out;
    }
    out.push(Series {
        pool: SeriesKind::Shm,
        pid: None,
        label: "shm (all processes)".to_string(),
        total_bytes: samples[0].shm.total_bytes,
        points: samples
            .iter()
            .map(|s| (s.elapsed_s, s.shm.real_used_bytes as f64))
            .collect(),
    });
    let mut pids: Vec<(u32, String, u64)> = Vec::new();
    for s in samples {
        for p in &s.pkg {
            if !pids.iter().any(|(pid, _, _)| *pid == p.pid) {
                pids.push((p.pid, p.desc.clone(), p.total_bytes));
            }
        }
    }
    pids.sort_by_key(|(pid, _, _)| *pid);
    for (pid, desc, total) in pids {
        out.push(Series {
            pool: SeriesKind::Pkg,
            pid: Some(pid),
            label: format!("pkg {pid} {desc}"),
            total_bytes: total,
            points: samples
                .iter()
                .filter_map(|s| {
                    let p = s.pkg.iter().find(|p| p.pid == pid)?;
                    Some((s.elapsed_s, p.real_used_bytes as f64))
                })
                .collect(),
        });
    }
    let mut mods: Vec<String> = Vec::new();
    for s in samples {
        for m in &s.mods {
            if !mods.contains(&m.module) {
                mods.push(m.module.clone());
            }
        }
    }
    mods.sort();
    for m in mods {
        out.push(Series {
            pool: SeriesKind::Module,
            pid: None,
            label: format!("shm {m}"),
            total_bytes: 0,
            points: samples
                .iter()
                .filter_map(|s| {
                    let x = s.mods.iter().find(|x| x.module == m)?;
                    Some((s.elapsed_s, x.bytes as f64))
                })
                .collect(),
        });
    }
    out
}

/// Least-squares slope and overall change of `(x, y)` points.
pub fn trend(points: &[(f64, f64)]) -> Trend {
    let n = points.len() as f64;
    let change = match (points.first(), points.last()) {
        (Some(a), Some(b)) => b.1 - a.1,
        _ => 0.0,
    };
    if points.len() < 2 {
        return Trend {
            slope_bytes_per_s: 0.0,
            change_bytes: change,
        };
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    Trend {
        slope_bytes_per_s: if slope.is_finite() { slope } else { 0.0 },
        change_bytes: change,
    }
}

/// A small text chart of the last `width` values: `▁▂▄█`.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    let lo = tail.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = tail.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    tail.iter()
        .map(|v| {
            if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
                BARS[0]
            } else {
                let i = ((v - lo) / (hi - lo) * 7.0).round() as usize;
                BARS[i.min(7)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line() {
        let t = trend(&[(0.0, 100.0), (1.0, 110.0), (2.0, 120.0)]);
        assert!((t.slope_bytes_per_s - 10.0).abs() < 1e-9);
        assert_eq!(t.change_bytes, 20.0);
        assert_eq!(trend(&[(0.0, 5.0)]).slope_bytes_per_s, 0.0);
        assert_eq!(trend(&[]).change_bytes, 0.0);
        assert_eq!(trend(&[(1.0, 5.0), (1.0, 9.0)]).slope_bytes_per_s, 0.0);
    }

    #[test]
    fn sparkline_shape() {
        assert_eq!(sparkline(&[1.0, 2.0, 3.0], 10), "▁▅█");
        assert_eq!(sparkline(&[4.0, 4.0], 10), "▁▁");
        assert_eq!(sparkline(&[1.0, 2.0, 3.0, 4.0], 2), "▁█");
        assert_eq!(sparkline(&[], 5), "");
    }
}
