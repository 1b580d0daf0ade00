//! Will a dump fit through the log? Estimates how many lines a dump prints
//! and how many the log will carry before it starts dropping them, so that
//! `kmemdbg dump` can pick a summary when a fragment list would be cut, and
//! say so before triggering.
//!
//! Lines a dump prints come from the proxy's own counters and the
//! allocator's layout ([`super::layout`]: lines per fragment and header
//! bytes, per allocator and version, each row citing Kamailio's sources):
//! the fragment count follows from `core.shmmem` / `pkg.stats`
//! (`real_used - used` is the pool's fixed overhead plus one header per
//! fragment); a summary prints one line per allocation site, about as many
//! as `mod.stats all shm|pkg` lists.
//!
//! What the log carries: journald drops lines of a unit beyond
//! `RateLimitBurst` per `RateLimitIntervalSec` (journald.conf and its `.d/`
//! drop-ins, or the unit's `LogRateLimit*`), the burst scaled up with the
//! space journald has left (`journald-rate-limit.c`: burst x (log2(bytes) - 16) / 4
//! above 1 MiB), counted per priority group; rsyslog's imuxsock and
//! imjournal have limits of their own; a file kamailio's stderr goes to has
//! none.
//!
//! Pure: text in, numbers out. No I/O here (the caller reads the files and
//! runs `systemctl show`); never panics (fuzzed below).

use super::layout::Layout;
use serde::Serialize;
use std::time::Duration;

/// Lines around a status's fragment list (heading, heap header, end marker).
const STATUS_EXTRA_LINES: u64 = 40;
/// Lines the free-list stats print per free fragment at most (a bucket's
/// two-line entry, or an `unused fragm.` line).
const FREE_LIST_LINES: u64 = 2;
/// Lines around a summary's site lines (heading, `summarizing`, end marker).
const SUMMARY_EXTRA_LINES: u64 = 4;
/// A dump "fits" only with this share of the budget left for other lines.
const HEADROOM: f64 = 0.9;

/// What the allocator's counters say about one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolCounters {
    pub used_bytes: u64,
    pub real_used_bytes: u64,
    /// Free fragments (`fragments` of core.shmmem, `total_frags` of pkg.stats).
    pub free_fragments: u64,
}

/// Used fragments of a pool, from its counters and the allocator's layout
/// ([`layout::TABLE`]): `real_used - used` is the fixed overhead of the pool
/// plus one header per fragment. `None` when the layout has no byte counts
/// (f_malloc, tlsf) or the counters do not fit them.
pub fn used_fragments(c: &PoolCounters, l: &Layout) -> Option<u64> {
    let (per, init) = (l.frag_overhead?, l.init_overhead?);
    let overhead = c.real_used_bytes.checked_sub(c.used_bytes)?;
    let frags = overhead.checked_sub(init)? / per + 1;
    Some(frags.saturating_sub(c.free_fragments))
}

/// Lines a status dump of that pool prints. When the counters do not give
/// the fragment count, one fragment per 64 bytes in use is assumed (small
/// strings dominate real heaps).
pub fn status_lines(c: &PoolCounters, l: &Layout) -> u64 {
    let listed = if l.lines_per_fragment == 0 {
        0
    } else {
        used_fragments(c, l)
            .unwrap_or(c.used_bytes / 64)
            .saturating_mul(l.lines_per_fragment)
    };
    listed
        .saturating_add(STATUS_EXTRA_LINES)
        .saturating_add(c.free_fragments.saturating_mul(FREE_LIST_LINES))
}

/// Each process's pkg counters from `pkg.stats` (kex), read by
/// [`crate::memrpc`]: `(pid, counters)`. `total_frags` is q_malloc's
/// `ffrags` (`qm_info`), the free fragments.
pub fn pkg_counters(text: &str) -> Vec<(u32, PoolCounters)> {
    let fit = |v: Option<i128>| v.and_then(|v| u64::try_from(v).ok());
    crate::memrpc::read_text(text)
        .pools
        .iter()
        .filter(|p| p.method == crate::memrpc::Method::PkgStats)
        .filter_map(|p| {
            Some((
                u32::try_from(p.pid?).ok()?,
                PoolCounters {
                    used_bytes: fit(p.used)?,
                    real_used_bytes: fit(p.real_used)?,
                    free_fragments: fit(p.fragments).unwrap_or(0),
                },
            ))
        })
        .collect()
}

