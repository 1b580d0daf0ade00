//! The recipe engine: pure rewrites of one file's text, driven by a
//! [`Recipe`]. Each function takes the text (and a label such as
//! `src/Makefile.defs` for messages) and returns the new text with a note
//! per change; no I/O happens here, so every rule can be tested on strings.
//!
//! What it must never do: guess. When the file does not have the shape the
//! recipe knows (the variable set twice, the allocator define in a
//! conditional the recipe does not know, a damaged file), it returns an
//! error naming `file:line` and what to do, and the caller writes nothing.
//! Edits touch words, not lines, wherever they can, so the `\`
//! continuations of a define list stay valid.

use super::recipe::{Guarded, Recipe};
use crate::source::cmake;
use crate::source::makefile::{self, Assign, Makefile, PhysLine, Statement, Token};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};

/// A rewritten text and what changed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub text: String,
    pub notes: Vec<String>,
}

/// What happens to one word.
#[derive(Debug, Clone)]
enum WordEdit {
    Remove,
    Replace(String),
}

/// Line-level edits collected before rendering.
#[derive(Default)]
struct Edits {
    /// line -> (token start -> edit), with the tokens of that line.
    words: BTreeMap<usize, (Vec<Token>, BTreeMap<usize, WordEdit>)>,
    /// line -> replacement of the byte range (for value rewrites).
    spans: BTreeMap<usize, Vec<(usize, usize, String)>>,
    /// Lines to insert after a line.
    inserts: BTreeMap<usize, Vec<String>>,
    /// Lines to append a word to, at a byte offset.
    appends: BTreeMap<usize, (usize, String)>,
}

/// Statement of each line, for the continuation fix-up.
fn stmt_of_line(mk: &Makefile, line: usize) -> Option<&Statement> {
    mk.statements
        .iter()
        .find(|s| s.first <= line && line <= s.last)
}

fn render(mk: &Makefile, edits: &Edits) -> String {
    let mut out: Vec<Option<PhysLine>> = mk.lines.iter().cloned().map(Some).collect();
    let mut strip_cont: BTreeSet<usize> = BTreeSet::new();
    for (&line, (tokens, changes)) in &edits.words {
        let text = &mk.lines[line].text;
        let kept: Vec<(usize, String)> = tokens
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match changes.get(&t.start) {
                Some(WordEdit::Remove) => None,
                Some(WordEdit::Replace(w)) => Some((i, w.clone())),
                None => Some((i, t.text.clone())),
            })
            .collect();
        let first_tok = &tokens[0];
        let last_tok = &tokens[tokens.len() - 1];
        let stmt = stmt_of_line(mk, line);
        let is_first_line = stmt.is_some_and(|s| s.first == line);
        if kept.is_empty() && !is_first_line {
            out[line] = None;
            if let Some(s) = stmt {
                if s.last == line {
                    // The logical line ended here: the last kept line before
                    // it must not continue into whatever follows.
                    if let Some(prev) = (s.first..line).rev().find(|&l| out[l].is_some()) {
                        strip_cont.insert(prev);
                    }
                }
            }
            continue;
        }
        let mut middle = String::new();
        for (k, (i, w)) in kept.iter().enumerate() {
            if k > 0 {
                // The separator that stood before this word originally.
                let sep = if *i > 0 {
                    &text[tokens[*i - 1].end..tokens[*i].start]
                } else {
                    " "
                };
                middle.push_str(if sep.is_empty() { " " } else { sep });
            }
            middle.push_str(w);
        }
        let prefix = &text[..first_tok.start];
        let rest = &text[last_tok.end..];
        let new_text = if !middle.is_empty() {
            format!("{prefix}{middle}{rest}")
        } else if rest.trim().is_empty() {
            prefix.trim_end().to_string()
        } else {
            format!("{prefix}{}", rest.trim_start_matches([' ', '\t']))
        };
        if let Some(l) = out[line].as_mut() {
            l.text = new_text;
        }
    }
    for (&line, spans) in &edits.spans {
        if let Some(l) = out[line].as_mut() {
            let mut spans = spans.clone();
            spans.sort_by_key(|sp| std::cmp::Reverse(sp.0));
            for (s, e, w) in spans {
                l.text.replace_range(s..e, &w);
            }
        }
    }
    for (&line, (at, word)) in &edits.appends {
        if let Some(l) = out[line].as_mut() {
            l.text.insert_str(*at, &format!(" {word}"));
        }
    }
    for &line in &strip_cont {
        if let Some(l) = out[line].as_mut() {
            if let Some(t) = l.text.strip_suffix('\\') {
                l.text = t.trim_end_matches([' ', '\t']).to_string();
            }
        }
    }
    let mut s = String::new();
    for (i, l) in out.iter().enumerate() {
        let Some(l) = l else {
            continue;
        };
        let ending = mk.lines[i].ending.as_str();
        s.push_str(&l.text);
        match edits.inserts.get(&i) {
            None => s.push_str(ending),
            Some(ins) => {
                let eol = if ending.is_empty() { "\n" } else { ending };
                s.push_str(eol);
                for (k, x) in ins.iter().enumerate() {
                    s.push_str(x);
                    s.push_str(if k + 1 == ins.len() && ending.is_empty() {
                        ""
                    } else {
                        eol
                    });
                }
            }
        }
    }
    s
}

