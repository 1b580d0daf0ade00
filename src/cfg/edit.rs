//! The minimal editor: turns a read [`Config`] and the [`Goals`] into byte
//! edits of the files that hold the lines in effect.
//!
//! A value is changed in place (only its bytes: `memlog=5` -> `memlog=2`,
//! `memlog=LVL` -> `memlog=2`), in whichever file and `#!ifdef` branch is
//! in effect. A missing parameter is inserted as a new line right after the
//! `debug=` line in effect, copying its indentation, `=` spacing and line
//! ending (CRLF stays CRLF). Missing `ctl` / `cfg_rpc` modules are added
//! after the last unconditional `loadmodule`. Every other byte is kept.
//! Pure: no I/O; [`reread`] re-reads the result from memory to prove it.

use super::policy::{self, Decision, Goals};
use super::reader::{self, Config, Define, FileId, MapLoader, Param, Setting, Value};
use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// One byte edit of one file (offsets into the original text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEdit {
    pub start: usize,
    pub end: usize,
    pub text: Vec<u8>,
    /// Order among edits at the same offset.
    pub seq: usize,
}

/// What kind of change a line gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The value on an existing line changes.
    Value,
    /// A new parameter line.
    Inserted,
    /// A new `loadmodule` line.
    Module,
}

/// One planned change, for the report.
#[derive(Debug, Clone)]
pub struct Change {
    pub file: FileId,
    /// Line in the edited file.
    pub line: usize,
    pub kind: ChangeKind,
    /// `memlog`, or a module name.
    pub subject: String,
    /// As written before (`5`, `DBGLEVEL (2)`), or `None` when inserted.
    pub from: Option<String>,
    pub to: String,
    pub why: String,
    pub warning: Option<String>,
}

/// The edits of one file.
#[derive(Debug, Clone)]
pub struct FileEdits {
    pub file: FileId,
    pub edits: Vec<RawEdit>,
    pub new_text: Vec<u8>,
}

/// The whole plan, before any check or write.
#[derive(Debug, Clone, Default)]
pub struct Edited {
    pub changes: Vec<Change>,
    /// What was already fine, one sentence each.
    pub kept: Vec<String>,
    pub warnings: Vec<String>,
    pub files: Vec<FileEdits>,
}

/// A debug value that comes from outside the cfg (`-d`, `--debug=N` on the
/// service's command line), which Kamailio applies after reading the cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugOverride {
    pub value: i64,
    pub how: String,
}

/// The effective debug and how to say where it comes from.
pub fn effective_debug(cfg: &Config, over: Option<&DebugOverride>) -> (i64, String) {
    if let Some(o) = over {
        return (o.value, format!("debug is {} via {}", o.value, o.how));
    }
    match cfg.in_effect(Param::Debug) {
        Some(s) => {
            let v = s.value.as_int().unwrap_or(0);
            if s.via.is_empty() {
                (v, format!("debug is {v}"))
            } else {
                let names: Vec<&str> = s.via.iter().map(|m| m.name.as_str()).collect();
                (v, format!("debug is {v} via {}", names.join(" -> ")))
            }
        }
        None => (0, "debug is 0 (not set: Kamailio's default L_WARN)".into()),
    }
}

fn int_of(cfg: &Config, p: Param) -> i64 {
    cfg.value(p).as_int().unwrap_or(0)
}

