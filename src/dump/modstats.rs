//! `mod.stats` snapshots: the log-free route. `kmemdbg dump --mod-stats`
//! saves kex's `mod.stats all shm` (and `all pkg`) answers in a file with a
//! header; `analyze`, `diff` and `watch` read them back.
//!
//! The file (version 1) is plain text: header lines `# key: value`, then
//! one section per RPC, each opened by `# rpc: mod.stats all shm` (or
//! `mod.mem_statsx ...`, which adds counts) and holding kamcmd's answer as
//! printed:
//!
//! ```text
//! # kmemdbg mod.stats snapshot 1
//! # time: 2026-12-06T17:05:11Z
//! # unix_time: 1796576711
//! # main_pid: 10440
//! # kamailio: 5.6.3
//! # ctl: unix:/run/kamailio/kamailio_ctl
//! # tm_current: 0
//! # rpc: mod.stats all shm
//! Module: usrloc
//! {
//!     new_ucontact(96): 248000
//!     Total: 449392
//! }
//! # rpc: mod.stats all pkg
//! # answered_by: 10446 ctl handler
//! Module: core
//! ...
//! ```
//!
//! `mod.stats` gives bytes per `module: function(line)`, no counts and no
//! file names; nothing here makes counts up. Its pkg answer describes only
//! the process that answered the RPC (`answered_by`), never the others.
//! Kamailio prints each value with `%d`, so a site above 2 GiB wraps
//! negative: such values are kept as read and flagged.
//!
//! `tm_current` is `tm.stats` current (transactions in flight) when the
//! snapshot was taken (absent without tm): the next `dump --settle` waits
//! for that level again ([`settle_baseline`]).
//!
//! Pure: text in, data out (the capture writes the file through `fsx`).
//! Never panics (fuzzed below).

use crate::memrpc;
use serde::Serialize;
use std::collections::BTreeMap;

/// The first line of every snapshot file.
pub const MAGIC: &str = "# kmemdbg mod.stats snapshot 1";

/// What the header says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Header {
    /// `2026-12-06T17:05:11Z`
    pub time: Option<String>,
    pub unix_time: Option<u64>,
    pub main_pid: Option<u32>,
    pub kamailio: Option<String>,
    pub ctl: Option<String>,
    /// `tm.stats` current when the snapshot was taken.
    pub tm_current: Option<u64>,
}

/// One RPC's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// `mod.stats all shm`
    pub rpc: String,
    /// `shm` or `pkg`.
    pub pool: String,
    /// For pkg: the process whose memory this is (`10446 ctl handler`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    pub sites: Vec<ModSite>,
    /// Each module's `Total:` as printed.
    pub totals: BTreeMap<String, i64>,
}

/// One `function(line): bytes` of one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModSite {
    pub module: String,
    /// `new_ucontact(96)`
    pub function_line: String,
    pub bytes: i64,
    /// Only from `mod.mem_statsx` (`bytes (count)`): Kamailio's own count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl ModSite {
    /// `usrloc: new_ucontact(96)`
    pub fn name(&self) -> String {
        format!("{}: {}", self.module, self.function_line)
    }
}

/// A whole snapshot file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub header: Header,
    pub sections: Vec<Section>,
    /// Values below zero (a C int that wrapped above 2 GiB).
    pub wrapped: u64,
}

impl Snapshot {
    pub fn section(&self, pool: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.pool == pool)
    }
}

/// True when `text` starts like a snapshot file.
pub fn is_snapshot(text: &str) -> bool {
    text.trim_start().starts_with(MAGIC)
}

