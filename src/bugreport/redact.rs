//! Masks what a bug report must not leak: IP addresses (loopback kept),
//! SIP/tel URIs, user names and passwords (in URLs, `user=` settings and
//! display names), and Call-IDs.
//!
//! Pure and idempotent: text in, text out; masking masked text changes
//! nothing. Never panics (fuzzed below).

use regex::{Captures, Regex};
use std::sync::OnceLock;

struct Rules {
    url_credentials: Regex,
    sip_uri: Regex,
    display_name: Regex,
    call_id_header: Regex,
    call_id_param: Regex,
    user_setting: Regex,
    ipv6: Regex,
    ipv4: Regex,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let re = |p: &str| Regex::new(p).unwrap_or_else(|e| panic!("redact rule {p}: {e}"));
        Rules {
            // mysql://kamailio:secret@db.example.com/kamailio
            url_credentials: re(r"(?i)\b([a-z][a-z0-9+.-]*://)([^:/@\s<>]+)(:[^@/\s<>]*)?@"),
            // sip:alice@203.0.113.7:5060;transport=udp, tel:+4930123456
            sip_uri: re(r#"(?i)\b(sips?|tel):([^\s;>,"'()<\]\[]+)"#),
            // From: "Alice Smith" <sip:...>
            display_name: re(
                r#"(?i)\b((?:from|to|contact|p-asserted-identity|p-preferred-identity|remote-party-id)\s*:\s*)"[^"\n]*""#,
            ),
            // Call-ID: a84b4c76e66710@pc33.example.com
            call_id_header: re(r"(?im)^(\s*(?:call-id|i)\s*:[ \t]*)[^\s<][^\n]*$"),
            // callid=..., call-id=..., ci=...
            call_id_param: re(r#"(?i)\b(call[-_]?id|ci)(\s*[=:]\s*)["']?([^\s"',;<>]+)["']?"#),
            // user=alice, username="alice", password=secret
            user_setting: re(
                r#"(?i)\b(user(?:name)?|auth_?user|login|password|passwd|secret)(\s*=\s*)("[^"\n]*"|'[^'\n]*'|[^\s,;&<>]+)"#,
            ),
            ipv6: re(
                r"(?i)\b(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,7}(?::[0-9a-f]{1,4}){1,7}|(?:[0-9a-f]{1,4}:){1,7}:)(?:[^0-9a-z:]|$)|::(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4}\b",
            ),
            ipv4: re(r"\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b"),
        }
    })
}

/// The text with addresses, URIs, users and Call-IDs masked.
pub fn redact(text: &str) -> String {
    let r = rules();
    let t = r
        .url_credentials
        .replace_all(text, |c: &Captures| match c.get(3) {
            Some(_) => format!("{}<user>:<password>@", &c[1]),
            None => format!("{}<user>@", &c[1]),
        });
    let t = r
        .sip_uri
        .replace_all(&t, |c: &Captures| format!("{}:<uri>", &c[1]));
    let t = r.display_name.replace_all(&t, "${1}\"<name>\"");
    let t = r.call_id_header.replace_all(&t, "${1}<call-id>");
    let t = r
        .call_id_param
        .replace_all(&t, |c: &Captures| format!("{}{}<call-id>", &c[1], &c[2]));
    let t = r
        .user_setting
        .replace_all(&t, |c: &Captures| format!("{}{}<masked>", &c[1], &c[2]));
    let t = r.ipv6.replace_all(&t, |c: &Captures| {
        let m = &c[0];
        // the match may end with the character after the address
        let (addr, tail) = match m.char_indices().last() {
            Some((i, ch)) if !(ch.is_ascii_hexdigit() || ch == ':') => m.split_at(i),
            _ => (m, ""),
        };
        if addr == "::1" || addr == "::" || addr.ends_with("::") && addr.len() <= 3 {
            m.to_string()
        } else {
            format!("<ip6>{tail}")
        }
    });
    let t = r.ipv4.replace_all(&t, |c: &Captures| {
        let octets: Vec<u32> = (1..=4).filter_map(|i| c[i].parse().ok()).collect();
        let valid = octets.len() == 4 && octets.iter().all(|o| *o <= 255);
        let local = octets.first() == Some(&127) || octets.iter().all(|o| *o == 0);
        if valid && !local {
            "<ip>".to_string()
        } else {
            c[0].to_string()
        }
    });
    t.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_what_a_report_must_not_leak() {
        let cases = [
            ("listen=udp:203.0.113.7:5060", "listen=udp:<ip>:5060"),
            ("listen=udp:127.0.0.1:5060", "listen=udp:127.0.0.1:5060"),
            ("alias=[2001:db8::10]:5060", "alias=[<ip6>]:5060"),
            ("bind ::1 port", "bind ::1 port"),
            ("at 17:05:11 it broke", "at 17:05:11 it broke"),
            (
                "#!define GW \"sip:alice@198.51.100.23:5060;transport=udp\"",
                "#!define GW \"sip:<uri>;transport=udp\"",
            ),
            ("To: <tel:+4930123456>", "To: <tel:<uri>>"),
            (
                "From: \"Alice Smith\" <sip:alice@example.com>;tag=1",
                "From: \"<name>\" <sip:<uri>>;tag=1",
            ),
            (
                "modparam(\"auth_db\", \"db_url\", \"mysql://kamailio:Secr3t@203.0.113.50/kamailio\")",
                "modparam(\"auth_db\", \"db_url\", \"mysql://<user>:<password>@<ip>/kamailio\")",
            ),
            ("Call-ID: a84b4c76e66710@pc33.example.com", "Call-ID: <call-id>"),
            ("ERROR: tm: callid=8f3a2b1c@10.1.2.3 failed", "ERROR: tm: callid=<call-id> failed"),
            ("auth: user=bob realm=x", "auth: user=<masked> realm=x"),
            ("version 5.6.3 (x86_64/linux)", "version 5.6.3 (x86_64/linux)"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_is_idempotent(s in "\\PC{0,200}") {
            let once = redact(&s);
            proptest::prop_assert_eq!(redact(&once), once.clone());
        }

        #[test]
        fn no_public_ipv4_survives(a in 1u8..=126, b: u8, c: u8, d: u8, pre in "[ -~]{0,30}", post in "[ -~]{0,30}") {
            let ip = format!("{a}.{b}.{c}.{d}");
            let text = format!("{pre} {ip} {post}");
            let out = redact(&text);
            let ok = !out.split(|ch: char| !(ch.is_ascii_digit() || ch == '.')).any(|w| w == ip);
            proptest::prop_assert!(ok, "{} in {}", ip, out);
        }

        #[test]
        fn no_sip_user_survives(user in "[a-z][a-z0-9]{3,12}", host in "[a-z]{3,10}\\.(com|net|org)", pre in "[ -~]{0,30}") {
            let text = format!("{pre} <sip:{user}@{host}:5060;transport=tcp> end");
            let out = redact(&text);
            let user_ok = !out.contains(&format!("{user}@"));
            proptest::prop_assert!(user_ok, "{}", out);
            let host_ok = !out.contains(&host);
            proptest::prop_assert!(host_ok, "{}", out);
        }

        #[test]
        fn plain_words_are_untouched(s in "[a-zA-Z ,.()]{0,100}") {
            proptest::prop_assert_eq!(redact(&s), s.clone());
        }
    }
}
