//! The known fixes of the sites a dump ranks (for `diff`, `analyze` and the
//! bug report): one line per site saying what to upgrade to, or that no fix
//! is known. Pure: the data, the version and the site keys in, text out.

use super::{lookup, Advice, Found, KnownFixes, Query, Release, Strength};
use crate::mem::GroupBy;
use serde::Serialize;
use std::fmt::Write as _;

/// The query for one key of `analyze`/`diff`, as grouped by `by`.
pub fn query_for_key(by: GroupBy, key: &str) -> Query {
    match by {
        GroupBy::Module => Query::new(Some(key), None),
        GroupBy::File => match key.rsplit_once(": ") {
            Some((module, file)) => Query::new(Some(module), Some(file)),
            None => Query::new(None, Some(key)),
        },
        GroupBy::Site | GroupBy::Function => Query::new(None, Some(key)),
    }
}

/// One fix, briefly, for `diff`/`analyze --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub id: String,
    pub subject: String,
    #[serde(rename = "match")]
    pub strength: Strength,
    pub advice: Advice,
}

/// The known fixes of one growing (or large) site.
#[derive(Debug, Clone, Serialize)]
pub struct KeyFixes {
    pub key: String,
    /// Fixes of the same function or file (of the module when grouped by module).
    pub fixes: Vec<Brief>,
    /// Further fixes elsewhere in the same module.
    pub in_module: usize,
    /// The line printed under the site.
    pub line: String,
}

/// `known_fixes` in `diff`/`analyze --json`.
#[derive(Debug, Clone, Serialize)]
pub struct KnownReport {
    pub version: Release,
    pub source: String,
    pub mined_commit: String,
    pub sites: Vec<KeyFixes>,
}

/// The known fixes of `keys` (deduplicated, in order).
pub fn for_keys<'a>(
    data: &KnownFixes,
    version: Release,
    source: &str,
    by: GroupBy,
    keys: impl IntoIterator<Item = &'a str>,
) -> KnownReport {
    let mut sites: Vec<KeyFixes> = Vec::new();
    for key in keys {
        if sites.iter().any(|s| s.key == key) {
            continue;
        }
        let q = query_for_key(by, key);
        let found = lookup(data, version, &q);
        let close_enough = |f: &Found| match by {
            GroupBy::Module => true,
            _ => matches!(f.strength, Strength::Function | Strength::File),
        };
        let (close, other): (Vec<Found>, Vec<Found>) = found.into_iter().partition(close_enough);
        let line = site_line(version, &q, key, &close, other.len());
        sites.push(KeyFixes {
            key: key.to_string(),
            fixes: close
                .into_iter()
                .map(|f| Brief {
                    id: f.fix.id,
                    subject: f.fix.subject,
                    strength: f.strength,
                    advice: f.advice,
                })
                .collect(),
            in_module: other.len(),
            line,
        });
    }
    KnownReport {
        version,
        source: source.to_string(),
        mined_commit: data.mined.commit.clone(),
        sites,
    }
}

/// The "known fixes" line under a site: the closest fix after `v` and what
/// to upgrade to, or a plain statement that none is known.
fn site_line(v: Release, q: &Query, key: &str, close: &[Found], in_module: usize) -> String {
    let hint = match (&q.site, &q.module) {
        (None, Some(m)) => format!("kmemdbg fixes --version {v} --module {m}"),
        _ => format!("kmemdbg fixes --version {v} --site '{}'", key.trim()),
    };
    let Some(first) = close.first() else {
        let mut s = format!("known fixes after {v}: none for this function or file");
        if q.site.is_none() {
            s = format!("known fixes after {v}: none for this module");
        }
        if in_module > 0 {
            let _ = write!(s, " ({in_module} elsewhere in the module: {hint})");
        }
        return s;
    };
    let mut s = format!(
        "known fixes after {v}: {} [{}, {}]: {}",
        first.advice.sentence(),
        first.strength.as_str(),
        first.fix.id,
        first.fix.subject
    );
    let more = close.len() + in_module - 1;
    if more > 0 {
        let _ = write!(s, "; {more} more: {hint}");
    }
    s
}
