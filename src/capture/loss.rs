//! Lines the log dropped: a dump with lost lines is LOST, not slow.
//!
//! Three kinds of evidence, all read from text:
//! - journald's `Suppressed N messages from UNIT` (message id
//!   [`JOURNALD_DROPPED_MESSAGE_ID`], field `N_DROPPED`), which journald logs
//!   only when the unit's next line of the same priority group arrives after
//!   the rate-limit interval;
//! - rsyslog's `imuxsock lost N messages from pid P due to rate-limiting`,
//!   `imuxsock[pid: P, ...]: N messages lost due to rate-limiting` and
//!   `imjournal: N messages lost due to rate-limiting` (and the `begin(s) to
//!   drop` line that announces them);
//! - gaps in a status dump's fragment numbers (`   12. N  address=...`): the
//!   allocator numbers every fragment, used or free, so the numbers missing
//!   beyond the free fragments are fragments whose lines never arrived. Each
//!   process's status (shm, or its own pkg) restarts the numbers at 0, so the
//!   numbers are kept per process ([`Gaps`]): dumps of several processes
//!   interleaved in one log are no gaps. The free fragments taken out are
//!   the most of the pool's counters and the dump's own free-list stats
//!   (`fragments no.: N`), so the count is a lower bound, never a false gap.
//!
//! Pure: lines in, counts out; never panics (fuzzed below).

use serde::Serialize;

/// `SD_MESSAGE_JOURNAL_DROPPED`: journald's "Suppressed N messages" entries.
pub const JOURNALD_DROPPED_MESSAGE_ID: &str = "a596d6fe7bfa4994828e72309e95d61e";

/// One report of dropped lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drop {
    /// `journald`, `rsyslog imuxsock`, `rsyslog imjournal`, `rsyslog`.
    pub by: String,
    /// Lines dropped; `None` when only the start of dropping was announced.
    pub lines: Option<u64>,
    /// The unit (journald) or PID (imuxsock) the drop was about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
    /// The line as logged.
    pub text: String,
}

/// Reads a drop report out of one log line (any prefix), or `None`.
pub fn drop_in_line(line: &str) -> Option<Drop> {
    if let Some(at) = line.find("Suppressed ") {
        let rest = &line[at + "Suppressed ".len()..];
        let (n, rest) = number(rest)?;
        let unit = rest.strip_prefix(" messages from ")?.trim();
        return Some(Drop {
            by: "journald".into(),
            lines: Some(n),
            of: Some(unit.to_string()),
            text: line[at..].trim_end().to_string(),
        });
    }
    if !line.contains("due to rate-limiting") {
        return None;
    }
    let by = if line.contains("imuxsock") {
        "rsyslog imuxsock"
    } else if line.contains("imjournal") {
        "rsyslog imjournal"
    } else {
        "rsyslog"
    };
    let pid = line.find("pid").and_then(|at| {
        let rest = line[at + 3..].trim_start_matches([':', ' ']);
        number(rest).map(|(p, _)| p.to_string())
    });
    let start = line
        .find("imuxsock")
        .or_else(|| line.find("imjournal"))
        .unwrap_or(0);
    let text = line[start..].trim_end().to_string();
    // `imuxsock lost 141 messages from pid 55082 due to rate-limiting`
    if let Some(at) = line.find(" lost ") {
        if let Some((n, rest)) = number(&line[at + 6..]) {
            if rest.starts_with(" messages") {
                return Some(Drop {
                    by: by.into(),
                    lines: Some(n),
                    of: pid,
                    text,
                });
            }
        }
    }
    // `...: 236 messages lost due to rate-limiting`
    if let Some(at) = line.find(" messages lost due to rate-limiting") {
        let head = &line[..at];
        let digits = head.bytes().rev().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            if let Ok(n) = head[head.len() - digits..].parse() {
                return Some(Drop {
                    by: by.into(),
                    lines: Some(n),
                    of: pid,
                    text,
                });
            }
        }
    }
    // `begins to drop` / `begin to drop`: dropping started, count comes later.
    line.contains("to drop messages").then(|| Drop {
        by: by.into(),
        lines: None,
        of: pid,
        text,
    })
}

