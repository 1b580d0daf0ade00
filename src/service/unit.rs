//! systemd units and options files as text: what `systemctl cat NAME`
//! shows (the unit and its drop-ins), the `[Service]` settings that decide
//! the command line (`Environment=`, `EnvironmentFile=`, `ExecStart=`,
//! `PIDFile=`), options files (`/etc/default/kamailio`,
//! `/etc/sysconfig/kamailio`) and the drop-in kmemdbg writes.
//!
//! Pure: text in, values or new text out; never reads or writes a file.
//! Edits of an options file change one line (or add one) and keep every
//! other byte.

use super::argv::{self, Token};
use anyhow::{bail, Result};
use std::path::PathBuf;

/// First line of every drop-in kmemdbg writes (how `revert` knows it is ours).
pub const DROPIN_MARK: &str = "# Written by kmemdbg";

/// One file shown by `systemctl cat` (`# /path` header, then its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    pub path: PathBuf,
    pub text: String,
}

/// Splits `systemctl cat` output into the unit file and its drop-ins.
pub fn parse_systemctl_cat(text: &str) -> Vec<UnitFile> {
    let mut out: Vec<UnitFile> = Vec::new();
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("# /") {
            if !path.contains(' ') || path.ends_with(".conf") || path.ends_with(".service") {
                out.push(UnitFile {
                    path: PathBuf::from(format!("/{}", path.trim())),
                    text: String::new(),
                });
                continue;
            }
        }
        if let Some(f) = out.last_mut() {
            f.text.push_str(line);
            f.text.push('\n');
        }
    }
    out
}

/// An `EnvironmentFile=` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvFileRef {
    pub path: String,
    /// `-` prefix: a missing file is fine.
    pub optional: bool,
    /// The unit file and 1-based line that set it.
    pub from: PathBuf,
    pub line: usize,
}

impl EnvFileRef {
    pub fn is_glob(&self) -> bool {
        self.path.contains(['*', '?', '['])
    }
}

/// The `[Service]` settings that decide how kamailio is started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `Environment=` assignments, in order.
    pub environment: Vec<(String, String)>,
    pub environment_files: Vec<EnvFileRef>,
    /// The `ExecStart=` in effect (raw, prefixes like `-` kept), and the file that set it.
    pub exec_start: Option<(String, PathBuf)>,
    /// The 1-based line of that `ExecStart=` in its file.
    pub exec_start_line: usize,
    pub pid_file: Option<String>,
    pub service_type: Option<String>,
}

