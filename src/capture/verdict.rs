//! The verdict on each request once reading has stopped: ok, truncated,
//! missing, or LOST (lines the log dropped, by its own report or by gaps in
//! the fragment numbers), with the likely causes ([`super::explain`]).
//!
//! Pure over what the session saw: no I/O, no RPC.

use super::*;

/// Sets request `index`'s (`r`) status, `complete`, lost lines and causes.
pub(crate) fn judge(
    index: usize,
    r: &mut Request,
    blocks: &[Block],
    s: &Session<'_>,
    sized: &sizing::Sized,
    opts: &Options,
    settings: &Settings,
) {
    if r.status == Status::Skipped || !r.triggered {
        r.causes = explain::causes(
            r.method(),
            settings,
            &opts.source,
            &Evidence {
                lines_since_trigger: s.lines_since_trigger,
                any_dump_seen: true,
                description: description_of(r),
                timeout_s: opts.timeout.as_secs_f64(),
                ..Evidence::default()
            },
        );
        return;
    }
    r.status = status_of(r, blocks);
    mark_loss(index, r, blocks, s, sized);
    r.complete = r.status == Status::Ok;
    if r.status != Status::Ok {
        explain_incomplete(r, blocks, s, sized, opts, settings);
    }
}

/// Ok when every expected block is complete and none is cut.
fn status_of(r: &Request, blocks: &[Block]) -> Status {
    let complete = r
        .blocks
        .iter()
        .filter(|&&i| blocks[i].state == State::Complete)
        .count();
    let cut = r
        .blocks
        .iter()
        .any(|&i| matches!(blocks[i].state, State::Truncated | State::Open));
    if complete >= r.expected_blocks.unwrap_or(1) && !cut {
        Status::Ok
    } else if r.blocks.is_empty() {
        Status::Missing
    } else {
        Status::Truncated
    }
}

/// LOST when the log reported drops, the fragment numbers of this request's
/// status (shm, or one process's pkg) have holes, or a dump known not to
/// fit stopped short while the log went quiet.
fn mark_loss(
    index: usize,
    r: &mut Request,
    blocks: &[Block],
    s: &Session<'_>,
    sized: &sizing::Sized,
) {
    let choice = sized.choice_for(r);
    let free = match &r.target {
        Target::Shm => Some(sized.free_fragments),
        Target::Pkg { pid, .. } => Some(sized.pkg_free.get(pid).copied().unwrap_or(0)),
        Target::Signal { .. } => None,
    };
    let holes = match (free, s.numbering.get(&index)) {
        (Some(free), Some(n)) => n.holes(free),
        _ => 0,
    };
    let over_budget = choice.is_some_and(|c| !c.fits && c.shape == budget::Shape::Status);
    let quiet = !r.growing_at_deadline;
    if r.status == Status::Missing
        || !(s.loss.any() || holes > 0 || (r.status == Status::Truncated && over_budget && quiet))
    {
        return;
    }
    let mut l = s.loss.clone();
    l.missing_fragments = l.missing_fragments.max(holes);
    r.status = Status::Lost;
    r.missing_fragments = (l.missing_fragments > 0).then_some(l.missing_fragments);
    let expected = sized.expected_lines(r);
    let estimate =
        expected.map(|e| e.saturating_sub(r.blocks.iter().map(|&i| blocks[i].lines as u64).sum()));
    r.lost_lines = Some(if l.lost_lines() > 0 {
        l.lost_lines()
    } else {
        estimate.unwrap_or(0)
    });
    r.lost_cause = Some(if l.any() {
        l.cause()
    } else {
        format!(
            "the log's rate limit ({}): about {} lines expected, the dump stopped and the log went quiet; the log has not yet said how many it dropped",
            choice.map_or("unknown".into(), |c| c.budget.sink.clone()),
            expected.unwrap_or(0)
        )
    });
}

/// The likely causes of a request that is not ok, LOST's cause and its
/// remedies first.
fn explain_incomplete(
    r: &mut Request,
    blocks: &[Block],
    s: &Session<'_>,
    sized: &sizing::Sized,
    opts: &Options,
    settings: &Settings,
) {
    // A loss is not slowness: the settings' causes (and their "raise
    // --timeout") only when the log was still growing at the deadline.
    r.causes = if r.lost_cause.is_some() && !r.growing_at_deadline {
        Vec::new()
    } else {
        explain_causes(r, blocks, s, opts, settings)
    };
    if let Some(c) = &r.lost_cause {
        r.causes.insert(0, format!("LOST: {c}"));
        if let Some(ch) = sized.choice_for(r) {
            r.causes.extend(ch.remedies.iter().cloned());
        }
    }
    if let Some(e) = &r.trigger_error {
        r.causes.push(format!(
            "the trigger failed after the dump had started: {e}"
        ));
    }
}

/// The causes [`explain`] finds in the settings and what the log showed.
fn explain_causes(
    r: &Request,
    blocks: &[Block],
    s: &Session<'_>,
    opts: &Options,
    settings: &Settings,
) -> Vec<String> {
    let partial: Vec<&Block> = r
        .blocks
        .iter()
        .map(|&i| &blocks[i])
        .filter(|b| b.state != State::Complete)
        .collect();
    explain::causes(
        r.method(),
        settings,
        &opts.source,
        &Evidence {
            triggered: true,
            lines_since_trigger: s.lines_since_trigger,
            any_dump_seen: !blocks.is_empty(),
            description: description_of(r),
            pokes: r.pokes,
            poke_target: opts.poke.map(|a| a.to_string()),
            exited: r.exited,
            partial,
            timeout_s: opts.timeout.as_secs_f64(),
            still_growing: r.growing_at_deadline,
        },
    )
}

fn description_of(r: &Request) -> Option<&str> {
    match &r.target {
        Target::Pkg { description, .. } if !description.is_empty() => Some(description),
        _ => None,
    }
}
