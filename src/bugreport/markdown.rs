//! The report as Markdown, from [`super::Facts`]. Pure: facts in, text out;
//! masked with [`super::redact`] unless asked not to, and cut to
//! [`super::MAX_BYTES`] at a line boundary (saying so).

use super::{redact::redact, Facts, Part, MAX_BYTES};
use std::fmt::Write as _;

/// Section titles, in order (also what `report --json` lists).
pub const SECTIONS: [&str; 8] = [
    "Kamailio and verdict",
    "Run options",
    "Private memory (pkg.stats) per process",
    "Shared memory (core.shmmem)",
    "Out-of-memory errors (scan)",
    "Top sites",
    "Known leak fixes",
    "Configuration: global settings",
];

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn missing(o: &mut String, why: &str) {
    let _ = writeln!(o, "_Not available: {}_\n", why.replace('\n', " "));
}

/// Whether each section was filled: (title, None) or (title, Some(why not)).
pub fn filled(f: &Facts) -> Vec<(&'static str, Option<String>)> {
    fn why<T>(p: &Part<T>) -> Option<String> {
        p.as_ref().err().cloned()
    }
    vec![
        (SECTIONS[0], why(&f.version_text)),
        (SECTIONS[1], why(&f.argv)),
        (SECTIONS[2], why(&f.pkg)),
        (SECTIONS[3], why(&f.shm)),
        (SECTIONS[4], why(&f.oom)),
        (SECTIONS[5], why(&f.sites)),
        (SECTIONS[6], why(&f.fixes)),
        (SECTIONS[7], why(&f.cfg)),
    ]
}

/// The whole report.
pub fn render(f: &Facts, mask: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Kamailio memory report\n");
    let _ = writeln!(
        o,
        "Written by kmemdbg {} on {}. {}\n",
        f.kmemdbg,
        f.generated,
        if mask {
            "IP addresses, SIP URIs, user names and Call-IDs are masked."
        } else {
            "Nothing is masked (--no-redact): check it before you paste it anywhere."
        }
    );
    match &f.target {
        Ok(t) => {
            let _ = writeln!(o, "Proxy: {t}.\n");
        }
        Err(e) => {
            let _ = writeln!(o, "Proxy: {e}.\n");
        }
    }

    let _ = writeln!(o, "## {}\n", SECTIONS[0]);
    match &f.verdict {
        Ok(v) => {
            let mark = if v.ready { "ready" } else { "NOT READY" };
            let _ = writeln!(
                o,
                "**Verdict:** {mark}: {}  \nNext: {}\n",
                v.summary, v.next_step
            );
        }
        Err(e) => missing(&mut o, e),
    }
    match &f.pools {
        Ok(v) => {
            let ok = v.iter().filter(|(k, _, _)| k == "ok").count();
            let _ = writeln!(o, "**Pools:** {ok} of {} ok.", v.len());
            for (kind, subject, text) in v.iter().filter(|(k, _, _)| k != "ok") {
                let _ = writeln!(o, "- {kind}: {subject}: {text}");
            }
            o.push('\n');
        }
        Err(e) => {
            let _ = writeln!(o, "**Pools:** not judged: {e}\n");
        }
    }
    if let Ok(t) = &f.version_text {
        let _ = writeln!(o, "`kamailio -V`:\n\n```text\n{}\n```\n", t.trim_end());
    }

    let _ = writeln!(o, "## {}\n", SECTIONS[1]);
    match &f.argv {
        Ok(a) => {
            let _ = writeln!(o, "```text\n{}\n```\n", a.join(" "));
        }
        Err(e) => missing(&mut o, e),
    }

    let _ = writeln!(o, "## {}\n", SECTIONS[2]);
    match &f.pkg {
        Ok(rows) => {
            let _ = writeln!(
                o,
                "| pid | rank | process | used | real used | free | size | use |"
            );
            let _ = writeln!(
                o,
                "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
            );
            for p in rows.iter().take(128) {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    p.pid,
                    p.rank,
                    cell(&p.desc),
                    p.used_bytes,
                    p.real_used_bytes,
                    p.free_bytes,
                    mib(p.total_bytes),
                    percent(p.real_used_bytes, p.total_bytes)
                );
            }
            if rows.len() > 128 {
                let _ = writeln!(o, "\n({} more processes not shown)", rows.len() - 128);
            }
            o.push('\n');
        }
        Err(e) => missing(&mut o, e),
    }

    let _ = writeln!(o, "## {}\n", SECTIONS[3]);
    match &f.shm {
        Ok(s) => {
            let _ = writeln!(o, "| size | used | real used | max used | free | use |");
            let _ = writeln!(o, "| ---: | ---: | ---: | ---: | ---: | ---: |");
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |\n",
                mib(s.total_bytes),
                s.used_bytes,
                s.real_used_bytes,
                s.max_used_bytes,
                s.free_bytes,
                percent(s.real_used_bytes, s.total_bytes)
            );
        }
        Err(e) => missing(&mut o, e),
    }

    let _ = writeln!(o, "## {}\n", SECTIONS[4]);
    match &f.oom {
        Ok(s) if s.total == 0 => {
            let _ = writeln!(
                o,
                "No out-of-memory error in {} ({} lines read).\n",
                s.source, s.lines
            );
        }
        Ok(s) => {
            let _ = writeln!(
                o,
                "{} out-of-memory errors in {} ({} lines read); the latest groups:\n",
                s.total, s.source, s.lines
            );
            let _ = writeln!(
                o,
                "| pool | process | where | errors | first | last | message |"
            );
            let _ = writeln!(o, "| --- | --- | --- | ---: | --- | --- | --- |");
            for r in &s.rows {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    r.pool,
                    cell(&r.process),
                    cell(&r.place),
                    r.count,
                    cell(&r.first),
                    cell(&r.last),
                    cell(&r.example)
                );
            }
            o.push('\n');
        }
        Err(e) => missing(&mut o, e),
    }

    let _ = writeln!(o, "## {}\n", SECTIONS[5]);
    match &f.sites {
        Ok(s) => {
            let _ = writeln!(o, "From {}.\n", s.source);
            let _ = writeln!(o, "| bytes | growth | site |");
            let _ = writeln!(o, "| ---: | ---: | --- |");
            for r in &s.rows {
                let g = r
                    .growth
                    .map(|g| format!("{g:+}"))
                    .unwrap_or_else(|| "-".into());
                let _ = writeln!(o, "| {} | {} | {} |", r.bytes, g, cell(&r.key));
            }
            o.push('\n');
        }
        Err(e) => missing(&mut o, e),
    }

    let _ = writeln!(o, "## {}\n", SECTIONS[6]);
    match &f.fixes {
        Ok(r) => {
            let _ = writeln!(
                o,
                "Leak fixes of Kamailio after {} for the top sites (mined from {}; `kmemdbg fixes` lists them all):\n",
                r.version, f.fixes_provenance
            );
            for s in &r.sites {
                let _ = writeln!(o, "- `{}`: {}", s.key, s.line);
            }
            o.push('\n');
        }
        Err(e) => missing(&mut o, e),
    }

    let _ = writeln!(o, "## {}\n", SECTIONS[7]);
    match &f.cfg {
        Ok((path, lines)) => {
            let _ = writeln!(
                o,
                "From {path} (settings, loadmodule and modparam before the first route):\n\n```text\n{}\n```",
                lines.join("\n")
            );
        }
        Err(e) => missing(&mut o, e),
    }
    let text = if mask { redact(&o) } else { o };
    cut(text)
}

