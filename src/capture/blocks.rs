//! Where a memory dump starts and ends in a log, per process: the pure
//! reader `kmemdbg dump` uses to decide which lines to keep and when a
//! requested dump is complete.
//!
//! It knows the prefixes (stderr ` 6(7245) ALERT: `, syslog and journald
//! `... kamailio[7245]: `), the headings (`Memory status (shm)`, `Memory
//! still-in-use summary (pkg) of process N:`, ...), the start of a
//! `qm_status`/`qm_sums`/`fm_status` body and the `-----------------------------`
//! end marker (see `core/mem/q_malloc.c`, `core/pt.c`, `main.c` of 5.6.3).
//! It never reads what a fragment says (that is `kmemdbg analyze`'s job) and
//! does no I/O: it takes lines and returns which block each belongs to.

use crate::logline;
use crate::mem::Pool;
use serde::Serialize;
use std::collections::HashMap;

/// Which printer wrote the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `qm_status` / `fm_status`: heap header and (unless short) every fragment.
    Status,
    /// `qm_sums` / `fm_sums`: one line per allocation site.
    Summary,
}

/// Where a block stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Still being written.
    Open,
    /// Reached its end marker (or the end of a short status).
    Complete,
    /// Cut off: the process printed something else, started another dump,
    /// or the input ended first.
    Truncated,
    /// A heading with no dump after it (e.g. `Enable DBG_QM_MALLOC for
    /// getting the status summary` on a build without memory debugging).
    Empty,
}

/// One dump of one process, as found in the log.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    pub pid: u32,
    pub pool: Option<Pool>,
    pub kind: Option<Kind>,
    pub state: State,
    /// Lines kept for this block (heading, body, continuation lines).
    pub lines: usize,
    /// Fragment lines (`alloc'd from`) or site lines (`count= ... from`).
    pub entries: usize,
    /// `heap size=` / `used=` header seen but the fragment list cut short
    /// on purpose (`mem_summary & 16`).
    pub short: bool,
    /// The heading text, when there was one.
    pub heading: Option<String>,
    /// A damaged fragment was reported (`beginning overwritten` / `end overwritten`).
    pub corruption: bool,
    /// The first thing the process printed instead of a dump, for messages
    /// (e.g. the `Enable DBG_QM_MALLOC` warning).
    pub note: Option<String>,
}

/// A line split into the PID that wrote it and the message after the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefixed<'a> {
    pub pid: u32,
    pub message: &'a str,
}

/// Splits ` 6(7245) ALERT: ...` (stderr), `Nov 25 22:09:01 host kamailio[7245]: ...`
/// (syslog, journald `short`/`short-iso`, also `/usr/sbin/kamailio[7245]`)
/// with the reader `analyze` uses ([`logline::split_writer`]), so both
/// agree on which process wrote a line. Returns `None` for lines without
/// a PID prefix (continuation lines).
pub fn split_prefix(line: &str) -> Option<Prefixed<'_>> {
    let (prefix, rest) = logline::split_writer(line.as_bytes());
    let pid = prefix.pid?;
    // `rest` is a slice of `line` cut after ASCII bytes only
    let start = rest.as_ptr() as usize - line.as_ptr() as usize;
    let message = line.get(start..start + rest.len())?;
    Some(Prefixed { pid, message })
}

/// What one message means for dump boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// `Memory status (pkg)...` / `Memory still-in-use summary (shm)...`
    Heading(Option<Pool>, Option<Kind>),
    /// `qm_status(): (0x...)`, `qm_sums(): summarizing ...`, `fm_status (0x...)`
    BodyStart(Kind),
    /// The `-----------------------------` line.
    End,
    /// `max used (+overhead)=`: the last header line.
    MaxUsed,
    /// `dumping all alloc'ed. fragments` (the list follows the header).
    FragmentList,
    /// Any other line of a dump printer (`qm_status: ...`).
    Body,
    /// A line without any dump marker.
    Other,
}

const END_MARKER: &str = "-----------------------------";

