//! Pure parser for `kamailio -V` and `kamailio -I` output (SER/OpenSER too).
//!
//! Keys are found by name, not by line position, so a wrapped or reordered
//! flags block still parses. Never panics on any input (fuzzed in tests).

use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A dotted version, `5.6.3` or `4.2.0-dev1` (the suffix is kept as text).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub suffix: String,
}

impl Version {
    /// Parses `X.Y[.Z][suffix]`; `None` when it does not start with digits.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (nums, suffix) = s.split_at(end);
        let mut it = nums.split('.').filter(|p| !p.is_empty());
        let major = it.next()?.parse().ok()?;
        let minor = it.next().map_or(Some(0), |p| p.parse().ok())?;
        let patch = it.next().map_or(Some(0), |p| p.parse().ok())?;
        Some(Version {
            major,
            minor,
            patch,
            suffix: suffix.to_string(),
        })
    }
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}{}",
            self.major, self.minor, self.patch, self.suffix
        )
    }
}

/// Everything `-V` (and `-I`) told about a binary.
#[derive(Debug, Clone, Serialize, Default)]
pub struct BuildInfo {
    /// The binary that was asked, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<PathBuf>,
    /// `kamailio`, `ser`, `openser`, `sip-router`.
    pub product: String,
    pub version: Version,
    /// Architecture and OS from `(x86_64/linux)`.
    pub arch: String,
    pub os: String,
    /// Source revision after the version (source builds), or from `id:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_id: Option<String>,
    /// Every compile flag, in the order printed; `STATS: Off` kept as is.
    pub flags: Vec<String>,
    /// Compile-time settings: `MAX_RECV_BUFFER_SIZE` -> `262144`,
    /// `DEFAULT PKG_SIZE` -> `8MB`, `DEFAULT SHM_SIZE` (from `-I`), ...
    pub settings: BTreeMap<String, String>,
    pub poll_methods: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compiler: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compiled_on: Option<String>,
    /// Lines that were not understood (kept, never silently lost).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unparsed: Vec<String>,
}

impl BuildInfo {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}

const PRODUCTS: &[&str] = &["kamailio", "openser", "ser", "sip-router", "opensips"];

/// Parses `-V` output. Errors when the text carries no version line of a
/// known product (the binary is not Kamailio) or no flags at all.
pub fn parse_version_output(text: &str) -> Result<BuildInfo> {
    let mut info = BuildInfo::default();
    let mut have_version = false;
    let mut in_flags = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            in_flags = false;
            continue;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(rest) = strip_key(line, "version") {
            in_flags = false;
            if let Some(()) = parse_version_line(rest, &mut info) {
                have_version = true;
            } else {
                info.unparsed.push(raw.to_string());
            }
        } else if let Some(rest) = strip_key(line, "flags") {
            in_flags = true;
            push_flags(rest, &mut info.flags);
        } else if let Some(rest) = lower
            .strip_prefix("poll method support:")
            .map(|_| &line["poll method support:".len()..])
        {
            in_flags = false;
            info.poll_methods = split_list(rest.trim_end_matches('.'));
        } else if let Some(rest) = strip_key(line, "id") {
            in_flags = false;
            let id = rest.trim();
            if !id.is_empty() && id != "unknown" && info.git_id.is_none() {
                info.git_id = Some(id.to_string());
            }
        } else if lower.starts_with("compiled on ") || lower.starts_with("compiled with ") {
            in_flags = false;
            parse_compiled(line, &mut info);
        } else if is_settings_line(line) {
            in_flags = false;
            parse_settings(line, &mut info.settings);
        } else if in_flags && looks_like_flags(line) {
            // A wrapped flags line continues here.
            push_flags(line, &mut info.flags);
        } else {
            info.unparsed.push(raw.to_string());
        }
    }
    if !have_version {
        let shown: String = text.chars().take(120).collect();
        if text.trim().is_empty() {
            bail!("it printed nothing");
        }
        bail!("no `version: kamailio X.Y.Z` line; it printed: {:?}", shown);
    }
    if info.flags.is_empty() {
        bail!(
            "{} {}: no `flags:` line in its -V output",
            info.product,
            info.version
        );
    }
    Ok(info)
}