/// Lines a summary prints for `sites` allocation sites.
pub fn summary_lines(sites: u64) -> u64 {
    sites.saturating_add(SUMMARY_EXTRA_LINES)
}

/// Where the dump's lines go, and what that lets through.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    /// `journald`, `rsyslog imuxsock`, `rsyslog imjournal`, `file`.
    pub sink: String,
    /// Lines let through per interval before dropping; `None`: no limit.
    pub burst: Option<u64>,
    #[serde(serialize_with = "secs")]
    pub interval: Option<Duration>,
    /// Where each number came from (file and key, or the default).
    pub from: Vec<String>,
}

fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl Budget {
    /// No limit (a file kamailio's stderr goes to, or a limit turned off).
    pub fn unlimited(sink: &str, why: &str) -> Budget {
        Budget {
            sink: sink.to_string(),
            burst: None,
            interval: None,
            from: vec![why.to_string()],
        }
    }

    /// True when `lines` pass without drops (with headroom for other logging).
    pub fn fits(&self, lines: u64) -> bool {
        match self.burst {
            None => true,
            Some(b) => (lines as f64) <= (b as f64) * HEADROOM,
        }
    }

    /// What is left of the budget once `lines` of another dump in the same
    /// interval have gone through (`what` says which, for `from`).
    pub fn after(&self, lines: u64, what: &str) -> Budget {
        let mut b = self.clone();
        if let Some(burst) = b.burst {
            b.burst = Some(burst.saturating_sub(lines));
            b.from
                .push(format!("less about {lines} lines of {what} taken first"));
        }
        b
    }

    /// The tighter of two limits in a chain (journald, then rsyslog).
    pub fn tighter(self, other: Budget) -> Budget {
        match (self.burst, other.burst) {
            (_, None) => self,
            (None, Some(_)) => other,
            (Some(a), Some(b)) if b < a => other,
            _ => self,
        }
    }
}

/// journald's own setting (before the free-space scaling).
#[derive(Debug, Clone, PartialEq)]
pub struct JournaldConf {
    pub interval: Duration,
    pub burst: u64,
    pub from: Vec<String>,
}

/// Reads `RateLimitIntervalSec=` (or the old `RateLimitInterval=`) and
/// `RateLimitBurst=` from journald.conf and its drop-ins, given in the order
/// journald reads them (main file first, then `*.conf` of the `.d/`
/// directories sorted by name): the last assignment wins. Defaults 30 s and
/// 10000 (systemd 252).
pub fn journald_conf(files: &[(String, String)]) -> JournaldConf {
    let mut c = JournaldConf {
        interval: Duration::from_secs(30),
        burst: 10_000,
        from: vec!["journald default RateLimitIntervalSec=30s RateLimitBurst=10000".into()],
    };
    for (path, text) in files {
        let mut in_journal = false;
        for (n, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.starts_with('#') || l.starts_with(';') || l.is_empty() {
                continue;
            }
            if l.starts_with('[') {
                in_journal = l == "[Journal]";
                continue;
            }
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            if !in_journal {
                continue;
            }
            let (k, v) = (k.trim(), v.trim());
            match k {
                "RateLimitIntervalSec" | "RateLimitInterval" => {
                    if let Some(d) = systemd_timespan(v) {
                        c.interval = d;
                        c.from.push(format!("{path}:{}: {k}={v}", n + 1));
                    }
                }
                "RateLimitBurst" => {
                    if let Ok(b) = v.parse() {
                        c.burst = b;
                        c.from.push(format!("{path}:{}: {k}={v}", n + 1));
                    }
                }
                _ => {}
            }
        }
    }
    c
}

/// A systemd time span: `30s`, `1min 30s`, `5m`, `500ms`, `2h`, `30` (seconds), `0`.
pub fn systemd_timespan(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = v;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "us" | "usec" => 1e-6,
            "ms" | "msec" => 1e-3,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[unit_len..];
    }
    (total.is_finite() && total < 1e9).then(|| Duration::from_secs_f64(total))
}

