//! `kmemdbg report`: what a Kamailio bug report about memory needs, in one
//! Markdown file: `kamailio -V` and the verdict, the run options and the
//! cfg's global settings, `pkg.stats` per process, the shm figures, the
//! latest out-of-memory errors (`scan`), the top sites (from given dumps or
//! a fresh `mod.stats` snapshot) and their known leak fixes.
//!
//! [`gather`] collects (reads /proc, the cfg and the log, asks over the ctl
//! socket, runs `kamailio -V`: nothing is changed, nothing is written);
//! [`markdown`] renders (pure); [`redact`] masks addresses, URIs, users and
//! Call-IDs (pure). A section that cannot be filled carries the reason
//! instead of failing the report.

pub mod markdown;
pub mod redact;

use crate::dump::modstats;
use crate::fixes::sites::KnownReport;
use crate::fixes::{KnownFixes, Release};
use crate::kamcmd::records::{parse_pkg_stats, parse_shmmem, PkgStat, ShmStat};
use crate::kamcmd::Kamcmd;
use crate::mem::GroupBy;
use crate::probe::verdict::{verdict, Verdict};
use crate::service::{discover, Running, Target};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A section's content, or why it is empty.
pub type Part<T> = std::result::Result<T, String>;

/// Largest report, so it pastes into an issue.
pub const MAX_BYTES: usize = 60 * 1024;

/// What the report is asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub target: Target,
    /// The ctl socket (`unix:/run/kamailio/kamailio_ctl`).
    pub ctl: String,
    /// The log to scan for out-of-memory errors (else the process's stderr
    /// file, else the journal of its systemd unit).
    pub log: Option<PathBuf>,
    /// Dumps taken with `kmemdbg dump` (logs or mod.stats snapshots), oldest first.
    pub dumps: Vec<PathBuf>,
    pub binary: Option<PathBuf>,
}

/// One site row.
#[derive(Debug, Clone)]
pub struct SiteRow {
    pub key: String,
    /// Bytes now (or in the last dump).
    pub bytes: i64,
    /// Growth over the dumps, when several were compared.
    pub growth: Option<i64>,
}

/// The top sites and where they come from.
#[derive(Debug, Clone)]
pub struct Sites {
    pub source: String,
    pub rows: Vec<SiteRow>,
}

/// One group of out-of-memory errors.
#[derive(Debug, Clone)]
pub struct OomRow {
    pub pool: String,
    pub process: String,
    pub place: String,
    pub count: u64,
    pub first: String,
    pub last: String,
    pub example: String,
}

/// The out-of-memory errors of the log.
#[derive(Debug, Clone)]
pub struct Oom {
    pub source: String,
    pub lines: u64,
    pub total: u64,
    /// Failures per pool, for the pool verdicts: (pkg, shm, unnamed).
    pub failures: (u64, u64, u64),
    pub rows: Vec<OomRow>,
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Facts {
    pub generated: String,
    pub kmemdbg: String,
    /// How the proxy was found (`pid file X: main PID N`).
    pub target: Part<String>,
    pub version_text: Part<String>,
    pub verdict: Part<Verdict>,
    pub version: Option<Release>,
    pub argv: Part<Vec<String>>,
    pub cfg: Part<(String, Vec<String>)>,
    pub pkg: Part<Vec<PkgStat>>,
    pub shm: Part<ShmStat>,
    /// Verdicts on each pool's figures (exhausted, near full, wrapped, ...): (kind, subject, sentence).
    pub pools: Part<Vec<(String, String, String)>>,
    pub oom: Part<Oom>,
    pub sites: Part<Sites>,
    pub fixes: Part<KnownReport>,
    /// Where the fixes come from (`kamailio/kamailio master at ...`).
    pub fixes_provenance: String,
}

fn err(e: anyhow::Error) -> String {
    format!("{e:#}")
}

/// The running main process the request names.
fn find_target(t: &Target) -> Result<Option<(Running, String)>> {
    if let Some(pf) = &t.pidfile {
        let (pid, running) = discover::read_pidfile(pf)?;
        let Some(r) = running else {
            bail!("{} names PID {pid}, which is not running", pf.display());
        };
        return Ok(Some((
            r,
            format!("pid file {}: main PID {pid}", pf.display()),
        )));
    }
    if t.service.is_some() {
        let setup = discover::discover(t)?;
        let name = t.service.clone().unwrap_or_default();
        return Ok(setup.running.map(|r| {
            let pid = r.pid;
            (r, format!("service {name}: main PID {pid}"))
        }));
    }
    let mut mains = discover::main_processes();
    if mains.len() == 1 {
        let r = mains.remove(0);
        let pid = r.pid;
        return Ok(Some((
            r,
            format!("the only kamailio running: main PID {pid}"),
        )));
    }
    Ok(None)
}

/// Checks what the user gave before anything runs: exit 2 on bad input.
pub fn check_request(req: &Request) -> Result<()> {
    if let Some(pf) = &req.target.pidfile {
        if !pf.is_file() {
            bail!(
                "no pid file {}: give the -P file kamailio writes",
                pf.display()
            );
        }
    }
    for d in &req.dumps {
        if !d.is_file() {
            bail!(
                "no dump file {}: give files written by kmemdbg dump",
                d.display()
            );
        }
    }
    if let Some(l) = &req.log {
        if !l.is_file() {
            bail!("no log file {}", l.display());
        }
    }
    Ok(())
}

/// `BINARY -V`, as printed.
fn version_text(binary: &Path) -> Result<String> {
    let sh = crate::runner::shell()?;
    let out = crate::runner::run(xshell::cmd!(sh, "{binary} -V"), Duration::from_secs(20))?;
    let text = out.stdout_text();
    Ok(if text.trim().is_empty() {
        out.stderr_text()
    } else {
        text
    })
}

/// The cfg's global settings: `name=value`, `loadmodule`, `modparam`,
/// `listen`, up to the first route block.
pub fn cfg_globals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let word: String = t
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if word.ends_with("route") || word == "route" {
            break;
        }
        let setting = !word.is_empty()
            && t[word.len()..].trim_start().starts_with('=')
            && !t.starts_with('#');
        if setting || word == "loadmodule" || word == "modparam" {
            let mut l = t.to_string();
            if l.len() > 200 {
                let mut cut = 200;
                while !l.is_char_boundary(cut) {
                    cut -= 1;
                }
                l.truncate(cut);
                l.push_str(" ...");
            }
            out.push(l);
        }
        if out.len() >= 200 {
            break;
        }
    }
    out
}

