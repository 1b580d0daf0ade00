//! Walking Kamailio's memory pools with gdb, for when no dump can be had: a
//! crashed process (core file) or a live process whose logs are out of reach.
//!
//! [`layout`] holds, per generation, the pool variables and free marks;
//! [`script`] writes the walking script (the same text `kmemdbg gdb-script`
//! prints); [`walk`] reads its output back and hands the fragments to the
//! dump aggregation ([`crate::dump::snapshot_of_fragments`]), which ranks
//! the sites exactly as `analyze` ranks a dump's; [`ptrace`] explains an
//! attach the kernel refused.
//! This module runs gdb only through [`crate::runner`], always in batch
//! mode with a time bound, and only reads the target: the scripts never
//! write memory or call functions in it. After a timeout on a live process
//! it sends SIGCONT so the process is never left stopped.

pub mod layout;
pub mod ptrace;
pub mod script;
pub mod walk;

use crate::mem::{Allocator, Pool};
use crate::runner;
use anyhow::{bail, Context, Result};
use layout::Layout;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What gdb looks at.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A running process (gdb attaches with ptrace; the process pauses).
    Pid(u32),
    /// A core file, read with the binary that produced it.
    Core(PathBuf),
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Pid(p) => format!("process {p}"),
            Target::Core(c) => format!("core file {}", c.display()),
        }
    }
}

/// What a first, cheap gdb run found out about the target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Probe {
    /// gdb found debug information (struct types are known).
    pub has_symbols: bool,
    /// `struct qm_frag` / `struct fm_frag` carry file/func/line.
    pub qm_debug_fields: bool,
    pub fm_debug_fields: bool,
    /// Pool variable -> its value (0 = not in use); absent when gdb has no such symbol.
    pub pools: BTreeMap<String, u64>,
    /// For compile-time allocators (before 4.4): the type of `mem_block`.
    pub mem_block_type: Option<String>,
    /// gdb can run Python (the fast walker).
    pub python: bool,
    /// gdb's complaints, for messages (first few lines).
    pub gdb_errors: Vec<String>,
    /// The kernel refused the attach (live targets).
    pub attach_refused: Option<ptrace::Refusal>,
}

/// Finds gdb.
pub fn find_gdb() -> Result<PathBuf> {
    runner::find_program("gdb")
        .context("gdb not found in PATH: install it (Debian: apt-get install gdb)")
}

fn base_args(binary: Option<&Path>, target: &Target) -> Vec<String> {
    let mut a: Vec<String> = vec!["-nx".into(), "-batch".into()];
    match target {
        Target::Pid(pid) => {
            if let Some(b) = binary {
                a.push(b.display().to_string());
            }
            a.push("-p".into());
            a.push(pid.to_string());
        }
        Target::Core(core) => {
            if let Some(b) = binary {
                a.push(b.display().to_string());
            }
            a.push(core.display().to_string());
        }
    }
    a
}

/// Runs gdb with `args`; on a timeout of a live target, resumes the process.
fn run_gdb(
    gdb: &Path,
    args: &[String],
    target: &Target,
    timeout: Duration,
) -> Result<runner::Output> {
    let sh = runner::shell()?;
    let result = runner::run(xshell::cmd!(sh, "{gdb} {args...}"), timeout);
    if let (Err(e), Target::Pid(pid)) = (&result, target) {
        if e.downcast_ref::<runner::TimedOut>().is_some() {
            let pid = pid.to_string();
            let _ = runner::run(xshell::cmd!(sh, "kill -CONT {pid}"), Duration::from_secs(5));
        }
    }
    result
}

const MARK: &str = "kmemdbg-probe";

