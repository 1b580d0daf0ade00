//! Kamailio command lines as data: which option takes a value, where `-m`,
//! `-f` or `-x` is, and small edits (set, remove, append) that keep every
//! other token exactly as written.
//!
//! Pure: tokens in, tokens out, no I/O. The same model serves a running
//! process's argv (`/proc/PID/cmdline`), a systemd `ExecStart=` line and a
//! SysV script's `OPTIONS="..."`, where a value may be a variable
//! (`$SHM_MEMORY`) that an options file sets. Never guesses: an option it
//! does not know is kept as it is.

/// Kamailio's options that take a value: the one table, in [`crate::procfs`].
pub use crate::procfs::{LONG_WITH_VALUE, SHORT_WITH_VALUE};

/// One token of a command line: how it was written and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// As written in the source (with its quotes, for unit files and scripts).
    pub raw: String,
    /// The value after unquoting.
    pub text: String,
}

impl Token {
    /// A token for a literal value, quoted only when it needs it.
    pub fn literal(text: &str) -> Token {
        Token {
            raw: quote_if_needed(text),
            text: text.to_string(),
        }
    }
    /// `$NAME` or `${NAME}`: the variable this token stands for.
    pub fn variable(&self) -> Option<&str> {
        let t = self.text.as_str();
        let name = if let Some(rest) = t.strip_prefix("${") {
            rest.strip_suffix('}')?
        } else {
            t.strip_prefix('$')?
        };
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then_some(name)
    }
    /// `$NAME` unbraced: systemd splits its value into several words.
    pub fn splits_words(&self) -> bool {
        self.variable().is_some() && !self.text.starts_with("${")
    }
}

/// Quotes a value with double quotes when it holds whitespace or quotes.
pub fn quote_if_needed(text: &str) -> String {
    if !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\')
    {
        return text.to_string();
    }
    let mut s = String::from("\"");
    for c in text.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Splits a line into tokens the way systemd (and a shell, for plain words)
/// does: whitespace separates, `"..."` and `'...'` group, `\` escapes.
pub fn tokenize(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        let mut end = start;
        let mut quote: Option<char> = None;
        while let Some(&(i, c)) = chars.peek() {
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            chars.next();
            end = i + c.len_utf8();
            match (quote, c) {
                (None, '"') | (None, '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (q, '\\') if q != Some('\'') => {
                    if let Some(&(j, n)) = chars.peek() {
                        chars.next();
                        end = j + n.len_utf8();
                        text.push(n);
                    }
                }
                (_, c) => text.push(c),
            }
        }
        out.push(Token {
            raw: line[start..end].to_string(),
            text,
        });
    }
    out
}

/// Tokens of a real argv (each argument is already one token).
pub fn from_argv(argv: &[String]) -> Vec<Token> {
    argv.iter()
        .map(|a| Token {
            raw: quote_if_needed(a),
            text: a.clone(),
        })
        .collect()
}

/// Joins tokens back into a line, keeping each token's original spelling.
pub fn render(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| t.raw.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where one option sits in a token list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Index of the option token (`-m`, `-m64`, `--debug=3`).
    pub at: usize,
    /// Index of the value token when the value is a separate token.
    pub value_at: Option<usize>,
    /// The value (unquoted).
    pub value: String,
}

/// What a token in option position is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The program (first token).
    Program,
    /// A short option `-X`, with its value when it takes one.
    Short(char, Option<String>),
    /// A long option `--name`, with its value when it takes one.
    Long(String, Option<String>),
    /// `$VAR` where an option would be: an "extra options" variable.
    OptionsVariable(String),
    /// Anything else (kept, never interpreted).
    Other,
}

