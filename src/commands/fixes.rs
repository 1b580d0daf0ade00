//! `kmemdbg fixes`: the known leak fixes after a version, for a module, file
//! or allocation site. The lookup is [`crate::fixes`]; this file reads the
//! arguments, prints text or JSON, and gives `diff`/`analyze` their one
//! "known fixes" line ([`site_line`]).

use crate::cli::FixesArgs;
use crate::fixes::{self, Found, KnownFixes, Query, Release, Strength};
use crate::ExitStatus;
use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use std::fmt::Write as _;

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

/// The "known fixes" line `diff` and `analyze` print under a growing site:
/// fixes of the same function or file after `v`, or a plain statement
/// that none is known.
pub fn site_line(k: &KnownFixes, v: Release, site: &str) -> String {
    let q = Query::new(None, Some(site));
    let found = fixes::lookup(k, v, &q);
    let close: Vec<&Found> = found
        .iter()
        .filter(|f| matches!(f.strength, Strength::Function | Strength::File))
        .collect();
    let in_module = found.len() - close.len();
    let Some(first) = close.first() else {
        let mut s = format!("known fixes after {v}: none for this function or file");
        if in_module > 0 {
            let _ = write!(
                s,
                " ({in_module} elsewhere in the module: kmemdbg fixes --version {v} --site '{}')",
                site.trim()
            );
        }
        return s;
    };
    let mut s = format!(
        "known fixes after {v}: {} [{}, {}]: {}",
        first.advice.sentence(),
        first.strength.as_str(),
        first.fix.id,
        first.fix.subject
    );
    if close.len() + in_module > 1 {
        let _ = write!(
            s,
            "; {} more: kmemdbg fixes --version {v} --site '{}'",
            close.len() + in_module - 1,
            site.trim()
        );
    }
    s
}