/// True when every conditional around `s` is one of the recipe's known
/// whole-file guards.
fn under_known_guards<'a>(s: &'a Statement, guards: &[String]) -> Result<(), &'a makefile::Cond> {
    for c in &s.conds {
        if !guards.iter().any(|g| c.mentions(g)) {
            return Err(c);
        }
    }
    Ok(())
}

fn mentions_all(s: &Statement, vars: &[String]) -> bool {
    vars.iter().all(|v| s.conds.iter().any(|c| c.mentions(v)))
}

/// Sets make variable `var` to `value`. Strict (Makefile.defs): exactly one
/// assignment, outside unknown conditionals. Lenient (Makefile.vars): every
/// assignment with another value is rewritten.
fn set_var(
    label: &str,
    text: &str,
    r: &Recipe,
    var: &str,
    value: &str,
    strict: bool,
) -> Result<Edit> {
    let mk = makefile::parse(label, text)?;
    let hits: Vec<(&Statement, &Assign)> = mk.assignments(var).collect();
    if strict {
        if hits.is_empty() {
            bail!(
                "{label}: no `{var} ?= ...` line: this is not the layout the {} recipe knows \
                 ({}); if another generation fits, pass --generation NAME",
                r.name,
                r.title
            );
        }
        if hits.len() > 1 {
            let lines: Vec<String> = hits
                .iter()
                .map(|(s, _)| (s.first + 1).to_string())
                .collect();
            bail!(
                "{label}:{}: {var} is set {} times (lines {}): kmemdbg cannot tell which one the \
                 build uses; keep one and run again (nothing was changed)",
                hits[1].0.first + 1,
                hits.len(),
                lines.join(", ")
            );
        }
        if let Err(c) = under_known_guards(hits[0].0, &r.known_guards) {
            bail!(
                "{label}:{}: {var} is set inside {} (line {}), a condition the {} recipe does not \
                 know: which value the build gets depends on it; set {var} outside it and run again \
                 (nothing was changed)",
                hits[0].0.first + 1,
                c.describe(),
                c.line + 1,
                r.name
            );
        }
    }
    let mut edits = Edits::default();
    let mut notes = Vec::new();
    for (s, a) in hits {
        if a.value() == value {
            continue;
        }
        if a.tokens.iter().any(|t| t.line != s.first) {
            bail!(
                "{label}:{}: the value of {var} spans several lines; set it to {value} by hand \
                 (nothing was changed)",
                s.first + 1
            );
        }
        let line = &mk.lines[s.first];
        let end = a.tokens.last().map(|t| t.end).unwrap_or(a.value_start);
        let before = line.text[..line.active_end].trim().to_string();
        edits
            .spans
            .entry(s.first)
            .or_default()
            .push((a.value_start, end, value.to_string()));
        let mut after = line.text.clone();
        after.replace_range(a.value_start..end, value);
        notes.push(format!(
            "{label}:{}: `{before}` -> `{}`",
            s.first + 1,
            after[..a.value_start + value.len()].trim()
        ));
    }
    Ok(Edit {
        text: render(&mk, &edits),
        notes,
    })
}

