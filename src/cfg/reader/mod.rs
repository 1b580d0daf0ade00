//! The cfg reader: a pure model of how Kamailio 5.x's lexer and preprocessor
//! (`core/cfg.lex`, `core/ppcfg.c`) see a `kamailio.cfg`, for the global
//! parameters that decide whether memory dumps are printed.
//!
//! It follows `#!define` / `#!trydef` / `#!redefine` (and `!!` forms,
//! `#!defenv`), nested `#!ifdef` / `#!ifndef` / `#!else` / `#!endif`,
//! `#!subst` / `#!substdef` (define side and file names), `include_file` /
//! `import_file`, comments (`#`, `//`, nested `/* */`), strings and pvars,
//! and macro expansion of values (`debug=DBGLEVEL`). It keeps, for every
//! active assignment of `debug`, `memlog`, `memdbg`, `mem_summary`,
//! `log_stderror`, `log_facility` and `mem_join`, the file, line and exact
//! bytes of its value, so an editor can change those bytes and nothing else.
//!
//! It never does I/O: files arrive through a [`Loader`] (the command gives it
//! the file system, tests and fuzzers give it a map). It never panics on any
//! input (fuzzed with proptest below) and reports problems as errors naming
//! `file:line`.
//!
//! Files: [`model`] (what comes out), `lexer` (tokens), `preproc` (`#!`
//! directives and includes), `subst` (`#!subst` rules), `statements`
//! (assignments and `loadmodule`); this file holds the reader's state.

use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

mod lexer;
pub mod model;
mod preproc;
mod statements;
mod subst;
#[cfg(test)]
mod tests;

pub use lexer::parse_number;
use lexer::*;
pub use model::*;

/// Kamailio refuses more nested includes than this (`MAX_INCLUDE_DEPTH`).
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Kamailio refuses include file arguments this long (`MAX_INCLUDE_FNAME`).
pub const MAX_INCLUDE_FNAME: usize = 128;
/// Deeper macro nesting than this is treated as a recursive `#!define`.
const MAX_MACRO_DEPTH: usize = 16;
/// At most this many `#!subst` rules are applied (a guard for fuzzed input).
const MAX_SUBST_RULES: usize = 64;

/// Reads `main` and everything it includes, with `defines` set first (as
/// `-A` does) and Kamailio's own version defines for `version` (e.g. 5.6.3
/// gives KAMAILIO_5, KAMAILIO_5_6, KAMAILIO_5_6_3).
pub fn read(
    main: &Path,
    defines: &[Define],
    version: Option<(u32, u32, u32)>,
    loader: &mut dyn Loader,
) -> Result<Config> {
    let mut r = Reader {
        loader,
        files: Vec::new(),
        index: HashMap::new(),
        defines: BTreeMap::new(),
        frames: Vec::new(),
        substs: Vec::new(),
        settings: Vec::new(),
        loadmodules: Vec::new(),
        includes: Vec::new(),
        warnings: Vec::new(),
        chain: Vec::new(),
        depth: 0,
        stmt: Stmt::Idle,
        pending_subst: None,
        expanded: 0,
    };
    if let Some((ma, mi, pa)) = version {
        for name in [
            format!("KAMAILIO_{ma}"),
            format!("KAMAILIO_{ma}_{mi}"),
            format!("KAMAILIO_{ma}_{mi}_{pa}"),
        ] {
            r.defines.insert(
                name,
                Def {
                    value: None,
                    origin: Origin::Builtin,
                },
            );
        }
    }
    for d in defines {
        r.defines.insert(
            d.name.clone(),
            Def {
                value: d.value.as_ref().map(|v| v.as_bytes().to_vec()),
                origin: Origin::CommandLine,
            },
        );
    }
    let main = normalize(main);
    let id = match r.loader.load(&main) {
        Loaded::Text(t) => r.add_file(main.clone(), t)?,
        Loaded::NotFound => bail!(
            "{}: no such file; pass the cfg the proxy runs with (Debian: /etc/kamailio/kamailio.cfg, see CFGFILE in /etc/default/kamailio)",
            main.display()
        ),
        Loaded::Failed(why) => bail!("cannot read {}: {why}", main.display()),
    };
    r.scan(id)?;
    r.finish_stmt();
    if let Some(f) = r.frames.last() {
        bail!(
            "{}: #!{} {} is never closed with #!endif ({} #!if[n]def more than #!endif): Kamailio refuses this config; add the missing #!endif",
            r.loc(f.file, f.line),
            if f.negated { "ifndef" } else { "ifdef" },
            f.name,
            r.frames.len()
        );
    }
    Ok(Config {
        defines: r
            .defines
            .into_iter()
            .map(|(k, d)| {
                (
                    k,
                    (
                        d.value
                            .map(|v| String::from_utf8_lossy(&v).trim().to_string()),
                        d.origin,
                    ),
                )
            })
            .collect(),
        files: r.files,
        settings: r.settings,
        loadmodules: r.loadmodules,
        includes: r.includes,
        warnings: r.warnings,
    })
}

