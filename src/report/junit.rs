//! JUnit XML (the dialect GitLab, Jenkins and GitHub test reporters read):
//! one `<testsuite>` with one `<testcase>` per checked requirement.

/// One checked requirement.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// `None` when it passed; the failure message otherwise.
    pub failure: Option<String>,
}

/// Renders a whole JUnit document.
pub fn render(suite: &str, cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<testsuites tests=\"{}\" failures=\"{failures}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n",
        cases.len(),
        escape(suite),
        cases.len()
    ));
    for c in cases {
        let name = escape(&c.name);
        match &c.failure {
            None => s.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{name}\"/>\n",
                escape(suite)
            )),
            Some(msg) => s.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{name}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                escape(suite),
                escape(msg),
                escape(msg)
            )),
        }
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// XML-escapes text for attributes and content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_escapes() {
        let xml = render(
            "kmemdbg verify",
            &[
                Case {
                    name: "memdebug".into(),
                    failure: None,
                },
                Case {
                    name: "require <X>".into(),
                    failure: Some("missing \"X\" & more".into()),
                },
            ],
        );
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("name=\"require &lt;X&gt;\""));
        assert!(xml.contains("missing &quot;X&quot; &amp; more"));
        assert_eq!(xml.matches("<testcase").count(), 2);
    }
}