/// Walks the options of a kamailio command line (tokens[0] is the program),
/// returning (token index, value token index, item) for each.
pub fn items(tokens: &[Token]) -> Vec<(usize, Option<usize>, Item)> {
    let mut out = Vec::new();
    if tokens.is_empty() {
        return out;
    }
    out.push((0, None, Item::Program));
    let mut i = 1;
    while i < tokens.len() {
        let t = &tokens[i].text;
        if tokens[i].variable().is_some() {
            out.push((
                i,
                None,
                Item::OptionsVariable(tokens[i].variable().unwrap_or_default().to_string()),
            ));
            i += 1;
            continue;
        }
        if let Some(long) = t.strip_prefix("--") {
            if let Some((name, val)) = long.split_once('=') {
                out.push((i, None, Item::Long(name.to_string(), Some(val.to_string()))));
            } else if LONG_WITH_VALUE.contains(&long) && i + 1 < tokens.len() {
                out.push((
                    i,
                    Some(i + 1),
                    Item::Long(long.to_string(), Some(tokens[i + 1].text.clone())),
                ));
                i += 1;
            } else {
                out.push((i, None, Item::Long(long.to_string(), None)));
            }
            i += 1;
            continue;
        }
        if let Some(flags) = t.strip_prefix('-').filter(|f| !f.is_empty()) {
            // Grouped short flags (-DD, -dE) until one that takes a value.
            let mut pushed = false;
            for (k, c) in flags.char_indices() {
                if SHORT_WITH_VALUE.contains(c) {
                    let rest = &flags[k + c.len_utf8()..];
                    if !rest.is_empty() {
                        out.push((i, None, Item::Short(c, Some(rest.to_string()))));
                    } else if i + 1 < tokens.len() {
                        out.push((
                            i,
                            Some(i + 1),
                            Item::Short(c, Some(tokens[i + 1].text.clone())),
                        ));
                        i += 1;
                    } else {
                        out.push((i, None, Item::Short(c, None)));
                    }
                    pushed = true;
                    break;
                }
                out.push((i, None, Item::Short(c, None)));
                pushed = true;
            }
            if !pushed {
                out.push((i, None, Item::Other));
            }
            i += 1;
            continue;
        }
        out.push((i, None, Item::Other));
        i += 1;
    }
    out
}

/// Every occurrence of short option `opt` with its value.
pub fn find_all(tokens: &[Token], opt: char) -> Vec<Found> {
    items(tokens)
        .into_iter()
        .filter_map(|(at, value_at, item)| match item {
            Item::Short(c, Some(v)) if c == opt => Some(Found {
                at,
                value_at,
                value: v,
            }),
            _ => None,
        })
        .collect()
}

/// The occurrence that wins (kamailio's getopt: the last one).
pub fn find(tokens: &[Token], opt: char) -> Option<Found> {
    find_all(tokens, opt).pop()
}

/// True when a flag without value (`-E`, `-D`) is present, alone or grouped.
pub fn has_flag(tokens: &[Token], opt: char) -> bool {
    count_flag(tokens, opt) > 0
}

/// How many times a valueless flag appears (`-DD` counts 2).
pub fn count_flag(tokens: &[Token], opt: char) -> usize {
    items(tokens)
        .into_iter()
        .filter(|(_, _, item)| matches!(item, Item::Short(c, None) if *c == opt))
        .count()
}

/// The "extra options" variables (`$EXTRA_OPTIONS` standing where an option would).
pub fn options_variables(tokens: &[Token]) -> Vec<(usize, String)> {
    items(tokens)
        .into_iter()
        .filter_map(|(at, _, item)| match item {
            Item::OptionsVariable(v) => Some((at, v)),
            _ => None,
        })
        .collect()
}

/// Sets short option `opt` to `value`: replaces the winning occurrence's
/// value (keeping its `-m64` or `-m 64` form), or appends `-opt value`.
/// Returns false when the value was already that.
pub fn set(tokens: &mut Vec<Token>, opt: char, value: &str) -> bool {
    match find(tokens, opt) {
        Some(f) if f.value == value => false,
        Some(f) => {
            match f.value_at {
                Some(v) => tokens[v] = Token::literal(value),
                None => {
                    let t = &tokens[f.at].text;
                    let pos = t.find(opt).map(|p| p + opt.len_utf8()).unwrap_or(t.len());
                    let new = format!("{}{}", &t[..pos], value);
                    tokens[f.at] = Token::literal(&new);
                }
            }
            true
        }
        None => {
            tokens.push(Token::literal(&format!("-{opt}")));
            tokens.push(Token::literal(value));
            true
        }
    }
}

/// Removes every occurrence of short option `opt` (with its value) and
/// returns how many were removed. A grouped flag (`-dE`) loses only `opt`.
pub fn remove(tokens: &mut Vec<Token>, opt: char) -> usize {
    let mut removed = 0;
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i];
        let t = tok.text.as_str();
        let short = i > 0
            && tok.variable().is_none()
            && t.starts_with('-')
            && !t.starts_with("--")
            && t.len() > 1;
        if !short {
            out.push(tok.clone());
            i += 1;
            continue;
        }
        let mut kept = String::from("-");
        let mut skip_next = false;
        let mut changed = false;
        for (k, c) in t[1..].char_indices() {
            if SHORT_WITH_VALUE.contains(c) {
                let rest = &t[1 + k + c.len_utf8()..];
                if c == opt {
                    removed += 1;
                    changed = true;
                    skip_next = rest.is_empty();
                } else {
                    kept.push(c);
                    kept.push_str(rest);
                }
                break;
            }
            if c == opt {
                removed += 1;
                changed = true;
            } else {
                kept.push(c);
            }
        }
        if !changed {
            out.push(tok.clone());
        } else if kept != "-" {
            out.push(Token::literal(&kept));
        }
        i += 1;
        if skip_next && i < tokens.len() {
            i += 1;
        } else if !changed || !skip_next {
            // a value token of a kept option is copied by the next iteration
            // only when it is not itself an option; keep it verbatim
            if let Some(next) = tokens.get(i) {
                let takes_value = t[1..]
                    .chars()
                    .find(|c| SHORT_WITH_VALUE.contains(*c))
                    .is_some_and(|c| t.ends_with(c));
                if takes_value {
                    out.push(next.clone());
                    i += 1;
                }
            }
        }
    }
    *tokens = out;
    removed
}