/// Removes the words `remove` from the lists `vars` and makes sure `add`
/// is there: the first word removed gives its place to `add`; with nothing
/// to remove, `add` goes into the longest list (a line of its own right
/// after the first line when the list continues, else at the end of it).
/// Strict: each word to remove may appear once, outside unknown conditionals.
fn edit_list(
    label: &str,
    text: &str,
    r: &Recipe,
    vars: &[String],
    remove: &[String],
    add: Option<&str>,
    strict: bool,
) -> Result<Edit> {
    let mk = makefile::parse(label, text)?;
    let lists: Vec<(&Statement, &Assign)> = mk
        .statements
        .iter()
        .filter_map(|s| match &s.kind {
            makefile::Kind::Assign(a) if vars.contains(&a.name) => Some((s, a)),
            _ => None,
        })
        .collect();
    let mut hits: Vec<(&Statement, &Assign, &Token)> = Vec::new();
    for (s, a) in &lists {
        for t in &a.tokens {
            if remove.contains(&t.text) {
                hits.push((s, a, t));
            }
        }
    }
    if strict {
        for w in remove {
            let at: Vec<_> = hits.iter().filter(|(_, _, t)| &t.text == w).collect();
            if at.len() > 1 {
                let lines: Vec<String> = at
                    .iter()
                    .map(|(_, _, t)| (t.line + 1).to_string())
                    .collect();
                bail!(
                    "{label}:{}: `{w}` appears {} times (lines {}): kmemdbg cannot tell which one \
                     the build uses; keep one and run again (nothing was changed)",
                    at[1].2.line + 1,
                    at.len(),
                    lines.join(", ")
                );
            }
        }
        for (s, a, t) in &hits {
            if let Err(c) = under_known_guards(s, &r.known_guards) {
                bail!(
                    "{label}:{}: `{}` (in {}) is inside {} (line {}), a condition the {} recipe does \
                     not know; move it out or convert by hand (nothing was changed)",
                    t.line + 1,
                    t.text,
                    a.name,
                    c.describe(),
                    c.line + 1,
                    r.name
                );
            }
        }
    }
    let add_present = add.is_some_and(|w| {
        lists
            .iter()
            .any(|(_, a)| a.tokens.iter().any(|t| t.text == w))
    });
    let mut edits = Edits::default();
    let mut notes = Vec::new();
    let mut substituted = false;
    for (_, a, t) in &hits {
        let edit = match add {
            Some(w) if !add_present && !substituted => {
                substituted = true;
                notes.push(format!(
                    "{label}:{}: `{}` -> `{w}` (in {})",
                    t.line + 1,
                    t.text,
                    a.name
                ));
                WordEdit::Replace(w.to_string())
            }
            _ => {
                notes.push(format!(
                    "{label}:{}: removed `{}` from {}",
                    t.line + 1,
                    t.text,
                    a.name
                ));
                WordEdit::Remove
            }
        };
        let on_line: Vec<Token> = a
            .tokens
            .iter()
            .filter(|x| x.line == t.line)
            .cloned()
            .collect();
        edits
            .words
            .entry(t.line)
            .or_insert_with(|| (on_line, BTreeMap::new()))
            .1
            .insert(t.start, edit);
    }
    if let Some(w) = add {
        if !add_present && !substituted {
            let target = lists
                .iter()
                .filter(|(s, _)| !strict || under_known_guards(s, &r.known_guards).is_ok())
                .filter(|(_, a)| {
                    !a.tokens
                        .iter()
                        .any(|t| t.text.contains(&format!("$({})", a.name)))
                })
                .max_by_key(|(_, a)| a.tokens.len());
            let Some((s, a)) = target else {
                bail!(
                    "{label}: no define list ({}) to add `{w}` to: this is not the layout the {} \
                     recipe knows (nothing was changed)",
                    vars.join(", "),
                    r.name
                );
            };
            let l0 = &mk.lines[s.first];
            if l0.continued && !l0.commented && s.first < s.last {
                let next = &mk.lines[s.first + 1].text;
                let indent: String = next
                    .chars()
                    .take_while(|c| *c == ' ' || *c == '\t')
                    .collect();
                let indent = if indent.is_empty() {
                    "\t ".to_string()
                } else {
                    indent
                };
                edits
                    .inserts
                    .entry(s.first)
                    .or_default()
                    .push(format!("{indent}{w} \\"));
                notes.push(format!(
                    "{label}:{}: added `{w}` to {}",
                    s.first + 2,
                    a.name
                ));
            } else {
                let at = a
                    .tokens
                    .iter()
                    .filter(|t| t.line == s.first)
                    .map(|t| t.end)
                    .next_back()
                    .unwrap_or(a.value_start);
                if at == a.value_start && a.tokens.is_empty() {
                    edits
                        .spans
                        .entry(s.first)
                        .or_default()
                        .push((at, at, w.to_string()));
                } else {
                    edits.appends.insert(s.first, (at, w.to_string()));
                }
                notes.push(format!(
                    "{label}:{}: added `{w}` to {}",
                    s.first + 1,
                    a.name
                ));
            }
        }
    }
    Ok(Edit {
        text: render(&mk, &edits),
        notes,
    })
}

fn check_expect(label: &str, mk: &Makefile, r: &Recipe, g: &Guarded) -> Result<()> {
    let vars = r.list_variables();
    let found = mk.statements.iter().any(|s| match &s.kind {
        makefile::Kind::Assign(a) => {
            vars.contains(&a.name)
                && a.tokens.iter().any(|t| t.text == g.define)
                && mentions_all(s, &g.under)
        }
        _ => false,
    });
    if !found {
        bail!(
            "{label}: no `{}` under a conditional on {}: this is not the layout the {} recipe knows \
             ({}); if another generation fits, pass --generation NAME (nothing was changed)",
            g.define,
            g.under.join(" and "),
            r.name,
            r.title
        );
    }
    Ok(())
}

fn check_confine(label: &str, mk: &Makefile, r: &Recipe, g: &Guarded) -> Result<()> {
    let mut vars = r.list_variables();
    vars.push("extra_defs".into());
    for s in &mk.statements {
        let makefile::Kind::Assign(a) = &s.kind else {
            continue;
        };
        if !vars.contains(&a.name) {
            continue;
        }
        if let Some(t) = a.tokens.iter().find(|t| t.text == g.define) {
            let inside = s
                .conds
                .iter()
                .any(|c| g.under.iter().any(|u| c.mentions(u)));
            if !inside {
                bail!(
                    "{label}:{}: `{}` is set outside the {} switch, so the build would keep it \
                     whatever the switch says: remove that line (or move it under the switch), \
                     then run again (nothing was changed)",
                    t.line + 1,
                    g.define,
                    g.under.join("/")
                );
            }
        }
    }
    Ok(())
}

