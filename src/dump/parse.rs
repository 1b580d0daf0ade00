//! Pure reader of one Kamailio log line: which process wrote it, and what
//! part of a memory dump (if any) it is.
//!
//! Text in, [`Line`] out: no I/O, no allocation per line. [`parse_line`]
//! keeps no state; [`LineParser`] remembers the previous line's prefix to
//! skip re-reading it and gives the same results. The state machine that
//! assembles dumps lives in [`super::aggregate`]. Works on bytes, so binary
//! garbage and broken UTF-8 are just "unreadable". Never panics on any input
//! (fuzzed with proptest below).
//!
//! Prefixes understood, outermost first (each optional):
//! - `uniq -c` counts (`      3 `, a number right-aligned in 7 columns) and
//!   pastebin-style line numbers (`12. `, `12: `, `12 | `, `12<TAB>`);
//! - ANSI colour codes (`log_color=yes`);
//! - syslog and journald: `Mon DD HH:MM:SS[.frac] host tag[PID]: ` (journald
//!   `short`/`short-precise`), `YYYY-MM-DDTHH:MM:SS[.frac][zone] host tag[PID]: `
//!   (journald `short-iso`, rsyslog RFC 3339), `YYYY-MM-DD HH:MM:SS[.frac] host tag[PID]: `;
//!   the tag is `kamailio`, `/usr/sbin/kamailio` or any other name;
//! - stderr: ` N(PID) ` (process number and PID);
//! - the level: `ALERT: `, `NOTICE: `, `DEBUG: `, ...;
//! - the allocator's own prefix: `qm_status: `, `qm_sums: `, `fm_status: `,
//!   `fm_sums: ` and, in 5.x and later, the function `qm_status(): `;
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
//! `unused fragm.: ..`, `TOTAL: ..`), `summarizing all alloc'ed. fragments:`,
//! ` count=  N size=  N bytes from SITE`, `-----------------------------`, the
//! pool headers `Memory status (shm)` / `Memory still-in-use summary (pkg) of
//! process N:`, the per-allocation `qm_malloc`/`qm_free`/`qm_realloc`
//! (`fm_*`) debug lines that `memdbg <= debug` floods a log with, and the
//! allocator's `BUG: ... overwritten` / `freeing already freed pointer` aborts.

/// Which memory pool a dump is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// Private memory of one process.
    Pkg,
    /// Shared memory (one heap for all processes).
    Shm,
}

impl Pool {
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Pkg => "pkg",
            Pool::Shm => "shm",
        }
    }
}

/// Which allocator printed a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Allocator {
    /// q_malloc (`qm_status`, `qm_sums`): fragment lists with sites.
    QMalloc,
    /// f_malloc (`fm_status`, `fm_sums`): heap totals and summaries only.
    FMalloc,
}

/// Everything before the message: who wrote the line and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefix<'a> {
    /// How many times `uniq -c` says this line repeated (1 otherwise).
    pub repeat: u32,
    /// The syslog / journald timestamp, as printed.
    pub time: Option<&'a [u8]>,
    /// The writing process: from ` N(PID) ` or `tag[PID]:`.
    pub pid: Option<u32>,
    /// Kamailio's process number (stderr logging only).
    pub process_no: Option<u32>,
    /// `ALERT`, `NOTICE`, ...
    pub level: Option<&'a [u8]>,
    /// The allocator named by the message prefix (`qm_status: `, `fm_sums: `).
    pub allocator: Option<Allocator>,
    /// True when a Kamailio log prefix (stderr, syslog tag, level or
    /// location) was found: the line came from Kamailio even when its
    /// message is not part of a dump.
    pub log_line: bool,
}

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

/// A trailing `\r` (CRLF files) and colour reset (`log_color=yes`).
fn strip_suffixes(line: &[u8]) -> &[u8] {
    let mut s = line;
    if let [rest @ .., b'\r'] = s {
        s = rest;
    }
    if let Some(rest) = s.strip_suffix(b"\x1b[0m") {
        s = rest;
    }
    s
}

