//! Statements: expanded tokens into the global assignments the model keeps
//! (`debug`, `memlog`, `memdbg`, `mem_summary`, ...) and `loadmodule`
//! lines, with the file, line and bytes of each value.

use super::*;

impl<'l> Reader<'l> {
    /// Takes one token from the lexer: expands macros, then feeds statements.
    pub(super) fn token(&mut self, tok: Token, macro_depth: usize) -> Result<()> {
        if let Kind::Ident(name) = &tok.kind {
            if !protected_keyword(name) {
                if let Some(def) = self.defines.get(name).cloned() {
                    if macro_depth >= MAX_MACRO_DEPTH {
                        bail!(
                            "{}: {name} expands into itself ({MAX_MACRO_DEPTH} levels of #!define): a recursive define",
                            self.loc(tok.span.file, tok.line)
                        );
                    }
                    let mut via = (*tok.via).clone();
                    via.push(MacroUse {
                        name: name.clone(),
                        origin: def.origin.clone(),
                    });
                    let via = Rc::new(via);
                    let kinds = lex_fragment(def.value.as_deref().unwrap_or(&[]));
                    self.expanded += kinds.len();
                    if self.expanded > MAX_EXPANDED_TOKENS {
                        bail!(
                            "{}: macro expansion of {name} produces more than {MAX_EXPANDED_TOKENS} tokens; check the #!define chain",
                            self.loc(tok.span.file, tok.line)
                        );
                    }
                    for kind in kinds {
                        let t = Token {
                            kind,
                            span: tok.span,
                            line: tok.line,
                            via: via.clone(),
                        };
                        self.token(t, macro_depth + 1)?;
                    }
                    return Ok(());
                }
            }
        }
        if let Some((ty, fid, line)) = self.pending_subst.take() {
            if let Kind::Str { content, .. } = &tok.kind {
                return self.subst_directive(ty, fid, line, content.clone());
            }
            self.warnings.push(format!(
                "{}: #!subst/#!substdef without a quoted rule after it (Kamailio stops with \"invalid subst preprocess statement\")",
                self.loc(fid, line)
            ));
        }
        self.statement(tok)
    }

    pub(super) fn finish_stmt(&mut self) {
        if let Stmt::Keyword(p, k) | Stmt::Equals(p, k) | Stmt::Minus(p, k, _) =
            std::mem::replace(&mut self.stmt, Stmt::Idle)
        {
            self.warnings.push(format!(
                "{}: {} has no value at the end of the file",
                self.loc(k.span.file, k.line),
                p.name()
            ));
        }
    }

    /// Recognizes `param = value` and `loadmodule "x"` at the top level.
    pub(super) fn statement(&mut self, tok: Token) -> Result<()> {
        let state = std::mem::replace(&mut self.stmt, Stmt::Idle);
        match state {
            Stmt::Idle => {
                match &tok.kind {
                    Kind::Punct(b'{') => self.depth += 1,
                    Kind::Punct(b'}') => self.depth = (self.depth - 1).max(0),
                    Kind::Ident(w) if self.depth == 0 => {
                        if let Some(p) = Param::from_keyword(w) {
                            self.stmt = Stmt::Keyword(p, tok);
                        } else if w == "loadmodule" || w == "loadmodulex" {
                            self.stmt = Stmt::LoadModule(tok);
                        }
                    }
                    _ => {}
                }
                Ok(())
            }
            Stmt::Keyword(p, k) => {
                if tok.kind == Kind::Punct(b'=') {
                    self.stmt = Stmt::Equals(p, k);
                    Ok(())
                } else {
                    self.statement(tok)
                }
            }
            Stmt::Equals(p, k) => {
                if tok.kind == Kind::Punct(b'-') && p.is_int() {
                    self.stmt = Stmt::Minus(p, k, tok);
                    return Ok(());
                }
                self.finish_setting(p, k, None, tok)
            }
            Stmt::Minus(p, k, m) => self.finish_setting(p, k, Some(m), tok),
            Stmt::LoadModule(k) => {
                if let Kind::Str { content, quote } = &tok.kind {
                    let raw = String::from_utf8_lossy(content).into_owned();
                    let base = raw.rsplit('/').next().unwrap_or(&raw);
                    let name = base.strip_suffix(".so").unwrap_or(base).to_string();
                    if !name.is_empty() {
                        self.defines.entry(format!("MOD_{name}")).or_insert(Def {
                            value: None,
                            origin: Origin::Builtin,
                        });
                    }
                    self.loadmodules.push(LoadModule {
                        name,
                        raw,
                        quote: *quote,
                        keyword: k.span,
                        string: tok.span,
                        line: k.line,
                        frames: self.frames.len(),
                        from_macro: !k.via.is_empty() || !tok.via.is_empty(),
                    });
                    Ok(())
                } else {
                    self.statement(tok)
                }
            }
        }
    }