/// Asks gdb (one batch run, `-ex` commands that do not stop at an error)
/// which types and pool variables the target has.
pub fn probe(
    gdb: &Path,
    binary: Option<&Path>,
    target: &Target,
    layout: &Layout,
    timeout: Duration,
) -> Result<Probe> {
    let mut args = base_args(binary, target);
    let mut ex = |cmd: String| {
        args.push("-ex".into());
        args.push(cmd);
    };
    ex("set pagination off".into());
    for ty in ["qm_frag", "fm_frag"] {
        ex(format!("echo {MARK} type {ty}\\n"));
        ex(format!("ptype struct {ty}"));
    }
    let mut vars: Vec<&str> = vec![layout.qm_pkg, layout.fm_pkg, layout.qm_shm, layout.fm_shm];
    vars.dedup();
    vars.sort();
    vars.dedup();
    for v in &vars {
        ex(format!("echo {MARK} var {v}\\n"));
        ex(format!("print (unsigned long) {v}"));
    }
    if layout.compile_time_allocator {
        ex(format!("echo {MARK} mem_block_type\\n"));
        ex("whatis mem_block".into());
    }
    ex(format!("python print('{MARK} python')"));
    ex(format!("echo {MARK} done\\n"));
    let out = run_gdb(gdb, &args, target, timeout)?;
    let text = format!("{}\n{}", out.stdout_text(), out.stderr_text());
    let p = parse_probe(&text);
    if p.attach_refused.is_some() {
        return Ok(p);
    }
    if !text.contains(&format!("{MARK} done")) {
        bail!(
            "gdb did not get through its first look at the {}:\n{}",
            target.describe(),
            out.tail(10)
        );
    }
    Ok(p)
}

/// Reads the probe run's output (pure). gdb writes results to stdout and
/// errors to stderr; both are passed in, stdout first, so errors are matched
/// by content rather than position.
pub fn parse_probe(text: &str) -> Probe {
    let mut p = Probe::default();
    let mut section: Option<String> = None;
    let mut body = String::new();
    let finish = |section: &Option<String>, body: &str, p: &mut Probe| {
        let Some(sec) = section else { return };
        if let Some(ty) = sec.strip_prefix("type ") {
            if body.contains("type = struct") {
                p.has_symbols = true;
                let dbg = body.contains("*file;") && body.contains("*func;");
                match ty {
                    "qm_frag" => p.qm_debug_fields = dbg,
                    "fm_frag" => p.fm_debug_fields = dbg,
                    _ => {}
                }
            }
        } else if let Some(var) = sec.strip_prefix("var ") {
            if let Some(v) = body
                .lines()
                .find_map(|l| l.trim().strip_prefix('$')?.split_once(" = ").map(|x| x.1))
                .and_then(|v| v.trim().parse().ok())
            {
                p.pools.insert(var.to_string(), v);
            }
        } else if sec == "python" {
            p.python = true;
        } else if sec == "mem_block_type" {
            p.mem_block_type = body
                .lines()
                .find_map(|l| l.trim().strip_prefix("type = "))
                .map(str::to_string);
        }
    };
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix(MARK) {
            finish(&section, &body, &mut p);
            section = Some(rest.trim().to_string());
            body.clear();
        } else {
            body.push_str(line);
            body.push('\n');
            let l = line.trim();
            if (l.starts_with("No symbol")
                || l.starts_with("No struct")
                || l.contains("ptrace:")
                || l.contains("Cannot access memory")
                || l.contains("not in executable format"))
                && p.gdb_errors.len() < 6
                && !p.gdb_errors.iter().any(|e| e == l)
            {
                p.gdb_errors.push(l.to_string());
            }
        }
    }
    finish(&section, &body, &mut p);
    p.attach_refused = ptrace::refusal(text);
    p
}

/// Attaches to `pid` and detaches at once (no script): whether the kernel
/// lets gdb in, before anything else is asked of the process.
pub fn attach_check(gdb: &Path, pid: u32, timeout: Duration) -> Result<Option<ptrace::Refusal>> {
    let target = Target::Pid(pid);
    let mut args = base_args(None, &target);
    args.push("-ex".into());
    args.push(format!("echo {MARK} done\\n"));
    let out = run_gdb(gdb, &args, &target, timeout)?;
    Ok(ptrace::refusal(&format!(
        "{}\n{}",
        out.stdout_text(),
        out.stderr_text()
    )))
}

