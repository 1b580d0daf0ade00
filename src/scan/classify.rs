//! Is this log line an out-of-memory error? One line's fields in, a
//! [`Class`] out: a finding (which table entry, pool, module, function,
//! requested size), a line ignored on purpose (and why), the proxy's start
//! line (with the pool sizes), or nothing of interest.
//!
//! What is not an out-of-memory error, by rule (beside the table's
//! `not-oom` and `echo` entries): a line at INFO, NOTICE or DEBUG level (a
//! status message that mentions memory); a line from `<script>` (xlog
//! output: the operator's own text, often a user agent or a header); the
//! words inside brackets, quotes or after a SIP header name (a quoted SIP
//! message or body); a line with no log prefix at all (the continuation of
//! a multi-line message, e.g. a SIP body printed at DEBUG).
//!
//! Pure: no I/O, no allocation on lines that are not findings. Never panics
//! (fuzzed below).

use super::table::{trim, Kind, OomPool, Table, TableMatch};

/// What the log-line reader found before the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    /// A Kamailio log prefix was found (syslog tag, stderr `N(PID)`, level or location).
    pub log_line: bool,
    /// The timestamp as printed (syslog, journald, rsyslog).
    pub time: Option<&'a [u8]>,
    pub pid: Option<u32>,
    /// Kamailio's process number (` N(PID) ` on stderr).
    pub rank: Option<u32>,
    /// `ERROR`, `INFO`, ...
    pub level: Option<&'a [u8]>,
    /// `usrloc`, `<core>`, `<script>` (from `module [file:line]: `).
    pub module: Option<&'a [u8]>,
    /// `new_ucontact` (from `new_ucontact(): `).
    pub function: Option<&'a [u8]>,
    /// The message itself.
    pub message: &'a [u8],
}

/// Why a line that matched the table is not a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ignored {
    /// INFO / NOTICE / DEBUG: a status line, not an error.
    Level,
    /// `<script>`: xlog output, the operator's own text.
    Script,
    /// Inside brackets or quotes, or after a SIP header name.
    Quoted,
    /// No log prefix: a continuation line (e.g. a SIP body).
    NoPrefix,
    /// A second line of a failure another line reports.
    Echo,
    /// Looks like one, is not (a bad pointer: corruption).
    NotOom,
}

impl Ignored {
    pub fn explain(self) -> &'static str {
        match self {
            Ignored::Level => "at INFO, NOTICE or DEBUG level (a status line, not an error)",
            Ignored::Script => "written by the cfg script (xlog: the operator's own text)",
            Ignored::Quoted => "inside brackets or quotes, or after a SIP header (quoted SIP text)",
            Ignored::NoPrefix => {
                "no log prefix (continuation of a multi-line message, e.g. a SIP body)"
            }
            Ignored::Echo => "the allocator's inner search, reported again by the next line",
            Ignored::NotOom => "a bad pointer passed to free (corruption, not an exhausted pool)",
        }
    }
}

/// One out-of-memory error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding<'a> {
    /// Index of the table entry.
    pub entry: usize,
    pub pool: OomPool,
    pub module: Option<&'a [u8]>,
    pub function: Option<&'a [u8]>,
    /// Bytes asked for (allocator lines).
    pub size: Option<u64>,
    /// The pool's address (allocator lines).
    pub addr: Option<&'a [u8]>,
    /// The allocator line named its caller (a memory-debug build).
    pub debug_build: bool,
}

/// What one line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class<'a> {
    Finding(Finding<'a>),
    Ignored {
        entry: usize,
        why: Ignored,
    },
    /// The proxy started; pool sizes in bytes.
    Start {
        shm: Option<u64>,
        pkg: Option<u64>,
    },
    Other,
}

/// Levels at which a status message, not an error, is printed.
fn quiet_level(level: &[u8]) -> bool {
    matches!(
        level,
        b"INFO" | b"NOTICE" | b"DEBUG" | b"DBG" | b"L_INFO" | b"L_DBG" | b"L_NOTICE"
    )
}

/// SER / OpenSER / 3.x messages carry their own `ERROR:tm:func: ` (or
/// `ERROR: func: `) label inside the text: the level and the module.
fn legacy_label(msg: &[u8]) -> (Option<&[u8]>, Option<&[u8]>, &[u8]) {
    let n = msg.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if !(3..=8).contains(&n) || msg.get(n) != Some(&b':') {
        return (None, None, msg);
    }
    let level = &msg[..n];
    let rest = &msg[n + 1..];
    // "ERROR:tm:insert_tmcb: text" -> module tm
    let word = |s: &[u8]| {
        s.iter()
            .take(64)
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count()
    };
    let w = word(rest);
    if w > 0 && rest.get(w) == Some(&b':') && rest.get(w + 1) != Some(&b' ') {
        let after = &rest[w + 1..];
        let f = word(after);
        if f > 0 && after.get(f) == Some(&b':') {
            return (Some(level), Some(&rest[..w]), &after[f + 1..]);
        }
        return (Some(level), Some(&rest[..w]), after);
    }
    (Some(level), None, rest)
}

/// True when the text before the match opens a bracket or a quote it does
/// not close, or names a SIP header / start line: the words are quoted SIP.
fn quoted(before: &[u8]) -> bool {
    let mut square = 0i32;
    let mut angle = 0i32;
    let mut curly = 0i32;
    let mut dquote = false;
    for &b in before {
        match b {
            b'[' => square += 1,
            b']' => square -= 1,
            b'<' => angle += 1,
            b'>' => angle -= 1,
            b'{' => curly += 1,
            b'}' => curly -= 1,
            b'"' => dquote = !dquote,
            _ => {}
        }
    }
    if square > 0 || angle > 0 || curly > 0 || dquote {
        return true;
    }
    const SIP: [&[u8]; 7] = [
        b"user-agent:",
        b"server:",
        b"sip/2.0",
        b"content-type:",
        b"subject:",
        b"body:",
        b"ua=",
    ];
    let lower: Vec<u8> = before.iter().map(u8::to_ascii_lowercase).collect();
    SIP.iter().any(|h| lower.windows(h.len()).any(|w| w == *h))
}