/// Plans the edits that make dumps visible, keeping everything else.
pub fn plan_edits(cfg: &Config, goals: &Goals, over: Option<&DebugOverride>) -> Result<Edited> {
    let (debug, debug_desc) = effective_debug(cfg, over);
    let mut out = Edited::default();
    let mut pending: Vec<(FileId, RawEdit, Change)> = Vec::new();
    let mut seq = 0usize;
    let mut inserts: Vec<(Param, i64, String, Option<String>)> = Vec::new();

    let decisions = [
        (
            Param::Memdbg,
            policy::memdbg(debug, &debug_desc, int_of(cfg, Param::Memdbg), goals.memdbg),
        ),
        (
            Param::Memlog,
            policy::memlog(debug, &debug_desc, int_of(cfg, Param::Memlog), goals.memlog)?,
        ),
        (
            Param::MemSummary,
            policy::summary(int_of(cfg, Param::MemSummary), goals.summary),
        ),
    ];
    for (param, decision) in decisions {
        match decision {
            Decision::Keep { reason } => out.kept.push(reason),
            Decision::Set {
                to,
                reason,
                warning,
            } => {
                if let Some(w) = &warning {
                    out.warnings.push(w.clone());
                }
                match cfg.in_effect(param) {
                    Some(s) => {
                        let (file, edit, change) = replace_value(cfg, s, to, reason, warning, seq)?;
                        seq += 1;
                        pending.push((file, edit, change));
                    }
                    None => inserts.push((param, to, reason, warning)),
                }
            }
        }
    }

    // New parameter lines go right after the debug line in effect (memlog
    // first, as the manual procedure reads), else near the top.
    inserts.sort_by_key(|(p, ..)| match p {
        Param::Memlog => 0,
        Param::Memdbg => 1,
        _ => 2,
    });
    for (param, to, reason, warning) in inserts {
        let anchor = param_anchor(cfg);
        let (text, line_skip) = anchor.line_text(&format!("{}{}{to}", param.name(), anchor.sep));
        let default = param.default_value();
        pending.push((
            anchor.file,
            RawEdit {
                start: anchor.offset,
                end: anchor.offset,
                text,
                seq,
            },
            Change {
                file: anchor.file,
                line: line_skip,
                kind: ChangeKind::Inserted,
                subject: param.name().into(),
                from: None,
                to: to.to_string(),
                why: format!("{reason}; not set before, Kamailio's default {default} applied"),
                warning,
            },
        ));
        seq += 1;
    }

    // ctl + cfg_rpc: what `kamcmd cfg.set_now_int core mem_dump_pkg PID` needs.
    for module in ["ctl", "cfg_rpc"] {
        if cfg.has_module(module).is_some() {
            continue;
        }
        let anchor = module_anchor(cfg);
        let word = anchor.module_string(module);
        let (text, line_skip) = anchor.line_text(&format!("loadmodule {word}"));
        pending.push((
            anchor.file,
            RawEdit {
                start: anchor.offset,
                end: anchor.offset,
                text,
                seq,
            },
            Change {
                file: anchor.file,
                line: line_skip,
                kind: ChangeKind::Module,
                subject: module.into(),
                from: None,
                to: format!("loadmodule {word}"),
                why: match anchor.after_module {
                    Some(_) => "added after the last loadmodule, so that kamcmd can ask for dumps at run time".into(),
                    None => "no loadmodule line yet, added with the global parameters, so that kamcmd can ask for dumps at run time".into(),
                },
                warning: None,
            },
        ));
        seq += 1;
    }
    // Apply per file, then find each change's line in the new text.
    let mut by_file: BTreeMap<FileId, Vec<(RawEdit, Change)>> = BTreeMap::new();
    for (file, edit, change) in pending {
        by_file.entry(file).or_default().push((edit, change));
    }
    for (file, mut list) in by_file {
        list.sort_by_key(|(e, _)| (e.start, e.seq));
        let old = &cfg.files[file].text;
        let edits: Vec<RawEdit> = list.iter().map(|(e, _)| e.clone()).collect();
        let (new_text, new_starts) = apply_edits(old, &edits)?;
        let starts = line_starts(&new_text);
        for ((_, mut change), new_start) in list.into_iter().zip(new_starts) {
            // For insertions `change.line` holds how many line endings the
            // inserted text has before its own line (0 or 1).
            let skip = if change.kind == ChangeKind::Value {
                0
            } else {
                change.line
            };
            change.line = line_at(&starts, new_start) + skip;
            out.changes.push(change);
        }
        out.files.push(FileEdits {
            file,
            edits,
            new_text,
        });
    }
    out.changes.sort_by_key(|c| (c.file, c.line));
    Ok(out)
}