    pub(super) fn finish_setting(
        &mut self,
        p: Param,
        k: Token,
        minus: Option<Token>,
        tok: Token,
    ) -> Result<()> {
        let at = self.loc(k.span.file, k.line);
        let shown = match &tok.kind {
            Kind::Ident(w) | Kind::Num(w) => w.clone(),
            Kind::Str { content, .. } => format!("\"{}\"", String::from_utf8_lossy(content)),
            Kind::Punct(c) => (*c as char).to_string(),
            Kind::Other => "?".into(),
        };
        let via_note = if tok.via.is_empty() {
            String::new()
        } else {
            format!(
                " (after expanding {})",
                tok.via
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            )
        };
        let value = match (&tok.kind, p.is_int()) {
            (Kind::Num(s), true) => match parse_number(s) {
                Some(v) => Value::Int(v),
                None => bail!(
                    "{at}: {}={s}{via_note}: {s} is not a number Kamailio reads (decimal, 0x.., 0.. octal, ..b binary)",
                    p.name()
                ),
            },
            (Kind::Ident(w), true) => match yes_no(w) {
                Some(v) => Value::Int(v),
                None if Param::from_keyword(w).is_some() || w == "loadmodule" => bail!(
                    "{at}: {}= has no value before `{w}`{via_note}: Kamailio stops with \"number expected\"; a macro defined without a value?",
                    p.name()
                ),
                None => bail!(
                    "{at}: {}={w}{via_note}: {w} is not #!define'd here (not in the active #!ifdef branch, not given with --define), so Kamailio stops with \"number expected\"; define it (#!define {w} 2) or pass --define {w}=VALUE if the service starts with -A {w}=VALUE",
                    p.name()
                ),
            },
            (Kind::Ident(w), false) => Value::Word(w.clone()),
            _ => bail!(
                "{at}: {}={shown}{via_note}: Kamailio expects {} here",
                p.name(),
                if p.is_int() { "a number" } else { "a name like LOG_LOCAL0" }
            ),
        };
        let value = match (minus.as_ref(), value) {
            (Some(_), Value::Int(v)) => Value::Int(-v),
            (_, v) => v,
        };
        let start_tok = minus.as_ref().unwrap_or(&tok);
        let file = tok.span.file;
        let (start, end) = if start_tok.span.file == file {
            (
                start_tok.span.start.min(tok.span.start),
                tok.span.end.max(start_tok.span.end),
            )
        } else {
            (tok.span.start, tok.span.end)
        };
        let written = self
            .files
            .get(file)
            .and_then(|f| f.text.get(start..end))
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        self.settings.push(Setting {
            param: p,
            keyword: k.span,
            line: k.line,
            value,
            value_span: Span { file, start, end },
            written,
            via: (*tok.via).clone(),
            keyword_from_macro: !k.via.is_empty(),
            frames: self.frames.clone(),
        });
        Ok(())
    }
}
