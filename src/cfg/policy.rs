//! What the memory-debug settings should become: pure decisions shared by
//! the file editor and `--live`, and the `--summary` list.
//!
//! The rules (Kamailio 5.x `main.c`, `core/pt.c`, `core/mem/q_malloc.c`):
//! shutdown and SIGUSR1 summaries are printed only when `memlog <= debug`;
//! per-allocation messages are logged when `memdbg <= debug` (a flood);
//! `mem_summary` bits choose what a dump carries. Nothing here reads or
//! writes anything.

use anyhow::{bail, Result};
use serde::Serialize;

/// The lowest log level (`L_ALERT`).
pub const L_ALERT: i64 = -5;

/// `mem_summary` bits (core/cfg_core.c).
pub const PKG_STATUS: i64 = 1;
pub const SHM_STATUS: i64 = 2;
pub const PKG_SUMS: i64 = 4;
pub const SHM_SUMS: i64 = 8;
pub const SHORT_STATUS: i64 = 16;
/// What the dump analysis needs: per-allocation-site summaries of pkg and shm.
pub const NEEDED_SUMMARY: i64 = PKG_SUMS | SHM_SUMS;

/// What the user asked for; `None` means "make dumps work, change as little as possible".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Goals {
    pub memlog: Option<i64>,
    pub memdbg: Option<i64>,
    pub summary: Option<i64>,
}

/// Keep the current value, or set a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Keep {
        reason: String,
    },
    Set {
        to: i64,
        reason: String,
        warning: Option<String>,
    },
}

/// memlog must be <= debug for shutdown and SIGUSR1 summaries to print.
/// Default: keep a value that already works, else the highest value that
/// still works (debug itself), so nothing else gets louder.
pub fn memlog(debug: i64, debug_desc: &str, current: i64, want: Option<i64>) -> Result<Decision> {
    if let Some(n) = want {
        if n < L_ALERT {
            bail!("--memlog {n}: the lowest log level is {L_ALERT} (L_ALERT)");
        }
        if n > debug {
            bail!("--memlog {n} is above debug ({debug_desc}): Kamailio would still print no memory summaries; choose {debug} or lower");
        }
        if n == current {
            return Ok(Decision::Keep {
                reason: format!("memlog {n} as asked ({debug_desc})"),
            });
        }
        return Ok(Decision::Set {
            to: n,
            reason: format!("{debug_desc}; asked with --memlog"),
            warning: None,
        });
    }
    if current <= debug {
        return Ok(Decision::Keep {
            reason: format!("memlog {current} <= debug {debug}: summaries are printed"),
        });
    }
    Ok(Decision::Set {
        to: debug,
        reason: debug_desc.to_string(),
        warning: None,
    })
}

/// memdbg must stay above debug, or every malloc/free is logged.
pub fn memdbg(debug: i64, debug_desc: &str, current: i64, want: Option<i64>) -> Decision {
    let flood = |n: i64| {
        (n <= debug).then(|| {
            format!("memdbg {n} <= debug {debug}: every malloc and free will be logged (thousands of lines per second under load); keep memdbg above {debug} unless you need that")
        })
    };
    if let Some(n) = want {
        if n == current {
            return Decision::Keep {
                reason: format!("memdbg {n} as asked"),
            };
        }
        return Decision::Set {
            to: n,
            reason: "asked with --memdbg".into(),
            warning: flood(n),
        };
    }
    if current > debug {
        return Decision::Keep {
            reason: format!("memdbg {current} > debug {debug}: no per-allocation flood"),
        };
    }
    Decision::Set {
        to: debug + 1,
        reason: format!("{debug_desc}; memdbg at or below debug logs every malloc and free"),
        warning: None,
    }
}

/// mem_summary: exactly `--summary` when given, else add the pkg and shm
/// summaries (bits 4 and 8) to whatever is set.
pub fn summary(current: i64, want: Option<i64>) -> Decision {
    if let Some(bits) = want {
        if bits == current {
            return Decision::Keep {
                reason: format!("mem_summary {bits} ({}) as asked", describe_summary(bits)),
            };
        }
        return Decision::Set {
            to: bits,
            reason: format!("asked with --summary: {}", describe_summary(bits)),
            warning: (bits & NEEDED_SUMMARY != NEEDED_SUMMARY).then(|| {
                format!("mem_summary {bits} lacks the pkg/shm summaries (4+8) that name allocation sites; shutdown dumps will carry only {}", describe_summary(bits))
            }),
        };
    }
    if current & NEEDED_SUMMARY == NEEDED_SUMMARY {
        return Decision::Keep {
            reason: format!(
                "mem_summary {current} ({}) carries the pkg and shm summaries",
                describe_summary(current)
            ),
        };
    }
    let to = current | NEEDED_SUMMARY;
    Decision::Set {
        to,
        reason: "dumps need the pkg and shm summaries (bits 4+8) to name allocation sites".into(),
        warning: None,
    }
}