/// journald's scaling of the burst with the space it may still use
/// (`burst_modulate()`, systemd 252): unchanged up to 1 MiB, then
/// burst x (log2(available) - 16) / 4 (x3 at 256 MiB, x4 at 4 GiB).
pub fn burst_modulate(burst: u64, available_bytes: u64) -> u64 {
    if available_bytes == 0 {
        return burst;
    }
    let k = 63 - u64::from(available_bytes.leading_zeros());
    if k <= 20 {
        return burst;
    }
    burst.saturating_mul(k - 16) / 4
}

/// The `AVAILABLE=` of journald's newest "System Journal ... is 8.0M, max
/// 4.0G, 3.9G free." entry (`journalctl MESSAGE_ID=ec387f577b844b8fa948f33cad9a75e6 -o json`):
/// the space the rate limit is scaled with.
pub fn journald_available(json_lines: &str) -> Option<u64> {
    json_lines.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l.trim()).ok()?;
        v.get("AVAILABLE")?.as_str()?.parse().ok()
    })
}

/// journald's usage message id (`SD_MESSAGE_JOURNAL_USAGE`).
pub const JOURNAL_USAGE_MESSAGE_ID: &str = "ec387f577b844b8fa948f33cad9a75e6";

/// A unit's own limit from `systemctl show UNIT -p LogRateLimitIntervalUSec
/// -p LogRateLimitBurst`: `(interval, burst)`, each `None` when unset (0).
pub fn unit_limits(show: &str) -> (Option<Duration>, Option<u64>) {
    let mut interval = None;
    let mut burst = None;
    for l in show.lines() {
        if let Some(v) = l.strip_prefix("LogRateLimitIntervalUSec=") {
            interval = systemd_timespan(v).filter(|d| !d.is_zero());
        } else if let Some(v) = l.strip_prefix("LogRateLimitBurst=") {
            burst = v.trim().parse().ok().filter(|&b: &u64| b > 0);
        }
    }
    (interval, burst)
}

/// journald's budget for one unit: the unit's `LogRateLimit*` over
/// journald.conf, the burst scaled with `available` bytes. An interval or
/// burst of 0 turns the limit off.
pub fn journald_budget(
    conf: &JournaldConf,
    unit: (Option<Duration>, Option<u64>),
    unit_name: &str,
    available: Option<u64>,
) -> Budget {
    let mut from = conf.from.clone();
    let interval = match unit.0 {
        Some(d) => {
            from.push(format!("{unit_name}: LogRateLimitIntervalSec={:?}", d));
            d
        }
        None => conf.interval,
    };
    let burst = match unit.1 {
        Some(b) => {
            from.push(format!("{unit_name}: LogRateLimitBurst={b}"));
            b
        }
        None => conf.burst,
    };
    if interval.is_zero() || burst == 0 {
        return Budget::unlimited("journald", "journald's rate limit is turned off (0)");
    }
    let scaled = match available {
        Some(a) => {
            let s = burst_modulate(burst, a);
            if s != burst {
                from.push(format!(
                    "burst {burst} scaled to {s} by journald for {} free (log2 scaling)",
                    crate::units::human_bytes(a as f64)
                ));
            }
            s
        }
        None => burst,
    };
    Budget {
        sink: "journald".into(),
        burst: Some(scaled),
        interval: Some(interval),
        from,
    }
}

/// rsyslog's limits, from rsyslog.conf and `rsyslog.d/*.conf` (in the order
/// rsyslog includes them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RsyslogLimits {
    /// imuxsock's system socket: loaded, interval (0 = off, the default), burst (200).
    pub imuxsock: Option<(Duration, u64)>,
    /// imjournal: loaded, interval (600 s), burst (20000).
    pub imjournal: Option<(Duration, u64)>,
    pub from: Vec<String>,
}

