//! Writes the gdb script that walks one pool's fragments (pure: text out).
//!
//! The script is plain gdb CLI, so an operator can read it, copy it, and run
//! it without kmemdbg (`gdb -p PID -batch -x walk.gdb`). Every used fragment
//! prints one line in the same words as a `qm_status` dump
//! (`alloc'd from MODULE: FILE: FUNCTION(LINE)`), so `grep | sort | uniq -c`
//! works on it too, and [`super::walk`] reads it back.

use super::layout::Layout;
use crate::cli::{Allocator, PoolArg};

/// What to walk.
#[derive(Debug, Clone)]
pub struct ScriptSpec<'a> {
    pub layout: &'a Layout,
    pub allocator: Allocator,
    pub pool: PoolArg,
    /// First fragment index printed (inclusive).
    pub from: u64,
    /// The walk stops at this index (exclusive): a bound on a damaged pool.
    pub to: u64,
    /// The build has memory debugging: fragments carry file/func/line.
    pub debug_fields: bool,
    /// For the header comment: the version and where it came from.
    pub about: String,
}

/// The first line of a walk's output; [`super::walk::parse`] looks for these markers.
pub const BEGIN: &str = "kmemdbg-walk begin";
pub const END: &str = "kmemdbg-walk end";
pub const FRAG: &str = "kmemdbg-frag";
pub const ERROR: &str = "kmemdbg-walk error:";

/// The pool variable for this allocator and pool.
pub fn pool_variable(layout: &Layout, allocator: Allocator, pool: PoolArg) -> &'static str {
    match (allocator, pool) {
        (Allocator::Qm, PoolArg::Pkg) => layout.qm_pkg,
        (Allocator::Qm, PoolArg::Shm) => layout.qm_shm,
        (Allocator::Fm, PoolArg::Pkg) => layout.fm_pkg,
        (Allocator::Fm, PoolArg::Shm) => layout.fm_shm,
    }
}

/// Renders the script.
pub fn render(spec: &ScriptSpec<'_>) -> String {
    let l = spec.layout;
    let (frag, end_field, next, used, alloc_name, switch) = match spec.allocator {
        Allocator::Qm => (
            "struct qm_frag",
            "last_frag_end",
            "(struct qm_frag *) ((char *) $f + sizeof(struct qm_frag) + $f->size + sizeof(struct qm_frag_end))",
            l.qm_used,
            "qm",
            "q_malloc",
        ),
        Allocator::Fm => (
            "struct fm_frag",
            "last_frag",
            "(struct fm_frag *) ((char *) $f + sizeof(struct fm_frag) + $f->size)",
            l.fm_used,
            "fm",
            "f_malloc",
        ),
    };
    let (pool, pool_name, opt) = match spec.pool {
        PoolArg::Pkg => ("pkg", "private (pkg)", "-X"),
        PoolArg::Shm => ("shm", "shared (shm)", "-x"),
    };
    let var = pool_variable(l, spec.allocator, spec.pool);
    let not_in_use = if l.compile_time_allocator {
        format!("{var} is 0: the pool is not set up yet in this process")
    } else {
        format!(
            "{var} is 0: this process does not run {switch} for {pool} (kamailio {opt} {alloc_name}); try --allocator {}",
            if alloc_name == "qm" { "fm" } else { "qm" }
        )
    };
    let addr = format!("(char *) $f + sizeof({frag})");
    let mut s = String::new();
    s.push_str(&format!(
        "# kmemdbg gdb-script: the used fragments of the {pool_name} pool, {switch}, Kamailio {} layout\n\
         # ({}).\n\
         # {}.\n\
         # Run on a live process: gdb -p PID -batch -x THIS_FILE   (the process pauses meanwhile)\n\
         # or on a core file:     gdb /path/to/kamailio CORE -batch -x THIS_FILE\n\
         # Fragments {} to {} (exclusive); each used one prints a line:\n\
         #   {FRAG} INDEX size=BYTES addr=ADDRESS alloc'd from {}\n",
        l.versions,
        spec.about,
        l.note,
        spec.from,
        spec.to,
        if !spec.debug_fields {
            "? (this build has no memory debugging: no allocation sites)"
        } else if l.has_mname {
            "MODULE: FILE: FUNCTION(LINE)"
        } else {
            "FILE: FUNCTION(LINE)"
        }
    ));
    s.push_str("set pagination off\nset confirm off\nset print elements 400\n");
    s.push_str(&format!("set $blk = {var}\n"));
    s.push_str("if $blk == 0\n");
    s.push_str(&format!("  echo {ERROR} {}\\n\n", gdb_echo(&not_in_use)));
    s.push_str("else\n");
    s.push_str(&format!(
        "  printf \"{BEGIN} pool={pool} allocator={alloc_name} heap=%lu used=%lu real_used=%lu\\n\", $blk->size, $blk->used, $blk->real_used\n"
    ));
    s.push_str(&format!(
        "  set $f = $blk->first_frag\n  set $end = (char *) $blk->{end_field}\n  set $i = 0\n  set $n = 0\n"
    ));
    s.push_str(&format!("  while (char *) $f < $end && $i < {}\n", spec.to));
    s.push_str(&format!("    if $i >= {} && ({used})\n", spec.from));
    s.push_str("      set $n = $n + 1\n");
    if spec.debug_fields {
        let (cond, fmt, args) = if l.has_mname {
            (
                "$f->file != 0 && $f->func != 0 && $f->mname != 0",
                "%s: %s: %s(%lu)",
                "$f->mname, $f->file, $f->func, $f->line",
            )
        } else {
            (
                "$f->file != 0 && $f->func != 0",
                "%s: %s(%lu)",
                "$f->file, $f->func, $f->line",
            )
        };
        s.push_str(&format!("      if {cond}\n"));
        s.push_str(&format!(
            "        printf \"{FRAG} %lu size=%lu addr=%p alloc'd from {fmt}\\n\", $i, $f->size, {addr}, {args}\n"
        ));
        s.push_str("      else\n");
        s.push_str(&format!(
            "        printf \"{FRAG} %lu size=%lu addr=%p alloc'd from ?\\n\", $i, $f->size, {addr}\n"
        ));
        s.push_str("      end\n");
    } else {
        s.push_str(&format!(
            "      printf \"{FRAG} %lu size=%lu addr=%p alloc'd from ?\\n\", $i, $f->size, {addr}\n"
        ));
    }
    s.push_str("    end\n");
    s.push_str(&format!("    set $f = {next}\n"));
    s.push_str("    set $i = $i + 1\n  end\n");
    s.push_str(&format!(
        "  printf \"{END} fragments=%lu used=%lu complete=%d\\n\", $i, $n, (char *) $f >= $end\n"
    ));
    s.push_str("end\n");
    s
}

