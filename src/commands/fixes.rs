//! `kmemdbg fixes`: the known leak fixes after a version, for a module, file
//! or allocation site. The lookup is [`crate::fixes`]; this file reads the
//! arguments, prints text or JSON, and gives `diff`/`analyze` their one
//! "known fixes" line ([`site_line`]).

use crate::cli::FixesArgs;
use crate::dump::GroupBy;
pub use crate::fixes::sites::KnownReport;
use crate::fixes::{self, Found, KnownFixes, Query, Release, Strength};
use crate::ExitStatus;
use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `fixes --json` schema `kmemdbg.fixes/1` (fields are only ever added).
#[derive(Serialize)]
pub struct FixesReport<'a> {
    pub schema: &'static str,
    pub version: Release,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<&'a str>,
    /// Where the data comes from: kamailio/kamailio at this commit.
    pub mined: &'a fixes::Mined,
    /// Whether the version is a release the data knows.
    pub known_release: bool,
    pub notes: Vec<String>,
    pub fixes: Vec<Found>,
}

/// `5.6.3` or an error that says what a version looks like.
pub fn parse_version(text: &str) -> Result<Release> {
    Release::parse(text).ok_or_else(|| {
        anyhow!("bad Kamailio version {text:?}: give X.Y.Z as `kamailio -V` prints it (e.g. 5.6.3)")
    })
}

/// The built-in data, or `path` when given.
pub fn load_data(path: Option<&std::path::Path>) -> Result<KnownFixes> {
    match path {
        None => fixes::builtin().context("the built-in known fixes do not read"),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            fixes::parse_data(&text).with_context(|| format!("in {}", p.display()))
        }
    }
}

/// `kamailio/kamailio master at 38711a3e7884, 2026-08-21`.
pub fn provenance(k: &KnownFixes) -> String {
    let commit: String = k.mined.commit.chars().take(12).collect();
    let date: String = k.mined.date.chars().take(10).collect();
    format!("kamailio/kamailio {} at {commit}, {date}", k.mined.branch)
}

/// Notes about the version itself (unknown release, newer than the data).
pub fn version_notes(k: &KnownFixes, v: Release) -> Vec<String> {
    let mut notes = Vec::new();
    match k.newest() {
        Some(newest) if v > newest => notes.push(format!(
            "{v} is newer than every release in the data (newest {newest}, mined from {}): fixes made after that are not known",
            provenance(k)
        )),
        _ if !k.knows(v) => notes.push(format!(
            "{v} is not a Kamailio release the data knows; fixes are placed by its branch {}.{}",
            v.major, v.minor
        )),
        _ => {}
    }
    notes
}

pub fn run(args: &FixesArgs) -> Result<ExitStatus> {
    let v = parse_version(&args.version)?;
    if let Some(m) = &args.module {
        if m.trim().is_empty() || m.contains(char::is_whitespace) {
            return Err(anyhow!(
                "bad module {m:?}: give one module name as a dump prints it (tm, dialog, core)"
            ));
        }
    }
    if args.site.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return Err(anyhow!(
            "empty --site: give a site as a dump prints it (`tm: t_hooks.c: init_tmcb_lists(71)`), a function or a file"
        ));
    }
    let k = load_data(args.data.as_deref())?;
    let q = Query::new(args.module.as_deref(), args.site.as_deref());
    let found = fixes::lookup(&k, v, &q);
    let notes = version_notes(&k, v);
    if args.json {
        crate::commands::print_json(&FixesReport {
            schema: "kmemdbg.fixes/1",
            version: v,
            module: args.module.as_deref(),
            site: args.site.as_deref(),
            mined: &k.mined,
            known_release: k.knows(v),
            notes,
            fixes: found,
        })?;
        return Ok(0);
    }
    let what = match (&args.site, &args.module) {
        (Some(s), _) => format!(" touching {}", s.trim()),
        (None, Some(m)) => format!(" in {}", m.trim()),
        (None, None) => String::new(),
    };
    let mut o = String::new();
    for n in &notes {
        let _ = writeln!(o, "note: {n}");
    }
    if found.is_empty() {
        let _ = writeln!(
            o,
            "No known leak fix after Kamailio {v}{what} (data mined from {}).",
            provenance(&k)
        );
        print!("{o}");
        return Ok(0);
    }
    let _ = writeln!(
        o,
        "Known leak fixes after Kamailio {v}{what}: {} (data mined from {})",
        found.len(),
        provenance(&k)
    );
    for (i, f) in found.iter().enumerate() {
        render_found(&mut o, i + 1, f);
    }
    print!("{o}");
    Ok(0)
}

