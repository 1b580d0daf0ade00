//! Report formats shared by the subcommands, one file per format.

pub mod junit;
