//! `kmemdbg report` on a real proxy (Debian's Kamailio 5.6.3): the Markdown
//! file holds the version, the verdict, the pools and the sites, and the
//! cfg's real-looking addresses and users are masked (shown with
//! `--no-redact`). The expected figures come from the test's own setup
//! (`-m 32`, the proxy's PID) and from `kamailio -V` run here.

mod common;
#[path = "support/json_doc.rs"]
mod json_doc;

use common::{run_kmemdbg, start_qm_proxy};
use std::process::Command;

/// A cfg with an advertised public address and a SIP URI holding a user,
/// besides the usual ctl socket; kex gives pkg.stats and mod.stats.
fn cfg(port: u16, ctl: &std::path::Path) -> String {
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nmemdbg=5\nmemlog=5\n\
listen=udp:127.0.0.1:{port} advertise 203.0.113.7:5060\nchildren=2\n\
loadmodule \"ctl.so\"\nloadmodule \"cfg_rpc.so\"\nloadmodule \"kex.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
modparam(\"ctl\", \"binrpc\", \"unix:{}\")\n\
modparam(\"pv\", \"shvset\", \"gateway=s:sip:carol@198.51.100.23:5060\")\n\
request_route {{\n    sl_send_reply(\"200\", \"OK\");\n    exit;\n}}\n",
        ctl.display()
    )
}

