//! What the reader hands back: the [`Config`] model (files, settings with
//! the exact bytes of their values, defines, includes, loaded modules) and
//! the [`Loader`] through which files arrive. Plain data; no I/O.

use super::*;

/// Index into [`Config::files`].
pub type FileId = usize;

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
    pub(super) fn from_keyword(kw: &str) -> Option<Param> {
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
    pub(super) fn is_int(self) -> bool {
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
    pub(super) fn new(path: PathBuf, text: Vec<u8>) -> SourceFile {
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
