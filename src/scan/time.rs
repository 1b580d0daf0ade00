//! Log timestamps as seconds since the epoch: syslog's `Dec  6 16:00:00`
//! (no year: the caller gives one), ISO 8601 / RFC 3339 with or without a
//! zone (`2026-12-06T16:00:00.123+00:00`, `2026-12-06 16:00:00`), and the
//! `--since` values people type.
//!
//! Pure: text in, numbers out; no clock, no time zone database (a time
//! without a zone is read as UTC, so only differences between such times
//! mean something). Never panics (fuzzed below).

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-12-06T16:00:00Z` (whole seconds, UTC).
pub fn iso_utc(epoch: f64) -> String {
    let secs = epoch.floor() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn num(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter()
        .try_fold(0u32, |acc, &b| Some(acc * 10 + u32::from(b - b'0')))
}

/// `HH:MM:SS[.frac]` then what follows.
fn clock(s: &[u8]) -> Option<(f64, &[u8])> {
    if s.len() < 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    let (h, mi, se) = (num(&s[0..2])?, num(&s[3..5])?, num(&s[6..8])?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut secs = f64::from(h * 3600 + mi * 60 + se);
    let mut rest = &s[8..];
    if let [b'.' | b',', tail @ ..] = rest {
        let n = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if n > 0 {
            let digits = &tail[..n.min(9)];
            if let Some(v) = num(digits) {
                secs += f64::from(v) / 10f64.powi(digits.len() as i32);
            }
            rest = &tail[n..];
        }
    }
    Some((secs, rest))
}

/// A zone suffix: `Z`, `+00:00`, `+0000`, `-05`; seconds east of UTC.
fn zone(s: &[u8]) -> Option<i64> {
    match s {
        [b'Z', ..] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let digits: Vec<u8> = rest
                .iter()
                .take(6)
                .take_while(|b| b.is_ascii_digit() || **b == b':')
                .filter(|b| b.is_ascii_digit())
                .copied()
                .collect();
            let (h, m) = match digits.len() {
                2 => (num(&digits[..2])?, 0),
                4 => (num(&digits[..2])?, num(&digits[2..4])?),
                _ => return None,
            };
            let off = i64::from(h * 3600 + m * 60);
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => None,
    }
}

/// Seconds since the epoch of a log timestamp; `year` is used when the
/// text has none (BSD syslog).
pub fn parse_epoch(text: &[u8], year: i64) -> Option<f64> {
    let s = text;
    // BSD syslog / journald short: "Dec  6 16:00:00[.123456]"
    if s.len() >= 15 && s[3] == b' ' {
        let month = MONTHS.iter().position(|m| s[..3] == m[..])? as u32 + 1;
        let mut i = 4;
        if s[i] == b' ' {
            i += 1;
        }
        let n = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let day = num(&s[i..i + n])?;
        if !(1..=31).contains(&day) || s.get(i + n) != Some(&b' ') {
            return None;
        }
        let (secs, _) = clock(&s[i + n + 1..])?;
        return Some(days_from_civil(year, month, day) as f64 * 86400.0 + secs);
    }
    // ISO: "2026-12-06T16:00:00[.frac][zone]" or "2026-12-06 16:00:00"
    if s.len() >= 19 && s[4] == b'-' && s[7] == b'-' && (s[10] == b'T' || s[10] == b' ') {
        let (y, m, d) = (num(&s[..4])?, num(&s[5..7])?, num(&s[8..10])?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        let (secs, rest) = clock(&s[11..])?;
        let off = zone(rest).unwrap_or(0);
        return Some(days_from_civil(i64::from(y), m, d) as f64 * 86400.0 + secs - off as f64);
    }
    None
}

/// A `--since` value: an ISO date-time (`2026-12-06 16:00`, `2026-12-06T16:00:00Z`),
/// a date (`2026-12-06`), or an age (`2h`, `30m`, `90s`, `1d`) counted back
/// from `now` (seconds since the epoch).
pub fn parse_since(text: &str, now: f64) -> Result<f64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "--since {text:?}: give a date-time (2026-12-06 16:00, 2026-12-06T16:00:00Z), a date (2026-12-06) or an age (2h, 30m, 1d)"
        )
    };
    if let Some(n) = t.strip_suffix('d').and_then(|n| n.parse::<f64>().ok()) {
        return Ok(now - n * 86400.0);
    }
    if let Ok(d) = crate::units::parse_duration(t) {
        return Ok(now - d.as_secs_f64());
    }
    let b = t.as_bytes();
    if b.len() == 10 {
        return parse_epoch(format!("{t} 00:00:00").as_bytes(), 1970).ok_or_else(bad);
    }
    if b.len() == 16 {
        return parse_epoch(format!("{t}:00").as_bytes(), 1970).ok_or_else(bad);
    }
    parse_epoch(b, 1970).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats() {
        // 2026-12-06 00:00:00 UTC = 1796515200 (date -u -d 2026-12-06 +%s)
        let day = 1_796_515_200.0;
        assert_eq!(parse_epoch(b"Dec  6 16:00:00", 2026), Some(day + 57600.0));
        assert_eq!(parse_epoch(b"Dec 06 16:00:01.5", 2026), Some(day + 57601.5));
        assert_eq!(
            parse_epoch(b"2026-12-06T16:00:00+00:00", 0),
            Some(day + 57600.0)
        );
        assert_eq!(
            parse_epoch(b"2026-12-06T17:00:00+0100", 0),
            Some(day + 57600.0)
        );
        assert_eq!(parse_epoch(b"2026-12-06 16:00:00", 0), Some(day + 57600.0));
        assert_eq!(
            parse_epoch(b"2026-12-06T16:00:00.250000Z", 0),
            Some(day + 57600.25)
        );
        assert_eq!(parse_epoch(b"Foo  6 16:00:00", 2026), None);
        assert_eq!(iso_utc(day + 57600.0), "2026-12-06T16:00:00Z");
    }

    #[test]
    fn since_values() {
        let now = 1_796_572_800.0; // 2026-12-06T16:00:00Z
        assert_eq!(parse_since("2h", now), Ok(now - 7200.0));
        assert_eq!(parse_since("1d", now), Ok(now - 86400.0));
        assert_eq!(parse_since("2026-12-06 15:00", now), Ok(now - 3600.0));
        assert_eq!(parse_since("2026-12-06", now), Ok(now - 57600.0));
        assert!(parse_since("yesterday", now).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in proptest::collection::vec(any::<u8>(), 0..40), y in -5000i64..5000) {
            let _ = parse_epoch(&s, y);
            let _ = parse_since(&String::from_utf8_lossy(&s), 0.0);
        }

        #[test]
        fn civil_round_trip(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
