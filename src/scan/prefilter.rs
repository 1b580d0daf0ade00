//! The fast path: finds, in a buffer of whole lines, the few lines that may
//! matter (they hold `mem`, `Free fragment`, the start line's `(at least)`,
//! or a rate-limit report) with one multi-needle search over the buffer,
//! and counts the lines in between without looking at them.
//!
//! Pure: a buffer in, calls out. Every needle is a substring of every
//! table entry or report it stands for (a test checks the table), so a
//! line skipped here could never have matched.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Substrings one of which every interesting line holds. The rate-limit
/// reports are read only when they hold `Suppressed ` or `due to
/// rate-limiting` ([`crate::capture::loss::drop_in_line`]); `-limiting` is
/// the rarer part of the latter (the search looks at each needle's first
/// bytes: `rat` would stop at every `registration`).
pub const NEEDLES: [&str; 7] = [
    "mem",
    "Mem",
    "MEM",
    "Free fragment",
    "(at least)",
    "Suppressed ",
    "-limiting",
];

pub struct Prefilter {
    ac: AhoCorasick,
}

impl Default for Prefilter {
    fn default() -> Self {
        Self::new()
    }
}

/// Newlines in `s` (memchr's vectorised search: several times faster here
/// than a plain filter-and-count loop).
pub fn count_lines(s: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', s).count() as u64
}

impl Prefilter {
    pub fn new() -> Prefilter {
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(NEEDLES)
            .unwrap_or_else(|_| {
                // NEEDLES is a constant; building it cannot fail.
                AhoCorasick::new(["mem"]).unwrap_or_else(|_| unreachable!())
            });
        Prefilter { ac }
    }

    /// Calls `f(line_index, line)` for each candidate line of `buf` (lines
    /// end with `\n`; the last one may not), `line_index` counting from 0
    /// at the start of `buf`. Returns the number of `\n` in `buf`.
    pub fn candidates(&self, buf: &[u8], mut f: impl FnMut(u64, &[u8])) -> u64 {
        let mut pos = 0usize;
        let mut line_index = 0u64;
        while pos < buf.len() {
            let Some(m) = self.ac.find(&buf[pos..]) else {
                break;
            };
            let at = pos + m.start();
            let start = memchr::memrchr(b'\n', &buf[pos..at]).map_or(pos, |i| pos + i + 1);
            let end = memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |i| at + i);
            line_index += count_lines(&buf[pos..start]);
            f(line_index, &buf[start..end]);
            if end >= buf.len() {
                return line_index;
            }
            line_index += 1;
            pos = end + 1;
        }
        line_index + count_lines(&buf[pos.min(buf.len())..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_lines_and_counts() {
        let p = Prefilter::new();
        let buf =
            b"a\nno more shm memory\nb\nc\nqm_malloc(0x1, 8); Free fragment not found!\nlast mem";
        let mut seen = Vec::new();
        let n = p.candidates(buf, |i, l| {
            seen.push((i, String::from_utf8_lossy(l).into_owned()))
        });
        assert_eq!(n, 5);
        assert_eq!(
            seen,
            vec![
                (1, "no more shm memory".to_string()),
                (4, "qm_malloc(0x1, 8); Free fragment not found!".to_string()),
                (5, "last mem".to_string()),
            ]
        );
    }

    #[test]
    fn every_drop_report_holds_a_needle() {
        // the words drop_in_line needs before it reads a line
        for words in ["Suppressed ", "due to rate-limiting"] {
            assert!(NEEDLES.iter().any(|n| words.contains(n)), "{words}");
        }
    }

    #[test]
    fn every_table_entry_holds_a_needle() {
        for e in &super::super::table::Table::embedded().entries {
            assert!(
                NEEDLES.iter().any(|n| e.literal.contains(n))
                    || e.regex.contains("mem")
                    || e.regex.contains("Free fragment"),
                "{}: no needle in its wording",
                e.id
            );
        }
    }

    proptest! {
        #[test]
        fn agrees_with_a_line_by_line_search(lines in proptest::collection::vec("[a-zA-Z ()\\n]{0,30}", 0..30)) {
            let text = lines.join("\n");
            let p = Prefilter::new();
            let mut got = Vec::new();
            let n = p.candidates(text.as_bytes(), |i, _| got.push(i));
            let want: Vec<u64> = text
                .split('\n')
                .enumerate()
                .filter(|(_, l)| NEEDLES.iter().any(|nd| l.contains(nd)))
                .map(|(i, _)| i as u64)
                .collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(n, text.matches('\n').count() as u64);
        }
    }
}