/// Reads the `[Service]` settings of a unit and its drop-ins, in order
/// (later files override; an empty `ExecStart=` resets the list).
pub fn service_config(files: &[UnitFile]) -> Result<ServiceConfig> {
    let mut cfg = ServiceConfig::default();
    let mut exec: Vec<(String, PathBuf, usize)> = Vec::new();
    for f in files {
        let mut section = String::new();
        for (lineno, (key, value)) in logical_lines(&f.text)
            .map_err(|(line, why)| anyhow::anyhow!("{}:{line}: {why}", f.path.display()))?
        {
            if let Some(s) = key.strip_prefix('[') {
                section = s.trim_end_matches(']').to_string();
                continue;
            }
            if section != "Service" {
                continue;
            }
            match key.as_str() {
                "Environment" => {
                    if value.is_empty() {
                        cfg.environment.clear();
                    }
                    for t in argv::tokenize(&value) {
                        if let Some((k, v)) = t.text.split_once('=') {
                            cfg.environment.push((k.to_string(), v.to_string()));
                        }
                    }
                }
                "EnvironmentFile" => {
                    if value.is_empty() {
                        cfg.environment_files.clear();
                    }
                    for t in argv::tokenize(&value) {
                        let (optional, path) = match t.text.strip_prefix('-') {
                            Some(p) => (true, p.to_string()),
                            None => (false, t.text.clone()),
                        };
                        cfg.environment_files.push(EnvFileRef {
                            path,
                            optional,
                            from: f.path.clone(),
                            line: lineno,
                        });
                    }
                }
                "ExecStart" => {
                    if value.is_empty() {
                        exec.clear();
                    } else {
                        exec.push((value.clone(), f.path.clone(), lineno));
                    }
                }
                "PIDFile" => cfg.pid_file = Some(value.clone()),
                "Type" => cfg.service_type = Some(value.clone()),
                _ => {}
            }
        }
    }
    if exec.len() > 1 {
        bail!(
            "the unit has {} ExecStart= lines in effect ({}); kmemdbg restarts a unit with one (a drop-in that replaces it starts with an empty `ExecStart=`)",
            exec.len(),
            exec.iter()
                .map(|(_, p, l)| format!("{}:{l}", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some((value, path, line)) = exec.pop() {
        cfg.exec_start_line = line;
        cfg.exec_start = Some((value, path));
    }
    Ok(cfg)
}

/// (1-based line, (key, value)) of one logical line.
type Logical = (usize, (String, String));

/// `key=value` lines with continuations joined; `[Section]` lines come
/// back as the key. A line that is neither (systemd would ignore it with a
/// warning) is an error: (1-based line, why).
fn logical_lines(text: &str) -> std::result::Result<Vec<Logical>, (usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let cur = match pending.take() {
            Some((start, mut acc)) => {
                if trimmed.starts_with('#') || trimmed.starts_with(';') {
                    // systemd skips comment lines inside a continuation.
                    pending = Some((start, acc));
                    continue;
                }
                acc.push(' ');
                acc.push_str(trimmed);
                (start, acc)
            }
            None => {
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                    continue;
                }
                (i + 1, trimmed.to_string())
            }
        };
        if let Some(stripped) = cur.1.strip_suffix('\\') {
            pending = Some((cur.0, stripped.trim_end().to_string()));
            continue;
        }
        let (start, l) = cur;
        if l.starts_with('[') {
            if !l.ends_with(']') || l.len() < 3 {
                return Err((start, format!("{l:?} is not a [Section] header")));
            }
            out.push((start, (l, String::new())));
        } else if let Some((k, v)) = l.split_once('=') {
            let k = k.trim();
            if k.is_empty() || k.contains(char::is_whitespace) {
                return Err((start, format!("{l:?} is not KEY=VALUE")));
            }
            out.push((start, (k.to_string(), v.trim().to_string())));
        } else {
            return Err((
                start,
                format!("{l:?} is not KEY=VALUE (missing '='; systemd ignores this line)"),
            ));
        }
    }
    Ok(out)
}

/// Expands systemd's specifiers in an `ExecStart=` value of `unit`
/// (`%n` `%N` `%p` `%i` `%I` `%%`); any other specifier is an error.
pub fn expand_specifiers(value: &str, unit: &str) -> std::result::Result<String, String> {
    let full = unit;
    let stem = unit.rsplit_once('.').map(|(a, _)| a).unwrap_or(unit);
    let (prefix, instance) = match stem.split_once('@') {
        Some((p, i)) => (p, i),
        None => (stem, ""),
    };
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('n') => out.push_str(full),
            Some('N') => out.push_str(stem),
            Some('p') => out.push_str(prefix),
            Some('i') | Some('I') => out.push_str(instance),
            Some(o) => return Err(format!("specifier %{o}, which kmemdbg does not expand")),
            None => return Err("a lone % at the end".into()),
        }
    }
    Ok(out)
}

/// Strips systemd's executable prefixes (`-`, `@`, `:`, `+`, `!`).
pub fn strip_exec_prefixes(exec: &str) -> &str {
    exec.trim_start_matches(['-', '@', ':', '+', '!'])
}

