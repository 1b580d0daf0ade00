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
        numbering: loss::Numbering::default(),
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
