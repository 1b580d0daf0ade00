//! `kmemdbg triage`: baseline, traffic stopped, idle watch, probe rounds,
//! verdict. Prints each step as it happens; asks the operator once (unless
//! --traffic-stopped).

use crate::cli::TriageArgs;
use crate::kamcmd::Kamcmd;
use crate::triage::verdict::{self, Kind, Measurements, Round, Totals, Verdict};
use crate::triage::{self, totals};
use crate::units::{human_bytes, human_delta, human_secs};
use crate::watch::Sample;
use crate::ExitStatus;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

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
        .unwrap_or_else(|| Duration::from_secs_f64((idle.as_secs_f64() / 40.0).clamp(1.0, 30.0)));
    if interval < Duration::from_millis(100) {
        bail!("--interval must be at least 100ms");
    }
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

    let mut all: Vec<Sample> = Vec::new();
    let baseline_sample = sampler.sample()?;
    let baseline = totals(&baseline_sample);
    say(format!(
        "1/4 baseline: shm {} in use of {}; pkg {} in use in {} processes",
        human_bytes(baseline.shm_bytes),
        human_bytes(baseline_sample.shm.total_bytes as f64),
        human_bytes(baseline.pkg_bytes),
        baseline_sample.pkg.len()
    ));
    all.push(baseline_sample);

    if args.traffic_stopped {
        say("2/4 traffic: stopped (--traffic-stopped)".to_string());
    } else if std::io::stdin().is_terminal() && !args.json {
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
    } else {
        bail!(
            "triage needs the proxy's traffic stopped: stop it, then run again with --traffic-stopped \
             (or --yes); without a terminal kmemdbg cannot ask"
        );
    }

    // 3: idle.
    let idle_start = Instant::now();
    let first_idle = sampler.sample()?;
    let mut markers = vec![(first_idle.elapsed_s, "traffic stopped".to_string())];
    let rcv_start = first_idle.rcv_requests;
    let mut idle_totals = vec![totals(&first_idle)];
    all.push(first_idle);
    say(format!(
        "3/4 idle for {}, a sample every {}",
        human_secs(idle.as_secs_f64()),
        human_secs(interval.as_secs_f64())
    ));
    let mut tick = 1u32;
    loop {
        let next = interval.mul_f64(f64::from(tick));
        if next > idle {
            break;
        }
        std::thread::sleep(next.saturating_sub(idle_start.elapsed()));
        let s = sampler.sample()?;
        let t = totals(&s);
        say(format!(
            "    {:>7}/{}: shm {} ({} since baseline), pkg {} ({})",
            human_secs(idle_start.elapsed().as_secs_f64()),
            human_secs(idle.as_secs_f64()),
            human_bytes(t.shm_bytes),
            human_delta(t.shm_bytes - baseline.shm_bytes),
            human_bytes(t.pkg_bytes),
            human_delta(t.pkg_bytes - baseline.pkg_bytes)
        ));
        idle_totals.push(t);
        all.push(s);
        tick += 1;
    }
    let idle_s = idle_start.elapsed().as_secs_f64();
    let rcv_end = all.last().and_then(|s| s.rcv_requests);
    let requests_during_idle = match (rcv_start, rcv_end) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => {
            notes.push(
                "the proxy has no kex statistics: kmemdbg cannot check that traffic really stopped"
                    .into(),
            );
            None
        }
    };

    // 4: probe rounds.
    let tail: Vec<Totals> = idle_totals[idle_totals.len() / 2..].to_vec();
    let noise = verdict::noise(&tail.iter().map(|t| t.shm_bytes).collect::<Vec<_>>()).max(
        verdict::noise(&tail.iter().map(|t| t.pkg_bytes).collect::<Vec<_>>()),
    );
    let round_calls: Vec<u32> = match args.probe_calls {
        0 => vec![],
        1 => vec![1],
        n => vec![n / 2, n - n / 2],
    };
    let mut rounds = Vec::new();
    if round_calls.is_empty() {
        say("4/4 probes: none (--probe-calls 0)".to_string());
    }
    for (i, calls) in round_calls.iter().enumerate() {
        let before_sample = all.last().cloned().context("no sample")?;
        let before = totals(&before_sample);
        markers.push((before.elapsed_s, format!("probes {}", i + 1)));
        let answered = triage::send_probes(target, *calls);
        let (samples, settled) = triage::settle(
            &mut sampler,
            &before,
            noise,
            interval.min(Duration::from_secs(2)),
            args.settle,
        )?;
        let after_sample = samples.last().cloned().context("no sample")?;
        let after = totals(&after_sample);
        let pkg_growth = after_sample
            .pkg
            .iter()
            .filter_map(|p| {
                let b = before_sample.pkg.iter().find(|x| x.pid == p.pid)?;
                let d = p.real_used_bytes as f64 - b.real_used_bytes as f64;
                (d > noise).then(|| (p.pid, p.desc.clone(), d))
            })
            .collect();
        say(format!(
            "4/4 probe round {}: {calls} OPTIONS to {target}, {answered} answered; after {}: shm {}, pkg {}{}",
            i + 1,
            human_secs(after.elapsed_s - before.elapsed_s),
            human_delta(after.shm_bytes - before.shm_bytes),
            human_delta(after.pkg_bytes - before.pkg_bytes),
            if settled { " (settled)" } else { " (not back within --settle)" }
        ));
        all.extend(samples);
        rounds.push(Round {
            calls: *calls,
            answered,
            before,
            after,
            settled,
            pkg_growth,
        });
    }

    let shm_total = all[0].shm.total_bytes;
    let m = Measurements {
        baseline,
        idle: idle_totals,
        rounds,
        shm_total_bytes: shm_total,
        shm_peak_bytes: all.iter().map(|s| s.shm.max_used_bytes).max().unwrap_or(0),
        pkg_total_bytes: all[0].pkg.first().map_or(0, |p| p.total_bytes),
        pkg_peak_bytes: all
            .iter()
            .flat_map(|s| s.pkg.iter().map(|p| p.real_used_bytes))
            .max()
            .unwrap_or(0),
        requests_during_idle,
        memdebug_build: memdebug,
    };
    let v = verdict::conclude(&m, idle_s);

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
        markers,
    };
    outputs.write(&all)?;

    if args.json {
        crate::commands::print_json(&TriageReport {
            schema: "kmemdbg.triage/1",
            ctl: kamcmd.socket.clone(),
            version,
            target: target.to_string(),
            idle_s,
            interval_s: interval.as_secs_f64(),
            probe_calls: args.probe_calls,
            verdict: &v,
            measurements: &m,
            notes,
        })?;
    } else {
        print!("{}", render_verdict(&v));
    }
    Ok(if v.treat_as_leak { 1 } else { 0 })
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
