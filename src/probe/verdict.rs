//! The memory-debug verdict: can this build produce memory dumps, and how.
//!
//! Pure: flags and version in, [`Verdict`] out. The table of what each debug
//! flag means per generation (from KAMAILIO-MEMORY.md) lives here only.

use super::version::BuildInfo;
use serde::Serialize;

/// Which memory-debug support a build has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// `DBG_QM_MALLOC`: q_malloc with debug info, ready as it is.
    QmDebug,
    /// `DBG_F_MALLOC`: f_malloc with debug info; works, q_malloc preferred.
    FmDebug,
    /// `DBG_SR_MEMORY` (4.3+): debug info in every allocator; run with `-x qm`.
    SrMemory,
    /// No debug flag: dumps will not name allocation sites.
    NotReady,
}

/// The verdict with the words an operator needs.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// True when dumps will carry allocation sites.
    pub ready: bool,
    /// The flag that decided it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<&'static str>,
    /// One line for people.
    pub summary: String,
    /// What to do next (run-time options, or the conversion command).
    pub next_step: String,
    /// Run-time options the proxy needs for the best dumps (e.g. `-x qm`).
    pub runtime_options: Vec<String>,
    /// On a `DBG_SR_MEMORY` build: the route that needs no change at all
    /// ([`MOD_STATS_ROUTE`]), to take before `-x qm` and memlog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_free_route: Option<&'static str>,
}

/// The route that needs no change at all on a `DBG_SR_MEMORY` build: kex's
/// `mod.stats` answers from the allocator's own records, whatever the
/// allocator, memlog or log.
pub const MOD_STATS_ROUTE: &str = "first, with no change at all: `kmemdbg dump --mod-stats` now and again after traffic, then `kmemdbg diff` of the two snapshots (kex's mod.stats: bytes per module function, no log, no restart)";

/// Decides the verdict from the flags (a future version is judged the same way).
pub fn verdict(info: &BuildInfo) -> Verdict {
    let flag = crate::mem::memdebug_flag(|f| info.has_flag(f));
    if flag == Some("DBG_QM_MALLOC") {
        return Verdict {
            kind: VerdictKind::QmDebug,
            ready: true,
            flag: Some("DBG_QM_MALLOC"),
            summary: "memory debugging ready: q_malloc with debug info (DBG_QM_MALLOC)".into(),
            next_step:
                "set memlog <= debug in the config (kmemdbg cfg), then take dumps (kmemdbg dump)"
                    .into(),
            runtime_options: vec![],
            log_free_route: None,
        };
    }
    if flag == Some("DBG_SR_MEMORY") {
        let has_qm = info.has_flag("Q_MALLOC") || !info.version.at_least(4, 3);
        return Verdict {
            kind: VerdictKind::SrMemory,
            ready: true,
            flag: Some("DBG_SR_MEMORY"),
            summary: if has_qm {
                "memory debugging ready: DBG_SR_MEMORY; run with q_malloc (-x qm)".into()
            } else {
                "memory debugging compiled in (DBG_SR_MEMORY), but Q_MALLOC is not among the allocators".into()
            },
            next_step: format!("{MOD_STATS_ROUTE}; for dumps with files and counts: start kamailio with `-x qm` (pkg follows shm unless -X says otherwise), set memlog <= debug (kmemdbg cfg), then kmemdbg dump"),
            runtime_options: vec!["-x".into(), "qm".into()],
            log_free_route: Some(MOD_STATS_ROUTE),
        };
    }
    if flag == Some("DBG_F_MALLOC") {
        return Verdict {
            kind: VerdictKind::FmDebug,
            ready: true,
            flag: Some("DBG_F_MALLOC"),
            summary: "memory debugging ready with f_malloc (DBG_F_MALLOC); q_malloc (DBG_QM_MALLOC) is preferred".into(),
            next_step: "dumps work as is (fm_status); for q_malloc's checks rebuild with kmemdbg convert".into(),
            runtime_options: vec![],
            log_free_route: None,
        };
    }
    Verdict {
        kind: VerdictKind::NotReady,
        ready: false,
        flag: None,
        summary: "NOT ready: no memory-debug flag (DBG_QM_MALLOC, DBG_F_MALLOC or DBG_SR_MEMORY) in this build".into(),
        next_step: "rebuild with memory debugging: kmemdbg convert --source DIR --cfg FILE (or kmemdbg patch + kmemdbg build)".into(),
        runtime_options: vec![],
        log_free_route: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::version::{parse_version_output, tests as v};
    use super::*;

    #[test]
    fn verdicts_of_real_outputs() {
        let seed = verdict(&parse_version_output(v::SEED_420).unwrap());
        assert_eq!(seed.kind, VerdictKind::FmDebug);
        assert!(seed.ready);
        let deb = verdict(&parse_version_output(v::DEBIAN_563).unwrap());
        assert_eq!(deb.kind, VerdictKind::SrMemory);
        assert_eq!(deb.runtime_options, ["-x", "qm"]);
        assert_eq!(deb.log_free_route, Some(MOD_STATS_ROUTE));
        assert_eq!(seed.log_free_route, None);
        assert!(deb
            .next_step
            .starts_with("first, with no change at all: `kmemdbg dump --mod-stats`"));
        let src = verdict(&parse_version_output(v::SOURCE_563).unwrap());
        assert_eq!(src.kind, VerdictKind::SrMemory);
    }

    #[test]
    fn no_debug_flag_is_not_ready() {
        let text = v::DEBIAN_563.replace("DBG_SR_MEMORY, ", "");
        let vd = verdict(&parse_version_output(&text).unwrap());
        assert_eq!(vd.kind, VerdictKind::NotReady);
        assert!(!vd.ready);
        assert!(vd.next_step.contains("kmemdbg convert"));
    }

    #[test]
    fn qm_wins_over_others() {
        let text =
            "version: kamailio 3.3.0 (i386/linux)\nflags: PKG_MALLOC, DBG_QM_MALLOC, F_MALLOC\n";
        assert_eq!(
            verdict(&parse_version_output(text).unwrap()).kind,
            VerdictKind::QmDebug
        );
    }
}
