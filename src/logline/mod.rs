//! Pure reader of one Kamailio log line: which process wrote it, and what
//! part of a memory dump (if any) it is.
//!
//! Text in, [`Line`] out: no I/O, no allocation per line. [`parse_line`]
//! keeps no state; [`LineParser`] remembers the previous line's prefix to
//! skip re-reading it and gives the same results. The state machine that
//! assembles dumps lives in `dump::aggregate`. Works on bytes, so binary
//! garbage and broken UTF-8 are just "unreadable". Never panics on any input
//! (fuzzed with proptest below).
//!
//! Prefixes understood, outermost first (each optional):
//! - `uniq -c` counts (`      3 `, a number right-aligned in 7 columns) and
//!   pastebin-style line numbers (`12. `, `12: `, `12 | `, `12<TAB>`);
//! - ANSI colour codes (`log_color=yes`);
//! - syslog and journald: `Mon DD HH:MM:SS[.frac] host tag[PID]: ` (journald
//!   `short`/`short-precise`), `YYYY-MM-DDTHH:MM:SS[.frac][zone] host tag[PID]: `
//!   (journald `short-iso`, rsyslog RFC 3339), `YYYY-MM-DD HH:MM:SS[.frac] host tag[PID]: `,
//!   `[  123.456789] ` (`short-monotonic`), `1796587213.064676 ` (`short-unix`),
//!   `Sun 2026-12-06 20:00:13 UTC ` (`short-full`); journald JSON (`json`,
//!   `json-seq`, the MESSAGE line of `json-pretty`: no PID on it);
//!   the tag is `kamailio`, `/usr/sbin/kamailio` or any other name;
//! - stderr: ` N(PID) ` (process number and PID);
//! - the level: `ALERT: `, `NOTICE: `, `DEBUG: `, ...;
//! - the allocator's own prefix: `qm_status: `, `qm_sums: `, `fm_status: `,
//!   `fm_sums: `, `tlsf_status: `, `tlsf_sums: ` and, in 5.x and later, the
//!   function `qm_status(): ` (tlsf names no allocator: it stays unknown);
//! - or a location: `<core> [main.c:869]: sig_usr(): ` (5.x), `tm [t_hooks.c:12]: `.
//!
//! Messages recognised (read from q_malloc.c / f_malloc.c of 3.x, 4.x, 5.4,
//! 5.6 and 6.0, and from the real 5.6.3 log in `../shared/samples`):
//! `qm_status (0x..):` (3.x) / `(0x..):` (4.x, 5.x) / `fm_status (0x..):` /
//! `block address: 0x..` (6.0 RPC file), `heap size= N`,
//! `used= N, used+overhead=N, free=N`, `max used (+overhead)= N`,
//! `dumping all alloc'ed. fragments:`, `  12. N  address=0x.. frag=0x.. size=N used=1`,
//! `alloc'd from SITE` / `freed from SITE`, `start check=.., end check= .., ..`,
//! `* beginning overwritten(..)!`, `* end overwritten(.., ..)!`, the free-list
//! section (`dumping free list stats :`, `hash= ..`, `bucket size: ..`,
//! `unused fragm.: ..`, `TOTAL: ..`), `summarizing all alloc'ed. fragments:`
//! (tlsf: `pool (0x..) summarizing all alloc'ed. fragments:`),
//! ` count=  N size=  N bytes from SITE`, `-----------------------------`, the
//! pool headers `Memory status (shm)` / `Memory still-in-use summary (pkg) of
//! process N:`, the per-allocation `qm_malloc`/`qm_free`/`qm_realloc`
//! (`fm_*`) debug lines that `memdbg <= debug` floods a log with, and the
//! allocator's `BUG: ... overwritten` / `freeing already freed pointer` aborts.
//!
//! Files: [`prefix`] (who wrote the line), [`payload`] (what the allocator
//! says), [`site`] (allocation sites), `bytes` (helpers).

mod bytes;
pub mod payload;
pub mod prefix;
#[cfg(test)]
mod prefix_tests;
pub mod site;
#[cfg(test)]
mod tests;

use crate::mem::{Allocator, Pool};
use bytes::{skip_blanks, trim_end};
use payload::{classify, fragment};
pub use prefix::split_writer;
pub use prefix::Prefix;
pub use prefix::{split_message, Location};
use prefix::{strip_function, strip_level, strip_source, strip_suffixes};
pub use site::{parse_site, Site};

