//! `kmemdbg triage`: reads the arguments, runs [`crate::triage::procedure`]
//! (baseline, traffic stopped, idle watch, probe rounds, verdict), prints
//! each step as it happens and the verdict; asks the operator once (unless
//! --traffic-stopped).

use crate::cli::TriageArgs;
use crate::kamcmd::Kamcmd;
use crate::triage;
use crate::triage::procedure::{self, Settings, Step};
use crate::triage::verdict::{Kind, Measurements, Verdict};
use crate::units::{human_bytes, human_delta, human_secs};
use crate::ExitStatus;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

/// `triage --json` schema `kmemdbg.triage/1`:
/// `{ "schema", "ctl", "version"?, "target", "idle_s", "interval_s",
///    "probe_calls", "verdict": {kind: pool_too_small|leak|not_sure,
///    treat_as_leak, summary, confidence, reasons, uncertainties,
///    pools: [{pool, baseline_bytes, idle_end_bytes, released_bytes,
///    noise_bytes, still_falling, residue_bytes, grows_per_request}],
///    proposal?: {shm_mb, pkg_mb, command, reasoning}, next},
///    "measurements": {...}, "notes": [..] }`.
#[derive(Serialize)]
pub struct TriageReport<'a> {
    pub schema: &'static str,
    pub ctl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub target: String,
    pub idle_s: f64,
    pub interval_s: f64,
    pub probe_calls: u32,
    pub verdict: &'a Verdict,
    pub measurements: &'a Measurements,
    /// Out-of-memory errors already in the proxy's log since it started (`kmemdbg scan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_errors: Option<super::scan::LogErrors>,
    pub notes: Vec<String>,
}

pub fn run(args: &TriageArgs) -> Result<ExitStatus> {
    let idle = Duration::from_secs_f64(
        args.idle_seconds
            .unwrap_or(args.idle * 60.0)
            .clamp(0.0, 7.0 * 86400.0),
    );
    let interval = args
        .interval
        .unwrap_or_else(|| procedure::default_interval(idle));
    if interval < Duration::from_millis(100) {
        bail!("--interval must be at least 100ms");
    }
    let settings = Settings {
        idle,
        interval,
        probe_calls: args.probe_calls,
        settle: args.settle,
    };
    let say = |s: String| {
        if !args.json {
            println!("{s}");
            let _ = std::io::stdout().flush();
        }
    };
    let kamcmd = Kamcmd::new(Some(&args.ctl.ctl))?;
    let mut sampler = super::watch::connect(kamcmd.clone(), false)?;
    let version = super::watch::proxy_version(&kamcmd);
    let target = triage::probe_target(&kamcmd, args.target.as_deref())?;
    triage::check_target(target, args.target.is_some())?;
    let memdebug = triage::memdebug_build(&kamcmd);
    let mut notes = sampler.notes.clone();
    if !args.json {
        for n in &notes {
            eprintln!("kmemdbg: note: {n}");
        }
    }
    say(format!(
        "triage of {} ({}); probes go to {target}",
        kamcmd.socket,
        version.as_deref().unwrap_or("kamailio")
    ));
    // Are out-of-memory errors already happening? (the proxy's log, since it started)
    let log_errors = match super::scan::log_errors(&kamcmd) {
        Ok(l) => {
            say(if l.findings == 0 {
                format!("log: no out-of-memory errors {} in {}", l.range, l.source)
            } else {
                let pools: Vec<String> =
                    l.per_pool.iter().map(|(p, c)| format!("{c} {p}")).collect();
                format!(
                    "log: {} out-of-memory error lines ({}) {} in {}; `kmemdbg scan` shows them",
                    l.findings,
                    pools.join(", "),
                    l.range,
                    l.source
                )
            });
            Some(l)
        }
        Err(e) => {
            notes.push(format!(
                "the proxy's log was not scanned for out-of-memory errors: {e}"
            ));
            None
        }
    };
    let outcome = procedure::run(
        &mut sampler,
        target,
        memdebug,
        &settings,
        || confirm_traffic_stopped(args),
        |step| say(describe(&step, target)),
    )?;
    notes.extend(outcome.notes.iter().cloned());
    let v = &outcome.verdict;

    let outputs = super::watch::Outputs {
        csv: args.csv.as_deref(),
        plot: args.plot.as_deref(),
        title: format!(
            "Triage: {} ({})",
            version.as_deref().unwrap_or("kamailio"),
            match v.kind {
                Kind::PoolTooSmall => "pool too small",
                Kind::Leak => "leak",
                Kind::NotSure => "not sure, treated as leak",
            }
        ),
        source: kamcmd.socket.clone(),
        markers: outcome.markers.clone(),
    };
    outputs.write(&outcome.samples)?;

    if args.json {
        crate::commands::print_json(&TriageReport {
            schema: "kmemdbg.triage/1",
            ctl: kamcmd.socket.clone(),
            version,
            target: target.to_string(),
            idle_s: outcome.idle_s,
            interval_s: interval.as_secs_f64(),
            probe_calls: args.probe_calls,
            verdict: v,
            measurements: &outcome.measurements,
            log_errors,
            notes,
        })?;
    } else {
        print!("{}", render_verdict(v));
    }
    Ok(if v.treat_as_leak { 1 } else { 0 })
}

