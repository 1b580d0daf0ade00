//! Report formats shared by the subcommands, one file per format.

pub mod chart_svg;
pub mod csv;
pub mod junit;