/// Writes the file's text: header, then each `(rpc, answered_by, answer)`.
pub fn render(h: &Header, sections: &[(String, Option<String>, String)]) -> String {
    let mut s = format!("{MAGIC}\n");
    let mut kv = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            s.push_str(&format!("# {k}: {}\n", one_line(&v)));
        }
    };
    kv("time", h.time.clone());
    kv("unix_time", h.unix_time.map(|t| t.to_string()));
    kv("main_pid", h.main_pid.map(|p| p.to_string()));
    kv("kamailio", h.kamailio.clone());
    kv("ctl", h.ctl.clone());
    kv("tm_current", h.tm_current.map(|n| n.to_string()));
    for (rpc, by, answer) in sections {
        s.push_str(&format!("# rpc: {}\n", one_line(rpc)));
        if let Some(b) = by {
            s.push_str(&format!("# answered_by: {}\n", one_line(b)));
        }
        for l in answer.lines() {
            // an answer line can never pass for a header line
            if l.trim_start().starts_with('#') {
                continue;
            }
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}

fn one_line(v: &str) -> String {
    v.replace(['\n', '\r'], " ")
}

/// Reads a snapshot file (or a bare `kamcmd mod.stats all shm` answer,
/// taken as one shm section without a header). Each section's answer is
/// read by [`crate::memrpc`], the one reader of `mod.stats`.
pub fn parse(text: &str) -> Snapshot {
    let mut snap = Snapshot::default();
    // the open section and the answer lines it holds so far
    let mut cur: Option<(Section, memrpc::Reader)> = None;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if let Some(h) = l.strip_prefix('#') {
            let Some((k, v)) = h.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim().to_string());
            match k {
                "time" => snap.header.time = Some(v),
                "unix_time" => snap.header.unix_time = v.parse().ok(),
                "main_pid" => snap.header.main_pid = v.parse().ok(),
                "kamailio" => snap.header.kamailio = Some(v),
                "ctl" => snap.header.ctl = Some(v),
                "tm_current" => snap.header.tm_current = v.parse().ok(),
                "rpc" => {
                    if let Some(s) = cur.take() {
                        end_section(&mut snap, s);
                    }
                    cur = Some((new_section(&v), memrpc::Reader::new()));
                }
                "answered_by" => {
                    if let Some((s, _)) = cur.as_mut() {
                        s.answered_by = Some(v);
                    }
                }
                _ => {}
            }
            continue;
        }
        if cur.is_none() && l.starts_with("Module:") {
            cur = Some((new_section("mod.stats all shm"), memrpc::Reader::new()));
        }
        if let Some((_, r)) = cur.as_mut() {
            r.feed(i as u64 + 1, raw.as_bytes());
        }
    }
    if let Some(s) = cur.take() {
        end_section(&mut snap, s);
    }
    snap
}

/// The section's answer, read: its modules' sites and totals.
fn end_section(snap: &mut Snapshot, (mut s, reader): (Section, memrpc::Reader)) {
    for block in reader.finish().modules {
        let Some(m) = block.module else {
            continue;
        };
        for e in block.entries.into_iter().filter(|e| e.site.ends_with(')')) {
            let Ok(bytes) = i64::try_from(e.bytes) else {
                continue;
            };
            if bytes < 0 {
                snap.wrapped += 1;
            }
            s.sites.push(ModSite {
                module: m.clone(),
                function_line: e.site,
                bytes,
                count: e.count.and_then(|c| u64::try_from(c).ok()),
            });
        }
        if let Some(Ok(total)) = block.total.map(i64::try_from) {
            if total < 0 {
                snap.wrapped += 1;
            }
            s.totals.insert(m, total);
        }
    }
    snap.sections.push(s);
}

/// Where `--settle`'s baseline came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// The snapshot's name (as given).
    pub from: String,
    /// Its `tm_current`.
    pub current: u64,
}

/// The `tm_current` of the newest snapshot of the same proxy among
/// `files` (name, text): same `main_pid` when both are known, else the same
/// `ctl`; newest by `unix_time`. Files that are not snapshots, have no
/// `tm_current` or no time are skipped. `None`: no previous snapshot.
pub fn settle_baseline(
    files: &[(String, String)],
    main_pid: Option<u32>,
    ctl: Option<&str>,
) -> Option<Baseline> {
    files
        .iter()
        .filter(|(_, t)| is_snapshot(t))
        .filter_map(|(name, t)| {
            let h = parse(t).header;
            let same = match (h.main_pid, main_pid) {
                (Some(a), Some(b)) => a == b,
                _ => ctl.is_some() && h.ctl.as_deref() == ctl,
            };
            let current = h.tm_current?;
            let time = h.unix_time?;
            same.then(|| (time, name.clone(), current))
        })
        .max()
        .map(|(_, from, current)| Baseline { from, current })
}

