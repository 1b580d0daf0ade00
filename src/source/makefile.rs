//! A pure reader of the GNU make syntax that Kamailio's `Makefile.defs`,
//! `Makefile.vars` and the saved `config.mak` use: physical lines, `\`
//! continuations, comments (which a trailing `\` continues too), the
//! `ifeq`/`ifneq`/`ifdef`/`ifndef`/`else`/`endif` nesting, `define`
//! blocks, and variable assignments with the position of every word of
//! their value, so that an edit can touch one word and keep every
//! continuation valid.
//!
//! Text in, structure out: no I/O, and no panic on any input (fuzzed with
//! proptest below). Structural damage (a file that ends inside a
//! continuation, an `endif` without `if`, an `if` never closed) is an
//! error naming `file:line`, because a rewrite of such a file could not be
//! trusted.

use anyhow::{bail, Result};

/// One physical line, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysLine {
    /// The text without the line ending (`\n` or `\r\n`).
    pub text: String,
    /// The line ending as found (`"\n"`, `"\r\n"` or `""` on a last line without one).
    pub ending: String,
    /// Byte offset where the active (non-comment) part ends, excluding a
    /// continuation backslash: the text before it is make syntax.
    pub active_end: usize,
    /// True when the line ends with a continuation backslash.
    pub continued: bool,
    /// True when a comment starts on this line or a previous line of the
    /// same logical line (make continues a comment with a trailing `\`).
    pub commented: bool,
}

/// One word of an assignment's value, where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Physical line index (0-based).
    pub line: usize,
    /// Byte range in that line's text.
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// An enclosing conditional of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    /// Physical line (0-based) of the `if...` that opened it.
    pub line: usize,
    /// Every condition of the chain so far (`ifeq (a,b)`, then each
    /// `else ifeq (...)`), whitespace-normalised.
    pub texts: Vec<String>,
    /// True after an `else`.
    pub in_else: bool,
}

impl Cond {
    /// True when a condition of this chain tests make variable `var`
    /// (`$(var)`, `${var}`, or `ifdef var`).
    pub fn mentions(&self, var: &str) -> bool {
        self.texts.iter().any(|t| {
            t.contains(&format!("$({var})"))
                || t.contains(&format!("${{{var}}}"))
                || t.split_whitespace().nth(1).is_some_and(|w| {
                    w == var && (t.starts_with("ifdef") || t.starts_with("ifndef"))
                })
        })
    }
    /// The opening condition, for messages.
    pub fn describe(&self) -> String {
        let text = self.texts.last().cloned().unwrap_or_default();
        if self.in_else {
            format!("the else branch of `{text}`")
        } else {
            format!("`{text}`")
        }
    }
}

/// A variable assignment (`NAME = v`, `?=`, `:=`, `::=`, `+=`, `!=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assign {
    pub name: String,
    pub op: String,
    /// Physical line and byte offset where the value starts (after the
    /// operator and the blanks that follow it).
    pub value_line: usize,
    pub value_start: usize,
    /// The active words of the value, in order.
    pub tokens: Vec<Token>,
}

impl Assign {
    /// The active value, words joined by one space.
    pub fn value(&self) -> String {
        self.tokens
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Assign(Assign),
    /// `ifeq`, `else`, `endif`, ...
    Directive,
    /// A `define ... endef` block.
    Define,
    /// Anything else: rules, includes, blank and comment-only lines.
    Other,
}

/// A logical line: one or more physical lines joined by `\`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub first: usize,
    pub last: usize,
    pub kind: Kind,
    /// The conditionals around it, outermost first.
    pub conds: Vec<Cond>,
}

/// A parsed makefile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Makefile {
    pub lines: Vec<PhysLine>,
    pub statements: Vec<Statement>,
}

impl Makefile {
    /// Every assignment to `name` whose text is active (not commented out).
    pub fn assignments<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a Statement, &'a Assign)> + 'a {
        self.statements.iter().filter_map(move |s| match &s.kind {
            Kind::Assign(a) if a.name == name => Some((s, a)),
            _ => None,
        })
    }

