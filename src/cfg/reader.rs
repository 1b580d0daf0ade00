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

use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

/// Index into [`Config::files`].
pub type FileId = usize;

/// Kamailio refuses more nested includes than this (`MAX_INCLUDE_DEPTH`).
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Kamailio refuses include file arguments this long (`MAX_INCLUDE_FNAME`).
pub const MAX_INCLUDE_FNAME: usize = 128;
/// Deeper macro nesting than this is treated as a recursive `#!define`.
const MAX_MACRO_DEPTH: usize = 16;
/// At most this many `#!subst` rules are applied (a guard for fuzzed input).
const MAX_SUBST_RULES: usize = 64;

/// What a [`Loader`] found at a path.
#[derive(Debug, Clone)]
pub enum Loaded {
    Text(Vec<u8>),
    NotFound,
    /// Exists but cannot be read; the message says why.
    Failed(String),
}

/// The reader's only window on the world: file contents and environment
/// variables (for `#!defenv`).
pub trait Loader {
    fn load(&mut self, path: &Path) -> Loaded;
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
}

/// A loader over an in-memory map (tests, fuzzing, re-reading a candidate).
#[derive(Debug, Clone, Default)]
pub struct MapLoader {
    pub files: HashMap<PathBuf, Vec<u8>>,
}

impl Loader for MapLoader {
    fn load(&mut self, path: &Path) -> Loaded {
        match self.files.get(&normalize(path)) {
            Some(t) => Loaded::Text(t.clone()),
            None => Loaded::NotFound,
        }
    }
}

/// A define given from outside the file: `--define NAME[=VALUE]` or the
/// service's `-A NAME[=VALUE]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Define {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Define {
    /// Parses `NAME` or `NAME=VALUE` (NAME: letters, digits, `_`, not starting with a digit).
    pub fn parse(s: &str) -> Result<Define> {
        let (name, value) = match s.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (s, None),
        };
        if !is_ident(name.as_bytes()) {
            bail!("define {s:?}: the name must be letters, digits and _ (not starting with a digit), like WITH_DEBUG or DBGLEVEL=3");
        }
        Ok(Define {
            name: name.to_string(),
            value,
        })
    }
    /// As kamailio's command line wants it (`-A` argument).
    pub fn as_arg(&self) -> String {
        match &self.value {
            Some(v) => format!("{}={v}", self.name),
            None => self.name.clone(),
        }
    }
}

impl std::fmt::Display for Define {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_arg())
    }
}

/// The global parameters that decide what a memory dump shows and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    Debug,
    Memlog,
    Memdbg,
    MemSummary,
    LogStderror,
    LogFacility,
    MemJoin,
}

impl Param {
    pub const ALL: [Param; 7] = [
        Param::Debug,
        Param::Memlog,
        Param::Memdbg,
        Param::MemSummary,
        Param::LogStderror,
        Param::LogFacility,
        Param::MemJoin,
    ];

    /// The name as written in kamailio.cfg.
    pub fn name(self) -> &'static str {
        match self {
            Param::Debug => "debug",
            Param::Memlog => "memlog",
            Param::Memdbg => "memdbg",
            Param::MemSummary => "mem_summary",
            Param::LogStderror => "log_stderror",
            Param::LogFacility => "log_facility",
            Param::MemJoin => "mem_join",
        }
    }

    /// The keywords Kamailio's lexer accepts for this parameter (cfg.lex).
    fn from_keyword(kw: &str) -> Option<Param> {
        Some(match kw {
            "debug" => Param::Debug,
            "memlog" | "mem_log" => Param::Memlog,
            "memdbg" | "mem_dbg" => Param::Memdbg,
            "mem_summary" => Param::MemSummary,
            "log_stderror" => Param::LogStderror,
            "log_facility" => Param::LogFacility,
            "mem_join" => Param::MemJoin,
            _ => return None,
        })
    }

    /// Kamailio 5.x's built-in value (`core/cfg_core.c` default_core_cfg,
    /// `main.c` log_stderr): debug L_WARN=0, memdbg and memlog L_DBG+1=4,
    /// mem_summary 12, log_stderror 0, log_facility LOG_DAEMON, mem_join 1.
    pub fn default_value(self) -> Value {
        match self {
            Param::Debug => Value::Int(0),
            Param::Memlog | Param::Memdbg => Value::Int(4),
            Param::MemSummary => Value::Int(12),
            Param::LogStderror => Value::Int(0),
            Param::LogFacility => Value::Word("LOG_DAEMON".into()),
            Param::MemJoin => Value::Int(1),
        }
    }

    /// Whether the value is an integer (`intno` in cfg.y); log_facility is an ID.
    fn is_int(self) -> bool {
        self != Param::LogFacility
    }
}

