//! `watch` and `triage` against real proxies (Debian's kamailio on 127.0.0.1):
//! an htable cfg where every request stores a unique, never-expiring entry
//! (a leak by construction) and a tm cfg whose transactions complete and are
//! freed a few seconds later (memory returns: no leak).

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;
use common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Every request leaves a ~1 KiB htable entry behind, keyed by its Call-ID.
fn htable_leak_cfg(port: u16, ctl: &Path) -> String {
    minimal_cfg(
        port,
        ctl,
        &format!(
            "loadmodule \"kex.so\"\nloadmodule \"htable.so\"\n\
             modparam(\"htable\", \"htable\", \"leak=>size=8;\")\n\
             route[LEAK] {{\n    $sht(leak=>$ci) = \"{}\";\n}}\n",
            "kmemdbg-leak-".repeat(70)
        ),
    )
    .replace("request_route {\n", "request_route {\n    route(LEAK);\n")
}

/// Every request gets a tm transaction, answered at once; tm frees it after
/// its wait timer (5 s): memory rises with traffic and comes back.
fn tm_transactions_cfg(port: u16, ctl: &Path) -> String {
    minimal_cfg(port, ctl, "loadmodule \"kex.so\"\nloadmodule \"tm.so\"\n").replace(
        "    sl_send_reply(\"200\", \"OK\");\n",
        "    if (method==\"ACK\") { exit; }\n    t_newtran();\n    t_reply(\"200\", \"OK\");\n",
    )
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Sends `n` OPTIONS one after another (each waits for its reply: bounded).
fn traffic(port: u16, n: u32) -> u32 {
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    (0..n)
        .filter(|_| kmemdbg::sip::options(target, Duration::from_secs(2)).is_ok())
        .count() as u32
}

fn start(test: &str, cfg: fn(u16, &Path) -> String) -> Option<(tempfile::TempDir, Proxy)> {
    let bin = debian_kamailio(test)?;
    let (dir, proxy) = start_qm_proxy(&bin, cfg);
    assert!(
        wait_for(Duration::from_secs(10), || proxy.ctl.exists()),
        "no ctl socket; log:\n{}",
        proxy.log_text()
    );
    Some((dir, proxy))
}

/// Runs kmemdbg on a pseudo-terminal (util-linux `script`), typing `input`:
/// what an operator at a terminal sees and does. Returns (exit code, output).
fn run_kmemdbg_on_tty(args: &[&str], input: &str) -> (i32, String) {
    use std::io::Write;
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let mut line = quote(env!("CARGO_BIN_EXE_kmemdbg"));
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
    )
}

fn json(text: &str) -> serde_json::Value {
    let v = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    json_doc::check_if_schema(&v);
    v
}

