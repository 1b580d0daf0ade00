//! One capture in progress: the [`Session`] that follows the log, assigns
//! each line to the dump it belongs to (or none), keeps the wanted lines and
//! waits for each requested dump to complete, notes loss, and knows when the
//! log went quiet.

use super::*;

/// How long the log must stay quiet before a dump of unknown length counts as done.
pub(super) const QUIET: Duration = Duration::from_secs(1);

impl<'o> Session<'o> {
    /// Starts following the log at its current end, before any trigger.
    pub(super) fn open(
        opts: &Options,
        out: &'o mut dyn Write,
        settings: &Settings,
        processes: Option<&[Process]>,
    ) -> Result<Session<'o>> {
        let follower = Follower::start(&opts.source)?;
        let unit = match &opts.source {
            SourceInfo::Journal { unit } => Some(loss::unit_name(unit)),
            _ => None,
        };
        Ok(Session {
            follower,
            scanner: Scanner::new(settings.short_status()),
            queue: VecDeque::new(),
            out,
            owners: Vec::new(),
            kept_lines: 0,
            lines_since_trigger: 0,
            proxy_pids: processes.map(|ps| ps.iter().map(|p| p.pid).collect()),
            main_pid: trigger::main_pid(processes, &opts.pid_file).ok(),
            last_kept: None,
            poll_every: match opts.source {
                SourceInfo::Journal { .. } => Duration::from_millis(400),
                _ => Duration::from_millis(50),
            },
            loss: loss::Loss::default(),
            numbering: HashMap::new(),
            unit,
            last_line_at: None,
            closed: false,
        })
    }
}