/// Merges `kamailio -I` output (compile defaults such as `DEFAULT SHM_SIZE`).
pub fn parse_info_output(text: &str, info: &mut BuildInfo) {
    for raw in text.lines() {
        let line = raw.trim();
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim();
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == ' ')
            {
                info.settings
                    .entry(k.to_string())
                    .or_insert_with(|| v.trim().to_string());
            }
        } else if let Some(rest) = line.strip_prefix("Compiled architecture:") {
            if info.arch.is_empty() {
                info.arch = rest.trim().to_string();
            }
        } else if let Some(rest) = line.strip_prefix("Default config:") {
            info.settings
                .insert("DEFAULT CONFIG".into(), rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("Default paths to modules:") {
            info.settings
                .insert("DEFAULT MODULES PATH".into(), rest.trim().to_string());
        }
    }
}

fn strip_key<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let head = line.get(..key.len())?;
    if !head.eq_ignore_ascii_case(key) {
        return None;
    }
    line[key.len()..].trim_start().strip_prefix(':')
}

fn parse_version_line(rest: &str, info: &mut BuildInfo) -> Option<()> {
    let mut words = rest.split_whitespace();
    let product = words.next()?.to_ascii_lowercase();
    let product = product.trim_start_matches("/usr/sbin/").to_string();
    if !PRODUCTS.contains(&product.as_str()) {
        return None;
    }
    let version = Version::parse(words.next()?)?;
    info.product = product;
    info.version = version;
    for w in words {
        if let Some(inner) = w.strip_prefix('(').and_then(|w| w.strip_suffix(')')) {
            let mut parts = inner.splitn(2, '/');
            info.arch = parts.next().unwrap_or_default().to_string();
            info.os = parts.next().unwrap_or_default().to_string();
        } else if w.chars().all(|c| c.is_ascii_hexdigit()) && w.len() >= 4 {
            info.git_id = Some(w.to_string());
        }
    }
    Some(())
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn push_flags(s: &str, flags: &mut Vec<String>) {
    for f in split_list(s) {
        if !flags.contains(&f) {
            flags.push(f);
        }
    }
}

fn looks_like_flags(line: &str) -> bool {
    line.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .all(|p| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | ' ' | '.'))
        })
}

fn is_settings_line(line: &str) -> bool {
    [
        "MAX_RECV_BUFFER_SIZE",
        "ADAPTIVE_WAIT_LOOPS",
        "BUF_SIZE",
        "PKG_SIZE",
        "MAX_LISTEN",
    ]
    .iter()
    .any(|k| line.contains(k))
}

fn parse_settings(line: &str, out: &mut BTreeMap<String, String>) {
    for item in split_list(line) {
        let (k, v) = if let Some((k, v)) = item.split_once('=') {
            (k.trim(), v.trim())
        } else if let Some(pos) = item.rfind(' ') {
            (item[..pos].trim(), item[pos + 1..].trim())
        } else {
            (item.as_str(), "")
        };
        if !k.is_empty() {
            out.insert(k.to_string(), v.to_string());
        }
    }
}

