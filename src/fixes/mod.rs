//! Known leak fixes of Kamailio, mined from its git history.
//!
//! The data file `data/known-fixes.tsv` is written by `ci/mine-fixes.py` (the
//! rule is `ci/known-fixes-rule.toml`) and embedded in the binary; this
//! module reads it ([`parse_data`], pure: text in, data out, errors naming the
//! line) and answers "which of these fixes are after version V"
//! ([`lookup`]). It never reads the network, the box or a git repository:
//! everything it knows is the embedded text (or a file the caller read).

pub mod lookup;
pub mod sites;

pub use lookup::{lookup, Advice, Found, Query, Strength};

use anyhow::{bail, Result};
use serde::Serialize;
use std::fmt;

/// The data file built into kmemdbg.
pub const BUILTIN: &str = include_str!("../../data/known-fixes.tsv");

/// A release `X.Y.Z` of Kamailio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// A release series (stable branch) `X.Y`.
pub type SeriesId = (u32, u32);

impl Release {
    /// `5.6.3`, also `5.6.3-2+deb12u1` or `v5.6.3` (a packager's suffix is
    /// ignored); `None` unless there are three numbers.
    pub fn parse(text: &str) -> Option<Release> {
        let t = text.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let end = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (nums, rest) = t.split_at(end);
        if !(rest.is_empty() || rest.starts_with(['-', '~', '+', ' ', '('])) {
            return None;
        }
        let mut it = nums.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let patch = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        Some(Release {
            major,
            minor,
            patch,
        })
    }

    pub fn series(self) -> SeriesId {
        (self.major, self.minor)
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Release {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a fix family reached, one entry per release series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The first release of its series that holds the fix (`5.6.4`).
    Release(Release),
    /// `X.Y.0+`: in X.Y.0 and in the .0 of every later series.
    Since(SeriesId),
    /// On the branch `X.Y`, in no release yet.
    Unreleased(SeriesId),
}

impl fmt::Display for Reached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reached::Release(r) => write!(f, "{r}"),
            Reached::Since((a, b)) => write!(f, "{a}.{b}.0+"),
            Reached::Unreleased((a, b)) => write!(f, "{a}.{b}:unreleased"),
        }
    }
}

impl Serialize for Reached {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One known fix: an original commit and its backports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// The original commit (abbreviated to 12 hex digits).
    pub id: String,
    /// Modules its files belong to, the subject's module first (`core`, `tm`).
    pub modules: Vec<String>,
    /// Every commit of the family (original and cherry-picks).
    pub commits: Vec<String>,
    /// Where it reached, per series.
    pub releases: Vec<Reached>,
    /// On the development branch.
    pub development: bool,
    /// Files the commits change, as paths in the repository.
    pub files: Vec<String>,
    /// Functions their hunks touch.
    pub functions: Vec<String>,
    /// The original commit's subject.
    pub subject: String,
}

impl Fix {
    /// Whether the release `v` holds a commit of this family.
    pub fn is_in(&self, v: Release) -> bool {
        self.releases.iter().any(|r| match *r {
            Reached::Release(first) => first.series() == v.series() && first <= v,
            Reached::Since(s) => v.series() >= s,
            Reached::Unreleased(_) => false,
        })
    }
}

/// When and where the data was mined.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Mined {
    pub branch: String,
    pub commit: String,
    pub date: String,
}

/// The whole data file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownFixes {
    pub mined: Mined,
    /// Each release series and its releases, oldest first.
    pub series: Vec<(SeriesId, Vec<Release>)>,
    /// Fixes, oldest first.
    pub fixes: Vec<Fix>,
}

impl KnownFixes {
    /// Whether `v` is one of the releases the data knows.
    pub fn knows(&self, v: Release) -> bool {
        self.series.iter().any(|(_, rels)| rels.contains(&v))
    }