/// Classifies one line.
pub fn classify<'a>(table: &Table, f: &Fields<'a>) -> Class<'a> {
    classify_found(table, f, table.find(f.message))
}

/// Classifies one line, given what the table says of its message
/// (`table.find(f.message)`, maybe remembered: [`super::table::FindMemo`]).
pub fn classify_found<'a>(
    table: &Table,
    f: &Fields<'a>,
    found: Option<TableMatch<'a>>,
) -> Class<'a> {
    let Some(m) = found else {
        return Class::Other;
    };
    let entry = &table.entries[m.entry];
    if entry.kind == Kind::Start {
        return Class::Start {
            shm: m.shm,
            pkg: m.pkg,
        };
    }
    let ignored = |why| Class::Ignored {
        entry: m.entry,
        why,
    };
    match entry.kind {
        Kind::NotOom => return ignored(Ignored::NotOom),
        Kind::Echo => return ignored(Ignored::Echo),
        _ => {}
    }
    let (legacy_level, legacy_module, _) = legacy_label(f.message);
    if !f.log_line && legacy_level.is_none() {
        return ignored(Ignored::NoPrefix);
    }
    if f.level.or(legacy_level).is_some_and(quiet_level) {
        return ignored(Ignored::Level);
    }
    let module = m.module.or(f.module).or(legacy_module);
    if f.module == Some(b"<script>") {
        return ignored(Ignored::Script);
    }
    if quoted(&f.message[..m.at.min(f.message.len())]) {
        return ignored(Ignored::Quoted);
    }
    debug_assert!(entry.kind.is_finding());
    Class::Finding(Finding {
        entry: m.entry,
        pool: entry.pool,
        module: module.map(trim),
        function: m.func.or(f.function),
        size: m.size,
        addr: m.addr,
        debug_build: m.func.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(level: &'static str, module: &'static str, msg: &'static str) -> Fields<'static> {
        Fields {
            log_line: true,
            level: Some(level.as_bytes()),
            module: Some(module.as_bytes()),
            message: msg.as_bytes(),
            ..Fields::default()
        }
    }

    fn class(f: &Fields<'static>) -> Class<'static> {
        classify(super::super::table::Table::embedded(), f)
    }

    #[test]
    fn real_errors_are_findings() {
        let c = class(&fields(
            "ERROR",
            "usrloc",
            "could not allocate shared memory from shm pool",
        ));
        assert!(
            matches!(
                c,
                Class::Finding(Finding {
                    pool: OomPool::Shm,
                    ..
                })
            ),
            "{c:?}"
        );
        let c = class(&fields(
            "ERROR",
            "<core>",
            "qm_malloc(0x7f, 248) called from usrloc: ucontact.c: new_ucontact(98), module: usrloc; Free fragment not found!",
        ));
        match c {
            Class::Finding(f) => {
                assert_eq!(f.module, Some(&b"usrloc"[..]));
                assert_eq!(f.size, Some(248));
                assert!(f.debug_build);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_errors() {
        // sl's INFO line (5.6.3 src/modules/sl/sl.c:180) matches no entry at all
        assert_eq!(
            class(&fields("INFO", "sl", "could not bind tm module - only stateless mode available during modules initialization")),
            Class::Other
        );
        assert!(matches!(
            class(&fields(
                "INFO",
                "<core>",
                "no more pkg memory at shutdown (test)"
            )),
            Class::Ignored {
                why: Ignored::Level,
                ..
            }
        ));
        assert!(matches!(
            class(&fields(
                "ERROR",
                "<script>",
                "REGISTER from UA out of memory 1.0"
            )),
            Class::Ignored {
                why: Ignored::Script,
                ..
            }
        ));
        assert!(matches!(
            class(&fields(
                "ERROR",
                "<core>",
                "bad header [User-Agent: out of memory 2.1]"
            )),
            Class::Ignored {
                why: Ignored::Quoted,
                ..
            }
        ));
        assert!(matches!(
            class(&fields(
                "WARNING",
                "sanity",
                "check failed, ua=out of memory"
            )),
            Class::Ignored {
                why: Ignored::Quoted,
                ..
            }
        ));
        let body = Fields {
            message: b"User-Agent: out of memory",
            ..Fields::default()
        };
        assert!(matches!(
            class(&body),
            Class::Ignored {
                why: Ignored::NoPrefix,
                ..
            }
        ));
    }

    #[test]
    fn legacy_labels() {
        let f = Fields {
            log_line: false,
            message: b"ERROR:tm:insert_tmcb: out of shm. mem",
            ..Fields::default()
        };
        match class(&f) {
            Class::Finding(x) => {
                assert_eq!(x.pool, OomPool::Shm);
                assert_eq!(x.module, Some(&b"tm"[..]));
            }
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn never_panics(msg in proptest::collection::vec(any::<u8>(), 0..200), log_line: bool) {
            let f = Fields { log_line, message: &msg, ..Fields::default() };
            let _ = classify(super::super::table::Table::embedded(), &f);
        }

        #[test]
        fn never_panics_on_words(prefix in "[a-z\\[\\]<>\" :]{0,30}", tail in "[a-z ]{0,20}") {
            let msg = format!("{prefix}no more pkg memory{tail}");
            let f = Fields { log_line: true, message: msg.as_bytes(), ..Fields::default() };
            let _ = classify(super::super::table::Table::embedded(), &f);
        }
    }
}