    /// The value of the first assignment to `name`, if any.
    pub fn first_value(&self, name: &str) -> Option<String> {
        self.assignments(name).next().map(|(_, a)| a.value())
    }

    /// Renders the lines back to text (round-trips the input byte for byte).
    pub fn render(lines: &[PhysLine]) -> String {
        let mut out = String::new();
        for l in lines {
            out.push_str(&l.text);
            out.push_str(&l.ending);
        }
        out
    }
}

/// Splits text into lines, keeping each ending.
fn split_lines(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for piece in text.split_inclusive('\n') {
        let (body, ending) = if let Some(b) = piece.strip_suffix("\r\n") {
            (b, "\r\n")
        } else if let Some(b) = piece.strip_suffix('\n') {
            (b, "\n")
        } else {
            (piece, "")
        };
        out.push((body.to_string(), ending.to_string()));
    }
    out
}

/// True when `s` ends with an odd number of backslashes (a continuation).
fn ends_with_continuation(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Finds where a comment starts in `text`, given the `$(`/`${` nesting
/// depth carried over from the previous physical line. `#` inside a
/// variable reference or function call is literal (GNU make 4.x), `\#` is
/// escaped. Returns (comment start, depth at the end).
fn find_comment(text: &str, mut depth: usize) -> (Option<usize>, usize) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut closers: Vec<u8> = Vec::new();
    // Depth carried from a previous line: we do not know the bracket kinds,
    // accept either closer.
    let carried = depth;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\\' => {
                // Skip the escaped character.
                i += 2;
                continue;
            }
            b'$' if i + 1 < bytes.len() && (bytes[i + 1] == b'(' || bytes[i + 1] == b'{') => {
                closers.push(if bytes[i + 1] == b'(' { b')' } else { b'}' });
                depth += 1;
                i += 2;
                continue;
            }
            b'(' | b'{' if depth > 0 => {
                closers.push(if b == b'(' { b')' } else { b'}' });
                depth += 1;
            }
            b')' | b'}' if depth > 0 => {
                if let Some(&c) = closers.last() {
                    if c == b {
                        closers.pop();
                        depth -= 1;
                    }
                } else if depth > 0 && depth <= carried {
                    depth -= 1;
                }
            }
            b'#' if depth == 0 => return (Some(i), 0),
            _ => {}
        }
        i += 1;
    }
    (None, depth)
}

