//! Units a person reads and types: durations (`90`, `30s`, `5m`, `1h`) and
//! byte sizes (`1.5 MiB`). Pure functions, no I/O.

use std::time::Duration;

/// Parses `90` (seconds), `90s`, `1.5m`, `2h`, `500ms`. Used as a clap value parser.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: write 90, 90s, 5m or 1h"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?}: a duration must be zero or more"));
    }
    let secs = v * mult;
    if secs > 366.0 * 86400.0 {
        return Err(format!("{s:?}: more than a year; pick a shorter duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `100ms`, `1s`, `1.5s`, `30s`, `2m`, `90s`: a duration as systemd's
/// configuration would write it (whole milliseconds below a second).
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// `1536` -> `1.5 KiB`; exact bytes below 1 KiB.
pub fn human_bytes(bytes: f64) -> String {
    let a = bytes.abs();
    let (div, unit) = if a >= (1u64 << 30) as f64 {
        ((1u64 << 30) as f64, "GiB")
    } else if a >= (1u64 << 20) as f64 {
        ((1u64 << 20) as f64, "MiB")
    } else if a >= 1024.0 {
        (1024.0, "KiB")
    } else {
        return format!("{bytes:.0} B");
    };
    let v = bytes / div;
    if v.abs() >= 100.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// Signed: `+1.5 KiB`, `-200 B`, `0 B`.
pub fn human_delta(bytes: f64) -> String {
    if bytes > 0.0 {
        format!("+{}", human_bytes(bytes))
    } else {
        human_bytes(bytes)
    }
}

/// `75` -> `1m15s`, `12.5` -> `12.5s`.
pub fn human_secs(secs: f64) -> String {
    if secs < 60.0 {
        let r = (secs * 10.0).round() / 10.0;
        if r.fract() == 0.0 {
            format!("{r:.0}s")
        } else {
            format!("{r:.1}s")
        }
    } else if secs < 3600.0 {
        let s = secs.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let s = secs.round() as u64;
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// `1700000000000` -> `2023-11-14 22:13:20 UTC` (civil date from days, no tz database).
pub fn utc_text(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-3s").is_err());
        assert!(parse_duration("inf").is_err());
    }

    #[test]
    fn durations_as_systemd_writes_them() {
        assert_eq!(human_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(human_duration(Duration::from_secs(1)), "1s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(30)), "30s");
        assert_eq!(human_duration(Duration::from_secs(120)), "2m");
        assert_eq!(human_duration(Duration::ZERO), "0ms");
    }

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(32.0 * 1048576.0), "32.0 MiB");
        assert_eq!(human_bytes(200.0 * 1048576.0), "200 MiB");
        assert_eq!(human_delta(2048.0), "+2.0 KiB");
        assert_eq!(human_delta(-100.0), "-100 B");
        assert_eq!(human_secs(75.0), "1m15s");
        assert_eq!(human_secs(12.5), "12.5s");
        assert_eq!(utc_text(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }

    proptest::proptest! {
        #[test]
        fn never_panic(s in "\\PC{0,12}", b in proptest::num::f64::ANY) {
            let _ = parse_duration(&s);
            let _ = human_bytes(b);
            let _ = human_secs(b.abs().min(1e12));
        }
    }
}