/// The options a `kamailio -c` pre-flight must not get from a run command
/// line: pid/pgid files, daemon control, logging target, user switch, chroot.
pub fn preflight_args(tokens: &[Token]) -> Vec<String> {
    let mut t = tokens.to_vec();
    for opt in ['P', 'G', 'D', 'E', 'e', 'u', 'g', 't', 'c'] {
        remove(&mut t, opt);
    }
    let mut out: Vec<String> = t.into_iter().skip(1).map(|t| t.text).collect();
    out.push("-c".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &[Token]) -> Vec<String> {
        t.iter().map(|t| t.text.clone()).collect()
    }

    #[test]
    fn debian_execstart() {
        let t = tokenize(
            "/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY",
        );
        assert_eq!(find(&t, 'm').unwrap().value, "$SHM_MEMORY");
        assert_eq!(
            t[find(&t, 'm').unwrap().value_at.unwrap()].variable(),
            Some("SHM_MEMORY")
        );
        assert_eq!(find(&t, 'f').unwrap().value, "$CFGFILE");
        assert!(options_variables(&t).is_empty());
        let t2 = tokenize("/usr/sbin/kamailio -f $CFGFILE $EXTRA_OPTIONS");
        assert_eq!(
            options_variables(&t2),
            vec![(3, "EXTRA_OPTIONS".to_string())]
        );
    }

    #[test]
    fn argv_edits_keep_form() {
        let argv: Vec<String> = "/usr/sbin/kamailio -DD -E -f /tmp/k.cfg -m64 -M 8 -A WITH_DEBUG"
            .split(' ')
            .map(String::from)
            .collect();
        let mut t = from_argv(&argv);
        assert_eq!(count_flag(&t, 'D'), 2);
        assert!(has_flag(&t, 'E'));
        assert!(set(&mut t, 'm', "128"));
        assert!(set(&mut t, 'M', "16"));
        assert!(!set(&mut t, 'M', "16"));
        assert!(set(&mut t, 'x', "qm"));
        assert_eq!(
            texts(&t),
            [
                "/usr/sbin/kamailio",
                "-DD",
                "-E",
                "-f",
                "/tmp/k.cfg",
                "-m128",
                "-M",
                "16",
                "-A",
                "WITH_DEBUG",
                "-x",
                "qm"
            ]
        );
        assert_eq!(remove(&mut t, 'D'), 2);
        assert_eq!(remove(&mut t, 'x'), 1);
        assert_eq!(
            preflight_args(&t),
            [
                "-f",
                "/tmp/k.cfg",
                "-m128",
                "-M",
                "16",
                "-A",
                "WITH_DEBUG",
                "-c"
            ]
        );
    }

    #[test]
    fn quotes_and_grouped_flags() {
        let t =
            tokenize(r#"/usr/sbin/kamailio -f "/etc/my kam/k.cfg" -dE -x'qm' --debug=3 --alias x"#);
        assert_eq!(find(&t, 'f').unwrap().value, "/etc/my kam/k.cfg");
        assert_eq!(find(&t, 'x').unwrap().value, "qm");
        assert!(has_flag(&t, 'd') && has_flag(&t, 'E'));
        assert_eq!(
            render(&t[..3]),
            r#"/usr/sbin/kamailio -f "/etc/my kam/k.cfg""#
        );
        let mut g = t.clone();
        remove(&mut g, 'E');
        assert_eq!(g[3].text, "-d");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[-a-zA-Z0-9 $'\"{}\\\\=/]{0,80}") {
            let mut t = tokenize(&s);
            let _ = items(&t);
            let _ = set(&mut t, 'm', "64");
            let _ = remove(&mut t, 'D');
            let _ = preflight_args(&t);
            let _ = render(&t);
        }
    }
}