/// Reads `module(load="imuxsock" SysSock.RateLimit.Interval=".." SysSock.RateLimit.Burst="..")`,
/// the legacy `$SystemLogRateLimitInterval` / `$SystemLogRateLimitBurst`,
/// `$ModLoad imuxsock`, and `module(load="imjournal" ratelimit.interval=".."
/// ratelimit.burst="..")` (`$imjournalRatelimitInterval` / `Burst`).
pub fn rsyslog_limits(files: &[(String, String)]) -> RsyslogLimits {
    let mut ux: Option<(Duration, u64)> = None;
    let mut jr: Option<(Duration, u64)> = None;
    let mut from = Vec::new();
    for (path, text) in files {
        for (n, raw) in text.lines().enumerate() {
            let l = raw.split('#').next().unwrap_or("").trim();
            if l.is_empty() {
                continue;
            }
            let lower = l.to_ascii_lowercase();
            let at = format!("{path}:{}", n + 1);
            if lower.contains("imuxsock") && (lower.contains("load") || lower.contains("modload")) {
                let mut v = ux.unwrap_or((Duration::ZERO, 200));
                if let Some(i) = param(&lower, "syssock.ratelimit.interval") {
                    v.0 = Duration::from_secs(i);
                }
                if let Some(b) = param(&lower, "syssock.ratelimit.burst") {
                    v.1 = b;
                }
                ux = Some(v);
                from.push(format!("{at}: {l}"));
            }
            if lower.contains("imjournal") && (lower.contains("load") || lower.contains("modload"))
            {
                let mut v = jr.unwrap_or((Duration::from_secs(600), 20_000));
                if let Some(i) = param(&lower, "ratelimit.interval") {
                    v.0 = Duration::from_secs(i);
                }
                if let Some(b) = param(&lower, "ratelimit.burst") {
                    v.1 = b;
                }
                jr = Some(v);
                from.push(format!("{at}: {l}"));
            }
            let legacy = |name: &str| {
                lower
                    .strip_prefix(name)
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            if let Some(i) = legacy("$systemlogratelimitinterval") {
                ux.get_or_insert((Duration::ZERO, 200)).0 = Duration::from_secs(i);
                from.push(format!("{at}: {l}"));
            }
            if let Some(b) = legacy("$systemlogratelimitburst") {
                ux.get_or_insert((Duration::ZERO, 200)).1 = b;
                from.push(format!("{at}: {l}"));
            }
            if let Some(i) = legacy("$imjournalratelimitinterval") {
                jr.get_or_insert((Duration::from_secs(600), 20_000)).0 = Duration::from_secs(i);
                from.push(format!("{at}: {l}"));
            }
            if let Some(b) = legacy("$imjournalratelimitburst") {
                jr.get_or_insert((Duration::from_secs(600), 20_000)).1 = b;
                from.push(format!("{at}: {l}"));
            }
        }
    }
    RsyslogLimits {
        imuxsock: ux,
        imjournal: jr,
        from,
    }
}

/// `name="123"` or `name=123` inside a `module(...)` / `input(...)` line.
fn param(lower: &str, name: &str) -> Option<u64> {
    let at = lower.find(name)?;
    let rest = lower[at + name.len()..].trim_start().strip_prefix('=')?;
    let rest = rest.trim_start().trim_start_matches('"');
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// rsyslog's budget: the tighter of the limits that are on.
pub fn rsyslog_budget(l: &RsyslogLimits) -> Budget {
    let mut b = Budget::unlimited("rsyslog", "rsyslog: no rate limit turned on");
    if let Some((i, burst)) = l.imuxsock {
        if !i.is_zero() && burst > 0 {
            b = b.tighter(Budget {
                sink: "rsyslog imuxsock".into(),
                burst: Some(burst),
                interval: Some(i),
                from: l.from.clone(),
            });
        }
    }
    if let Some((i, burst)) = l.imjournal {
        if !i.is_zero() && burst > 0 {
            b = b.tighter(Budget {
                sink: "rsyslog imjournal".into(),
                burst: Some(burst),
                interval: Some(i),
                from: l.from.clone(),
            });
        }
    }
    b
}

/// Which dump to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Every fragment (`qm_status`): exact, large.
    Status,
    /// One line per site (`qm_sums`): counts and bytes per site, small.
    Summary,
}

/// The choice made before triggering, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub shape: Shape,
    pub status_lines: u64,
    pub summary_lines: Option<u64>,
    pub budget: Budget,
    /// The chosen dump fits the budget.
    pub fits: bool,
    /// What was decided, in one sentence for the operator.
    pub why: String,
    /// When the status does not fit: what would make it fit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remedies: Vec<String>,
}

