//! What a new user meets in the first hour, as a user would try it:
//! `inspect` ends with the `convert` command for this box, and that command
//! works as pasted; a ctl socket that does not answer is answered with the
//! one that does; `analyze` of single dumps says what to do next; `diff`
//! warns when its inputs are the same dump or out of time order (text and
//! `--json`). Expected values come from the fixtures read with grep, or from
//! the test's own proxy, never from kmemdbg's output.

mod common;
use common::daemon;

use common::fixture;

/// `max used (+overhead)= N` of the first heap header in `file` (grep's job).
fn max_used(file: &str) -> String {
    let text = std::fs::read_to_string(file).expect("fixture");
    let line = text
        .lines()
        .find(|l| l.contains("max used (+overhead)="))
        .expect("a heap header");
    line.rsplit('=').next().expect("value").trim().to_string()
}

fn with_commas(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn real_proxy_inspect_ends_with_the_convert_command_that_works_as_pasted() {
    let test = "real_proxy_inspect_ends_with_the_convert_command_that_works_as_pasted";
    let Some(kamailio) = common::debian_kamailio(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let d = daemon::Daemon::start_default(&kamailio, dir.path());
    let before = d.files();
    let (code, out, err) =
        common::run_kmemdbg(&["inspect", "--binary", kamailio.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    // The hint is the last part of the output, and names this proxy's files.
    let hint_at = out
        .find("\nconvert this box")
        .expect("a convert hint at the end");
    assert!(
        out[..hint_at].contains("ready: memory debugging ready"),
        "{out}"
    );
    let want = format!(
        "kmemdbg convert --cfg {} --pidfile {} --check",
        d.cfg.display(),
        d.pidfile.display()
    );
    let line = out[hint_at..]
        .lines()
        .map(str::trim)
        .find(|l| *l == want)
        .unwrap_or_else(|| panic!("no line `{want}` in:\n{out}"));
    // Pasted as is (kmemdbg being the binary under test): exit 3, changes pending.
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    let (code, out, err) = common::run_kmemdbg(&words);
    assert_eq!(code, 3, "`{line}`: {out}{err}");
    assert!(out.contains("changes pending"), "{out}");
    assert_eq!(d.files(), before, "--check changed a file");
}

#[test]
fn real_proxy_watch_with_a_wrong_ctl_names_the_socket_that_answers() {
    let test = "real_proxy_watch_with_a_wrong_ctl_names_the_socket_that_answers";
    let Some(kamailio) = common::debian_kamailio(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let d = daemon::Daemon::start_default(&kamailio, dir.path());
    let wrong = format!("unix:{}", dir.path().join("no-such-ctl").display());
    let (code, out, err) = common::run_kmemdbg(&[
        "watch",
        "--ctl",
        &wrong,
        "--interval",
        "1s",
        "--duration",
        "1s",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    let named = format!("--ctl {} (kamailio PID {})", d.ctl(), d.pid().expect("pid"));
    assert!(
        err.contains(&named),
        "the error does not name {named}:\n{err}"
    );
    // And that socket is the right one: watch works with it.
    let (code, out, err) = common::run_kmemdbg(&[
        "watch",
        "--ctl",
        &d.ctl(),
        "--interval",
        "1s",
        "--duration",
        "1s",
    ]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn analyze_of_single_dumps_ends_with_the_next_step() {
    let before = fixture("capture/leak-htable-before.log");
    let (code, out, err) = common::run_kmemdbg(&["analyze", &before]);
    assert_eq!(code, 0, "{err}");
    let tail = out
        .trim_end()
        .rsplit("\n\n")
        .next()
        .expect("a last paragraph");
    assert!(
        tail.starts_with("next: each heap above was dumped once"),
        "{out}"
    );
    assert!(
        tail.contains("kmemdbg dump --shm --pkg all --out after.log"),
        "{tail}"
    );
    assert!(
        tail.ends_with(&format!("kmemdbg diff {before} after.log")),
        "{tail}"
    );

    // Two dumps of the same heaps: the next step is the diff of those files.
    let after = fixture("capture/leak-htable-after.log");
    let (code, out, _) = common::run_kmemdbg(&["analyze", &before, &after]);
    assert_eq!(code, 0);
    let tail = out
        .trim_end()
        .rsplit("\n\n")
        .next()
        .expect("a last paragraph");
    assert!(
        tail.contains(&format!("`kmemdbg diff {before} {after}`")),
        "{tail}"
    );
}

#[test]
fn diff_warns_when_given_the_same_dump_twice() {
    let before = fixture("capture/leak-htable-before.log");
    let (code, out, err) = common::run_kmemdbg(&["diff", &before, &before]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("warning: {before} is given twice")),
        "{out}"
    );
    // A copy under another name: the same bytes.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("copy.log");
    std::fs::copy(&before, &copy).expect("copy");
    let copy = copy.display().to_string();
    let (_, out, _) = common::run_kmemdbg(&["diff", &before, &copy]);
    assert!(
        out.starts_with(&format!("warning: {before} and {copy} hold the same bytes")),
        "{out}"
    );
    let (_, json, _) = common::run_kmemdbg(&["diff", &before, &copy, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let warnings = v["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains("hold the same bytes"))),
        "{json}"
    );
    // Two different dumps in the right order: no such warning.
    let after = fixture("capture/leak-htable-after.log");
    let (_, out, _) = common::run_kmemdbg(&["diff", &before, &after]);
    assert!(!out.contains("warning:"), "{out}");
}

#[test]
fn diff_warns_when_the_dumps_are_out_of_time_order() {
    let before = fixture("capture/leak-htable-before.log");
    let after = fixture("capture/leak-htable-after.log");
    let (old_peak, new_peak) = (max_used(&before), max_used(&after));
    assert!(
        old_peak.parse::<u64>().unwrap() < new_peak.parse::<u64>().unwrap(),
        "the fixtures' peaks"
    );
    let (code, out, err) = common::run_kmemdbg(&["diff", &after, &before]);
    assert_eq!(code, 0, "{err}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("warning: shm status: the peak use went down"),
        "{out}"
    );
    assert!(first.contains(&with_commas(&new_peak)), "{first}");
    assert!(first.contains(&with_commas(&old_peak)), "{first}");
    assert!(first.contains("out of time order"), "{first}");
    let (_, json, _) = common::run_kmemdbg(&["diff", &after, &before, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert!(
        v["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("out of time order")),
        "{json}"
    );
}

#[test]
fn output_piped_into_head_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    // More output than a pipe holds, so kmemdbg is still writing when the
    // reader goes away (as `kmemdbg analyze big.log | head -1` does).
    let log = fixture("capture/sample-5.6.3-dumps.log");
    let mut child = common::kmemdbg()
        .args(["analyze", &log, "--top", "0", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a line");
    assert_eq!(first.trim(), "{");
    // The reader is gone (dropped above): kmemdbg must end by SIGPIPE, not panic.
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(13), "{:?}: {err}", out.status);
}
