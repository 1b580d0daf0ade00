//! The traffic classes `kmemdbg hunt` drives: one sipp scenario each,
//! shipped inside the binary (`scenarios/*.xml`, embedded with
//! `include_str!`), plus any scenario file the operator names.
//!
//! Pure: [`parse_list`] turns `--classes` text into [`Class`]es and reads
//! nothing; a user's file is read by the caller ([`Class::user`] takes its
//! text). Never runs sipp (see [`super::drive`]).

use anyhow::{bail, Result};
use serde::Serialize;

/// Where a class's scenario comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Shipped with kmemdbg.
    Builtin,
    /// A sipp scenario file the operator gave (its path).
    File(String),
}

/// One kind of traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// `register`, `invite`, ... or the file's stem for a user's scenario.
    pub name: String,
    /// What the scenario sends, in a few words.
    pub about: &'static str,
    /// The sipp scenario XML.
    pub scenario: String,
    pub origin: Origin,
}

/// A shipped class: name, what it sends, its scenario.
struct Builtin {
    name: &'static str,
    about: &'static str,
    xml: &'static str,
}

/// The shipped classes, in the order `hunt` runs them by default.
const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "register",
        about: "REGISTER, one address of record per request, Expires = half of --settle",
        xml: include_str!("scenarios/register.xml"),
    },
    Builtin {
        name: "options",
        about: "OPTIONS, one Call-ID per request",
        xml: include_str!("scenarios/options.xml"),
    },
    Builtin {
        name: "invite",
        about: "INVITE with SDP, any final reply; ACK for a non-2xx, ACK and BYE after a 2xx",
        xml: include_str!("scenarios/invite.xml"),
    },
    Builtin {
        name: "invite-fail",
        about: "INVITE to a domain that never resolves (.invalid), any final reply, ACKed",
        xml: include_str!("scenarios/invite-fail.xml"),
    },
    Builtin {
        name: "message",
        about: "MESSAGE with a short text body, one user per request",
        xml: include_str!("scenarios/message.xml"),
    },
    Builtin {
        name: "subscribe",
        about: "SUBSCRIBE Event: presence, Expires = half of --settle; NOTIFYs answered 200",
        xml: include_str!("scenarios/subscribe.xml"),
    },
];

/// Names of the shipped classes, in run order.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|b| b.name).collect()
}

/// Every shipped class, in run order.
pub fn all() -> Vec<Class> {
    BUILTINS.iter().map(to_class).collect()
}

fn to_class(b: &Builtin) -> Class {
    Class {
        name: b.name.to_string(),
        about: b.about,
        scenario: b.xml.to_string(),
        origin: Origin::Builtin,
    }
}

/// One entry of `--classes`: a shipped class or a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Builtin(String),
    File(String),
}

/// True when an entry names a file rather than a shipped class: it has a
/// `/` or ends in `.xml`.
fn is_file(item: &str) -> bool {
    item.contains('/') || item.to_ascii_lowercase().ends_with(".xml")
}

/// Splits `--classes` (comma-separated, repeatable) into entries, in the
/// order given, without duplicates. Empty means every shipped class.
pub fn parse_list(values: &[String]) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    for item in values.iter().flat_map(|v| v.split(',')) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let entry = if is_file(item) {
            Entry::File(item.to_string())
        } else {
            let lower = item.to_ascii_lowercase();
            if !BUILTINS.iter().any(|b| b.name == lower) {
                bail!(
                    "--classes {item:?}: no such class; the classes are {} (or a sipp scenario file: ./mine.xml)",
                    builtin_names().join(", ")
                );
            }
            Entry::Builtin(lower)
        };
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    if out.is_empty() {
        out = BUILTINS
            .iter()
            .map(|b| Entry::Builtin(b.name.to_string()))
            .collect();
    }
    Ok(out)
}

/// The shipped class called `name`.
pub fn builtin(name: &str) -> Option<Class> {
    BUILTINS.iter().find(|b| b.name == name).map(to_class)
}