fn replace_value(
    cfg: &Config,
    s: &Setting,
    to: i64,
    reason: String,
    warning: Option<String>,
    seq: usize,
) -> Result<(FileId, RawEdit, Change)> {
    let at = cfg.loc(s.keyword.file, s.line);
    if s.keyword_from_macro {
        let m = s
            .via
            .first()
            .map(|m| format!("{} ({})", m.name, cfg.origin(&m.origin)))
            .unwrap_or_else(|| "a macro".into());
        bail!(
            "{at}: {} is set inside the macro {m}; kmemdbg edits only plain `{}=value` lines: set it by hand to {to}",
            s.param.name(),
            s.param.name()
        );
    }
    let from = if s.via.is_empty() {
        s.written.clone()
    } else {
        format!("{} ({})", s.written, s.value)
    };
    Ok((
        s.value_span.file,
        RawEdit {
            start: s.value_span.start,
            end: s.value_span.end,
            text: to.to_string().into_bytes(),
            seq,
        },
        Change {
            file: s.value_span.file,
            line: 0,
            kind: ChangeKind::Value,
            subject: s.param.name().into(),
            from: Some(from),
            to: to.to_string(),
            why: reason,
            warning,
        },
    ))
}

/// Where a new line goes and how it should look.
struct Anchor {
    file: FileId,
    /// Byte offset where the new line's text is inserted.
    offset: usize,
    /// The line it follows has no line ending (end of file): prefix one.
    needs_eol_before: bool,
    indent: Vec<u8>,
    eol: Vec<u8>,
    sep: String,
    /// The loadmodule string it follows (for the module's quoting and path).
    module_raw: Option<(String, u8)>,
    after_module: Option<()>,
}

impl Anchor {
    /// The inserted bytes for `content`, and the number of line endings
    /// before the content line (for the report's line number).
    fn line_text(&self, content: &str) -> (Vec<u8>, usize) {
        let mut t = Vec::new();
        if self.needs_eol_before {
            t.extend_from_slice(&self.eol);
        }
        t.extend_from_slice(&self.indent);
        t.extend_from_slice(content.as_bytes());
        if !self.needs_eol_before {
            t.extend_from_slice(&self.eol);
        }
        (t, usize::from(self.needs_eol_before))
    }

    fn module_string(&self, module: &str) -> String {
        match &self.module_raw {
            Some((raw, quote)) => {
                let dir = raw.rfind('/').map(|i| &raw[..=i]).unwrap_or("");
                let suffix = if raw.ends_with(".so") { ".so" } else { "" };
                let q = *quote as char;
                format!("{q}{dir}{module}{suffix}{q}")
            }
            None => format!("\"{module}.so\""),
        }
    }
}

/// The line ending a file uses (its first one), `\n` by default.
fn file_eol(text: &[u8]) -> Vec<u8> {
    match text.iter().position(|&b| b == b'\n') {
        Some(p) if p > 0 && text[p - 1] == b'\r' => b"\r\n".to_vec(),
        _ => b"\n".to_vec(),
    }
}

/// An anchor after the line holding byte `pos` of `file`.
fn after_line(cfg: &Config, file: FileId, pos: usize) -> Anchor {
    let f = &cfg.files[file];
    let t = &f.text;
    let line = f.line_of(pos.min(t.len()));
    let (start, end) = f.line_range(line);
    let ends_nl = end > start && t[end - 1] == b'\n';
    let eol = if ends_nl {
        if end >= 2 && t[end - 2] == b'\r' {
            b"\r\n".to_vec()
        } else {
            b"\n".to_vec()
        }
    } else {
        file_eol(t)
    };
    let indent: Vec<u8> = t[start..end]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .copied()
        .collect();
    Anchor {
        file,
        offset: end,
        needs_eol_before: !ends_nl,
        indent,
        eol,
        sep: "=".into(),
        module_raw: None,
        after_module: None,
    }
}