/// What a line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Empty or whitespace only.
    Blank,
    /// `Memory status (shm)` / `Memory still-in-use summary (pkg) of process N:`:
    /// the next dump of this process is about `pool`.
    PoolHeader {
        pool: Pool,
        summary: bool,
        of_pid: Option<u32>,
    },
    /// A status dump begins (`qm_status (0x..):`, `(0x..):`, `fm_status (0x..):`, `block address:`).
    StatusStart {
        allocator: Option<Allocator>,
    },
    HeapSize(u64),
    Used {
        used: u64,
        used_overhead: u64,
        free: u64,
    },
    MaxUsed(u64),
    /// `dumping all alloc'ed. fragments:`
    FragmentsBegin,
    /// `  12. N  address=0x.. frag=0x.. size=N used=1`
    Fragment {
        free: bool,
        address: &'a [u8],
        size: u64,
    },
    /// `alloc'd from SITE` (or `freed from SITE` for free fragments).
    Site {
        freed: bool,
        site: &'a [u8],
    },
    /// `start check=.., end check= .., ..`; `ok` when the guard words hold
    /// their patterns (4.x prints no `overwritten` line, only these values).
    Checks {
        ok: bool,
        text: &'a [u8],
    },
    /// `* beginning overwritten(..)!` / `* end overwritten(.., ..)!` inside a status dump.
    Overwritten {
        text: &'a [u8],
    },
    /// The free-list part of a status dump (ignored for leaks).
    FreeList,
    /// `bucket size: LOW - HIGH (first N)` (q_malloc, f_malloc free list, also
    /// after `hash=` on the same line or joined by rsyslog's `#012#011`): no
    /// free fragment in this bucket is larger than `high`; one has `first` bytes.
    FreeBucket {
        high: u64,
        first: u64,
    },
    /// `TOTAL: N free fragments = M free bytes`.
    FreeTotal {
        fragments: u64,
        bytes: u64,
    },
    /// `summarizing all alloc'ed. fragments:`
    SumsStart {
        allocator: Option<Allocator>,
    },
    /// ` count=  N size=  N bytes from SITE`
    SumRow {
        count: u64,
        size: u64,
        site: &'a [u8],
    },
    /// `-----------------------------`: the dump is complete.
    End,
    /// A per-allocation debug line (`qm_malloc(..) called from ..`,
    /// `qm_free(..)`, `freeing frag. ..`): logged when memdbg <= debug.
    AllocDebug,
    /// The allocator found damage outside a dump (`BUG: qm: fragm. .. end
    /// overwritten`, `freeing already freed pointer`, `bad pointer`).
    Corruption {
        text: &'a [u8],
    },
    /// An allocation that failed: `qm_find_free(0x.., 192); Free fragment
    /// not found!`, `qm_malloc(0x.., 192) called from smsops: f.c: g(813),
    /// module: smsops; Free fragment not found!`, `could not allocate private
    /// memory from pkg pool`, `no more shm memory`, `mem. allocation failure`, ...
    /// `pool` when the message names it, `size` and `site` when it prints them.
    OutOfMemory {
        pool: Option<Pool>,
        size: Option<u64>,
        site: Option<&'a [u8]>,
    },
    /// Any other Kamailio log line.
    OtherLog,
    /// Not a Kamailio log line and not dump text.
    Unreadable,
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub prefix: Prefix<'a>,
    pub body: Body<'a>,
}

impl Body<'_> {
    /// True for lines that belong to a dump (status, summary, their headers).
    pub fn is_dump_line(&self) -> bool {
        !matches!(
            self,
            Body::Blank
                | Body::AllocDebug
                | Body::Corruption { .. }
                | Body::OutOfMemory { .. }
                | Body::OtherLog
                | Body::Unreadable
        )
    }
}

/// Parses one line (without its `\n`; a trailing `\r` is ignored).
pub fn parse_line(line: &[u8]) -> Line<'_> {
    let mut prefix = Prefix {
        repeat: 1,
        ..Prefix::default()
    };
    let s = strip_suffixes(line);
    if is_blank(s) {
        return Line {
            prefix,
            body: Body::Blank,
        };
    }
    let (rest, loc_file, _) = strip_prefixes(s, &mut prefix);
    let body = classify(strip_function(rest), &prefix, loc_file);
    Line { prefix, body }
}

fn is_blank(s: &[u8]) -> bool {
    s.iter().all(|b| b.is_ascii_whitespace())
}

/// Every prefix stage up to (not including) the function name. Returns the
/// rest, the location's file, and whether the allocator word or a location
/// matched (then the consumed part decides everything, see [`LineParser`]).
fn strip_prefixes<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> (&'a [u8], Option<&'a [u8]>, bool) {
    let s = prefix::strip_writer(s, prefix);
    let s = strip_level(s, prefix);
    strip_source(s, prefix)
}

/// [`parse_line`] with a memory of the previous line's prefix: lines of one
/// dump share their prefix byte for byte (` 6(7245) ALERT: qm_status: `),
/// so a line that starts with the same bytes reuses the parsed prefix and
/// only its message is read. Gives exactly what [`parse_line`] gives (a
/// proptest checks it); only faster.
#[derive(Debug, Default)]
pub struct LineParser {
    /// The previous line's bytes up to the end of its allocator word or
    /// location (`prefix_len` bytes), then its function name (`qm_status(): `), if any.
    bytes: Vec<u8>,
    prefix_len: usize,
    cached: Option<CachedPrefix>,
}