/// `-DNAME` -> `-UNAME`.
fn undef_of(define: &str) -> Option<String> {
    define.strip_prefix("-D").map(|n| format!("-U{n}"))
}

/// Words that undo the recipe: `DEFS_RM` must not filter the wanted
/// defines out, `extra_defs` must not add unwanted ones or `-U` wanted ones.
fn fix_overrides(label: &str, text: &str, r: &Recipe) -> Result<Edit> {
    let d = r.defines();
    let mut notes = Vec::new();
    let e = edit_list(label, text, r, &["DEFS_RM".into()], &d.present, None, false)?;
    notes.extend(e.notes);
    let mut bad_extra = d.absent.clone();
    bad_extra.extend(d.present.iter().filter_map(|p| undef_of(p)));
    let e = edit_list(
        label,
        &e.text,
        r,
        &["extra_defs".into()],
        &bad_extra,
        None,
        false,
    )?;
    notes.extend(e.notes);
    Ok(Edit {
        text: e.text,
        notes,
    })
}

/// Converts `Makefile.defs` (strict: the shape must be the recipe's).
pub fn convert_defs(label: &str, text: &str, r: &Recipe) -> Result<Edit> {
    let mk = makefile::parse(label, text)?;
    for g in &r.expect {
        check_expect(label, &mk, r, g)?;
    }
    for g in &r.confine {
        check_confine(label, &mk, r, g)?;
    }
    let mut cur = text.to_string();
    let mut notes = Vec::new();
    for s in &r.set {
        let e = set_var(label, &cur, r, &s.variable, &s.value, true)?;
        cur = e.text;
        notes.extend(e.notes);
    }
    if let Some(dl) = &r.define_list {
        let e = edit_list(
            label,
            &cur,
            r,
            &dl.variables,
            &dl.remove,
            Some(&dl.add),
            true,
        )?;
        cur = e.text;
        notes.extend(e.notes);
    }
    let e = fix_overrides(label, &cur, r)?;
    notes.extend(e.notes);
    Ok(Edit {
        text: e.text,
        notes,
    })
}

/// Converts `Makefile.vars` (included before the defaults, so its values
/// win): every assignment of a recipe variable gets the wanted value, and
/// the overrides go.
pub fn convert_vars(label: &str, text: &str, r: &Recipe) -> Result<Edit> {
    let mut cur = text.to_string();
    let mut notes = Vec::new();
    for s in &r.set {
        let e = set_var(label, &cur, r, &s.variable, &s.value, false)?;
        cur = e.text;
        notes.extend(e.notes);
    }
    let e = fix_overrides(label, &cur, r)?;
    notes.extend(e.notes);
    Ok(Edit {
        text: e.text,
        notes,
    })
}

/// Converts a saved `config.mak` (what `make cfg` wrote; later builds use
/// its `C_DEFS` instead of Makefile.defs): the cached define list gets the
/// wanted defines and loses the unwanted ones, keeping every other saved
/// setting (PREFIX, CC, ...).
pub fn convert_config_mak(label: &str, text: &str, r: &Recipe) -> Result<Edit> {
    let mk = makefile::parse(label, text)?;
    if mk.assignments("C_DEFS").next().is_none() {
        bail!(
            "{label}: has no C_DEFS line, so `make cfg` did not write it completely; remove it or \
             run `make cfg`, then run again (nothing was changed)"
        );
    }
    let d = r.defines();
    let mut unwanted = d.absent.clone();
    unwanted.extend(d.present.iter().filter_map(|p| undef_of(p)));
    let vars = ["C_DEFS".to_string()];
    let mut e = edit_list(label, text, r, &vars, &unwanted, None, false)?;
    let mut notes = e.notes;
    for p in &d.present {
        e = edit_list(label, &e.text, r, &vars, &[], Some(p), false)?;
        notes.extend(e.notes.iter().map(|n| format!("{n} (the cached defines)")));
    }
    let o = fix_overrides(label, &e.text, r)?;
    notes.extend(o.notes);
    Ok(Edit {
        text: o.text,
        notes,
    })
}