impl Class {
    /// A class from a scenario file the operator gave: named after the
    /// file's stem (`calls.xml` -> `calls`). Checks only that the text looks
    /// like a sipp scenario; sipp itself reads the file.
    pub fn user(path: &str, text: &str) -> Result<Class> {
        if !text.contains("<scenario") {
            bail!("{path}: not a sipp scenario (no <scenario> element)");
        }
        let stem = std::path::Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "scenario".to_string());
        Ok(Class {
            name: stem,
            about: "the operator's own sipp scenario",
            scenario: text.to_string(),
            origin: Origin::File(path.to_string()),
        })
    }

    /// Does the scenario use `[expires]` (passed with `sipp -key expires S`)?
    pub fn uses_expires(&self) -> bool {
        self.scenario.contains("[expires]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_every_class_in_order() {
        let e = parse_list(&[]).unwrap();
        assert_eq!(e.len(), 6);
        assert_eq!(e[0], Entry::Builtin("register".into()));
        assert_eq!(e[5], Entry::Builtin("subscribe".into()));
    }

    #[test]
    fn lists_files_and_errors() {
        let e = parse_list(&["invite, OPTIONS".into(), "invite,./mine.xml".into()]).unwrap();
        assert_eq!(
            e,
            vec![
                Entry::Builtin("invite".into()),
                Entry::Builtin("options".into()),
                Entry::File("./mine.xml".into()),
            ]
        );
        let err = parse_list(&["invte".into()]).unwrap_err().to_string();
        assert!(
            err.contains("no such class") && err.contains("invite-fail"),
            "{err}"
        );
        assert_eq!(
            parse_list(&["calls.XML".into()]).unwrap(),
            vec![Entry::File("calls.XML".into())]
        );
    }

    #[test]
    fn user_scenarios() {
        let c = Class::user("/tmp/x/calls.xml", "<scenario name=\"x\"></scenario>").unwrap();
        assert_eq!(c.name, "calls");
        assert_eq!(c.origin, Origin::File("/tmp/x/calls.xml".into()));
        let e = Class::user("a.xml", "hello").unwrap_err().to_string();
        assert!(e.contains("a.xml: not a sipp scenario"), "{e}");
    }

    /// Each shipped scenario is balanced XML as far as sipp cares: every
    /// `<send>`/`<recv>` closed, every `next=` label defined, and the ACK
    /// for a non-2xx reuses the INVITE's branch (`[branch-N]`, N counted
    /// here independently: send/recv/pause/nop elements before that ACK).
    #[test]
    fn scenarios_are_consistent() {
        let re_next = regex::Regex::new(r#"next="([^"]+)""#).unwrap();
        let re_label = regex::Regex::new(r#"<label id="([^"]+)"/>"#).unwrap();
        let re_elem = regex::Regex::new(r"<(send|recv|pause|nop)\b").unwrap();
        for c in all() {
            let x = &c.scenario;
            assert!(x.contains("<scenario") && x.trim_end().ends_with("</scenario>"));
            assert_eq!(
                x.matches("<send").count(),
                x.matches("</send>").count(),
                "{}",
                c.name
            );
            let labels: Vec<&str> = re_label
                .captures_iter(x)
                .filter_map(|m| m.get(1))
                .map(|m| m.as_str())
                .collect();
            for n in re_next.captures_iter(x).filter_map(|m| m.get(1)) {
                assert!(labels.contains(&n.as_str()), "{}: {}", c.name, n.as_str());
            }
            if let Some(i) = x.find("<label id=\"rejected\"/>") {
                let before = re_elem.find_iter(&x[..i]).count();
                assert!(
                    x[i..].contains(&format!("branch=[branch-{before}]")),
                    "{}: ACK branch offset is not {before}",
                    c.name
                );
            }
        }
        assert!(builtin("register").unwrap().uses_expires());
        assert!(builtin("subscribe").unwrap().uses_expires());
        assert!(!builtin("options").unwrap().uses_expires());
    }

    proptest::proptest! {
        #[test]
        fn list_parsing_never_panics(items in proptest::collection::vec("[ a-zA-Z0-9,./_-]{0,40}", 0..4)) {
            if let Ok(entries) = parse_list(&items) {
                proptest::prop_assert!(!entries.is_empty());
            }
        }

        #[test]
        fn user_file_names_never_panic(path in "[ a-zA-Z0-9./_-]{0,40}", text in "[<a-z> ]{0,40}") {
            let _ = Class::user(&path, &text);
        }
    }
}
