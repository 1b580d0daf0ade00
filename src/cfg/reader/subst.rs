//! `#!subst` / `#!substdef`: parsing the `/re/repl/flags` rules and applying
//! them to defines and file names, bounded for fuzzed input.

use super::*;

pub(super) struct ParsedSubst {
    pattern: Vec<u8>,
    replacement_raw: Vec<u8>,
    replacement: Vec<u8>,
    global: bool,
    icase: bool,
}

/// `/regex/replacement/flags` (any separator; `\sep` escapes it).
pub(super) fn parse_subst(rule: &[u8]) -> Option<ParsedSubst> {
    let sep = *rule.first()?;
    if sep == b'\\' {
        return None;
    }
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    let mut i = 1;
    while i < rule.len() {
        let c = rule[i];
        if c == b'\\' && rule.get(i + 1) == Some(&sep) {
            parts.last_mut()?.push(sep);
            i += 2;
            continue;
        }
        if c == sep && parts.len() < 3 {
            parts.push(Vec::new());
        } else {
            parts.last_mut()?.push(c);
        }
        i += 1;
    }
    if parts.len() < 3 || parts[0].is_empty() {
        return None;
    }
    let flags = &parts[2];
    // subst replacement: \N backrefs become ${N}; `$` is literal for regex.
    let raw = parts[1].clone();
    let mut rep = Vec::new();
    let mut k = 0;
    while k < raw.len() {
        match raw[k] {
            b'\\' if k + 1 < raw.len() && raw[k + 1].is_ascii_digit() => {
                rep.extend_from_slice(format!("${{{}}}", raw[k + 1] as char).as_bytes());
                k += 2;
            }
            b'\\' if k + 1 < raw.len() => {
                rep.push(raw[k + 1]);
                k += 2;
            }
            b'$' => {
                rep.extend_from_slice(b"$$");
                k += 1;
            }
            c => {
                rep.push(c);
                k += 1;
            }
        }
    }
    Some(ParsedSubst {
        pattern: parts[0].clone(),
        replacement_raw: raw,
        replacement: rep,
        global: flags.contains(&b'g'),
        icase: flags.contains(&b'i'),
    })
}

impl<'l> Reader<'l> {
    /// `pp_subst_run`: every `#!subst` rule, in order, on a string.
    pub(super) fn subst_run(&self, mut s: Vec<u8>) -> Vec<u8> {
        for rule in &self.substs {
            let out = if rule.global {
                rule.re.replace_all(&s, rule.replacement.as_slice())
            } else {
                rule.re.replace(&s, rule.replacement.as_slice())
            };
            s = out.into_owned();
        }
        s
    }

    pub(super) fn subst_directive(
        &mut self,
        ty: u8,
        fid: FileId,
        line: usize,
        rule: Vec<u8>,
    ) -> Result<()> {
        let Some(parsed) = parse_subst(&rule) else {
            self.warnings.push(format!(
                "{}: cannot read the #!subst rule {:?}; its effect on file names is ignored here",
                self.loc(fid, line),
                String::from_utf8_lossy(&rule)
            ));
            return Ok(());
        };
        if ty > 0 {
            let name = String::from_utf8_lossy(&parsed.pattern).into_owned();
            let mut value = parsed.replacement_raw.clone();
            if value.contains(&b'$') {
                self.warnings.push(format!(
                    "{}: #!substdef value {:?} holds a $ variable that Kamailio evaluates at start; taken literally here",
                    self.loc(fid, line),
                    String::from_utf8_lossy(&value)
                ));
            }
            if ty == 2 {
                let mut q = vec![b'"'];
                q.extend(value.iter().flat_map(|&b| {
                    if b == b'"' {
                        vec![b'\\', b'"']
                    } else {
                        vec![b]
                    }
                }));
                q.push(b'"');
                value = q;
            }
            let value = (!value.is_empty()).then_some(value);
            self.set_define(fid, line, &name, 0, value)?;
        }
        if self.substs.len() < MAX_SUBST_RULES {
            let re = std::str::from_utf8(&parsed.pattern).ok().and_then(|p| {
                regex::bytes::RegexBuilder::new(p)
                    .case_insensitive(parsed.icase)
                    .size_limit(1 << 20)
                    .build()
                    .ok()
            });
            match re {
                Some(re) => self.substs.push(SubstRule {
                    re,
                    replacement: parsed.replacement,
                    global: parsed.global,
                }),
                None => self.warnings.push(format!(
                    "{}: the #!subst pattern {:?} is not understood here; its effect on file names is ignored",
                    self.loc(fid, line),
                    String::from_utf8_lossy(&parsed.pattern)
                )),
            }
        }
        Ok(())
    }
}
