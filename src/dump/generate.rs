//! Synthetic memory dumps of any size, in each layout `crate::logline` reads, for
//! benchmarks and scale tests (`kmemdbg gen-dump`). Deterministic: the same
//! [`Spec`] always writes the same bytes. Writes only to the writer it is
//! given; the sites are made up (module/file/function names shaped like
//! Kamailio's), never real data.

use crate::mem::Pool;
use std::io::{self, Write};

/// Which printout to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// 5.x/6.x `qm_status` fragment list (`qm_status: qm_status(): ...`).
    QmStatus5,
    /// 4.x `qm_status` (`qm_status: ...`, sites `<core>: x.c: f(1)`).
    QmStatus4,
    /// 3.x / the seed's layout (`qm_status (0x..):`, sites without module).
    QmStatus3,
    /// 5.x `qm_sums` summary.
    QmSums5,
    /// 5.x f_malloc: `fm_status` header and free list, then `fm_sums` rows.
    FmSums5,
}

impl Layout {
    pub const ALL: [(&'static str, Layout); 5] = [
        ("qm-status", Layout::QmStatus5),
        ("qm-status-4x", Layout::QmStatus4),
        ("qm-status-3x", Layout::QmStatus3),
        ("qm-sums", Layout::QmSums5),
        ("fm-sums", Layout::FmSums5),
    ];

    pub fn from_name(name: &str) -> Option<Layout> {
        Layout::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| *l)
    }

    fn is_status(self) -> bool {
        matches!(
            self,
            Layout::QmStatus5 | Layout::QmStatus4 | Layout::QmStatus3
        )
    }
}

/// How each line is prefixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinePrefix {
    /// ` 1(7240) ALERT: ` (log_stderror / -E)
    Stderr,
    /// `Nov 25 22:09:01 sip1 kamailio[7240]: ALERT: `
    Syslog,
    /// `2024-11-25T22:09:01+0000 sip1 kamailio[7240]: ALERT: ` (journalctl -o short-iso)
    JournalIso,
}

impl LinePrefix {
    pub const ALL: [(&'static str, LinePrefix); 3] = [
        ("stderr", LinePrefix::Stderr),
        ("syslog", LinePrefix::Syslog),
        ("journal-iso", LinePrefix::JournalIso),
    ];

    pub fn from_name(name: &str) -> Option<LinePrefix> {
        LinePrefix::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| *l)
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub layout: Layout,
    pub prefix: LinePrefix,
    /// Stop after about this many bytes (at a dump boundary for summaries,
    /// inside the fragment list for status dumps).
    pub size_bytes: u64,
    /// Dumps to write (status dumps share `size_bytes` between them); 0 = as
    /// many summaries as fit in `size_bytes`, or one status dump.
    pub dumps: u32,
    /// Distinct allocation sites.
    pub sites: usize,
    /// Processes dumping at the same time, their lines interleaved.
    pub processes: u32,
    pub pool: Pool,
    /// Extra fragments of the leaking site per dump: dump i has `leak * i` more.
    pub leak: u64,
    pub seed: u64,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            layout: Layout::QmStatus5,
            prefix: LinePrefix::Stderr,
            size_bytes: 1 << 20,
            dumps: 0,
            sites: 300,
            processes: 1,
            pool: Pool::Shm,
            leak: 0,
            seed: 1,
        }
    }
}

/// The site that leaks when [`Spec::leak`] is set.
pub const LEAK_SITE: &str = "htable: ht_api.c: ht_cell_new(268)";

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub lines: u64,
    pub dumps: u64,
    pub fragments: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const MODULES: [(&str, &[&str]); 10] = [
    (
        "core",
        &[
            "core/parser/msg_parser.c",
            "core/receive.c",
            "core/dset.c",
            "core/pvapi.c",
            "core/usr_avp.c",
            "core/timer.c",
        ],
    ),
    ("tm", &["t_hooks.c", "t_lookup.c", "h_table.c", "t_funcs.c"]),
    ("sl", &["sl.c", "sl_stats.c"]),
    ("htable", &["ht_api.c", "ht_var.c"]),
    ("usrloc", &["ucontact.c", "urecord.c", "hslot.c"]),
    ("dialog", &["dlg_hash.c", "dlg_var.c"]),
    ("pv", &["pv_core.c", "pv_trans.c"]),
    ("registrar", &["save.c", "lookup.c"]),
    ("rr", &["loose.c", "record.c"]),
    ("ctl", &["binrpc_run.c", "io_listener.c"]),
];
const FUNCS: [&str; 8] = [
    "new", "add", "init", "clone", "insert", "build", "dup", "alloc",
];
const SIZES: [u64; 13] = [8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024, 4096, 16384];