/// Expands `$VAR` (split into words) and `${VAR}` (one word) in an
/// `ExecStart=` line with `env` (later entries win), as systemd does.
/// Unset variables expand to nothing.
pub fn expand(tokens: &[Token], env: &[(String, String)]) -> Vec<String> {
    let get = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let text = if i == 0 {
            strip_exec_prefixes(&t.text).to_string()
        } else {
            t.text.clone()
        };
        if let Some(name) = t.variable() {
            let v = get(name);
            if t.splits_words() {
                out.extend(v.split_whitespace().map(String::from));
            } else {
                out.push(v);
            }
            continue;
        }
        // ${VAR} inside a word (e.g. -f${DIR}/k.cfg): substitute in place.
        out.push(substitute(&text, &get).replace("$$", "$"));
    }
    out
}

fn substitute(s: &str, get: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(p) = rest.find("${") {
        out.push_str(&rest[..p]);
        match rest[p + 2..].find('}') {
            Some(e) => {
                out.push_str(&get(&rest[p + 2..p + 2 + e]));
                rest = &rest[p + 3 + e..];
            }
            None => {
                out.push_str(&rest[p..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The assignments an options file makes (`KEY=VALUE`, quotes removed,
/// comments and blank lines skipped; `export KEY=...` accepted).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| assignment(l).map(|(k, v, _)| (k, v)))
        .collect()
}

/// (key, unquoted value, byte offset of the value) of an active assignment line.
fn assignment(line: &str) -> Option<(String, String, usize)> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with(';') {
        return None;
    }
    let lead = line.len() - trimmed.len();
    let (body, lead) = match trimmed.strip_prefix("export ") {
        Some(b) => (b.trim_start(), line.len() - b.trim_start().len()),
        None => (trimmed, lead),
    };
    let (k, v) = body.split_once('=')?;
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let v = v.trim_end_matches(['\r', '\n']);
    let value = unquote(v.trim());
    Some((k.to_string(), value, lead + k.len() + 1))
}

fn unquote(v: &str) -> String {
    let toks = argv::tokenize(v);
    if toks.len() == 1 {
        return toks[0].text.clone();
    }
    v.to_string()
}

/// Sets `key` in an options file's text: changes the value on the line
/// in effect (the last assignment), else adds `KEY=VALUE` after a commented
/// `#KEY=` example, else at the end. Every other byte stays.
/// Returns None when the value is already `value`.
pub fn set_env_var(text: &str, key: &str, value: &str) -> Option<String> {
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let rendered = render_value(value);
    let active = lines
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, l)| assignment(l).filter(|(k, _, _)| k == key).map(|a| (i, a)));
    if let Some((i, (_, old, at))) = active {
        if old == value {
            return None;
        }
        let line = lines[i];
        let ending = if line.ends_with("\r\n") {
            "\r\n"
        } else if line.ends_with('\n') {
            "\n"
        } else {
            ""
        };
        let mut out: String = lines[..i].concat();
        out.push_str(&line[..at]);
        out.push_str(&rendered);
        out.push_str(ending);
        out.push_str(&lines[i + 1..].concat());
        return Some(out);
    }
    let example = lines.iter().rposition(|l| {
        let t = l.trim_start().trim_start_matches('#').trim_start();
        l.trim_start().starts_with('#') && t.starts_with(&format!("{key}="))
    });
    let new_line = format!("{key}={rendered}{eol}");
    let mut out = String::new();
    match example {
        Some(i) => {
            out.push_str(&lines[..=i].concat());
            if !out.ends_with('\n') {
                out.push_str(eol);
            }
            out.push_str(&new_line);
            out.push_str(&lines[i + 1..].concat());
        }
        None => {
            out.push_str(text);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(eol);
            }
            out.push_str(&new_line);
        }
    }
    Some(out)
}

fn render_value(v: &str) -> String {
    if v.chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '$')
    {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

/// The drop-in kmemdbg writes to change a unit's command line.
pub fn render_dropin(unit: &str, exec_start: &str, why: &[String]) -> String {
    let mut s = format!(
        "{DROPIN_MARK} for {unit}: {}.\n# Undo: kmemdbg revert (or delete this file, then systemctl daemon-reload).\n[Service]\nExecStart=\nExecStart={exec_start}\n",
        if why.is_empty() {
            "run-time options".to_string()
        } else {
            why.join(", ")
        }
    );
    if s.contains("\r") {
        s = s.replace('\r', "");
    }
    s
}

/// Real files for tests.
#[cfg(test)]
pub mod tests_support {
    /// Debian bookworm's /lib/systemd/system/kamailio.service (5.6.3), verbatim.
    pub const DEBIAN_UNIT: &str = "[Unit]\nDescription=Kamailio - the Open Source SIP Server\nDocumentation=man:kamailio(8)\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nType=forking\nUser=kamailio\nGroup=kamailio\nEnvironment='CFGFILE=/etc/kamailio/kamailio.cfg'\nEnvironment='SHM_MEMORY=64'\nEnvironment='PKG_MEMORY=8'\nEnvironmentFile=-/etc/default/kamailio\nEnvironmentFile=-/etc/default/kamailio.d/*\n# PIDFile requires a full absolute path\nPIDFile=/run/kamailio/kamailio.pid\n# ExecStart requires a full absolute path\nExecStart=/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY\nRestart=on-failure\n# /run/kamailio in tmpfs\nRuntimeDirectory=kamailio\nRuntimeDirectoryMode=0770\n\n[Install]\nWantedBy=multi-user.target\n";
}

#[cfg(test)]
mod tests {
    use super::tests_support::DEBIAN_UNIT;
    use super::*;

    #[test]
    fn debian_unit_and_dropin() {
        let cat = format!(
            "# /lib/systemd/system/kamailio.service\n{DEBIAN_UNIT}\n# /etc/systemd/system/kamailio.service.d/kmemdbg.conf\n{}",
            render_dropin(
                "kamailio.service",
                "/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f $CFGFILE -m $SHM_MEMORY -M $PKG_MEMORY -x qm",
                &["-x qm".into()]
            )
        );
        let files = parse_systemctl_cat(&cat);
        assert_eq!(files.len(), 2);
        let c = service_config(&files).unwrap();
        assert_eq!(c.environment[1], ("SHM_MEMORY".into(), "64".into()));
        assert_eq!(c.environment_files[0].path, "/etc/default/kamailio");
        assert!(c.environment_files[1].is_glob());
        let (exec, from) = c.exec_start.unwrap();
        assert!(exec.ends_with("-x qm"), "{exec}");
        assert!(from.ends_with("kmemdbg.conf"));
        let mut env = c.environment.clone();
        env.push(("SHM_MEMORY".into(), "128".into()));
        let argv = expand(&argv::tokenize(&exec), &env);
        assert_eq!(
            argv.join(" "),
            "/usr/sbin/kamailio -P /run/kamailio/kamailio.pid -f /etc/kamailio/kamailio.cfg -m 128 -M 8 -x qm"
        );
    }

    /// Debian's /etc/default/kamailio: every setting commented out.
    const DEBIAN_DEFAULTS: &str = "#\n# Kamailio startup options\n#\n\n# Amount of shared and private memory to allocate\n# for the running Kamailio server (in Mb)\n#SHM_MEMORY=64\n#PKG_MEMORY=8\n\n# Config file\n#CFGFILE=/etc/kamailio/kamailio.cfg\n";

    #[test]
    fn env_file_edits() {
        assert!(parse_env_file(DEBIAN_DEFAULTS).is_empty());
        let a = set_env_var(DEBIAN_DEFAULTS, "SHM_MEMORY", "128").unwrap();
        assert!(
            a.contains("#SHM_MEMORY=64\nSHM_MEMORY=128\n#PKG_MEMORY=8\n"),
            "{a}"
        );
        assert_eq!(
            parse_env_file(&a),
            vec![("SHM_MEMORY".into(), "128".into())]
        );
        assert!(set_env_var(&a, "SHM_MEMORY", "128").is_none());
        let b = set_env_var(&a, "SHM_MEMORY", "256").unwrap();
        assert_eq!(b.len(), a.len());
        let c = set_env_var("X=1", "EXTRA_OPTIONS", "-x qm").unwrap();
        assert_eq!(c, "X=1\nEXTRA_OPTIONS=\"-x qm\"\n");
        assert_eq!(parse_env_file(&c)[1].1, "-x qm");
        let crlf = set_env_var("A=1\r\nB=2\r\n", "A", "3").unwrap();
        assert_eq!(crlf, "A=3\r\nB=2\r\n");
        let exp = set_env_var("export PKG_MEMORY='8'\n", "PKG_MEMORY", "16").unwrap();
        assert_eq!(exp, "export PKG_MEMORY=16\n");
    }

    fn one(path: &str, text: &str) -> Vec<UnitFile> {
        vec![UnitFile {
            path: PathBuf::from(path),
            text: text.into(),
        }]
    }

    #[test]
    fn bad_units_name_file_and_line() {
        let e = service_config(&one(
            "/etc/systemd/system/k.service",
            "[Unit]\nDescription=x\n\n[Service]\nExecStart /usr/sbin/kamailio\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("/etc/systemd/system/k.service:5: "), "{e}");
        let e = service_config(&one("/x.service", "[Service\nExecStart=/a\n"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/x.service:1: "), "{e}");
        // Two ExecStart= in effect: both places named.
        let mut files = one("/lib/systemd/system/k.service", "[Service]\nExecStart=/a\n");
        files.push(UnitFile {
            path: PathBuf::from("/etc/systemd/system/k.service.d/o.conf"),
            text: "# no reset\n[Service]\nExecStart=/b\n".into(),
        });
        let e = service_config(&files).unwrap_err().to_string();
        assert!(
            e.contains("/lib/systemd/system/k.service:2") && e.contains("k.service.d/o.conf:3"),
            "{e}"
        );
        // Continuations and comments inside them keep the first line's number.
        let c = service_config(&one(
            "/k.service",
            "[Service]\nEnvironmentFile=-/etc/default/k\nExecStart=/usr/sbin/kamailio \\\n# comment\n  -f /k.cfg\n",
        ))
        .unwrap();
        assert_eq!(c.exec_start.unwrap().0, "/usr/sbin/kamailio -f /k.cfg");
        assert_eq!(c.exec_start_line, 3);
        assert_eq!(c.environment_files[0].line, 2);
        assert!(c.environment_files[0].optional);
    }

    #[test]
    fn prefixes_stay_and_specifiers_expand() {
        let t = argv::tokenize("-@/usr/sbin/kamailio -f /k.cfg");
        assert_eq!(argv::render(&t), "-@/usr/sbin/kamailio -f /k.cfg");
        assert_eq!(expand(&t, &[])[0], "/usr/sbin/kamailio");
        assert_eq!(
            expand_specifiers(
                "/usr/sbin/kamailio -f /etc/%p/%i.cfg -P /run/%N.pid 100%%",
                "kamailio@edge.service"
            )
            .unwrap(),
            "/usr/sbin/kamailio -f /etc/kamailio/edge.cfg -P /run/kamailio@edge.pid 100%"
        );
        assert!(expand_specifiers("/a -u %u", "k.service").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[#a-zA-Z0-9_=\\[\\] $'\"\\\\\\n-]{0,200}") {
            let files = parse_systemctl_cat(&format!("# /x.service\n{s}"));
            let _ = service_config(&files);
            let _ = parse_env_file(&s);
            let _ = set_env_var(&s, "SHM_MEMORY", "64");
            let _ = expand_specifiers(&s, "k@x.service");
        }
    }
}
