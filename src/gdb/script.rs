//! Writes the gdb script that walks one pool's fragments (pure: text out).
//!
//! The script is plain gdb CLI, so an operator can read it, copy it, and run
//! it without kmemdbg (`gdb -p PID -batch -x walk.gdb`). Every used fragment
//! prints one line in the same words as a `qm_status` dump
//! (`alloc'd from MODULE: FILE: FUNCTION(LINE)`), so `grep | sort | uniq -c`
//! works on it too, and [`super::walk`] reads it back.

use super::layout::Layout;
use crate::mem::{Allocator, Pool};

/// What to walk.
#[derive(Debug, Clone)]
pub struct ScriptSpec<'a> {
    pub layout: &'a Layout,
    pub allocator: Allocator,
    pub pool: Pool,
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
pub fn pool_variable(layout: &Layout, allocator: Allocator, pool: Pool) -> &'static str {
    match (allocator, pool) {
        (Allocator::Qm, Pool::Pkg) => layout.qm_pkg,
        (Allocator::Qm, Pool::Shm) => layout.qm_shm,
        (Allocator::Fm, Pool::Pkg) => layout.fm_pkg,
        (Allocator::Fm, Pool::Shm) => layout.fm_shm,
    }
}

/// Renders the script.
///
/// gdb looks a struct type up again at every `sizeof(struct ...)` or
/// `(struct ... *)` cast it evaluates: about 15 ms each on a -g build, which
/// makes a naive walk of a few thousand fragments take minutes. So the
/// script takes every size and field offset once, before the loop, and
/// walks with a `char *` and plain `long` reads (the same fields, read by
/// offset).
pub fn render(spec: &ScriptSpec<'_>) -> String {
    let l = spec.layout;
    let (frag, end_field, tail_size, free_mark, alloc_name, switch) = match spec.allocator {
        Allocator::Qm => (
            "struct qm_frag",
            "last_frag_end",
            "sizeof(struct qm_frag_end)",
            l.qm_free_mark,
            "qm",
            "q_malloc",
        ),
        Allocator::Fm => (
            "struct fm_frag",
            "last_frag",
            "0",
            l.fm_free_mark,
            "fm",
            "f_malloc",
        ),
    };
    let (pool, pool_name, opt) = match spec.pool {
        Pool::Pkg => ("pkg", "private (pkg)", "-X"),
        Pool::Shm => ("shm", "shared (shm)", "-x"),
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
    let offset = |field: &str| format!("(unsigned long) &(({frag} *) 0)->{field}");
    let mut s = String::new();
    s.push_str(&format!(
        "# kmemdbg gdb-script: the used fragments of the {pool_name} pool, {switch}, Kamailio {} layout\n\
         # ({}).\n\
         # {}.\n\
         # Run on a live process: gdb -p PID -batch -x THIS_FILE   (the process pauses meanwhile)\n\
         # or on a core file:     gdb /path/to/kamailio CORE -batch -x THIS_FILE\n\
         # Fragments {} to {} (exclusive); each used one prints a line:\n\
         #   {FRAG} INDEX size=BYTES addr=ADDRESS alloc'd from {}\n\
         # A fragment is used when its `{free_mark}` is 0; the next one starts at\n\
         # fragment + sizeof({frag}) + size{}.\n",
        l.versions,
        spec.about,
        l.note,
        spec.from,
        spec.to,
        if spec.debug_fields {
            "MODULE: FILE: FUNCTION(LINE)   (as qm_status prints it)"
        } else {
            "? (this build has no memory debugging: no allocation sites)"
        },
        if spec.allocator == Allocator::Qm {
            " + sizeof(struct qm_frag_end)"
        } else {
            ""
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
    s.push_str("  # sizes and field offsets, looked up once (slow in gdb)\n");
    s.push_str(&format!("  set $head = sizeof({frag})\n"));
    s.push_str(&format!("  set $tail = {tail_size}\n"));
    s.push_str(&format!("  set $o_size = {}\n", offset("size")));
    s.push_str(&format!("  set $o_free = {}\n", offset(free_mark)));
    s.push_str(&format!(
        "  set $w_free = sizeof((({frag} *) 0)->{free_mark})\n"
    ));
    if spec.debug_fields {
        s.push_str(&format!("  set $o_file = {}\n", offset("file")));
        s.push_str(&format!("  set $o_func = {}\n", offset("func")));
        s.push_str(&format!("  set $o_line = {}\n", offset("line")));
    }
    s.push_str(&format!(
        "  set $p = (char *) $blk->first_frag\n  set $end = (char *) $blk->{end_field}\n  set $i = 0\n  set $n = 0\n"
    ));
    s.push_str(&format!("  while $p < $end && $i < {}\n", spec.to));
    s.push_str("    if $w_free == 4\n");
    s.push_str("      set $free = *(unsigned int *) ($p + $o_free)\n");
    s.push_str("    else\n");
    s.push_str("      set $free = *(unsigned long *) ($p + $o_free)\n");
    s.push_str("    end\n");
    s.push_str("    set $size = *(unsigned long *) ($p + $o_size)\n");
    s.push_str(&format!("    if $i >= {} && $free == 0\n", spec.from));
    s.push_str("      set $n = $n + 1\n");
    if spec.debug_fields {
        // `file` already reads `MODULE: PATH` (_SRC_LOC_ is module ": " file
        // since 3.x), exactly what qm_status prints after "alloc'd from".
        s.push_str("      set $file = *(char **) ($p + $o_file)\n");
        s.push_str("      set $func = *(char **) ($p + $o_func)\n");
        s.push_str("      if $file != 0 && $func != 0\n");
        s.push_str(&format!(
            "        printf \"{FRAG} %lu size=%lu addr=%p alloc'd from %s: %s(%lu)\\n\", $i, $size, $p + $head, $file, $func, *(unsigned long *) ($p + $o_line)\n"
        ));
        s.push_str("      else\n");
        s.push_str(&format!(
            "        printf \"{FRAG} %lu size=%lu addr=%p alloc'd from ?\\n\", $i, $size, $p + $head\n"
        ));
        s.push_str("      end\n");
    } else {
        s.push_str(&format!(
            "      printf \"{FRAG} %lu size=%lu addr=%p alloc'd from ?\\n\", $i, $size, $p + $head\n"
        ));
    }
    s.push_str("    end\n");
    s.push_str("    set $p = $p + $head + $size + $tail\n");
    s.push_str("    set $i = $i + 1\n  end\n");
    s.push_str(&format!(
        "  printf \"{END} fragments=%lu used=%lu complete=%d\\n\", $i, $n, $p >= $end\n"
    ));
    s.push_str("end\n");
    s
}

/// The same walk as [`render`], as a gdb Python script (`gdb -x walk.py`):
/// one memory read per fragment instead of a dozen interpreted commands,
/// about a hundred times faster on big pools. Same output lines. `kmemdbg
/// gdb` uses it when gdb has Python (Debian's has), else the CLI script.
pub fn render_python(spec: &ScriptSpec<'_>) -> String {
    let l = spec.layout;
    let (frag, end_field, tail_size, free_mark, alloc_name) = match spec.allocator {
        Allocator::Qm => (
            "struct qm_frag",
            "last_frag_end",
            "sizeof(struct qm_frag_end)",
            l.qm_free_mark,
            "qm",
        ),
        Allocator::Fm => ("struct fm_frag", "last_frag", "0", l.fm_free_mark, "fm"),
    };
    let pool = match spec.pool {
        Pool::Pkg => "pkg",
        Pool::Shm => "shm",
    };
    let var = pool_variable(l, spec.allocator, spec.pool);
    format!(
        r#"# kmemdbg gdb walker (Python): the used fragments of the {pool} pool, {alloc_name}, Kamailio {versions} layout
# ({about}). Run: gdb -p PID -batch -x THIS_FILE.py
import gdb

FRAG = "{frag}"
FROM, TO = {from_}, {to}
DEBUG = {debug}

def num(expr):
    return int(gdb.parse_and_eval(expr))

def off(field):
    return num("(unsigned long) &((%s *) 0)->%s" % (FRAG, field))

blk = gdb.parse_and_eval("{var}")
if int(blk) == 0:
    print("{error} {var} is 0: this process does not run this allocator for {pool}")
else:
    print("{begin} pool={pool} allocator={alloc_name} heap=%d used=%d real_used=%d"
          % (int(blk["size"]), int(blk["used"]), int(blk["real_used"])))
    order = "little" if "little" in gdb.execute("show endian", to_string=True) else "big"
    word = num("sizeof(unsigned long)")
    head = num("sizeof(%s)" % FRAG)
    tail = num("{tail_size}")
    o_size = off("size")
    o_free = off("{free_mark}")
    w_free = num("sizeof(((%s *) 0)->{free_mark})" % FRAG)
    if DEBUG:
        o_file, o_func, o_line = off("file"), off("func"), off("line")
    inf = gdb.selected_inferior()
    strings = {{}}

    def field(raw, at, width):
        return int.from_bytes(raw[at:at + width], order)

    def text(addr):
        if addr not in strings:
            try:
                strings[addr] = gdb.Value(addr).cast(gdb.lookup_type("char").pointer()).string()
            except gdb.error:
                strings[addr] = "?"
        return strings[addr]

    p = int(blk["first_frag"])
    end = int(blk["{end_field}"])
    i = n = 0
    out = []
    while p < end and i < TO:
        raw = bytes(inf.read_memory(p, head))
        size = field(raw, o_size, word)
        if i >= FROM and field(raw, o_free, w_free) == 0:
            n += 1
            site = "?"
            if DEBUG:
                f, fn = field(raw, o_file, word), field(raw, o_func, word)
                if f and fn:
                    site = "%s: %s(%d)" % (text(f), text(fn), field(raw, o_line, word))
            out.append("{frag_tag} %d size=%d addr=0x%x alloc'd from %s" % (i, size, p + head, site))
            if len(out) >= 1000:
                print("\n".join(out))
                out = []
        p += head + size + tail
        i += 1
    if out:
        print("\n".join(out))
    print("{end} fragments=%d used=%d complete=%d" % (i, n, 1 if p >= end else 0))
"#,
        versions = l.versions,
        about = spec.about,
        from_ = spec.from,
        to = spec.to,
        debug = if spec.debug_fields { "True" } else { "False" },
        error = ERROR,
        begin = BEGIN,
        end = END,
        frag_tag = FRAG,
    )
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

    fn spec(layout: &Layout, allocator: Allocator, pool: Pool) -> ScriptSpec<'_> {
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
        let s = render(&spec(&LAYOUTS[0], Allocator::Qm, Pool::Pkg));
        assert!(s.contains("set $blk = _qm_pkg_block\n"), "{s}");
        assert!(s.contains("$blk->last_frag_end"));
        assert!(s.contains("set $o_free = (unsigned long) &((struct qm_frag *) 0)->u.is_free"));
        assert!(s.contains("if $i >= 2000 && $free == 0"));
        assert!(s.contains("while $p < $end && $i < 10000"));
        assert!(s.contains("set $o_file = (unsigned long) &((struct qm_frag *) 0)->file"));
        assert!(s.contains("set $tail = sizeof(struct qm_frag_end)"));
        // No struct type lookup inside the loop (slow in gdb).
        let body = &s[s.find("  while $p").unwrap()..];
        assert!(
            !body.contains("sizeof") && !body.contains("struct"),
            "{body}"
        );
        assert!(s.contains("-X qm"));
    }

    #[test]
    fn old_fm_shm_has_no_mname() {
        let l = LAYOUTS.iter().find(|l| l.versions == "3.0 - 4.1").unwrap();
        let s = render(&spec(l, Allocator::Fm, Pool::Shm));
        assert!(s.contains("set $blk = shm_block\n"));
        assert!(s.contains("$blk->last_frag\n"));
        assert!(s.contains("((struct fm_frag *) 0)->u.nxt_free"));
        assert!(s.contains("set $tail = 0\n"));
        assert!(!s.contains("mname"));
    }

    #[test]
    fn python_variant_reads_the_same_fields() {
        let s = render_python(&spec(&LAYOUTS[0], Allocator::Fm, Pool::Shm));
        assert!(
            s.contains("blk = gdb.parse_and_eval(\"_fm_shm_block\")"),
            "{s}"
        );
        assert!(s.contains("o_free = off(\"is_free\")"));
        assert!(s.contains("FROM, TO = 2000, 10000"));
        assert!(s.contains("end = int(blk[\"last_frag\"])"));
        assert!(s.contains("tail = num(\"0\")"));
        assert!(
            !s.contains("{var}") && !s.contains("{pool}") && s.contains("strings = {}\n"),
            "{s}"
        );
    }

    #[test]
    fn every_row_renders_balanced_blocks() {
        for l in LAYOUTS {
            for a in [Allocator::Qm, Allocator::Fm] {
                for p in [Pool::Pkg, Pool::Shm] {
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
                        assert_eq!(s.contains("$o_file"), debug);
                    }
                }
            }
        }
    }
}