/// At most [`MAX_BYTES`], cut at a line boundary with a note.
fn cut(text: String) -> String {
    if text.len() <= MAX_BYTES {
        return text;
    }
    let note = "\n\n_(cut here: the report is limited to 60 KB)_\n";
    let mut end = MAX_BYTES - note.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').unwrap_or(end);
    let mut out = text[..end].to_string();
    out.push_str(note);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bugreport::{Oom, OomRow, SiteRow, Sites};

    fn facts() -> Facts {
        Facts {
            generated: "2026-12-06T17:00:00Z".into(),
            kmemdbg: "0.1.0".into(),
            target: Ok("pid file /run/k.pid: main PID 42".into()),
            version_text: Err("no binary".into()),
            verdict: Err("no binary".into()),
            version: None,
            argv: Ok(vec![
                "/usr/sbin/kamailio".into(),
                "-l".into(),
                "203.0.113.9".into(),
            ]),
            cfg: Ok((
                "/etc/kamailio/kamailio.cfg".into(),
                vec!["alias=\"sip:bob@198.51.100.4\"".into()],
            )),
            pkg: Err("ctl socket missing".into()),
            shm: Err("ctl socket missing".into()),
            pools: Err("ctl socket missing".into()),
            oom: Ok(Oom {
                source: "log".into(),
                lines: 10,
                total: 1,
                failures: (0, 1, 0),
                rows: vec![OomRow {
                    pool: "shm".into(),
                    process: "7 (udp receiver)".into(),
                    place: "tm: t_newtran".into(),
                    count: 1,
                    first: "t".into(),
                    last: "t".into(),
                    example: "no more shm for Call-ID 1234@203.0.113.1 | x".into(),
                }],
            }),
            sites: Ok(Sites {
                source: "test".into(),
                rows: vec![SiteRow {
                    key: "tm: h_table.c: build_cell(1)".into(),
                    bytes: 10,
                    growth: Some(5),
                }],
            }),
            fixes: Err("version unknown".into()),
            fixes_provenance: "x".into(),
        }
    }

    #[test]
    fn every_section_is_there_and_says_why_when_empty() {
        let f = facts();
        let md = render(&f, true);
        for t in SECTIONS {
            assert!(md.contains(&format!("## {t}\n")), "{t}");
        }
        assert!(md.contains("_Not available: ctl socket missing_"));
        assert!(!md.contains("203.0.113.9") && !md.contains("bob"), "{md}");
        assert!(md.contains("\\| x"), "a | in a cell is escaped: {md}");
        let open = render(&f, false);
        assert!(open.contains("203.0.113.9"));
    }

    #[test]
    fn cut_at_60_kb() {
        let mut f = facts();
        f.cfg = Ok(("c".into(), vec!["x=".to_string() + &"y".repeat(150); 2000]));
        let md = render(&f, true);
        assert!(md.len() <= MAX_BYTES, "{}", md.len());
        assert!(md.ends_with("_(cut here: the report is limited to 60 KB)_\n"));
    }
}
