//! Documentation generated from the clap definitions in [`crate::cli`]: man
//! pages ([`man`]) and shell completions ([`completion`]). Because both walk
//! the declared command tree, a subcommand added to `cli.rs` gets its page and
//! its completions with no change here.
//!
//! Pure: these functions build bytes and never write a file or print; the
//! `man` and `completions` commands decide where the bytes go.

pub mod completion;
pub mod man;