/// Reads journald's drop entries out of `journalctl -o json` lines
/// (`MESSAGE_ID` [`JOURNALD_DROPPED_MESSAGE_ID`], count in `N_DROPPED`), for `unit`.
pub fn journald_drops_json(json_lines: &str, unit: &str) -> Vec<Drop> {
    let unit_full = unit_name(unit);
    json_lines
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l.trim()).ok()?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            if field("MESSAGE_ID")?.as_str() != JOURNALD_DROPPED_MESSAGE_ID {
                return None;
            }
            let message = field("MESSAGE").unwrap_or_default();
            let of = field("OBJECT_SYSTEMD_UNIT")
                .or_else(|| drop_in_line(&message).and_then(|d| d.of))?;
            if of != unit_full {
                return None;
            }
            let lines = field("N_DROPPED")
                .and_then(|n| n.parse().ok())
                .or_else(|| drop_in_line(&message).and_then(|d| d.lines));
            Some(Drop {
                by: "journald".into(),
                lines,
                of: Some(of),
                text: message,
            })
        })
        .collect()
}

/// `kamailio` -> `kamailio.service`; names with a unit suffix stay.
pub fn unit_name(unit: &str) -> String {
    if unit.contains('.') {
        unit.to_string()
    } else {
        format!("{unit}.service")
    }
}

fn number(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// The fragment numbers of a status dump, to find holes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Numbering {
    /// Fragment lines seen (`N  address=`).
    pub listed: u64,
    /// Highest fragment number seen, plus one (`None`: no fragment line).
    pub span: Option<u64>,
    /// Free fragments the dump's own free-list stats count (`fragments no.: N`).
    pub free_listed: u64,
}

impl Numbering {
    /// Feeds one line; counts it when it is a status fragment line.
    pub fn feed(&mut self, line: &str) {
        if let Some(i) = fragment_number(line) {
            self.listed += 1;
            let next = i.saturating_add(1);
            self.span = Some(self.span.map_or(next, |s| s.max(next)));
        } else if let Some(n) = free_list_count(line) {
            self.free_listed = self.free_listed.saturating_add(n);
        }
    }

    /// Fragments inside the numbered range whose lines are missing, beyond
    /// `free` free fragments (which a status of used fragments skips) or
    /// the dump's own free-list count, whichever is larger.
    pub fn holes(&self, free: u64) -> u64 {
        let free = free.max(self.free_listed);
        self.span
            .map_or(0, |s| s.saturating_sub(self.listed).saturating_sub(free))
    }
}

/// `hash=  72. fragments no.:     1, unused:     0` -> 1 (q_malloc's free-list stats).
pub fn free_list_count(line: &str) -> Option<u64> {
    let at = line.find("fragments no.:")?;
    number(line[at + "fragments no.:".len()..].trim_start()).map(|(n, _)| n)
}

/// Gaps in the fragment numbers of every q_malloc status in a log, one
/// numbering per process: a status starts at `dumping all alloc'ed.
/// fragments` and ends at its `-----` line; a process's next status starts
/// a new numbering.
#[derive(Debug, Default)]
pub struct Gaps {
    open: std::collections::HashMap<u32, Numbering>,
    /// `(pid, missing fragments)` of each status with gaps, in the order they ended.
    pub found: Vec<(u32, u64)>,
}

impl Gaps {
    /// Feeds one message (the text after the writer's prefix) of process `pid`.
    pub fn feed(&mut self, pid: u32, message: &str) {
        if !message.contains("qm_status") {
            return;
        }
        if message.contains("dumping all alloc'ed. fragments") {
            self.close(pid);
            self.open.insert(pid, Numbering::default());
        } else if message
            .trim_end()
            .ends_with("-----------------------------")
        {
            self.close(pid);
        } else if let Some(n) = self.open.get_mut(&pid) {
            n.feed(message);
        }
    }

    fn close(&mut self, pid: u32) {
        if let Some(n) = self.open.remove(&pid) {
            let holes = n.holes(0);
            if holes > 0 {
                self.found.push((pid, holes));
            }
        }
    }

    /// Ends every status still open (its end marker never came).
    pub fn finish(&mut self) {
        let mut pids: Vec<u32> = self.open.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            self.close(pid);
        }
    }

    /// Missing fragments over every status.
    pub fn missing(&self) -> u64 {
        self.found.iter().map(|(_, n)| n).sum()
    }
}