struct SiteDef {
    /// As the layout prints it.
    text: String,
    size: u64,
}

fn make_sites(spec: &Spec) -> Vec<SiteDef> {
    let mut rng = Rng(spec.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut sites = Vec::with_capacity(spec.sites.max(1) + 1);
    for i in 0..spec.sites.max(1) {
        let (module, files) = MODULES[i % MODULES.len()];
        let file = files[(i / MODULES.len()) % files.len()];
        let func = format!("{}_{}", FUNCS[(i / 3) % FUNCS.len()], i);
        let line = 20 + (rng.next() % 3000);
        sites.push(SiteDef {
            text: site_text(spec.layout, module, file, &func, line),
            size: SIZES[(rng.next() % SIZES.len() as u64) as usize],
        });
    }
    sites
}

fn site_text(layout: Layout, module: &str, file: &str, func: &str, line: u64) -> String {
    match layout {
        Layout::QmStatus3 => format!("{file}: {func}({line})"),
        Layout::QmStatus4 if module == "core" => {
            format!(
                "<core>: {}: {func}({line})",
                file.trim_start_matches("core/")
            )
        }
        _ => format!("{module}: {file}: {func}({line})"),
    }
}

/// Writes line prefixes and keeps the counts.
struct Out<W: Write> {
    w: W,
    prefix: LinePrefix,
    layout: Layout,
    written: Written,
    line: Vec<u8>,
}

impl<W: Write> Out<W> {
    fn line(&mut self, pid: u32, process_no: u32, body: std::fmt::Arguments) -> io::Result<()> {
        self.line.clear();
        let level = if self.layout == Layout::QmStatus4 {
            "DEBUG"
        } else {
            "ALERT"
        };
        let secs = self.written.lines / 50_000;
        let (mm, ss) = ((secs / 60) % 60, secs % 60);
        match (self.prefix, self.layout) {
            (LinePrefix::Stderr, Layout::QmStatus3) => {
                write!(self.line, "{process_no:>2}({pid}) ")?
            }
            (LinePrefix::Stderr, _) => write!(self.line, "{process_no:>2}({pid}) {level}: ")?,
            (LinePrefix::Syslog, Layout::QmStatus3) => write!(
                self.line,
                "Nov 25 22:{mm:02}:{ss:02} sip1 /usr/sbin/kamailio[{pid}]: "
            )?,
            (LinePrefix::Syslog, _) => write!(
                self.line,
                "Nov 25 22:{mm:02}:{ss:02} sip1 kamailio[{pid}]: {level}: "
            )?,
            (LinePrefix::JournalIso, _) => write!(
                self.line,
                "2024-11-25T22:{mm:02}:{ss:02}+0000 sip1 kamailio[{pid}]: {level}: "
            )?,
        }
        self.line.write_fmt(body)?;
        self.line.push(b'\n');
        self.w.write_all(&self.line)?;
        self.written.bytes += self.line.len() as u64;
        self.written.lines += 1;
        Ok(())
    }
}

/// The allocator's prefix before a message, per layout.
fn status_word(layout: Layout) -> &'static str {
    match layout {
        Layout::QmStatus5 => "qm_status: qm_status(): ",
        Layout::QmStatus4 => "qm_status: ",
        Layout::QmStatus3 => "",
        Layout::QmSums5 => "qm_sums: qm_sums(): ",
        Layout::FmSums5 => "fm_status: fm_sums(): ",
    }
}

