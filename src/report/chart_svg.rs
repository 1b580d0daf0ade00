//! A small SVG line chart for memory over time: one or more stacked panels,
//! each with its own byte axis (units chosen from the data, "nice" ticks), a
//! time axis, a grid, a legend with each line's last value, and a title.
//!
//! Pure: takes the data and returns the SVG text; the caller writes it (via
//! `fsx`). Hand-written on purpose: a plotting crate would be larger than
//! the whole tool.

use crate::units::{human_bytes, human_secs};
use std::fmt::Write;

/// The whole image.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub subtitle: String,
    pub panels: Vec<Panel>,
    /// Moments to mark in every panel: (seconds since start, label).
    pub markers: Vec<(f64, String)>,
}

/// One plot area with its own y axis.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub lines: Vec<Line>,
}

/// One series: `(seconds since start, bytes)`.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Tableau 10: distinguishable, and readable for most colour-blind readers
/// together with the dash patterns used after the tenth line.
const COLORS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#79706e",
];
const DASHES: [&str; 3] = ["", "6 3", "2 3"];

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 90.0;
const PLOT_W: f64 = 560.0;
const LEGEND_X: f64 = LEFT + PLOT_W + 24.0;
const PLOT_H: f64 = 230.0;
const LEGEND_ROW: f64 = 17.0;

/// Renders `chart` as a standalone SVG document.
pub fn render(chart: &Chart) -> String {
    let mut body = String::new();
    let mut y = 100.0;
    for panel in &chart.panels {
        let legend_h = 24.0 + LEGEND_ROW * panel.lines.len() as f64;
        let plot_h = PLOT_H.max(legend_h - 30.0);
        render_panel(&mut body, panel, &chart.markers, y, plot_h);
        y += plot_h + 100.0;
    }
    let height = y - 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n\
         <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>\n\
         <text x=\"{LEFT}\" y=\"30\" font-size=\"20\" font-weight=\"bold\" fill=\"#222\">{}</text>\n\
         <text x=\"{LEFT}\" y=\"52\" font-size=\"13\" fill=\"#555\">{}</text>\n",
        esc(&chart.title),
        esc(&chart.subtitle)
    );
    s.push_str(&body);
    s.push_str("</svg>\n");
    s
}

fn render_panel(s: &mut String, panel: &Panel, markers: &[(f64, String)], top: f64, plot_h: f64) {
    let pts = panel.lines.iter().flat_map(|l| l.points.iter().copied());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in pts {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    // Bytes: pick the unit from the largest value, ticks in that unit.
    let (unit_div, unit) = unit_for(y1.abs().max(y0.abs()));
    let pad = ((y1 - y0) * 0.08)
        .max(y1.abs() * 0.002)
        .max(unit_div * 0.01);
    let (ylo, yhi, ystep) = nice_range((y0 - pad) / unit_div, (y1 + pad) / unit_div, 5);
    let (ylo, yhi) = if y0 >= 0.0 {
        (ylo.max(0.0), yhi)
    } else {
        (ylo, yhi)
    };
    let minutes = x1 - x0 > 300.0;
    let xdiv = if minutes { 60.0 } else { 1.0 };
    let (xlo, xhi, xstep) = nice_range(x0 / xdiv, x1 / xdiv, 6);

    let px = |x: f64| LEFT + (x / xdiv - xlo) / (xhi - xlo) * PLOT_W;
    let py = |y: f64| top + plot_h - (y / unit_div - ylo) / (yhi - ylo) * plot_h;

    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"15\" font-weight=\"bold\" fill=\"#222\">{}</text>",
        top - 12.0,
        esc(&panel.title)
    );
    let _ = writeln!(
        s,
        "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{PLOT_W}\" height=\"{plot_h}\" fill=\"#fafafa\" stroke=\"#888\"/>"
    );
    // Y grid and labels.
    let mut v = ylo;
    while v <= yhi + ystep * 1e-6 {
        let yy = top + plot_h - (v - ylo) / (yhi - ylo) * plot_h;
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#e0e0e0\"/>\n\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#333\">{}</text>",
            LEFT + PLOT_W,
            LEFT - 8.0,
            yy + 4.0,
            fmt_tick(v, ystep)
        );
        v += ystep;
    }
    let _ = writeln!(
        s,
        "<text transform=\"translate({},{:.1}) rotate(-90)\" font-size=\"13\" text-anchor=\"middle\" fill=\"#333\">in use ({unit})</text>",
        LEFT - 62.0,
        top + plot_h / 2.0
    );
    // X grid and labels.
    let mut v = xlo;
    while v <= xhi + xstep * 1e-6 {
        let xx = LEFT + (v - xlo) / (xhi - xlo) * PLOT_W;
        let _ = writeln!(
            s,
            "<line x1=\"{xx:.1}\" y1=\"{top}\" x2=\"{xx:.1}\" y2=\"{}\" stroke=\"#e0e0e0\"/>\n\
             <text x=\"{xx:.1}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
            top + plot_h,
            top + plot_h + 18.0,
            fmt_tick(v, xstep)
        );
        v += xstep;
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\" fill=\"#333\">time since start ({})</text>",
        LEFT + PLOT_W / 2.0,
        top + plot_h + 40.0,
        if minutes { "minutes" } else { "seconds" }
    );
    // Markers: a dashed vertical line and its label at the top.
    for (x, label) in markers {
        if !x.is_finite() || *x < x0 || *x > x1 {
            continue;
        }
        let xx = px(*x);
        let _ = writeln!(
            s,
            "<line x1=\"{xx:.1}\" y1=\"{top}\" x2=\"{xx:.1}\" y2=\"{}\" stroke=\"#444\" stroke-dasharray=\"4 3\"/>\n\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"11\" fill=\"#444\">{}</text>",
            top + plot_h,
            xx + 3.0,
            top + 12.0,
            esc(label)
        );
    }
    // Lines, then the legend.
    let _ = writeln!(
        s,
        "<text x=\"{LEGEND_X}\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" fill=\"#333\">last value</text>",
        top + 4.0
    );
    for (i, line) in panel.lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let dash = DASHES[(i / COLORS.len()) % DASHES.len()];
        let dash_attr = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        let coords: Vec<String> = line
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2.2\"{dash_attr} points=\"{}\"/>",
            coords.join(" ")
        );
        if coords.len() == 1 {
            let (x, y) = line.points[0];
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                px(x),
                py(y)
            );
        }
        let ly = top + 24.0 + LEGEND_ROW * i as f64;
        let last = line.points.last().map_or(0.0, |p| p.1);
        let _ = writeln!(
            s,
            "<line x1=\"{LEGEND_X}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"3\"{dash_attr}/>\n\
             <text x=\"{}\" y=\"{ly:.1}\" font-size=\"12\" fill=\"#222\">{} <tspan fill=\"#666\">{}</tspan></text>",
            ly - 4.0,
            LEGEND_X + 22.0,
            ly - 4.0,
            LEGEND_X + 28.0,
            esc(&human_bytes(last)),
            esc(&truncate(&line.label, 44))
        );
    }
}

