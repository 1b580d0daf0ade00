//! The preprocessor's directives (`core/ppcfg.c`): `#!define` / `#!trydef`
//! / `#!redefine` / `#!defenv`, `#!ifdef` / `#!ifndef` / `#!else` /
//! `#!endif`, and `include_file` / `import_file`. Pure: files come through
//! the [`Loader`].

use super::*;

impl<'l> Reader<'l> {
    pub(super) fn directive(
        &mut self,
        fid: FileId,
        t: &[u8],
        i: usize,
        d: Directive,
        after: usize,
    ) -> Result<usize> {
        let line = self.files[fid].line_of(i);
        match d {
            Directive::Define(ty) => self.define(fid, t, i, after, ty),
            Directive::Ifdef(negated) => {
                let mut j = after;
                while j < t.len() && is_eatable(t[j]) {
                    j += 1;
                }
                let e = ident_end(t, j);
                if e == j || !is_ident_start(t[j]) {
                    bail!(
                        "{}: #!{} needs a name (like WITH_DEBUG)",
                        self.loc(fid, line),
                        if negated { "ifndef" } else { "ifdef" }
                    );
                }
                if t.get(e) == Some(&b'-') {
                    bail!(
                        "{}: '-' is not allowed in a define name (Kamailio stops here)",
                        self.loc(fid, line)
                    );
                }
                let name = String::from_utf8_lossy(&t[j..e]).into_owned();
                let defined = self.defines.contains_key(&name);
                self.frames.push(Frame {
                    name,
                    negated,
                    in_else: false,
                    active: defined != negated,
                    file: fid,
                    line,
                });
                Ok(line_end(t, e))
            }
            Directive::Else => {
                match self.frames.last_mut() {
                    Some(f) => {
                        f.active = !f.active;
                        f.in_else = true;
                    }
                    None => self.warnings.push(format!(
                        "{}: #!else without an open #!ifdef (Kamailio warns and ignores it)",
                        self.loc(fid, line)
                    )),
                }
                Ok(after)
            }
            Directive::Endif => {
                if self.frames.pop().is_none() {
                    bail!(
                        "{}: #!endif without an open #!ifdef (one #!endif more than #!if[n]def): Kamailio refuses this config; remove it or add the missing #!ifdef",
                        self.loc(fid, line)
                    );
                }
                Ok(after)
            }
            Directive::DefEnv { quoted, try_only } => {
                let mut j = after;
                while j < t.len() && (t[j] == b' ' || t[j] == b'\t') {
                    j += 1;
                }
                let mut e = j;
                while e < t.len() && !matches!(t[e], b' ' | b'\t' | b'\r' | b'\n') {
                    e += 1;
                }
                let arg = String::from_utf8_lossy(&t[j..e]).into_owned();
                let (name, var) = match arg.split_once('=') {
                    Some((n, v)) => (n.to_string(), v.to_string()),
                    None => (arg.clone(), arg.clone()),
                };
                match self.loader.env(&var) {
                    Some(v) if is_ident(name.as_bytes()) => {
                        let v = if quoted { format!("\"{v}\"") } else { v };
                        self.set_define(fid, line, &name, 0, Some(v.into_bytes()))?;
                    }
                    Some(_) => bail!("{}: #!defenv {arg}: bad define name", self.loc(fid, line)),
                    None if try_only => {}
                    None => {
                        // The service's environment is not ours: say so, do not guess.
                        self.warnings.push(format!(
                            "{}: #!defenv {arg}: environment variable {var} is not set here; the service's environment may differ (kamailio stops when it is unset)",
                            self.loc(fid, line)
                        ));
                    }
                }
                Ok(e)
            }
            Directive::Subst(ty) => {
                self.pending_subst = Some((ty, fid, line));
                Ok(after)
            }
            Directive::Include(kind) => self.include(fid, t, i, after, kind),
        }
    }

    pub(super) fn define(
        &mut self,
        fid: FileId,
        t: &[u8],
        i: usize,
        after: usize,
        ty: u8,
    ) -> Result<usize> {
        let line = self.files[fid].line_of(i);
        let mut j = after;
        while j < t.len() && is_eatable(t[j]) {
            j += 1;
        }
        let e = ident_end(t, j);
        if e == j || !is_ident_start(t[j]) {
            bail!("{}: #!define needs a name", self.loc(fid, line));
        }
        if t.get(e) == Some(&b'-') {
            bail!(
                "{}: '-' is not allowed in a define name (Kamailio stops here)",
                self.loc(fid, line)
            );
        }
        let name = String::from_utf8_lossy(&t[j..e]).into_owned();
        // DEFINE_EOL: blanks, then either the end of the line or the value.
        let mut k = e;
        while k < t.len() && is_eatable(t[k]) {
            k += 1;
        }
        let mut value = Vec::new();
        let end;
        let mut has_value = false;
        if k >= t.len() {
            end = k;
        } else if t[k] == b'\n' {
            end = k + 1;
        } else {
            // DEFINE_DATA: up to the end of the line; backslash-newline continues.
            let mut m = k;
            loop {
                if m >= t.len() {
                    // Kamailio sets the value only at a newline.
                    end = m;
                    break;
                }
                if t[m] == b'\\' && t.get(m + 1) == Some(&b'\n') {
                    m += 2;
                    continue;
                }
                if t[m] == b'\n' {
                    has_value = true;
                    end = m + 1;
                    break;
                }
                value.push(t[m]);
                m += 1;
            }
        }
        let value = (has_value && !value.is_empty()).then_some(value);
        self.set_define(fid, line, &name, ty, value)?;
        Ok(end)
    }

