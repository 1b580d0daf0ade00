//! Ranks allocation sites by bytes and count (pure). A deliberately small
//! aggregation for the fragments gdb walked; it gives way to the dump
//! aggregation (`dump::aggregate`) once that is on main, so that `gdb` and
//! `analyze` rank the same way.

use super::walk::Fragment;
use serde::Serialize;
use std::collections::HashMap;

/// One allocation site and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteTotal {
    /// `core: core/sr_module.c: fix_param(1144)`, or `(no site: build without memory debugging)`.
    pub site: String,
    pub count: u64,
    pub bytes: u64,
}

pub const NO_SITE: &str = "(no site: build without memory debugging)";

/// Sites sorted by bytes (then count, then name), largest first.
pub fn rank(fragments: &[Fragment]) -> Vec<SiteTotal> {
    let mut by_site: HashMap<&str, (u64, u64)> = HashMap::new();
    for f in fragments {
        let e = by_site
            .entry(f.site.as_deref().unwrap_or(NO_SITE))
            .or_default();
        e.0 += 1;
        e.1 += f.size_bytes;
    }
    let mut out: Vec<SiteTotal> = by_site
        .into_iter()
        .map(|(site, (count, bytes))| SiteTotal {
            site: site.to_string(),
            count,
            bytes,
        })
        .collect();
    out.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.count.cmp(&a.count))
            .then(a.site.cmp(&b.site))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(size: u64, site: Option<&str>) -> Fragment {
        Fragment {
            index: 0,
            size_bytes: size,
            address: String::new(),
            site: site.map(str::to_string),
        }
    }

    #[test]
    fn ranks_by_bytes_then_count() {
        let r = rank(&[
            frag(8, Some("a")),
            frag(8, Some("a")),
            frag(100, Some("b")),
            frag(16, Some("c")),
            frag(4, None),
        ]);
        assert_eq!(r[0].site, "b");
        assert_eq!((r[1].site.as_str(), r[1].count, r[1].bytes), ("a", 2, 16));
        assert_eq!(r[2].site, "c");
        assert_eq!(r[3].site, NO_SITE);
        assert!(rank(&[]).is_empty());
    }
}