/// The byte unit for values up to `max`: (divisor, name).
fn unit_for(max: f64) -> (f64, &'static str) {
    if max >= (1u64 << 30) as f64 {
        ((1u64 << 30) as f64, "GiB")
    } else if max >= (1u64 << 20) as f64 {
        ((1u64 << 20) as f64, "MiB")
    } else if max >= 1024.0 {
        (1024.0, "KiB")
    } else {
        (1.0, "bytes")
    }
}

/// Expands `[lo, hi]` to multiples of a 1/2/5 step giving about `ticks` ticks.
pub fn nice_range(lo: f64, hi: f64, ticks: usize) -> (f64, f64, f64) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let raw = (hi - lo) / ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((lo / step).floor() * step, (hi / step).ceil() * step, step)
}

fn fmt_tick(v: f64, step: f64) -> String {
    // As many decimals as the step needs (0.25 -> 2), at most 6.
    let mut decimals = 0;
    while decimals < 6 {
        let scaled = step * 10f64.powi(decimals as i32);
        if (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0) {
            break;
        }
        decimals += 1;
    }
    let v = if v.abs() < step.abs() * 1e-9 { 0.0 } else { v };
    format!("{v:.decimals$}")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Escapes text for SVG element content and attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// "over 2m30s, one sample every 5s"
pub fn span_text(points: usize, span_s: f64) -> String {
    format!("{points} samples over {}", human_secs(span_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ranges() {
        assert_eq!(nice_range(0.0, 10.0, 5), (0.0, 10.0, 2.0));
        let (lo, hi, step) = nice_range(3.7, 4.1, 5);
        assert!(lo <= 3.7 && hi >= 4.1 && step == 0.1, "{lo} {hi} {step}");
        let (lo, hi, _) = nice_range(5.0, 5.0, 5);
        assert!(lo < 5.0 && hi > 5.0);
    }

    #[test]
    fn ticks_print_enough_decimals() {
        assert_eq!(fmt_tick(2.0, 1.0), "2");
        assert_eq!(fmt_tick(0.2, 0.1), "0.2");
        assert_eq!(fmt_tick(0.25, 0.25), "0.25");
        assert_eq!(fmt_tick(1e-17, 0.1), "0.0");
    }

    #[test]
    fn renders_valid_looking_svg() {
        let chart = Chart {
            title: "memory <of> proxy & co".into(),
            subtitle: "sub".into(),
            markers: vec![(5.0, "traffic stopped".into())],
            panels: vec![Panel {
                title: "shm".into(),
                lines: vec![
                    Line {
                        label: "shm".into(),
                        points: vec![(0.0, 1e6), (5.0, 1.2e6), (10.0, 1.4e6)],
                    },
                    Line {
                        label: "one point".into(),
                        points: vec![(0.0, 2e6)],
                    },
                ],
            }],
        };
        let svg = render(&chart);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("memory &lt;of&gt; proxy &amp; co"));
        assert!(svg.contains("in use (MiB)"));
        assert!(svg.contains("time since start (seconds)"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("<circle"));
        assert!(svg.contains(">traffic stopped</text>"));
        // Empty panels render without NaN.
        let empty = render(&Chart {
            title: "t".into(),
            subtitle: String::new(),
            markers: vec![],
            panels: vec![Panel {
                title: "p".into(),
                lines: vec![],
            }],
        });
        assert!(!empty.contains("NaN") && !empty.contains("inf"), "{empty}");
    }
}