/// Every prefix stage up to (not including) the function name. Returns the
/// rest, the location's file, and whether the allocator word or a location
/// matched (then the consumed part decides everything, see [`LineParser`]).
fn strip_prefixes<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> (&'a [u8], Option<&'a [u8]>, bool) {
    let mut s = strip_number(s, prefix);
    s = strip_ansi(s);
    s = strip_syslog(s, prefix);
    s = strip_ansi(s);
    s = strip_stderr(s, prefix);
    s = strip_level(s, prefix);
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
        if matched && !rest.is_empty() {
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

// ---------------------------------------------------------------- prefixes

#[inline]
fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

/// Leading ASCII digits of `s`: (value, digit count). Value saturates.
#[inline]
fn digits(s: &[u8]) -> (u64, usize) {
    let mut v: u64 = 0;
    let mut n = 0;
    for &b in s {
        if !is_digit(b) {
            break;
        }
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        n += 1;
    }
    (v, n)
}

#[inline]
fn skip_blanks(s: &[u8]) -> &[u8] {
    // dump lines are indented by up to a dozen spaces: skip eight at a time
    let mut i = 0;
    while s.len() >= i + 8 && s[i..i + 8] == *b"        " {
        i += 8;
    }
    let n = s[i..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &s[i + n..]
}

#[inline]
fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// `uniq -c` counts (`%7d ` then the line) and pastebin line numbers.
fn strip_number<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
    let spaces = s.iter().take_while(|&&b| b == b' ').count();
    let (value, n) = digits(&s[spaces..]);
    if n == 0 || n > 12 {
        return s;
    }
    let after = &s[spaces + n..];
    let Some(&sep) = after.first() else {
        return s;
    };
    // GNU uniq -c: "%7jd " (right-aligned in 7 columns, then one space).
    if sep == b' ' && (spaces + n == 7 || (spaces == 0 && n > 7)) {
        prefix.repeat = u32::try_from(value).unwrap_or(u32::MAX).max(1);
        return &after[1..];
    }
    // "12 | text": the bar may follow blanks
    let (sep, after) = match skip_blanks(after) {
        [b'|', ..] => (b'|', skip_blanks(after)),
        _ => (sep, after),
    };
    match sep {
        b'.' | b':' | b'|' | b'\t' | b' ' => {
            let rest = &after[1..];
            // `   0. N  address=..` is a fragment line of a prefix-less dump, not a line number.
            if sep == b'.' && is_fragment_flag(skip_blanks(rest)) {
                return s;
            }
            // `12:34:56` (a time) and `1(7240)` are not line numbers.
            if sep == b':' && rest.first().is_some_and(|&b| is_digit(b)) {
                return s;
            }
            let rest = if sep == b'|' { skip_blanks(rest) } else { rest };
            rest.strip_prefix(b" ").unwrap_or(rest)
        }
        _ => s,
    }
}

fn is_fragment_flag(s: &[u8]) -> bool {
    matches!(
        s,
        [b'N' | b'A' | b'a', b' ', b' ', b'a', b'd', b'd', b'r', ..]
    )
}

/// Colour escapes (`ESC [ ... m`) at the start of a line.
fn strip_ansi(mut s: &[u8]) -> &[u8] {
    while let [0x1b, b'[', rest @ ..] = s {
        match rest.iter().position(|&b| b == b'm') {
            Some(i) if i < 16 => s = &rest[i + 1..],
            _ => break,
        }
    }
    s
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Length of `HH:MM:SS[.frac]` at the start of `s`, or 0.
fn clock_len(s: &[u8]) -> usize {
    if s.len() < 8
        || !(is_digit(s[0])
            && is_digit(s[1])
            && s[2] == b':'
            && is_digit(s[3])
            && is_digit(s[4])
            && s[5] == b':'
            && is_digit(s[6])
            && is_digit(s[7]))
    {
        return 0;
    }
    let mut n = 8;
    if s.get(8) == Some(&b'.') || s.get(8) == Some(&b',') {
        n = 9 + s[9..].iter().take_while(|&&b| is_digit(b)).count();
    }
    n
}

/// Length of a syslog / journald timestamp at the start of `s`, or 0.
fn timestamp_len(s: &[u8]) -> usize {
    let Some(&first) = s.first() else {
        return 0;
    };
    // BSD syslog / journald short: "Nov 25 22:09:01" or "Nov  5 22:09:01[.123456]"
    if first.is_ascii_uppercase()
        && s.len() >= 15
        && s[3] == b' '
        && MONTHS.iter().any(|m| s[..3] == m[..])
    {
        let mut i = 4;
        if s[i] == b' ' {
            i += 1;
        }
        let (_, n) = digits(&s[i..]);
        if (1..=2).contains(&n) && s.get(i + n) == Some(&b' ') {
            let c = clock_len(&s[i + n + 1..]);
            if c > 0 {
                return i + n + 1 + c;
            }
        }
        return 0;
    }
    // ISO: "2024-11-25T22:09:01[.123][+0000|+00:00|Z]" or "2024-11-25 22:09:01[.123]"
    if is_digit(first)
        && s.len() >= 19
        && s[..4].iter().all(|&b| is_digit(b))
        && s[4] == b'-'
        && is_digit(s[5])
        && is_digit(s[6])
        && s[7] == b'-'
        && is_digit(s[8])
        && is_digit(s[9])
        && (s[10] == b'T' || s[10] == b' ')
    {
        let c = clock_len(&s[11..]);
        if c == 0 {
            return 0;
        }
        let mut i = 11 + c;
        match s.get(i) {
            Some(b'Z') => i += 1,
            Some(b'+' | b'-') => {
                let z = s[i + 1..]
                    .iter()
                    .take_while(|&&b| is_digit(b) || b == b':')
                    .count();
                if (2..=5).contains(&z) {
                    i += 1 + z;
                }
            }
            _ => {}
        }
        return i;
    }
    0
}

/// `TIME host tag[PID]: ` (syslog, journald). The tag may be a path.
fn strip_syslog<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
    let t = timestamp_len(s);
    if t == 0 || s.get(t) != Some(&b' ') {
        return s;
    }
    let time = &s[..t];
    let rest = &s[t + 1..];
    // host
    let Some(h) = rest.iter().position(|&b| b == b' ') else {
        return s;
    };
    if h == 0 {
        return s;
    }
    let rest = &rest[h + 1..];
    // tag up to ": "
    let limit = rest.len().min(256);
    let Some(c) = find(&rest[..limit], b": ").or_else(|| {
        // a message-less line ends with the tag
        rest.ends_with(b":").then(|| rest.len() - 1)
    }) else {
        return s;
    };
    let tag = &rest[..c];
    if tag.contains(&b' ') {
        return s;
    }
    if let Some(open) = tag.iter().rposition(|&b| b == b'[') {
        if tag.last() == Some(&b']') {
            let (pid, n) = digits(&tag[open + 1..]);
            if n > 0 && open + 1 + n == tag.len() - 1 {
                prefix.pid = u32::try_from(pid).ok();
            }
        }
    }
    prefix.time = Some(time);
    prefix.log_line = true;
    let after = &rest[c + 1..];
    after.strip_prefix(b" ").unwrap_or(after)
}

/// Kamailio's stderr prefix `%2d(%d) `: process number and PID.
fn strip_stderr<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
    let t = skip_blanks(s);
    let (no, n) = digits(t);
    if n == 0 || n > 6 || t.get(n) != Some(&b'(') {
        return s;
    }
    let (pid, m) = digits(&t[n + 1..]);
    if m == 0 || m > 10 || t.get(n + 1 + m) != Some(&b')') {
        return s;
    }
    let rest = &t[n + 2 + m..];
    if !(rest.is_empty() || rest[0] == b' ') {
        return s;
    }
    prefix.process_no = u32::try_from(no).ok();
    prefix.pid = u32::try_from(pid).ok();
    prefix.log_line = true;
    rest.strip_prefix(b" ").unwrap_or(rest)
}

/// `ALERT: `, `NOTICE: `, ... (upper-case word of 3..=10 letters).
fn strip_level<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
    let n = s.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if (3..=10).contains(&n) && s.get(n) == Some(&b':') && s.get(n + 1) == Some(&b' ') {
        // "BUG: qm_*: ..." in 3.x/4.x is a message, not a level: keep it.
        if &s[..n] == b"BUG" && !prefix.log_line {
            return s;
        }
        prefix.level = Some(&s[..n]);
        prefix.log_line = true;
        return &s[n + 2..];
    }
    s
}

