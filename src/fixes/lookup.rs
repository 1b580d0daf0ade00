//! Which known fixes are after a version and touch a module, file or
//! function, strongest match first, each with the release to upgrade to.
//!
//! Pure: the data and the question in, the answer out. Never guesses a
//! version: the caller says which one runs.

use super::{Fix, KnownFixes, Reached, Release, SeriesId};
use crate::logline::{parse_site, Site};
use serde::Serialize;

/// What the fixes must touch. Empty: every fix after the version.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub module: Option<String>,
    pub site: Option<Site>,
}

impl Query {
    /// From `--module` and `--site` (a dump's site, `tm: t_hooks.c:
    /// init_tmcb_lists(71)`, a function name or a file name).
    pub fn new(module: Option<&str>, site: Option<&str>) -> Query {
        let site = site.map(|s| {
            let mut site = parse_site(s.trim().as_bytes());
            let looks_like_file = [".c", ".h", ".y", ".l"]
                .iter()
                .any(|e| site.function.ends_with(e));
            if site.file.is_empty() && looks_like_file {
                site.file = std::mem::take(&mut site.function);
            }
            // `usrloc: new_ucontact(96)` (mod.stats): the place is a module
            let bare = !site.file.is_empty() && !site.file.contains(['.', '/', ' ']);
            if site.module.is_none() && bare {
                site.module = Some(std::mem::take(&mut site.file));
            }
            site
        });
        let module = module
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .or_else(|| site.as_ref().and_then(|s| s.module.clone()));
        Query { module, site }
    }

    pub fn is_empty(&self) -> bool {
        self.module.is_none() && self.site.is_none()
    }
}

/// How closely a fix matches the query, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// A hunk of the fix is in the site's function.
    Function,
    /// The fix changes the site's file.
    File,
    /// The fix changes the module.
    Module,
    /// No module or site was asked for.
    Any,
}

impl Strength {
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Function => "same function",
            Strength::File => "same file",
            Strength::Module => "same module",
            Strength::Any => "any",
        }
    }
}

/// What to upgrade to for a fix that `V` lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Advice {
    /// A later release of V's own series has it.
    SameBranch { release: Release },
    /// The first release of a later series that has it.
    LaterBranch { release: Release },
    /// On a stable branch (V's or later), in no release yet.
    NotYetReleased { branch: String },
    /// Only on the development branch.
    DevelopmentOnly,
}

impl Advice {
    /// `upgrade to 5.6.6 (same branch)`, `development only`, ...
    pub fn sentence(&self) -> String {
        match self {
            Advice::SameBranch { release } => format!("upgrade to {release} (same branch)"),
            Advice::LaterBranch { release } => {
                format!("upgrade to {release} (no release of your branch has it)")
            }
            Advice::NotYetReleased { branch } => {
                format!("on the {branch} branch, not yet released")
            }
            Advice::DevelopmentOnly => "development only (no release has it yet)".to_string(),
        }
    }
}

/// One fix found for a query.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    #[serde(rename = "match")]
    pub strength: Strength,
    pub advice: Advice,
    #[serde(flatten)]
    pub fix: Fix,
}

fn first_release_from(fix: &Fix, from: SeriesId) -> Option<Release> {
    fix.releases
        .iter()
        .filter_map(|r| match *r {
            Reached::Release(rel) if rel.series() > from => Some(rel),
            Reached::Since(s) if s > from => Some(Release {
                major: s.0,
                minor: s.1,
                patch: 0,
            }),
            _ => None,
        })
        .min()
}

/// The advice for a fix `v` lacks; `None` when no later place has it (a
/// fix only on older branches does not concern `v`).
pub fn advice(fix: &Fix, v: Release) -> Option<Advice> {
    if fix.is_in(v) {
        return None;
    }
    let same = fix.releases.iter().find_map(|r| match *r {
        Reached::Release(rel) if rel.series() == v.series() && rel > v => Some(rel),
        _ => None,
    });
    if let Some(release) = same {
        return Some(Advice::SameBranch { release });
    }
    if let Some(release) = first_release_from(fix, v.series()) {
        return Some(Advice::LaterBranch { release });
    }
    let unreleased = fix.releases.iter().find_map(|r| match *r {
        Reached::Unreleased(s) if s >= v.series() => Some(s),
        _ => None,
    });
    if let Some((a, b)) = unreleased {
        return Some(Advice::NotYetReleased {
            branch: format!("{a}.{b}"),
        });
    }
    fix.development.then_some(Advice::DevelopmentOnly)
}

fn file_matches(fix_file: &str, site_file: &str) -> bool {
    !site_file.is_empty()
        && (fix_file == site_file
            || fix_file
                .strip_suffix(site_file)
                .is_some_and(|head| head.ends_with('/')))
}

/// How `fix` matches `q`, or `None`.
pub fn strength(fix: &Fix, q: &Query) -> Option<Strength> {
    if q.is_empty() {
        return Some(Strength::Any);
    }
    let module_ok = match &q.module {
        Some(m) => fix.modules.iter().any(|fm| fm == m),
        None => true,
    };
    if let Some(site) = &q.site {
        let function = site.function.trim();
        if module_ok && !function.is_empty() && fix.functions.iter().any(|f| f == function) {
            return Some(Strength::Function);
        }
        if module_ok && fix.files.iter().any(|f| file_matches(f, site.file.trim())) {
            return Some(Strength::File);
        }
    }
    (q.module.is_some() && module_ok).then_some(Strength::Module)
}