/// `   12. N  address=0x... frag=0x... size=8 used=1` -> 12 (after any prefix).
pub fn fragment_number(line: &str) -> Option<u64> {
    let at = line.find(" address=")?;
    let head = line[..at].trim_end();
    // `12. N` or `12. A`
    let head = head
        .strip_suffix(" N")
        .or_else(|| head.strip_suffix(" A"))?;
    let head = head.trim_end().strip_suffix('.')?;
    let digits = head.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    head[head.len() - digits..].parse().ok()
}

/// Everything known about lines a dump lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Loss {
    /// Lines the log says it dropped (sum of the reports with a count).
    pub reported_lines: u64,
    /// Fragments missing inside the dump's numbering (3 lines each).
    pub missing_fragments: u64,
    pub reports: Vec<Drop>,
    /// `(pid, missing fragments)` of each status with gaps, when read from a file.
    #[serde(skip)]
    pub gaps_by_pid: Vec<(u32, u64)>,
}

impl Loss {
    pub fn any(&self) -> bool {
        self.reported_lines > 0 || self.missing_fragments > 0 || !self.reports.is_empty()
    }

    /// The best count of lost lines: the log's own, else 3 per missing fragment.
    pub fn lost_lines(&self) -> u64 {
        self.reported_lines
            .max(self.missing_fragments.saturating_mul(3))
    }

    pub fn add(&mut self, d: Drop) {
        self.reported_lines = self.reported_lines.saturating_add(d.lines.unwrap_or(0));
        self.reports.push(d);
    }

    /// `; N fragments missing from the numbered list` when the numbering has gaps.
    fn gaps(&self) -> String {
        if self.missing_fragments == 0 {
            return String::new();
        }
        format!(
            "; {} fragments are missing from the numbered list (gaps in the fragment indexes)",
            self.missing_fragments
        )
    }

    /// One sentence: how many, and who dropped them.
    pub fn cause(&self) -> String {
        if let Some(r) = self.reports.iter().find(|r| r.lines.is_some()) {
            let whose =
                r.of.as_deref()
                    .map(|o| format!(" of {o}"))
                    .unwrap_or_default();
            return format!(
                "{} dropped {} lines{whose} (rate limit): {:?}{}",
                r.by,
                self.reported_lines,
                r.text,
                self.gaps()
            );
        }
        if let Some(r) = self.reports.first() {
            return format!(
                "{} started dropping lines (rate limit): {:?}{}",
                r.by,
                r.text,
                self.gaps()
            );
        }
        let whose: Vec<String> = self
            .gaps_by_pid
            .iter()
            .map(|(pid, n)| format!("{n} in the status printed by PID {pid}"))
            .collect();
        let whose = if whose.is_empty() {
            String::new()
        } else {
            format!(" ({})", whose.join(", "))
        };
        format!(
            "{} fragments are missing from the numbered list{whose}: the log dropped their lines",
            self.missing_fragments
        )
    }
}

/// Drop reports anywhere in a log (a file `kmemdbg dump` wrote, or a raw
/// journal/syslog export): reads it in blocks and looks only at the lines
/// that hold `Suppressed ` or `due to rate-limiting`, and at the q_malloc
/// status lines for gaps in their fragment numbers ([`Gaps`], per process).
/// I/O is the caller's reader; the result is every report and gap found.
pub fn scan_reader<R: std::io::Read>(mut r: R) -> std::io::Result<Loss> {
    const NEEDLES: [&[u8]; 2] = [b"Suppressed ", b"due to rate-limiting"];
    let mut loss = Loss::default();
    let mut gaps = Gaps::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = r.read(&mut buf)?;
        let mut data = std::mem::take(&mut carry);
        data.extend_from_slice(&buf[..n]);
        // keep the unterminated last line for the next block
        let end = if n == 0 {
            data.len()
        } else {
            match memchr::memrchr(b'\n', &data) {
                Some(i) => i + 1,
                None => {
                    if data.len() > 4 << 20 {
                        data.clear();
                    }
                    carry = data;
                    continue;
                }
            }
        };
        for needle in NEEDLES {
            for at in memchr::memmem::find_iter(&data[..end], needle) {
                let start = memchr::memrchr(b'\n', &data[..at]).map_or(0, |i| i + 1);
                let stop = memchr::memchr(b'\n', &data[at..end]).map_or(end, |i| at + i);
                let line = String::from_utf8_lossy(&data[start..stop]);
                if let Some(d) = drop_in_line(&line) {
                    loss.add(d);
                }
            }
        }
        feed_status_lines(&data[..end], &mut gaps);
        if n == 0 {
            gaps.finish();
            loss.missing_fragments = gaps.missing();
            loss.gaps_by_pid = gaps.found;
            return Ok(loss);
        }
        carry = data[end..].to_vec();
    }
}