fn cfg_of(argv: &[String]) -> PathBuf {
    argv.iter()
        .position(|a| a == "-f")
        .and_then(|i| argv.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/kamailio/kamailio.cfg"))
}

fn scan_log(req: &Request, running: Option<&Running>) -> Part<Oom> {
    use crate::scan::{input, Options, Scanner};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let year = crate::scan::time::civil_from_days((now / 86400.0).floor() as i64).0;
    let mut scanner = Scanner::new(Options { year, since: None });
    let mut totals = input::Totals::default();
    let source = if let Some(l) = &req.log {
        input::scan_file(l, &mut scanner, &mut totals).map_err(err)?;
        l.display().to_string()
    } else if let Some(f) = running.and_then(|r| r.stderr_file.clone()) {
        input::scan_file(&f, &mut scanner, &mut totals).map_err(err)?;
        format!("{} (the proxy's stderr)", f.display())
    } else if let Some(unit) = running.and_then(|r| discover::cgroup_unit(r.pid)) {
        input::scan_journal(&unit, None, &mut scanner, &mut totals).map_err(err)?;
        format!("journal of {unit}")
    } else {
        return Err("no log known: the proxy logs neither to a file on its stderr nor to a systemd unit's journal; give --log FILE".into());
    };
    let scan = scanner.finish(totals.lines, totals.bytes);
    let per = scan.per_pool();
    let n = |p: crate::scan::table::OomPool| per.get(&p).copied().unwrap_or(0);
    let failures = (
        n(crate::scan::table::OomPool::Pkg),
        n(crate::scan::table::OomPool::Shm),
        n(crate::scan::table::OomPool::Unnamed),
    );
    let mut groups = scan.groups.clone();
    groups.sort_by_key(|g| std::cmp::Reverse(g.last_line));
    let rows = groups
        .iter()
        .take(15)
        .map(|g| OomRow {
            pool: g.pool.as_str().to_string(),
            process: match (g.pid, &g.role) {
                (Some(p), Some(r)) => format!("{p} ({r})"),
                (Some(p), None) => p.to_string(),
                _ => "-".into(),
            },
            place: format!(
                "{}: {}",
                g.module.as_deref().unwrap_or("?"),
                g.function.as_deref().unwrap_or("?")
            ),
            count: g.count,
            first: g
                .first_time
                .clone()
                .unwrap_or_else(|| format!("line {}", g.first_line)),
            last: g
                .last_time
                .clone()
                .unwrap_or_else(|| format!("line {}", g.last_line)),
            example: g.example.chars().take(160).collect(),
        })
        .collect();
    Ok(Oom {
        source,
        lines: scan.lines,
        total: scan.findings,
        failures,
        rows,
    })
}

/// Top sites from the given dumps (growth), else a fresh `mod.stats` snapshot.
fn sites(
    req: &Request,
    k: &Part<Kamcmd>,
    main_pid: Option<u32>,
    version: Option<String>,
) -> Part<Sites> {
    if !req.dumps.is_empty() {
        return sites_of_dumps(&req.dumps);
    }
    let k = k
        .as_ref()
        .map_err(|e| format!("no dumps given (--dumps) and {e}"))?;
    let cap = crate::capture::route::mod_stats(k, main_pid, version).map_err(|e| {
        format!("no dumps given (--dumps), and a fresh mod.stats snapshot failed: {e:#}")
    })?;
    let mut rows = Vec::new();
    for pool in ["shm", "pkg"] {
        if let Some(sec) = cap.snapshot.section(pool) {
            let mut s: Vec<&modstats::ModSite> = sec.sites.iter().collect();
            s.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name().cmp(&b.name())));
            rows.extend(s.iter().take(10).map(|m| SiteRow {
                key: format!("{} ({pool})", m.name()),
                bytes: m.bytes,
                growth: None,
            }));
        }
    }
    Ok(Sites {
        source: format!(
            "a fresh {} snapshot (largest sites now; take two kmemdbg dump --mod-stats some time apart and pass them with --dumps for growth)",
            cap.rpc
        ),
        rows,
    })
}

