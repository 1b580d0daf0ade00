//! Why a requested dump did not appear, from the proxy's live settings
//! (`cfg.get core memlog | debug | mem_summary`), the way the
//! dump was asked for, and what the log showed. Pure: no I/O, no printing;
//! the rules come from `core/pt.c` and `main.c` of Kamailio 5.6.3.

use super::blocks::Block;
use super::source::SourceInfo;
use serde::Serialize;

/// The proxy's logging and dump settings, as far as they could be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Settings {
    pub debug: Option<i64>,
    pub memlog: Option<i64>,
    pub mem_summary: Option<i64>,
    /// Why some values are missing (RPC failed, no ctl socket, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// How a dump is asked for; they follow different rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `cfg.set_now_int core mem_dump_pkg PID`: forced to ALERT level, so
    /// `memlog` does not matter; `mem_summary` bits 1 (status) and 4
    /// (summary) choose what is printed, on the process's next loop.
    RpcPkg,
    /// `cfg.set_now_int core mem_dump_shm 1`: forced to ALERT level, always
    /// a status, printed at once by the process that runs the RPC.
    RpcShm,
    /// SIGUSR1 to the main process: pkg (bits 1, 4) and shm (bits 2, 8),
    /// only when `memlog <= debug`.
    Signal,
}

impl Settings {
    /// How many dump blocks `method` will print: `Some(0)` when the settings
    /// say nothing will appear, `None` when they could not be read.
    pub fn expected_blocks(&self, method: Method) -> Option<usize> {
        match method {
            Method::RpcShm => Some(1),
            Method::RpcPkg => self
                .mem_summary
                .map(|m| ((m & 1 != 0) as usize) + ((m & 4 != 0) as usize)),
            Method::Signal => {
                let (memlog, debug, ms) = (self.memlog?, self.debug?, self.mem_summary?);
                if memlog > debug {
                    return Some(0);
                }
                Some((ms & 15).count_ones() as usize)
            }
        }
    }

    /// `mem_summary & 16`: status dumps stop after the heap header.
    pub fn short_status(&self) -> bool {
        self.mem_summary.is_some_and(|m| m & 16 != 0)
    }
}

/// What the log showed while waiting for one dump.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// The dump was actually asked for (not skipped from the settings).
    pub triggered: bool,
    /// Lines the proxy wrote to the log since the first trigger.
    pub lines_since_trigger: u64,
    /// Any dump at all (from any process) appeared since the first trigger.
    pub any_dump_seen: bool,
    /// The process's description from `core.psx` (`udp receiver child=0 ...`).
    pub description: Option<&'a str>,
    /// Times a SIP OPTIONS was sent to wake it, and where.
    pub pokes: u32,
    pub poke_target: Option<String>,
    /// The process is gone (it exited or was killed while we waited).
    pub exited: bool,
    /// Blocks of this request that were cut off or empty.
    pub partial: Vec<&'a Block>,
    pub timeout_s: f64,
    /// The log was still growing at the deadline (a new line in the last second).
    pub still_growing: bool,
}

/// The likely causes, most likely first, each ending with what to do.
pub fn causes(
    method: Method,
    settings: &Settings,
    source: &SourceInfo,
    ev: &Evidence<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    if ev.exited {
        out.push("the process exited while it was dumping or before it woke up (crash, restart?); check the log around that time".to_string());
    }
    for b in &ev.partial {
        if let Some(note) = &b.note {
            if note.contains("Enable DBG_") || note.contains("not available") {
                out.push(format!(
                    "kamailio printed {note:?} instead of a dump: this binary has no memory debugging; run `kmemdbg inspect` and rebuild (kmemdbg convert), or start it with -x qm when it has DBG_SR_MEMORY"
                ));
            }
        } else if b.lines > 1 && ev.still_growing {
            out.push(format!(
                "the dump started ({} lines) and the log was still growing when {:.0}s were up: a large pool takes long to print, raise --timeout",
                b.lines, ev.timeout_s
            ));
        } else if b.lines > 1 {
            out.push(format!(
                "the dump started ({} lines) but stopped before its end marker `-----------------------------`, and the log had gone quiet: not slowness (a longer --timeout would not help); the rest was dropped by the log or never printed",
                b.lines
            ));
        }
    }
    let ms = settings.mem_summary;
    match method {
        Method::RpcPkg => {
            if let Some(m) = ms {
                if m & 5 == 0 {
                    out.push(format!(
                        "mem_summary={m} has neither bit 1 (pkg status) nor bit 4 (pkg summary), so a pkg dump prints nothing: `kamcmd cfg.set_now_int core mem_summary {}` (live), or set mem_summary in kamailio.cfg",
                        m | 4
                    ));
                }
            }
            if let Some(d) = ev.description {
                out.push(wake_hint(d, ev));
            }
        }
        Method::Signal => {
            if let (Some(memlog), Some(debug)) = (settings.memlog, settings.debug) {
                if memlog > debug {
                    out.push(format!(
                        "memlog={memlog} > debug={debug}: SIGUSR1 prints only when memlog <= debug; `kamcmd cfg.set_now_int core memlog {debug}` (live) or `kmemdbg cfg` (permanent), or use the RPC triggers --shm/--pkg, which ignore memlog"
                    ));
                }
            }
            if let Some(m) = ms {
                if m & 15 == 0 {
                    out.push(format!(
                        "mem_summary={m} has none of the bits 1, 2, 4, 8, so SIGUSR1 prints nothing: set mem_summary=12 (pkg and shm summaries)"
                    ));
                }
            }
        }
        Method::RpcShm => {}
    }
    if ev.triggered && (ev.lines_since_trigger == 0 || !ev.any_dump_seen) {
        out.push(log_elsewhere(source, ev.lines_since_trigger));
    }
    if let Some(why) = &settings.unreadable {
        out.push(format!(
            "(the proxy's settings could not be read over RPC: {why})"
        ));
    }
    if out.is_empty() {
        out.push(format!(
            "nothing explains it from the settings (memlog={}, debug={}, mem_summary={}); raise --timeout (now {:.0}s)",
            show(settings.memlog),
            show(settings.debug),
            show(ms),
            ev.timeout_s
        ));
    }
    out
}