fn classify(message: &str) -> Mark {
    if let Some(i) = message.find("Memory status (") {
        return Mark::Heading(pool_of(&message[i..]), Some(Kind::Status));
    }
    if let Some(i) = message.find("Memory still-in-use summary (") {
        return Mark::Heading(pool_of(&message[i..]), Some(Kind::Summary));
    }
    let printer = dump_printer(message);
    if message.trim_end().ends_with(END_MARKER) {
        return Mark::End;
    }
    if message.contains("summarizing all alloc'ed. fragments") {
        return Mark::BodyStart(Kind::Summary);
    }
    if message.contains("max used (+overhead)=") {
        return Mark::MaxUsed;
    }
    if message.contains("dumping all alloc'ed. fragments") {
        return Mark::FragmentList;
    }
    // f_malloc's free list follows its header; 3.x and 4.x print it with no
    // printer word in front (OpenSIPS/opensips#194 keeps that layout)
    if message.contains("dumping free list") {
        return Mark::Body;
    }
    // `qm_status: qm_status(): (0x7f52..):` (5.x), `qm_status (0xb5a7e000):` (4.x),
    // `fm_status: fm_status(): fm_status (0x..):` (f_malloc).
    for p in ["qm_status", "fm_status"] {
        if let Some(i) = message.rfind(p) {
            let after = message[i + p.len()..]
                .trim_start_matches("():")
                .trim_start();
            if after.starts_with("(0x") || after.starts_with("(nil)") {
                return Mark::BodyStart(Kind::Status);
            }
        }
    }
    if printer {
        Mark::Body
    } else {
        Mark::Other
    }
}

fn pool_of(heading: &str) -> Option<Pool> {
    if heading.contains("(pkg)") {
        Some(Pool::Pkg)
    } else if heading.contains("(shm)") {
        Some(Pool::Shm)
    } else {
        None
    }
}

/// 5.x dump lines carry the printer's prefix (`qm_status: `, `qm_sums: `, ...);
/// a warning *about* a printer (`qm_sums(): Enable DBG_QM_MALLOC ...`) does not.
fn dump_printer(message: &str) -> bool {
    [
        "qm_status: ",
        "qm_sums: ",
        "fm_status: ",
        "fm_sums: ",
        "tlsf_status: ",
    ]
    .iter()
    .any(|p| message.contains(p))
}

/// An open block and what the scanner knows about it.
#[derive(Debug, Clone)]
struct OpenBlock {
    index: usize,
    /// Body lines so far carried a printer name (5.x style).
    marked: bool,
    body_started: bool,
    /// The `max used` header line was the last body line.
    after_max_used: bool,
}

/// Why a block is being closed.
enum Close {
    Complete,
    Truncated,
}

/// Follows every process's dumps through a stream of log lines.
#[derive(Debug, Default)]
pub struct Scanner {
    blocks: Vec<Block>,
    open: HashMap<u32, OpenBlock>,
    /// The PID of the last prefixed line (continuation lines belong to it).
    last_pid: Option<u32>,
    /// `mem_summary & 16`: a status ends after its header.
    short_status: bool,
}

impl Scanner {
    /// `short_status`: the proxy runs with `mem_summary & 16`, so a status
    /// ends at `max used (+overhead)=` (no end marker follows).
    pub fn new(short_status: bool) -> Scanner {
        Scanner {
            short_status,
            ..Scanner::default()
        }
    }

    /// Every block seen so far, in order of their first line.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Reads one line (without its newline). Returns the index of the block
    /// the line belongs to, or `None` when it is not part of any dump.
    pub fn feed(&mut self, line: &str) -> Option<usize> {
        let Some(p) = split_prefix(line) else {
            // A continuation line (`\t\t bucket size: ...`) of the last writer.
            let pid = self.last_pid?;
            let ob = self.open.get(&pid)?;
            let i = ob.index;
            self.blocks[i].lines += 1;
            return Some(i);
        };
        self.last_pid = Some(p.pid);
        self.feed_message(p.pid, p.message)
    }