fn sites_of_dumps(files: &[PathBuf]) -> Part<Sites> {
    let texts: Vec<(PathBuf, String)> = files
        .iter()
        .map(|f| {
            std::fs::read(f)
                .map(|b| (f.clone(), String::from_utf8_lossy(&b).into_owned()))
                .map_err(|e| format!("cannot read {}: {e}", f.display()))
        })
        .collect::<Part<_>>()?;
    if texts.iter().all(|(_, t)| modstats::is_snapshot(t)) {
        let mut snaps: Vec<modstats::Snapshot> =
            texts.iter().map(|(_, t)| modstats::parse(t)).collect();
        snaps.sort_by_key(|s| s.header.unix_time.unwrap_or(0));
        let (Some(first), Some(last)) = (snaps.first(), snaps.last()) else {
            return Err("no snapshot".into());
        };
        let mut changes = modstats::diff(first, last, "shm");
        changes.retain(|c| snaps.len() == 1 || c.delta_bytes > 0);
        changes.truncate(15);
        return Ok(Sites {
            source: format!("{} mod.stats snapshot(s), shm, first to last", snaps.len()),
            rows: changes
                .into_iter()
                .map(|c| SiteRow {
                    key: c.site,
                    bytes: c.after_bytes,
                    growth: (snaps.len() > 1).then_some(c.delta_bytes),
                })
                .collect(),
        });
    }
    let mut snapshots = Vec::new();
    for f in files {
        let log = crate::dump::read_path(f).map_err(err)?;
        snapshots.extend(log.snapshots);
    }
    let (series, _single) = crate::dump::diff_all(snapshots.iter(), GroupBy::Site);
    let mut rows: Vec<SiteRow> = series
        .iter()
        .flat_map(|s| {
            s.growing.iter().take(10).map(move |g| SiteRow {
                key: format!("{} [{}]", g.key, s.label),
                bytes: g.bytes.last().copied().unwrap_or(0) as i64,
                growth: Some(g.bytes_growth),
            })
        })
        .collect();
    if rows.is_empty() && series.is_empty() {
        return Err(format!(
            "the dumps given ({}) hold no heap dumped twice: nothing to compare",
            files.len()
        ));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.growth));
    rows.truncate(15);
    Ok(Sites {
        source: format!("growth across {} dump file(s)", files.len()),
        rows,
    })
}

/// The bare site of a row (`[shm status]`/`(shm)` labels taken off).
pub fn bare_key(key: &str) -> &str {
    let k = key.split(" [").next().unwrap_or(key);
    k.strip_suffix(" (shm)")
        .or_else(|| k.strip_suffix(" (pkg)"))
        .unwrap_or(k)
}

/// The verdict on each pool's figures (`memrpc`), with the log's failures.
fn pool_verdicts(
    pkg: &Part<String>,
    shm: &Part<String>,
    oom: Option<&Oom>,
) -> Part<Vec<(String, String, String)>> {
    let mut text = String::new();
    for t in [pkg, shm].into_iter().flatten() {
        text.push_str(t);
        text.push('\n');
    }
    if text.is_empty() {
        return Err(pkg
            .clone()
            .err()
            .unwrap_or_else(|| "no pool figures".into()));
    }
    let (p, s, u) = oom.map(|o| o.failures).unwrap_or_default();
    let failures = crate::memrpc::verdict::Failures {
        pkg: p,
        shm: s,
        unknown: u,
    };
    let answers = crate::memrpc::read_text(&text);
    if answers.pools.is_empty() {
        return Err("the pool figures were not readable".into());
    }
    Ok(answers
        .pools
        .iter()
        .map(|f| {
            let v = crate::memrpc::verdict::judge(f, &failures);
            let kind = serde_json::to_value(v.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_string))
                .unwrap_or_default();
            (kind, v.subject, v.text)
        })
        .collect())
}

