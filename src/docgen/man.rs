//! Man pages from the clap definitions: `kmemdbg.1` for the whole tool and
//! `kmemdbg-NAME.1` for every visible subcommand (recursively), roff text
//! rendered by `clap_mangen`. Pure: returns the pages, writes nothing.

use anyhow::{Context, Result};
use clap::CommandFactory;

/// One rendered man page: its file name (`kmemdbg-inspect.1`) and roff text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManPage {
    pub file_name: String,
    pub roff: Vec<u8>,
}

/// Section 1: user commands.
pub const SECTION: &str = "1";

/// Every page for kmemdbg: the top page first, then one per visible
/// subcommand in declaration order (`help` is not a page).
pub fn all_pages() -> Result<Vec<ManPage>> {
    pages_for(crate::cli::Cli::command())
}

/// Every page for `cmd` and its visible subcommands.
pub fn pages_for(cmd: clap::Command) -> Result<Vec<ManPage>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, &mut pages)?;
    Ok(pages)
}

fn collect(cmd: &clap::Command, pages: &mut Vec<ManPage>) -> Result<()> {
    pages.push(render(cmd.clone())?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages)?;
    }
    Ok(())
}

/// Renders one page. After `build()`, a subcommand's display name is
/// `kmemdbg-inspect`, which becomes the page's title and file name.
fn render(cmd: clap::Command) -> Result<ManPage> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let man = clap_mangen::Man::new(cmd)
        .section(SECTION)
        .manual("kmemdbg manual")
        .source(format!("kmemdbg {}", crate::cli::VERSION_LINE));
    let mut rendered = Vec::new();
    man.render(&mut rendered)
        .with_context(|| format!("cannot render the man page of {name}"))?;
    let text = String::from_utf8(rendered)
        .with_context(|| format!("the man page of {name} is not UTF-8"))?;
    Ok(ManPage {
        file_name: man.get_filename(),
        roff: no_hyphenation(&text).into_bytes(),
    })
}

/// Flags, paths and examples must read as typed: after `.TH`, turn off
/// hyphenation (`.nh`, no `src/ka-mailio`) and justification (`.ad l`, no
/// stretched spaces inside a command line).
fn no_hyphenation(roff: &str) -> String {
    let mut out = String::with_capacity(roff.len() + 16);
    let mut done = false;
    for line in roff.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.starts_with(".TH ") {
            out.push_str(".nh\n.ad l\n");
            done = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_visible_subcommand_and_none_for_help() {
        let pages = all_pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|p| p.file_name.as_str()).collect();
        assert_eq!(names[0], "kmemdbg.1");
        let cmd = crate::cli::Cli::command();
        let subs: Vec<String> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| format!("kmemdbg-{}.1", s.get_name()))
            .collect();
        assert!(!subs.is_empty());
        for sub in &subs {
            assert!(names.contains(&sub.as_str()), "{sub} missing in {names:?}");
        }
        assert!(!names.contains(&"kmemdbg-help.1"), "{names:?}");
        assert_eq!(names.len(), 1 + subs.len(), "{names:?}");
    }

    /// Every subcommand teaches (STYLE.md): a long description and examples.
    /// Also catches a doc comment on a `Command` variant, which would
    /// silently drop the Args struct's `long_about` from --help and the page.
    #[test]
    fn every_subcommand_has_long_about_and_examples() {
        let mut cmd = crate::cli::Cli::command();
        cmd.build();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_name();
            if name == "help" {
                continue;
            }
            assert!(sub.get_about().is_some(), "{name}: no about");
            let long = sub.get_long_about().map(|s| s.to_string());
            assert!(
                long.as_deref().is_some_and(|l| l.len() > 40),
                "{name}: long_about missing (doc comment on the Command variant?)"
            );
            let after = sub
                .get_after_help()
                .map(|s| s.to_string())
                .unwrap_or_default();
            assert!(
                after.contains(&format!("kmemdbg {name}")),
                "{name}: after_help has no example: {after}"
            );
        }
    }

    #[test]
    fn subcommand_page_has_its_title_synopsis_and_options() {
        let pages = all_pages().unwrap();
        let verify = pages
            .iter()
            .find(|p| p.file_name == "kmemdbg-verify.1")
            .unwrap();
        let text = String::from_utf8(verify.roff.clone()).unwrap();
        assert!(text.contains(".TH kmemdbg-verify 1"), "{text}");
        assert!(text.contains("\n.nh\n.ad l\n"), "{text}");
        assert!(text.contains("kmemdbg verify"), "{text}");
        assert!(text.contains("\\-\\-memdebug"), "{text}");
        let top = String::from_utf8(pages[0].roff.clone()).unwrap();
        assert!(top.contains("kmemdbg\\-verify(1)"), "{top}");
    }
}
