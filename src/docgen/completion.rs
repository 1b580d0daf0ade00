//! Shell completion scripts from the clap definitions (`clap_complete`).
//! Pure: returns the script, prints nothing.

use clap::CommandFactory;
pub use clap_complete::Shell;

/// The completion script for `shell`, for a binary called `kmemdbg`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = crate::cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kmemdbg", &mut out);
    out
}

/// Where a distribution package installs each script (Debian's paths).
pub fn install_path(shell: Shell) -> Option<&'static str> {
    match shell {
        Shell::Bash => Some("/usr/share/bash-completion/completions/kmemdbg"),
        Shell::Zsh => Some("/usr/share/zsh/vendor-completions/_kmemdbg"),
        Shell::Fish => Some("/usr/share/fish/vendor_completions.d/kmemdbg.fish"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_script_names_every_subcommand() {
        let cmd = crate::cli::Cli::command();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = String::from_utf8(script(shell)).unwrap();
            for sub in cmd.get_subcommands() {
                assert!(
                    text.contains(sub.get_name()),
                    "{shell}: {} missing",
                    sub.get_name()
                );
            }
        }
    }

    #[test]
    fn scripts_register_for_kmemdbg() {
        let bash = String::from_utf8(script(Shell::Bash)).unwrap();
        assert!(bash.contains("complete -F _kmemdbg"), "{bash}");
        let zsh = String::from_utf8(script(Shell::Zsh)).unwrap();
        assert!(zsh.starts_with("#compdef kmemdbg"), "{zsh}");
        let fish = String::from_utf8(script(Shell::Fish)).unwrap();
        assert!(fish.contains("complete -c kmemdbg"), "{fish}");
    }
}
