//! The lexer: bytes of a cfg file into tokens the way `core/cfg.lex` sees
//! them (comments, strings, pvars, numbers, punctuation) and the spotting of
//! `#!` directives. Pure; never panics.

use super::*;

pub(super) fn is_eatable(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x08)
}
pub(super) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}
pub(super) fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
pub(super) fn is_ident(s: &[u8]) -> bool {
    !s.is_empty() && is_ident_start(s[0]) && s.iter().all(|&b| is_ident_char(b))
}
pub(super) fn line_end(t: &[u8], i: usize) -> usize {
    match t.get(i..).and_then(|r| r.iter().position(|&b| b == b'\n')) {
        Some(p) => i + p + 1,
        None => t.len(),
    }
}
pub(super) fn ident_end(t: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < t.len() && is_ident_char(t[j]) {
        j += 1;
    }
    j
}

/// Keywords whose names a `#!define` cannot replace (the lexer matches them
/// before its ID rule): the ones this reader acts on.
pub(super) fn protected_keyword(s: &str) -> bool {
    Param::from_keyword(s).is_some()
        || yes_no(s).is_some()
        || matches!(
            s,
            "loadmodule" | "loadmodulex" | "include_file" | "import_file"
        )
}

/// cfg.lex YES / NO words.
pub(super) fn yes_no(s: &str) -> Option<i64> {
    match s {
        "yes" | "true" | "on" | "enable" => Some(1),
        "no" | "false" | "off" | "disable" => Some(0),
        _ => None,
    }
}

/// cfg.lex numbers: decimal, 0x hex, 0-prefixed octal, `101b` binary.
pub fn parse_number(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let v = if let Some(h) = s.strip_prefix("0x") {
        if h.is_empty() || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(bits) = s.strip_suffix('b') {
        if bits.is_empty() || !bits.bytes().all(|c| c == b'0' || c == b'1') {
            return None;
        }
        i64::from_str_radix(bits, 2).ok()?
    } else if b.len() > 1 && b[0] == b'0' {
        if !b.iter().all(|c| (b'0'..=b'7').contains(c)) {
            return None;
        }
        i64::from_str_radix(s, 8).ok()?
    } else {
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        s.parse::<i64>().ok()?
    };
    (v <= i32::MAX as i64).then_some(v)
}

/// Binary garbage check: NUL bytes or many control bytes.
pub(super) fn check_text(path: &Path, text: &[u8]) -> Result<()> {
    let line_at = |pos: usize| text[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
    if let Some(pos) = text.iter().position(|&b| b == 0) {
        bail!(
            "{}:{}: contains a NUL byte: this is not a text cfg (binary garbage?); nothing was changed",
            path.display(),
            line_at(pos)
        );
    }
    let is_ctl =
        |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x08)) || b == 0x7f;
    let ctl = text.iter().filter(|&&b| is_ctl(b)).count();
    if ctl > 0 && ctl * 100 > text.len() {
        let pos = text.iter().position(|&b| is_ctl(b)).unwrap_or(0);
        bail!(
            "{}:{}: {ctl} control bytes: this is not a text cfg (binary garbage?); nothing was changed",
            path.display(),
            line_at(pos)
        );
    }
    Ok(())
}

