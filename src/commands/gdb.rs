//! `kmemdbg gdb`: walks a live process or a core file with gdb and ranks
//! the allocation sites of its pkg or shm pool.

use crate::cli::{Allocator, BinaryArg, GdbArgs, PoolArg};
use crate::gdb::{self, layout::layout_for, script, sites, Target};
use crate::units::human_bytes;
use crate::ExitStatus;
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::PathBuf;

/// `gdb --json` schema `kmemdbg.gdb/1`:
/// `{ "schema", "target": {"pid": N} | {"core": path}, "binary"?, "version",
///    "layout", "pool", "allocator", "heap": {pool, allocator, size_bytes,
///    used_bytes, real_used_bytes}, "fragments_visited", "used_fragments",
///    "used_bytes", "complete", "debug_fields", "walker": "python"|"cli",
///    "sites": [{site, count, bytes}] }`
/// (`sites` holds every site; `--top` only limits the text output).
#[derive(Debug, Serialize)]
pub struct GdbReport {
    pub schema: &'static str,
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<PathBuf>,
    pub version: String,
    pub layout: &'static str,
    pub pool: PoolArg,
    pub allocator: Allocator,
    pub heap: gdb::walk::Heap,
    pub fragments_visited: u64,
    pub used_fragments: u64,
    pub used_bytes: u64,
    pub complete: bool,
    pub debug_fields: bool,
    /// `python` or `cli`: which walker ran.
    pub walker: &'static str,
    pub sites: Vec<sites::SiteTotal>,
}

pub fn run(args: &GdbArgs) -> Result<ExitStatus> {
    let target = match (args.pid, &args.core) {
        (Some(pid), None) => {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
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
    let binary_path = match (&args.binary.binary, &target) {
        (Some(b), _) => Some(b.clone()),
        (None, Target::Pid(pid)) => std::fs::read_link(format!("/proc/{pid}/exe")).ok(),
        (None, Target::Core(_)) => None,
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
    if let Some(e) = probe.gdb_errors.iter().find(|e| e.contains("ptrace:")) {
        bail!(
            "gdb cannot attach to {}: {e}\n  (needs root or the same user, and ptrace allowed: /proc/sys/kernel/yama/ptrace_scope 0 or 1; in a container, CAP_SYS_PTRACE)",
            target.describe()
        );
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
    let ranked = sites::rank(&walk.fragments);
    let used_bytes: u64 = walk.fragments.iter().map(|f| f.size_bytes).sum();
    let report = GdbReport {
        schema: "kmemdbg.gdb/1",
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
        sites: ranked,
    };
    if args.json {
        crate::commands::print_json(&report)?;
    } else {
        print!("{}", render_text(&report, args.top));
    }
    Ok(0)
}

/// The human report: the pool, then the top sites.
pub fn render_text(r: &GdbReport, top: usize) -> String {
    let mut s = format!(
        "{} (kamailio {}, {} layout), {} pool, {}:\n  heap {}, used {} (with overhead {}); {} used fragments of {} walked{}\n",
        r.target.describe(),
        r.version,
        r.layout,
        match r.pool {
            PoolArg::Pkg => "pkg",
            PoolArg::Shm => "shm",
        },
        match r.allocator {
            Allocator::Qm => "q_malloc",
            Allocator::Fm => "f_malloc",
        },
        human_bytes(r.heap.size_bytes as f64),
        human_bytes(r.heap.used_bytes as f64),
        human_bytes(r.heap.real_used_bytes as f64),
        r.used_fragments,
        r.fragments_visited,
        if r.complete { "" } else { " (walk stopped before the pool's end)" }
    );
    if !r.debug_fields {
        s.push_str("  this build has no memory debugging: fragments carry no allocation site (kmemdbg convert)\n");
    }
    s.push_str(&format!(
        "\n  {:>12} {:>8} {:>6}  site\n",
        "bytes", "count", "share"
    ));
    let total = r.used_bytes.max(1) as f64;
    for site in r.sites.iter().take(top) {
        s.push_str(&format!(
            "  {:>12} {:>8} {:>5.1}%  {}\n",
            site.bytes,
            site.count,
            site.bytes as f64 * 100.0 / total,
            site.site
        ));
    }
    if r.sites.len() > top {
        s.push_str(&format!(
            "  ... {} more sites (--top N, or --json for all)\n",
            r.sites.len() - top
        ));
    }
    s
}
