//! The table of out-of-memory messages (`data/oom-patterns.toml`, embedded):
//! which wording, which pool, which Kamailio generations print it, and where
//! in Kamailio's sources each entry was read.
//!
//! Pure: parses the embedded text and compiles the regexes once; matches a
//! message against them. Never reads a file, never prints.

use anyhow::{bail, Context, Result};
use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The embedded table.
pub const TABLE_TEXT: &str = include_str!("../../data/oom-patterns.toml");

/// Which memory a message says ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OomPool {
    /// Shared memory (`-m`).
    Shm,
    /// Private memory of one process (`-M`).
    Pkg,
    /// The system's malloc (SYS_MALLOC builds, modules using libc directly).
    Sys,
    /// The message does not say.
    Unnamed,
}

impl OomPool {
    pub fn as_str(self) -> &'static str {
        match self {
            OomPool::Shm => "shm",
            OomPool::Pkg => "pkg",
            OomPool::Sys => "sys",
            OomPool::Unnamed => "unnamed",
        }
    }
}

/// What kind of line an entry describes (see the table's header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Pool,
    Allocator,
    Words,
    Startup,
    Echo,
    NotOom,
    Start,
}

impl Kind {
    /// True for the kinds that are findings (an allocation that failed).
    pub fn is_finding(self) -> bool {
        matches!(
            self,
            Kind::Pool | Kind::Allocator | Kind::Words | Kind::Startup
        )
    }
}

/// One entry as written in the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    pub kind: Kind,
    pub pool: OomPool,
    pub regex: String,
    pub note: String,
    pub first: String,
    pub last: String,
    pub literal: String,
    pub sources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    pattern: Vec<Entry>,
}

/// The table, compiled.
#[derive(Debug)]
pub struct Table {
    pub entries: Vec<Entry>,
    regexes: Vec<Regex>,
    /// Every regex as one alternation: most candidate lines match none,
    /// and one search says so.
    any: Regex,
}

/// What the table says about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMatch<'a> {
    /// Index into [`Table::entries`].
    pub entry: usize,
    /// Byte offset of the match in the message.
    pub at: usize,
    /// Named groups of the allocator / start entries.
    pub size: Option<u64>,
    pub addr: Option<&'a [u8]>,
    pub func: Option<&'a [u8]>,
    pub module: Option<&'a [u8]>,
    pub shm: Option<u64>,
    pub pkg: Option<u64>,
}

impl Table {
    /// Parses and compiles `text` (the embedded table, or a test's).
    pub fn parse(text: &str) -> Result<Table> {
        let file: File = toml::from_str(text).context("data/oom-patterns.toml does not parse")?;
        let mut regexes = Vec::with_capacity(file.pattern.len());
        for e in &file.pattern {
            if e.sources.is_empty() {
                bail!("oom pattern {}: no sources cited", e.id);
            }
            let re = RegexBuilder::new(&e.regex)
                .case_insensitive(true)
                .build()
                .with_context(|| format!("oom pattern {}: bad regex", e.id))?;
            regexes.push(re);
        }
        let alternation: Vec<String> = file
            .pattern
            .iter()
            .map(|e| format!("(?:{})", e.regex))
            .collect();
        let any = RegexBuilder::new(&alternation.join("|"))
            .case_insensitive(true)
            .build()
            .context("oom patterns: the regexes do not combine (a group name used twice?)")?;
        Ok(Table {
            entries: file.pattern,
            regexes,
            any,
        })
    }