/// The first word of an active text and the rest after it.
fn first_word(s: &str) -> (&str, &str) {
    let t = s.trim_start();
    let end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(t.len());
    (&t[..end], &t[end..])
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const CONDITIONALS: [&str; 4] = ["ifeq", "ifneq", "ifdef", "ifndef"];

/// Parses `text` (named `label` in errors, e.g. `src/Makefile.defs`).
pub fn parse(label: &str, text: &str) -> Result<Makefile> {
    let raw = split_lines(text);
    let n = raw.len();
    let mut lines: Vec<PhysLine> = Vec::with_capacity(n);
    // First pass: continuation and comment per physical line.
    let mut in_comment = false;
    let mut depth = 0usize;
    for (i, (body, ending)) in raw.into_iter().enumerate() {
        let continued = ends_with_continuation(&body);
        let content_end = if continued {
            body.len() - 1
        } else {
            body.len()
        };
        let (comment_at, new_depth) = if in_comment {
            (Some(0), 0)
        } else {
            find_comment(&body[..content_end], depth)
        };
        let commented = comment_at.is_some();
        let active_end = comment_at.unwrap_or(content_end).min(content_end);
        if continued && i + 1 == n {
            bail!(
                "{label}:{}: the file ends inside a `\\` continuation (truncated?): nothing was changed",
                i + 1
            );
        }
        lines.push(PhysLine {
            text: body,
            ending,
            active_end,
            continued,
            commented,
        });
        if continued {
            in_comment = commented;
            depth = new_depth;
        } else {
            in_comment = false;
            depth = 0;
        }
    }

    // Second pass: logical lines, conditionals, define blocks, assignments.
    let mut statements = Vec::new();
    let mut stack: Vec<Cond> = Vec::new();
    let mut i = 0;
    while i < n {
        let first = i;
        let mut last = i;
        while lines[last].continued && last + 1 < n {
            last += 1;
        }
        // The active text of the logical line (continuations joined by a space).
        let mut active = String::new();
        for l in &lines[first..=last] {
            if !active.is_empty() {
                active.push(' ');
            }
            active.push_str(&l.text[..l.active_end]);
            if l.commented {
                break;
            }
        }
        let (word, rest) = first_word(&active);
        let mut kind = Kind::Other;
        if CONDITIONALS.contains(&word) && rest.starts_with([' ', '\t', '(', '\'', '"']) {
            stack.push(Cond {
                line: first,
                texts: vec![normalise(&active)],
                in_else: false,
            });
            kind = Kind::Directive;
        } else if word == "else" && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
            let Some(top) = stack.last_mut() else {
                bail!("{label}:{}: `else` without a matching `if`", first + 1);
            };
            let (w2, r2) = first_word(rest);
            if CONDITIONALS.contains(&w2) {
                top.texts.push(normalise(&format!("{w2}{r2}")));
                top.in_else = false;
            } else {
                top.in_else = true;
            }
            kind = Kind::Directive;
        } else if word == "endif" && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
            if stack.pop().is_none() {
                bail!("{label}:{}: `endif` without a matching `if`", first + 1);
            }
            kind = Kind::Directive;
        } else if is_define(&active) {
            // Raw lines up to the matching endef.
            let mut nest = 1;
            let mut j = last + 1;
            while j < n {
                let t = lines[j].text.trim();
                if is_define(t) {
                    nest += 1;
                } else if t == "endef"
                    || t.starts_with("endef ")
                    || t.starts_with("endef\t")
                    || t.starts_with("endef#")
                {
                    nest -= 1;
                    if nest == 0 {
                        break;
                    }
                }
                j += 1;
            }
            if j >= n {
                bail!(
                    "{label}:{}: `define` has no `endef` (truncated?)",
                    first + 1
                );
            }
            last = j;
            kind = Kind::Define;
        } else if let Some(a) = parse_assign(&lines, first, last) {
            kind = Kind::Assign(a);
        }
        statements.push(Statement {
            first,
            last,
            kind,
            conds: stack.clone(),
        });
        i = last + 1;
    }
    if let Some(open) = stack.last() {
        bail!(
            "{label}:{}: `{}` is never closed by `endif` (truncated?)",
            open.line + 1,
            open.texts[0]
        );
    }
    Ok(Makefile { lines, statements })
}

fn is_define(active: &str) -> bool {
    let mut words = active.split_whitespace();
    let mut w = words.next();
    while matches!(w, Some("override") | Some("export") | Some("private")) {
        w = words.next();
    }
    w == Some("define")
}

/// Recognises `[override|export|private ...] NAME OP value` on the first
/// physical line and collects the value's words over the logical line.
fn parse_assign(lines: &[PhysLine], first: usize, last: usize) -> Option<Assign> {
    let l0 = &lines[first];
    let text = &l0.text[..l0.active_end];
    let bytes = text.as_bytes();
    let mut pos = 0;
    let skip_ws = |p: &mut usize| {
        while *p < bytes.len() && (bytes[*p] == b' ' || bytes[*p] == b'\t') {
            *p += 1;
        }
    };
    skip_ws(&mut pos);
    // Modifiers.
    loop {
        let rest = &text[pos..];
        let mut matched = false;
        for m in ["override", "export", "private"] {
            if let Some(after) = rest.strip_prefix(m) {
                if after.starts_with([' ', '\t']) {
                    pos += m.len();
                    skip_ws(&mut pos);
                    matched = true;
                    break;
                }
            }
        }
        if !matched {
            break;
        }
    }
    let name_start = pos;
    while pos < bytes.len() {
        let b = bytes[pos];
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/') {
            pos += 1;
        } else {
            break;
        }
    }
    if pos == name_start {
        return None;
    }
    let name = text[name_start..pos].to_string();
    skip_ws(&mut pos);
    let rest = &text[pos..];
    let op = ["::=", ":::=", ":=", "?=", "+=", "!=", "="]
        .into_iter()
        .find(|op| rest.starts_with(op))?;
    pos += op.len();
    skip_ws(&mut pos);
    let value_start = pos;
    let mut tokens = Vec::new();
    for (idx, l) in lines.iter().enumerate().take(last + 1).skip(first) {
        let from = if idx == first { value_start } else { 0 };
        let seg = &l.text[from.min(l.active_end)..l.active_end];
        let mut off = from.min(l.active_end);
        for w in seg.split([' ', '\t']) {
            if !w.is_empty() {
                tokens.push(Token {
                    line: idx,
                    start: off,
                    end: off + w.len(),
                    text: w.to_string(),
                });
            }
            off += w.len() + 1;
        }
        if l.commented {
            break;
        }
    }
    Some(Assign {
        name,
        op: op.to_string(),
        value_line: first,
        value_start,
        tokens,
    })
}