/// Lines of a text with their endings.
fn split_keep(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// Turns `option(NAME "help" OFF)` in cmake/defs.cmake into `... ON)`.
pub fn convert_cmake_defs(label: &str, text: &str, option: &str) -> Result<Edit> {
    let decls: Vec<_> = cmake::options(text)
        .into_iter()
        .filter(|d| d.name == option)
        .collect();
    match decls.len() {
        0 => bail!("{label}: declares no option({option} ...) (nothing was changed)"),
        1 => {}
        n => bail!(
            "{label}:{}: option({option}) is declared {n} times; kmemdbg cannot tell which one CMake \
             uses; keep one and run again (nothing was changed)",
            decls[1].line + 1
        ),
    }
    let d = &decls[0];
    let Some(close) = d.close else {
        bail!(
            "{label}:{}: option({option} ...) spans several lines; set its default to ON by hand \
             (nothing was changed)",
            d.line + 1
        );
    };
    let mut lines = split_keep(text);
    let Some(line) = lines.get_mut(d.line) else {
        bail!("{label}:{}: unexpected end of file", d.line + 1);
    };
    let before = line.trim_end().to_string();
    match d.value {
        Some((s, e)) if cmake::truthy(&line[s..e]) => {
            return Ok(Edit {
                text: text.to_string(),
                notes: vec![],
            })
        }
        Some((s, e)) => line.replace_range(s..e, "ON"),
        None => line.insert_str(close, " ON"),
    }
    let note = format!(
        "{label}:{}: `{}` -> `{}`",
        d.line + 1,
        before.trim(),
        line.trim_end().trim()
    );
    Ok(Edit {
        text: lines.concat(),
        notes: vec![note],
    })
}

/// Turns `NAME:BOOL=OFF` in a CMakeCache.txt into `NAME:BOOL=ON` (the
/// cache wins over the default in cmake/defs.cmake). No entry: nothing to
/// do, the next configure takes the default.
pub fn convert_cmake_cache(label: &str, text: &str, option: &str) -> Result<Edit> {
    let entries: Vec<_> = cmake::cache_entries(text)
        .into_iter()
        .filter(|e| e.name == option)
        .collect();
    if entries.len() > 1 {
        bail!(
            "{label}:{}: {option} has {} entries; kmemdbg cannot tell which one CMake uses; \
             reconfigure with -D{option}=ON instead (nothing was changed)",
            entries[1].line + 1,
            entries.len()
        );
    }
    let Some(e) = entries.first() else {
        return Ok(Edit {
            text: text.to_string(),
            notes: vec![],
        });
    };
    if cmake::truthy(&e.value) {
        return Ok(Edit {
            text: text.to_string(),
            notes: vec![],
        });
    }
    let mut lines = split_keep(text);
    let Some(line) = lines.get_mut(e.line) else {
        bail!("{label}:{}: unexpected end of file", e.line + 1);
    };
    let before = line.trim_end().to_string();
    let end = e.value_start + e.value.len();
    line.replace_range(e.value_start..end, "ON");
    let note = format!(
        "{label}:{}: `{before}` -> `{}`",
        e.line + 1,
        line.trim_end()
    );
    Ok(Edit {
        text: lines.concat(),
        notes: vec![note],
    })
}

/// The CMake option this tree uses: the recipe's name for the version,
/// or, when the tree declares only another of the recipe's names, that one.
pub fn cmake_option_for(
    r: &Recipe,
    version: Option<&crate::probe::Version>,
    declared: &[String],
) -> Result<(String, Option<String>)> {
    let by_version = version.and_then(|v| r.cmake_option.iter().find(|o| o.versions.contains(v)));
    if let Some(o) = by_version {
        if declared.contains(&o.name) {
            return Ok((o.name.clone(), None));
        }
    }
    if let Some(o) = r.cmake_option.iter().find(|o| declared.contains(&o.name)) {
        let note = by_version.map(|b| {
            format!(
                "version {} would use option {}, but cmake/defs.cmake declares {}: using {}",
                version.map(|v| v.to_string()).unwrap_or_default(),
                b.name,
                o.name,
                o.name
            )
        });
        return Ok((o.name.clone(), note));
    }
    let names: Vec<&str> = r.cmake_option.iter().map(|o| o.name.as_str()).collect();
    bail!(
        "cmake/defs.cmake declares none of the options {} ({}): this is not the layout the {} recipe \
         knows (nothing was changed)",
        names.join(", "),
        r.title,
        r.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::recipe;
    use proptest::prelude::*;

    fn recipe(name: &str) -> Recipe {
        recipe::all()
            .unwrap()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap()
    }

    /// The active words of every C_DEFS/DEFS list, in file order.
    fn defines(text: &str) -> Vec<String> {
        let mk = makefile::parse("t", text).unwrap();
        mk.statements
            .iter()
            .filter_map(|s| match &s.kind {
                makefile::Kind::Assign(a) if a.name == "DEFS" || a.name == "C_DEFS" => Some(a),
                _ => None,
            })
            .flat_map(|a| a.tokens.iter().map(|t| t.text.clone()))
            .collect()
    }

    const SER: &str = "ifeq ($(makefile_defs), 1)\nelse\nmakefile_defs=1\nMAIN_NAME=ser\n\
DEFS+= $(extra_defs) \\\n\
\t -DPKG_MALLOC \\\n\
\t -DUSE_TCP \\\n\
\t -DF_MALLOC \\\n\
\t -DAFTER \\\n\
\t #-DDBG_QM_MALLOC \\\n\
\t #-DDBG_F_MALLOC \\\n\
\t #-DNO_LOG\n\
\n\
DEFS_RM+= -DDBG_QM_MALLOC -DUSE_X\n\
endif\n";

    #[test]
    fn define_list_swaps_the_allocator_in_place() {
        let r = recipe("openser-ser");
        let e = convert_defs("Makefile.defs", SER, &r).unwrap();
        assert!(
            e.text.contains("\t -DDBG_QM_MALLOC \\\n\t -DAFTER \\\n"),
            "{}",
            e.text
        );
        assert_eq!(
            defines(&e.text),
            [
                "$(extra_defs)",
                "-DPKG_MALLOC",
                "-DUSE_TCP",
                "-DDBG_QM_MALLOC",
                "-DAFTER"
            ]
        );
        // DEFS_RM no longer filters the debug define out.
        assert!(e.text.contains("DEFS_RM+= -DUSE_X\n"), "{}", e.text);
        assert_eq!(e.notes.len(), 2, "{:?}", e.notes);
        assert!(e.notes[0].starts_with("Makefile.defs:8: `-DF_MALLOC` -> `-DDBG_QM_MALLOC`"));
        // Idempotent.
        let again = convert_defs("Makefile.defs", &e.text, &r).unwrap();
        assert_eq!(again.text, e.text);
        assert!(again.notes.is_empty());
    }

    #[test]
    fn last_line_of_a_list_keeps_the_list_closed() {
        // SER 2.0: -DF_MALLOC is the last word, without a backslash, and
        // -DDBG_F_MALLOC on the line before goes away.
        let text = "DEFS+= -DA \\\n\t -DDBG_F_MALLOC \\\n\t -DF_MALLOC\n\t #-DDBG_QM_MALLOC \\\n\t #-DX\nNEXT = 1\n";
        let r = recipe("openser-ser");
        let e = convert_defs("M", text, &r).unwrap();
        assert_eq!(defines(&e.text), ["-DA", "-DDBG_QM_MALLOC"]);
        let mk = makefile::parse("M", &e.text).unwrap();
        assert_eq!(mk.first_value("NEXT").as_deref(), Some("1"), "{}", e.text);
        // Removing the last line itself closes the line before.
        let text = "DEFS+= -DA \\\n\t -DDBG_QM_MALLOC \\\n\t -DDBG_F_MALLOC\nNEXT = 1\n";
        let e = convert_defs("M", text, &r).unwrap();
        assert_eq!(e.text, "DEFS+= -DA \\\n\t -DDBG_QM_MALLOC\nNEXT = 1\n");
    }

    #[test]
    fn two_words_on_one_line() {
        let text = "C_DEFS= -DA -DF_MALLOC -DDBG_F_MALLOC -DB \\\n\t-DC\n";
        let e = convert_defs("M", text, &recipe("openser-ser")).unwrap();
        assert_eq!(e.text, "C_DEFS= -DA -DDBG_QM_MALLOC -DB \\\n\t-DC\n");
    }

    #[test]
    fn allocator_twice_is_ambiguous() {
        let text = SER.replace("\t -DAFTER \\\n", "\t -DF_MALLOC \\\n");
        let err = convert_defs("Makefile.defs", &text, &recipe("openser-ser"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("Makefile.defs:9: `-DF_MALLOC` appears 2 times (lines 8, 9)"),
            "{err}"
        );
    }

    #[test]
    fn allocator_in_unknown_conditional_is_refused() {
        let text = "ifeq ($(PACKAGER), 1)\nDEFS+= -DF_MALLOC\nendif\n";
        let err = convert_defs("Makefile.defs", text, &recipe("openser-ser"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("Makefile.defs:2:") && err.contains("ifeq ($(PACKAGER), 1)"),
            "{err}"
        );
    }

    const K5: &str =
        "ifeq ($(makefile_defs),1)\nelse\nifeq (,$(main_makefile))\ninclude config.mak\nelse\n\
VERSION = 5\nPATCHLEVEL = 6\nSUBLEVEL = 3\n\
MEMMNG ?= 0\n\
MEMDBG ?= 0 # packager: no debug\n\
C_DEFS= $(extra_defs) -DNAME='\"x\"'\n\
C_DEFS+= -DF_MALLOC\n\
ifeq \t($(MEMDBG), 1)\n\
\tC_DEFS+= -DDBG_SR_MEMORY\n\
endif\n\
endif\nendif\n";

    #[test]
    fn memdbg_switch_is_set_keeping_comment_and_operator() {
        let r = recipe("5.x-6.x-make");
        let e = convert_defs("src/Makefile.defs", K5, &r).unwrap();
        assert!(
            e.text.contains("MEMDBG ?= 1 # packager: no debug\n"),
            "{}",
            e.text
        );
        assert_eq!(
            e.notes,
            ["src/Makefile.defs:10: `MEMDBG ?= 0` -> `MEMDBG ?= 1`"]
        );
        assert_eq!(
            convert_defs("src/Makefile.defs", &e.text, &r).unwrap().text,
            e.text
        );
    }

    #[test]
    fn memdbg_twice_or_in_unknown_conditional_is_refused() {
        let r = recipe("5.x-6.x-make");
        let twice = K5.replace("C_DEFS+= -DF_MALLOC\n", "C_DEFS+= -DF_MALLOC\nMEMDBG = 0\n");
        let err = convert_defs("src/Makefile.defs", &twice, &r)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("src/Makefile.defs:13: MEMDBG is set 2 times (lines 10, 13)"),
            "{err}"
        );
        let cond = K5.replace(
            "MEMDBG ?= 0 # packager: no debug\n",
            "ifeq ($(OS),linux)\nMEMDBG ?= 0\nendif\n",
        );
        let err = convert_defs("src/Makefile.defs", &cond, &r)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "src/Makefile.defs:11: MEMDBG is set inside `ifeq ($(OS),linux)` (line 10)"
            ),
            "{err}"
        );
    }

    #[test]
    fn wrong_layout_is_named() {
        let no_switch = K5.replace("\tC_DEFS+= -DDBG_SR_MEMORY\n", "\tC_DEFS+= -DOTHER\n");
        let err = convert_defs("src/Makefile.defs", &no_switch, &recipe("5.x-6.x-make"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no `-DDBG_SR_MEMORY` under a conditional on MEMDBG"),
            "{err}"
        );
    }

    #[test]
    fn stray_allocator_outside_the_switch_is_refused() {
        let text = "MEMDBG ?= 0\nC_DEFS= -DA\nC_DEFS+= -DF_MALLOC\nifeq ($(MEMDBG), 1)\n\tC_DEFS+= -DDBG_QM_MALLOC\nelse\n\tC_DEFS+= -DF_MALLOC\nendif\n";
        let err = convert_defs("Makefile.defs", text, &recipe("3.x"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("Makefile.defs:3: `-DF_MALLOC` is set outside the MEMDBG switch"),
            "{err}"
        );
    }

    #[test]
    fn generation_4_sets_both_switches() {
        let text = "MEMMNG ?= 0\nMEMDBG ?= 0\nifeq ($(MEMMNG), 1)\nifeq \t($(MEMDBG), 1)\n\t\tC_DEFS+= -DDBG_QM_MALLOC\nendif\nelse\n\tC_DEFS+= -DF_MALLOC\nendif\n";
        let e = convert_defs("Makefile.defs", text, &recipe("4.0-4.3")).unwrap();
        assert!(
            e.text.starts_with("MEMMNG ?= 1\nMEMDBG ?= 1\n"),
            "{}",
            e.text
        );
        assert_eq!(e.notes.len(), 2);
    }

    #[test]
    fn config_mak_cache_is_rewritten() {
        let cfg = "# this file is autogenerated by make cfg\nMAIN_NAME= kamailio\n\
C_DEFS=   -DNAME='\"kamailio\"' -DF_MALLOC -DQ_MALLOC -DUSE_FUTEX\n\
DEFS_RM= -DDBG_SR_MEMORY\nPREFIX= /usr\n\
C_DEFS:=$(filter-out $(DEFS_RM) $(extra_defs),$(C_DEFS)) $(extra_defs)\n";
        let e = convert_config_mak("src/config.mak", cfg, &recipe("5.x-6.x-make")).unwrap();
        assert!(
            e.text.contains("-DQ_MALLOC -DUSE_FUTEX -DDBG_SR_MEMORY\n"),
            "{}",
            e.text
        );
        assert!(e.text.contains("\nDEFS_RM=\nPREFIX= /usr\n"), "{}", e.text);
        assert!(
            e.text.contains("-DF_MALLOC"),
            "4.4+ keeps f_malloc compiled in"
        );
        let old = convert_config_mak("config.mak", cfg, &recipe("3.x")).unwrap();
        assert!(
            old.text
                .contains("-DNAME='\"kamailio\"' -DQ_MALLOC -DUSE_FUTEX -DDBG_QM_MALLOC\n"),
            "{}",
            old.text
        );
        assert_eq!(
            convert_config_mak("c", &e.text, &recipe("5.x-6.x-make"))
                .unwrap()
                .text,
            e.text
        );
        assert!(convert_config_mak("c", "X=1\n", &recipe("3.x")).is_err());
    }

    #[test]
    fn vars_file_overrides_are_fixed() {
        let vars = "MEMDBG = 0\nextra_defs += -UDBG_SR_MEMORY -DKEEP\n";
        let e = convert_vars("src/Makefile.vars", vars, &recipe("5.x-6.x-make")).unwrap();
        assert_eq!(e.text, "MEMDBG = 1\nextra_defs += -DKEEP\n");
    }

    #[test]
    fn define_added_when_no_allocator_is_named() {
        let text = "DEFS+= $(extra_defs) \\\n\t -DA \\\n\t -DB\n";
        let e = convert_defs("M", text, &recipe("openser-ser")).unwrap();
        assert_eq!(
            e.text,
            "DEFS+= $(extra_defs) \\\n\t -DDBG_QM_MALLOC \\\n\t -DA \\\n\t -DB\n"
        );
        let e = convert_defs("M", "DEFS= -DA\n", &recipe("openser-ser")).unwrap();
        assert_eq!(e.text, "DEFS= -DA -DDBG_QM_MALLOC\n");
    }

    #[test]
    fn cmake_option_and_cache() {
        let defs = "option(MALLOC_STATS \"Use malloc stats\" ON)\noption(DBG_SR_MEMORY \"Use memory debugging system\" OFF)\n";
        let e = convert_cmake_defs("cmake/defs.cmake", defs, "DBG_SR_MEMORY").unwrap();
        assert!(e
            .text
            .ends_with("option(DBG_SR_MEMORY \"Use memory debugging system\" ON)\n"));
        assert_eq!(
            convert_cmake_defs("c", &e.text, "DBG_SR_MEMORY")
                .unwrap()
                .text,
            e.text
        );
        let bare = convert_cmake_defs("c", "option(MEMDBG \"x\")\n", "MEMDBG").unwrap();
        assert_eq!(bare.text, "option(MEMDBG \"x\" ON)\n");
        let cache = "//Use memory debugging system\nDBG_SR_MEMORY:BOOL=OFF\nX:BOOL=OFF\n";
        let e = convert_cmake_cache("build/CMakeCache.txt", cache, "DBG_SR_MEMORY").unwrap();
        assert_eq!(
            e.text,
            "//Use memory debugging system\nDBG_SR_MEMORY:BOOL=ON\nX:BOOL=OFF\n"
        );
        let twice = format!("{cache}DBG_SR_MEMORY:BOOL=OFF\n");
        assert!(convert_cmake_cache("b", &twice, "DBG_SR_MEMORY")
            .unwrap_err()
            .to_string()
            .starts_with("b:4:"));
    }

    #[test]
    fn cmake_option_follows_declaration() {
        let r = recipe("6.x-cmake");
        let v = crate::probe::Version::parse("6.0.1").unwrap();
        let (o, note) = cmake_option_for(&r, Some(&v), &["DBG_SR_MEMORY".into()]).unwrap();
        assert_eq!((o.as_str(), note), ("DBG_SR_MEMORY", None));
        let (o, note) = cmake_option_for(&r, Some(&v), &["MEMDBG".into()]).unwrap();
        assert_eq!(o, "MEMDBG");
        assert!(note.is_some());
        assert!(cmake_option_for(&r, Some(&v), &["OTHER".into()]).is_err());
    }

    /// A define list: random words, random line breaks, the allocator
    /// somewhere, optional commented tail.
    fn define_list() -> impl Strategy<Value = (String, Vec<String>)> {
        (
            proptest::collection::vec("-D[A-Z]{1,6}", 1..12),
            any::<proptest::sample::Index>(),
            proptest::collection::vec(any::<bool>(), 12),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(mut words, at, breaks, tail, dbgf)| {
                let pos = at.index(words.len() + 1);
                words.insert(pos, "-DF_MALLOC".into());
                if dbgf {
                    words.push("-DDBG_F_MALLOC".into());
                }
                let mut text = String::from("DEFS+=");
                for (i, w) in words.iter().enumerate() {
                    if breaks[i % breaks.len()] || i == 0 {
                        text.push_str(" \\\n\t ");
                    } else {
                        text.push(' ');
                    }
                    text.push_str(w);
                }
                if tail {
                    text.push_str(" \\\n\t #-DDBG_QM_MALLOC \\\n\t #-DX");
                }
                text.push_str("\nAFTER = 1\n");
                (text, words)
            })
    }

    proptest! {
        #[test]
        fn define_list_rewrite_keeps_every_other_word_and_continuation((text, words) in define_list()) {
            let r = recipe("openser-ser");
            let e = convert_defs("M", &text, &r).unwrap();
            let mut want: Vec<String> = Vec::new();
            for w in &words {
                match w.as_str() {
                    "-DF_MALLOC" => want.push("-DDBG_QM_MALLOC".into()),
                    "-DDBG_F_MALLOC" => {}
                    _ => want.push(w.clone()),
                }
            }
            prop_assert_eq!(defines(&e.text), want);
            let mk = makefile::parse("M", &e.text).unwrap();
            let after = mk.first_value("AFTER");
            prop_assert_eq!(after.as_deref(), Some("1"));
            let again = convert_defs("M", &e.text, &r).unwrap();
            prop_assert_eq!(again.text, e.text);
        }

        #[test]
        fn engine_never_panics(text in "(MEMDBG \\?= 0\n|C_DEFS\\+= -DF_MALLOC \\\\\n|ifeq \\(\\$\\(MEMDBG\\), 1\\)\n|endif\n|else\n|\t -DDBG_SR_MEMORY\n|#\\\\\n|[ -~]{0,12}\n){0,20}") {
            for r in recipe::all().unwrap() {
                let _ = convert_defs("f", &text, &r);
                let _ = convert_vars("f", &text, &r);
                let _ = convert_config_mak("f", &text, &r);
            }
            let _ = convert_cmake_defs("f", &text, "MEMDBG");
            let _ = convert_cmake_cache("f", &text, "MEMDBG");
        }
    }
}
