//! Everything before a log line's message: a Markdown quote (`> `),
//! `uniq -c` and pastebin numbers, ANSI colour (also pasted as caret text
//! `^[[0;31m`), a journald JSON export line (`{"MESSAGE":"…","_PID":"…"}`,
//! `json-seq`'s 0x1E in front, `json-pretty`'s `\t"MESSAGE" : "…",` line),
//! syslog / journald (`TIME host tag[PID]: `, `[ 12.345678] host tag[PID]: `,
//! or without the time: `host tag[PID]: `, `tag[PID]: `), Kamailio's stderr
//! ` N(PID) `, the level, the allocator's word (`qm_status: `) or a source
//! location (`<core> [file:line]: `), and 5.x's `function(): `.
//!
//! Pure: bytes in, a [`Prefix`] and the rest out. Never panics. Knows
//! nothing about what a message means (that is [`super::payload`]).

use super::bytes::{digits, find, is_digit, skip_blanks};
use crate::mem::Allocator;

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
    /// True when the line carried a `uniq -c` count: lines of several dumps
    /// and processes may have been merged into it, so its pool, process and
    /// order are not in the input.
    pub uniq: bool,
}

/// Who wrote a line: the `uniq -c` / pastebin number, colour, the syslog or
/// journald header (`TIME host tag[PID]: `) and Kamailio's stderr ` N(PID) `
/// are read into a [`Prefix`]; the rest (level and message) is returned.
/// A trailing `\r` and colour reset are dropped. `kmemdbg dump` (deciding
/// which lines belong to a dump) and `analyze` (reading them) both read
/// lines through this, so they never disagree on who wrote one.
pub fn split_writer(line: &[u8]) -> (Prefix<'_>, &[u8]) {
    let mut prefix = Prefix {
        repeat: 1,
        ..Prefix::default()
    };
    let rest = strip_writer(strip_suffixes(line), &mut prefix);
    (prefix, rest)
}

/// Where a message was logged from: `module [file:line]: function(): `.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Location<'a> {
    /// `usrloc`, `<core>`, `<script>`.
    pub module: Option<&'a [u8]>,
    /// `ucontact.c`, `core/mem/q_malloc.c`.
    pub file: Option<&'a [u8]>,
    /// `new_ucontact` (5.x and later print it).
    pub function: Option<&'a [u8]>,
}

/// The whole prefix of a line: who wrote it ([`split_writer`]), the level,
/// the location and the function; returns the message. For readers of
/// plain log messages (`kmemdbg scan`); a dump's lines go through
/// [`super::parse_line`].
pub fn split_message(line: &[u8]) -> (Prefix<'_>, Location<'_>, &[u8]) {
    let (mut prefix, rest) = split_writer(line);
    let rest = strip_level(rest, &mut prefix);
    let mut location = Location::default();
    let (mut after, file, found) = strip_source(rest, &mut prefix);
    if found && file.is_some() {
        location.file = file;
        location.module = rest.iter().position(|&b| b == b' ').map(|sp| &rest[..sp]);
    } else if let Some(close) = script_tag(rest) {
        // xlog: `<script>: text` (a name in angle brackets, no location)
        location.module = Some(&rest[..close + 1]);
        after = &rest[close + 3..];
    }
    let message = strip_function(after);
    if message.len() < after.len() {
        let name = &after[..after.len() - message.len()];
        location.function = name.strip_suffix(b"(): ").or(name.strip_suffix(b"():"));
    }
    (prefix, location, message)
}

/// `<name>: ` at the start of `s` (xlog's `<script>: `): the index of `>`.
fn script_tag(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'<') {
        return None;
    }
    let close = s.iter().take(40).position(|&b| b == b'>')?;
    let name = &s[1..close];
    (!name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        && s[close + 1..].starts_with(b": "))
    .then_some(close)
}

/// A trailing `\r` (CRLF files) and colour reset (`log_color=yes`).
pub(super) fn strip_suffixes(line: &[u8]) -> &[u8] {
    let mut s = line;
    if let [rest @ .., b'\r'] = s {
        s = rest;
    }
    if let Some(rest) = s.strip_suffix(b"\x1b[0m") {
        s = rest;
    }
    s
}

/// The stages of [`split_writer`], outermost first.
pub(super) fn strip_writer<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
    let mut s = strip_quote(s);
    if let Some(msg) = strip_journal_json(s, prefix) {
        return msg;
    }
    s = strip_number(s, prefix);
    s = strip_ansi(s);
    s = strip_syslog(s, prefix);
    s = strip_ansi(s);
    strip_stderr(s, prefix)
}