/// The allocator's own prefix (`qm_status: qm_status(): `) or a source
/// location (`<core> [core/pt.c:555]: mem_dump_pkg_cb(): `). Returns the
/// message and the location's file, when there was one.
fn strip_source<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> (&'a [u8], Option<&'a [u8]>, bool) {
    for (word, alloc) in [
        (&b"qm_status: "[..], Allocator::QMalloc),
        (b"qm_sums: ", Allocator::QMalloc),
        (b"fm_status: ", Allocator::FMalloc),
        (b"fm_sums: ", Allocator::FMalloc),
    ] {
        if let Some(rest) = s.strip_prefix(word) {
            prefix.allocator = Some(alloc);
            prefix.log_line = true;
            return (rest, None, true);
        }
    }
    // location: "<core> [file:line]: " or "module [file:line]: "
    let limit = s.len().min(200);
    if let Some(sp) = s[..limit].iter().position(|&b| b == b' ') {
        if sp > 0 && s.get(sp + 1) == Some(&b'[') {
            if let Some(close) = find_close(&s[sp + 2..limit]) {
                let loc = &s[sp + 2..sp + 2 + close];
                let file = match loc.iter().rposition(|&b| b == b':') {
                    Some(c) => &loc[..c],
                    None => loc,
                };
                prefix.log_line = true;
                return (&s[sp + 2 + close + 3..], Some(file), true);
            }
        }
    }
    (s, None, false)
}

/// Position of the first `]: ` in `s`.
fn find_close(s: &[u8]) -> Option<usize> {
    find(s, b"]: ")
}

/// Position of `byte` in a short `hay`, eight bytes at a time.
#[inline]
fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = LOW.wrapping_mul(u64::from(byte));
    let mut i = 0;
    while i + 8 <= hay.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&hay[i..i + 8]);
        let x = u64::from_le_bytes(w) ^ pattern;
        // the lowest byte of x that is zero is the first match (exact for the lowest one)
        let zero = x.wrapping_sub(LOW) & !x & HIGH;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay[i..].iter().position(|&b| b == byte).map(|p| i + p)
}

/// Position of `needle` in `hay` (short needles: memchr on the first byte).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    memchr::memchr_iter(first, hay).find(|&i| hay[i + 1..].starts_with(rest))
}

/// `name(): ` (the function name 5.x puts before every message).
fn strip_function(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .take(80)
        .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
        .count();
    if n > 0 && s[n..].starts_with(b"(): ") {
        &s[n + 4..]
    } else if n > 0 && &s[n..] == b"():" {
        &s[n + 3..]
    } else {
        s
    }
}

// ---------------------------------------------------------------- messages

#[inline]
fn after<'a>(s: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
    s.strip_prefix(word)
}

/// `= N` / `=N` / `= N,` : the number after optional blanks.
#[inline]
fn number_after(s: &[u8]) -> Option<(u64, &[u8])> {
    let t = skip_blanks(s);
    let (v, n) = digits(t);
    (n > 0 && n <= 20).then(|| (v, &t[n..]))
}

/// The hex word at the start of `s` (after blanks): (value, rest).
fn hex_after(s: &[u8]) -> Option<(u64, &[u8])> {
    let t = skip_blanks(s);
    let n = t.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if n == 0 || n > 16 {
        return None;
    }
    let v = t[..n].iter().fold(0u64, |v, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        (v << 4) | u64::from(d)
    });
    Some((v, &t[n..]))
}

fn classify<'a>(s: &'a [u8], prefix: &Prefix<'a>, loc_file: Option<&'a [u8]>) -> Body<'a> {
    let m = skip_blanks(s);
    if loc_file.is_none() {
        // the common case: a dump line
        if let Some(body) = dump_message(m, prefix) {
            return body;
        }
    }
    let bug = prefix.level == Some(&b"BUG"[..]);
    let fallback = || {
        if prefix.log_line {
            Body::OtherLog
        } else {
            Body::Unreadable
        }
    };
    // per-allocation debug lines come from the allocator's own source file
    if let Some(file) = loc_file {
        if is_allocator_file(file) {
            return if is_corruption_message(m, bug) {
                Body::Corruption { text: trim_end(m) }
            } else if let Some(body) = dump_message(m, prefix) {
                body
            } else {
                Body::AllocDebug
            };
        }
    }
    if loc_file.is_some() {
        if let Some(body) = dump_message(m, prefix) {
            return body;
        }
    }
    if is_alloc_debug(m) {
        return Body::AllocDebug;
    }
    if is_corruption_message(m, bug) {
        return Body::Corruption { text: trim_end(m) };
    }
    // A line with no recognised prefix that is only the continuation of
    // a multi-line message ("\t\t bucket size: ..." after "hash= ..").
    fallback()
}

fn is_allocator_file(file: &[u8]) -> bool {
    let name = match file.iter().rposition(|&b| b == b'/') {
        Some(i) => &file[i + 1..],
        None => file,
    };
    matches!(
        name,
        b"q_malloc.c" | b"f_malloc.c" | b"tlsf_malloc.c" | b"sf_malloc.c" | b"ll_malloc.c"
    )
}

fn is_alloc_debug(m: &[u8]) -> bool {
    const WORDS: [&[u8]; 12] = [
        b"qm_malloc(",
        b"qm_free(",
        b"qm_realloc(",
        b"fm_malloc(",
        b"fm_free(",
        b"fm_realloc(",
        b"qm_free: freeing frag.",
        b"fm_free: freeing block",
        b"qm_realloc: ",
        b"fm_realloc: ",
        b"freeing frag. ",
        b"realloc'ing frag ",
    ];
    WORDS.iter().any(|w| m.starts_with(w))
}

fn is_corruption_message(m: &[u8], level_is_bug: bool) -> bool {
    let head = &m[..m.len().min(400)];
    (level_is_bug || find(head, b"BUG").is_some())
        && (find(head, b"overwritten").is_some()
            || find(head, b"already freed").is_some()
            || find(head, b"bad pointer").is_some()
            || find(head, b"different free frag").is_some())
}