fn parse_compiled(line: &str, info: &mut BuildInfo) {
    // "compiled on 11:59:44 Nov  3 2014 with gcc 4.4.7" or "compiled with gcc 12.2.0"
    let lower = line.to_ascii_lowercase();
    if let Some(pos) = lower.find(" with ") {
        info.compiler = Some(line[pos + 6..].trim().to_string());
        if let Some(on) = line[..pos].trim().strip_prefix("compiled on") {
            let on = on.trim();
            if !on.is_empty() {
                info.compiled_on = Some(on.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    } else if let Some(with) = line.strip_prefix("compiled with") {
        info.compiler = Some(with.trim().to_string());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// From the seed (Kamailio 4.2.0, as pasted on the wiki).
    pub const SEED_420: &str = "version: kamailio 4.2.0 (x86_64/linux)
flags: STATS: Off, USE_TCP, USE_TLS, TLS_HOOKS, USE_RAW_SOCKS, DISABLE_NAGLE, USE_MCAST, DNS_IP_HACK, SHM_MEM, SHM_MMAP, PKG_MALLOC, F_MALLOC, DBG_F_MALLOC, USE_FUTEX, FAST_LOCK-ADAPTIVE_WAIT, USE_DNS_CACHE, USE_DNS_FAILOVER, USE_NAPTR, USE_DST_BLACKLIST, HAVE_RESOLV_RES
ADAPTIVE_WAIT_LOOPS=1024, MAX_RECV_BUFFER_SIZE 262144, MAX_LISTEN 16, MAX_URI_SIZE 1024, BUF_SIZE 65535, DEFAULT PKG_SIZE 8MB
poll method support: poll, epoll_lt, epoll_et, sigio_rt, select.
id: unknown
compiled on 11:59:44 Nov  3 2014 with gcc 4.4.7
";

    /// Debian bookworm's kamailio 5.6.3-2, `kamailio -V` on this machine.
    pub const DEBIAN_563: &str = "version: kamailio 5.6.3 (x86_64/linux) 
flags: USE_TCP, USE_TLS, USE_SCTP, TLS_HOOKS, USE_RAW_SOCKS, DISABLE_NAGLE, USE_MCAST, DNS_IP_HACK, SHM_MMAP, PKG_MALLOC, Q_MALLOC, F_MALLOC, TLSF_MALLOC, DBG_SR_MEMORY, USE_FUTEX, FAST_LOCK-ADAPTIVE_WAIT, USE_DNS_CACHE, USE_DNS_FAILOVER, USE_NAPTR, USE_DST_BLOCKLIST, HAVE_RESOLV_RES, TLS_PTHREAD_MUTEX_SHARED
ADAPTIVE_WAIT_LOOPS 1024, MAX_RECV_BUFFER_SIZE 262144, MAX_URI_SIZE 1024, BUF_SIZE 65535, DEFAULT PKG_SIZE 8MB
poll method support: poll, epoll_lt, epoll_et, sigio_rt, select.
id: unknown 
compiled with gcc 12.2.0
";

    /// Debian's 5.6.3 source package built here with `make cfg && make kamailio`.
    pub const SOURCE_563: &str = "version: kamailio 5.6.3 (x86_64/linux) d99da9
flags: USE_TCP, USE_TLS, USE_SCTP, TLS_HOOKS, USE_RAW_SOCKS, DISABLE_NAGLE, USE_MCAST, DNS_IP_HACK, SHM_MMAP, PKG_MALLOC, Q_MALLOC, F_MALLOC, TLSF_MALLOC, DBG_SR_MEMORY, USE_FUTEX, FAST_LOCK-ADAPTIVE_WAIT, USE_DNS_CACHE, USE_DNS_FAILOVER, USE_NAPTR, USE_DST_BLOCKLIST, HAVE_RESOLV_RES, TLS_PTHREAD_MUTEX_SHARED
ADAPTIVE_WAIT_LOOPS 1024, MAX_RECV_BUFFER_SIZE 262144, MAX_URI_SIZE 1024, BUF_SIZE 65535, DEFAULT PKG_SIZE 8MB
poll method support: poll, epoll_lt, epoll_et, sigio_rt, select.
id: d99da9 
compiled on 22:11:54 Nov 25 2026 with gcc 12.2.0
";

    #[test]
    fn source_563_has_git_id() {
        let i = parse_version_output(SOURCE_563).unwrap();
        assert_eq!(i.git_id.as_deref(), Some("d99da9"));
        assert_eq!(i.compiled_on.as_deref(), Some("22:11:54 Nov 25 2026"));
        assert!(i.has_flag("DBG_SR_MEMORY"));
        assert!(i.unparsed.is_empty(), "{:?}", i.unparsed);
    }

    #[test]
    fn seed_420() {
        let i = parse_version_output(SEED_420).unwrap();
        assert_eq!(i.product, "kamailio");
        assert_eq!(i.version, Version::parse("4.2.0").unwrap());
        assert_eq!((i.arch.as_str(), i.os.as_str()), ("x86_64", "linux"));
        assert!(i.has_flag("DBG_F_MALLOC") && i.has_flag("F_MALLOC"));
        assert_eq!(i.flags[0], "STATS: Off");
        assert_eq!(i.flags.len(), 20);
        assert_eq!(i.settings["DEFAULT PKG_SIZE"], "8MB");
        assert_eq!(i.settings["ADAPTIVE_WAIT_LOOPS"], "1024");
        assert_eq!(i.settings["MAX_LISTEN"], "16");
        assert_eq!(i.poll_methods.len(), 5);
        assert_eq!(i.compiler.as_deref(), Some("gcc 4.4.7"));
        assert_eq!(i.compiled_on.as_deref(), Some("11:59:44 Nov 3 2014"));
        assert_eq!(i.git_id, None);
        assert!(i.unparsed.is_empty(), "{:?}", i.unparsed);
    }

    #[test]
    fn debian_563() {
        let i = parse_version_output(DEBIAN_563).unwrap();
        assert_eq!(i.version.to_string(), "5.6.3");
        assert!(i.has_flag("DBG_SR_MEMORY"));
        assert_eq!(i.flags.len(), 22);
        assert_eq!(i.settings["MAX_RECV_BUFFER_SIZE"], "262144");
        assert_eq!(i.compiler.as_deref(), Some("gcc 12.2.0"));
        assert!(i.unparsed.is_empty(), "{:?}", i.unparsed);
    }

    #[test]
    fn info_output_adds_shm_default() {
        let mut i = parse_version_output(DEBIAN_563).unwrap();
        parse_info_output(
            "Print out of kamailio internals\n  DEFAULT PKG_SIZE=8MB\n  DEFAULT SHM_SIZE=64MB\n  Compiled architecture: x86_64\n",
            &mut i,
        );
        assert_eq!(i.settings["DEFAULT SHM_SIZE"], "64MB");
    }

    #[test]
    fn wrapped_and_reordered() {
        let text = "flags: USE_TCP, PKG_MALLOC,\n  Q_MALLOC, DBG_QM_MALLOC,\n  USE_FUTEX\nversion: kamailio 9.1.0 (aarch64/linux) abc123f\npoll method support: poll.\n";
        let i = parse_version_output(text).unwrap();
        assert_eq!(i.version.to_string(), "9.1.0");
        assert_eq!(i.git_id.as_deref(), Some("abc123f"));
        assert_eq!(
            i.flags,
            [
                "USE_TCP",
                "PKG_MALLOC",
                "Q_MALLOC",
                "DBG_QM_MALLOC",
                "USE_FUTEX"
            ]
        );
    }

    #[test]
    fn not_kamailio() {
        assert!(parse_version_output("").is_err());
        assert!(parse_version_output("GNU coreutils 9.1\nflags: x\n").is_err());
        assert!(parse_version_output("version: nginx 1.2 (x/y)\nflags: A\n").is_err());
        assert!(parse_version_output("version: kamailio 5.6.3 (x86_64/linux)\n").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_version_output(&s);
        }
        #[test]
        fn never_panics_on_near_misses(a in "(version|flags|id|poll method support|compiled on|ADAPTIVE_WAIT_LOOPS)", b in "[ -~]{0,60}") {
            let text = format!("version: kamailio 5.{b}\n{a}:{b}\n{a} {b}\n");
            let _ = parse_version_output(&text);
            let mut i = BuildInfo::default();
            parse_info_output(&text, &mut i);
        }
    }
}