    pub(super) fn set_define(
        &mut self,
        fid: FileId,
        line: usize,
        name: &str,
        ty: u8,
        value: Option<Vec<u8>>,
    ) -> Result<()> {
        let origin = Origin::File { file: fid, line };
        if let Some(old) = self.defines.get(name) {
            match ty {
                1 => return Ok(()),
                2 => {}
                _ => bail!(
                    "{}: {name} is already defined ({}); Kamailio stops here: use #!redefine, #!trydef or #!ifndef",
                    self.loc(fid, line),
                    match &old.origin {
                        Origin::File { file, line } => self.loc(*file, *line),
                        Origin::CommandLine => "on the command line (--define / -A)".into(),
                        Origin::Builtin => "by Kamailio itself".into(),
                    }
                ),
            }
        }
        self.defines.insert(name.to_string(), Def { value, origin });
        Ok(())
    }

    pub(super) fn include(
        &mut self,
        fid: FileId,
        t: &[u8],
        i: usize,
        after: usize,
        kind: IncludeKind,
    ) -> Result<usize> {
        let line = self.files[fid].line_of(i);
        let what = match kind {
            IncludeKind::Include => "include_file",
            IncludeKind::Import => "import_file",
        };
        let mut j = after;
        while j < t.len() && matches!(t[j], b' ' | b'\t' | b'\r' | b'\n') {
            j += 1;
        }
        let mut e = j;
        while e < t.len() && !matches!(t[e], b' ' | b'\t' | b'\r' | b'\n') {
            e += 1;
        }
        let raw = self.subst_run(t[j..e].to_vec());
        let l = raw.len();
        if l < 2 || raw[0] != b'"' || raw[l - 1] != b'"' {
            bail!(
                "{}: {what} {}: the file name must be between double quotes, without spaces (Kamailio stops here)",
                self.loc(fid, line),
                String::from_utf8_lossy(&raw)
            );
        }
        if l >= MAX_INCLUDE_FNAME {
            bail!(
                "{}: {what}: file name longer than Kamailio's limit of {} characters",
                self.loc(fid, line),
                MAX_INCLUDE_FNAME - 1
            );
        }
        let name = unescape_include(&raw[1..l - 1]);
        if name.is_empty() {
            bail!("{}: {what} \"\": empty file name", self.loc(fid, line));
        }
        let name_s = String::from_utf8_lossy(&name).into_owned();
        let base = self.files[fid].path.clone();
        let path = resolve(&base, &name_s);
        let arg = Span {
            file: fid,
            start: j,
            end: e,
        };
        if let Some(&tid) = self.index.get(&path) {
            if self.chain.contains(&tid) {
                let mut names: Vec<String> = self
                    .chain
                    .iter()
                    .map(|&f| self.files[f].path.display().to_string())
                    .collect();
                names.push(path.display().to_string());
                bail!(
                    "{}: {what} \"{name_s}\" includes a file that is already being read ({}): Kamailio would recurse until \"too many includes\"; remove the loop",
                    self.loc(fid, line),
                    names.join(" -> ")
                );
            }
        }
        if self.chain.len() > MAX_INCLUDE_DEPTH {
            bail!(
                "{}: {what} \"{name_s}\": more than {MAX_INCLUDE_DEPTH} nested includes (Kamailio stops with \"too many includes\")",
                self.loc(fid, line)
            );
        }
        let loaded = match self.index.get(&path) {
            Some(&id) => Loaded::Text(self.files[id].text.to_vec()),
            None => self.loader.load(&path),
        };
        let target = match loaded {
            Loaded::Text(text) => Some(self.add_file(path.clone(), text)?),
            Loaded::NotFound => match kind {
                IncludeKind::Include => bail!(
                    "{}: include_file \"{name_s}\": {} does not exist (Kamailio refuses to start: \"cannot open included file\"); create it, fix the name, or use import_file for an optional file",
                    self.loc(fid, line),
                    path.display()
                ),
                IncludeKind::Import => None,
            },
            Loaded::Failed(why) => bail!(
                "{}: {what} \"{name_s}\": cannot read {}: {why}",
                self.loc(fid, line),
                path.display()
            ),
        };
        self.includes.push(Include {
            kind,
            from: fid,
            line,
            arg,
            target,
            path,
        });
        if let Some(tid) = target {
            self.scan(tid)?;
        }
        Ok(e)
    }
}