/// An anchor before line `line` of `file` (the new line takes its place).
fn before_line(cfg: &Config, file: FileId, line: usize) -> Anchor {
    let f = &cfg.files[file];
    let (start, end) = f.line_range(line);
    let t = &f.text;
    let eol = if end > start && t[end - 1] == b'\n' {
        if end >= 2 && t[end - 2] == b'\r' {
            b"\r\n".to_vec()
        } else {
            b"\n".to_vec()
        }
    } else {
        file_eol(t)
    };
    Anchor {
        file,
        offset: start,
        needs_eol_before: false,
        indent: Vec::new(),
        eol,
        sep: "=".into(),
        module_raw: None,
        after_module: None,
    }
}

/// Where a missing parameter goes: after the `debug=` line in effect; else
/// before the first unconditional loadmodule; else after a `#!KAMAILIO`
/// first line; else at the top of the main file.
fn param_anchor(cfg: &Config) -> Anchor {
    if let Some(d) = cfg.in_effect(Param::Debug) {
        let file = d.keyword.file;
        let last = if d.value_span.file == file {
            d.value_span.end.max(d.keyword.end)
        } else {
            d.keyword.end
        };
        let mut a = after_line(cfg, file, last.saturating_sub(1));
        let t = &cfg.files[file].text;
        if d.value_span.file == file && d.keyword.end <= d.value_span.start {
            let between = &t[d.keyword.end..d.value_span.start];
            let only_eq = between
                .iter()
                .all(|&b| b == b' ' || b == b'\t' || b == b'=')
                && between.iter().filter(|&&b| b == b'=').count() == 1;
            if only_eq {
                a.sep = String::from_utf8_lossy(between).into_owned();
            }
        }
        // The indentation of the debug line itself.
        let f = &cfg.files[file];
        let (ls, le) = f.line_range(d.line);
        a.indent = t[ls..le]
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .copied()
            .collect();
        return a;
    }
    if let Some(m) = cfg
        .loadmodules
        .iter()
        .find(|m| m.frames == 0 && !m.from_macro)
    {
        return before_line(cfg, m.keyword.file, m.line);
    }
    top_anchor(cfg)
}

fn top_anchor(cfg: &Config) -> Anchor {
    let t = &cfg.files[0].text;
    if t.starts_with(b"#!") && t.contains(&b'\n') {
        after_line(cfg, 0, 0)
    } else {
        before_line(cfg, 0, 1)
    }
}

/// Where a missing module goes: after the last unconditional loadmodule
/// (the last one at all when every one is inside `#!ifdef`).
fn module_anchor(cfg: &Config) -> Anchor {
    let plain: Vec<_> = cfg.loadmodules.iter().filter(|m| !m.from_macro).collect();
    let pick = plain
        .iter()
        .rev()
        .find(|m| m.frames == 0)
        .or_else(|| plain.last());
    match pick {
        Some(m) => {
            let mut a = after_line(cfg, m.string.file, m.string.end.saturating_sub(1));
            a.module_raw = Some((m.raw.clone(), m.quote));
            a.after_module = Some(());
            a
        }
        None => param_anchor(cfg),
    }
}

/// Applies sorted, non-overlapping edits; returns the new text and where
/// each edit's text starts in it.
pub fn apply_edits(old: &[u8], edits: &[RawEdit]) -> Result<(Vec<u8>, Vec<usize>)> {
    let mut order: Vec<usize> = (0..edits.len()).collect();
    order.sort_by_key(|&i| (edits[i].start, edits[i].seq));
    let mut out = Vec::with_capacity(old.len() + 64);
    let mut starts = vec![0; edits.len()];
    let mut pos = 0;
    for i in order {
        let e = &edits[i];
        if e.start < pos || e.end < e.start || e.end > old.len() {
            bail!(
                "internal: two planned edits overlap at byte {} (nothing was changed)",
                e.start
            );
        }
        out.extend_from_slice(&old[pos..e.start]);
        starts[i] = out.len();
        out.extend_from_slice(&e.text);
        pos = e.end;
    }
    out.extend_from_slice(&old[pos..]);
    Ok((out, starts))
}