/// Which directive (if any) starts at `i` (`#!` or `!!`), and where its
/// keyword (plus any blanks/newline the lexer rule eats) ends. Longest match wins.
pub(super) fn directive_at(t: &[u8], i: usize) -> Option<(Directive, usize)> {
    let p = t.get(i..i + 2)?;
    if p != b"#!" && p != b"!!" {
        return None;
    }
    let rest = &t[i + 2..];
    let mut best: Option<(Directive, usize, usize)> = None; // (d, keyword len, after)
    let mut consider = |d: Directive, kw: &[u8], need: Need| {
        if !rest.starts_with(kw) {
            return;
        }
        let mut j = i + 2 + kw.len();
        match need {
            Need::Nothing => {}
            Need::Blank => {
                if !t.get(j).is_some_and(|&b| is_eatable(b)) {
                    return;
                }
                while t.get(j).is_some_and(|&b| is_eatable(b)) {
                    j += 1;
                }
            }
            Need::LineEnd => {
                while t.get(j).is_some_and(|&b| is_eatable(b)) {
                    j += 1;
                }
                if t.get(j) != Some(&b'\n') {
                    return;
                }
                j += 1;
            }
        }
        if best.as_ref().map_or(true, |b| j - i > b.2 - i) {
            best = Some((d, kw.len(), j));
        }
    };
    #[derive(Clone, Copy)]
    enum Need {
        Nothing,
        Blank,
        LineEnd,
    }
    use Need::*;
    for (kw, ty) in [
        (&b"define"[..], 0u8),
        (b"def", 0),
        (b"trydefine", 1),
        (b"trydef", 1),
        (b"redefine", 2),
        (b"redef", 2),
    ] {
        consider(Directive::Define(ty), kw, Blank);
    }
    consider(Directive::Ifdef(false), b"ifdef", Blank);
    consider(Directive::Ifdef(true), b"ifndef", Blank);
    consider(Directive::Else, b"else", LineEnd);
    consider(Directive::Endif, b"endif", LineEnd);
    for (kw, quoted, try_only) in [
        (&b"defenv"[..], false, false),
        (b"defenvs", true, false),
        (b"trydefenv", false, true),
        (b"trydefenvs", true, true),
    ] {
        consider(Directive::DefEnv { quoted, try_only }, kw, Nothing);
    }
    consider(Directive::Subst(0), b"subst", Nothing);
    consider(Directive::Subst(1), b"substdef", Nothing);
    consider(Directive::Subst(2), b"substdefs", Nothing);
    consider(
        Directive::Include(IncludeKind::Include),
        b"include_file",
        Nothing,
    );
    consider(
        Directive::Include(IncludeKind::Import),
        b"import_file",
        Nothing,
    );
    let (d, kwlen, after) = best?;
    // A keyword glued to more identifier characters is another word
    // (`#!definitely`), which the lexer reads as a comment.
    if matches!(
        d,
        Directive::DefEnv { .. } | Directive::Subst(_) | Directive::Include(_)
    ) && t.get(i + 2 + kwlen).is_some_and(|&b| is_ident_char(b))
    {
        return None;
    }
    Some((d, after))
}