/// The dump messages, dispatched on the first byte.
fn dump_message<'a>(m: &'a [u8], prefix: &Prefix<'a>) -> Option<Body<'a>> {
    let first = *m.first()?;
    match first {
        b'0'..=b'9' => fragment(m),
        b'a' => after(m, b"alloc'd from ").map(|site| Body::Site {
            freed: false,
            site: trim_end(site),
        }),
        b'f' => {
            if let Some(site) = after(m, b"freed from ") {
                return Some(Body::Site {
                    freed: true,
                    site: trim_end(site),
                });
            }
            after(m, b"fm_status (").and_then(|r| {
                looks_like_block(r).then_some(Body::StatusStart {
                    allocator: Some(Allocator::FMalloc),
                })
            })
        }
        b'q' => after(m, b"qm_status (").and_then(|r| {
            looks_like_block(r).then_some(Body::StatusStart {
                allocator: Some(Allocator::QMalloc),
            })
        }),
        b'(' => {
            // 4.x/5.x: "qm_status: (0x7f52..):" (only after the allocator prefix)
            let alloc = prefix.allocator?;
            looks_like_block(&m[1..]).then_some(Body::StatusStart {
                allocator: Some(alloc),
            })
        }
        b'b' => {
            if let Some(r) = after(m, b"block address: ") {
                return looks_like_block(r).then_some(Body::StatusStart { allocator: None });
            }
            after(m, b"bucket size:").map(|_| Body::FreeList)
        }
        b'h' => {
            if let Some(r) = after(m, b"heap size=") {
                return number_after(r).map(|(v, _)| Body::HeapSize(v));
            }
            (m.starts_with(b"hash=") || m.starts_with(b"hash =")).then_some(Body::FreeList)
        }
        b'u' => {
            if let Some(r) = after(m, b"used=") {
                let (used, r) = number_after(r)?;
                let r = after(r, b", used+overhead=")?;
                let (used_overhead, r) = number_after(r)?;
                let r = after(r, b", free=")?;
                let (free, _) = number_after(r)?;
                return Some(Body::Used {
                    used,
                    used_overhead,
                    free,
                });
            }
            m.starts_with(b"unused fragm.").then_some(Body::FreeList)
        }
        b'm' => after(m, b"max used (+overhead)=")
            .and_then(number_after)
            .map(|(v, _)| Body::MaxUsed(v)),
        b'd' => {
            if m.starts_with(b"dumping all alloc'ed. fragments") {
                Some(Body::FragmentsBegin)
            } else if m.starts_with(b"dumping free list") {
                Some(Body::FreeList)
            } else {
                None
            }
        }
        b's' => {
            if let Some(r) = after(m, b"start check=") {
                return Some(checks(r, m));
            }
            if m.starts_with(b"summarizing all alloc'ed. fragments") {
                return Some(Body::SumsStart {
                    allocator: prefix.allocator,
                });
            }
            None
        }
        b'*' => {
            let r = skip_blanks(&m[1..]);
            (r.starts_with(b"beginning overwritten") || r.starts_with(b"end overwritten"))
                .then(|| Body::Overwritten { text: trim_end(m) })
        }
        b'c' => sum_row(m),
        b'-' => {
            if m.starts_with(b"--- allocated fragments") {
                return Some(Body::FragmentsBegin);
            }
            if m.starts_with(b"--- dumping free list") {
                return Some(Body::FreeList);
            }
            let dashes = m.iter().take_while(|&&b| b == b'-').count();
            (dashes >= 20 && trim_end(&m[dashes..]).is_empty()).then_some(Body::End)
        }
        b'T' => m.starts_with(b"TOTAL:").then_some(Body::FreeList),
        b'M' => pool_header(m),
        _ => None,
    }
}

/// `0x7f..):` / `(nil)):` / `0x..` (the heap block address).
fn looks_like_block(r: &[u8]) -> bool {
    r.starts_with(b"0x") || r.starts_with(b"(nil)") || r.starts_with(b"nil")
}

/// `12. N  address=0x.. frag=0x.. size=N used=1`
fn fragment(m: &[u8]) -> Option<Body<'_>> {
    let n = m.iter().take(20).take_while(|b| b.is_ascii_digit()).count();
    let r = m[n..].strip_prefix(b".")?;
    let r = skip_blanks(r);
    let flag = *r.first()?;
    if !matches!(flag, b'N' | b'A' | b'a') {
        return None;
    }
    let r = skip_blanks(&r[1..]);
    let r = after(r, b"address=")?;
    let end = find_byte(r, b' ').unwrap_or(r.len());
    let address = &r[..end];
    let r = &r[end..];
    // " frag=0x.. size=N": the word after the next blank, or "size=" a little further
    let size_at = match r.strip_prefix(b" frag=") {
        Some(f) => match find_byte(f, b' ') {
            Some(sp) if f[sp + 1..].starts_with(b"size=") => r.len() - f.len() + sp + 6,
            _ => find(&r[..r.len().min(64)], b"size=")? + 5,
        },
        None => find(&r[..r.len().min(64)], b"size=")? + 5,
    };
    let (size, _) = number_after(&r[size_at..])?;
    Some(Body::Fragment {
        free: flag != b'N',
        address,
        size,
    })
}

/// `start check=f0f0f0f0, end check= c0c0c0c0, abcdefed`
fn checks<'a>(r: &'a [u8], whole: &'a [u8]) -> Body<'a> {
    if trim_end(r) == b"f0f0f0f0, end check= c0c0c0c0, abcdefed" {
        return Body::Checks {
            ok: true,
            text: trim_end(whole),
        };
    }
    let parsed = (|| {
        let (start, r) = hex_after(r)?;
        let r = after(r, b", end check=")?;
        let (end1, r) = hex_after(r)?;
        let r = after(r, b",")?;
        let (end2, _) = hex_after(r)?;
        Some((start, end1, end2))
    })();
    // a line cut short (log truncated mid-line) proves nothing: only values
    // that were read and differ from the guard patterns are damage
    let ok = parsed.map_or(true, |v| v == (0xf0f0_f0f0, 0xc0c0_c0c0, 0xabcd_efed));
    Body::Checks {
        ok,
        text: trim_end(whole),
    }
}

/// `count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)`
fn sum_row(m: &[u8]) -> Option<Body<'_>> {
    let r = after(m, b"count=")?;
    let (count, r) = number_after(r)?;
    let r = after(skip_blanks(r), b"size=")?;
    let (size, r) = number_after(r)?;
    let r = after(skip_blanks(r), b"bytes from ")?;
    Some(Body::SumRow {
        count,
        size,
        site: trim_end(r),
    })
}

