//! LOST in `analyze` and `diff`: lines the log dropped while a dump passed
//! (journald's `Suppressed N messages`, rsyslog's `messages lost due to
//! rate-limiting`; `kmemdbg dump` keeps these lines in the file it writes),
//! and gaps in the fragment numbers of a status (shm or pkg, per process).
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
    /// Fragments missing inside the numbered lists of its statuses (gaps
    /// in the fragment indexes), when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_fragments: Option<u64>,
    /// The log said it dropped lines (journald, rsyslog).
    #[serde(skip)]
    pub reported: bool,
    /// The processes whose status has gaps in its fragment numbers.
    #[serde(skip)]
    pub gap_pids: Vec<u32>,
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
                missing_fragments: (l.missing_fragments > 0).then_some(l.missing_fragments),
                reported: !l.reports.is_empty(),
                gap_pids: l.gaps_by_pid.iter().map(|(pid, _)| *pid).collect(),
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

/// Marks the dumps of the lossy inputs LOST: a status of a process with
/// gaps in its fragment numbers, and any cut dump of a file whose log says
/// it dropped lines.
pub fn mark(lost: &[LostFile], inputs: &mut [super::analyze::Input]) {
    for i in inputs.iter_mut() {
        let file = i.path.display().to_string();
        let Some(l) = lost.iter().find(|l| l.file == file) else {
            continue;
        };
        for s in i.log.snapshots.iter_mut() {
            let gaps = s.kind == crate::dump::DumpKind::Status
                && s.pid.is_some_and(|p| l.gap_pids.contains(&p));
            s.lost = gaps || (l.reported && !s.complete);
        }
    }
}