fn new_section(rpc: &str) -> Section {
    let pool = rpc
        .split_whitespace()
        .last()
        .filter(|p| *p == "pkg" || *p == "shm")
        .unwrap_or("shm")
        .to_string();
    Section {
        rpc: rpc.to_string(),
        pool,
        answered_by: None,
        sites: Vec::new(),
        totals: BTreeMap::new(),
    }
}

/// One site's change between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `usrloc: new_ucontact(96)`
    pub site: String,
    pub module: String,
    pub before_bytes: i64,
    pub after_bytes: i64,
    pub delta_bytes: i64,
    /// Counts only when both snapshots came from `mod.mem_statsx`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_count: Option<i64>,
}

/// Sites of one section by name: (module, bytes, count when every entry had one).
type Index = BTreeMap<String, (String, i64, Option<u64>)>;

fn index(s: Option<&Section>) -> Index {
    let mut m = Index::new();
    for x in s.map(|s| s.sites.as_slice()).unwrap_or_default() {
        let e = m
            .entry(x.name())
            .or_insert((x.module.clone(), 0, x.count.map(|_| 0)));
        e.1 = e.1.saturating_add(x.bytes);
        e.2 = match (e.2, x.count) {
            (Some(a), Some(c)) => Some(a.saturating_add(c)),
            _ => None,
        };
    }
    m
}

