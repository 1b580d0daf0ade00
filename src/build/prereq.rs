//! The programs a Kamailio build needs, and the packages that supply them.
//!
//! The table is data (one row per tool, with its Debian and RPM package);
//! [`missing`] is pure (the lookup is passed in) so it can be tested without
//! touching PATH. It never installs anything: it names what to install.

use crate::source::BuildSystem;

/// One program the build runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tool {
    /// What the build calls it (`bison`); any of `alternatives` also does.
    pub name: String,
    pub alternatives: &'static [&'static str],
    pub debian: &'static str,
    pub rpm: &'static str,
    /// Why the build needs it.
    pub why: &'static str,
}

fn make() -> Tool {
    Tool {
        name: "make".to_string(),
        alternatives: &["gmake"],
        debian: "make",
        rpm: "make",
        why: "runs the build",
    }
}
fn gcc() -> Tool {
    Tool {
        name: "gcc".to_string(),
        alternatives: &[],
        debian: "gcc",
        rpm: "gcc",
        why: "the C compiler Kamailio's Makefile.defs calls (CC=gcc)",
    }
}
fn cc_tool() -> Tool {
    Tool {
        name: "cc".to_string(),
        alternatives: &["gcc", "clang"],
        debian: "gcc",
        rpm: "gcc",
        why: "the C compiler",
    }
}
fn bison() -> Tool {
    Tool {
        name: "bison".to_string(),
        alternatives: &[],
        debian: "bison",
        rpm: "bison",
        why: "generates the cfg parser (core/cfg.y)",
    }
}
fn flex() -> Tool {
    Tool {
        name: "flex".to_string(),
        alternatives: &[],
        debian: "flex",
        rpm: "flex",
        why: "generates the cfg lexer (core/cfg.lex)",
    }
}
fn cmake() -> Tool {
    Tool {
        name: "cmake".to_string(),
        alternatives: &[],
        debian: "cmake",
        rpm: "cmake",
        why: "configures 6.x trees",
    }
}

/// What a tree of `generation` needs. `cc` is the compiler the build will
/// call (the `CC` environment variable), when set.
pub fn required(generation: BuildSystem, cc: Option<&str>) -> Vec<Tool> {
    let compiler = match cc.and_then(|c| c.split_whitespace().next()) {
        Some("clang") => Tool {
            name: "clang".to_string(),
            alternatives: &[],
            debian: "clang",
            rpm: "clang",
            ..cc_tool()
        },
        Some(c) if c != "gcc" => Tool {
            name: c.to_string(),
            alternatives: &[],
            ..cc_tool()
        },
        _ if generation == BuildSystem::Cmake => cc_tool(),
        _ => gcc(),
    };
    let mut tools = vec![make(), compiler, bison(), flex()];
    if generation == BuildSystem::Cmake {
        tools.insert(0, cmake());
    }
    tools
}

/// The tools for which `found` finds neither the name nor an alternative.
pub fn missing(tools: &[Tool], found: &dyn Fn(&str) -> bool) -> Vec<Tool> {
    tools
        .iter()
        .filter(|t| !found(&t.name) && !t.alternatives.iter().any(|a| found(a)))
        .cloned()
        .collect()
}

/// The message for missing tools: one line each, then the install commands.
pub fn explain(missing: &[Tool]) -> String {
    let mut s = String::from("the build needs programs that are not on PATH:\n");
    for t in missing {
        s.push_str(&format!(
            "  {:<6} {} (Debian/Ubuntu: {}; RHEL/Fedora/CentOS: {})\n",
            t.name, t.why, t.debian, t.rpm
        ));
    }
    let mut deb: Vec<&str> = missing.iter().map(|t| t.debian).collect();
    let mut rpm: Vec<&str> = missing.iter().map(|t| t.rpm).collect();
    deb.dedup();
    rpm.dedup();
    s.push_str(&format!(
        "install them with `apt-get install {}` or `dnf install {}`, then run kmemdbg build again",
        deb.join(" "),
        rpm.join(" ")
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_debian_and_rpm_packages_of_what_is_missing() {
        let tools = required(BuildSystem::Make, None);
        let gone = missing(&tools, &|name| name != "bison" && name != "flex");
        let names: Vec<_> = gone.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["bison", "flex"]);
        let text = explain(&gone);
        assert!(text.contains("bison  generates the cfg parser"), "{text}");
        assert!(text.contains("apt-get install bison flex"), "{text}");
        assert!(text.contains("dnf install bison flex"), "{text}");
    }

    #[test]
    fn cmake_trees_need_cmake_and_any_compiler() {
        let tools = required(BuildSystem::Cmake, None);
        assert_eq!(tools[0].name, "cmake");
        let gone = missing(&tools, &|name| name != "cc" && name != "cmake");
        assert_eq!(gone.len(), 1, "clang/gcc stand in for cc: {gone:?}");
        assert_eq!(gone[0].name, "cmake");
    }

    #[test]
    fn cc_from_the_environment_is_the_compiler_checked() {
        let tools = required(BuildSystem::Make, Some("clang"));
        assert!(tools
            .iter()
            .any(|t| t.name == "clang" && t.debian == "clang"));
        assert!(!tools.iter().any(|t| t.name == "gcc"));
    }
}
