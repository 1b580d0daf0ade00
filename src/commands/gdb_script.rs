//! `kmemdbg gdb-script`: prints the fragment-walking gdb script for the
//! allocator and the Kamailio version of a binary (or one given by hand).

use crate::cli::{Allocator, GdbScriptArgs};
use crate::gdb::layout::{layout_for, Layout};
use crate::gdb::script::{render, render_python, ScriptSpec};
use crate::probe::{BuildInfo, Version};
use crate::ExitStatus;
use anyhow::{bail, Context, Result};

/// The version to write for, and where it came from.
pub fn version_of(
    given: Option<&str>,
    binary: &crate::cli::BinaryArg,
) -> Result<(Version, Option<BuildInfo>, String)> {
    if let Some(v) = given {
        let version = Version::parse(v).with_context(|| {
            format!("--kamailio-version {v:?}: expected X.Y or X.Y.Z, e.g. 4.2 or 5.6.3")
        })?;
        let about = format!("version {version} given with --kamailio-version");
        return Ok((version, None, about));
    }
    let build = super::inspect::probe_binary(binary).context(
        "gdb-script needs the Kamailio version: pass --binary PATH, or --kamailio-version X.Y when the binary is elsewhere",
    )?;
    let about = format!(
        "kamailio {} from {}",
        build.version,
        build
            .binary
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    Ok((build.version.clone(), Some(build), about))
}

/// Does the build record allocation sites for this allocator?
pub fn debug_fields(build: Option<&BuildInfo>, allocator: Allocator) -> bool {
    let Some(b) = build else { return true };
    crate::mem::records_sites(|f| b.has_flag(f), allocator)
}

/// Warnings about a mismatch between the build and the request.
pub fn warnings(build: Option<&BuildInfo>, layout: &Layout, allocator: Allocator) -> Vec<String> {
    let mut w = Vec::new();
    let Some(b) = build else { return w };
    if !debug_fields(Some(b), allocator) {
        w.push(format!(
            "this build has no memory debugging for {} (no DBG_QM_MALLOC / DBG_F_MALLOC / DBG_SR_MEMORY): fragments carry no allocation site, the script lists sizes only (kmemdbg convert makes a debug build)",
            match allocator { Allocator::Qm => "q_malloc", Allocator::Fm => "f_malloc" }
        ));
    }
    if layout.compile_time_allocator {
        let has_fm = b.has_flag("F_MALLOC") || b.has_flag("DBG_F_MALLOC");
        let has_qm = b.has_flag("DBG_QM_MALLOC") || b.has_flag("Q_MALLOC");
        if allocator == Allocator::Qm && has_fm && !has_qm {
            w.push(
                "this build was compiled with F_MALLOC: its pools are f_malloc; use --allocator fm"
                    .into(),
            );
        }
        if allocator == Allocator::Fm && !has_fm {
            w.push("this build was not compiled with F_MALLOC: its pools are q_malloc; use --allocator qm".into());
        }
    }
    w
}

pub fn run(args: &GdbScriptArgs) -> Result<ExitStatus> {
    if args.from >= args.to {
        bail!("--from {} must be below --to {}", args.from, args.to);
    }
    let (version, build, about) = version_of(args.kamailio_version.as_deref(), &args.binary)?;
    let layout = layout_for(&version);
    for w in warnings(build.as_ref(), layout, args.allocator) {
        eprintln!("kmemdbg: warning: {w}");
    }
    let spec = ScriptSpec {
        layout,
        allocator: args.allocator,
        pool: args.pool,
        from: args.from,
        to: args.to,
        debug_fields: debug_fields(build.as_ref(), args.allocator),
        about,
    };
    if args.python {
        print!("{}", render_python(&spec));
    } else {
        print!("{}", render(&spec));
    }
    Ok(0)
}
