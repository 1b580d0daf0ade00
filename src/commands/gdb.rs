//! `kmemdbg gdb`: walks a live process or a core file with gdb and ranks
//! the allocation sites of its pkg or shm pool. The walked fragments are
//! summed and ranked by the dump aggregation (`dump::snapshot_of_fragments`,
//! `dump::group`) and printed with `analyze`'s site table, so `gdb` and
//! `analyze` of a dump of the same pool read the same.

use crate::cli::{Allocator, BinaryArg, GdbArgs, Pool};
use crate::commands::analyze::{render_body, top_groups, Rest};
use crate::dump::{Group, GroupBy};
use crate::gdb::{self, layout::layout_for, ptrace, script, Target};
use crate::ExitStatus;
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::PathBuf;

/// `gdb --json` schema `kmemdbg.gdb/2`:
/// `{ "schema", "target": {"pid": N} | {"core": path}, "binary"?, "version",
///    "layout", "pool", "allocator", "heap": {pool, allocator, size_bytes,
///    used_bytes, real_used_bytes}, "fragments_visited", "used_fragments",
///    "used_bytes", "complete", "debug_fields", "walker": "python"|"cli",
///    "by", "top", "total_count", "total_bytes", "distinct_sites",
///    "fragments_without_site", "bytes_without_site",
///    "groups": [{key, count, bytes, share, sites}], "rest": {groups, count, bytes} }`
/// `groups` and `rest` are `analyze --json`'s `dumps[].groups` / `.rest`
/// (the top `--top` groups by `--by`; all with `--top 0`). Version 1 had
/// `sites: [{site, count, bytes}]` with every site instead.
#[derive(Debug, Serialize)]
pub struct GdbReport {
    pub schema: &'static str,
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<PathBuf>,
    pub version: String,
    pub layout: &'static str,
    pub pool: Pool,
    #[serde(serialize_with = "Allocator::serialize_short")]
    pub allocator: Allocator,
    pub heap: gdb::walk::Heap,
    pub fragments_visited: u64,
    pub used_fragments: u64,
    pub used_bytes: u64,
    pub complete: bool,
    pub debug_fields: bool,
    /// `python` or `cli`: which walker ran.
    pub walker: &'static str,
    pub by: GroupBy,
    pub top: usize,
    /// Fragments and bytes with a site (the rest are `*_without_site`).
    pub total_count: u64,
    pub total_bytes: u64,
    pub distinct_sites: usize,
    pub fragments_without_site: u64,
    pub bytes_without_site: u64,
    pub groups: Vec<Group>,
    pub rest: Rest,
    /// The walk summed as a dump (for the text report; not serialized).
    #[serde(skip)]
    pub snapshot: crate::dump::Snapshot,
}

