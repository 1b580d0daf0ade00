//! Answers pasted in pieces rather than whole: a kamcmd record without its
//! braces (`entry: 24` … as a user cut it), JSON members cut out of an
//! answer (`kamctl ps | grep -B1 …`), a JSON answer the paste stops inside,
//! and `core.ps`'s PID and description lines. Part of [`super::Reader`]:
//! pure, never panics; what a piece does not carry (an index, a `DSC`) is
//! left out, never completed.

use super::encodings::{self, bare_field, json_member, MEMBER_KEYS};
use super::{Chunk, Encoding, OpenStruct, Process, Reader, Shape, State};

impl Reader {
    /// A line of `core.ps`'s answer: a PID, or the description of the PID
    /// above it. Anything else ends the answer.
    pub(super) fn ps_line(&mut self, pending: Option<(i128, u64)>, n: u64, line: &str) -> State {
        let t = line.trim();
        match (pending, encodings::int(t)) {
            (None, Some(pid)) if pid > 0 => State::Ps(Some((pid, n))),
            (Some((pid, at)), None) if !t.is_empty() => {
                self.out.processes.push(Process {
                    index: None,
                    pid,
                    desc: t.to_string(),
                });
                self.mark(at, n);
                State::Ps(None)
            }
            _ => self.idle(n, line),
        }
    }

    /// A line of a record pasted without its braces ([`Shape::Bare`],
    /// [`Shape::JsonMembers`]): a field, or the end of the record.
    pub(super) fn bare_line(&mut self, mut s: OpenStruct, n: u64, t: &str) -> State {
        let field = match s.shape {
            Shape::JsonMembers => json_member(t),
            _ => bare_field(t),
        };
        let Some((k, v)) = field else {
            if t.is_empty() && s.shape == Shape::Bare {
                return State::Struct(s);
            }
            self.close_bare(s, n.saturating_sub(1));
            return self.idle(n, t);
        };
        let again = s.fields.iter().any(|(key, _)| *key == k);
        if again || (s.shape == Shape::Bare && k == "entry" && !s.fields.is_empty()) {
            self.close_bare(s, n.saturating_sub(1));
            return self.idle(n, t);
        }
        s.fields.push((k, v));
        State::Struct(s)
    }

    /// A JSON answer the input stops inside (a paste cut mid-answer): its
    /// complete records are read from their members, line by line.
    pub(super) fn salvage_json(&mut self, c: Chunk) {
        let mut open: Option<OpenStruct> = None;
        let mut last = c.line;
        for (i, l) in c.text.lines().enumerate() {
            let n = c.line + i as u64;
            let t = l.trim();
            last = n;
            let s = match open.take() {
                Some(s) => s,
                None if bare_record_start(t) == Some(Shape::JsonMembers) => OpenStruct {
                    line: n,
                    fields: Vec::new(),
                    shape: Shape::JsonMembers,
                },
                None => continue,
            };
            if let State::Struct(s) = self.bare_line(s, n, t) {
                open = Some(s);
            }
        }
        if let Some(s) = open {
            self.close_bare(s, last);
        }
        self.state = State::Idle;
        self.out.cut_answers.push(c.line);
    }

    pub(super) fn close_bare(&mut self, s: OpenStruct, last: u64) {
        if s.fields.is_empty() {
            return;
        }
        let enc = match s.shape {
            Shape::JsonMembers => Encoding::Json,
            _ => Encoding::KamcmdText,
        };
        let before = self.counts();
        // the last field's line: blank lines after a bare record are not part of it
        let last = last.min(s.line + s.fields.len() as u64 - 1).max(s.line);
        self.close_struct(s.line, s.fields, enc, false);
        if self.counts() != before {
            self.mark(s.line, last);
        }
    }
}

/// The first line of a record pasted without braces: `entry: N` (pkg.stats)
/// or a JSON member naming a process or a pool figure.
pub(super) fn bare_record_start(t: &str) -> Option<Shape> {
    if let Some((k, v)) = bare_field(t) {
        return (k == "entry" && v.int().is_some()).then_some(Shape::Bare);
    }
    let (k, _) = json_member(t)?;
    MEMBER_KEYS
        .contains(&k.as_str())
        .then_some(Shape::JsonMembers)
}