/// Version numbers as Makefile.defs declares them (`VERSION = 5`,
/// `PATCHLEVEL = 6`, `SUBLEVEL =  3`, `EXTRAVERSION = -dev1`).
pub fn version_of(mk: &Makefile) -> Option<String> {
    let num = |name: &str| -> Option<u32> {
        mk.first_value(name)
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    let major = num("VERSION")?;
    let minor = num("PATCHLEVEL").unwrap_or(0);
    let patch = num("SUBLEVEL").unwrap_or(0);
    let extra = mk.first_value("EXTRAVERSION").unwrap_or_default();
    Some(format!("{major}.{minor}.{patch}{extra}"))
}

/// The product names a Makefile.defs declares (`MAIN_NAME=`, `NAME=`,
/// `FLAVOUR`, `$(call set_if_empty,FLAVOUR,kamailio)`), default first.
pub fn product_names(mk: &Makefile) -> Vec<String> {
    let mut names = Vec::new();
    let re =
        regex::Regex::new(r"set_if_empty\s*,\s*FLAVOUR\s*,\s*([A-Za-z-]+)").expect("static regex");
    for l in &mk.lines {
        if let Some(c) = re.captures(&l.text[..l.active_end]) {
            names.push(c[1].to_string());
        }
    }
    for var in ["FLAVOUR", "MAIN_NAME", "NAME"] {
        for (_, a) in mk.assignments(var) {
            let v = a.value();
            if !v.is_empty() && !v.contains('$') {
                names.push(v);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEFS: &str = "# top comment\n\
ifeq ($(makefile_defs),1)\n\
else\n\
VERSION = 5\n\
PATCHLEVEL = 6\n\
SUBLEVEL =  3\n\
EXTRAVERSION = \n\
MEMDBG ?= 1 # switch\n\
C_DEFS= $(extra_defs) \\\n\
\t -DNAME='\"$(MAIN_NAME)\"' -DCOMPILER='\"$(CC_VER)\"'\\\n\
\t -DF_MALLOC \\\n\
\t #-DDBG_QM_MALLOC \\\n\
\t -DNOT_ACTIVE \\\n\
\t #-DX\n\
ifeq \t($(MEMDBG), 1)\n\
\tC_DEFS+= -DDBG_SR_MEMORY\n\
else ifeq ($(MEMMNG), 2)\n\
\tC_DEFS+= -DTLSF\n\
else\n\
\tC_DEFS+= -DNONE\n\
endif\n\
endif\n";

    #[test]
    fn reads_assignments_comments_and_conditionals() {
        let mk = parse("Makefile.defs", DEFS).unwrap();
        assert_eq!(version_of(&mk).as_deref(), Some("5.6.3"));
        let (s, a) = mk.assignments("MEMDBG").next().unwrap();
        assert_eq!(a.op, "?=");
        assert_eq!(a.value(), "1");
        assert_eq!(s.conds.len(), 1);
        assert!(s.conds[0].in_else && s.conds[0].mentions("makefile_defs"));
        let (s, a) = mk.assignments("C_DEFS").next().unwrap();
        assert_eq!((s.first, s.last), (8, 13));
        let words: Vec<_> = a.tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            words,
            [
                "$(extra_defs)",
                "-DNAME='\"$(MAIN_NAME)\"'",
                "-DCOMPILER='\"$(CC_VER)\"'",
                "-DF_MALLOC"
            ]
        );
        let f = &a.tokens[3];
        assert_eq!(&mk.lines[f.line].text[f.start..f.end], "-DF_MALLOC");
        // The chain: DBG_SR_MEMORY under MEMDBG, TLSF under MEMMNG, NONE in the else.
        let defs: Vec<_> = mk.assignments("C_DEFS").skip(1).collect();
        assert!(defs[0].0.conds[1].mentions("MEMDBG") && !defs[0].0.conds[1].in_else);
        assert!(defs[1].0.conds[1].mentions("MEMMNG"));
        assert!(defs[2].0.conds[1].in_else);
        assert_eq!(Makefile::render(&mk.lines), DEFS);
    }

    #[test]
    fn structural_damage_names_the_line() {
        let e = parse("M", "A = 1 \\\n  -DX \\").unwrap_err().to_string();
        assert!(e.starts_with("M:2:"), "{e}");
        let e = parse("M", "ifeq (a,b)\nX=1\n").unwrap_err().to_string();
        assert!(e.starts_with("M:1:") && e.contains("never closed"), "{e}");
        let e = parse("M", "X=1\nendif\n").unwrap_err().to_string();
        assert!(e.starts_with("M:2:"), "{e}");
        let e = parse("M", "define X\nfoo\n").unwrap_err().to_string();
        assert!(e.starts_with("M:1:"), "{e}");
    }

    #[test]
    fn hash_inside_function_call_is_not_a_comment() {
        let mk = parse("M", "X = $(shell echo '#') -DY # real\n").unwrap();
        let (_, a) = mk.assignments("X").next().unwrap();
        assert_eq!(a.value(), "$(shell echo '#') -DY");
    }

    #[test]
    fn define_blocks_are_opaque() {
        let mk = parse("M", "define F\nMEMDBG = 0\nifeq\nendef\nMEMDBG ?= 1\n").unwrap();
        assert_eq!(mk.assignments("MEMDBG").count(), 1);
    }

    #[test]
    fn crlf_round_trips() {
        let t = "A = 1 \\\r\n  2\r\nB=3";
        let mk = parse("M", t).unwrap();
        assert_eq!(mk.first_value("A").as_deref(), Some("1 2"));
        assert_eq!(Makefile::render(&mk.lines), t);
    }

    fn makeish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("ifeq ($(MEMDBG), 1)".to_string()),
            Just("else".to_string()),
            Just("else ifeq (a,b)".to_string()),
            Just("endif".to_string()),
            Just("define X".to_string()),
            Just("endef".to_string()),
            Just("C_DEFS+= -DF_MALLOC \\".to_string()),
            Just("\t #-DDBG_QM_MALLOC \\".to_string()),
            Just("MEMDBG ?= 0".to_string()),
            Just("$(shell x # y)".to_string()),
            Just("\\".to_string()),
            Just("\r".to_string()),
            Just("é\\\\".to_string()),
            "[ -~\t]{0,30}".prop_map(|s| s),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.join("\n"))
    }

    proptest! {
        #[test]
        fn parser_never_panics_and_round_trips(text in makeish()) {
            if let Ok(mk) = parse("fuzz", &text) {
                prop_assert_eq!(Makefile::render(&mk.lines), text.clone());
                let _ = version_of(&mk);
                let _ = product_names(&mk);
                for s in &mk.statements {
                    prop_assert!(s.first <= s.last && s.last < mk.lines.len());
                    if let Kind::Assign(a) = &s.kind {
                        for t in &a.tokens {
                            prop_assert_eq!(&mk.lines[t.line].text[t.start..t.end], t.text.as_str());
                        }
                    }
                }
            }
        }

        #[test]
        fn parser_never_panics_on_any_text(text in "\\PC{0,300}") {
            let _ = parse("fuzz", &text);
        }
    }
}