/// A parameter's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Word(String),
}

impl Value {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Word(_) => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Word(w) => f.write_str(w),
        }
    }
}

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

/// Where a define came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A directive at this file and line.
    File { file: FileId, line: usize },
    /// `--define` / `-A`.
    CommandLine,
    /// Kamailio's own (`KAMAILIO_5`, `MOD_tm`, ...).
    Builtin,
}

/// One macro a value went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroUse {
    pub name: String,
    pub origin: Origin,
}

/// One open `#!ifdef`/`#!ifndef` around a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub name: String,
    pub negated: bool,
    pub in_else: bool,
    pub active: bool,
    pub file: FileId,
    pub line: usize,
}

/// One active assignment of a parameter.
#[derive(Debug, Clone)]
pub struct Setting {
    pub param: Param,
    /// The keyword (`memlog`) at its use site.
    pub keyword: Span,
    /// Line of the keyword in `keyword.file`.
    pub line: usize,
    pub value: Value,
    /// The value's bytes at the use site (`5`, `DBGLEVEL`, `-1`).
    pub value_span: Span,
    /// The value as written there.
    pub written: String,
    /// Macros the value was expanded through, outermost first.
    pub via: Vec<MacroUse>,
    /// The keyword itself came out of a macro (then the line cannot be edited).
    pub keyword_from_macro: bool,
    /// Open `#!ifdef` frames around it.
    pub frames: Vec<Frame>,
}

/// An active `loadmodule "..."`.
#[derive(Debug, Clone)]
pub struct LoadModule {
    /// `ctl` for `"ctl.so"`, `"ctl"` or `"/usr/lib/.../ctl.so"`.
    pub name: String,
    /// The string as written between the quotes.
    pub raw: String,
    pub quote: u8,
    pub keyword: Span,
    pub string: Span,
    pub line: usize,
    pub frames: usize,
    pub from_macro: bool,
}

/// Whether an include pulls a file in unconditionally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncludeKind {
    /// `include_file`: missing file is an error.
    Include,
    /// `import_file`: missing file is ignored.
    Import,
}

/// An active `include_file` / `import_file`.
#[derive(Debug, Clone)]
pub struct Include {
    pub kind: IncludeKind,
    pub from: FileId,
    pub line: usize,
    /// The quoted argument's bytes (quotes included).
    pub arg: Span,
    /// The file it read; `None` for an import that found nothing.
    pub target: Option<FileId>,
    pub path: PathBuf,
}

/// A file that was read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Rc<[u8]>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(path: PathBuf, text: Vec<u8>) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceFile {
            path,
            text: text.into(),
            line_starts,
        }
    }
    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
    /// Byte range of a 1-based line, including its line ending.
    pub fn line_range(&self, line: usize) -> (usize, usize) {
        let n = self.text.len();
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(n);
        let end = self.line_starts.get(line).copied().unwrap_or(n);
        (start.min(n), end.min(n))
    }
}

/// Everything the reader learned.
#[derive(Debug, Clone)]
pub struct Config {
    /// `files[0]` is the main cfg.
    pub files: Vec<SourceFile>,
    /// Every active assignment, in the order Kamailio applies them.
    pub settings: Vec<Setting>,
    pub loadmodules: Vec<LoadModule>,
    pub includes: Vec<Include>,
    /// Defines at the end of the file: name -> (value, origin).
    pub defines: BTreeMap<String, (Option<String>, Origin)>,
    /// Things Kamailio tolerates but a person should know.
    pub warnings: Vec<String>,
}