impl Session<'_> {
    pub(super) fn pump(&mut self) -> Result<()> {
        if crate::interrupt::requested() {
            bail!("interrupted (Ctrl-C): stopped waiting for the dump");
        }
        let lines = self.follower.poll()?;
        if !lines.is_empty() {
            self.last_line_at = Some(Instant::now());
        }
        self.lines_since_trigger += lines.len() as u64;
        self.queue.extend(lines);
        Ok(())
    }

    /// Waits until request `r` is answered, its process is gone, or `timeout`.
    pub(super) fn wait_for(
        &mut self,
        reqs: &mut [Request],
        r: usize,
        timeout: Duration,
        mut wake: impl FnMut(&mut Request),
    ) -> Result<()> {
        let start = Instant::now();
        let wake_every = Duration::from_millis(400);
        let mut next_wake = start + Duration::from_millis(100);
        let pid = reqs[r].pid();
        let was_alive = pid.is_some_and(trigger::alive);
        loop {
            self.pump()?;
            if self.drain(reqs, Some(r)) || self.satisfied(reqs, r) {
                break;
            }
            let now = Instant::now();
            if now >= start + timeout {
                break;
            }
            if was_alive && pid.is_some_and(|p| !trigger::alive(p)) {
                // Read what it managed to write, then stop waiting.
                std::thread::sleep(self.poll_every);
                self.pump()?;
                self.drain(reqs, Some(r));
                reqs[r].exited = true;
                break;
            }
            // Wake only while nothing of this dump has arrived yet.
            if now >= next_wake && reqs[r].blocks.is_empty() {
                wake(&mut reqs[r]);
                next_wake = Instant::now() + wake_every;
            }
            std::thread::sleep(self.poll_every);
        }
        reqs[r].waited_s = start.elapsed().as_secs_f64();
        Ok(())
    }

    /// Feeds queued lines to the scanner, writing the kept ones. With
    /// `until`, stops right after the line that completes that request.
    pub(super) fn drain(&mut self, reqs: &mut [Request], until: Option<usize>) -> bool {
        if let Some(r) = until {
            if self.satisfied(reqs, r) {
                return true;
            }
        }
        while let Some(line) = self.queue.pop_front() {
            if let Some(d) = loss::drop_in_line(&line) {
                if self.drop_is_ours(&d) {
                    // Kept in the output too, so `analyze` sees the loss.
                    if writeln!(self.out, "{line}").is_ok() {
                        self.kept_lines += 1;
                    }
                    self.loss.add(d);
                }
                continue;
            }
            let before = self.scanner.blocks().len();
            let idx = self.scanner.feed(&line);
            for b in before..self.scanner.blocks().len() {
                let owner = self.owner_for(reqs, b);
                if let Some(o) = owner {
                    reqs[o].blocks.push(b);
                }
                self.owners.push(owner);
            }
            if let Some(i) = idx {
                if let Some(o) = self.owners.get(i).copied().flatten() {
                    if matches!(reqs[o].target, Target::Shm | Target::Pkg { .. }) {
                        self.numbering.entry(o).or_default().feed(&line);
                    }
                }
                if self.owners.get(i).copied().flatten().is_some() {
                    // A failed write surfaces at the final flush.
                    if writeln!(self.out, "{line}").is_ok() {
                        self.kept_lines += 1;
                        self.last_kept = Some(Instant::now());
                    }
                }
            }
            if let Some(r) = until {
                if self.satisfied(reqs, r) {
                    return true;
                }
            }
        }
        false
    }

    /// A drop report about this proxy: journald's for its unit, any of rsyslog's.
    pub(super) fn drop_is_ours(&self, d: &loss::Drop) -> bool {
        match d.by.as_str() {
            "journald" => match (&self.unit, &d.of) {
                (Some(u), Some(of)) => u == of,
                (None, Some(of)) => of.starts_with("kamailio"),
                _ => false,
            },
            // imuxsock names the PID it saw, which is journald's own when
            // journald forwards; any drop while a dump passes counts.
            _ => true,
        }
    }

    /// The log grew within the last second.
    pub(super) fn still_growing(&self) -> bool {
        self.last_line_at
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
    }

    /// journald (rsyslog's imuxsock alike) reports dropped lines only when
    /// the unit's (the PID's) next line of the same priority arrives after
    /// the interval: waits for the interval to end (when it is short), makes
    /// the proxy print a 5-line short shm status at the same ALERT priority
    /// from the same process, and reads the report.
    pub(super) fn collect_journald_drops(
        &mut self,
        k: &Kamcmd,
        choice: &budget::Choice,
        started: Instant,
        reqs: &mut [Request],
        notes: &mut Vec<String>,
    ) -> Result<()> {
        let Some(interval) = choice.budget.interval else {
            return Ok(());
        };
        let sink = choice.budget.sink.clone();
        if sink != "journald" && !sink.starts_with("rsyslog") {
            return Ok(());
        }
        if interval > Duration::from_secs(60) {
            let later = match &self.unit {
                Some(unit) if sink == "journald" => format!(
                    "see `journalctl -u {unit} MESSAGE_ID={}`",
                    loss::JOURNALD_DROPPED_MESSAGE_ID
                ),
                _ => "look for `messages lost due to rate-limiting` in the log".to_string(),
            };
            notes.push(format!("{sink} reports how many lines it dropped only after its {} interval: later, {later}", crate::units::human_duration(interval)));
            return Ok(());
        }
        let wait =
            (started + interval + Duration::from_secs(1)).saturating_duration_since(Instant::now());
        notes.push(format!(
            "waited {} for the end of {sink}'s {} rate-limit interval, so that it reports how many lines it dropped",
            crate::units::human_duration(wait),
            crate::units::human_duration(interval)
        ));
        let until = Instant::now() + wait;
        while Instant::now() < until {
            self.pump()?;
            self.drain(reqs, None);
            std::thread::sleep(self.poll_every);
        }
        self.closed = true;
        // Reports of earlier windows may be in already: wait for the one
        // the probe's lines bring (the last window's count).
        let counted = |l: &loss::Loss| l.reports.iter().filter(|d| d.lines.is_some()).count();
        let before = counted(&self.loss);
        {
            let mut g = trigger::MemSummaryGuard::set(k, 16)?;
            let _ = trigger::shm(k);
            g.restore()?;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && counted(&self.loss) == before {
            std::thread::sleep(self.poll_every);
            self.pump()?;
            self.drain(reqs, None);
        }
        Ok(())
    }

    pub(super) fn complete_blocks(&self, req: &Request) -> usize {
        req.blocks
            .iter()
            .filter(|&&i| self.scanner.blocks()[i].state == State::Complete)
            .count()
    }

    /// Every expected block is complete. When the settings could not be
    /// read (no RPC), the count is unknown: one complete block and a quiet
    /// log (nothing kept for [`QUIET`]) end the wait instead.
    pub(super) fn satisfied(&self, reqs: &[Request], r: usize) -> bool {
        let req = &reqs[r];
        match req.expected_blocks {
            Some(n) => self.complete_blocks(req) >= n,
            None => {
                self.complete_blocks(req) >= 1
                    && !self.has_open(req)
                    && self.last_kept.is_some_and(|t| t.elapsed() >= QUIET)
            }
        }
    }

    pub(super) fn has_open(&self, req: &Request) -> bool {
        req.blocks
            .iter()
            .any(|&i| self.scanner.blocks()[i].state == State::Open)
    }

    /// The request a new block answers: one that was triggered, is not yet
    /// satisfied, has no block in progress, and matches pid and pool.
    pub(super) fn owner_for(&self, reqs: &[Request], b: usize) -> Option<usize> {
        let block = &self.scanner.blocks()[b];
        let open = |req: &Request| {
            req.blocks
                .iter()
                .any(|&i| i != b && self.scanner.blocks()[i].state == State::Open)
        };
        let candidate = |req: &Request| {
            req.triggered
                && req
                    .expected_blocks
                    .map_or(true, |n| self.complete_blocks(req) < n)
                && !open(req)
        };
        let of_proxy = self
            .proxy_pids
            .as_ref()
            .map_or(true, |ps| ps.contains(&block.pid));
        let order = [
            |t: &Target, bl: &Block| matches!(t, Target::Signal { pid } if *pid == bl.pid),
            |t: &Target, bl: &Block| {
                matches!(t, Target::Pkg { pid, .. } if *pid == bl.pid) && bl.pool != Some(Pool::Shm)
            },
            // The RPC shm dump is a status printed by an RPC process, never
            // by main (main's shm lines are SIGUSR1 or shutdown dumps).
            |t: &Target, bl: &Block| {
                matches!(t, Target::Shm)
                    && bl.pool == Some(Pool::Shm)
                    && bl.kind == Some(blocks::Kind::Status)
            },
        ];
        let from_main = self.main_pid == Some(block.pid);
        if !of_proxy || self.closed {
            return None;
        }
        for matches in order {
            if let Some(i) = reqs.iter().position(|req| {
                candidate(req)
                    && matches(&req.target, block)
                    && !(from_main && matches!(req.target, Target::Shm))
            }) {
                return Some(i);
            }
        }
        None
    }
}