/// Step 2: the operator stops the proxy's traffic (asked once on a
/// terminal; `--traffic-stopped` says it is done already).
fn confirm_traffic_stopped(args: &TriageArgs) -> Result<()> {
    if args.traffic_stopped {
        if !args.json {
            println!("2/4 traffic: stopped (--traffic-stopped)");
        }
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || args.json {
        bail!(
            "triage needs the proxy's traffic stopped: stop it, then run again with --traffic-stopped \
             (or --yes); without a terminal kmemdbg cannot ask"
        );
    }
    print!(
        "2/4 stop all SIP traffic to this proxy now (take it out of the load balancer, stop the \
         test callers), then press Enter. Ctrl-C aborts. "
    );
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the confirmation from the terminal")?;
    Ok(())
}

/// One step of the procedure as a line of the running commentary.
fn describe(step: &Step, target: std::net::SocketAddr) -> String {
    match step {
        Step::Baseline { sample, totals } => format!(
            "1/4 baseline: shm {} in use of {}; pkg {} in use in {} processes",
            human_bytes(totals.shm_bytes),
            human_bytes(sample.shm.total_bytes as f64),
            human_bytes(totals.pkg_bytes),
            sample.pkg.len()
        ),
        Step::IdleStarts { idle, interval } => format!(
            "3/4 idle for {}, a sample every {}",
            human_secs(idle.as_secs_f64()),
            human_secs(interval.as_secs_f64())
        ),
        Step::IdleSample {
            elapsed,
            idle,
            totals: t,
            baseline,
        } => format!(
            "    {:>7}/{}: shm {} ({} since baseline), pkg {} ({})",
            human_secs(elapsed.as_secs_f64()),
            human_secs(idle.as_secs_f64()),
            human_bytes(t.shm_bytes),
            human_delta(t.shm_bytes - baseline.shm_bytes),
            human_bytes(t.pkg_bytes),
            human_delta(t.pkg_bytes - baseline.pkg_bytes)
        ),
        Step::NoProbes => "4/4 probes: none (--probe-calls 0)".to_string(),
        Step::ProbeRound {
            round,
            calls,
            answered,
            before,
            after,
            settled,
        } => format!(
            "4/4 probe round {round}: {calls} OPTIONS to {target}, {answered} answered; after {}: shm {}, pkg {}{}",
            human_secs(after.elapsed_s - before.elapsed_s),
            human_delta(after.shm_bytes - before.shm_bytes),
            human_delta(after.pkg_bytes - before.pkg_bytes),
            if *settled { " (settled)" } else { " (not back within --settle)" }
        ),
    }
}

/// The verdict as a person reads it.
pub fn render_verdict(v: &Verdict) -> String {
    let mut s = format!("\nverdict: {} (confidence {})\n", v.summary, v.confidence);
    s.push_str("  because:\n");
    for r in &v.reasons {
        s.push_str(&format!("    - {r}\n"));
    }
    if let Some(p) = &v.proposal {
        s.push_str(&format!(
            "  proposed sizes: -m {} -M {} (MiB)\n",
            p.shm_mb, p.pkg_mb
        ));
        for r in &p.reasoning {
            s.push_str(&format!("    - {r}\n"));
        }
    }
    s.push_str("  could be wrong because:\n");
    for u in &v.uncertainties {
        s.push_str(&format!("    - {u}\n"));
    }
    s.push_str("  next:\n");
    for n in &v.next {
        s.push_str(&format!("    {n}\n"));
    }
    s
}