impl Config {
    /// The assignment in effect (the last active one), if any.
    pub fn in_effect(&self, p: Param) -> Option<&Setting> {
        self.settings.iter().rev().find(|s| s.param == p)
    }
    /// The effective value: the last assignment, or Kamailio's default.
    pub fn value(&self, p: Param) -> Value {
        self.in_effect(p)
            .map(|s| s.value.clone())
            .unwrap_or_else(|| p.default_value())
    }
    /// `file:line` with the path as it was read.
    pub fn loc(&self, file: FileId, line: usize) -> String {
        format!("{}:{line}", self.path(file).display())
    }
    pub fn path(&self, file: FileId) -> &Path {
        self.files
            .get(file)
            .map(|f| f.path.as_path())
            .unwrap_or(Path::new("?"))
    }
    /// Where an origin is, for messages.
    pub fn origin(&self, o: &Origin) -> String {
        match o {
            Origin::File { file, line } => self.loc(*file, *line),
            Origin::CommandLine => "command line".into(),
            Origin::Builtin => "built in".into(),
        }
    }
    pub fn has_module(&self, name: &str) -> Option<&LoadModule> {
        self.loadmodules.iter().find(|m| m.name == name)
    }
}

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

fn is_eatable(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x08)
}
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}
fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn is_ident(s: &[u8]) -> bool {
    !s.is_empty() && is_ident_start(s[0]) && s.iter().all(|&b| is_ident_char(b))
}
fn line_end(t: &[u8], i: usize) -> usize {
    match t.get(i..).and_then(|r| r.iter().position(|&b| b == b'\n')) {
        Some(p) => i + p + 1,
        None => t.len(),
    }
}
fn ident_end(t: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < t.len() && is_ident_char(t[j]) {
        j += 1;
    }
    j
}

/// Keywords whose names a `#!define` cannot replace (the lexer matches them
/// before its ID rule): the ones this reader acts on.
fn protected_keyword(s: &str) -> bool {
    Param::from_keyword(s).is_some()
        || yes_no(s).is_some()
        || matches!(
            s,
            "loadmodule" | "loadmodulex" | "include_file" | "import_file"
        )
}