/// Picks the dump: the status when it fits (or `full` asks for it), the
/// summary otherwise.
pub fn choose(status: u64, summary: Option<u64>, budget: &Budget, full: bool) -> Choice {
    let status_fits = budget.fits(status);
    let limit = match (budget.burst, budget.interval) {
        // `per 1s`, `per 30s`; an interval under a second in ms (`per 5ms`)
        (Some(b), Some(i)) if i < Duration::from_secs(1) => format!(
            "{} lets {b} lines through per {}ms",
            budget.sink,
            i.as_millis()
        ),
        (Some(b), Some(i)) => format!(
            "{} lets {b} lines through per {}",
            budget.sink,
            crate::units::human_duration(i)
        ),
        _ => format!("{} has no rate limit", budget.sink),
    };
    let remedies = if status_fits {
        Vec::new()
    } else {
        remedies_for(status, budget)
    };
    let (shape, fits, why) = if status_fits {
        (
            Shape::Status,
            true,
            format!("a fragment list of about {status} lines fits: {limit}"),
        )
    } else if full {
        (
            Shape::Status,
            false,
            format!("--full: about {status} lines will not fit ({limit}); lines beyond that are dropped and reported as LOST"),
        )
    } else {
        let fits = summary.map_or(true, |s| budget.fits(s));
        (
            Shape::Summary,
            fits,
            format!(
                "a fragment list of about {status} lines would not fit ({limit}): taking a summary ({} lines) instead; --full asks for the fragment list anyway",
                summary.map_or("a few hundred".to_string(), |s| format!("about {s}"))
            ),
        )
    };
    Choice {
        shape,
        status_lines: status,
        summary_lines: summary,
        budget: budget.clone(),
        fits,
        why,
        remedies,
    }
}

/// Sizes the pkg dumps of several processes together (they are taken one
/// after another, within one interval of the log's limit). `per_process`
/// holds each process's PID and status lines; `status` is false when
/// `mem_summary` has no bit 1 (each pkg dump is a summary anyway);
/// `summary_each` is the lines of one process's summary. When the status
/// lists do not fit, the remedies start with how many of them would.
pub fn choose_pkg(
    per_process: &[(u32, u64)],
    status: bool,
    summary_each: u64,
    budget: &Budget,
    full: bool,
) -> Choice {
    let n = per_process.len() as u64;
    let status_total = per_process
        .iter()
        .fold(0u64, |a, (_, l)| a.saturating_add(*l));
    let summary_total = summary_each.saturating_mul(n);
    let label = format!("pkg of {n} process{}", if n == 1 { "" } else { "es" });
    if !status {
        let fits = budget.fits(summary_total);
        return Choice {
            shape: Shape::Summary,
            status_lines: status_total,
            summary_lines: Some(summary_total),
            budget: budget.clone(),
            fits,
            why: format!(
                "{label}: mem_summary has no bit 1, so each prints a summary: about {summary_total} lines, {}",
                if fits { "fits" } else { "will not fit" }
            ),
            remedies: if fits {
                Vec::new()
            } else {
                remedies_for(summary_total, budget)
            },
        };
    }
    let mut c = choose(status_total, Some(summary_total), budget, full);
    c.why = format!("{label}: {}", c.why);
    if !budget.fits(status_total) {
        let mut by_size: Vec<(u32, u64)> = per_process.to_vec();
        by_size.sort_by_key(|&(pid, l)| (l, pid));
        let mut sum = 0u64;
        let fitting: Vec<String> = by_size
            .iter()
            .take_while(|(_, l)| {
                sum = sum.saturating_add(*l);
                budget.fits(sum)
            })
            .map(|(pid, _)| pid.to_string())
            .collect();
        let fewer = if fitting.is_empty() {
            "not even one process's fragment list fits: use a summary (drop --full) or one of the routes below".to_string()
        } else {
            format!(
                "fewer processes at a time: {} of the {n} fragment lists fit (`--pkg {}`, the smallest)",
                fitting.len(),
                fitting.join(",")
            )
        };
        c.remedies.insert(0, fewer);
    }
    c
}