fn line_starts(t: &[u8]) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(
        t.iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1),
    );
    v
}

fn line_at(starts: &[usize], offset: usize) -> usize {
    match starts.binary_search(&offset) {
        Ok(i) => i + 1,
        Err(i) => i,
    }
}

/// Re-reads the config as it would be after `edited`, from memory.
pub fn reread(
    cfg: &Config,
    edited: &Edited,
    defines: &[Define],
    version: Option<(u32, u32, u32)>,
) -> Result<Config> {
    let mut loader = MapLoader::default();
    for f in &cfg.files {
        loader.files.insert(f.path.clone(), f.text.to_vec());
    }
    for fe in &edited.files {
        loader
            .files
            .insert(cfg.files[fe.file].path.clone(), fe.new_text.clone());
    }
    reader::read(&cfg.files[0].path, defines, version, &mut loader)
}

/// The promises an edit must keep, checked on the re-read result.
pub fn verify(
    before: &Config,
    after: &Config,
    goals: &Goals,
    over: Option<&DebugOverride>,
) -> Result<()> {
    let (d0, _) = effective_debug(before, over);
    let (d1, _) = effective_debug(after, over);
    if d0 != d1 {
        bail!("internal: the edit would change debug from {d0} to {d1}; nothing was written");
    }
    let memlog = int_of(after, Param::Memlog);
    if memlog > d1 {
        bail!(
            "internal: after the edit memlog would be {memlog} > debug {d1}; nothing was written"
        );
    }
    if goals.memdbg.is_none() && int_of(after, Param::Memdbg) <= d1 {
        bail!("internal: after the edit memdbg would still be <= debug; nothing was written");
    }
    if let Some(s) = goals.summary {
        if after.value(Param::MemSummary) != Value::Int(s) {
            bail!("internal: after the edit mem_summary is not {s}; nothing was written");
        }
    }
    for m in ["ctl", "cfg_rpc"] {
        if after.has_module(m).is_none() {
            bail!("internal: after the edit {m} would still not be loaded; nothing was written");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfg::reader::{read, Define, MapLoader};
    use std::path::{Path, PathBuf};

    const MAIN: &str = "/etc/k/kamailio.cfg";

    fn setup(files: &[(&str, &[u8])], defines: &[&str]) -> (Config, Vec<Define>) {
        let mut l = MapLoader::default();
        for (p, t) in files {
            l.files.insert(PathBuf::from(p), t.to_vec());
        }
        let defs: Vec<Define> = defines.iter().map(|d| Define::parse(d).unwrap()).collect();
        (read(Path::new(MAIN), &defs, None, &mut l).unwrap(), defs)
    }

    fn run(files: &[(&str, &[u8])], defines: &[&str], goals: Goals) -> (Config, Edited) {
        let (cfg, defs) = setup(files, defines);
        let e = plan_edits(&cfg, &goals, None).unwrap();
        let after = reread(&cfg, &e, &defs, None).unwrap();
        verify(&cfg, &after, &goals, None).unwrap();
        // Idempotent: planning again on the result changes nothing.
        let again = plan_edits(&after, &goals, None).unwrap();
        assert!(
            again.files.is_empty(),
            "second plan not empty: {:?}",
            again.changes
        );
        (cfg, e)
    }

    fn text(e: &Edited) -> String {
        String::from_utf8(e.files[0].new_text.clone()).unwrap()
    }

    const MODS: &str = "loadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\n";

    #[test]
    fn changes_only_the_value_in_the_active_branch() {
        let cfg = format!("#!KAMAILIO\n#!ifdef WITH_DEBUG\n#!define DBGLEVEL 3\n#!else\n#!define DBGLEVEL 2\n#!endif\ndebug=DBGLEVEL\nmemdbg=5\nmemlog=5 # keep me\n{MODS}");
        let (_, e) = run(&[(MAIN, cfg.as_bytes())], &[], Goals::default());
        assert_eq!(text(&e), cfg.replace("memlog=5 #", "memlog=2 #"));
        assert_eq!(e.changes.len(), 1);
        let c = &e.changes[0];
        assert_eq!(
            (c.line, c.from.as_deref(), c.to.as_str()),
            (9, Some("5"), "2")
        );
        assert_eq!(c.why, "debug is 2 via DBGLEVEL");
        let (_, e) = run(&[(MAIN, cfg.as_bytes())], &["WITH_DEBUG"], Goals::default());
        assert_eq!(text(&e), cfg.replace("memlog=5 #", "memlog=3 #"));
    }

    #[test]
    fn edits_the_branch_in_effect_and_the_macro_use_site() {
        let cfg = format!(
            "debug=3\n#!ifdef X\nmemlog=1\n#!else\n#!define ML 5\nmemlog = ML\n#!endif\n{MODS}"
        );
        let (_, e) = run(&[(MAIN, cfg.as_bytes())], &[], Goals::default());
        assert_eq!(text(&e), cfg.replace("memlog = ML", "memlog = 3"));
        assert_eq!(e.changes[0].from.as_deref(), Some("ML (5)"));
        assert_eq!(e.changes[0].line, 6);
    }

    #[test]
    fn inserts_after_debug_copying_style_and_crlf() {
        let cfg = "#!KAMAILIO\r\n  debug = 1 # one\r\nloadmodule \"/usr/lib/k/tm.so\"\r\n#!ifdef X\r\nloadmodule \"tls.so\"\r\n#!endif\r\nroute { exit; }\r\n";
        let goals = Goals {
            summary: Some(15),
            ..Goals::default()
        };
        let (_, e) = run(&[(MAIN, cfg.as_bytes())], &[], goals);
        assert_eq!(
            text(&e),
            "#!KAMAILIO\r\n  debug = 1 # one\r\n  memlog = 1\r\n  mem_summary = 15\r\nloadmodule \"/usr/lib/k/tm.so\"\r\nloadmodule \"/usr/lib/k/ctl.so\"\r\nloadmodule \"/usr/lib/k/cfg_rpc.so\"\r\n#!ifdef X\r\nloadmodule \"tls.so\"\r\n#!endif\r\nroute { exit; }\r\n"
        );
        let lines: Vec<(usize, &str)> = e
            .changes
            .iter()
            .map(|c| (c.line, c.subject.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (3, "memlog"),
                (4, "mem_summary"),
                (6, "ctl"),
                (7, "cfg_rpc")
            ]
        );
    }

    #[test]
    fn memdbg_moves_above_debug_and_no_trailing_newline() {
        let cfg = format!("{MODS}debug=2\nmemdbg=1\nmemlog=0");
        let (_, e) = run(&[(MAIN, cfg.as_bytes())], &[], Goals::default());
        assert_eq!(text(&e), format!("{MODS}debug=2\nmemdbg=3\nmemlog=0"));
        let cfg = format!("{MODS}debug=2");
        let (_, e) = run(&[(MAIN, cfg.as_bytes())], &[], Goals::default());
        assert_eq!(text(&e), format!("{MODS}debug=2\nmemlog=2"));
        assert_eq!(e.changes[0].line, 4);
    }

    #[test]
    fn edits_an_included_file() {
        let main = format!("debug=2\ninclude_file \"inc/mem.cfg\"\n{MODS}");
        let inc = "# memory\nmemlog=4\n";
        let (cfg, e) = run(
            &[
                (MAIN, main.as_bytes()),
                ("/etc/k/inc/mem.cfg", inc.as_bytes()),
            ],
            &[],
            Goals::default(),
        );
        assert_eq!(e.files.len(), 1);
        assert_eq!(cfg.path(e.files[0].file), Path::new("/etc/k/inc/mem.cfg"));
        assert_eq!(text(&e), "# memory\nmemlog=2\n");
    }

    #[test]
    fn refuses_a_keyword_inside_a_macro() {
        let cfg = format!("debug=2\n#!define SETMEM memlog=5\nSETMEM\n{MODS}");
        let (c, _) = setup(&[(MAIN, cfg.as_bytes())], &[]);
        let err = plan_edits(&c, &Goals::default(), None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/etc/k/kamailio.cfg:3: memlog is set inside the macro SETMEM (/etc/k/kamailio.cfg:2)"), "{err}");
    }

    #[test]
    fn debug_override_from_the_command_line_wins() {
        let cfg = format!("debug=1\nmemlog=3\n{MODS}");
        let (c, _) = setup(&[(MAIN, cfg.as_bytes())], &[]);
        let over = DebugOverride {
            value: 3,
            how: "-d -d -d".into(),
        };
        let e = plan_edits(&c, &Goals::default(), Some(&over)).unwrap();
        assert!(e.files.is_empty(), "memlog 3 <= debug 3 from -ddd");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// Any generated cfg that reads: the plan re-reads to memlog <= debug,
        /// is idempotent, and every changed line is one the plan names.
        #[test]
        fn plans_hold_their_promises(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::Just("#!ifdef A\n"),
                proptest::prelude::Just("#!ifndef B\n"),
                proptest::prelude::Just("#!else\n"),
                proptest::prelude::Just("#!endif\n"),
                proptest::prelude::Just("#!redefine L 2\n"),
                proptest::prelude::Just("#!redefine L -1\r\n"),
                proptest::prelude::Just("debug=L\n"),
                proptest::prelude::Just("debug = 3\r\n"),
                proptest::prelude::Just("memlog=5\n"),
                proptest::prelude::Just("memlog = L # c\n"),
                proptest::prelude::Just("memdbg=0\n"),
                proptest::prelude::Just("mem_summary=3\n"),
                proptest::prelude::Just("loadmodule \"tm.so\"\n"),
                proptest::prelude::Just("loadmodule \"ctl.so\"\n"),
                proptest::prelude::Just("/* memlog=9 */\n"),
                proptest::prelude::Just("# debug=9\n"),
                proptest::prelude::Just("route { memlog = 1; }\n"),
            ], 0..25),
            defs in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::Just("A"), proptest::prelude::Just("B")], 0..2),
            summary in proptest::option::of(0i64..32),
        ) {
            let text = format!("#!define L 1\n{}", parts.concat());
            let mut l = MapLoader::default();
            l.files.insert(PathBuf::from(MAIN), text.clone().into_bytes());
            let defs: Vec<Define> = defs.iter().map(|d| Define::parse(d).unwrap()).collect();
            let Ok(cfg) = read(Path::new(MAIN), &defs, None, &mut l) else { return Ok(()); };
            let goals = Goals { summary, ..Goals::default() };
            let e = plan_edits(&cfg, &goals, None).unwrap();
            let after = reread(&cfg, &e, &defs, None).unwrap();
            verify(&cfg, &after, &goals, None).unwrap();
            let again = plan_edits(&after, &goals, None).unwrap();
            proptest::prop_assert!(again.files.is_empty());
            if let Some(f) = e.files.first() {
                let old: Vec<&[u8]> = text.as_bytes().split(|&b| b == b'\n').collect();
                let new: Vec<&[u8]> = f.new_text.split(|&b| b == b'\n').collect();
                let named: Vec<usize> = e.changes.iter().map(|c| c.line).collect();
                let diff = similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new);
                for op in diff {
                    for change in op.iter_changes(&old, &new) {
                        if change.tag() == similar::ChangeTag::Insert {
                            let line = change.new_index().unwrap() + 1;
                            proptest::prop_assert!(named.contains(&line), "line {} changed but not named: {:?}", line, e.changes);
                        }
                    }
                }
            }
        }
    }
}
