//! The triage procedure, step by step: baseline, traffic stopped (the
//! caller confirms it), an idle watch, probe rounds that each wait for
//! memory to settle, then the measurements and [`super::verdict::conclude`].
//!
//! It reports each step to the caller as a [`Step`] and never prints; it
//! reads the proxy through the [`Sampler`] and sends probes only to the
//! target it is given (see [`super::check_target`]). It never changes a
//! setting of the proxy.

use super::verdict::{self, Measurements, Round, Totals, Verdict};
use super::{send_probes, settle, totals};
use crate::watch::{Sample, Sampler};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long to watch and how hard to probe.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long to watch the idle proxy.
    pub idle: Duration,
    /// Time between samples while idle.
    pub interval: Duration,
    /// OPTIONS requests in all (two rounds when more than one).
    pub probe_calls: u32,
    /// How long a probe round waits for memory to come back.
    pub settle: Duration,
}

/// The sampling interval when none is given: about 40 samples over the
/// idle watch, between 1 s and 30 s.
pub fn default_interval(idle: Duration) -> Duration {
    Duration::from_secs_f64((idle.as_secs_f64() / 40.0).clamp(1.0, 30.0))
}

/// What just happened, for the caller to show.
#[derive(Debug)]
pub enum Step<'a> {
    /// The first sample, before traffic stops.
    Baseline {
        sample: &'a Sample,
        totals: &'a Totals,
    },
    /// Traffic is stopped; the idle watch begins.
    IdleStarts { idle: Duration, interval: Duration },
    /// One sample of the idle watch.
    IdleSample {
        elapsed: Duration,
        idle: Duration,
        totals: &'a Totals,
        baseline: &'a Totals,
    },
    /// `probe_calls` is 0.
    NoProbes,
    /// One probe round, after memory settled (or `settle` ran out).
    ProbeRound {
        round: usize,
        calls: u32,
        answered: u32,
        before: &'a Totals,
        after: &'a Totals,
        settled: bool,
    },
}

/// Everything a triage run measured and concluded.
#[derive(Debug)]
pub struct Outcome {
    /// Every sample, in order (for CSV and charts).
    pub samples: Vec<Sample>,
    /// Moments to mark on a chart: (seconds since the first sample, label).
    pub markers: Vec<(f64, String)>,
    pub measurements: Measurements,
    pub verdict: Verdict,
    /// How long the idle watch really lasted.
    pub idle_s: f64,
    /// What could not be checked.
    pub notes: Vec<String>,
}

/// Runs the procedure. `traffic_stopped` is called after the baseline and
/// must return once the operator has stopped the proxy's traffic (or fail
/// to abort); `memdebug_build` is what `core.flags` said, if anything.
pub fn run(
    sampler: &mut Sampler,
    target: SocketAddr,
    memdebug_build: Option<bool>,
    settings: &Settings,
    traffic_stopped: impl FnOnce() -> Result<()>,
    mut on_step: impl FnMut(Step),
) -> Result<Outcome> {
    let mut notes = Vec::new();
    let mut all: Vec<Sample> = Vec::new();
    let baseline_sample = sampler.sample()?;
    let baseline = totals(&baseline_sample);
    on_step(Step::Baseline {
        sample: &baseline_sample,
        totals: &baseline,
    });
    all.push(baseline_sample);
    traffic_stopped()?;

    let mut markers = Vec::new();
    let (idle_totals, idle_s) = idle_watch(
        sampler,
        settings,
        &baseline,
        &mut all,
        &mut markers,
        &mut on_step,
    )?;
    let rcv_start = all.get(1).and_then(|s| s.rcv_requests);
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

    let rounds = probe_rounds(
        sampler,
        target,
        settings,
        &idle_totals,
        &mut all,
        &mut markers,
        &mut on_step,
    )?;

    let measurements = Measurements {
        baseline,
        idle: idle_totals,
        rounds,
        shm_total_bytes: all[0].shm.total_bytes,
        shm_peak_bytes: all.iter().map(|s| s.shm.max_used_bytes).max().unwrap_or(0),
        pkg_total_bytes: all[0].pkg.first().map_or(0, |p| p.total_bytes),
        pkg_peak_bytes: all
            .iter()
            .flat_map(|s| s.pkg.iter().map(|p| p.real_used_bytes))
            .max()
            .unwrap_or(0),
        requests_during_idle,
        memdebug_build,
    };
    let verdict = verdict::conclude(&measurements, idle_s);
    Ok(Outcome {
        samples: all,
        markers,
        measurements,
        verdict,
        idle_s,
        notes,
    })
}

/// Samples the idle proxy every `interval` for `idle` (marking "traffic
/// stopped"): the totals of each sample and how long it really lasted.
fn idle_watch(
    sampler: &mut Sampler,
    settings: &Settings,
    baseline: &Totals,
    all: &mut Vec<Sample>,
    markers: &mut Vec<(f64, String)>,
    on_step: &mut impl FnMut(Step),
) -> Result<(Vec<Totals>, f64)> {
    let Settings { idle, interval, .. } = *settings;
    let idle_start = Instant::now();
    let first_idle = sampler.sample()?;
    markers.push((first_idle.elapsed_s, "traffic stopped".to_string()));
    let mut idle_totals = vec![totals(&first_idle)];
    all.push(first_idle);
    on_step(Step::IdleStarts { idle, interval });
    let mut tick = 1u32;
    loop {
        let next = interval.mul_f64(f64::from(tick));
        if next > idle {
            break;
        }
        std::thread::sleep(next.saturating_sub(idle_start.elapsed()));
        let s = sampler.sample()?;
        let t = totals(&s);
        on_step(Step::IdleSample {
            elapsed: idle_start.elapsed(),
            idle,
            totals: &t,
            baseline,
        });
        idle_totals.push(t);
        all.push(s);
        tick += 1;
    }
    Ok((idle_totals, idle_start.elapsed().as_secs_f64()))
}

/// The probe rounds: `probe_calls` OPTIONS in one or two rounds, each
/// followed by a wait for memory to come back within the idle noise.
fn probe_rounds(
    sampler: &mut Sampler,
    target: SocketAddr,
    settings: &Settings,
    idle_totals: &[Totals],
    all: &mut Vec<Sample>,
    markers: &mut Vec<(f64, String)>,
    on_step: &mut impl FnMut(Step),
) -> Result<Vec<Round>> {
    let tail = &idle_totals[idle_totals.len() / 2..];
    let noise = verdict::noise(&tail.iter().map(|t| t.shm_bytes).collect::<Vec<_>>()).max(
        verdict::noise(&tail.iter().map(|t| t.pkg_bytes).collect::<Vec<_>>()),
    );
    let round_calls: Vec<u32> = match settings.probe_calls {
        0 => vec![],
        1 => vec![1],
        n => vec![n / 2, n - n / 2],
    };
    if round_calls.is_empty() {
        on_step(Step::NoProbes);
    }
    let mut rounds = Vec::new();
    for (i, calls) in round_calls.iter().enumerate() {
        let before_sample = all.last().cloned().context("no sample")?;
        let before = totals(&before_sample);
        markers.push((before.elapsed_s, format!("probes {}", i + 1)));
        let answered = send_probes(target, *calls);
        let (samples, settled) = settle(
            sampler,
            &before,
            noise,
            settings.interval.min(Duration::from_secs(2)),
            settings.settle,
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
        on_step(Step::ProbeRound {
            round: i + 1,
            calls: *calls,
            answered,
            before: &before,
            after: &after,
            settled,
        });
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
    Ok(rounds)
}