/// The htable proxy: `watch` sees shm grow while traffic runs (CSV, SVG,
/// plain lines, JSON), then `triage` with traffic stopped says "leak".
#[test]
fn real_proxy_htable_leak_watch_then_triage_says_leak() {
    let test = "real_proxy_htable_leak_watch_then_triage_says_leak";
    let Some((dir, proxy)) = start(test, htable_leak_cfg) else {
        return;
    };
    let ctl = proxy.ctl.display().to_string();
    let csv = dir.path().join("mem.csv");
    let svg = dir.path().join("mem.svg");

    // watch runs until it is stopped (Ctrl-C ends it like --duration does).
    // Readiness, not a time window: the traffic starts once watch has
    // sampled, and watch is stopped once it has sampled after the traffic,
    // so its first and last samples bracket every request.
    let out_file = dir.path().join("watch.out");
    let err_file = dir.path().join("watch.err");
    let mut watch = kmemdbg()
        .args([
            "watch",
            "--ctl",
            &ctl,
            "--interval",
            "0.5s",
            "--duration",
            "10m",
            "--mod-stats",
        ])
        .arg("--csv")
        .arg(&csv)
        .arg("--plot")
        .arg(&svg)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    let shm_rows_after = |t_ms: u128| {
        std::fs::read_to_string(&csv)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split(',').nth(2) == Some("shm"))
            .filter(|l| {
                l.split(',')
                    .nth(1)
                    .and_then(|ms| ms.parse::<u128>().ok())
                    .is_some_and(|ms| ms > t_ms)
            })
            .count()
    };
    assert!(
        wait_for(Duration::from_secs(60), || shm_rows_after(0) >= 1),
        "watch took no sample: {}",
        std::fs::read_to_string(&err_file).unwrap_or_default()
    );
    let requests = 300;
    let sent = traffic(proxy.port, requests);
    let traffic_end = unix_ms();
    assert!(
        wait_for(Duration::from_secs(60), || shm_rows_after(traffic_end) >= 1),
        "watch took no sample after the traffic"
    );
    let _ = std::process::Command::new("kill")
        .args(["-INT", &watch.id().to_string()])
        .status();
    assert!(
        wait_for(Duration::from_secs(30), || matches!(
            watch.try_wait(),
            Ok(Some(_))
        )),
        "watch did not stop on SIGINT"
    );
    let code = watch.wait().unwrap().code().unwrap_or(-1);
    let out = std::fs::read_to_string(&out_file).unwrap();
    let err = std::fs::read_to_string(&err_file).unwrap();
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        sent >= requests - 10,
        "only {sent} of {requests} requests answered"
    );
    // Plain lines (stdout is not a terminal): a header, one line per sample
    // (as many as the CSV's shm rows), a summary.
    assert!(
        out.starts_with(&format!("watching unix:{ctl} every 0.5s for 10m")),
        "{out}"
    );
    let sample_lines = out
        .lines()
        .filter(|l| l.starts_with('[') && l.contains("] shm "))
        .count();
    assert_eq!(sample_lines, shm_rows_after(0), "{out}");
    assert!(sample_lines >= 2, "{out}");
    assert!(out.contains("summary ("), "{out}");

    // CSV: every process of core.psx has pkg rows; shm grew; htable's shm grew.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("elapsed_s,unix_ms,pool,pid,rank,desc,used_bytes,real_used_bytes,free_bytes,total_bytes")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let k = kmemdbg::kamcmd::Kamcmd::new(Some(&ctl)).unwrap();
    let procs = k.processes().unwrap();
    for p in &procs {
        let pid = p.pid.to_string();
        assert!(
            rows.iter().any(|r| r[2] == "pkg" && r[3] == pid),
            "no pkg rows for {p:?}"
        );
    }
    let shm: Vec<u64> = rows
        .iter()
        .filter(|r| r[2] == "shm")
        .map(|r| r[7].parse().unwrap())
        .collect();
    // ~1 KiB per request stays in shm: the growth is at least half of that.
    let grew = shm.last().unwrap() - shm.first().unwrap();
    assert!(
        grew as f64 >= 0.5 * 1024.0 * sent as f64 * 0.5,
        "shm grew {grew} bytes for {sent} requests"
    );
    let htable: Vec<u64> = rows
        .iter()
        .filter(|r| r[2] == "module" && r[5] == "htable")
        .map(|r| r[6].parse().unwrap())
        .collect();
    assert!(htable.last() > htable.first(), "htable rows: {htable:?}");

    // SVG: both panels, one line per process plus shm, axes with units, and
    // a renderer accepts it.
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(
        chart.contains("Shared memory (shm), pool 32.0 MiB"),
        "{chart}"
    );
    assert!(chart.contains("Private memory (pkg) per process, pool 4.0 MiB each"));
    assert!(chart.contains("Shared memory per module (mod.stats)"));
    assert!(chart.contains("time since start (seconds)"));
    assert!(chart.contains("in use (MiB)") || chart.contains("in use (KiB)"));
    // shm, one line per process, one per module holding shm (htable among them).
    assert!(
        chart.matches("<polyline").count() >= 1 + procs.len() + 2,
        "{chart}"
    );
    assert!(chart.contains("shm htable"), "{chart}");
    if require_real(
        test,
        "rsvg-convert (librsvg2-bin)",
        have_program("rsvg-convert"),
    ) {
        let png = dir.path().join("mem.png");
        let st = std::process::Command::new("rsvg-convert")
            .arg("-o")
            .arg(&png)
            .arg(&svg)
            .status()
            .unwrap();
        assert!(st.success());
        assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    }

    // --json summary.
    let (code, out, err) = run_kmemdbg(&[
        "watch",
        "--ctl",
        &ctl,
        "--interval",
        "0.2s",
        "--duration",
        "0.4s",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["schema"], "kmemdbg.watch/1");
    // 0 s, 0.2 s, 0.4 s: --duration counts sample times, however late each is taken.
    assert_eq!(v["samples"], 3);
    assert_eq!(v["series"][0]["pool"], "shm");
    assert_eq!(v["series"].as_array().unwrap().len(), 1 + procs.len());

    // Triage refuses to run unattended without being told traffic stopped.
    let (code, _, err) = run_kmemdbg(&["triage", "--ctl", &ctl, "--idle-seconds", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--traffic-stopped"), "{err}");

    // Traffic has stopped: memory stays, and every probe round adds to it.
    let (code, out, err) = run_kmemdbg(&[
        "triage",
        "--ctl",
        &ctl,
        "--traffic-stopped",
        "--idle-seconds",
        "5",
        "--interval",
        "1s",
        "--probe-calls",
        "10",
        "--settle",
        "3s",
        "--json",
    ]);
    assert_eq!(code, 1, "leak exits 1; stdout:\n{out}\nstderr:\n{err}");
    let v = json(&out);
    assert_eq!(v["schema"], "kmemdbg.triage/1");
    assert_eq!(v["verdict"]["kind"], "leak", "{out}");
    assert_eq!(v["verdict"]["treat_as_leak"], true);
    assert_eq!(v["target"], format!("127.0.0.1:{}", proxy.port));
    let shm = &v["verdict"]["pools"][0];
    assert_eq!(shm["pool"], "shm");
    assert_eq!(shm["grows_per_request"], true, "{shm}");
    for r in shm["residue_bytes"].as_array().unwrap() {
        // 5 requests per round, each ~1 KiB of htable entry.
        assert!(r.as_f64().unwrap() >= 5.0 * 100.0, "{shm}");
    }
    assert_eq!(v["measurements"]["requests_during_idle"], 0);
    let next = v["verdict"]["next"].to_string();
    assert!(next.contains("kmemdbg diff"), "{next}");
    drop(proxy);
}

/// The tm proxy: transactions hold shm for 5 s after their reply, then tm
/// frees them. Triage sees memory come back and the probes leave nothing:
/// pool too small, with a size proposal. Text output, at a terminal, where
/// it asks the operator to stop traffic.
#[test]
fn real_proxy_tm_transactions_triage_says_pool_too_small() {
    let test = "real_proxy_tm_transactions_triage_says_pool_too_small";
    let Some((dir, proxy)) = start(test, tm_transactions_cfg) else {
        return;
    };
    let ctl = proxy.ctl.display().to_string();
    let k = kmemdbg::kamcmd::Kamcmd::new(Some(&ctl)).unwrap();
    let shm_used = || {
        kmemdbg::kamcmd::records::parse_shmmem(&k.call(&["core.shmmem"]).unwrap())
            .unwrap()
            .real_used_bytes
    };
    let idle_level = shm_used();
    let answered = traffic(proxy.port, 400);
    assert!(answered >= 390, "{answered}");
    let loaded = shm_used();
    assert!(
        loaded > idle_level + 400 * 1024,
        "400 open transactions should hold > 400 KiB: {idle_level} -> {loaded}"
    );
    let svg = dir.path().join("triage.svg");
    // At a terminal, without --traffic-stopped: it asks, the operator
    // (traffic already stopped) presses Enter.
    if !require_real(
        test,
        "script (util-linux) for a pseudo-terminal",
        have_program("script"),
    ) {
        return;
    }
    let (code, out) = run_kmemdbg_on_tty(
        &[
            "triage",
            "--ctl",
            &ctl,
            "--idle-seconds",
            "9",
            "--interval",
            "1s",
            "--probe-calls",
            "6",
            "--settle",
            "9s",
            "--plot",
            svg.to_str().unwrap(),
        ],
        "\n",
    );
    assert_eq!(code, 0, "pool too small exits 0; output:\n{out}");
    assert!(
        out.contains("2/4 stop all SIP traffic to this proxy now") && out.contains("press Enter"),
        "{out}"
    );
    assert!(out.contains("1/4 baseline"), "{out}");
    assert!(out.contains("3/4 idle for 9s"), "{out}");
    assert!(
        out.contains("verdict: pool too small: memory came back down"),
        "{out}"
    );
    assert!(out.contains("(settled)"), "{out}");
    assert!(out.contains("proposed sizes: -m "), "{out}");
    assert!(out.contains("kmemdbg size"), "{out}");
    // The idle lines show the release: some sample is well below the baseline.
    assert!(
        out.lines()
            .any(|l| l.contains("since baseline") && l.contains("(-") && l.contains("MiB")),
        "{out}"
    );
    // Memory really is back near where it was before the traffic.
    let after = shm_used();
    assert!(
        after < idle_level + 64 * 1024,
        "idle {idle_level}, after triage {after}"
    );
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.contains("Triage: kamailio 5.6.3"), "{chart}");
    assert!(chart.contains("(pool too small)"));
}
