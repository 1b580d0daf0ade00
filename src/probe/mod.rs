//! What a Kamailio binary was compiled with: reading `kamailio -V` / `-I`.
//!
//! [`version`] is a pure parser (text in, [`BuildInfo`] out, no I/O) so it
//! can be unit-tested on real outputs and fuzzed; [`run_probe`] is the only
//! part that runs the binary (through [`crate::runner`]). The memory-debug
//! verdict lives in [`verdict`].

pub mod verdict;
pub mod version;

use crate::runner;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use verdict::{Verdict, VerdictKind};
pub use version::{parse_info_output, parse_version_output, BuildInfo, Version};

/// How long `kamailio -V` may take before it counts as hung.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Finds the kamailio binary: `--binary`, else PATH, `/usr/sbin`, `/usr/local/sbin`.
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.exists() {
            bail!("{}: no such file (given with --binary)", p.display());
        }
        if p.is_dir() {
            bail!("{}: is a directory, not a kamailio binary", p.display());
        }
        return Ok(p.to_path_buf());
    }
    for name in ["kamailio", "ser", "openser"] {
        if let Some(p) = runner::find_program(name) {
            return Ok(p);
        }
    }
    bail!("no kamailio binary in PATH, /usr/sbin or /usr/local/sbin; pass --binary PATH (for a fresh build: --binary src/kamailio)")
}

/// Runs `BINARY -V` (and `-I` when the version has it) and parses the result.
pub fn run_probe(binary: &Path, timeout: Duration) -> Result<BuildInfo> {
    let sh = runner::shell()?;
    let out = runner::run(xshell::cmd!(sh, "{binary} -V"), timeout)
        .with_context(|| format!("cannot ask {} for its build flags", binary.display()))?;
    let mut text = out.stdout_text();
    if text.trim().is_empty() {
        text = out.stderr_text();
    }
    let mut info = parse_version_output(&text).with_context(|| {
        let status = match out.code {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".into(),
        };
        format!(
            "{} -V ({status}) did not print Kamailio build information: is it a Kamailio (or SER/OpenSER) binary?",
            binary.display()
        )
    })?;
    if info.version.major >= 5 || (info.version.major == 4 && info.version.minor >= 2) {
        if let Ok(out) = runner::run(xshell::cmd!(sh, "{binary} -I"), timeout) {
            if out.success() {
                parse_info_output(&out.stdout_text(), &mut info);
            }
        }
    }
    info.binary = Some(binary.to_path_buf());
    Ok(info)
}