#[derive(Debug, Clone)]
struct Def {
    value: Option<Vec<u8>>,
    origin: Origin,
}

#[derive(Debug, Clone)]
struct SubstRule {
    re: regex::bytes::Regex,
    replacement: Vec<u8>,
    global: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Ident(String),
    Num(String),
    Str { content: Vec<u8>, quote: u8 },
    Punct(u8),
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// The bytes at the use site (for expanded tokens: the macro name).
    span: Span,
    line: usize,
    via: Rc<Vec<MacroUse>>,
}

#[derive(Debug, Clone)]
enum Stmt {
    Idle,
    Keyword(Param, Token),
    Equals(Param, Token),
    Minus(Param, Token, Token),
    LoadModule(Token),
}

#[derive(Debug, Clone, Copy)]
enum Directive {
    Define(u8), // 0 define, 1 trydef, 2 redefine
    Ifdef(bool),
    Else,
    Endif,
    DefEnv { quoted: bool, try_only: bool },
    Subst(u8), // 0 subst, 1 substdef, 2 substdefs
    Include(IncludeKind),
}

struct Reader<'l> {
    loader: &'l mut dyn Loader,
    files: Vec<SourceFile>,
    index: HashMap<PathBuf, FileId>,
    defines: BTreeMap<String, Def>,
    frames: Vec<Frame>,
    substs: Vec<SubstRule>,
    settings: Vec<Setting>,
    loadmodules: Vec<LoadModule>,
    includes: Vec<Include>,
    warnings: Vec<String>,
    /// Files being read, outermost first (include loop detection).
    chain: Vec<FileId>,
    /// `{` nesting of active tokens: assignments count only at depth 0.
    depth: i64,
    stmt: Stmt,
    pending_subst: Option<(u8, FileId, usize)>,
    /// Tokens produced by macro expansion so far (a guard against blow-up).
    expanded: usize,
}

/// More expanded tokens than this means a define that multiplies itself.
const MAX_EXPANDED_TOKENS: usize = 1_000_000;

/// Lexical normalization: drops `.`, folds `..` into the parent.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

impl<'l> Reader<'l> {
    fn loc(&self, file: FileId, line: usize) -> String {
        format!(
            "{}:{line}",
            self.files
                .get(file)
                .map(|f| f.path.display().to_string())
                .unwrap_or_else(|| "?".into())
        )
    }
    fn loc_at(&self, file: FileId, offset: usize) -> String {
        let line = self.files.get(file).map(|f| f.line_of(offset)).unwrap_or(0);
        self.loc(file, line)
    }
    fn skipping(&self) -> bool {
        self.frames.iter().any(|f| !f.active)
    }

    fn add_file(&mut self, path: PathBuf, text: Vec<u8>) -> Result<FileId> {
        if let Some(&id) = self.index.get(&path) {
            return Ok(id);
        }
        check_text(&path, &text)?;
        let id = self.files.len();
        self.files.push(SourceFile::new(path.clone(), text));
        self.index.insert(path, id);
        Ok(id)
    }
}

/// Kamailio opens a relative include first from its working directory (the
/// service runs from `/`), then next to the file that includes it; this
/// reader uses the second, which is what a cfg's author means.
pub fn resolve(including: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        return normalize(p);
    }
    match including.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => normalize(&dir.join(p)),
        _ => normalize(p),
    }
}