    fn feed_message(&mut self, pid: u32, message: &str) -> Option<usize> {
        let mark = classify(message);
        if let Some(ob) = self.open.get(&pid).cloned() {
            match mark {
                Mark::Heading(..) => {
                    // A new dump while one is open: the old one was either a
                    // finished short status or cut off.
                    let how = if ob.after_max_used {
                        Close::Complete
                    } else if !ob.body_started {
                        self.blocks[ob.index].state = State::Empty;
                        self.open.remove(&pid);
                        return self.start(pid, mark, message);
                    } else {
                        Close::Truncated
                    };
                    self.close(pid, how);
                    return self.start(pid, mark, message);
                }
                Mark::BodyStart(kind) if ob.body_started => {
                    let how = if ob.after_max_used {
                        Close::Complete
                    } else {
                        Close::Truncated
                    };
                    self.close(pid, how);
                    return self.start(pid, Mark::BodyStart(kind), message);
                }
                Mark::Other if !ob.body_started => {
                    // Heading followed by something else: nothing was dumped.
                    let b = &mut self.blocks[ob.index];
                    b.state = State::Empty;
                    b.note = Some(message.trim().to_string());
                    self.open.remove(&pid);
                    return None;
                }
                Mark::Other if ob.after_max_used => {
                    // A short status ends at its header.
                    self.blocks[ob.index].short = true;
                    self.close(pid, Close::Complete);
                    return None;
                }
                Mark::Other if ob.marked => {
                    // 5.x dump lines all carry the printer name: this process
                    // stopped dumping without an end marker.
                    self.close(pid, Close::Truncated);
                    return None;
                }
                _ => {}
            }
            let i = ob.index;
            let b = &mut self.blocks[i];
            b.lines += 1;
            count_entry(b, message);
            let ob = self.open.get_mut(&pid)?;
            ob.after_max_used = false;
            match mark {
                Mark::BodyStart(kind) => {
                    ob.body_started = true;
                    ob.marked |= dump_printer(message);
                    if self.blocks[i].kind.is_none() || self.blocks[i].kind != Some(kind) {
                        self.blocks[i].kind = Some(kind);
                    }
                }
                Mark::End => {
                    self.close(pid, Close::Complete);
                }
                Mark::MaxUsed => {
                    ob.body_started = true;
                    if self.short_status {
                        self.blocks[i].short = true;
                        self.close(pid, Close::Complete);
                    } else {
                        ob.after_max_used = true;
                    }
                }
                Mark::FragmentList | Mark::Body => {
                    ob.body_started = true;
                    ob.marked |= dump_printer(message);
                }
                Mark::Other | Mark::Heading(..) => {}
            }
            return Some(i);
        }
        match mark {
            Mark::Heading(..) | Mark::BodyStart(_) => self.start(pid, mark, message),
            _ => None,
        }
    }

    fn start(&mut self, pid: u32, mark: Mark, message: &str) -> Option<usize> {
        let (pool, kind, heading, body_started) = match mark {
            Mark::Heading(pool, kind) => (pool, kind, Some(message.trim().to_string()), false),
            Mark::BodyStart(kind) => (None, Some(kind), None, true),
            _ => return None,
        };
        let index = self.blocks.len();
        self.blocks.push(Block {
            pid,
            pool,
            kind,
            state: State::Open,
            lines: 1,
            entries: 0,
            short: false,
            heading,
            corruption: false,
            note: None,
        });
        self.open.insert(
            pid,
            OpenBlock {
                index,
                marked: body_started && dump_printer(message),
                body_started,
                after_max_used: false,
            },
        );
        Some(index)
    }

    fn close(&mut self, pid: u32, how: Close) {
        if let Some(ob) = self.open.remove(&pid) {
            self.blocks[ob.index].state = match how {
                Close::Complete => State::Complete,
                Close::Truncated => State::Truncated,
            };
        }
    }

    /// The input ended (or the wait is over): a short status whose header
    /// was printed is complete; every other open block is truncated.
    pub fn finish(&mut self) {
        let pids: Vec<u32> = self.open.keys().copied().collect();
        for pid in pids {
            let Some(ob) = self.open.get(&pid) else {
                continue;
            };
            let i = ob.index;
            if ob.after_max_used {
                self.blocks[i].short = true;
                self.close(pid, Close::Complete);
            } else if !ob.body_started {
                self.blocks[i].state = State::Empty;
                self.open.remove(&pid);
            } else {
                self.close(pid, Close::Truncated);
            }
        }
    }

    /// True when `pid` is in the middle of a dump.
    pub fn is_open(&self, pid: u32) -> bool {
        self.open.contains_key(&pid)
    }
}