#[test]
fn report_of_a_real_proxy_holds_version_verdict_pools_and_sites_masked() {
    let Some(kamailio) = common::debian_kamailio("report_of_a_real_proxy") else {
        return;
    };
    if !common::require_real(
        "report_of_a_real_proxy",
        "kamcmd",
        common::have_program("kamcmd"),
    ) {
        return;
    }
    let (dir, proxy) = start_qm_proxy(&kamailio, cfg);
    let v = Command::new(&kamailio).arg("-V").output().unwrap();
    let first = String::from_utf8_lossy(&v.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    // "version: kamailio 5.6.3 (x86_64/linux)"
    let version = first
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string();
    assert!(version.starts_with('5'), "{first}");

    let pidfile = dir.path().join("kamailio.pid");
    assert!(common::wait_for(std::time::Duration::from_secs(10), || {
        pidfile.is_file()
    }));
    let out = dir.path().join("report.md");
    let ctl = proxy.ctl.display().to_string();
    let (code, stdout, err) = run_kmemdbg(&[
        "report",
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--ctl",
        &ctl,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    let md = std::fs::read_to_string(&out).unwrap();
    if let Ok(keep) = std::env::var("KMEMDBG_KEEP_REPORT") {
        std::fs::write(keep, &md).unwrap();
    }
    assert!(md.len() <= 60 * 1024, "{} bytes", md.len());
    // version and verdict
    assert!(md.contains(&format!("kamailio {version}")), "{md}");
    assert!(md.contains("**Verdict:**"), "{md}");
    // one verdict per pool: 8 pkg.stats processes (counted in the table below) and the shm
    let pkg_rows = md
        .split("## Private memory")
        .nth(1)
        .unwrap_or_default()
        .split("\n## ")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("| ") && l.chars().nth(2).is_some_and(|c| c.is_ascii_digit()))
        .count();
    assert!(pkg_rows >= 3, "{md}");
    assert!(
        md.contains(&format!(
            "**Pools:** {} of {} ok.",
            pkg_rows + 1,
            pkg_rows + 1
        )),
        "{md}"
    );
    // pools: pkg.stats has a row for the main process; shm is the -m 32 pool
    assert!(
        md.contains(&format!("\n| {} |", proxy.pid)),
        "no pkg row for {}:\n{md}",
        proxy.pid
    );
    assert!(md.contains("| 32.0 MiB |"), "{md}");
    // sites from a fresh mod.stats snapshot, with their known fixes
    let sites = md.split("## Top sites").nth(1).unwrap_or_default();
    assert!(sites.contains("From a fresh mod."), "{sites}");
    assert!(sites.contains("(shm) |"), "{sites}");
    assert!(
        md.contains(&format!("Leak fixes of Kamailio after {version}")),
        "{md}"
    );
    // the out-of-memory section read the proxy's own log
    assert!(md.contains("No out-of-memory error in "), "{md}");
    // masking: the public addresses and the user are gone, loopback stays
    for secret in ["203.0.113.7", "198.51.100.23", "carol"] {
        assert!(!md.contains(secret), "{secret} in the report:\n{md}");
    }
    assert!(md.contains("advertise <ip>:5060"), "{md}");
    assert!(md.contains("gateway=s:sip:<uri>"), "{md}");
    assert!(md.contains("127.0.0.1"), "{md}");
    assert!(
        !md.contains("_Not available: ") || !md.contains("pkg.stats gave"),
        "{md}"
    );

    // --no-redact shows them
    let open = dir.path().join("open.md");
    let (code, _, err) = run_kmemdbg(&[
        "report",
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--ctl",
        &ctl,
        "--out",
        open.to_str().unwrap(),
        "--no-redact",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let open = std::fs::read_to_string(&open).unwrap();
    assert!(
        open.contains("advertise 203.0.113.7:5060") && open.contains("carol@198.51.100.23"),
        "{open}"
    );
    drop(proxy);
}

#[test]
fn report_bad_input_exits_2_and_an_unreachable_proxy_still_gives_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_kmemdbg(&[
        "report",
        "--pidfile",
        "/nonexistent/k.pid",
        "--out",
        dir.path().join("r.md").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run_kmemdbg(&[
        "report",
        "--dumps",
        "/nonexistent/d.log",
        "--out",
        dir.path().join("r.md").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    // a pid file naming a process that is not kamailio's; no ctl socket
    let pf = dir.path().join("k.pid");
    std::fs::write(&pf, "999999999\n").unwrap();
    let out = dir.path().join("r.md");
    let (code, stdout, err) = run_kmemdbg(&[
        "report",
        "--pidfile",
        pf.to_str().unwrap(),
        "--ctl",
        dir.path().join("no_ctl").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(
        md.contains(
            "## Private memory (pkg.stats) per process\n\n_Not available: no ctl socket at"
        ),
        "{md}"
    );
    assert!(
        stdout.contains("empty  Shared memory (core.shmmem)"),
        "{stdout}"
    );
}

#[test]
fn report_ranks_the_sites_of_given_dumps_by_growth() {
    // real 5.6.3 dumps before and after an htable leak (tests/fixtures/capture/README.md):
    // grep -c 'ht_cell_new' gives 0 before and 52 after
    let fx = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/capture");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.md");
    let pf = dir.path().join("k.pid");
    std::fs::write(&pf, "999999999\n").unwrap();
    let (code, stdout, err) = run_kmemdbg(&[
        "report",
        "--pidfile",
        pf.to_str().unwrap(),
        "--ctl",
        dir.path().join("no_ctl").to_str().unwrap(),
        "--dumps",
        fx.join("leak-htable-before.log").to_str().unwrap(),
        fx.join("leak-htable-after.log").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    let md = std::fs::read_to_string(&out).unwrap();
    let sites = md.split("## Top sites").nth(1).unwrap_or_default();
    assert!(
        sites.contains("From growth across 2 dump file(s)."),
        "{sites}"
    );
    let first_row = sites
        .lines()
        .find(|l| l.starts_with("| ") && !l.starts_with("| bytes") && !l.starts_with("| ---"));
    assert!(
        first_row
            .is_some_and(|r| r.contains("htable: ht_api.c: ht_cell_new(186)") && r.contains("| +")),
        "{sites}"
    );
    // no running proxy: the version is not guessed from the box, so no fixes
    assert!(
        md.contains("## Known leak fixes\n\n_Not available: "),
        "{md}"
    );
}