/// A parsed prefix, with offsets instead of borrowed slices.
#[derive(Debug, Clone, Copy)]
struct CachedPrefix {
    repeat: u32,
    time: Option<(usize, usize)>,
    pid: Option<u32>,
    process_no: Option<u32>,
    level: Option<(usize, usize)>,
    allocator: Option<Allocator>,
    log_line: bool,
    uniq: bool,
    loc_file: Option<(usize, usize)>,
}

fn range_in(outer: &[u8], inner: &[u8]) -> (usize, usize) {
    let start = inner.as_ptr() as usize - outer.as_ptr() as usize;
    (start, start + inner.len())
}

impl LineParser {
    pub fn new() -> LineParser {
        LineParser::default()
    }

    /// Parses one line, like [`parse_line`].
    pub fn parse<'a>(&mut self, line: &'a [u8]) -> Line<'a> {
        let s = strip_suffixes(line);
        if let Some(c) = self.cached {
            let n = self.prefix_len;
            let full = self.bytes.len();
            // the same prefix and function (one comparison), or the same prefix
            let msg_at = if full > n && s.len() > full && s[..full] == self.bytes[..] {
                Some(full)
            } else if s.len() > n && s[..n] == self.bytes[..n] {
                None
            } else {
                return self.parse_fresh(s);
            };
            {
                let prefix = Prefix {
                    repeat: c.repeat,
                    time: c.time.map(|(a, b)| &s[a..b]),
                    pid: c.pid,
                    process_no: c.process_no,
                    level: c.level.map(|(a, b)| &s[a..b]),
                    allocator: c.allocator,
                    log_line: c.log_line,
                    uniq: c.uniq,
                };
                let loc_file = c.loc_file.map(|(a, b)| &s[a..b]);
                let msg = match msg_at {
                    Some(at) => &s[at..],
                    None => self.remember_function(&s[n..]),
                };
                // the two lines a fragment list is made of, read directly
                // (what `classify` would conclude for them, without its detours)
                if loc_file.is_none() {
                    let m = skip_blanks(msg);
                    if let Some(site) = m.strip_prefix(b"alloc'd from ") {
                        let body = Body::Site {
                            freed: false,
                            site: trim_end(site),
                        };
                        return Line { prefix, body };
                    }
                    if m.first().is_some_and(u8::is_ascii_digit) {
                        if let Some(body) = fragment(m) {
                            return Line { prefix, body };
                        }
                    }
                }
                let body = classify(msg, &prefix, loc_file);
                return Line { prefix, body };
            }
        }
        self.parse_fresh(s)
    }

    /// Parses `s` (suffixes already stripped) without the cache, and caches its prefix.
    fn parse_fresh<'a>(&mut self, s: &'a [u8]) -> Line<'a> {
        let mut prefix = Prefix {
            repeat: 1,
            ..Prefix::default()
        };
        if is_blank(s) {
            return Line {
                prefix,
                body: Body::Blank,
            };
        }
        let (rest, loc_file, matched) = strip_prefixes(s, &mut prefix);
        // (a journald JSON line's message is not the end of the line: not cached)
        let is_tail = rest.as_ptr() as usize + rest.len() == s.as_ptr() as usize + s.len();
        if matched && !rest.is_empty() && is_tail {
            let n = s.len() - rest.len();
            self.bytes.clear();
            self.bytes.extend_from_slice(&s[..n]);
            self.prefix_len = n;
            self.cached = Some(CachedPrefix {
                repeat: prefix.repeat,
                time: prefix.time.map(|t| range_in(s, t)),
                pid: prefix.pid,
                process_no: prefix.process_no,
                level: prefix.level.map(|l| range_in(s, l)),
                allocator: prefix.allocator,
                log_line: prefix.log_line,
                uniq: prefix.uniq,
                loc_file: loc_file.map(|f| range_in(s, f)),
            });
            let msg = self.remember_function(rest);
            let body = classify(msg, &prefix, loc_file);
            return Line { prefix, body };
        }
        let body = classify(strip_function(rest), &prefix, loc_file);
        Line { prefix, body }
    }

    /// [`strip_function`], keeping what it stripped for the next line.
    fn remember_function<'a>(&mut self, rest: &'a [u8]) -> &'a [u8] {
        let msg = strip_function(rest);
        let stripped = &rest[..rest.len() - msg.len()];
        self.bytes.truncate(self.prefix_len);
        if stripped.ends_with(b"(): ") {
            self.bytes.extend_from_slice(stripped);
        }
        msg
    }
}