fn count_entry(b: &mut Block, message: &str) {
    if message.contains("alloc'd from ")
        || (message.contains(" count=") && message.contains(" bytes from "))
    {
        b.entries += 1;
    }
    if message.contains("beginning overwritten") || message.contains("end overwritten") {
        b.corruption = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../tests/fixtures/capture/sample-5.6.3-dumps.log");

    fn scan(text: &str) -> Scanner {
        let mut s = Scanner::new(false);
        for l in text.lines() {
            s.feed(l);
        }
        s
    }

    #[test]
    fn prefixes() {
        let p =
            split_prefix(" 6(7245) ALERT: qm_status: qm_status(): heap size= 33554432").unwrap();
        assert_eq!(p.pid, 7245);
        assert_eq!(
            p.message,
            "ALERT: qm_status: qm_status(): heap size= 33554432"
        );
        let p =
            split_prefix("Nov 25 22:09:01 box /usr/sbin/kamailio[812]: ALERT: qm_sums: x").unwrap();
        assert_eq!((p.pid, p.message), (812, "ALERT: qm_sums: x"));
        let p = split_prefix("2026-11-25T22:09:01+0000 box kamailio[9]: NOTICE: y").unwrap();
        assert_eq!((p.pid, p.message), (9, "NOTICE: y"));
        assert_eq!(
            split_prefix("\t\t bucket size:       576 -       576 (first       576)"),
            None
        );
        assert_eq!(split_prefix("Listening on "), None);
        // 4.x layout (the seed)
        let p = split_prefix("   0(17665) qm_status (0xb5a7e000):").unwrap();
        assert_eq!((p.pid, p.message), (17665, "qm_status (0xb5a7e000):"));
    }

    /// The real 5.6.3 log: one pkg summary (RPC), one shm status (RPC),
    /// shutdown summaries of every process, all among ~6,000 qm_malloc lines.
    #[test]
    fn real_sample_blocks() {
        let s = scan(SAMPLE);
        let b = s.blocks();
        let first = &b[0];
        assert_eq!(first.pid, 7240);
        assert_eq!(first.pool, Some(Pool::Pkg));
        assert_eq!(first.kind, Some(Kind::Summary));
        assert_eq!(first.state, State::Complete);
        assert_eq!(first.entries, 44);
        let shm = &b[1];
        assert_eq!(
            (shm.pid, shm.pool, shm.kind),
            (7245, Some(Pool::Shm), Some(Kind::Status))
        );
        assert_eq!(shm.state, State::Complete);
        // The fragment count matches the raw `alloc'd from` lines of that dump.
        assert_eq!(shm.entries, 53);
        assert!(b.iter().all(|b| b.state == State::Complete), "{b:#?}");
        // Shutdown: each of the 8 processes prints a pkg summary; main also shm.
        assert!(b.len() >= 9, "{}", b.len());
    }

    #[test]
    fn truncated_when_process_dies_mid_dump() {
        let lines: Vec<&str> = SAMPLE.lines().collect();
        let end = lines
            .iter()
            .position(|l| l.contains("qm_status(): dumping all alloc'ed"))
            .unwrap()
            + 40;
        let mut s = Scanner::new(false);
        for l in &lines[..end] {
            s.feed(l);
        }
        s.finish();
        let shm = s
            .blocks()
            .iter()
            .find(|b| b.pool == Some(Pool::Shm))
            .unwrap();
        assert_eq!(shm.state, State::Truncated);
        // The same process printing something else also ends it.
        let mut s = Scanner::new(false);
        for l in &lines[..end] {
            s.feed(l);
        }
        s.feed(" 6(7245) INFO: <core> [core/cfg/cfg_ctx.c:599]: cfg_set_now(): x");
        assert!(!s.is_open(7245));
        assert_eq!(s.blocks()[1].state, State::Truncated);
    }

    #[test]
    fn short_status_ends_at_header() {
        let text =
            " 6(7245) ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)\n\
 6(7245) ALERT: qm_status: qm_status(): (0x7f5288951000):\n\
 6(7245) ALERT: qm_status: qm_status(): heap size= 33554432\n\
 6(7245) ALERT: qm_status: qm_status(): used= 2474872, used+overhead=2715744, free=30838688\n\
 6(7245) ALERT: qm_status: qm_status(): max used (+overhead)= 2716320\n";
        // Known short mode: complete at once.
        let mut s = Scanner::new(true);
        text.lines().for_each(|l| {
            s.feed(l);
        });
        assert_eq!(s.blocks()[0].state, State::Complete);
        assert!(s.blocks()[0].short);
        // Unknown: complete when the process goes on with other work.
        let mut s = Scanner::new(false);
        text.lines().for_each(|l| {
            s.feed(l);
        });
        assert!(s.is_open(7245));
        assert_eq!(
            s.feed(" 6(7245) INFO: <core> [core/cfg/cfg_ctx.c:599]: cfg_set_now(): x"),
            None
        );
        assert_eq!(s.blocks()[0].state, State::Complete);
    }

    #[test]
    fn heading_without_dump_is_empty_with_note() {
        let mut s = Scanner::new(false);
        s.feed(" 1(7240) ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process 7240:");
        s.feed(" 1(7240) WARNING: <core> [core/mem/q_malloc.c:1148]: qm_sums(): Enable DBG_QM_MALLOC for getting the status summary");
        // `qm_sums()` is in that warning: it must not count as a body.
        let b = &s.blocks()[0];
        assert!(b.state == State::Empty || b.state == State::Open, "{b:?}");
        s.finish();
        assert_eq!(s.blocks()[0].state, State::Empty);
    }

    /// The seed's 4.x layout: no printer names, heading `Memory status (shm):`.
    #[test]
    fn seed_4x_layout() {
        let text = "   0(17665) Memory status (shm):\n   0(17665) qm_status (0xb5a7e000):\n   0(17665)  heap size= 33554432\n   0(17665)  used= 1592952, used+overhead=1811564, free=31742868\n   0(17665)  max used (+overhead)= 1811564\n   0(17665) dumping all alloc'ed. fragments:\n   0(17665)       0. N  address=0xb5ab240c frag=0xb5ab23f4 size=4 used=1\n   0(17665)             alloc'd from mem/shm_mem.c: shm_mem_init_mallocs(199)\n   0(17665)         start check=f0f0f0f0, end check= c0c0c0c0, abcdefed\n   0(17665) -----------------------------\n";
        let s = scan(text);
        let b = &s.blocks()[0];
        assert_eq!(
            (b.pool, b.kind, b.state),
            (Some(Pool::Shm), Some(Kind::Status), State::Complete)
        );
        assert_eq!(b.entries, 1);
        assert_eq!(b.lines, 10);
    }

    #[test]
    fn interleaved_processes_kept_apart() {
        let text = " 1(10) ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process 10:\n\
 1(10) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:\n\
 2(11) NOTICE: <core> [core/mem/q_malloc.c:419]: qm_malloc(): qm_malloc(0x1, 8) called from core: core/x.c: f(1)\n\
 1(10) ALERT: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)\n\
 2(11) NOTICE: <core> [core/mem/q_malloc.c:419]: qm_malloc(): returning 0x2\n\
 1(10) ALERT: qm_sums: qm_sums(): -----------------------------\n";
        let mut s = Scanner::new(false);
        let kept: Vec<bool> = text.lines().map(|l| s.feed(l).is_some()).collect();
        assert_eq!(kept, [true, true, false, true, false, true]);
        assert_eq!(s.blocks().len(), 1);
        assert_eq!(s.blocks()[0].state, State::Complete);
    }

    #[test]
    fn corruption_flagged() {
        let s = scan(" 6(7) ALERT: qm_status: qm_status(): (0x1):\n 6(7) ALERT: qm_status: qm_status():          * end overwritten(0, 0)!\n");
        assert!(s.blocks()[0].corruption);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(lines in proptest::collection::vec("[ 0-9()\\[\\]:a-zA-Z_.'=-]{0,80}", 0..40)) {
            let mut s = Scanner::new(false);
            for l in &lines {
                if let Some(i) = s.feed(l) {
                    proptest::prop_assert!(i < s.blocks().len());
                }
            }
            s.finish();
            proptest::prop_assert!(s.blocks().iter().all(|b| b.state != State::Open));
        }

        #[test]
        fn prefix_never_panics(l in "\\PC{0,300}") {
            let _ = split_prefix(&l);
        }
    }
}
