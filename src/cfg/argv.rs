//! What a kamailio command line changes about its cfg: `-A NAME[=VALUE]`
//! defines (which pick `#!ifdef` branches), and `-d` / `--debug=N` (which
//! Kamailio applies after the cfg, overriding `debug=`).
//!
//! [`parse_argv`] is pure; [`running_services`] asks [`crate::procfs`] for the
//! kamailio processes started with a given cfg, so the restart helper and
//! `kmemdbg cfg` see the defines the service really uses. Never signals or
//! changes any process.

use super::edit::DebugOverride;
use super::reader::{normalize, Define};
use crate::procfs;
use std::path::{Path, PathBuf};

/// What one kamailio command line says about its cfg.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgvFacts {
    /// `-f FILE`, as written.
    pub cfg: Option<PathBuf>,
    pub defines: Vec<Define>,
    pub debug: Option<DebugOverride>,
    /// `-E`: logs go to stderr whatever `log_stderror` says.
    pub log_stderr: bool,
}

/// Reads a kamailio argv (argv[0] included or not): `-A X`, `-AX`,
/// `-f F`, `-fF`, `-d` (repeatable, also `-dd`), `--debug=N` / `--debug N`, `-E`.
pub fn parse_argv(args: &[String]) -> ArgvFacts {
    let mut facts = ArgvFacts::default();
    let mut d_count = 0i64;
    let mut debug_set: Option<i64> = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if let Some(long) = a.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let takes = procfs::LONG_WITH_VALUE.contains(&name);
            let val = if takes && val.is_none() {
                i += 1;
                args.get(i - 1).cloned()
            } else {
                val
            };
            if name == "debug" {
                if let Some(v) = val.and_then(|v| v.trim().parse().ok()) {
                    debug_set = Some(v);
                }
            }
            continue;
        }
        let Some(flags) = a.strip_prefix('-') else {
            continue;
        };
        let bytes = flags.as_bytes();
        let mut k = 0;
        while k < bytes.len() {
            let c = bytes[k];
            if procfs::SHORT_WITH_VALUE.as_bytes().contains(&c) {
                let rest = &flags[k + 1..];
                let val = if rest.is_empty() {
                    i += 1;
                    args.get(i - 1).cloned()
                } else {
                    Some(rest.to_string())
                };
                match (c, val) {
                    (b'A', Some(v)) => {
                        if let Ok(d) = Define::parse(&v) {
                            facts.defines.push(d);
                        }
                    }
                    (b'f', Some(v)) => facts.cfg = Some(PathBuf::from(v)),
                    _ => {}
                }
                break;
            }
            match c {
                b'd' => d_count += 1,
                b'E' => facts.log_stderr = true,
                _ => {}
            }
            k += 1;
        }
    }
    // main.c: -d increments the default (L_WARN 0); --debug sets it; either
    // replaces the cfg's debug after the cfg is read.
    if let Some(v) = debug_set {
        facts.debug = Some(DebugOverride {
            value: v + d_count,
            how: format!("--debug={v} on the command line"),
        });
    } else if d_count > 0 {
        facts.debug = Some(DebugOverride {
            value: d_count,
            how: format!(
                "{} on the command line",
                "-d ".repeat(d_count as usize).trim_end()
            ),
        });
    }
    facts
}

/// A running kamailio started with a given cfg.
#[derive(Debug, Clone)]
pub struct Service {
    pub pid: u32,
    pub facts: ArgvFacts,
}

/// The kamailio main processes (see [`procfs::kamailio_main_pids`]) whose
/// `-f` names `cfg`.
pub fn running_services(cfg: &Path) -> Vec<Service> {
    let want = canonical(cfg);
    let mut out = Vec::new();
    for pid in procfs::kamailio_main_pids() {
        let Some(args) = procfs::cmdline(pid) else {
            continue;
        };
        let facts = parse_argv(&args[1..]);
        let Some(f) = &facts.cfg else { continue };
        let path = if f.is_absolute() {
            f.clone()
        } else {
            match procfs::cwd(pid) {
                Some(cwd) => cwd.join(f),
                None => continue,
            }
        };
        if canonical(&path) == want {
            out.push(Service { pid, facts });
        }
    }
    out
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| normalize(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defines_cfg_and_debug() {
        let f = parse_argv(&argv(
            "-P /run/kamailio/kamailio.pid -f /etc/kamailio/kamailio.cfg -m 64 -M 8 -A WITH_DEBUG -ADBGLEVEL=3 -DD -E",
        ));
        assert_eq!(
            f.cfg.as_deref(),
            Some(Path::new("/etc/kamailio/kamailio.cfg"))
        );
        assert_eq!(
            f.defines,
            vec![
                Define {
                    name: "WITH_DEBUG".into(),
                    value: None
                },
                Define {
                    name: "DBGLEVEL".into(),
                    value: Some("3".into())
                }
            ]
        );
        assert!(f.log_stderr);
        assert_eq!(f.debug, None, "-DD is not -d");
        let f = parse_argv(&argv("-dd -f k.cfg"));
        assert_eq!(f.debug.unwrap().value, 2);
        let f = parse_argv(&argv("--debug=3 -fk.cfg"));
        assert_eq!(f.debug.unwrap().value, 3);
        assert_eq!(f.cfg.as_deref(), Some(Path::new("k.cfg")));
        let f = parse_argv(&argv("-x qm -X qm -A X-Y"));
        assert!(f.defines.is_empty(), "X-Y is not a define name");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(args in proptest::collection::vec("[-A-Za-z0-9=_ ]{0,8}", 0..10)) {
            let _ = parse_argv(&args);
        }
    }
}