pub fn run(args: &GdbArgs) -> Result<ExitStatus> {
    let target = match (args.pid, &args.core) {
        (Some(pid), None) => {
            if !crate::procfs::alive(pid) {
                bail!("no process {pid} here (kamcmd core.psx lists the proxy's processes)");
            }
            Target::Pid(pid)
        }
        (None, Some(core)) => {
            if !core.is_file() {
                bail!("{}: no such core file", core.display());
            }
            Target::Core(core.clone())
        }
        _ => bail!("give exactly one of --pid PID or --core FILE"),
    };
    let gdb_bin = gdb::find_gdb()?;
    // The binary: --binary; for a live process the one it runs; else the usual search.
    let exe = match &target {
        Target::Pid(pid) => Some(crate::procfs::exe(*pid)),
        Target::Core(_) => None,
    };
    if let (Some(Err(e)), Target::Pid(pid)) = (&exe, &target) {
        // the kernel hides another user's exe by the same rule that refuses ptrace
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            if let Some(r) = gdb::attach_check(&gdb_bin, *pid, args.timeout)? {
                bail!("{}", ptrace::explain(&r, &ptrace::AttachFacts::read(*pid)));
            }
        }
    }
    let binary_path = match (&args.binary.binary, exe) {
        (Some(b), _) => Some(b.clone()),
        (None, Some(exe)) => exe.ok(),
        (None, None) => None,
    };
    let (version, build, _about) = super::gdb_script::version_of(
        args.kamailio_version.as_deref(),
        &BinaryArg {
            binary: binary_path.clone(),
            probe_timeout: args.binary.probe_timeout,
        },
    )?;
    let binary = build
        .as_ref()
        .and_then(|b| b.binary.clone())
        .or(binary_path);
    let layout = layout_for(&version);
    let bin_text = binary
        .as_ref()
        .map(|b| b.display().to_string())
        .unwrap_or_else(|| "the binary".into());
    let pause_note = matches!(target, Target::Pid(_));
    if pause_note && !args.json {
        eprintln!(
            "kmemdbg: attaching gdb to {}: it is paused while gdb reads its memory (at most {:.0}s)",
            target.describe(),
            args.timeout.as_secs_f64()
        );
    }
    let probe = gdb::probe(&gdb_bin, binary.as_deref(), &target, layout, args.timeout)?;
    if let (Some(r), Target::Pid(pid)) = (&probe.attach_refused, &target) {
        bail!("{}", ptrace::explain(r, &ptrace::AttachFacts::read(*pid)));
    }
    if !probe.has_symbols {
        bail!("{}", gdb::no_symbols_help(&bin_text));
    }
    let allocator = gdb::choose_allocator(&probe, layout, args.pool, args.allocator)?;
    let debug_fields = match allocator {
        Allocator::Qm => probe.qm_debug_fields,
        Allocator::Fm => probe.fm_debug_fields,
    };
    let spec = script::ScriptSpec {
        layout,
        allocator,
        pool: args.pool,
        from: 0,
        to: 1 << 40,
        debug_fields,
        about: format!("kamailio {version}, run by kmemdbg gdb"),
    };
    // gdb's Python reads a fragment in one go; its CLI needs a dozen
    // interpreted commands per fragment (same output, ~100x slower).
    let python = probe.python && !args.cli_script;
    let text = if python {
        script::render_python(&spec)
    } else {
        script::render(&spec)
    };
    let walk = gdb::walk(
        &gdb_bin,
        binary.as_deref(),
        &target,
        &text,
        python,
        args.timeout,
    )?;
    if let Some(e) = &walk.error {
        bail!("{e}");
    }
    let heap = walk.heap.clone().unwrap_or_default();
    let pid = match &target {
        Target::Pid(p) => Some(*p),
        Target::Core(_) => None,
    };
    let snapshot = walk.snapshot(pid);
    let by = args.by;
    let (groups, rest) = top_groups(&snapshot, by, args.top);
    let used_bytes: u64 = walk.fragments.iter().map(|f| f.size_bytes).sum();
    let report = GdbReport {
        schema: "kmemdbg.gdb/2",
        target,
        binary,
        version: version.to_string(),
        layout: layout.versions,
        pool: args.pool,
        allocator,
        heap,
        fragments_visited: walk.visited.unwrap_or(0),
        used_fragments: walk.fragments.len() as u64,
        used_bytes,
        complete: walk.complete,
        debug_fields,
        walker: if python { "python" } else { "cli" },
        by,
        top: args.top,
        total_count: snapshot.total_count,
        total_bytes: snapshot.total_bytes,
        distinct_sites: snapshot.sites.len(),
        fragments_without_site: snapshot.fragments_without_site,
        bytes_without_site: snapshot.bytes_without_site,
        groups,
        rest,
        snapshot,
    };
    if args.json {
        crate::commands::print_json(&report)?;
    } else {
        print!("{}", render_text(&report));
    }
    Ok(0)
}

/// The human report: what was walked, then `analyze`'s heap line and site table.
pub fn render_text(r: &GdbReport) -> String {
    let mut s = format!(
        "{} (kamailio {}, {} layout), {} pool, {}: {} used fragments of {} walked{}\n",
        r.target.describe(),
        r.version,
        r.layout,
        r.pool.as_str(),
        r.allocator.name(),
        r.used_fragments,
        r.fragments_visited,
        if r.complete {
            ""
        } else {
            " (walk stopped before the pool's end)"
        }
    );
    if !r.debug_fields {
        s.push_str("   this build has no memory debugging: fragments carry no allocation site (kmemdbg convert)\n");
    }
    render_body(&mut s, &r.snapshot, r.by, r.top);
    s
}