    /// The embedded table (compiled once).
    pub fn embedded() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| match Table::parse(TABLE_TEXT) {
            Ok(t) => t,
            // The embedded text is checked by a unit test; an empty table
            // would only make scan find nothing.
            Err(_) => Table {
                entries: Vec::new(),
                regexes: Vec::new(),
                any: Regex::new("[^\\s\\S]").unwrap_or_else(|_| unreachable!()),
            },
        })
    }

    /// The first entry whose regex matches `message`.
    pub fn find<'a>(&self, message: &'a [u8]) -> Option<TableMatch<'a>> {
        if !self.any.is_match(message) {
            return None;
        }
        for (i, re) in self.regexes.iter().enumerate() {
            let Some(found) = re.find(message) else {
                continue;
            };
            let mut m = TableMatch {
                entry: i,
                at: found.start(),
                size: None,
                addr: None,
                func: None,
                module: None,
                shm: None,
                pkg: None,
            };
            // only the allocator and start entries have groups to read
            if re.captures_len() > 1 {
                if let Some(caps) = re.captures(message) {
                    let text = |name: &str| caps.name(name).map(|m| m.as_bytes());
                    let number = |name: &str| {
                        caps.name(name)
                            .and_then(|m| std::str::from_utf8(m.as_bytes()).ok())
                            .and_then(|s| s.parse().ok())
                    };
                    m.size = number("size");
                    m.addr = text("addr");
                    m.func = text("func").filter(|s| !s.is_empty());
                    m.module = text("module").map(trim).filter(|s| !s.is_empty());
                    m.shm = number("shm");
                    m.pkg = number("pkg");
                }
            }
            return Some(m);
        }
        None
    }
}

/// Messages longer than this are not remembered by [`FindMemo`].
const MEMO_MAX_MESSAGE: usize = 512;
/// How many messages a [`FindMemo`] remembers before it starts afresh.
const MEMO_MAX_ENTRIES: usize = 2048;

/// A [`TableMatch`] with places relative to the message, to remember.
#[derive(Debug, Clone, Copy)]
struct Remembered {
    entry: usize,
    at: usize,
    size: Option<u64>,
    addr: Option<(usize, usize)>,
    func: Option<(usize, usize)>,
    module: Option<(usize, usize)>,
    shm: Option<u64>,
    pkg: Option<u64>,
}

/// [`Table::find`]'s answers for the messages seen lately. The answer
/// depends on the message's bytes alone, so a message met again (an
/// out-of-memory storm repeats the same words thousands of times) gets
/// the same answer without running the regexes. Bounded: at most
/// [`MEMO_MAX_ENTRIES`] messages of at most [`MEMO_MAX_MESSAGE`] bytes.
#[derive(Debug, Default)]
pub struct FindMemo {
    seen: std::collections::HashMap<Box<[u8]>, Option<Remembered>>,
}

impl FindMemo {
    pub fn new() -> FindMemo {
        FindMemo::default()
    }
}

/// `sub`'s place in `whole`, when it is a slice of it.
fn place(whole: &[u8], sub: Option<&[u8]>) -> Option<(usize, usize)> {
    let sub = sub?;
    let at = (sub.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (at + sub.len() <= whole.len()).then_some((at, at + sub.len()))
}

impl Table {
    /// [`Table::find`], remembering its answers in `memo`.
    pub fn find_memo<'a>(&self, memo: &mut FindMemo, message: &'a [u8]) -> Option<TableMatch<'a>> {
        if message.len() > MEMO_MAX_MESSAGE {
            return self.find(message);
        }
        let slice = |p: Option<(usize, usize)>| p.and_then(|(a, b)| message.get(a..b));
        if let Some(r) = memo.seen.get(message) {
            return r.map(|r| TableMatch {
                entry: r.entry,
                at: r.at,
                size: r.size,
                addr: slice(r.addr),
                func: slice(r.func),
                module: slice(r.module),
                shm: r.shm,
                pkg: r.pkg,
            });
        }
        let found = self.find(message);
        let remembered = found.as_ref().map(|m| Remembered {
            entry: m.entry,
            at: m.at,
            size: m.size,
            addr: place(message, m.addr),
            func: place(message, m.func),
            module: place(message, m.module),
            shm: m.shm,
            pkg: m.pkg,
        });
        if memo.seen.len() >= MEMO_MAX_ENTRIES {
            memo.seen.clear();
        }
        memo.seen.insert(message.into(), remembered);
        found
    }
}