/// One process's dump in progress (status dumps are written a fragment at a time).
struct Proc {
    pid: u32,
    no: u32,
    index: u64,
    address: u64,
}

/// Writes the dumps described by `spec` to `w`.
pub fn generate<W: Write>(spec: &Spec, w: W) -> io::Result<Written> {
    let sites = make_sites(spec);
    let mut out = Out {
        w,
        prefix: spec.prefix,
        layout: spec.layout,
        written: Written::default(),
        line: Vec::with_capacity(256),
    };
    let processes = spec.processes.max(1);
    let dumps = if spec.dumps > 0 {
        u64::from(spec.dumps)
    } else if spec.layout.is_status() {
        1
    } else {
        u64::MAX
    };
    let per_dump = if spec.layout.is_status() {
        spec.size_bytes / dumps.max(1)
    } else {
        u64::MAX
    };
    let fill = dumps == u64::MAX;
    let mut d = 0;
    while d < dumps && (!fill || d == 0 || out.written.bytes < spec.size_bytes) {
        let mut procs: Vec<Proc> = (0..processes)
            .map(|p| Proc {
                pid: 7240 + p,
                no: 1 + p,
                index: 0,
                address: 0x7f52_8898_a6c8 + u64::from(p) * 0x1000_0000,
            })
            .collect();
        for p in &procs {
            header(&mut out, spec, p)?;
        }
        if spec.layout.is_status() {
            // every dump has the same background; only the leak grows
            let mut rng = Rng(spec.seed | 1);
            let start = out.written.bytes;
            let leak_left = spec.leak.saturating_mul(d);
            let mut leaked = vec![0u64; procs.len()];
            // round-robin: one fragment of each process at a time
            while out.written.bytes - start < per_dump || leaked.iter().any(|&l| l < leak_left) {
                for (i, p) in procs.iter_mut().enumerate() {
                    let (text, size): (&str, u64) = if out.written.bytes - start >= per_dump {
                        if leaked[i] >= leak_left {
                            continue;
                        }
                        leaked[i] += 1;
                        (LEAK_SITE, 96)
                    } else {
                        let r = rng.unit();
                        let s = &sites[((r * r * r) * sites.len() as f64) as usize % sites.len()];
                        (&s.text, s.size)
                    };
                    fragment(&mut out, spec.layout, p, text, size)?;
                }
            }
            for p in &procs {
                status_footer(&mut out, spec.layout, p)?;
            }
        } else {
            for (i, s) in sites.iter().enumerate() {
                for p in &procs {
                    let count = 1 + (i as u64 * 7919 + u64::from(p.pid)) % 50;
                    sum_row(&mut out, spec.layout, p, count, count * s.size, &s.text)?;
                }
            }
            if spec.leak > 0 {
                let n = 10 + spec.leak * d;
                for p in &procs {
                    sum_row(&mut out, spec.layout, p, n, n * 96, LEAK_SITE)?;
                }
            }
            for p in &procs {
                out.line(
                    p.pid,
                    p.no,
                    format_args!("{}-----------------------------", status_word(spec.layout)),
                )?;
            }
        }
        out.written.dumps += u64::from(processes);
        d += 1;
    }
    out.w.flush()?;
    Ok(out.written)
}

