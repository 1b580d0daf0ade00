//! Tests of capture's planning and of a session on real 5.6.3 log lines.

use super::*;

fn procs() -> Vec<Process> {
    crate::kamcmd::parse_psx(
        "{\n IDX: 0\n PID: 100\n DSC: main process - attendant\n}\n\
         {\n IDX: 1\n PID: 101\n DSC: udp receiver child=0 sock=127.0.0.1:5090\n}\n\
         {\n IDX: 3\n PID: 103\n DSC: slow timer\n}\n\
         {\n IDX: 4\n PID: 104\n DSC: timer\n}\n\
         {\n IDX: 6\n PID: 106\n DSC: ctl handler\n}\n\
         {\n IDX: 7\n PID: 107\n DSC: tcp main process\n}\n",
    )
}

fn opts(pkg: PkgSelection, shm: bool, signal: bool) -> Options {
    Options {
        pkg,
        shm,
        signal,
        ctl: None,
        pid_file: "/nonexistent".into(),
        source: SourceInfo::Stderr {
            path: "/dev/null".into(),
        },
        poke: None,
        timeout: Duration::from_secs(1),
        full: false,
        summary: false,
    }
}

#[test]
fn plan_orders_and_skips_main() {
    let s = Settings {
        mem_summary: Some(12),
        memlog: Some(5),
        debug: Some(2),
        ..Settings::default()
    };
    let ps = procs();
    let (r, notes) = plan(&opts(PkgSelection::All, true, false), Some(&ps), &s).unwrap();
    let names: Vec<String> = r.iter().map(|r| r.target.to_string()).collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert_eq!(names[0], "shm");
    assert!(names[1].contains("PID 101"), "{names:?}");
    assert!(names[4].contains("slow timer"), "{names:?}");
    assert!(names[5].contains("tcp main"), "{names:?}");
    assert!(notes[0].contains("main process (PID 100)"), "{notes:?}");
    // --signal with memlog > debug: planned as printing nothing.
    let (r, _) = plan(&opts(PkgSelection::None, false, true), Some(&ps), &s).unwrap();
    assert_eq!(r[0].expected_blocks, Some(0));
    // unknown PID
    let e = plan(
        &opts(PkgSelection::Pids(vec![5]), false, false),
        Some(&ps),
        &s,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("PID 5 is not a process") && e.contains("101 (udp receiver"),
        "{e}"
    );
}

/// The session keeps only the requested dump and stops at its end,
/// leaving later lines for the next wait.
#[test]
fn drain_keeps_requested_blocks_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("k.log");
    std::fs::write(&log, "").unwrap();
    let mut out = Vec::new();
    let mut s = Session {
        follower: Follower::start(&SourceInfo::Stderr { path: log.clone() }).unwrap(),
        scanner: Scanner::new(false),
        queue: VecDeque::new(),
        out: &mut out,
        owners: Vec::new(),
        kept_lines: 0,
        lines_since_trigger: 0,
        proxy_pids: Some([7240, 7245].into_iter().collect()),
        main_pid: Some(7238),
        last_kept: None,
        poll_every: Duration::from_millis(10),
        loss: loss::Loss::default(),
        numbering: HashMap::new(),
        unit: None,
        last_line_at: None,
        closed: false,
    };
    let sample = include_str!("../../tests/fixtures/capture/sample-5.6.3-dumps.log");
    s.queue.extend(sample.lines().map(String::from));
    let mut reqs = vec![Request::new(
        Target::Pkg {
            pid: 7240,
            description: "udp receiver".into(),
        },
        Some(1),
    )];
    reqs[0].triggered = true;
    assert!(s.drain(&mut reqs, Some(0)));
    // Stopped right at the end marker: the shm dump is still queued.
    assert!(s.queue.iter().any(|l| l.contains("Memory status (shm)")));
    assert_eq!(s.kept_lines, 47);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with(" 1(7240) ALERT: <core> [core/pt.c:555]: mem_dump_pkg_cb()"));
    assert!(text
        .trim_end()
        .ends_with("qm_sums(): -----------------------------"));
    assert!(!text.contains("qm_malloc"));
}