/// Where a `$...` pvar ends: `$name`, `$name(...)`, `$(...)` with nesting.
pub(super) fn pvar_end(t: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < t.len() && (is_ident_char(t[j]) || t[j] == b'.') {
        j += 1;
    }
    if t.get(j) != Some(&b'(') {
        return j.max(i + 1);
    }
    let mut nest = 0usize;
    while j < t.len() {
        match t[j] {
            b'(' => nest += 1,
            b')' => {
                nest -= 1;
                if nest == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    t.len()
}

/// Tokens of a macro's value (re-lexed by Kamailio as if written at the use site).
pub(super) fn lex_fragment(t: &[u8]) -> Vec<Kind> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let c = t[i];
        let next = t.get(i + 1).copied();
        match c {
            _ if c.is_ascii_whitespace() || c == 0x08 => i += 1,
            b'#' => break,
            b'/' if next == Some(b'/') => break,
            b'/' if next == Some(b'*') => match t[i + 2..].windows(2).position(|w| w == b"*/") {
                Some(p) => i = i + 2 + p + 2,
                None => break,
            },
            b'"' | b'\'' => {
                let mut j = i + 1;
                let mut content = Vec::new();
                while j < t.len() && t[j] != c {
                    if c == b'"' && t[j] == b'\\' && j + 1 < t.len() {
                        content.push(t[j + 1]);
                        j += 2;
                        continue;
                    }
                    content.push(t[j]);
                    j += 1;
                }
                out.push(Kind::Str { content, quote: c });
                i = j + 1;
            }
            b'$' => {
                out.push(Kind::Other);
                i = pvar_end(t, i);
            }
            _ if is_ident_start(c) => {
                let e = ident_end(t, i);
                out.push(Kind::Ident(String::from_utf8_lossy(&t[i..e]).into_owned()));
                i = e;
            }
            _ if c.is_ascii_digit() => {
                let e = ident_end(t, i);
                out.push(Kind::Num(String::from_utf8_lossy(&t[i..e]).into_owned()));
                i = e;
            }
            _ if c.is_ascii() => {
                out.push(Kind::Punct(c));
                i += 1;
            }
            _ => {
                out.push(Kind::Other);
                i += 1;
            }
        }
    }
    out
}

/// `sr_push_yy_state`'s unescaping of an include file name.
pub(super) fn unescape_include(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            out.push(match s[i + 1] {
                b't' => b'\t',
                b'n' => b'\n',
                b'r' => b'\r',
                other => other,
            });
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

impl<'l> Reader<'l> {
    /// Reads one file from start to end in the current preprocessor state.
    pub(super) fn scan(&mut self, fid: FileId) -> Result<()> {
        self.chain.push(fid);
        let text = self.files[fid].text.clone();
        let t: &[u8] = &text;
        let n = t.len();
        let mut i = 0;
        while i < n {
            if self.skipping() {
                i = self.skip_step(fid, t, i)?;
                continue;
            }
            let c = t[i];
            let next = t.get(i + 1).copied();
            i = match c {
                b' ' | b'\t' | b'\r' | b'\n' | 0x08 | 0x0c => i + 1,
                b'\\' if next == Some(b'\n') => i + 2,
                b'/' if next == Some(b'*') => self.block_comment(fid, t, i)?,
                b'/' if next == Some(b'/') => line_end(t, i),
                b'#' | b'!' if matches!(next, Some(b'!')) || c == b'#' => {
                    match directive_at(t, i) {
                        Some((d, after)) => self.directive(fid, t, i, d, after)?,
                        None if c == b'#' => line_end(t, i),
                        None => {
                            self.emit_punct(fid, t, i)?;
                            i + 1
                        }
                    }
                }
                b'"' | b'\'' => self.string(fid, t, i)?,
                b'$' => pvar_end(t, i),
                _ if is_ident_start(c) => {
                    let e = ident_end(t, i);
                    let word = String::from_utf8_lossy(&t[i..e]).into_owned();
                    match word.as_str() {
                        "include_file" => self.include(fid, t, i, e, IncludeKind::Include)?,
                        "import_file" => self.include(fid, t, i, e, IncludeKind::Import)?,
                        _ => {
                            let tok = self.literal(fid, i, e, Kind::Ident(word));
                            self.token(tok, 0)?;
                            e
                        }
                    }
                }
                _ if c.is_ascii_digit() => {
                    let e = ident_end(t, i);
                    let tok = self.literal(
                        fid,
                        i,
                        e,
                        Kind::Num(String::from_utf8_lossy(&t[i..e]).into_owned()),
                    );
                    self.token(tok, 0)?;
                    e
                }
                _ => {
                    self.emit_punct(fid, t, i)?;
                    i + 1
                }
            };
        }
        self.chain.pop();
        Ok(())
    }

    pub(super) fn literal(&self, fid: FileId, start: usize, end: usize, kind: Kind) -> Token {
        Token {
            kind,
            span: Span {
                file: fid,
                start,
                end,
            },
            line: self.files[fid].line_of(start),
            via: Rc::new(Vec::new()),
        }
    }

    pub(super) fn emit_punct(&mut self, fid: FileId, t: &[u8], i: usize) -> Result<()> {
        let c = t[i];
        let kind = if c.is_ascii() {
            Kind::Punct(c)
        } else {
            Kind::Other
        };
        let tok = self.literal(fid, i, i + 1, kind);
        self.token(tok, 0)
    }

    /// In a false `#!ifdef` branch only if[n]def/else/endif count.
    pub(super) fn skip_step(&mut self, fid: FileId, t: &[u8], i: usize) -> Result<usize> {
        if t[i] == b'#' || t[i] == b'!' {
            if let Some((d, after)) = directive_at(t, i) {
                if matches!(d, Directive::Ifdef(_) | Directive::Else | Directive::Endif) {
                    return self.directive(fid, t, i, d, after);
                }
            }
        }
        Ok(i + 1)
    }

    pub(super) fn block_comment(&mut self, fid: FileId, t: &[u8], i: usize) -> Result<usize> {
        let mut nest = 0usize;
        let mut j = i;
        while j < t.len() {
            if t[j] == b'/' && t.get(j + 1) == Some(&b'*') {
                nest += 1;
                j += 2;
            } else if t[j] == b'*' && t.get(j + 1) == Some(&b'/') {
                nest -= 1;
                j += 2;
                if nest == 0 {
                    return Ok(j);
                }
            } else {
                j += 1;
            }
        }
        bail!(
            "{}: this /* comment is never closed (Kamailio stops with \"unexpected EOF: comments open\"); add the missing */",
            self.loc_at(fid, i)
        )
    }

    pub(super) fn string(&mut self, fid: FileId, t: &[u8], i: usize) -> Result<usize> {
        let quote = t[i];
        let mut j = i + 1;
        let mut content = Vec::new();
        while j < t.len() {
            let c = t[j];
            if c == quote {
                let content = self.subst_run(content);
                let tok = self.literal(fid, i, j + 1, Kind::Str { content, quote });
                self.token(tok, 0)?;
                return Ok(j + 1);
            }
            if quote == b'"' && c == b'\\' && j + 1 < t.len() {
                let e = t[j + 1];
                match e {
                    b'n' => content.push(b'\n'),
                    b'r' => content.push(b'\r'),
                    b't' => content.push(b'\t'),
                    b'a' => content.push(7),
                    b'\n' => {}
                    other => content.push(other),
                }
                j += 2;
                continue;
            }
            content.push(c);
            j += 1;
        }
        bail!(
            "{}: this string is never closed (missing {}); Kamailio stops with \"unexpected EOF in unclosed string\"",
            self.loc_at(fid, i),
            quote as char
        )
    }
}