/// Picks the allocator to walk: the one asked for, or the one whose pool
/// variable is set in this process. Explains what is missing otherwise.
pub fn choose_allocator(
    probe: &Probe,
    layout: &Layout,
    pool: Pool,
    requested: Option<Allocator>,
) -> Result<Allocator> {
    if layout.compile_time_allocator {
        let ty = probe.mem_block_type.as_deref().unwrap_or("");
        let found = if ty.contains("qm_block") {
            Some(Allocator::Qm)
        } else if ty.contains("fm_block") {
            Some(Allocator::Fm)
        } else {
            None
        };
        return match (requested, found) {
            (Some(r), Some(f)) if r != f => bail!(
                "this build uses {} (mem_block is `{ty}`), not {}: drop --allocator or pass --allocator {}",
                name(f),
                name(r),
                short(f)
            ),
            (_, Some(f)) => Ok(f),
            (Some(r), None) => Ok(r),
            (None, None) => bail!(
                "cannot tell the allocator: mem_block has type `{ty}` (only q_malloc and f_malloc carry allocation sites); pass --allocator qm|fm"
            ),
        };
    }
    let var = |a: Allocator| script::pool_variable(layout, a, pool);
    let set = |a: Allocator| probe.pools.get(var(a)).copied().unwrap_or(0) != 0;
    match requested {
        Some(a) => Ok(a),
        None if set(Allocator::Qm) => Ok(Allocator::Qm),
        None if set(Allocator::Fm) => Ok(Allocator::Fm),
        None => {
            let which = match pool {
                Pool::Pkg => "-X",
                Pool::Shm => "-x",
            };
            bail!(
                "neither {} nor {} is set in this process: it runs another allocator for {} (tlsf? see kamailio {which}); only q_malloc (-x qm) and f_malloc (-x fm) pools can be walked",
                var(Allocator::Qm),
                var(Allocator::Fm),
                match pool {
                    Pool::Pkg => "pkg",
                    Pool::Shm => "shm",
                }
            )
        }
    }
}

fn name(a: Allocator) -> &'static str {
    match a {
        Allocator::Qm => "q_malloc",
        Allocator::Fm => "f_malloc",
    }
}
fn short(a: Allocator) -> &'static str {
    match a {
        Allocator::Qm => "qm",
        Allocator::Fm => "fm",
    }
}

/// Why gdb cannot walk a binary without symbols, and what to do.
pub fn no_symbols_help(binary: &str) -> String {
    format!(
        "{binary} has no debug symbols, so gdb cannot find the memory pools or read a fragment \
         (it knows neither `struct qm_frag` nor the pool variables). Debian's kamailio package is \
         stripped, and its kamailio-dbgsym package lives in the separate debian-debug archive \
         (suite bookworm-debug), which is not among apt's sources by default. Either: run a source \
         build (it keeps -g; see kmemdbg build) with memory debugging, or add the debug archive and \
         install kamailio-dbgsym of exactly this version; or use memory dumps instead (kmemdbg dump)."
    )
}

