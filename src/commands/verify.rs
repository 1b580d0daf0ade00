//! `kmemdbg verify`: the CI gate on compiled flags. Exit 0 when every
//! requirement holds, 1 when any fails (each listed), 2 on errors.

use crate::cli::VerifyArgs;
use crate::probe::{verdict::verdict, BuildInfo, Version};
use crate::report::junit;
use crate::ExitStatus;
use anyhow::{bail, Context, Result};
use serde::Serialize;

/// One requirement and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// e.g. `memdebug`, `require USE_TLS`, `forbid F_MALLOC`, `min-version 5.4`
    pub requirement: String,
    pub ok: bool,
    pub detail: String,
}

/// `verify --json` schema: `{ "schema": "kmemdbg.verify/1", "ok": bool,
/// "binary": path, "version": "5.6.3", "checks": [Check...] }`.
#[derive(Serialize)]
pub struct VerifyReport {
    pub schema: &'static str,
    pub ok: bool,
    pub binary: Option<String>,
    pub version: String,
    pub checks: Vec<Check>,
}

/// Checks `build` against the requirements in `args` (pure).
pub fn evaluate(build: &BuildInfo, args: &VerifyArgs) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    if args.memdebug {
        let v = verdict(build);
        checks.push(Check {
            requirement: "memdebug".into(),
            ok: v.ready,
            detail: v.summary.clone(),
        });
    }
    for flag in &args.require {
        let ok = build.has_flag(flag);
        checks.push(Check {
            requirement: format!("require {flag}"),
            ok,
            detail: if ok {
                format!("{flag} is compiled in")
            } else {
                format!("{flag} is not among the compile flags")
            },
        });
    }
    for flag in &args.forbid {
        let ok = !build.has_flag(flag);
        checks.push(Check {
            requirement: format!("forbid {flag}"),
            ok,
            detail: if ok {
                format!("{flag} is absent")
            } else {
                format!("{flag} is compiled in but forbidden")
            },
        });
    }
    if let Some(min) = &args.min_version {
        let want = Version::parse(min).with_context(|| {
            format!("--min-version {min:?}: expected a version like 5.4 or 5.6.3")
        })?;
        let have = &build.version;
        let ok = (have.major, have.minor, have.patch) >= (want.major, want.minor, want.patch);
        checks.push(Check {
            requirement: format!("min-version {min}"),
            ok,
            detail: format!("version is {have}"),
        });
    }
    if checks.is_empty() {
        bail!("nothing to verify: give --memdebug, --require FLAG, --forbid FLAG or --min-version X.Y");
    }
    Ok(checks)
}

pub fn run(args: &VerifyArgs) -> Result<ExitStatus> {
    // Validate the requirements before running anything.
    if !args.memdebug
        && args.require.is_empty()
        && args.forbid.is_empty()
        && args.min_version.is_none()
    {
        bail!("nothing to verify: give --memdebug, --require FLAG, --forbid FLAG or --min-version X.Y");
    }
    let build = super::inspect::probe_binary(&args.binary)?;
    let checks = evaluate(&build, args)?;
    let ok = checks.iter().all(|c| c.ok);
    if let Some(path) = &args.junit {
        let cases: Vec<junit::Case> = checks
            .iter()
            .map(|c| junit::Case {
                name: c.requirement.clone(),
                failure: (!c.ok).then(|| c.detail.clone()),
            })
            .collect();
        let suite = format!("kmemdbg verify {} {}", build.product, build.version);
        crate::fsx::create(path, junit::render(&suite, &cases).as_bytes(), 0o644)
            .with_context(|| format!("cannot write the JUnit report {}", path.display()))?;
    }
    let binary = build.binary.as_ref().map(|p| p.display().to_string());
    if args.json {
        crate::commands::print_json(&VerifyReport {
            schema: "kmemdbg.verify/1",
            ok,
            binary,
            version: build.version.to_string(),
            checks,
        })?;
    } else {
        println!(
            "{}: {} {} ({})",
            if ok { "PASS" } else { "FAIL" },
            build.product,
            build.version,
            binary.as_deref().unwrap_or("?")
        );
        for c in &checks {
            println!(
                "  [{}] {}: {}",
                if c.ok { "ok" } else { "FAIL" },
                c.requirement,
                c.detail
            );
        }
        if !ok && checks.iter().any(|c| c.requirement == "memdebug" && !c.ok) {
            println!("  next: {}", verdict(&build).next_step);
        }
    }
    Ok(if ok { 0 } else { 1 })
}