/// `Memory status (shm)`, `Memory still-in-use summary (pkg) of process 7240:`
fn pool_header(m: &[u8]) -> Option<Body<'_>> {
    let (r, summary) = if let Some(r) = after(m, b"Memory status (") {
        (r, false)
    } else {
        (after(m, b"Memory still-in-use summary (")?, true)
    };
    let pool = if r.starts_with(b"pkg)") {
        Pool::Pkg
    } else if r.starts_with(b"shm)") {
        Pool::Shm
    } else {
        return None;
    };
    let of_pid = after(&r[4..], b" of process ")
        .and_then(number_after)
        .and_then(|(v, _)| u32::try_from(v).ok());
    Some(Body::PoolHeader {
        pool,
        summary,
        of_pid,
    })
}

// ---------------------------------------------------------------- sites

/// An allocation site as Kamailio prints it, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Site {
    /// The text after `alloc'd from ` / `bytes from `, as printed.
    pub text: String,
    /// `core`, `tm`, ...; `<core>` (4.x) reads as `core`; none in 3.x.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The source file (`core/mem/q_malloc.c`, `t_hooks.c`).
    pub file: String,
    /// The function (`qm_shm_lock_init`).
    pub function: String,
    /// The source line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// Splits a site: `core: core/x.c: f(1)` (5.x/6.x), `<core>: mem/shm_mem.c: f(199)`
/// (4.x), `timer.c: init_timer(52)` (3.x), `core: core/x.c:123 / f()` (6.0 RPC file).
pub fn parse_site(text: &[u8]) -> Site {
    let text = String::from_utf8_lossy(trim_end(text)).into_owned();
    let (place, function, line) = split_function(&text);
    let (module, file) = match place.find(": ") {
        Some(i) => {
            let m = place[..i].trim();
            let m = m
                .strip_prefix('<')
                .and_then(|m| m.strip_suffix('>'))
                .unwrap_or(m);
            (Some(m.to_string()), place[i + 2..].trim().to_string())
        }
        None => (module_from_path(place), place.trim().to_string()),
    };
    Site {
        module,
        file,
        function,
        line,
        text: text.clone(),
    }
}

/// 3.x prints no module; a `modules/NAME/` path still names one.
fn module_from_path(file: &str) -> Option<String> {
    let f = file.trim();
    for root in ["modules/", "modules_k/", "modules_s/"] {
        if let Some(rest) = f.strip_prefix(root) {
            return rest.split('/').next().map(str::to_string);
        }
    }
    None
}