/// A status whose log dropped fragments 10-19 and said so (journald's
/// `Suppressed`): LOST with the gaps and journald's count, and its causes
/// are the loss and no "raise --timeout" (the log was quiet at the deadline).
#[test]
fn a_lossy_status_is_lost_with_its_gaps_not_slow() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("k.log");
    std::fs::write(&log, "").unwrap();
    let mut o = opts(PkgSelection::None, true, false);
    o.source = SourceInfo::Stderr { path: log };
    let settings = Settings {
        memlog: Some(2),
        debug: Some(2),
        mem_summary: Some(3),
        ..Settings::default()
    };
    let ps = crate::kamcmd::parse_psx(
        "{\n IDX: 0\n PID: 7238\n DSC: main process - attendant\n}\n\
         {\n IDX: 6\n PID: 7245\n DSC: ctl handler\n}\n",
    );
    let mut out = Vec::new();
    let mut s = Session::open(&o, &mut out, &settings, Some(&ps)).unwrap();
    let sample = include_str!("../../tests/fixtures/capture/sample-5.6.3-dumps.log");
    // The shm status only (lines 305-499 hold it and its end marker), less
    // the 3 lines of each fragment 10..=19, then journald's report.
    let status: Vec<&str> = sample.lines().skip(304).take(195).collect();
    let mut dropped = false;
    for l in status {
        if let Some(i) = loss::fragment_number(l) {
            dropped = (10..=19).contains(&i);
        }
        if !dropped {
            s.queue.push_back(l.to_string());
        }
    }
    s.queue.push_back(
        "2026-12-06T17:03:41+0000 box systemd-journald[35]: Suppressed 30 messages from kamailio.service"
            .into(),
    );
    let mut reqs = vec![Request::new(Target::Shm, Some(1))];
    reqs[0].triggered = true;
    s.drain(&mut reqs, None);
    s.scanner.finish();
    let blocks = s.scanner.blocks().to_vec();
    // The pool's free fragments are no gap: index 46 inside the numbered
    // range and the tail after fragment 53 (by awk on the sample: its
    // free-list stats count 2, as core.shmmem's `fragments` does). The
    // tail is outside the range, but kmemdbg cannot tell it from a free
    // fragment inside: its count is a lower bound, 10 removed - 1.
    let sized = sizing::Sized {
        free_fragments: 2,
        ..sizing::Sized::default()
    };
    verdict::judge(0, &mut reqs[0], &blocks, &s, &sized, &o, &settings);
    let r = &reqs[0];
    assert_eq!(r.status, Status::Lost, "{r:?}");
    assert!(!r.complete);
    assert_eq!(r.missing_fragments, Some(9), "{r:?}");
    // journald's count (30) or 3 lines per missing fragment, the larger
    assert_eq!(r.lost_lines, Some(30), "journald's own count");
    let cause = r.lost_cause.as_deref().unwrap_or_default();
    assert!(
        cause.contains("journald dropped 30 lines")
            && cause.contains("9 fragments are missing from the numbered list"),
        "{cause}"
    );
    assert!(r.causes[0].starts_with("LOST: "), "{:?}", r.causes);
    assert!(
        r.causes.iter().all(|c| !c.contains("--timeout")),
        "{:?}",
        r.causes
    );
}

