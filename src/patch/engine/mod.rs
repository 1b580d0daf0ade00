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

mod cmake_edit;
#[cfg(test)]
mod tests;

pub use cmake_edit::{cmake_option_for, convert_cmake_cache, convert_cmake_defs};

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