/// `(place, function, line)` from `place: f(12)` or `place:12 / f()`.
fn split_function(text: &str) -> (&str, String, Option<u32>) {
    if let Some(i) = text.rfind(" / ") {
        // 6.0 RPC file: "core: core/x.c:123 / f()"
        let func = text[i + 3..].trim().trim_end_matches("()").to_string();
        let left = &text[..i];
        if let Some(c) = left.rfind(':') {
            if let Ok(line) = left[c + 1..].trim().parse::<u32>() {
                return (&left[..c], func, Some(line));
            }
        }
        return (left, func, None);
    }
    let Some(i) = text.rfind(": ") else {
        return ("", text.to_string(), None);
    };
    let place = &text[..i];
    let f = text[i + 2..].trim();
    match (f.rfind('('), f.strip_suffix(')')) {
        (Some(open), Some(inner)) => {
            let line = inner[open + 1..].trim().parse::<u32>().ok();
            (place, f[..open].to_string(), line)
        }
        _ => (place, f.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(line: &str) -> Body<'_> {
        parse_line(line.as_bytes()).body
    }

    // Real lines, copied from ../shared/samples/kamailio-5.6.3-stderr-dumps.log.
    const REAL_56: &[&str] = &[
        " 6(7245) ALERT: <core> [core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)",
        " 6(7245) ALERT: qm_status: qm_status(): (0x7f5288951000):",
        " 6(7245) ALERT: qm_status: qm_status(): heap size= 33554432",
        " 6(7245) ALERT: qm_status: qm_status(): used= 2474872, used+overhead=2715744, free=30838688",
        " 6(7245) ALERT: qm_status: qm_status(): max used (+overhead)= 2716320",
        " 6(7245) ALERT: qm_status: qm_status(): dumping all alloc'ed. fragments:",
        " 6(7245) ALERT: qm_status: qm_status():      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1",
        " 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)",
        " 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed",
        " 6(7245) ALERT: qm_status: qm_status(): dumping free list stats :",
        " 6(7245) ALERT: qm_status: qm_status(): hash=  72. fragments no.:     1, unused:     0",
        "\t\t bucket size:       576 -       576 (first       576)",
        " 6(7245) ALERT: qm_status: qm_status(): -----------------------------",
        " 1(7240) ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process 7240:",
        " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:",
        " 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)",
        " 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------",
        " 0(7238) NOTICE: <core> [core/mem/q_malloc.c:373]: qm_malloc(): qm_malloc(0x7f528abb0010, 24) called from core: core/cfg.y: yyparse(2068)",
        " 0(7238) NOTICE: <core> [core/mem/q_malloc.c:525]: qm_free(): freeing frag. 0x7f528ac3fe50 alloc'ed from core: core/cfg.y: mk_name_lst(3952)",
        " 0(7238) NOTICE: <core> [core/mem/q_malloc.c:676]: qm_realloc(): growing from 512 to 1024",
        " 6(7245) INFO: <core> [core/cfg/cfg_ctx.c:599]: cfg_set_now(): core.mem_dump_shm has been changed to 1",
        " 1(7240) NOTICE: <core> [main.c:869]: sig_usr(): Memory still-in-use summary (pkg):",
    ];

    #[test]
    fn real_56_lines() {
        let got: Vec<Body> = REAL_56.iter().map(|l| body(l)).collect();
        assert_eq!(
            got[0],
            Body::PoolHeader {
                pool: Pool::Shm,
                summary: false,
                of_pid: None
            }
        );
        assert_eq!(
            got[1],
            Body::StatusStart {
                allocator: Some(Allocator::QMalloc)
            }
        );
        assert_eq!(got[2], Body::HeapSize(33554432));
        assert_eq!(
            got[3],
            Body::Used {
                used: 2474872,
                used_overhead: 2715744,
                free: 30838688
            }
        );
        assert_eq!(got[4], Body::MaxUsed(2716320));
        assert_eq!(got[5], Body::FragmentsBegin);
        assert_eq!(
            got[6],
            Body::Fragment {
                free: false,
                address: b"0x7f528898a6c8",
                size: 8
            }
        );
        assert_eq!(
            got[7],
            Body::Site {
                freed: false,
                site: b"core: core/mem/q_malloc.c: qm_shm_lock_init(1277)"
            }
        );
        assert!(matches!(got[8], Body::Checks { ok: true, .. }));
        assert_eq!(got[9], Body::FreeList);
        assert_eq!(got[10], Body::FreeList);
        assert_eq!(got[11], Body::FreeList);
        assert_eq!(got[12], Body::End);
        assert_eq!(
            got[13],
            Body::PoolHeader {
                pool: Pool::Pkg,
                summary: true,
                of_pid: Some(7240)
            }
        );
        assert_eq!(
            got[14],
            Body::SumsStart {
                allocator: Some(Allocator::QMalloc)
            }
        );
        assert_eq!(
            got[15],
            Body::SumRow {
                count: 2,
                size: 112,
                site: b"core: core/sr_module.c: fix_param(1144)"
            }
        );
        assert_eq!(got[16], Body::End);
        assert_eq!(got[17], Body::AllocDebug);
        assert_eq!(got[18], Body::AllocDebug);
        assert_eq!(got[19], Body::AllocDebug);
        assert_eq!(got[20], Body::OtherLog);
        assert!(matches!(
            got[21],
            Body::PoolHeader {
                pool: Pool::Pkg,
                summary: true,
                of_pid: None
            }
        ));
        let p = parse_line(REAL_56[6].as_bytes()).prefix;
        assert_eq!((p.process_no, p.pid), (Some(6), Some(7245)));
        assert_eq!(p.level, Some(&b"ALERT"[..]));
    }

    #[test]
    fn seed_3x_layout() {
        // From the seed's troubleshooting page (OpenSER / 3.x output).
        let lines = [
            "   0(17665) Memory status (shm):",
            "   0(17665) qm_status (0xb5a7e000):",
            "   0(17665)  heap size= 33554432",
            "   0(17665)  used= 1592952, used+overhead=1811564, free=31742868",
            "   0(17665)  max used (+overhead)= 1811564",
            "   0(17665) dumping all alloc'ed. fragments:",
            "   0(17665)       0. N  address=0xb5ab240c frag=0xb5ab23f4 size=4 used=1",
            "   0(17665)             alloc'd from mem/shm_mem.c: shm_mem_init_mallocs(199)",
            "   0(17665)         start check=f0f0f0f0, end check= c0c0c0c0, abcdefed",
            "   0(17665)       1. N  address=0xb5ab2440 frag=0xb5ab2428 size=4 used=1 ",
        ];
        let got: Vec<Body> = lines.iter().map(|l| body(l)).collect();
        assert!(matches!(
            got[0],
            Body::PoolHeader {
                pool: Pool::Shm,
                ..
            }
        ));
        assert!(matches!(
            got[1],
            Body::StatusStart {
                allocator: Some(Allocator::QMalloc)
            }
        ));
        assert_eq!(got[2], Body::HeapSize(33554432));
        assert!(matches!(got[3], Body::Used { used: 1592952, .. }));
        assert_eq!(got[4], Body::MaxUsed(1811564));
        assert_eq!(got[5], Body::FragmentsBegin);
        assert!(matches!(
            got[6],
            Body::Fragment {
                size: 4,
                free: false,
                ..
            }
        ));
        assert_eq!(
            got[7],
            Body::Site {
                freed: false,
                site: b"mem/shm_mem.c: shm_mem_init_mallocs(199)"
            }
        );
        assert!(matches!(got[8], Body::Checks { ok: true, .. }));
        assert!(matches!(got[9], Body::Fragment { size: 4, .. }));
        assert_eq!(parse_line(lines[0].as_bytes()).prefix.pid, Some(17665));
    }

    #[test]
    fn layout_4x_from_source() {
        // 4.x LOG_ prints "%2d(%d) %s: %s" fmt: level, then "qm_status: ", no function.
        let lines = [
            " 0(17665) DEBUG: qm_status: (0xb5a7e000):",
            " 0(17665) DEBUG: qm_status: heap size= 33554432",
            " 0(17665) DEBUG: qm_status:      0. N  address=0xb5ab240c frag=0xb5ab23f4 size=4 used=1",
            " 0(17665) DEBUG: qm_status:           alloc'd from <core>: mem/shm_mem.c: shm_mem_init_mallocs(199)",
            " 0(17665) DEBUG: qm_status:          start check=f0f0f0f0, end check= c0c0c0c0, abcdefed",
            " 0(17665) DEBUG: fm_status: fm_status (0xb5a7e000):",
            " 0(17665) DEBUG: fm_status:  heap size= 33554432",
            " 0(17665) DEBUG: fm_status: summarizing all alloc'ed. fragments:",
            " 0(17665) DEBUG: fm_status:  count=     3 size=        96 bytes from tm: t_hooks.c: insert_tmcb(103)",
            " 0(17665) DEBUG: fm_status: TOTAL:      3 free fragments = 1234 free bytes",
        ];
        let got: Vec<Body> = lines.iter().map(|l| body(l)).collect();
        assert!(matches!(
            got[0],
            Body::StatusStart {
                allocator: Some(Allocator::QMalloc)
            }
        ));
        assert_eq!(got[1], Body::HeapSize(33554432));
        assert!(matches!(got[2], Body::Fragment { size: 4, .. }));
        assert!(matches!(got[3], Body::Site { .. }));
        assert!(matches!(got[4], Body::Checks { ok: true, .. }));
        assert!(matches!(
            got[5],
            Body::StatusStart {
                allocator: Some(Allocator::FMalloc)
            }
        ));
        assert_eq!(got[6], Body::HeapSize(33554432));
        assert!(matches!(
            got[7],
            Body::SumsStart {
                allocator: Some(Allocator::FMalloc)
            }
        ));
        assert!(matches!(
            got[8],
            Body::SumRow {
                count: 3,
                size: 96,
                ..
            }
        ));
        assert_eq!(got[9], Body::FreeList);
    }

    #[test]
    fn syslog_and_journald_prefixes() {
        let cases = [
            ("Nov 25 22:09:01 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "Nov 25 22:09:01"),
            ("Nov  5 22:09:01 sip1 /usr/sbin/kamailio[17665]: qm_status: heap size= 33554432", Some(17665), "Nov  5 22:09:01"),
            ("2024-11-25T22:09:01+0000 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "2024-11-25T22:09:01+0000"),
            ("2024-11-25T22:09:01.123456+01:00 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "2024-11-25T22:09:01.123456+01:00"),
            ("Nov 25 22:09:01.123456 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "Nov 25 22:09:01.123456"),
            ("Nov 25 22:09:01 sip1 kamailio[99]:  6(7245) ALERT: qm_status: qm_status(): heap size= 33554432", Some(7245), "Nov 25 22:09:01"),
        ];
        for (line, pid, time) in cases {
            let l = parse_line(line.as_bytes());
            assert_eq!(l.body, Body::HeapSize(33554432), "{line}");
            assert_eq!(l.prefix.pid, pid, "{line}");
            assert_eq!(l.prefix.time, Some(time.as_bytes()), "{line}");
        }
    }

    #[test]
    fn uniq_counts_line_numbers_crlf_and_colour() {
        let l = parse_line(b"      3  1(7240) ALERT: qm_status: qm_status():           alloc'd from tm: t_hooks.c: init_tmcb_lists(52)");
        assert_eq!(l.prefix.repeat, 3);
        assert_eq!(l.prefix.pid, Some(7240));
        assert!(matches!(l.body, Body::Site { .. }));
        let l = parse_line(b"1234567890 qm_status: heap size= 1");
        assert_eq!(l.prefix.repeat, 1234567890);
        for numbered in [
            "12.  1(7240) ALERT: qm_status: qm_status(): heap size= 5",
            "12: 1(7240) ALERT: qm_status: qm_status(): heap size= 5",
            "12 |  1(7240) ALERT: qm_status: qm_status(): heap size= 5",
            "12\t 1(7240) ALERT: qm_status: qm_status(): heap size= 5",
        ] {
            let l = parse_line(numbered.as_bytes());
            assert_eq!(l.body, Body::HeapSize(5), "{numbered}");
            assert_eq!(l.prefix.pid, Some(7240), "{numbered}");
            assert_eq!(l.prefix.repeat, 1);
        }
        assert_eq!(
            body(" 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------\r"),
            Body::End
        );
        assert_eq!(
            body("\x1b[31;1m 1(7240) ALERT: qm_status: qm_status(): heap size= 7\x1b[0m"),
            Body::HeapSize(7)
        );
        assert_eq!(
            body("\x1b[31;1m 1(7240) ALERT: qm_status: qm_status():   alloc'd from tm: a.c: f(1)\x1b[0m"),
            Body::Site {
                freed: false,
                site: b"tm: a.c: f(1)"
            }
        );
        // a prefix-less fragment line is not a numbered line
        assert!(matches!(
            body("   12. N  address=0x1 frag=0x2 size=64 used=1"),
            Body::Fragment { size: 64, .. }
        ));
    }

    #[test]
    fn corruption_and_checks() {
        assert!(matches!(
            body(" 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= 41414141, abcdefed"),
            Body::Checks { ok: false, .. }
        ));
        assert!(matches!(
            body(" 6(7245) ALERT: qm_status: qm_status():          * end overwritten(41414141, abcdefed)!"),
            Body::Overwritten { .. }
        ));
        assert!(matches!(
            body(" 6(7245) ALERT: qm_status: qm_status():          * beginning overwritten(41414141)!"),
            Body::Overwritten { .. }
        ));
        assert!(matches!(
            body(" 1(7240) CRITICAL: <core> [core/mem/q_malloc.c:133]: qm_debug_check_frag(): BUG: qm: fragm. 0x7f52 (address 0x7f53) end overwritten (41414141, abcdefed)! Memory allocator was called from tm: t_lookup.c:1234. Fragment marked by tm: t_hooks.c:52. Exec from core/mem/q_malloc.c:511."),
            Body::Corruption { .. }
        ));
        assert!(matches!(
            body(" 1(7240) CRITICAL: <core> [core/mem/q_malloc.c:514]: qm_free(): BUG: freeing already freed pointer (0x7f52), called from tm: t_funcs.c: free_cell(100), first free tm: t_funcs.c: free_cell(100) - aborting"),
            Body::Corruption { .. }
        ));
        assert!(matches!(
            body(" 0(17665) BUG: qm_*: fragm. 0xb5ab23f4 (address 0xb5ab240c) beginning overwritten(41414141)!"),
            Body::Corruption { .. }
        ));
    }

    #[test]
    fn a_checks_line_cut_short_is_not_damage() {
        assert!(matches!(
            body(" 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0"),
            Body::Checks { ok: true, .. }
        ));
        assert!(matches!(
            body(" 6(7245) ALERT: qm_status: qm_status():          start check=f0f0f0f0, end check= c0c0c0c0, abcdefee"),
            Body::Checks { ok: false, .. }
        ));
    }

    #[test]
    fn f_malloc_56_and_60_rpc_file() {
        // fm_sums in 5.x prints under the "fm_status: " prefix with its own function name.
        let l = body(" 1(7240) ALERT: fm_status: fm_sums():  count=     4 size=       640 bytes from htable: ht_api.c: ht_cell_new(268)");
        assert!(matches!(
            l,
            Body::SumRow {
                count: 4,
                size: 640,
                ..
            }
        ));
        assert!(matches!(
            body(" 1(7240) ALERT: fm_status: fm_status(): fm_status (0x7f5288951000):"),
            Body::StatusStart {
                allocator: Some(Allocator::FMalloc)
            }
        ));
        assert!(matches!(
            body(" 1(7240) ALERT: fm_status: fm_sums(): summarizing all alloc'ed. fragments:"),
            Body::SumsStart {
                allocator: Some(Allocator::FMalloc)
            }
        ));
        // 6.0 qm_status_filter (RPC to a file): no log prefix at all
        assert!(matches!(
            body("block address: 0x7f5288951000"),
            Body::StatusStart { allocator: None }
        ));
        assert_eq!(body("--- allocated fragments:"), Body::FragmentsBegin);
        assert!(matches!(
            body("          alloc'd from core: core/mem/q_malloc.c:1277 / qm_shm_lock_init()"),
            Body::Site { .. }
        ));
    }

    #[test]
    fn non_dump_lines() {
        assert_eq!(body(""), Body::Blank);
        assert_eq!(body("   \r"), Body::Blank);
        assert_eq!(body("Listening on "), Body::Unreadable);
        assert_eq!(body("\u{0}\u{1}garbage\u{7f}"), Body::Unreadable);
        assert_eq!(
            body(" 0(7238) INFO: <core> [main.c:3055]: main(): processes (at least): 8 - shm size: 33554432 - pkg size: 4194304"),
            Body::OtherLog
        );
        // a "count=" that is not a summary row
        assert_eq!(
            body(" 0(1) INFO: foo [x.c:1]: count= 5 apples"),
            Body::OtherLog
        );
    }

    #[test]
    fn find_byte_agrees_with_position() {
        let hay = b"0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1\x80\x00 \xff";
        for start in 0..hay.len() {
            for byte in [b' ', b'=', b'x', 0x80, 0x00, 0xff, 0x01, b'q'] {
                let h = &hay[start..];
                assert_eq!(
                    find_byte(h, byte),
                    h.iter().position(|&b| b == byte),
                    "{byte} from {start}"
                );
            }
        }
    }

    #[test]
    fn sites_of_every_generation() {
        let s = parse_site(b"core: core/mem/q_malloc.c: qm_shm_lock_init(1277)");
        assert_eq!(s.module.as_deref(), Some("core"));
        assert_eq!(s.file, "core/mem/q_malloc.c");
        assert_eq!(s.function, "qm_shm_lock_init");
        assert_eq!(s.line, Some(1277));
        let s = parse_site(b"<core>: mem/shm_mem.c: shm_mem_init_mallocs(199)");
        assert_eq!(s.module.as_deref(), Some("core"));
        assert_eq!(s.file, "mem/shm_mem.c");
        let s = parse_site(b"timer.c: init_timer(52)");
        assert_eq!(s.module, None);
        assert_eq!(
            (s.file.as_str(), s.function.as_str(), s.line),
            ("timer.c", "init_timer", Some(52))
        );
        let s = parse_site(b"tm: t_hooks.c: init_tmcb_lists(52)");
        assert_eq!(s.module.as_deref(), Some("tm"));
        let s = parse_site(b"core: core/mem/q_malloc.c:1277 / qm_shm_lock_init()");
        assert_eq!(
            (
                s.module.as_deref(),
                s.file.as_str(),
                s.function.as_str(),
                s.line
            ),
            (
                Some("core"),
                "core/mem/q_malloc.c",
                "qm_shm_lock_init",
                Some(1277)
            )
        );
        let s = parse_site(b"modules/tm/t_hooks.c: f(3)");
        assert_eq!(s.module.as_deref(), Some("tm"));
        let s = parse_site(b"weird");
        assert_eq!(s.function, "weird");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let l = parse_line(&bytes);
            if let Body::Site { site, .. } | Body::SumRow { site, .. } = l.body {
                let _ = parse_site(site);
            }
        }

        #[test]
        fn never_panics_on_mutated_real_lines(
            idx in 0usize..REAL_56.len(),
            cut in 0usize..200,
            pos in 0usize..200,
            insert in "[ -~\\t\\r]{0,12}",
        ) {
            let real = REAL_56[idx].as_bytes();
            let cut = cut.min(real.len());
            let mut v = real[..cut].to_vec();
            let pos = pos.min(v.len());
            v.splice(pos..pos, insert.bytes());
            let l = parse_line(&v);
            if let Body::Site { site, .. } | Body::SumRow { site, .. } = l.body {
                let _ = parse_site(site);
            }
        }

        #[test]
        fn cached_parser_gives_what_parse_line_gives(
            lines in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::prelude::Just(" 6(7245) ALERT: qm_status: ".to_string()),
                        proptest::prelude::Just(" 6(7245) ALERT: qm_status: qm_status(): ".to_string()),
                        proptest::prelude::Just(" 6(7245) ALERT: qm_sums: qm_sums(): ".to_string()),
                        proptest::prelude::Just(" 0(17665) ".to_string()),
                        proptest::prelude::Just(" 0(17665) BUG: ".to_string()),
                        proptest::prelude::Just("Nov 25 22:09:01 sip1 kamailio[7245]: ALERT: qm_status: qm_status(): ".to_string()),
                        proptest::prelude::Just("      3  1(7240) ALERT: fm_status: ".to_string()),
                        proptest::prelude::Just(" 1(7240) NOTICE: <core> [core/mem/q_malloc.c:373]: ".to_string()),
                        proptest::prelude::Just(" 1(7240) NOTICE: <core> [main.c:869]: sig_usr(): ".to_string()),
                        "[ -~]{0,30}",
                    ],
                    proptest::prop_oneof![
                        proptest::prelude::Just("qm_status(): (0x7f5288951000):".to_string()),
                        proptest::prelude::Just("      0. N  address=0x7f528898a6c8 frag=0x7f528898a690 size=8 used=1".to_string()),
                        proptest::prelude::Just("          alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)".to_string()),
                        proptest::prelude::Just("         start check=f0f0f0f0, end check= c0c0c0c0, abcdefed".to_string()),
                        proptest::prelude::Just("qm_malloc(): qm_malloc(0x7f528abb0010, 24) called from core: core/cfg.y: yyparse(2068)".to_string()),
                        proptest::prelude::Just("BUG: qm: fragm. 0x1 (address 0x2) end overwritten(1, 2)!".to_string()),
                        proptest::prelude::Just(" count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)".to_string()),
                        proptest::prelude::Just("ALERT: qm_status: heap size= 5".to_string()),
                        "[ -~]{0,40}",
                    ],
                ),
                1..30,
            )
        ) {
            let mut p = LineParser::new();
            for (a, b) in &lines {
                let line = format!("{a}{b}");
                let fresh = parse_line(line.as_bytes());
                let cached = p.parse(line.as_bytes());
                proptest::prop_assert_eq!(fresh, cached, "line {:?}", line);
            }
        }

        #[test]
        fn sites_never_panic(s in "\\PC{0,80}") {
            let _ = parse_site(s.as_bytes());
        }
    }
}