fn render_found(o: &mut String, n: usize, f: &Found) {
    let _ = write!(o, "\n{n:>3}. {}", f.fix.subject);
    if f.strength != Strength::Any {
        let _ = write!(o, "  [{}]", f.strength.as_str());
    }
    let _ = writeln!(o, "\n     {}", f.advice.sentence());
    let others: Vec<&str> = f
        .fix
        .commits
        .iter()
        .map(String::as_str)
        .filter(|c| *c != f.fix.id)
        .collect();
    let _ = write!(o, "     commit {}", f.fix.id);
    if !others.is_empty() {
        let _ = write!(o, " (backports {})", others.join(", "));
    }
    o.push('\n');
    let files: Vec<&str> = f.fix.files.iter().take(4).map(String::as_str).collect();
    let _ = write!(o, "     changes {}", files.join(", "));
    if f.fix.files.len() > 4 {
        let _ = write!(o, " and {} more", f.fix.files.len() - 4);
    }
    if !f.fix.functions.is_empty() {
        let funcs: Vec<&str> = f.fix.functions.iter().take(6).map(String::as_str).collect();
        let _ = write!(o, ": {}", funcs.join(", "));
        if f.fix.functions.len() > 6 {
            let _ = write!(o, " and {} more", f.fix.functions.len() - 6);
        }
    }
    o.push('\n');
}

/// The version `diff`/`analyze` use for known fixes, and where it came from.
pub struct Known {
    pub version: Release,
    /// `--kamailio-version`, or `the header of FILE`.
    pub source: String,
    pub data: KnownFixes,
}

/// `--kamailio-version` when given (a bad one is an error), else the
/// version in the header of the newest file kmemdbg wrote (never guessed
/// from this box: a log from elsewhere has no header and gives `None`).
pub fn known_for(arg: Option<&str>, files: &[PathBuf]) -> Result<Option<Known>> {
    let found = match arg {
        Some(a) => Some((parse_version(a)?, "--kamailio-version".to_string())),
        None => files.iter().rev().find_map(|f| {
            let head = read_head(f)?;
            let v = fixes::version_in_header(&head)?;
            Some((v, format!("the header of {}", f.display())))
        }),
    };
    let Some((version, source)) = found else {
        return Ok(None);
    };
    Ok(Some(Known {
        version,
        source,
        data: load_data(None)?,
    }))
}

/// The first 8 KiB of a file (where kmemdbg writes its header); `None` for stdin or unreadable.
fn read_head(path: &Path) -> Option<String> {
    use std::io::Read as _;
    if path.as_os_str() == "-" {
        return None;
    }
    let mut buf = vec![0u8; 8192];
    let mut f = std::fs::File::open(path).ok()?;
    let n = f.read(&mut buf).ok()?;
    buf.truncate(n);
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The known fixes of `keys` (deduplicated, in order), for `diff`/`analyze`.
pub fn for_keys<'a>(
    known: &Known,
    by: GroupBy,
    keys: impl IntoIterator<Item = &'a str>,
) -> KnownReport {
    fixes::sites::for_keys(&known.data, known.version, &known.source, by, keys)
}

/// The text block under `diff`/`analyze`: each site and its line.
pub fn render_known(o: &mut String, r: &KnownReport, k: &KnownFixes) {
    let _ = writeln!(
        o,
        "
known leak fixes for Kamailio {} (version from {}; data mined from {}):",
        r.version,
        r.source,
        provenance(k)
    );
    for s in &r.sites {
        let _ = writeln!(
            o,
            "   {}
     {}",
            s.key, s.line
        );
    }
}