/// Growth per site of `pool` from `before` to `after`, largest growth first
/// (sites that shrank last). Sites present in only one snapshot count as 0
/// in the other.
pub fn diff(before: &Snapshot, after: &Snapshot, pool: &str) -> Vec<Change> {
    let b = index(before.section(pool));
    let a = index(after.section(pool));
    let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
    names.sort();
    names.dedup();
    let mut out: Vec<Change> = names
        .into_iter()
        .map(|n| {
            let (mb, bb, cb) = b.get(n).cloned().unwrap_or((String::new(), 0, Some(0)));
            let (ma, ab, ca) = a.get(n).cloned().unwrap_or((String::new(), 0, Some(0)));
            let delta_count = match (cb, ca) {
                (Some(x), Some(y)) if b.contains_key(n) || a.contains_key(n) => {
                    Some(y as i64 - x as i64)
                }
                _ => None,
            };
            // counts only when at least one side really had them
            let had_counts =
                b.get(n).is_some_and(|x| x.2.is_some()) || a.get(n).is_some_and(|x| x.2.is_some());
            Change {
                site: n.clone(),
                module: if ma.is_empty() { mb } else { ma },
                before_bytes: bb,
                after_bytes: ab,
                delta_bytes: ab.saturating_sub(bb),
                delta_count: delta_count.filter(|_| had_counts),
            }
        })
        .collect();
    out.sort_by(|x, y| y.delta_bytes.cmp(&x.delta_bytes).then(x.site.cmp(&y.site)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `kamcmd mod.stats all shm` (abridged) from Debian's 5.6.3 after
    /// 1000 REGISTERs with distinct AoRs.
    const SHM_AFTER: &str = "Module: core\n{\n\tcounters_prefork_init(212): 9216\n\tinit_timer(210): 278544\n\tTotal: 380304\n}\n\nModule: usrloc\n{\n\tnew_ucontact(96): 248000\n\tshm_str_dup(859): 80064\n\tnew_urecord(65): 8000\n\tnew_urecord(58): 64000\n\tbuild_stat_name(58): 64\n\tnew_udomain(100): 49152\n\tTotal: 449392\n}\n\n";
    const SHM_BEFORE: &str = "Module: core\n{\n\tcounters_prefork_init(212): 9216\n\tinit_timer(210): 278544\n\tTotal: 380304\n}\n\nModule: usrloc\n{\n\tbuild_stat_name(58): 64\n\tnew_udomain(100): 49152\n\tTotal: 49328\n}\n\n";
    /// Real `kamcmd mod.mem_statsx usrloc shm` (abridged).
    const STATSX: &str = "Module: usrloc\n{\n\tnew_ucontact(96): 248000 (1000)\n\tshm_str_dup(859): 80064 (4000)\n\tTotal: 449392\n}\n";

    fn header() -> Header {
        Header {
            time: Some("2026-12-06T17:05:11Z".into()),
            unix_time: Some(1_796_576_711),
            main_pid: Some(10440),
            kamailio: Some("5.6.3".into()),
            ctl: Some("unix:/tmp/x/ctl".into()),
            tm_current: Some(3),
        }
    }

    #[test]
    fn baseline_is_the_newest_snapshot_of_the_same_proxy() {
        let snap = |time: u64, pid: Option<u32>, ctl: &str, tm: Option<u64>| {
            let h = Header {
                unix_time: Some(time),
                main_pid: pid,
                ctl: Some(ctl.into()),
                tm_current: tm,
                ..Header::default()
            };
            render(&h, &[("mod.stats all shm".into(), None, SHM_BEFORE.into())])
        };
        let files = vec![
            ("old".to_string(), snap(100, Some(7), "unix:/a", Some(1))),
            ("new".to_string(), snap(200, Some(7), "unix:/a", Some(2))),
            // another proxy (other main PID), newer
            ("other".to_string(), snap(300, Some(8), "unix:/a", Some(9))),
            // no tm_current (no tm module): skipped
            ("notm".to_string(), snap(400, Some(7), "unix:/a", None)),
            ("log".to_string(), "some log line\n".to_string()),
        ];
        let b = settle_baseline(&files, Some(7), Some("unix:/a")).unwrap();
        assert_eq!((b.from.as_str(), b.current), ("new", 2));
        // main PID unknown: the same ctl socket decides
        let b = settle_baseline(&files, None, Some("unix:/a")).unwrap();
        assert_eq!((b.from.as_str(), b.current), ("other", 9));
        assert_eq!(settle_baseline(&files, None, Some("unix:/b")), None);
        assert_eq!(settle_baseline(&files, Some(99), Some("unix:/b")), None);
        assert_eq!(settle_baseline(&[], Some(7), None), None);
    }

    #[test]
    fn round_trip() {
        let text = render(
            &header(),
            &[
                ("mod.stats all shm".into(), None, SHM_AFTER.into()),
                (
                    "mod.stats all pkg".into(),
                    Some("10446 ctl handler".into()),
                    "Module: core\n{\n\tfix_param(1144): 112\n\tTotal: 112\n}\n".into(),
                ),
            ],
        );
        assert!(is_snapshot(&text));
        let s = parse(&text);
        assert_eq!(s.header, header());
        assert_eq!(s.sections.len(), 2);
        let shm = s.section("shm").unwrap();
        assert_eq!(shm.sites.len(), 8);
        assert_eq!(shm.totals["usrloc"], 449_392);
        // the module totals are the sums of their sites (by hand)
        let usrloc: i64 = shm
            .sites
            .iter()
            .filter(|x| x.module == "usrloc")
            .map(|x| x.bytes)
            .sum();
        assert_eq!(usrloc, 248_000 + 80_064 + 8_000 + 64_000 + 64 + 49_152);
        assert!(shm.sites.iter().all(|x| x.count.is_none()));
        let pkg = s.section("pkg").unwrap();
        assert_eq!(pkg.answered_by.as_deref(), Some("10446 ctl handler"));
        assert_eq!(pkg.sites[0].name(), "core: fix_param(1144)");
    }

    #[test]
    fn bare_answer_and_counts() {
        let s = parse(STATSX);
        let shm = s.section("shm").unwrap();
        assert_eq!(shm.sites[0].count, Some(1000));
        assert_eq!(shm.sites[1].bytes, 80_064);
        let w = parse("Module: big\n{\n\tf(1): -2147483000\n\tTotal: -2147483000\n}\n");
        assert_eq!(w.wrapped, 2);
    }

    #[test]
    fn diff_ranks_growth() {
        let d = diff(&parse(SHM_BEFORE), &parse(SHM_AFTER), "shm");
        assert_eq!(d[0].site, "usrloc: new_ucontact(96)");
        assert_eq!(d[0].delta_bytes, 248_000);
        assert_eq!(d[0].delta_count, None);
        assert!(d.iter().take(4).all(|c| c.module == "usrloc"));
        let last = d.last().unwrap();
        assert_eq!(last.delta_bytes, 0);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[#a-zA-Z0-9:(){} \\n\\t-]{0,300}") {
            let p = parse(&s);
            let _ = diff(&p, &p, "shm");
        }
    }
}