/// Collects everything (see the module doc); `now` and `kmemdbg` label the report.
pub fn gather(req: &Request, known: &KnownFixes, now: String, kmemdbg: String) -> Facts {
    let target = find_target(&req.target);
    let running = target
        .as_ref()
        .ok()
        .and_then(|t| t.as_ref().map(|(r, _)| r.clone()));
    let target_text = match &target {
        Ok(Some((_, how))) => Ok(how.clone()),
        Ok(None) => Err(
            "no kamailio found: none or several run; give --service NAME or --pidfile FILE".into(),
        ),
        Err(e) => Err(format!("{e:#}")),
    };
    let binary = req.binary.clone().or_else(|| {
        running
            .as_ref()
            .map(|r| PathBuf::from(r.exe.to_string_lossy().trim_end_matches(" (deleted)")))
    });
    let version_text: Part<String> = match &binary {
        Some(b) => version_text(b).map_err(err),
        // never guessed from whatever kamailio this box has installed
        None => Err("no running kamailio to ask (give --service, --pidfile or --binary)".into()),
    };
    let info = version_text
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|t| crate::probe::version::parse_version_output(t).map_err(err));
    let verdict = info.as_ref().map(verdict).map_err(Clone::clone);
    let version = info.as_ref().ok().map(|i| Release {
        major: i.version.major,
        minor: i.version.minor,
        patch: i.version.patch,
    });
    let argv: Part<Vec<String>> = running
        .as_ref()
        .map(|r| r.argv.clone())
        .ok_or_else(|| "no running main process to read /proc/PID/cmdline from".to_string());
    let cfg = match &argv {
        Ok(a) => {
            let path = cfg_of(a);
            std::fs::read_to_string(&path)
                .map(|t| (path.display().to_string(), cfg_globals(&t)))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        Err(e) => Err(e.clone()),
    };
    let k: Part<Kamcmd> = Kamcmd::new(Some(&req.ctl)).map_err(err);
    let call = |m: &str| -> Part<String> {
        let k = k.as_ref().map_err(Clone::clone)?;
        k.call(&[m]).map_err(err)
    };
    let pkg_text = call("pkg.stats");
    let shm_text = call("core.shmmem");
    let pkg = pkg_text.clone().and_then(|t| {
        let v = parse_pkg_stats(&t);
        if v.is_empty() {
            Err("pkg.stats gave no process record".into())
        } else {
            Ok(v)
        }
    });
    let shm = shm_text.clone().and_then(|t| {
        parse_shmmem(&t).ok_or_else(|| "core.shmmem gave no total/used figures".to_string())
    });
    let oom = scan_log(req, running.as_ref());
    let pools = pool_verdicts(&pkg_text, &shm_text, oom.as_ref().ok());
    let sites = sites(
        req,
        &k,
        running.as_ref().map(|r| r.pid),
        version.map(|v| v.to_string()),
    );
    let fixes = match (&sites, version) {
        (Ok(s), Some(v)) => Ok(crate::fixes::sites::for_keys(
            known,
            v,
            "kamailio -V",
            GroupBy::Site,
            s.rows.iter().take(8).map(|r| bare_key(&r.key)),
        )),
        (Err(_), _) => Err("no sites (see above)".into()),
        (_, None) => Err("the Kamailio version is not known (kamailio -V did not answer)".into()),
    };
    Facts {
        generated: now,
        kmemdbg,
        target: target_text,
        version_text,
        verdict,
        version,
        argv,
        cfg,
        pkg,
        shm,
        pools,
        oom,
        sites,
        fixes,
        fixes_provenance: format!(
            "kamailio/kamailio {} at {}",
            known.mined.branch,
            known.mined.commit.chars().take(12).collect::<String>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg_globals_stop_at_the_routes() {
        let cfg = "#!KAMAILIO\n# comment = x\ndebug=2\nlisten=udp:203.0.113.7:5060\n\
loadmodule \"tm.so\"\nmodparam(\"tm\", \"fr_timer\", 2000)\nrequest_route {\n  x=1;\n}\nchildren=4\n";
        assert_eq!(
            cfg_globals(cfg),
            vec![
                "debug=2",
                "listen=udp:203.0.113.7:5060",
                "loadmodule \"tm.so\"",
                "modparam(\"tm\", \"fr_timer\", 2000)"
            ]
        );
    }

    #[test]
    fn bare_keys() {
        assert_eq!(bare_key("tm: t.c: f(1) [shm status]"), "tm: t.c: f(1)");
        assert_eq!(
            bare_key("usrloc: new_ucontact(96) (shm)"),
            "usrloc: new_ucontact(96)"
        );
    }
}