/// Runs the walking script on the target and reads its output; `python`
/// says the script is [`script::render_python`]'s.
pub fn walk(
    gdb: &Path,
    binary: Option<&Path>,
    target: &Target,
    script_text: &str,
    python: bool,
    timeout: Duration,
) -> Result<walk::Walk> {
    let dir = tempfile::tempdir().context("cannot create a temp dir for the gdb script")?;
    let file = dir.path().join(if python { "walk.py" } else { "walk.gdb" });
    crate::fsx::create(&file, script_text.as_bytes(), 0o600)?;
    let mut args = base_args(binary, target);
    args.push("-x".into());
    args.push(file.display().to_string());
    let out = run_gdb(gdb, &args, target, timeout).with_context(|| {
        format!(
            "the walk did not finish; a damaged or huge pool can make it long: bound it \
             (kmemdbg gdb-script --to N) or raise --timeout{}",
            match target {
                Target::Pid(p) =>
                    format!("; process {p} was sent SIGCONT so it is not left paused"),
                Target::Core(_) => String::new(),
            }
        )
    })?;
    let w = walk::parse(&out.stdout_text());
    if w.heap.is_none() && w.error.is_none() {
        bail!(
            "gdb ran but the walking script printed nothing it expected:\n{}",
            out.tail(10)
        );
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gdb 13.1 attached to Debian's stripped 5.6.3 here (stdout, then stderr).
    const STRIPPED: &str = "[Thread debugging using libthread_db enabled]\n\
0x00007f15369dbdd0 in __libc_pause () at ../sysdeps/unix/sysv/linux/pause.c:29\n\
kmemdbg-probe type qm_frag\nkmemdbg-probe var _qm_pkg_block\nkmemdbg-probe done\n\
[Inferior 1 (process 14032) detached]\n\
29\t../sysdeps/unix/sysv/linux/pause.c: No such file or directory.\n\
No struct type named qm_frag.\n\
No symbol \"_qm_pkg_block\" in current context.\n";

    #[test]
    fn stripped_binary_has_no_symbols() {
        let p = parse_probe(STRIPPED);
        assert!(!p.has_symbols && !p.python);
        assert!(p.pools.is_empty());
        assert!(p.gdb_errors.iter().any(|e| e.contains("No struct type")));
    }

    #[test]
    fn debug_build_probe() {
        // gdb 13.1 attached to a receiver of the -g source build of 5.6.3 here.
        let text = "kmemdbg-probe type qm_frag\ntype = struct qm_frag {\n    unsigned long size;\n    union {\n        struct qm_frag *nxt_free;\n        long is_free;\n    } u;\n    const char *file;\n    const char *func;\n    const char *mname;\n    unsigned long line;\n    unsigned long check;\n}\n\
kmemdbg-probe type fm_frag\ntype = struct fm_frag {\n    unsigned long size;\n    struct fm_frag *next_free;\n    struct fm_frag *prev_free;\n    unsigned int is_free;\n    const char *file;\n    const char *func;\n    const char *mname;\n    unsigned long line;\n    unsigned int check;\n}\n\
kmemdbg-probe var _fm_pkg_block\n$1 = 0\nkmemdbg-probe var _qm_pkg_block\n$2 = 140644103553040\nkmemdbg-probe python\nkmemdbg-probe done\n";
        let p = parse_probe(text);
        assert!(p.has_symbols && p.qm_debug_fields && p.fm_debug_fields && p.python);
        assert_eq!(p.pools["_qm_pkg_block"], 140644103553040);
        assert_eq!(p.pools["_fm_pkg_block"], 0);
        let l = &layout::LAYOUTS[0];
        assert_eq!(
            choose_allocator(&p, l, Pool::Pkg, None).unwrap(),
            Allocator::Qm
        );
        let err = choose_allocator(&p, l, Pool::Shm, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("_qm_shm_block"), "{err}");
    }

    #[test]
    fn compile_time_allocator_from_mem_block_type() {
        let p = Probe {
            mem_block_type: Some("struct fm_block *".into()),
            ..Probe::default()
        };
        let l = layout::LAYOUTS
            .iter()
            .find(|l| l.compile_time_allocator)
            .unwrap();
        assert_eq!(
            choose_allocator(&p, l, Pool::Pkg, None).unwrap(),
            Allocator::Fm
        );
        let err = choose_allocator(&p, l, Pool::Pkg, Some(Allocator::Qm))
            .unwrap_err()
            .to_string();
        assert!(err.contains("uses f_malloc"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn probe_parser_never_panics(s in "(kmemdbg-probe (type|var|done|mem_block_type) ?[a-z_]*|\\$[0-9] = [0-9a-z]*|type = struct [a-z_]* \\{|No symbol|\\*file;|\\n){0,30}") {
            let _ = parse_probe(&s);
        }
    }
}