fn header<W: Write>(out: &mut Out<W>, spec: &Spec, p: &Proc) -> io::Result<()> {
    let (pid, no) = (p.pid, p.no);
    let pool = spec.pool.as_str();
    let heap = 33_554_432u64;
    match spec.layout {
        Layout::QmStatus5 => {
            out.line(
                pid,
                no,
                format_args!(
                    "<core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status ({pool})"
                ),
            )?;
            let w = status_word(spec.layout);
            out.line(pid, no, format_args!("{w}(0x7f5288951000):"))?;
            out.line(pid, no, format_args!("{w}heap size= {heap}"))?;
            out.line(
                pid,
                no,
                format_args!("{w}used= 2474872, used+overhead=2715744, free=30838688"),
            )?;
            out.line(pid, no, format_args!("{w}max used (+overhead)= 2716320"))?;
            out.line(pid, no, format_args!("{w}dumping all alloc'ed. fragments:"))
        }
        Layout::QmStatus4 => {
            out.line(
                pid,
                no,
                format_args!("<core> [main.c:869]: Memory status ({pool}):"),
            )?;
            out.line(pid, no, format_args!("qm_status: (0xb5a7e000):"))?;
            out.line(pid, no, format_args!("qm_status: heap size= {heap}"))?;
            out.line(
                pid,
                no,
                format_args!("qm_status: used= 1592952, used+overhead=1811564, free=31742868"),
            )?;
            out.line(
                pid,
                no,
                format_args!("qm_status: max used (+overhead)= 1811564"),
            )?;
            out.line(
                pid,
                no,
                format_args!("qm_status: dumping all alloc'ed. fragments:"),
            )
        }
        Layout::QmStatus3 => {
            out.line(pid, no, format_args!("Memory status ({pool}):"))?;
            out.line(pid, no, format_args!("qm_status (0xb5a7e000):"))?;
            out.line(pid, no, format_args!(" heap size= {heap}"))?;
            out.line(
                pid,
                no,
                format_args!(" used= 1592952, used+overhead=1811564, free=31742868"),
            )?;
            out.line(pid, no, format_args!(" max used (+overhead)= 1811564"))?;
            out.line(pid, no, format_args!("dumping all alloc'ed. fragments:"))
        }
        Layout::QmSums5 => {
            out.line(
                pid,
                no,
                format_args!(
                    "<core> [main.c:869]: sig_usr(): Memory still-in-use summary ({pool}):"
                ),
            )?;
            out.line(
                pid,
                no,
                format_args!("qm_sums: qm_sums(): summarizing all alloc'ed. fragments:"),
            )
        }
        Layout::FmSums5 => {
            out.line(
                pid,
                no,
                format_args!("<core> [main.c:865]: sig_usr(): Memory status ({pool}):"),
            )?;
            out.line(
                pid,
                no,
                format_args!("fm_status: fm_status(): fm_status (0x7f5288951000):"),
            )?;
            out.line(
                pid,
                no,
                format_args!("fm_status: fm_status():  heap size= {heap}"),
            )?;
            out.line(
                pid,
                no,
                format_args!(
                    "fm_status: fm_status():  used= 2474872, used+overhead=2715744, free=30838688"
                ),
            )?;
            out.line(
                pid,
                no,
                format_args!("fm_status: fm_status():  max used (+overhead)= 2716320"),
            )?;
            out.line(
                pid,
                no,
                format_args!("fm_status: fm_status(): dumping free list:"),
            )?;
            out.line(pid, no, format_args!("fm_status: fm_status(): hash =   1 fragments no.:     3, unused:     0\t\t bucket size:         8 -         8 (first         8)"))?;
            out.line(
                pid,
                no,
                format_args!(
                    "fm_status: fm_status(): TOTAL:      3 free fragments =     24 free bytes"
                ),
            )?;
            out.line(
                pid,
                no,
                format_args!("fm_status: fm_status(): -----------------------------"),
            )?;
            out.line(
                pid,
                no,
                format_args!(
                    "<core> [main.c:869]: sig_usr(): Memory still-in-use summary ({pool}):"
                ),
            )?;
            out.line(
                pid,
                no,
                format_args!("fm_status: fm_sums(): summarizing all alloc'ed. fragments:"),
            )
        }
    }
}

fn fragment<W: Write>(
    out: &mut Out<W>,
    layout: Layout,
    p: &mut Proc,
    site: &str,
    size: u64,
) -> io::Result<()> {
    let w = status_word(layout);
    let (pid, no) = (p.pid, p.no);
    let (i, a) = (p.index, p.address);
    out.line(
        pid,
        no,
        format_args!(
            "{w}   {i:>3}. N  address=0x{:x} frag=0x{a:x} size={size} used=1",
            a + 56
        ),
    )?;
    out.line(pid, no, format_args!("{w}          alloc'd from {site}"))?;
    out.line(
        pid,
        no,
        format_args!("{w}         start check=f0f0f0f0, end check= c0c0c0c0, abcdefed"),
    )?;
    p.index += 1;
    p.address += size + 72;
    out.written.fragments += 1;
    Ok(())
}