/// Parses `--summary`: a number 0-31, or words joined by `,` or `+`:
/// `pkg`, `shm` (default both), `status`, `sums` (default sums), `short`
/// (short status: totals without the fragment list), `all`, `none`.
pub fn parse_summary(list: &str) -> Result<i64> {
    let list = list.trim();
    if let Ok(n) = list.parse::<i64>() {
        if !(0..=31).contains(&n) {
            bail!("--summary {n}: mem_summary takes 0-31 (1 pkg status, 2 shm status, 4 pkg summary, 8 shm summary, 16 short status)");
        }
        return Ok(n);
    }
    let (mut pkg, mut shm, mut status, mut sums, mut short) = (false, false, false, false, false);
    for word in list.split([',', '+', ' ']).filter(|w| !w.is_empty()) {
        match word.to_ascii_lowercase().as_str() {
            "pkg" => pkg = true,
            "shm" => shm = true,
            "status" => status = true,
            "sums" | "sum" | "summary" | "summaries" => sums = true,
            "short" => {
                short = true;
                status = true;
            }
            "all" => {
                (pkg, shm, status, sums) = (true, true, true, true);
            }
            "none" => return Ok(0),
            other => bail!(
                "--summary: unknown word {other:?}; use pkg, shm, status, sums, short, all, none or a number 0-31 (e.g. --summary pkg,shm,sums)"
            ),
        }
    }
    if !pkg && !shm {
        (pkg, shm) = (true, true);
    }
    if !status && !sums {
        sums = true;
    }
    let mut bits = 0;
    if pkg && status {
        bits |= PKG_STATUS;
    }
    if shm && status {
        bits |= SHM_STATUS;
    }
    if pkg && sums {
        bits |= PKG_SUMS;
    }
    if shm && sums {
        bits |= SHM_SUMS;
    }
    if short {
        bits |= SHORT_STATUS;
    }
    Ok(bits)
}

/// `12` -> `pkg summary + shm summary`.
pub fn describe_summary(bits: i64) -> String {
    let names = [
        (PKG_STATUS, "pkg status"),
        (SHM_STATUS, "shm status"),
        (PKG_SUMS, "pkg summary"),
        (SHM_SUMS, "shm summary"),
        (SHORT_STATUS, "short status"),
    ];
    let parts: Vec<&str> = names
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(" + ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memlog_rules() {
        let d = "debug is 2 via DBGLEVEL";
        assert_eq!(
            memlog(2, d, 5, None).unwrap(),
            Decision::Set {
                to: 2,
                reason: d.into(),
                warning: None
            }
        );
        assert!(matches!(
            memlog(2, d, 1, None).unwrap(),
            Decision::Keep { .. }
        ));
        assert!(matches!(
            memlog(2, d, 5, Some(1)).unwrap(),
            Decision::Set { to: 1, .. }
        ));
        let e = memlog(2, d, 5, Some(3)).unwrap_err().to_string();
        assert!(e.contains("above debug (debug is 2 via DBGLEVEL)"), "{e}");
        assert!(memlog(2, d, 5, Some(-6)).is_err());
    }

    #[test]
    fn memdbg_rules() {
        assert!(matches!(memdbg(2, "", 5, None), Decision::Keep { .. }));
        assert!(matches!(
            memdbg(2, "", 1, None),
            Decision::Set {
                to: 3,
                warning: None,
                ..
            }
        ));
        assert!(matches!(
            memdbg(2, "", 5, Some(1)),
            Decision::Set {
                to: 1,
                warning: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn summary_list() {
        assert_eq!(parse_summary("pkg,shm,sums").unwrap(), 12);
        assert_eq!(parse_summary("all").unwrap(), 15);
        assert_eq!(parse_summary("shm").unwrap(), 8);
        assert_eq!(parse_summary("pkg+status").unwrap(), 1);
        assert_eq!(parse_summary("status,sums").unwrap(), 15);
        assert_eq!(parse_summary("short").unwrap(), 19);
        assert_eq!(parse_summary("28").unwrap(), 28);
        assert!(parse_summary("32").is_err());
        assert!(parse_summary("heap").is_err());
        assert_eq!(
            summary(12, None),
            Decision::Keep {
                reason:
                    "mem_summary 12 (pkg summary + shm summary) carries the pkg and shm summaries"
                        .into()
            }
        );
        assert!(matches!(summary(3, None), Decision::Set { to: 15, .. }));
        assert!(matches!(
            summary(12, Some(15)),
            Decision::Set {
                to: 15,
                warning: None,
                ..
            }
        ));
        assert!(matches!(
            summary(12, Some(1)),
            Decision::Set {
                to: 1,
                warning: Some(_),
                ..
            }
        ));
    }
}