/// gdb's `echo` takes C escapes; keep the message to one safe line.
fn gdb_echo(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\\' | '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gdb::layout::LAYOUTS;

    fn spec(layout: &Layout, allocator: Allocator, pool: PoolArg) -> ScriptSpec<'_> {
        ScriptSpec {
            layout,
            allocator,
            pool,
            from: 2000,
            to: 10000,
            debug_fields: true,
            about: "test".into(),
        }
    }

    #[test]
    fn modern_qm_pkg() {
        let s = render(&spec(&LAYOUTS[0], Allocator::Qm, PoolArg::Pkg));
        assert!(s.contains("set $blk = _qm_pkg_block\n"), "{s}");
        assert!(s.contains("$blk->last_frag_end"));
        assert!(s.contains("if $i >= 2000 && ($f->u.is_free == 0)"));
        assert!(s.contains("while (char *) $f < $end && $i < 10000"));
        assert!(s.contains("$f->mname, $f->file, $f->func, $f->line"));
        assert!(s.contains("sizeof(struct qm_frag_end)"));
        assert!(s.contains("-X qm"));
    }

    #[test]
    fn old_fm_shm_has_no_mname() {
        let l = LAYOUTS.iter().find(|l| l.versions == "3.0 - 4.1").unwrap();
        let s = render(&spec(l, Allocator::Fm, PoolArg::Shm));
        assert!(s.contains("set $blk = shm_block\n"));
        assert!(s.contains("$blk->last_frag\n"));
        assert!(s.contains("($f->u.nxt_free == 0)"));
        assert!(!s.contains("mname"));
        assert!(s.contains("$f->file, $f->func, $f->line"));
    }

    #[test]
    fn every_row_renders_balanced_blocks() {
        for l in LAYOUTS {
            for a in [Allocator::Qm, Allocator::Fm] {
                for p in [PoolArg::Pkg, PoolArg::Shm] {
                    for debug in [true, false] {
                        let mut sp = spec(l, a, p);
                        sp.debug_fields = debug;
                        let s = render(&sp);
                        let opens = s
                            .lines()
                            .filter(|x| {
                                let t = x.trim_start();
                                t.starts_with("if ") || t.starts_with("while ")
                            })
                            .count();
                        let ends = s.lines().filter(|x| x.trim() == "end").count();
                        assert_eq!(opens, ends, "{s}");
                        assert_eq!(s.contains("$f->file"), debug);
                    }
                }
            }
        }
    }
}