/// A Markdown quote (`> `, `>> `, `> > `) in front of a pasted line.
pub(super) fn strip_quote(mut s: &[u8]) -> &[u8] {
    while let [b'>', rest @ ..] = s {
        s = rest.strip_prefix(b" ").unwrap_or(rest);
    }
    s
}

/// The value of `"KEY":"value"` in a JSON line when it holds no escapes
/// (or, with `multi_line`, none but the blank ones `\n`, `\t`, `\r`: a
/// multi-line message such as q_malloc's `hash= ..\n\t\t bucket size: ..`,
/// read as one line like rsyslog's `#012#011`; trailing `\n`s dropped).
fn json_field<'a>(s: &'a [u8], key: &[u8], multi_line: bool) -> Option<&'a [u8]> {
    let at = find(s, key)?;
    let r = &s[at + key.len()..];
    let r = skip_blanks(r).strip_prefix(b":")?;
    let r = skip_blanks(r).strip_prefix(b"\"")?;
    let mut i = 0;
    loop {
        match r.get(i)? {
            b'"' => break,
            b'\\' if multi_line && matches!(r.get(i + 1), Some(b'n' | b't' | b'r')) => i += 2,
            b'\\' => return None,
            _ => i += 1,
        }
    }
    let mut v = &r[..i];
    while let Some(rest) = v.strip_suffix(b"\\n") {
        v = rest;
    }
    Some(v)
}

/// A line of `journalctl -o json` or `-o json-seq` (a record separator
/// 0x1E in front): the message, with the PID (`_PID`, else `SYSLOG_PID`)
/// and the time (`__REALTIME_TIMESTAMP`, microseconds). A message with
/// other JSON escapes in it (`\t`, `\"`) or sent as a byte array (not
/// UTF-8) cannot be read in place and is left as it is (then it is not
/// understood, and counted). A multi-line message is read as one line.
///
/// `journalctl -o json-pretty` spreads one record over lines: its
/// `\t"MESSAGE" : "…",` line gives the message, with no PID and no time
/// (they sit on other lines of the record: unknown, never guessed); its
/// other lines (`{`, `}`, `\t"_PID" : "7245",`) are journal lines without
/// a message.
pub(super) fn strip_journal_json<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> Option<&'a [u8]> {
    if let Some(field) = s.strip_prefix(b"\t\"") {
        let n = field
            .iter()
            .take_while(|&&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            .count();
        if n == 0 || !field[n..].starts_with(b"\" : ") {
            return None;
        }
        prefix.log_line = true;
        if &field[..n] == b"MESSAGE" {
            return json_field(s, b"\"MESSAGE\"", true).or(Some(b""));
        }
        return Some(b"");
    }
    if s == b"{" || s == b"}" {
        prefix.log_line = true;
        return Some(b"");
    }
    let t = skip_blanks(s);
    let t = t.strip_prefix(b"\x1e").unwrap_or(t);
    if !t.starts_with(b"{\"") {
        return None;
    }
    let msg = json_field(t, b"\"MESSAGE\"", true)?;
    let pid = json_field(t, b"\"_PID\"", false).or_else(|| json_field(t, b"\"SYSLOG_PID\"", false));
    if let Some(p) = pid {
        let (v, n) = digits(p);
        if n > 0 && n == p.len() {
            prefix.pid = u32::try_from(v).ok();
        }
    }
    prefix.time = json_field(t, b"\"__REALTIME_TIMESTAMP\"", false);
    prefix.log_line = true;
    Some(msg)
}