/// cfg.lex YES / NO words.
fn yes_no(s: &str) -> Option<i64> {
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

    /// Reads one file from start to end in the current preprocessor state.
    fn scan(&mut self, fid: FileId) -> Result<()> {
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

    fn literal(&self, fid: FileId, start: usize, end: usize, kind: Kind) -> Token {
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

    fn emit_punct(&mut self, fid: FileId, t: &[u8], i: usize) -> Result<()> {
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
    fn skip_step(&mut self, fid: FileId, t: &[u8], i: usize) -> Result<usize> {
        if t[i] == b'#' || t[i] == b'!' {
            if let Some((d, after)) = directive_at(t, i) {
                if matches!(d, Directive::Ifdef(_) | Directive::Else | Directive::Endif) {
                    return self.directive(fid, t, i, d, after);
                }
            }
        }
        Ok(i + 1)
    }

    fn block_comment(&mut self, fid: FileId, t: &[u8], i: usize) -> Result<usize> {
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

    fn string(&mut self, fid: FileId, t: &[u8], i: usize) -> Result<usize> {
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

    fn directive(
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

    fn define(&mut self, fid: FileId, t: &[u8], i: usize, after: usize, ty: u8) -> Result<usize> {
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

    fn set_define(
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

    fn include(
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

    /// `pp_subst_run`: every `#!subst` rule, in order, on a string.
    fn subst_run(&self, mut s: Vec<u8>) -> Vec<u8> {
        for rule in &self.substs {
            let out = if rule.global {
                rule.re.replace_all(&s, rule.replacement.as_slice())
            } else {
                rule.re.replace(&s, rule.replacement.as_slice())
            };
            s = out.into_owned();
        }
        s
    }

    /// Takes one token from the lexer: expands macros, then feeds statements.
    fn token(&mut self, tok: Token, macro_depth: usize) -> Result<()> {
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

    fn subst_directive(&mut self, ty: u8, fid: FileId, line: usize, rule: Vec<u8>) -> Result<()> {
        let Some(parsed) = parse_subst(&rule) else {
            self.warnings.push(format!(
                "{}: cannot read the #!subst rule {:?}; its effect on file names is ignored here",
                self.loc(fid, line),
                String::from_utf8_lossy(&rule)
            ));
            return Ok(());
        };
        if ty > 0 {
            let name = String::from_utf8_lossy(&parsed.pattern).into_owned();
            let mut value = parsed.replacement_raw.clone();
            if value.contains(&b'$') {
                self.warnings.push(format!(
                    "{}: #!substdef value {:?} holds a $ variable that Kamailio evaluates at start; taken literally here",
                    self.loc(fid, line),
                    String::from_utf8_lossy(&value)
                ));
            }
            if ty == 2 {
                let mut q = vec![b'"'];
                q.extend(value.iter().flat_map(|&b| {
                    if b == b'"' {
                        vec![b'\\', b'"']
                    } else {
                        vec![b]
                    }
                }));
                q.push(b'"');
                value = q;
            }
            let value = (!value.is_empty()).then_some(value);
            self.set_define(fid, line, &name, 0, value)?;
        }
        if self.substs.len() < MAX_SUBST_RULES {
            let re = std::str::from_utf8(&parsed.pattern).ok().and_then(|p| {
                regex::bytes::RegexBuilder::new(p)
                    .case_insensitive(parsed.icase)
                    .size_limit(1 << 20)
                    .build()
                    .ok()
            });
            match re {
                Some(re) => self.substs.push(SubstRule {
                    re,
                    replacement: parsed.replacement,
                    global: parsed.global,
                }),
                None => self.warnings.push(format!(
                    "{}: the #!subst pattern {:?} is not understood here; its effect on file names is ignored",
                    self.loc(fid, line),
                    String::from_utf8_lossy(&parsed.pattern)
                )),
            }
        }
        Ok(())
    }

    fn finish_stmt(&mut self) {
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
    fn statement(&mut self, tok: Token) -> Result<()> {
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

    fn finish_setting(
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

/// Binary garbage check: NUL bytes or many control bytes.
fn check_text(path: &Path, text: &[u8]) -> Result<()> {
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
fn directive_at(t: &[u8], i: usize) -> Option<(Directive, usize)> {
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
fn pvar_end(t: &[u8], i: usize) -> usize {
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
fn lex_fragment(t: &[u8]) -> Vec<Kind> {
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
fn unescape_include(s: &[u8]) -> Vec<u8> {
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

struct ParsedSubst {
    pattern: Vec<u8>,
    replacement_raw: Vec<u8>,
    replacement: Vec<u8>,
    global: bool,
    icase: bool,
}

/// `/regex/replacement/flags` (any separator; `\sep` escapes it).
fn parse_subst(rule: &[u8]) -> Option<ParsedSubst> {
    let sep = *rule.first()?;
    if sep == b'\\' {
        return None;
    }
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    let mut i = 1;
    while i < rule.len() {
        let c = rule[i];
        if c == b'\\' && rule.get(i + 1) == Some(&sep) {
            parts.last_mut()?.push(sep);
            i += 2;
            continue;
        }
        if c == sep && parts.len() < 3 {
            parts.push(Vec::new());
        } else {
            parts.last_mut()?.push(c);
        }
        i += 1;
    }
    if parts.len() < 3 || parts[0].is_empty() {
        return None;
    }
    let flags = &parts[2];
    // subst replacement: \N backrefs become ${N}; `$` is literal for regex.
    let raw = parts[1].clone();
    let mut rep = Vec::new();
    let mut k = 0;
    while k < raw.len() {
        match raw[k] {
            b'\\' if k + 1 < raw.len() && raw[k + 1].is_ascii_digit() => {
                rep.extend_from_slice(format!("${{{}}}", raw[k + 1] as char).as_bytes());
                k += 2;
            }
            b'\\' if k + 1 < raw.len() => {
                rep.push(raw[k + 1]);
                k += 2;
            }
            b'$' => {
                rep.extend_from_slice(b"$$");
                k += 1;
            }
            c => {
                rep.push(c);
                k += 1;
            }
        }
    }
    Some(ParsedSubst {
        pattern: parts[0].clone(),
        replacement_raw: raw,
        replacement: rep,
        global: flags.contains(&b'g'),
        icase: flags.contains(&b'i'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> MapLoader {
        MapLoader {
            files: files
                .iter()
                .map(|(p, t)| (normalize(Path::new(p)), t.as_bytes().to_vec()))
                .collect(),
        }
    }

    fn read_one(text: &str, defines: &[&str]) -> Result<Config> {
        let mut l = load(&[("/etc/k/kamailio.cfg", text)]);
        let defs: Vec<Define> = defines.iter().map(|d| Define::parse(d).unwrap()).collect();
        read(
            Path::new("/etc/k/kamailio.cfg"),
            &defs,
            Some((5, 6, 3)),
            &mut l,
        )
    }

    /// Lines 126-175 of Debian's 5.6.3 /etc/kamailio/kamailio.cfg, verbatim.
    const DEBIAN: &str = r#"####### Include Local Config If Exists #########
import_file "kamailio-local.cfg"

####### Defined Values #########

# *** Value defines - IDs used later in config
#!ifdef WITH_DEBUG
#!define DBGLEVEL 3
#!else
#!define DBGLEVEL 2
#!endif

#!ifdef WITH_MYSQL
# - database URL - used to connect to database server by modules such
#       as: auth_db, acc, usrloc, a.s.o.
#!trydef DBURL "mysql://kamailio:kamailiorw@localhost/kamailio"
#!endif

#!ifdef WITH_MULTIDOMAIN
# - the value for 'use_domain' parameters
#!define MULTIDOMAIN 1
#!else
#!define MULTIDOMAIN 0
#!endif

# - flags
#   FLT_ - per transaction (message) flags
#!define FLT_ACC 1
#!define FLT_ACCMISSED 2
#!define FLT_ACCFAILED 3
#!define FLT_NATS 5

#	FLB_ - per branch flags
#!define FLB_NATB 6
#!define FLB_NATSIPPING 7

####### Global Parameters #########

/* LOG Levels: 3=DBG, 2=INFO, 1=NOTICE, 0=WARN, -1=ERR, ... */
debug=DBGLEVEL

/* set to 'yes' to print log messages to terminal or use '-E' cli option */
log_stderror=no

memdbg=5
memlog=5

log_facility=LOG_LOCAL0
log_prefix="{$mt $hdr(CSeq) $ci} "
"#;

    #[test]
    fn debian_default_values_and_lines() {
        let c = read_one(DEBIAN, &[]).unwrap();
        assert_eq!(c.value(Param::Debug), Value::Int(2));
        let d = c.in_effect(Param::Debug).unwrap();
        assert_eq!(d.line, 40);
        assert_eq!(d.written, "DBGLEVEL");
        assert_eq!(d.via[0].name, "DBGLEVEL");
        assert_eq!(d.via[0].origin, Origin::File { file: 0, line: 10 });
        assert_eq!(c.in_effect(Param::Memlog).unwrap().line, 46);
        assert_eq!(c.value(Param::Memlog), Value::Int(5));
        assert_eq!(c.value(Param::Memdbg), Value::Int(5));
        assert_eq!(c.value(Param::LogStderror), Value::Int(0));
        assert_eq!(
            c.value(Param::LogFacility),
            Value::Word("LOG_LOCAL0".into())
        );
        assert!(c.in_effect(Param::MemSummary).is_none());
        assert_eq!(c.value(Param::MemSummary), Value::Int(12));
        assert_eq!(c.value(Param::MemJoin), Value::Int(1));
        assert_eq!(c.includes.len(), 1);
        assert!(
            c.includes[0].target.is_none(),
            "import of a missing file is ignored"
        );

        let c = read_one(DEBIAN, &["WITH_DEBUG"]).unwrap();
        assert_eq!(c.value(Param::Debug), Value::Int(3));
        assert_eq!(
            c.in_effect(Param::Debug).unwrap().via[0].origin,
            Origin::File { file: 0, line: 8 }
        );
    }

    #[test]
    fn nested_ifdefs_else_and_ifndef() {
        let text = "#!ifdef A\n#!ifndef B\ndebug=1\n#!else\ndebug=2\n#!endif\n#!else\n#!ifdef B\ndebug=3\n#!endif\ndebug=4\n#!endif\n";
        let v = |d: &[&str]| read_one(text, d).unwrap().value(Param::Debug);
        assert_eq!(v(&["A"]), Value::Int(1));
        assert_eq!(v(&["A", "B"]), Value::Int(2));
        assert_eq!(v(&["B"]), Value::Int(4), "last active assignment wins");
        assert_eq!(v(&[]), Value::Int(4));
        let c = read_one(text, &["B"]).unwrap();
        let s: Vec<usize> = c.settings.iter().map(|s| s.line).collect();
        assert_eq!(s, vec![9, 11]);
        assert_eq!(c.in_effect(Param::Debug).unwrap().frames.len(), 1);
    }

    #[test]
    fn trydef_redefine_and_define_errors() {
        let c = read_one("#!define L 1\n#!trydef L 3\ndebug=L\n", &[]).unwrap();
        assert_eq!(c.value(Param::Debug), Value::Int(1));
        let c = read_one("#!define L 1\n#!redefine L 3\ndebug=L\n", &[]).unwrap();
        assert_eq!(c.value(Param::Debug), Value::Int(3));
        let e = read_one("#!define L 1\n#!define L 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/k/kamailio.cfg:2: L is already defined (/etc/k/kamailio.cfg:1)"),
            "{e}"
        );
        let c = read_one("#!trydef L 3\ndebug=L\n", &["L=1"]).unwrap();
        assert_eq!(
            c.value(Param::Debug),
            Value::Int(1),
            "-A L=1 wins over #!trydef"
        );
        let c = read_one("#!define A B\n#!define B -1\nmemlog=A\n", &[]).unwrap();
        assert_eq!(c.value(Param::Memlog), Value::Int(-1));
        let s = c.in_effect(Param::Memlog).unwrap();
        assert_eq!(s.written, "A");
        assert_eq!(
            s.via.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["A", "B"]
        );
        let c = read_one("#!define LONG 1 + \\\n 2\n", &[]).unwrap();
        assert_eq!(c.defines["LONG"].0.as_deref(), Some("1 +  2"));
    }

    #[test]
    fn undefined_macro_and_recursive_macro_are_errors() {
        let e = read_one("#!ifdef X\n#!define LVL 2\n#!endif\n\ndebug=LVL\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/k/kamailio.cfg:5: debug=LVL: LVL is not #!define'd"),
            "{e}"
        );
        let e = read_one("#!define A B\n#!define B A\ndebug=A\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3:") && e.contains("recursive"), "{e}");
    }

    #[test]
    fn unbalanced_ifdefs_name_the_line() {
        let e = read_one("debug=2\n#!ifdef A\nmemlog=1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/k/kamailio.cfg:2: #!ifdef A is never closed"),
            "{e}"
        );
        let e = read_one("debug=2\n#!endif\n", &[]).unwrap_err().to_string();
        assert!(
            e.starts_with("/etc/k/kamailio.cfg:2: #!endif without"),
            "{e}"
        );
    }

    #[test]
    fn comments_strings_and_pvars_hide_assignments() {
        let text = "/* debug=9 /* nested */ memlog=9 */\n# memlog=8\n// memlog=7\nlog_prefix=\"memlog=6 #!ifdef X\"\n\
                    request_route {\n  $var(memlog) = 1;\n  memlog = 3;\n}\nmemlog = -1 # real\n";
        let c = read_one(text, &[]).unwrap();
        let m: Vec<_> = c
            .settings
            .iter()
            .filter(|s| s.param == Param::Memlog)
            .collect();
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].value, Value::Int(-1));
        assert_eq!(m[0].line, 9);
        assert_eq!(m[0].written, "-1");
        assert!(c.in_effect(Param::Debug).is_none());
    }

    #[test]
    fn directives_in_skipped_branches_and_comments() {
        // In a false branch /* is not a comment: #!endif inside it still closes.
        let c = read_one("#!ifdef NO\n/* #!endif\ndebug=3\n", &[]).unwrap();
        assert_eq!(c.value(Param::Debug), Value::Int(3));
        // In an active branch it is: that #!endif does not count.
        let c = read_one("#!ifdef YES\n/* #!endif */\ndebug=3\n#!endif\n", &["YES"]).unwrap();
        assert_eq!(c.value(Param::Debug), Value::Int(3));
        // In an active branch a commented directive does nothing.
        let c = read_one("/*\n#!define L 3\n*/\ndebug=1\n", &[]).unwrap();
        assert!(!c.defines.contains_key("L"));
        // `#!else` followed by text is a comment to Kamailio.
        let c = read_one("#!ifdef NO\ndebug=1\n#!else # x\ndebug=2\n#!endif\n", &[]).unwrap();
        assert!(c.in_effect(Param::Debug).is_none());
    }

    #[test]
    fn numbers_and_words() {
        for (w, v) in [
            ("0x10", 16),
            ("010", 8),
            ("101b", 5),
            ("yes", 1),
            ("off", 0),
            ("7", 7),
        ] {
            let c = read_one(&format!("mem_join={w}\n"), &[]).unwrap();
            assert_eq!(c.value(Param::MemJoin), Value::Int(v), "{w}");
        }
        assert!(read_one("memlog=12abc\n", &[]).is_err());
        assert!(read_one("memlog=\"2\"\n", &[]).is_err());
        let c = read_one("mem_log = 2\nmem_dbg=\n  7\n", &[]).unwrap();
        assert_eq!(c.value(Param::Memlog), Value::Int(2));
        assert_eq!(c.value(Param::Memdbg), Value::Int(7));
        assert_eq!(c.in_effect(Param::Memdbg).unwrap().line, 2);
    }

    #[test]
    fn includes_relative_nested_missing_and_loops() {
        let mut l = load(&[
            (
                "/etc/k/kamailio.cfg",
                "debug=2\ninclude_file \"sub/a.cfg\"\nmemlog=4\n",
            ),
            ("/etc/k/sub/a.cfg", "#!include_file \"b.cfg\"\n"),
            ("/etc/k/sub/b.cfg", "memdbg=9\nmemlog=1\n"),
        ]);
        let c = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l).unwrap();
        assert_eq!(c.files.len(), 3);
        let d = c.in_effect(Param::Memdbg).unwrap();
        assert_eq!(c.path(d.keyword.file), Path::new("/etc/k/sub/b.cfg"));
        assert_eq!(c.value(Param::Memlog), Value::Int(4));

        let mut l = load(&[(
            "/etc/k/kamailio.cfg",
            "debug=2\ninclude_file \"nope.cfg\"\n",
        )]);
        let e = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "/etc/k/kamailio.cfg:2: include_file \"nope.cfg\": /etc/k/nope.cfg does not exist"
            ),
            "{e}"
        );

        let mut l = load(&[("/etc/k/kamailio.cfg", "import_file \"kamailio.cfg\"\n")]);
        let e = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("already being read (/etc/k/kamailio.cfg -> /etc/k/kamailio.cfg)"),
            "{e}"
        );

        let mut l = load(&[
            ("/etc/k/kamailio.cfg", "include_file \"a.cfg\"\n"),
            ("/etc/k/a.cfg", "include_file \"kamailio.cfg\"\n"),
        ]);
        let e = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/k/a.cfg:1:"), "{e}");
    }

    #[test]
    fn ifdef_spanning_an_include_and_module_defines() {
        let mut l = load(&[
            ("/etc/k/kamailio.cfg", "#!ifdef X\ninclude_file \"a.cfg\"\ndebug=1\n#!endif\nloadmodule \"tm.so\"\n#!ifdef MOD_tm\nmemlog=1\n#!endif\n#!ifdef KAMAILIO_5_6\nmemdbg=6\n#!endif\n"),
            ("/etc/k/a.cfg", "debug=3\n#!else\ndebug=2\n"),
        ]);
        let c = read(
            Path::new("/etc/k/kamailio.cfg"),
            &[],
            Some((5, 6, 3)),
            &mut l,
        )
        .unwrap();
        assert_eq!(c.value(Param::Debug), Value::Int(0), "X undefined: nothing");
        assert!(c.includes.is_empty());
        assert_eq!(c.value(Param::Memlog), Value::Int(1));
        assert_eq!(c.value(Param::Memdbg), Value::Int(6));
        assert_eq!(c.loadmodules[0].name, "tm");
    }

    #[test]
    fn substdef_defines_and_subst_renames_includes() {
        let mut l = load(&[
            ("/etc/k/kamailio.cfg", "#!substdef \"/LVL/3/\"\ndebug=LVL\n#!subst \"/LOCAL/local-5.6/\"\ninclude_file \"LOCAL.cfg\"\n"),
            ("/etc/k/local-5.6.cfg", "memlog=2\n"),
        ]);
        let c = read(Path::new("/etc/k/kamailio.cfg"), &[], None, &mut l).unwrap();
        assert_eq!(c.value(Param::Debug), Value::Int(3));
        assert_eq!(c.value(Param::Memlog), Value::Int(2));
    }

    #[test]
    fn crlf_lines_and_garbage() {
        let c = read_one(
            "#!ifdef A\r\ndebug=1\r\n#!else\r\ndebug=2\r\n#!endif\r\nmemlog=5\r\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.value(Param::Debug), Value::Int(2));
        assert_eq!(c.in_effect(Param::Memlog).unwrap().written, "5");
        let mut l = MapLoader::default();
        l.files.insert(
            PathBuf::from("/x.cfg"),
            b"debug=2\n\x7fELF\x02\x01\x01\0\0\0".to_vec(),
        );
        let e = read(Path::new("/x.cfg"), &[], None, &mut l)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/x.cfg:2: contains a NUL byte"), "{e}");
    }

    #[test]
    fn loadmodules_are_found_with_paths() {
        let c = read_one("loadmodule \"/usr/lib/kamailio/modules/ctl.so\"\nloadmodule 'cfg_rpc'\n#!ifdef NO\nloadmodule \"tls.so\"\n#!endif\n", &[]).unwrap();
        let names: Vec<_> = c.loadmodules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["ctl", "cfg_rpc"]);
        assert_eq!(c.loadmodules[1].quote, b'\'');
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let mut l = MapLoader::default();
            l.files.insert(PathBuf::from("/k.cfg"), bytes);
            let _ = read(Path::new("/k.cfg"), &[], Some((5, 6, 3)), &mut l);
        }

        #[test]
        fn never_panics_on_cfg_like_text(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::Just("#!ifdef A\n".to_string()),
                proptest::prelude::Just("#!ifndef B\n".to_string()),
                proptest::prelude::Just("#!else\n".to_string()),
                proptest::prelude::Just("#!endif\n".to_string()),
                proptest::prelude::Just("#!define L 2\n".to_string()),
                proptest::prelude::Just("#!redefine L -1\n".to_string()),
                proptest::prelude::Just("#!trydef M L\n".to_string()),
                proptest::prelude::Just("#!substdef \"/S/3/\"\n".to_string()),
                proptest::prelude::Just("#!subst \"/(a)/\\1b/g\"\n".to_string()),
                proptest::prelude::Just("include_file \"k.cfg\"\n".to_string()),
                proptest::prelude::Just("import_file \"x.cfg\"\n".to_string()),
                proptest::prelude::Just("debug=L\n".to_string()),
                proptest::prelude::Just("memlog = M\r\n".to_string()),
                proptest::prelude::Just("memdbg=-\n".to_string()),
                proptest::prelude::Just("/* ".to_string()),
                proptest::prelude::Just(" */".to_string()),
                proptest::prelude::Just("\"".to_string()),
                proptest::prelude::Just("$(x{".to_string()),
                proptest::prelude::Just("route { ".to_string()),
                proptest::prelude::Just("}".to_string()),
                proptest::prelude::Just("loadmodule \"ctl.so\"\n".to_string()),
                "[ -~\n]{0,12}",
            ], 0..30)
        ) {
            let text = parts.concat();
            let mut l = MapLoader::default();
            l.files.insert(PathBuf::from("/k.cfg"), text.clone().into_bytes());
            l.files.insert(PathBuf::from("/x.cfg"), text.into_bytes());
            let _ = read(Path::new("/k.cfg"), &[], None, &mut l);
        }
    }
}
