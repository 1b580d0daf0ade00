//! Pure readers of Kamailio's CMake files (6.x): `option(NAME "help" ON)`
//! declarations in `cmake/defs.cmake`, `NAME:TYPE=VALUE` entries of a
//! configured build directory's `CMakeCache.txt`, and
//! `project(kamailio VERSION x.y.z)` in `CMakeLists.txt`.
//!
//! Text in, positions out: no I/O, no panic on any input (fuzzed below).
//! Editing is left to `patch::engine`, which uses the byte positions given
//! here.

use regex::Regex;
use std::sync::OnceLock;

/// An `option(NAME "help" [VALUE])` call found on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDecl {
    /// 0-based line.
    pub line: usize,
    pub name: String,
    /// Byte range of VALUE in the line, when given.
    pub value: Option<(usize, usize)>,
    /// Byte index of the closing `)`; `None` when the call continues on
    /// later lines (a layout kmemdbg does not edit).
    pub close: Option<usize>,
}

/// One `NAME[:TYPE]=VALUE` cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// 0-based line.
    pub line: usize,
    pub name: String,
    pub ty: Option<String>,
    /// Byte offset of the value in the line.
    pub value_start: usize,
    pub value: String,
}

/// The active part of a CMake line: up to a `#` outside double quotes.
fn active(line: &str) -> &str {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            '#' if !in_quotes => return &line[..i],
            _ => {}
        }
    }
    line
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// Every `option(...)` declaration whose opening is on an active line.
pub fn options(text: &str) -> Vec<OptionDecl> {
    static OPEN: OnceLock<Regex> = OnceLock::new();
    static FULL: OnceLock<Regex> = OnceLock::new();
    let open = OPEN
        .get_or_init(|| Regex::new(r"^\s*option\s*\(\s*([A-Za-z0-9_]+)").expect("static regex"));
    let full = FULL.get_or_init(|| {
        Regex::new(
            r#"^\s*option\s*\(\s*([A-Za-z0-9_]+)\s+("(?:[^"\\]|\\.)*"|[^\s)"]+)\s*([^\s)"]*)\s*\)"#,
        )
        .expect("static regex")
    });
    let mut out = Vec::new();
    for (i, raw) in lines(text).enumerate() {
        let line = active(raw);
        let Some(c) = open.captures(line) else {
            continue;
        };
        let name = c[1].to_string();
        match full.captures(line) {
            Some(f) => {
                let value = f.get(3).filter(|m| !m.as_str().is_empty());
                let close = f.get(0).map(|m| m.end() - 1);
                out.push(OptionDecl {
                    line: i,
                    name,
                    value: value.map(|m| (m.start(), m.end())),
                    close,
                });
            }
            None => out.push(OptionDecl {
                line: i,
                name,
                value: None,
                close: None,
            }),
        }
    }
    out
}

/// Every entry of a CMakeCache.txt (comments `#`/`//` and blank lines skipped).
pub fn cache_entries(text: &str) -> Vec<CacheEntry> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"^("[^"]*"|[A-Za-z0-9_./+-]+)(?::([A-Za-z]+))?=(.*)$"#).expect("static regex")
    });
    let mut out = Vec::new();
    for (i, line) in lines(text).enumerate() {
        if line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        if let Some(c) = re.captures(line) {
            let v = c.get(3).expect("group 3 always matches");
            out.push(CacheEntry {
                line: i,
                name: c[1].trim_matches('"').to_string(),
                ty: c.get(2).map(|m| m.as_str().to_string()),
                value_start: v.start(),
                value: v.as_str().to_string(),
            });
        }
    }
    out
}

/// The source directory a build directory was configured for.
pub fn cache_home(text: &str) -> Option<String> {
    cache_entries(text)
        .into_iter()
        .find(|e| e.name == "CMAKE_HOME_DIRECTORY")
        .map(|e| e.value)
}

/// `project(NAME ... VERSION x.y.z ...)`: the name and the version, if given.
pub fn project(text: &str) -> Option<(String, Option<String>)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    static VER: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?is)(?:^|\n)\s*project\s*\(\s*([A-Za-z0-9_-]+)([^)]*)\)")
            .expect("static regex")
    });
    let ver =
        VER.get_or_init(|| Regex::new(r"(?i)\bVERSION\s+([0-9][0-9.]*)").expect("static regex"));
    let active_text: String = lines(text).map(active).collect::<Vec<_>>().join("\n");
    let c = re.captures(&active_text)?;
    let version = ver.captures(&c[2]).map(|v| v[1].to_string());
    Some((c[1].to_string(), version))
}

/// CMake's truth: ON, YES, TRUE, Y and non-zero numbers are true; OFF, NO,
/// FALSE, N, IGNORE, NOTFOUND, `*-NOTFOUND`, 0 and empty are false.
pub fn truthy(value: &str) -> bool {
    let v = value.trim().to_ascii_uppercase();
    if let Ok(n) = v.parse::<f64>() {
        return n != 0.0;
    }
    matches!(v.as_str(), "ON" | "YES" | "TRUE" | "Y")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_options() {
        let t = "# option(OLD \"x\" ON)\noption(MALLOC_STATS \"Use malloc stats\" ON)\n  option(DBG_SR_MEMORY \"Use memory debugging system\" OFF) # packager\noption(BARE \"no default\")\noption(WRAPPED\n  \"help\" ON)\n";
        let o = options(t);
        let names: Vec<_> = o.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["MALLOC_STATS", "DBG_SR_MEMORY", "BARE", "WRAPPED"]);
        let d = &o[1];
        let line = t.lines().nth(d.line).unwrap();
        let (a, b) = d.value.unwrap();
        assert_eq!(&line[a..b], "OFF");
        assert_eq!(&line[d.close.unwrap()..d.close.unwrap() + 1], ")");
        assert_eq!(o[2].value, None);
        assert!(o[2].close.is_some());
        assert_eq!(o[3].close, None);
    }

    #[test]
    fn reads_cache_entries() {
        let t = "# This is the CMakeCache file.\n//Use memory debugging system\nDBG_SR_MEMORY:BOOL=OFF\nCMAKE_HOME_DIRECTORY:INTERNAL=/tmp/k\nPLAIN=1\n";
        let e = cache_entries(t);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].name, "DBG_SR_MEMORY");
        assert_eq!(e[0].ty.as_deref(), Some("BOOL"));
        assert_eq!(e[0].value, "OFF");
        assert_eq!(e[0].value_start, "DBG_SR_MEMORY:BOOL=".len());
        assert_eq!(cache_home(t).as_deref(), Some("/tmp/k"));
    }

    #[test]
    fn reads_project_version() {
        let t = "cmake_minimum_required(VERSION 3.10)\n\nproject(\n  kamailio\n  VERSION 6.0.0\n  DESCRIPTION \"Kamailio SIP Server\")\n";
        assert_eq!(
            project(t),
            Some(("kamailio".to_string(), Some("6.0.0".to_string())))
        );
    }

    #[test]
    fn cmake_truth() {
        for t in ["ON", "yes", "TRUE", "y", "1", "2"] {
            assert!(truthy(t), "{t}");
        }
        for f in [
            "OFF",
            "no",
            "FALSE",
            "n",
            "0",
            "",
            "IGNORE",
            "NOTFOUND",
            "X-NOTFOUND",
        ] {
            assert!(!truthy(f), "{f}");
        }
    }

    proptest! {
        #[test]
        fn readers_never_panic(text in "\\PC{0,300}") {
            let _ = options(&text);
            let _ = cache_entries(&text);
            let _ = project(&text);
            let _ = truthy(&text);
        }
    }
}