/// The fixes after `v` that match `q`, strongest first, then newest first.
/// A version of a series newer than the data's is taken to hold what the
/// development branch had when the data was mined (it branched off later).
pub fn lookup(k: &KnownFixes, v: Release, q: &Query) -> Vec<Found> {
    let beyond = k
        .series
        .iter()
        .map(|(id, _)| *id)
        .max()
        .is_some_and(|newest| v.series() > newest);
    let mut found: Vec<(usize, Found)> = k
        .fixes
        .iter()
        .enumerate()
        .filter_map(|(i, fix)| {
            let strength = strength(fix, q)?;
            let advice = advice(fix, v)?;
            if beyond && advice == Advice::DevelopmentOnly {
                return None;
            }
            Some((
                i,
                Found {
                    strength,
                    advice,
                    fix: fix.clone(),
                },
            ))
        })
        .collect();
    found.sort_by(|(ia, a), (ib, b)| a.strength.cmp(&b.strength).then(ib.cmp(ia)));
    found.into_iter().map(|(_, f)| f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixes::parse_data;

    const DATA: &str = "mined\tmaster\tabc\t2026-01-01\n\
series\t5.6\t5.6.0 5.6.1 5.6.2 5.6.3 5.6.4\nseries\t5.7\t5.7.0 5.7.1\nseries\t6.0\t6.0.0\n\
fix\ta1\tcore\ta1\t5.6.4 5.7.0+\tdev\tsrc/core/parser/hf.h\thdr_allocs_parse\tcore: require leak\n\
fix\tb2\tsiputils\tb2\t5.7.1 6.0.0+\tdev\tsrc/modules/siputils/checks.c\tget_uri_param\tsiputils: free\n\
fix\tc3\tdmq\tc3\t\tdev\tsrc/modules/dmq/message.c\tdmq_x\tdmq: leak\n\
fix\td4\ttm\td4\t5.6:unreleased\tdev\tsrc/modules/tm/t_lookup.c\tt_unref\ttm: leak\n\
fix\te5\tcore\te5\t5.5.1\t-\tsrc/core/old.c\told\tcore: only old\n";

    fn v(s: &str) -> Release {
        Release::parse(s).unwrap()
    }

    #[test]
    fn advice_per_case() {
        let k = parse_data(DATA).unwrap();
        let f = |id: &str| k.fixes.iter().find(|f| f.id == id).unwrap();
        assert_eq!(
            advice(f("a1"), v("5.6.3")),
            Some(Advice::SameBranch {
                release: v("5.6.4")
            })
        );
        assert_eq!(advice(f("a1"), v("5.6.4")), None);
        assert_eq!(advice(f("a1"), v("5.8.0")), None);
        assert_eq!(
            advice(f("b2"), v("5.6.3")),
            Some(Advice::LaterBranch {
                release: v("5.7.1")
            })
        );
        assert_eq!(advice(f("c3"), v("6.0.0")), Some(Advice::DevelopmentOnly));
        assert_eq!(
            advice(f("d4"), v("5.6.3")),
            Some(Advice::NotYetReleased {
                branch: "5.6".into()
            })
        );
        assert_eq!(advice(f("e5"), v("5.6.3")), None);
    }

    #[test]
    fn strongest_first() {
        let k = parse_data(DATA).unwrap();
        let q = Query::new(None, Some("core: core/parser/hf.h: hdr_allocs_parse(12)"));
        let r = lookup(&k, v("5.6.0"), &q);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].strength, Strength::Function);
        let q = Query::new(None, Some("siputils: checks.c: other(3)"));
        let r = lookup(&k, v("5.6.0"), &q);
        assert_eq!(r[0].strength, Strength::File);
        let q = Query::new(None, Some("siputils: other.c: other(3)"));
        assert_eq!(lookup(&k, v("5.6.0"), &q)[0].strength, Strength::Module);
        let q = Query::new(Some("tm"), Some("get_uri_param"));
        assert!(lookup(&k, v("5.6.0"), &q).iter().all(|f| f.fix.id == "d4"));
        // 6.1.0 is newer than the data's series: development fixes are in it
        let later: Vec<String> = lookup(&k, v("6.1.0"), &Query::default())
            .into_iter()
            .map(|f| f.fix.id)
            .collect();
        assert!(!later.contains(&"c3".to_string()), "{later:?}");
        let all = lookup(&k, v("5.6.0"), &Query::default());
        let ids: Vec<&str> = all.iter().map(|f| f.fix.id.as_str()).collect();
        assert_eq!(ids, vec!["d4", "c3", "b2", "a1"]);
    }

    proptest::proptest! {
        #[test]
        fn query_never_panics(m in "\\PC{0,20}", s in "\\PC{0,60}") {
            let k = parse_data(DATA).unwrap();
            let _ = lookup(&k, v("5.6.0"), &Query::new(Some(&m), Some(&s)));
        }
    }
}