fn status_footer<W: Write>(out: &mut Out<W>, layout: Layout, p: &Proc) -> io::Result<()> {
    let w = status_word(layout);
    out.line(p.pid, p.no, format_args!("{w}dumping free list stats :"))?;
    out.line(
        p.pid,
        p.no,
        format_args!("{w}hash= 2059. fragments no.:     1, unused:     0"),
    )?;
    out.w
        .write_all(b"\t\t bucket size:  16777216 -  33554432 (first  30838112)\n")?;
    out.written.bytes += 56;
    out.written.lines += 1;
    out.line(
        p.pid,
        p.no,
        format_args!("{w}-----------------------------"),
    )
}

fn sum_row<W: Write>(
    out: &mut Out<W>,
    layout: Layout,
    p: &Proc,
    count: u64,
    bytes: u64,
    site: &str,
) -> io::Result<()> {
    let w = status_word(layout);
    out.written.fragments += count;
    out.line(
        p.pid,
        p.no,
        format_args!("{w} count={count:>6} size={bytes:>10} bytes from {site}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::{aggregate_text, DumpKind};

    fn gen(spec: &Spec) -> (Vec<u8>, Written) {
        let mut v = Vec::new();
        let w = generate(spec, &mut v).expect("generate");
        assert_eq!(w.bytes, v.len() as u64);
        (v, w)
    }

    #[test]
    fn every_layout_and_prefix_reads_back_exactly() {
        for (lname, layout) in Layout::ALL {
            for (pname, prefix) in LinePrefix::ALL {
                let spec = Spec {
                    layout,
                    prefix,
                    size_bytes: 200_000,
                    sites: 40,
                    processes: 2,
                    ..Spec::default()
                };
                let (text, written) = gen(&spec);
                let log = aggregate_text(&text);
                let what = format!("{lname} {pname}");
                assert_eq!(
                    log.lines.unreadable_lines, 0,
                    "{what}: {:?}",
                    log.lines.unreadable_samples
                );
                assert_eq!(log.lines.lines, written.lines, "{what}");
                assert!(!log.snapshots.is_empty(), "{what}");
                let fragments: u64 = log.snapshots.iter().map(|s| s.total_count).sum();
                let want_kind = if layout.is_status() {
                    DumpKind::Status
                } else {
                    DumpKind::Summary
                };
                let listed: Vec<_> = log
                    .snapshots
                    .iter()
                    .filter(|s| s.kind == want_kind)
                    .collect();
                assert_eq!(listed.len() as u64, written.dumps, "{what}");
                assert_eq!(fragments, written.fragments, "{what}");
                for s in &log.snapshots {
                    assert!(s.complete, "{what}: {}", s.label());
                    assert_eq!(s.pool, Some(Pool::Shm), "{what}");
                    assert!(s.pid == Some(7240) || s.pid == Some(7241), "{what}");
                }
            }
        }
    }

    #[test]
    fn leak_grows_by_the_requested_amount() {
        let spec = Spec {
            layout: Layout::QmStatus5,
            size_bytes: 300_000,
            dumps: 3,
            leak: 100,
            sites: 30,
            ..Spec::default()
        };
        let (text, _) = gen(&spec);
        let log = aggregate_text(&text);
        assert_eq!(log.snapshots.len(), 3);
        let leak_count = |i: usize| {
            log.snapshots[i]
                .sites
                .iter()
                .find(|s| s.site.text == LEAK_SITE)
                .map_or(0, |s| s.count)
        };
        assert_eq!((leak_count(0), leak_count(1), leak_count(2)), (0, 100, 200));
    }

    #[test]
    fn deterministic() {
        let spec = Spec::default();
        assert_eq!(gen(&spec).0, gen(&spec).0);
    }
}
