//! `kmemdbg report`: gathers (see [`crate::bugreport`]), renders the
//! Markdown, writes it through [`crate::fsx`] and says where it is and which
//! sections are empty and why.

use crate::bugreport::{self, markdown};
use crate::cli::ReportArgs;
use crate::service::Target;
use crate::{fsx, ExitStatus};
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::PathBuf;

/// `report --json` schema `kmemdbg.report/1` (fields are only ever added).
#[derive(Serialize)]
struct ReportSummary {
    schema: &'static str,
    out: String,
    bytes: usize,
    redacted: bool,
    sections: Vec<SectionState>,
}

#[derive(Serialize)]
struct SectionState {
    title: &'static str,
    filled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

pub fn run(args: &ReportArgs) -> Result<ExitStatus> {
    let req = bugreport::Request {
        target: Target {
            service: args.target.service.clone(),
            pidfile: args.target.pidfile.clone(),
        },
        ctl: args.ctl.clone(),
        log: args.log.clone(),
        dumps: args.dumps.clone(),
        binary: args.binary.clone(),
    };
    bugreport::check_request(&req)?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = crate::commands::dump::utc_stamp(secs);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("kmemdbg-report-{stamp}.md")));
    if out.is_dir() {
        bail!(
            "{} is a directory: give the report's file name",
            out.display()
        );
    }
    let known = crate::commands::fixes::load_data(None)?;
    let facts = bugreport::gather(&req, &known, stamp, crate::cli::VERSION_LINE.to_string());
    let text = markdown::render(&facts, !args.no_redact);
    fsx::create(&out, text.as_bytes(), 0o640)?;
    let states: Vec<SectionState> = markdown::filled(&facts)
        .into_iter()
        .map(|(title, why)| SectionState {
            title,
            filled: why.is_none(),
            why: why.map(|w| {
                if args.no_redact {
                    w
                } else {
                    bugreport::redact::redact(&w)
                }
            }),
        })
        .collect();
    if args.json {
        crate::commands::print_json(&ReportSummary {
            schema: "kmemdbg.report/1",
            out: out.display().to_string(),
            bytes: text.len(),
            redacted: !args.no_redact,
            sections: states,
        })?;
        return Ok(0);
    }
    println!(
        "wrote {} ({} bytes{})",
        out.display(),
        text.len(),
        if args.no_redact {
            ", NOT masked"
        } else {
            "; addresses, URIs, users and Call-IDs masked"
        }
    );
    for s in &states {
        match &s.why {
            None => println!("  ok     {}", s.title),
            Some(w) => println!("  empty  {}: {w}", s.title),
        }
    }
    Ok(0)
}