/// Feeds the lines of `data` that hold `qm_status` to `gaps`, in order.
fn feed_status_lines(data: &[u8], gaps: &mut Gaps) {
    let mut next_line = 0;
    for at in memchr::memmem::find_iter(data, b"qm_status") {
        if at < next_line {
            continue; // the same line again (`qm_status: qm_status():`)
        }
        let start = memchr::memrchr(b'\n', &data[..at]).map_or(0, |i| i + 1);
        let stop = memchr::memchr(b'\n', &data[at..]).map_or(data.len(), |i| at + i);
        next_line = stop;
        let line = String::from_utf8_lossy(&data[start..stop]);
        if let Some(p) = super::blocks::split_prefix(&line) {
            gaps.feed(p.pid, p.message);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn journald_line() {
        // real, from journald 252 here (`journalctl -u flood -o short-iso`)
        let d = drop_in_line("2026-12-06T16:27:54+0000 vm systemd-journald[35]: Suppressed 12500 messages from flood.service").unwrap();
        assert_eq!(d.by, "journald");
        assert_eq!(d.lines, Some(12500));
        assert_eq!(d.of.as_deref(), Some("flood.service"));
        assert_eq!(d.text, "Suppressed 12500 messages from flood.service");
    }

    #[test]
    fn journald_json() {
        // abridged real entry (journalctl MESSAGE_ID=... -o json)
        let j = r#"{"MESSAGE_ID":"a596d6fe7bfa4994828e72309e95d61e","OBJECT_SYSTEMD_UNIT":"flood.service","MESSAGE":"Suppressed 12500 messages from flood.service","N_DROPPED":"12500","_TRANSPORT":"driver"}
{"MESSAGE_ID":"a596d6fe7bfa4994828e72309e95d61e","OBJECT_SYSTEMD_UNIT":"other.service","MESSAGE":"Suppressed 3 messages from other.service","N_DROPPED":"3"}
not json"#;
        let d = journald_drops_json(j, "flood");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].lines, Some(12500));
    }

    #[test]
    fn rsyslog_lines() {
        // public syslog excerpts (rsyslog 5.8 and 8.x layouts)
        let d = drop_in_line("Mar 27 03:18:16 system rsyslogd-2177: imuxsock lost 141 messages from pid 55082 due to rate-limiting").unwrap();
        assert_eq!(
            (d.by.as_str(), d.lines, d.of.as_deref()),
            ("rsyslog imuxsock", Some(141), Some("55082"))
        );
        let d = drop_in_line("May 14 05:41:28 h rsyslogd: imuxsock[pid: 57, name: /usr/bin/orchagent]: 1024472 messages lost due to rate-limiting (20000 allowed within 300 seconds)").unwrap();
        assert_eq!((d.lines, d.of.as_deref()), (Some(1_024_472), Some("57")));
        let d = drop_in_line("Jun 28 10:32:17 localhost rsyslogd-2177: imjournal: 236 messages lost due to rate-limiting").unwrap();
        assert_eq!((d.by.as_str(), d.lines), ("rsyslog imjournal", Some(236)));
        let d = drop_in_line("Mar 27 03:18:19 system rsyslogd-2177: imuxsock begins to drop messages from pid 55082 due to rate-limiting").unwrap();
        assert_eq!(d.lines, None);
        assert!(
            drop_in_line(" 6(7245) ALERT: qm_status: qm_status(): heap size= 33554432").is_none()
        );
    }

    #[test]
    fn numbering_holes() {
        let mut n = Numbering::default();
        for l in [
            " 6(7245) ALERT: qm_status: qm_status():      0. N  address=0x7f52 frag=0x7f52 size=8 used=1",
            " 6(7245) ALERT: qm_status: qm_status():           alloc'd from core: core/mem/q_malloc.c: qm_shm_lock_init(1277)",
            " 6(7245) ALERT: qm_status: qm_status():      1. N  address=0x7f53 frag=0x7f53 size=8 used=1",
            "Dec 06 h kamailio[9]: ALERT: qm_status: qm_status():   7. N  address=0x7f58 frag=0x7f58 size=8 used=1",
        ] {
            n.feed(l);
        }
        assert_eq!((n.listed, n.span), (3, Some(8)));
        assert_eq!(n.holes(1), 4);
        assert_eq!(n.holes(10), 0);
    }

    #[test]
    fn loss_sums() {
        let mut l = Loss::default();
        assert!(!l.any());
        l.missing_fragments = 10;
        assert_eq!(l.lost_lines(), 30);
        l.add(
            drop_in_line("x systemd-journald[1]: Suppressed 88960 messages from kamailio.service")
                .unwrap(),
        );
        assert_eq!(l.lost_lines(), 88960);
        assert!(
            l.cause()
                .contains("journald dropped 88960 lines of kamailio.service"),
            "{}",
            l.cause()
        );
        // the gaps are said beside the log's own count
        assert!(
            l.cause().ends_with(
                "; 10 fragments are missing from the numbered list (gaps in the fragment indexes)"
            ),
            "{}",
            l.cause()
        );
    }

    #[test]
    fn scan_finds_reports_once() {
        let log = "a\nx systemd-journald[1]: Suppressed 5 messages from kamailio.service\nb\nx systemd-journald[1]: Suppressed 5 messages from kamailio.service\nh rsyslogd: imuxsock lost 7 messages from pid 9 due to rate-limiting";
        let l = scan_reader(log.as_bytes()).unwrap();
        assert_eq!(l.reports.len(), 3);
        assert_eq!(l.reported_lines, 17);
        assert!(!scan_reader(&b"nothing here\n"[..]).unwrap().any());
    }

    /// A pkg status of `pid`, built from the real 5.6.3 sample's status (from
    /// its line 305 to the status's end marker) with the writer
    /// relabelled to ` N(pid) ` and a pkg heading (pt.c:551's text; the
    /// sample has no pkg status of its own), less the 3 lines of every
    /// fragment whose index is in `drop`.
    pub(crate) fn pkg_status_from_sample(pid: u32, drop: &[u64]) -> Vec<String> {
        let sample = include_str!("../../tests/fixtures/capture/sample-5.6.3-dumps.log");
        let mut out = Vec::new();
        let mut dropping = false;
        for l in sample.lines().skip(304).take(195) {
            if let Some(i) = fragment_number(l) {
                dropping = drop.contains(&i);
            }
            if dropping {
                continue;
            }
            let l = l.replace(" 6(7245) ", &format!(" 1({pid}) ")).replace(
                "[core/pt.c:583]: mem_dump_shm_fixup(): Memory status (shm)",
                &format!(
                    "[core/pt.c:551]: mem_dump_pkg_cb(): Memory status (pkg) of process {pid}:"
                ),
            );
            let end = l.ends_with("qm_status(): -----------------------------");
            out.push(l);
            if end {
                break;
            }
        }
        out
    }

    /// By hand on the sample's status: fragment lines (`. N  address=`),
    /// the highest index + 1, and the free list's `fragments no.` total.
    fn by_hand(lines: &[String]) -> (u64, u64, u64) {
        let idx: Vec<u64> = lines
            .iter()
            .filter(|l| l.contains(". N  address="))
            .map(|l| {
                let head = l.split(". N  address=").next().unwrap_or_default();
                head.rsplit(' ').next().unwrap_or_default().parse().unwrap()
            })
            .collect();
        let free: u64 = lines
            .iter()
            .filter_map(|l| l.split("fragments no.:").nth(1))
            .map(|r| {
                r.split(',')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        (idx.len() as u64, idx.iter().max().unwrap() + 1, free)
    }

    #[test]
    fn sample_status_by_hand() {
        // 53 used fragments numbered 0..=53 (index 46 is the free one inside
        // the range), and the free list counts 2: 46 and the 30 MB tail
        // after fragment 53, outside the numbered range.
        let whole = pkg_status_from_sample(7240, &[]);
        assert_eq!(by_hand(&whole), (53, 54, 2));
        assert_eq!(whole.len(), 171);
        assert!(whole
            .iter()
            .all(|l| l.starts_with(" 1(7240) ") || l.starts_with("\t\t bucket size")));
    }

    /// Interleave two processes' messages, one each in turn (a message's
    /// `\t\t bucket size` line stays with it: Kamailio writes a message in
    /// one write).
    fn interleave(dumps: &[Vec<String>]) -> String {
        let messages: Vec<Vec<String>> = dumps
            .iter()
            .map(|d| {
                let mut m: Vec<String> = Vec::new();
                for l in d {
                    match m.last_mut() {
                        Some(last) if l.starts_with('\t') => {
                            last.push('\n');
                            last.push_str(l);
                        }
                        _ => m.push(l.clone()),
                    }
                }
                m
            })
            .collect();
        let longest = messages.iter().map(Vec::len).max().unwrap_or(0);
        let mut text = String::new();
        for i in 0..longest {
            for d in &messages {
                if let Some(l) = d.get(i) {
                    text.push_str(l);
                    text.push('\n');
                }
            }
        }
        text
    }

    #[test]
    fn two_interleaved_pkg_statuses_without_loss_are_complete() {
        let text = interleave(&[
            pkg_status_from_sample(7240, &[]),
            pkg_status_from_sample(7241, &[]),
        ]);
        // Both number their fragments from 0: read as one list, the
        // indexes would repeat, never gap; per process they are whole.
        let l = scan_reader(text.as_bytes()).unwrap();
        assert!(!l.any(), "{l:?}");
        assert_eq!(l.missing_fragments, 0);
    }

    #[test]
    fn a_lossy_pkg_status_among_a_whole_one_is_counted_per_process() {
        let removed: &[u64] = &[3, 4, 5, 20, 21, 40];
        let lossy = pkg_status_from_sample(7241, removed);
        let whole = pkg_status_from_sample(7240, &[]);
        let (listed, span, free) = by_hand(&lossy);
        assert_eq!(listed, 53 - removed.len() as u64);
        // Free fragments inside the numbered range, by hand on the whole
        // status: 54 numbers, 53 listed.
        let (w_listed, w_span, _) = by_hand(&whole);
        let free_inside = w_span - w_listed;
        // kmemdbg takes out every free fragment the free list counts (it
        // cannot tell the tail from the inside): a lower bound, by the
        // free fragments outside the range (here 1).
        let expected = removed.len() as u64 - (free - free_inside);
        assert_eq!(span - listed - free, expected);
        let l = scan_reader(interleave(&[whole, lossy]).as_bytes()).unwrap();
        assert_eq!(l.missing_fragments, expected, "{l:?}");
        assert_eq!(l.gaps_by_pid, vec![(7241, expected)]);
        assert_eq!(l.lost_lines(), 3 * expected);
        assert!(
            l.cause().starts_with(&format!(
                "{expected} fragments are missing from the numbered list ({expected} in the status printed by PID 7241)"
            )),
            "{}",
            l.cause()
        );
    }

    #[test]
    fn a_second_status_of_the_same_process_starts_a_new_numbering() {
        // Two whole statuses of one process, one after the other: the
        // second restarts at 0 and is no gap; a later lossy one is.
        let mut text = String::new();
        for d in [
            pkg_status_from_sample(7240, &[]),
            pkg_status_from_sample(7240, &[]),
            pkg_status_from_sample(7240, &[10, 11, 12]),
        ] {
            for l in d {
                text.push_str(&l);
                text.push('\n');
            }
        }
        let l = scan_reader(text.as_bytes()).unwrap();
        assert_eq!(l.gaps_by_pid, vec![(7240, 2)], "3 removed, 1 free outside");
    }

    #[test]
    fn a_journald_export_of_a_lossy_status_is_counted() {
        // The same lines as journald's `short-iso` prints them.
        let text: String = pkg_status_from_sample(7240, &[7, 8])
            .iter()
            .filter_map(|l| l.strip_prefix(" 1(7240) "))
            .map(|m| format!("2026-12-06T17:03:41+0000 box kamailio[7240]: {m}\n"))
            .collect();
        let l = scan_reader(text.as_bytes()).unwrap();
        assert_eq!(l.gaps_by_pid, vec![(7240, 1)]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[a-zA-Z0-9:. \\[\\]-]{0,200}") {
            let _ = drop_in_line(&s);
            let _ = fragment_number(&s);
            let _ = free_list_count(&s);
            let _ = journald_drops_json(&s, "k");
            let mut g = Gaps::default();
            g.feed(1, &s);
            g.finish();
            let _ = scan_reader(s.as_bytes());
        }
    }
}
