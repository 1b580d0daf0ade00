//! LOST in `analyze` and `diff`: lines the log dropped while a dump passed
//! (journald's `Suppressed N messages`, rsyslog's `messages lost due to
//! rate-limiting`; `kmemdbg dump` keeps these lines in the file it writes).
//! The reading is [`crate::capture::loss::scan_reader`]; this file only
//! collects it per input and words it.

use crate::capture::loss;
use serde::Serialize;
use std::path::PathBuf;

/// One input whose log dropped lines.
#[derive(Debug, Clone, Serialize)]
pub struct LostFile {
    pub file: String,
    /// Always false here: the dumps in this file are a lower bound.
    pub complete: bool,
    pub lost_lines: u64,
    pub cause: String,
}

/// The inputs that report dropped lines (stdin is not read twice: skipped).
pub fn scan(files: &[PathBuf]) -> Vec<LostFile> {
    files
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .filter_map(|p| {
            let f = std::fs::File::open(p).ok()?;
            let l = loss::scan_reader(f).ok()?;
            l.any().then(|| LostFile {
                file: p.display().to_string(),
                complete: false,
                lost_lines: l.lost_lines(),
                cause: l.cause(),
            })
        })
        .collect()
}

/// `LOST: FILE: ...` lines for the text reports.
pub fn render(lost: &[LostFile]) -> String {
    lost.iter()
        .map(|l| {
            format!(
                "LOST: {}: {} lines of the log were dropped ({}); its dumps are incomplete and their numbers a lower bound\n",
                l.file, l.lost_lines, l.cause
            )
        })
        .collect()
}
