//! `kmemdbg gen-dump` (hidden): writes a synthetic dump to stdout for
//! benchmarks and scale tests. Writes no file itself: redirect stdout.

use crate::cli::GenDumpArgs;
use crate::dump::generate::{generate, Layout, LinePrefix, Spec};
use crate::ExitStatus;
use anyhow::{bail, Context, Result};
use std::io::{self, BufWriter};

/// `4096`, `100k`, `64MiB`, `1G` -> bytes (k/M/G are binary, as in `head -c`).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().with_context(|| {
        format!("--size {s}: expected a number with an optional unit (100k, 64MiB, 1G)")
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => bail!("--size {s}: unknown unit {other:?}; use k, MiB or G"),
    };
    n.checked_mul(mult)
        .with_context(|| format!("--size {s}: too large"))
}

pub fn run(args: &GenDumpArgs) -> Result<ExitStatus> {
    let Some(layout) = Layout::from_name(&args.layout) else {
        bail!(
            "--layout {}: unknown; one of {}",
            args.layout,
            Layout::ALL.map(|(n, _)| n).join(", ")
        );
    };
    let Some(prefix) = LinePrefix::from_name(&args.prefix) else {
        bail!(
            "--prefix {}: unknown; one of {}",
            args.prefix,
            LinePrefix::ALL.map(|(n, _)| n).join(", ")
        );
    };
    let spec = Spec {
        layout,
        prefix,
        size_bytes: parse_size(&args.size)?,
        dumps: args.dumps,
        sites: args.sites.max(1),
        processes: args.processes.max(1),
        pool: args.pool,
        leak: args.leak,
        seed: args.seed,
    };
    let stdout = io::stdout();
    let w = BufWriter::with_capacity(1 << 20, stdout.lock());
    let written = generate(&spec, w).context("cannot write to standard output")?;
    eprintln!(
        "gen-dump: {} bytes, {} lines, {} dumps, {} fragments",
        written.bytes, written.lines, written.dumps, written.fragments
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").ok(), Some(4096));
        assert_eq!(parse_size("100k").ok(), Some(102400));
        assert_eq!(parse_size("512MiB").ok(), Some(512 << 20));
        assert_eq!(parse_size("1G").ok(), Some(1 << 30));
        assert!(parse_size("x").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }
}
