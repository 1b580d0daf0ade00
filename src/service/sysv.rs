//! SysV init scripts as text: which options file the script sources
//! (`DEFAULTS=/etc/default/$NAME`, `. /etc/sysconfig/kamailio`), the
//! `OPTIONS="..."` line that becomes kamailio's command line, its
//! `DAEMON=`, `PIDFILE=` and the defaults it sets before sourcing.
//!
//! Pure: reads script text, returns values and edited text; never runs the
//! script (a shell script cannot be evaluated safely; only plain
//! `NAME=value` assignments are read).

use super::argv::{self, Token};
use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// What kmemdbg understands of an init script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitScript {
    /// Plain assignments at top level, in order, `$NAME`/`${NAME}` expanded.
    pub vars: BTreeMap<String, String>,
    /// The options file the script sources, if any.
    pub defaults_file: Option<String>,
    /// 0-based line of `OPTIONS="..."` and its value, when there is one.
    pub options_line: Option<(usize, String)>,
}

impl InitScript {
    /// The program the script starts (`DAEMON=`), when it says.
    pub fn daemon(&self) -> Option<&str> {
        self.vars.get("DAEMON").map(String::as_str)
    }
    /// The options as tokens (program first, from `DAEMON=`).
    pub fn template(&self) -> Option<Vec<Token>> {
        let (_, value) = self.options_line.as_ref()?;
        let mut t = vec![Token::literal(self.daemon().unwrap_or("kamailio"))];
        t.extend(argv::tokenize(value));
        Some(t)
    }
}

/// Reads an init script. `name` is the service name (for `$NAME` when the
/// script computes it with basename).
pub fn parse(text: &str, name: &str) -> InitScript {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    vars.insert("NAME".into(), name.into());
    let mut defaults_file = None;
    let mut options_line = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        // `. /etc/default/kamailio` or `[ -f X ] && . X` or `source X`
        for word in [". ", "source "] {
            if let Some(pos) = t.find(word) {
                let at_start = pos == 0 || t[..pos].ends_with("&& ") || t[..pos].ends_with("; ");
                if at_start {
                    let target = t[pos + word.len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .trim_matches('"');
                    let expanded = expand(target, &vars);
                    if expanded.contains("/default/") || expanded.contains("/sysconfig/") {
                        defaults_file = Some(expanded);
                    }
                }
            }
        }
        // Plain top-level assignments only (no leading whitespace: not inside a function).
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if v.contains('`') || v.contains("$(") {
            continue;
        }
        let value = unquote(v);
        if k == "OPTIONS" {
            options_line = Some((i, value.clone()));
        }
        let expanded = expand(&value, &vars);
        if k == "DEFAULTS" {
            defaults_file = Some(expanded.clone());
        }
        vars.insert(k.to_string(), expanded);
    }
    InitScript {
        vars,
        defaults_file,
        options_line,
    }
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        return v[1..v.len() - 1].to_string();
    }
    v.split_whitespace().next().unwrap_or("").to_string()
}

/// Expands `$NAME` and `${NAME}` with known variables (unknown: left as is).
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphanumeric() || n == '_' {
                name.push(n);
                chars.next();
            } else {
                break;
            }
        }
        if braced && chars.peek() == Some(&'}') {
            chars.next();
        }
        match vars.get(&name) {
            Some(v) if !name.is_empty() => out.push_str(v),
            _ => {
                out.push('$');
                if braced {
                    out.push('{');
                }
                out.push_str(&name);
                if braced {
                    out.push('}');
                }
            }
        }
    }
    out
}

/// Replaces the value of the `OPTIONS="..."` line (line `index`) with the
/// options in `tokens` (program token excluded), keeping the rest of the script.
pub fn set_options_line(text: &str, index: usize, tokens: &[Token]) -> Result<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(line) = lines.get(index) else {
        bail!("init script has no line {}", index + 1);
    };
    if !line.trim_start().starts_with("OPTIONS=") {
        bail!(
            "init script line {} is not the OPTIONS= line any more: {:?}",
            index + 1,
            line.trim_end()
        );
    }
    let ending = if line.ends_with("\r\n") {
        "\r\n"
    } else if line.ends_with('\n') {
        "\n"
    } else {
        ""
    };
    let lead = &line[..line.len() - line.trim_start().len()];
    let value = argv::render(&tokens[1.min(tokens.len())..]).replace('"', "\\\"");
    let mut out: String = lines[..index].concat();
    out.push_str(&format!("{lead}OPTIONS=\"{value}\"{ending}"));
    out.push_str(&lines[index + 1..].concat());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts of Debian's /etc/init.d/kamailio (5.6.3) that matter, verbatim lines.
    pub const DEBIAN_INIT: &str = "#! /bin/sh\n. /lib/lsb/init-functions\n\nPATH=/sbin:/bin:/usr/sbin:/usr/bin\nDAEMON=/usr/sbin/kamailio\nNAME=`basename \"$0\"`\nDESC=\"Kamailio SIP Server\"\nHOMEDIR=/var/run/$NAME\nPIDFILE=$HOMEDIR/$NAME.pid\nDEFAULTS=/etc/default/$NAME\nCFGFILE=/etc/$NAME/kamailio.cfg\nRUN_KAMAILIO=no\nUSER=kamailio\nGROUP=kamailio\nSHM_MEMORY=64\nPKG_MEMORY=8\n\ncheck_fork ()\n{\n    if grep -q x $CFGFILE; then\n\texit 0\n    fi\n}\n\n# Load startup options if available\nif [ -f $DEFAULTS ]; then\n   . $DEFAULTS || true\nfi\n\nOPTIONS=\"-f $CFGFILE -P $PIDFILE -m $SHM_MEMORY -M $PKG_MEMORY -u $USER -g $GROUP\"\n\ncase \"$1\" in\n  start|debug)\n\tstart-stop-daemon --start --quiet --pidfile $PIDFILE \\\n\t\t--exec $DAEMON -- $OPTIONS || log_failure_msg \" already running\"\n\t;;\nesac\n";

    #[test]
    fn debian_init_script() {
        let s = parse(DEBIAN_INIT, "kamailio");
        assert_eq!(s.daemon(), Some("/usr/sbin/kamailio"));
        assert_eq!(s.defaults_file.as_deref(), Some("/etc/default/kamailio"));
        assert_eq!(s.vars["PIDFILE"], "/var/run/kamailio/kamailio.pid");
        let (idx, _) = s.options_line.clone().unwrap();
        let mut t = s.template().unwrap();
        assert_eq!(argv::find(&t, 'm').unwrap().value, "$SHM_MEMORY");
        argv::set(&mut t, 'x', "qm");
        let new = set_options_line(DEBIAN_INIT, idx, &t).unwrap();
        assert!(new.contains(
            "\nOPTIONS=\"-f $CFGFILE -P $PIDFILE -m $SHM_MEMORY -M $PKG_MEMORY -u $USER -g $GROUP -x qm\"\n"
        ));
        assert_eq!(new.lines().count(), DEBIAN_INIT.lines().count());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[#a-zA-Z0-9_=$'\"{}. /\\n-]{0,200}") {
            let p = parse(&s, "kamailio");
            if let (Some((i, _)), Some(t)) = (p.options_line.clone(), p.template()) {
                let _ = set_options_line(&s, i, &t);
            }
        }
    }
}