/// A session over the lines of pkg statuses (built from the real sample by
/// [`loss::tests::pkg_status_from_sample`]), one request per PID, all
/// triggered, judged with `pkg.stats` free counts `free`.
fn judge_pkg(lines: &[String], pids: &[u32], free: u64) -> Vec<Request> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("k.log");
    std::fs::write(&log, "").unwrap();
    let mut o = opts(PkgSelection::Pids(pids.to_vec()), false, false);
    o.source = SourceInfo::Stderr { path: log };
    let settings = Settings {
        memlog: Some(2),
        debug: Some(2),
        mem_summary: Some(1),
        ..Settings::default()
    };
    let ps = crate::kamcmd::parse_psx(
        "{\n IDX: 0\n PID: 7238\n DSC: main process - attendant\n}\n\
         {\n IDX: 1\n PID: 7240\n DSC: udp receiver child=0 sock=127.0.0.1:5060\n}\n\
         {\n IDX: 2\n PID: 7241\n DSC: udp receiver child=1 sock=127.0.0.1:5060\n}\n",
    );
    let mut out = Vec::new();
    let mut s = Session::open(&o, &mut out, &settings, Some(&ps)).unwrap();
    s.queue.extend(lines.iter().cloned());
    let mut reqs: Vec<Request> = pids
        .iter()
        .map(|&pid| {
            let mut r = Request::new(
                Target::Pkg {
                    pid,
                    description: "udp receiver".into(),
                },
                Some(1),
            );
            r.triggered = true;
            r
        })
        .collect();
    s.drain(&mut reqs, None);
    s.scanner.finish();
    let blocks = s.scanner.blocks().to_vec();
    let sized = sizing::Sized {
        pkg_free: pids.iter().map(|&p| (p, free)).collect(),
        ..sizing::Sized::default()
    };
    for (i, r) in reqs.iter_mut().enumerate() {
        verdict::judge(i, r, &blocks, &s, &sized, &o, &settings);
    }
    reqs
}

/// One message of each in turn; a message's `\t\t bucket size` line stays
/// with it (Kamailio writes a message, newlines and all, in one write).
fn interleaved(a: &[String], b: &[String]) -> Vec<String> {
    let messages = |lines: &[String]| {
        let mut m: Vec<Vec<String>> = Vec::new();
        for l in lines {
            match m.last_mut() {
                Some(last) if l.starts_with('\t') => last.push(l.clone()),
                _ => m.push(vec![l.clone()]),
            }
        }
        m
    };
    let (a, b) = (messages(a), messages(b));
    let mut v = Vec::new();
    for i in 0..a.len().max(b.len()) {
        v.extend(a.get(i).into_iter().flatten().cloned());
        v.extend(b.get(i).into_iter().flatten().cloned());
    }
    v
}

/// Two processes' pkg statuses interleaved line by line, nothing lost:
/// each is numbered on its own and both are complete, even with a stale
/// (too low) `pkg.stats` free count.
#[test]
fn two_interleaved_whole_pkg_statuses_are_complete() {
    let a = loss::tests::pkg_status_from_sample(7240, &[]);
    let b = loss::tests::pkg_status_from_sample(7241, &[]);
    for free in [0, 2] {
        let reqs = judge_pkg(&interleaved(&a, &b), &[7240, 7241], free);
        for r in &reqs {
            assert_eq!(r.status, Status::Ok, "{r:?}");
            assert!(r.complete && r.lost_lines.is_none() && r.missing_fragments.is_none());
        }
    }
}

/// One of two interleaved pkg statuses lost the 3 lines of 5 fragments
/// (its end marker came): that one is LOST with the gaps counted on its
/// own list, 3 lines per missing fragment, and no "raise --timeout"; the
/// other is complete.
#[test]
fn a_lossy_pkg_status_is_lost_with_its_own_gaps() {
    let removed: &[u64] = &[1, 2, 30, 31, 50];
    let a = loss::tests::pkg_status_from_sample(7240, &[]);
    let b = loss::tests::pkg_status_from_sample(7241, removed);
    // By hand (see loss::tests::sample_status_by_hand): 2 free fragments,
    // one of them outside the numbered range, so 1 fewer than removed.
    let expected = removed.len() as u64 - 1;
    let reqs = judge_pkg(&interleaved(&a, &b), &[7240, 7241], 2);
    assert_eq!(reqs[0].status, Status::Ok, "{:?}", reqs[0]);
    let r = &reqs[1];
    assert_eq!(r.status, Status::Lost, "{r:?}");
    assert!(!r.complete);
    assert_eq!(r.missing_fragments, Some(expected), "{r:?}");
    assert_eq!(r.lost_lines, Some(3 * expected));
    let cause = r.lost_cause.as_deref().unwrap_or_default();
    assert!(
        cause.starts_with(&format!(
            "{expected} fragments are missing from the numbered list"
        )),
        "{cause}"
    );
    assert!(r.causes[0].starts_with("LOST: "), "{:?}", r.causes);
    assert!(
        r.causes.iter().all(|c| !c.contains("--timeout")),
        "{:?}",
        r.causes
    );
}