    /// The newest release the data knows.
    pub fn newest(&self) -> Option<Release> {
        self.series
            .iter()
            .flat_map(|(_, r)| r.iter().copied())
            .max()
    }
}

/// The Kamailio version a file written by kmemdbg names in its header: the
/// leading `#` lines (`# kamailio: 5.6.3`, `# kamailio_version: 5.6.3`).
/// Never looks past the header: a log's own lines are not a header.
pub fn version_in_header(text: &str) -> Option<Release> {
    for line in text.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            break;
        };
        let rest = rest.trim();
        let lower = rest.to_ascii_lowercase();
        let Some(after) = lower.strip_prefix("kamailio") else {
            continue;
        };
        let after = after
            .trim_start_matches(['_', '-', ' '])
            .trim_start_matches("version")
            .trim_start();
        if let Some(value) = after.strip_prefix([':', '=']) {
            if let Some(r) = Release::parse(value.trim()) {
                return Some(r);
            }
        }
    }
    None
}

/// The embedded data, parsed.
pub fn builtin() -> Result<KnownFixes> {
    parse_data(BUILTIN)
}

fn series_id(text: &str) -> Option<SeriesId> {
    let (a, b) = text.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn parse_reached(tok: &str) -> Option<Reached> {
    if let Some(s) = tok.strip_suffix(".0+") {
        return series_id(s).map(Reached::Since);
    }
    if let Some(s) = tok.strip_suffix(":unreleased") {
        return series_id(s).map(Reached::Unreleased);
    }
    let r = Release::parse(tok)?;
    (r.to_string() == tok).then_some(Reached::Release(r))
}

fn list(field: &str) -> Vec<String> {
    if field == "-" || field.is_empty() {
        return Vec::new();
    }
    field.split(',').map(str::to_string).collect()
}

/// Reads the data file (format `kmemdbg.known-fixes/1`, see
/// `ci/mine-fixes.py`). Errors name the line.
pub fn parse_data(text: &str) -> Result<KnownFixes> {
    let mut k = KnownFixes::default();
    let mut mined = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        match cols[0] {
            "mined" if cols.len() == 4 => {
                k.mined = Mined {
                    branch: cols[1].to_string(),
                    commit: cols[2].to_string(),
                    date: cols[3].to_string(),
                };
                mined = true;
            }
            "series" if cols.len() == 3 => {
                let Some(id) = series_id(cols[1]) else {
                    bail!("known fixes line {n}: bad series {:?}", cols[1]);
                };
                let mut rels = Vec::new();
                for t in cols[2].split(' ').filter(|t| *t != "-" && !t.is_empty()) {
                    match Release::parse(t) {
                        Some(r) if r.series() == id => rels.push(r),
                        _ => bail!(
                            "known fixes line {n}: bad release {t:?} in series {}",
                            cols[1]
                        ),
                    }
                }
                k.series.push((id, rels));
            }
            "fix" if cols.len() == 9 => {
                let mut releases = Vec::new();
                for t in cols[4].split(' ').filter(|t| *t != "-" && !t.is_empty()) {
                    match parse_reached(t) {
                        Some(r) => releases.push(r),
                        None => bail!("known fixes line {n}: bad release token {t:?}"),
                    }
                }
                let development = match cols[5] {
                    "dev" => true,
                    "-" => false,
                    other => bail!("known fixes line {n}: bad development column {other:?}"),
                };
                if cols[1].is_empty() {
                    bail!("known fixes line {n}: empty id");
                }
                k.fixes.push(Fix {
                    id: cols[1].to_string(),
                    modules: list(cols[2]),
                    commits: list(cols[3]),
                    releases,
                    development,
                    files: list(cols[6]),
                    functions: list(cols[7]),
                    subject: cols[8].to_string(),
                });
            }
            other => bail!(
                "known fixes line {n}: unexpected {:?} line with {} columns",
                other,
                cols.len()
            ),
        }
    }
    if !mined {
        bail!("known fixes: no `mined` line (which commit the data was mined at)");
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "# comment\nmined\tmaster\tabc\t2026-01-01T00:00:00+00:00\n\
series\t5.6\t5.6.0 5.6.1 5.6.2\nseries\t5.7\t5.7.0\n\
fix\t111\tcore\t111,222\t5.6.2 5.7.0+\tdev\tsrc/core/a.c\tf\tcore: fix leak\n\
fix\t333\ttm\t333\t5.6:unreleased\t-\tsrc/modules/tm/t.c\t-\ttm: fix leak\n";

    #[test]
    fn reads_lines() {
        let k = parse_data(SMALL).unwrap();
        assert_eq!(k.mined.commit, "abc");
        assert_eq!(k.series.len(), 2);
        assert_eq!(k.fixes.len(), 2);
        assert_eq!(k.fixes[0].commits, vec!["111", "222"]);
        assert_eq!(
            k.fixes[0].releases,
            vec![
                Reached::Release(Release::parse("5.6.2").unwrap()),
                Reached::Since((5, 7))
            ]
        );
        assert!(k.fixes[1].functions.is_empty());
        assert!(!k.fixes[1].development);
        let v = |s| Release::parse(s).unwrap();
        assert!(!k.fixes[0].is_in(v("5.6.1")));
        assert!(k.fixes[0].is_in(v("5.6.2")));
        assert!(k.fixes[0].is_in(v("6.0.0")));
        assert!(!k.fixes[0].is_in(v("5.5.9")));
        assert!(!k.fixes[1].is_in(v("5.6.9")));
        assert!(k.knows(v("5.6.1")) && !k.knows(v("5.6.3")));
    }

    #[test]
    fn errors_name_the_line() {
        let bad = SMALL.replace("5.6.2 5.7.0+", "5.6.x");
        let e = parse_data(&bad).unwrap_err().to_string();
        assert!(e.contains("line 5"), "{e}");
        assert!(parse_data("series\t5.6\t5.6.0\n").is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(Release::parse("5.6.3").unwrap().to_string(), "5.6.3");
        assert_eq!(
            Release::parse("5.6.3-2+deb12u1").unwrap().to_string(),
            "5.6.3"
        );
        assert_eq!(Release::parse("v6.0.1").unwrap().to_string(), "6.0.1");
        for bad in ["5.6", "5", "", "five", "5.6.3.1", "5.6.x", "5.6.3x"] {
            assert!(Release::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn header_version() {
        let snap = "# kmemdbg mod.stats snapshot 1\n# time: 2026-12-06T17:05:11Z\n# kamailio: 5.6.3\n# rpc: mod.stats all shm\n";
        assert_eq!(version_in_header(snap), Release::parse("5.6.3"));
        assert_eq!(
            version_in_header("# kamailio_version = 6.0.1 (x86_64/linux)\n"),
            Release::parse("6.0.1")
        );
        // a log line is not a header, even when it names a version
        let log =
            " 0(7238) INFO: <core> [main.c:2990]: main(): kamailio 5.6.3\n# kamailio: 5.6.3\n";
        assert_eq!(version_in_header(log), None);
        assert_eq!(version_in_header("# kamailio: latest\n"), None);
        assert_eq!(version_in_header(""), None);
    }

    #[test]
    fn builtin_data_reads() {
        let k = builtin().unwrap();
        assert!(k.fixes.len() > 100, "{}", k.fixes.len());
        assert_eq!(k.mined.commit.len(), 40);
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC*") {
            let _ = parse_data(&s);
            let _ = Release::parse(&s);
            let _ = version_in_header(&s);
        }
        #[test]
        fn parser_never_panics_on_near_misses(kind in "(fix|series|mined)", cols in proptest::collection::vec("[ -~]{0,12}", 0..10)) {
            let line = format!("{kind}\t{}\n", cols.join("\t"));
            let _ = parse_data(&line);
        }
    }
}