pub(crate) fn remedies_for(status: u64, budget: &Budget) -> Vec<String> {
    let need = ((status as f64) / HEADROOM).ceil() as u64;
    let mut r = Vec::new();
    if budget.sink == "journald" {
        r.push(format!(
            "raise journald's limit for the unit: `systemctl edit kamailio` with [Service] LogRateLimitBurst={need} (or LogRateLimitIntervalSec=0 to turn it off), then restart the unit; or RateLimitBurst={need} in /etc/systemd/journald.conf.d/*.conf and `systemctl restart systemd-journald` (journald scales the burst up with free space)"
        ));
    } else if budget.sink.starts_with("rsyslog imuxsock") {
        r.push(format!("raise rsyslog's imuxsock limit: module(load=\"imuxsock\" SysSock.RateLimit.Burst=\"{need}\") (or SysSock.RateLimit.Interval=\"0\"), then restart rsyslog"));
    } else if budget.sink.starts_with("rsyslog imjournal") {
        r.push(format!("raise rsyslog's imjournal limit: module(load=\"imjournal\" ratelimit.burst=\"{need}\"), then restart rsyslog"));
    }
    r.push("or log to a file with no limit: kamailio -E (log_stderror=yes) with stderr to a file, then --stderr FILE".into());
    r.push("or skip the log: kmemdbg dump --mod-stats (per module and function, bytes only, no change to the proxy)".into());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::layout;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    /// Real counters from Debian's 5.6.3 (`-x qm`) here, against the number of
    /// fragments its status dump listed right after (counted with grep -c address=).
    #[test]
    fn fragments_from_qm_counters() {
        let l = layout::fallback();
        let start = PoolCounters {
            used_bytes: 2_530_824,
            real_used_bytes: 2_772_632,
            free_fragments: 1,
        };
        assert_eq!(used_fragments(&start, l), Some(63));
        let after_1000_registrations = PoolCounters {
            used_bytes: 2_930_888,
            real_used_bytes: 3_900_696,
            free_fragments: 1,
        };
        assert_eq!(used_fragments(&after_1000_registrations, l), Some(7063));
        // the dump had 21,200 lines
        let n = status_lines(&after_1000_registrations, l);
        assert!((21_189..=21_300).contains(&n), "{n}");
        // not q_malloc's accounting: falls back on bytes
        let odd = PoolCounters {
            used_bytes: 6400,
            real_used_bytes: 6400,
            free_fragments: 0,
        };
        assert_eq!(used_fragments(&odd, l), None);
        assert_eq!(status_lines(&odd, l), 100 * 3 + STATUS_EXTRA_LINES);
    }

    /// f_malloc's and tlsf's status list no fragments: only the header and
    /// the free list, however many fragments are in use.
    #[test]
    fn fm_and_tlsf_status_lines_do_not_grow_with_fragments() {
        let v = crate::probe::version::Version::parse("5.6.3").expect("version");
        let fm = layout::lookup(layout::Allocator::Fm, &v).expect("fm row");
        let c = PoolCounters {
            used_bytes: 50_000_000,
            real_used_bytes: 60_000_000,
            free_fragments: 10,
        };
        assert_eq!(status_lines(&c, fm), STATUS_EXTRA_LINES + 20);
        // q_malloc of 6.0 (112-byte headers): 1000 used fragments
        let v6 = crate::probe::version::Version::parse("6.0.1").expect("version");
        let qm6 = layout::lookup(layout::Allocator::Qm, &v6).expect("qm row");
        let c6 = PoolCounters {
            used_bytes: 100_000,
            real_used_bytes: 100_000 + 268_720 + 112 * 1000,
            free_fragments: 1,
        };
        assert_eq!(used_fragments(&c6, qm6), Some(1000));
    }

    /// journald's scaling, checked on a real journald here: 3.9G free let
    /// 37,500 of 50,000 ALERT lines through and reported `Suppressed 12500`.
    #[test]
    fn journald_scaling() {
        assert_eq!(burst_modulate(10_000, 4_261_408_768), 37_500);
        assert_eq!(burst_modulate(10_000, 1 << 20), 10_000);
        assert_eq!(burst_modulate(10_000, 256 << 20), 30_000);
        assert_eq!(burst_modulate(10_000, 0), 10_000);
    }

    #[test]
    fn journald_conf_and_dropins() {
        let c = journald_conf(&files(&[
            (
                "/etc/systemd/journald.conf",
                "[Journal]\n#RateLimitBurst=1\nRateLimitIntervalSec=10s\n",
            ),
            (
                "/etc/systemd/journald.conf.d/50-x.conf",
                "[Journal]\nRateLimitBurst=500\n[Other]\nRateLimitBurst=7\n",
            ),
        ]));
        assert_eq!(c.interval, Duration::from_secs(10));
        assert_eq!(c.burst, 500);
        assert!(
            c.from.iter().any(|f| f.contains("50-x.conf:2")),
            "{:?}",
            c.from
        );
        let d = journald_conf(&[]);
        assert_eq!((d.interval, d.burst), (Duration::from_secs(30), 10_000));
    }

    #[test]
    fn timespans() {
        assert_eq!(systemd_timespan("30s"), Some(Duration::from_secs(30)));
        assert_eq!(systemd_timespan("1min 30s"), Some(Duration::from_secs(90)));
        assert_eq!(systemd_timespan("0"), Some(Duration::ZERO));
        assert_eq!(systemd_timespan("5m"), Some(Duration::from_secs(300)));
        assert_eq!(systemd_timespan("abc"), None);
    }

    #[test]
    fn unit_override_wins() {
        let conf = journald_conf(&[]);
        let unit = unit_limits("LogRateLimitIntervalUSec=0\nLogRateLimitBurst=0\n");
        assert_eq!(unit, (None, None));
        let b = journald_budget(&conf, unit, "kamailio.service", Some(4_261_408_768));
        assert_eq!(b.burst, Some(37_500));
        let unit = unit_limits("LogRateLimitIntervalUSec=1min\nLogRateLimitBurst=200000\n");
        let b = journald_budget(&conf, unit, "kamailio.service", Some(1 << 20));
        assert_eq!(b.burst, Some(200_000));
        assert_eq!(b.interval, Some(Duration::from_secs(60)));
        let off = journald_budget(&conf, (Some(Duration::ZERO), None), "k", None);
        assert!(off.burst.is_none());
    }

    #[test]
    fn rsyslog_modern_and_legacy() {
        let l = rsyslog_limits(&files(&[(
            "/etc/rsyslog.conf",
            "module(load=\"imuxsock\" SysSock.RateLimit.Interval=\"5\" SysSock.RateLimit.Burst=\"300\") # local\nmodule(load=\"imklog\")\n",
        )]));
        assert_eq!(l.imuxsock, Some((Duration::from_secs(5), 300)));
        assert_eq!(rsyslog_budget(&l).burst, Some(300));
        // Debian 12's stock line: loaded, rate limit off by default
        let l = rsyslog_limits(&files(&[(
            "/etc/rsyslog.conf",
            "module(load=\"imuxsock\") # provides support for local system logging\n",
        )]));
        assert_eq!(l.imuxsock, Some((Duration::ZERO, 200)));
        assert!(rsyslog_budget(&l).burst.is_none());
        let l = rsyslog_limits(&files(&[(
            "/etc/rsyslog.d/x.conf",
            "$ModLoad imuxsock\n$SystemLogRateLimitInterval 2\n$SystemLogRateLimitBurst 500\nmodule(load=\"imjournal\" ratelimit.burst=\"100\")\n",
        )]));
        assert_eq!(l.imuxsock, Some((Duration::from_secs(2), 500)));
        assert_eq!(l.imjournal, Some((Duration::from_secs(600), 100)));
        assert_eq!(rsyslog_budget(&l).sink, "rsyslog imjournal");
    }

    #[test]
    fn choice() {
        let j = Budget {
            sink: "journald".into(),
            burst: Some(37_500),
            interval: Some(Duration::from_secs(30)),
            from: vec![],
        };
        let c = choose(126_000, Some(300), &j, false);
        assert_eq!(c.shape, Shape::Summary);
        assert!(c.fits && c.why.contains("126000"), "{c:?}");
        let c = choose(126_000, Some(300), &j, true);
        assert_eq!(c.shape, Shape::Status);
        assert!(!c.fits);
        assert!(
            c.remedies[0].contains("LogRateLimitBurst=140000"),
            "{:?}",
            c.remedies
        );
        let c = choose(21_000, Some(300), &j, false);
        assert_eq!(c.shape, Shape::Status);
        let f = Budget::unlimited("file", "stderr capture");
        assert_eq!(choose(10_000_000, None, &f, false).shape, Shape::Status);
    }

    /// pkg.stats records give each process's fragments (4.4 - 5.7 q_malloc:
    /// 104 bytes a fragment over 235,256); the dumps add up over the
    /// processes asked for, after what the shm dump took from the interval.
    #[test]
    fn pkg_dumps_add_up_and_say_what_fits() {
        let text = "{\n\tentry: 0\n\tpid: 101\n\trank: 1\n\tused: 500000\n\tfree: 7000000\n\treal_used: 839152\n\ttotal_size: 8388608\n\ttotal_frags: 2\n\tdesc: udp receiver child=0\n}\n{\n\tentry: 1\n\tpid: 102\n\trank: 2\n\tused: 100000\n\tfree: 8053352\n\treal_used: 335256\n\ttotal_size: 8388608\n\ttotal_frags: 1\n\tdesc: timer\n}\n";
        let c = pkg_counters(text);
        assert_eq!(c.len(), 2);
        let l = layout::fallback();
        // by hand: (839152 - 500000 - 235256) / 104 + 1 = 1000 fragments, 2 free
        assert_eq!(used_fragments(&c[0].1, l), Some(998));
        assert_eq!(status_lines(&c[0].1, l), 998 * 3 + 40 + 2 * 2);
        // (335256 - 100000 - 235256) / 104 + 1 = 1, 1 free: none used
        assert_eq!(used_fragments(&c[1].1, l), Some(0));

        let j = Budget {
            sink: "journald".into(),
            burst: Some(10_000),
            interval: Some(Duration::from_secs(30)),
            from: vec![],
        };
        let left = j.after(2_000, "the shm dump");
        assert_eq!(left.burst, Some(8_000));
        let per = [(101, 3_000), (102, 2_500), (103, 4_000)];
        // 9,500 > 90% of 8,000: summaries instead, 3 x 100 lines
        let ch = choose_pkg(&per, true, 100, &left, false);
        assert_eq!(ch.shape, Shape::Summary);
        assert_eq!((ch.status_lines, ch.summary_lines), (9_500, Some(300)));
        assert!(
            ch.fits && ch.why.starts_with("pkg of 3 processes"),
            "{ch:?}"
        );
        // 2,500 + 3,000 = 5,500 <= 7,200 < 9,500: the two smallest fit
        assert!(
            ch.remedies[0].contains("2 of the 3") && ch.remedies[0].contains("--pkg 102,101"),
            "{:?}",
            ch.remedies
        );
        let full = choose_pkg(&per, true, 100, &left, true);
        assert_eq!(full.shape, Shape::Status);
        assert!(!full.fits);
        // the whole budget: 9,500 > 9,000 still does not fit; 2 processes do
        let two = choose_pkg(&per[..2], true, 100, &j, false);
        assert_eq!(two.shape, Shape::Status);
        assert!(two.fits && two.remedies.is_empty(), "{two:?}");
        // mem_summary without bit 1: each pkg dump is a summary already
        let sums = choose_pkg(&per, false, 100, &left, false);
        assert_eq!(sums.shape, Shape::Summary);
        assert_eq!(sums.summary_lines, Some(300));
    }

    proptest::proptest! {
        #[test]
        fn readers_never_panic(s in "[\\[\\]a-zA-Z0-9=\"$. #\\n()]{0,300}") {
            let f = vec![("f".to_string(), s.clone())];
            let _ = journald_conf(&f);
            let _ = rsyslog_limits(&f);
            let _ = unit_limits(&s);
            let _ = systemd_timespan(&s);
            let _ = journald_available(&s);
        }
    }
}