/// `s` without ASCII blanks at either end.
pub fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses_and_every_entry_cites_sources() {
        let t = Table::parse(TABLE_TEXT).expect("embedded table");
        assert!(t.entries.len() >= 10);
        for e in &t.entries {
            for s in &e.sources {
                let (version, loc) = s.split_once(' ').expect("VERSION PATH:LINE");
                assert!(
                    version.chars().next().is_some_and(|c| c.is_ascii_digit()),
                    "{s}"
                );
                let (_, line) = loc.rsplit_once(':').expect("PATH:LINE");
                assert!(line.parse::<u32>().is_ok(), "{s}");
            }
        }
    }

    fn id_of(msg: &str) -> Option<String> {
        let t = Table::embedded();
        t.find(msg.as_bytes())
            .map(|m| t.entries[m.entry].id.clone())
    }

    #[test]
    fn real_5_6_3_messages_match_their_entries() {
        // From this machine's Debian 5.6.3 runs (tests/scan_real.rs makes them).
        assert_eq!(
            id_of("could not allocate shared memory from shm pool").as_deref(),
            Some("shm-pool")
        );
        assert_eq!(
            id_of("could not allocate private memory from pkg pool").as_deref(),
            Some("pkg-pool")
        );
        assert_eq!(
            id_of("rv eval out of memory").as_deref(),
            Some("unnamed-words")
        );
        let t = Table::embedded();
        let line = "qm_malloc(0x7f1e5c2b3010, 248) called from usrloc: ucontact.c: new_ucontact(98), module: usrloc; Free fragment not found!";
        let m = t.find(line.as_bytes()).expect("allocator");
        assert_eq!(t.entries[m.entry].id, "allocator");
        assert_eq!(m.size, Some(248));
        assert_eq!(m.func, Some(&b"new_ucontact"[..]));
        assert_eq!(m.module, Some(&b"usrloc"[..]));
        let m = t
            .find(b"processes (at least): 8 - shm size: 8388608 - pkg size: 4194304")
            .expect("start");
        assert_eq!((m.shm, m.pkg), (Some(8388608), Some(4194304)));
    }

    #[test]
    fn remembered_answers_are_the_table_s() {
        let t = Table::embedded();
        let mut memo = FindMemo::new();
        let messages: [&[u8]; 5] = [
            b"qm_malloc(0x7f1e5c2b3010, 248) called from usrloc: ucontact.c: new_ucontact(98), module: usrloc ; Free fragment not found!",
            b"processes (at least): 8 - shm size: 8388608 - pkg size: 4194304",
            b"could not allocate private memory from pkg pool",
            b"memory status dump",
            b"",
        ];
        for round in 0..3 {
            for m in messages {
                // a copy: the answer must point into the message given, not the first one
                let copy = m.to_vec();
                assert_eq!(
                    t.find_memo(&mut memo, &copy),
                    t.find(&copy),
                    "round {round}"
                );
            }
        }
        assert_eq!(memo.seen.len(), messages.len());
    }

    proptest::proptest! {
        #[test]
        fn memo_agrees_with_find(msgs in proptest::collection::vec("(qm_malloc\\(0x[0-9a-f]{1,3}, [0-9]{1,3}\\)(  called from m: f.c: g\\(1\\), module: m[ ]{0,2})?; Free fragment not found|no more (pkg|shm) memory|x{0,3}out of memory|[a-z ]{0,5})", 0..40)) {
            let t = Table::embedded();
            let mut memo = FindMemo::new();
            for m in &msgs {
                let copy = m.clone().into_bytes();
                proptest::prop_assert_eq!(t.find_memo(&mut memo, &copy), t.find(&copy));
            }
        }
    }

    #[test]
    fn older_wordings_and_not_oom() {
        assert_eq!(
            id_of("could not allocate shared memory from available pool").as_deref(),
            Some("shm-pool")
        );
        assert_eq!(id_of("no more pkg memory").as_deref(), Some("pkg-words"));
        assert_eq!(
            id_of("ERROR:tm:insert_tmcb: out of shm. mem").as_deref(),
            Some("shm-words")
        );
        assert_eq!(
            id_of("BUG: qm_free: bad pointer 0x1 (out of memory block!) - aborting").as_deref(),
            Some("bad-pointer")
        );
        assert_eq!(
            id_of("could not bind tm module - only stateless mode"),
            None
        );
        assert_eq!(id_of("memory status dump"), None);
    }
}