fn show(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
}

/// Which processes wake on their own, and how to wake the others.
fn wake_hint(description: &str, ev: &Evidence<'_>) -> String {
    let d = description.to_ascii_lowercase();
    if d.contains("receiver") && (d.contains("udp") || d.contains("sctp")) {
        match &ev.poke_target {
            Some(t) => format!(
                "`{description}` dumps on its next SIP message; {} OPTIONS sent to {t} did not reach it (the kernel hands each to any receiver): raise --timeout for more tries",
                ev.pokes
            ),
            None => {
                let sock = description
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("sock="))
                    .unwrap_or("ADDR:PORT");
                format!(
                    "`{description}` dumps on its next SIP message: pass --poke {sock} so kmemdbg sends it SIP OPTIONS"
                )
            }
        }
    } else if d.contains("tcp") || d.contains("tls") {
        format!("`{description}` wakes only on TCP/TLS activity: open a connection to the proxy (or dump it at shutdown)")
    } else if d.contains("slow timer") {
        format!("`{description}` wakes only when a slow timer is due (tm, dialog, ...); on an idle proxy it may never run")
    } else if d.contains("main process") || d.contains("attendant") {
        format!("`{description}` reads cfg changes only after a signal: use --signal (SIGUSR1) for the main process")
    } else {
        format!("`{description}` did not run its loop within {:.0}s: raise --timeout, or give it work to do", ev.timeout_s)
    }
}

fn log_elsewhere(source: &SourceInfo, lines: u64) -> String {
    let seen = if lines == 0 {
        format!("kamailio wrote nothing to the {source} since the trigger")
    } else {
        format!("{lines} lines reached the {source} since the trigger, but no dump among them")
    };
    // log_facility is not readable over RPC ("not readable via RPC interface").
    let facility = " (facility from log_facility, LOG_DAEMON by default)";
    match source {
        SourceInfo::Stderr { path } => format!(
            "{seen}: its log probably goes elsewhere; a stderr capture only works when kamailio runs with -E (log_stderror=yes) and its stderr is redirected to {}; otherwise it logs to syslog{facility}: use --log /var/log/syslog or --journal kamailio",
            path.display()
        ),
        SourceInfo::Syslog { path } => format!(
            "{seen}: its log probably goes elsewhere: with log_stderror=yes (or -E) it writes to stderr (use --stderr FILE or --journal UNIT); otherwise it logs to syslog{facility}: check which file your syslog daemon writes that facility to (not {}?)",
            path.display()
        ),
        SourceInfo::Journal { unit } => format!(
            "{seen}: check that {unit} is the unit running this proxy (`systemctl status {unit}`), or use --log/--stderr when it logs to a file"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(memlog: i64, debug: i64, ms: i64) -> Settings {
        Settings {
            debug: Some(debug),
            memlog: Some(memlog),
            mem_summary: Some(ms),
            unreadable: None,
        }
    }

    fn src() -> SourceInfo {
        SourceInfo::Syslog {
            path: "/var/log/syslog".into(),
        }
    }

    #[test]
    fn expected_blocks_follow_the_source_rules() {
        let s = settings(5, 2, 12);
        assert_eq!(s.expected_blocks(Method::RpcPkg), Some(1));
        assert_eq!(s.expected_blocks(Method::RpcShm), Some(1));
        assert_eq!(s.expected_blocks(Method::Signal), Some(0));
        let s = settings(1, 2, 15);
        assert_eq!(s.expected_blocks(Method::RpcPkg), Some(2));
        assert_eq!(s.expected_blocks(Method::Signal), Some(4));
        assert_eq!(Settings::default().expected_blocks(Method::RpcPkg), None);
        assert!(settings(1, 2, 16).short_status());
    }

    #[test]
    fn signal_with_memlog_above_debug() {
        let c = causes(
            Method::Signal,
            &settings(5, 2, 12),
            &src(),
            &Evidence {
                triggered: true,
                lines_since_trigger: 3,
                ..Evidence::default()
            },
        );
        assert!(c[0].contains("memlog=5 > debug=2"), "{c:?}");
        assert!(c.iter().any(|c| c.contains("log_facility")), "{c:?}");
    }

    #[test]
    fn pkg_without_summary_bits_and_receiver_hint() {
        let c = causes(
            Method::RpcPkg,
            &settings(1, 2, 2),
            &src(),
            &Evidence {
                triggered: true,
                lines_since_trigger: 10,
                any_dump_seen: true,
                description: Some("udp receiver child=0 sock=127.0.0.1:5090"),
                ..Evidence::default()
            },
        );
        assert!(c[0].contains("mem_summary=2 has neither bit 1"), "{c:?}");
        assert!(c[1].contains("--poke 127.0.0.1:5090"), "{c:?}");
    }

    #[test]
    fn nothing_written_points_at_the_log() {
        let c = causes(
            Method::RpcShm,
            &settings(1, 2, 12),
            &SourceInfo::Stderr {
                path: "/tmp/k.log".into(),
            },
            &Evidence {
                triggered: true,
                ..Evidence::default()
            },
        );
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(
            c[0].contains("wrote nothing") && c[0].contains("-E"),
            "{c:?}"
        );
    }
}
