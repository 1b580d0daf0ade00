//! Grouping a snapshot's sites by site, function, file or module
//! ([`GroupBy`], from `crate::mem`), for `analyze`, `diff` and `gdb`.

use super::snapshot::Snapshot;
use crate::logline::Site;
use serde::Serialize;
use std::collections::HashMap;

// ---------------------------------------------------------------- grouping

pub use crate::mem::GroupBy;

impl GroupBy {
    /// The group a site belongs to.
    pub fn key(self, site: &Site) -> String {
        let module = site.module.as_deref();
        let with_module = |rest: &str| match module {
            Some(m) => format!("{m}: {rest}"),
            None => rest.to_string(),
        };
        match self {
            GroupBy::Site => site.text.clone(),
            GroupBy::Function => with_module(&format!("{}: {}", site.file, site.function)),
            GroupBy::File => with_module(&site.file),
            GroupBy::Module => module.unwrap_or("(no module printed)").to_string(),
        }
    }
}

/// Sites summed by a [`GroupBy`] key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub key: String,
    pub count: u64,
    pub bytes: u64,
    /// Share of the dump's bytes (of its count when sizes are unknown), 0..=1.
    pub share: f64,
    /// How many distinct sites the group holds.
    pub sites: usize,
}

/// The sites of `snap` summed by `by`, most bytes first.
pub fn group(snap: &Snapshot, by: GroupBy) -> Vec<Group> {
    let mut map: HashMap<String, (u64, u64, usize)> = HashMap::new();
    for s in &snap.sites {
        let e = map.entry(by.key(&s.site)).or_default();
        e.0 = e.0.saturating_add(s.count);
        e.1 = e.1.saturating_add(s.bytes);
        e.2 += 1;
    }
    let by_bytes = snap.total_bytes > 0;
    let total = if by_bytes {
        snap.total_bytes
    } else {
        snap.total_count
    };
    let mut groups: Vec<Group> = map
        .into_iter()
        .map(|(key, (count, bytes, sites))| Group {
            share: if total == 0 {
                0.0
            } else if by_bytes {
                bytes as f64 / total as f64
            } else {
                count as f64 / total as f64
            },
            key,
            count,
            bytes,
            sites,
        })
        .collect();
    groups.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.key.cmp(&b.key))
    });
    groups
}