/// `uniq -c` counts (`%7d ` then the line) and pastebin line numbers.
pub(super) fn strip_number<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
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
        prefix.uniq = true;
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
            // `1796587213.064676` (journald `short-unix`) is a time, not a line number.
            if sep == b'.' && rest.first().is_some_and(|&b| is_digit(b)) {
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

/// `N  address=` (or with its blanks collapsed to one, as some pastes do).
pub(super) fn is_fragment_flag(s: &[u8]) -> bool {
    matches!(s, [b'N' | b'A' | b'a', b' ', ..]) && skip_blanks(&s[1..]).starts_with(b"address=")
}

/// Colour escapes (`ESC [ ... m`, or `^[[ ... m` when a terminal's output
/// was pasted as text) at the start of a line.
pub(super) fn strip_ansi(mut s: &[u8]) -> &[u8] {
    loop {
        let rest = match s {
            [0x1b, b'[', rest @ ..] => rest,
            [b'^', b'[', b'[', rest @ ..] => rest,
            _ => break,
        };
        match rest.iter().position(|&b| b == b'm') {
            Some(i) if i < 16 && rest[..i].iter().all(|&b| is_digit(b) || b == b';') => {
                s = &rest[i + 1..]
            }
            _ => break,
        }
    }
    s
}

pub(super) const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Length of `HH:MM:SS[.frac]` at the start of `s`, or 0.
pub(super) fn clock_len(s: &[u8]) -> usize {
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
pub(super) fn timestamp_len(s: &[u8]) -> usize {
    let Some(&first) = s.first() else {
        return 0;
    };
    // journald `short-full`: "Sun 2026-12-06 20:00:13 UTC" (weekday, date, zone)
    if s.len() > 4 && s[..3].iter().all(u8::is_ascii_alphabetic) && s[3] == b' ' {
        if let Some(n) = iso_len(&s[4..]).filter(|&n| n > 0) {
            return 4 + n + zone_len(&s[4 + n..]);
        }
    }
    // journald `short-unix`: "1796587213.064676" (seconds since 1970, microseconds)
    let (_, n) = digits(s);
    if (9..=11).contains(&n) && s.get(n) == Some(&b'.') {
        let (_, f) = digits(&s[n + 1..]);
        if (1..=9).contains(&f) {
            return n + 1 + f;
        }
    }
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

/// `YYYY-MM-DD HH:MM:SS[.frac]` (a blank between date and clock, no zone):
/// its length, or `None`.
fn iso_len(s: &[u8]) -> Option<usize> {
    if s.get(10) != Some(&b' ') {
        return None;
    }
    let n = timestamp_len(s);
    (n >= 19 && s[0].is_ascii_digit()).then_some(n)
}

/// ` UTC`, ` CEST` or ` +03` after a `short-full` clock: its length, or 0.
fn zone_len(s: &[u8]) -> usize {
    let Some(z) = s.strip_prefix(b" ") else {
        return 0;
    };
    let n = z.iter().take_while(|b| b.is_ascii_uppercase()).count();
    let m = match z.first() {
        Some(b'+' | b'-') => 1 + z[1..].iter().take_while(|b| b.is_ascii_digit()).count(),
        _ => 0,
    };
    let len = n.max(m);
    if (2..=6).contains(&len) && z.get(len) == Some(&b' ') {
        1 + len
    } else {
        0
    }
}

/// `[  1234.567890] ` (journald `short-monotonic`): length, or 0.
pub(super) fn monotonic_len(s: &[u8]) -> usize {
    let Some(rest) = s.strip_prefix(b"[") else {
        return 0;
    };
    let blanks = rest.iter().take_while(|&&b| b == b' ').count();
    let (_, n) = digits(&rest[blanks..]);
    let r = &rest[blanks + n..];
    if n == 0 || r.first() != Some(&b'.') {
        return 0;
    }
    let (_, f) = digits(&r[1..]);
    if f == 0 || r.get(1 + f) != Some(&b']') {
        return 0;
    }
    1 + blanks + n + 1 + f + 1
}

/// `host tag[PID]: ` or `tag[PID]: ` with no time in front (a custom
/// `log_name`, a paste cut by `cut`, `uniq -c` of such lines): only with a
/// numeric `[PID]`, so that no message is taken for a tag.
pub(super) fn strip_tag_only<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
    let t = skip_blanks(s);
    let limit = t.len().min(256);
    let Some(c) = find(&t[..limit], b"]:") else {
        return s;
    };
    let head = &t[..=c];
    // one or two words: [host ]tag[PID]
    let words = head.split(|&b| b == b' ').filter(|w| !w.is_empty()).count();
    if words == 0 || words > 2 || head.starts_with(b" ") {
        return s;
    }
    let tag = head.rsplit(|&b| b == b' ').next().unwrap_or(head);
    let Some(open) = tag.iter().rposition(|&b| b == b'[') else {
        return s;
    };
    let name = &tag[..open];
    let (pid, n) = digits(&tag[open + 1..]);
    if name.is_empty()
        || n == 0
        || open + 1 + n != tag.len() - 1
        || !name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'))
    {
        return s;
    }
    let after = &t[c + 2..];
    if !(after.is_empty() || after[0] == b' ') {
        return s;
    }
    prefix.pid = u32::try_from(pid).ok();
    prefix.log_line = true;
    after.strip_prefix(b" ").unwrap_or(after)
}

/// `TIME host tag[PID]: ` (syslog, journald). The tag may be a path.
pub(super) fn strip_syslog<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
    let mut t = timestamp_len(s);
    if t == 0 {
        t = monotonic_len(s);
    }
    if t == 0 {
        return strip_tag_only(s, prefix);
    }
    if s.get(t) != Some(&b' ') {
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
    // the second line of a multi-line message, as some syslog daemons write
    // it: the time and host, then blanks where the tag would be
    // (`Apr  7 15:21:58 PROXY01                  bucket size: ..`). No writer
    // is named: like a bare continuation line, it continues the last one.
    if rest.first() == Some(&b' ') {
        prefix.time = Some(time);
        return rest;
    }
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
pub(super) fn strip_stderr<'a>(s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
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
pub(super) fn strip_level<'a>(mut s: &'a [u8], prefix: &mut Prefix<'a>) -> &'a [u8] {
    // an empty level after a syslog tag (`kamailio[1]: : fm_status: ...`)
    if prefix.log_line {
        if let Some(rest) = s.strip_prefix(b": ") {
            s = rest;
        }
    }
    // 4.x puts the `log_prefix` (`{1 1 OPTIONS call-id} `) before the level
    if prefix.log_line && s.first() == Some(&b'{') {
        if let Some(close) = find(&s[..s.len().min(512)], b"} ") {
            let rest = &s[close + 2..];
            let n = rest.iter().take_while(|b| b.is_ascii_uppercase()).count();
            if (3..=10).contains(&n) && rest[n..].starts_with(b": ") {
                s = rest;
            }
        }
    }
    let n = s.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if (3..=10).contains(&n) && s.get(n) == Some(&b':') && s.get(n + 1) == Some(&b' ') {
        // "BUG: qm_*: ..." in 3.x/4.x is a message, not a level: keep it.
        if &s[..n] == b"BUG" && !prefix.log_line {
            return s;
        }
        // f_malloc's "TOTAL: .. free fragments" with no allocator word in
        // front (3.x, OpenSER and OpenSIPS) is the message, not its level
        if &s[..n] == b"TOTAL" {
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
pub(super) fn strip_source<'a>(
    s: &'a [u8],
    prefix: &mut Prefix<'a>,
) -> (&'a [u8], Option<&'a [u8]>, bool) {
    for (word, alloc) in [
        (&b"qm_status: "[..], Allocator::Qm),
        (b"qm_sums: ", Allocator::Qm),
        (b"fm_status: ", Allocator::Fm),
        (b"fm_sums: ", Allocator::Fm),
    ] {
        if let Some(rest) = s.strip_prefix(word) {
            prefix.allocator = Some(alloc);
            prefix.log_line = true;
            return (rest, None, true);
        }
    }
    // tlsf (`tlsf_status: `, `tlsf_sums: `, 5.x/6.x): a dump line, but no
    // allocator this crate names; the allocator stays unknown, never guessed.
    for word in [&b"tlsf_status: "[..], b"tlsf_sums: "] {
        if let Some(rest) = s.strip_prefix(word) {
            prefix.log_line = true;
            return (rest, None, true);
        }
    }
    // location: "<core> [file:line]: " or "module [file:line]: "
    let limit = s.len().min(200);
    // or the location alone, its module cut away ("[mem/q_malloc.c:149]: ")
    if s.first() == Some(&b'[') {
        if let Some(close) = find_close(&s[1..limit]) {
            let loc = &s[1..1 + close];
            if let Some(c) = loc.iter().rposition(|&b| b == b':') {
                let (file, line) = (&loc[..c], &loc[c + 1..]);
                let source = file.ends_with(b".c") || file.ends_with(b".h");
                if source
                    && !file.contains(&b' ')
                    && !line.is_empty()
                    && line.iter().all(u8::is_ascii_digit)
                {
                    prefix.log_line = true;
                    return (&s[1 + close + 3..], Some(file), true);
                }
            }
        }
    }
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
pub(super) fn find_close(s: &[u8]) -> Option<usize> {
    find(s, b"]: ")
}

/// `name(): ` (the function name 5.x puts before every message).
pub(super) fn strip_function(s: &[u8]) -> &[u8] {
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

/// A pasted line without its pastebin line number (`  12. `, `12: `,
/// `12 | `, `12<TAB>`); `None` when it has none. A `uniq -c` count is not
/// a line number. For readers of pasted RPC answers (`memrpc`), which see
/// the lines the log reader could not read.
pub fn strip_line_number(line: &[u8]) -> Option<&[u8]> {
    let mut prefix = Prefix::default();
    let rest = strip_number(line, &mut prefix);
    (!prefix.uniq && rest.len() < line.len()).then_some(rest)
}
