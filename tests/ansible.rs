//! The Ansible example (ci/examples/ansible/convert-fleet.yml), run with the
//! real ansible-playbook on localhost (local connection).
//!
//! `real_proxy_*` run it with the real kmemdbg against real Debian kamailio
//! daemons on 127.0.0.1 (pid-file mode): converted and answering, unchanged
//! on the second run, and a proxy that fails kmemdbg's health check stopping
//! the rollout. `standin_*` run it against a stand-in that speaks convert's
//! contract (exit 0/3 for `--check`, JSON `changed` and `steps`, non-zero
//! after a rollback) on three hosts, cheaply: `ansible-playbook --check`,
//! serial order, and the stop at the first failure without a proxy.

mod common;
use common::daemon;
use common::*;
use daemon::{cmdline, default_style_cfg, free_port, Daemon};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ci/examples/ansible")
}

fn have_ansible(test: &str) -> bool {
    require_real(
        test,
        "ansible-playbook (Debian's ansible-core, see ci/install-deps.sh)",
        have_program("ansible-playbook"),
    )
}

/// Runs ansible-playbook in `dir` (its own temp dirs, no colour, no retry
/// files); returns (exit code, stdout + stderr).
fn ansible_playbook(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("ansible-playbook")
        .args(args)
        .current_dir(dir)
        .env("ANSIBLE_CONFIG", dir.join("none.cfg"))
        .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-local"))
        .env("ANSIBLE_REMOTE_TEMP", dir.join("ansible-remote"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("ANSIBLE_STDOUT_CALLBACK", "default")
        .env("ANSIBLE_PIPELINING", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run ansible-playbook");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// PLAY RECAP counters per host: `proxy-a : ok=4 changed=1 ...`.
fn recap(output: &str) -> HashMap<String, HashMap<String, u32>> {
    let mut hosts = HashMap::new();
    let Some(start) = output.find("PLAY RECAP") else {
        return hosts;
    };
    for line in output[start..].lines().skip(1) {
        let Some((host, counters)) = line.split_once(" : ") else {
            continue;
        };
        let counts = counters
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect();
        hosts.insert(host.trim().to_string(), counts);
    }
    hosts
}

#[test]
fn ansible_playbook_passes_syntax_check() {
    if !have_ansible("ansible_playbook_passes_syntax_check") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = ansible_playbook(
        dir.path(),
        &[
            "--syntax-check",
            "-i",
            example_dir()
                .join("inventory.example.ini")
                .to_str()
                .unwrap(),
            example_dir().join("convert-fleet.yml").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("playbook: "), "{out}");
}

/// A stand-in `kmemdbg` that speaks `convert`'s contract, keyed by the cfg
/// path: `CFG.converted` marks a converted proxy; a cfg containing
/// FAIL_HEALTH fails its health check (exit 1, "rolled back"). Every call is
/// appended to LOG as `convert CFG check|convert`.
const STANDIN: &str = r#"#!/bin/sh
log=__LOG__
sub=$1; shift
cfg=""; check=0; yes=0; json=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cfg) cfg=$2; shift 2 ;;
    --pidfile|--service) shift 2 ;;
    --check) check=1; shift ;;
    --yes) yes=1; shift ;;
    --json) json=1; shift ;;
    *) echo "stand-in: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$sub" = convert ] && [ -f "$cfg" ] && [ $json = 1 ] || { echo "stand-in: bad call" >&2; exit 2; }
if [ -f "$cfg.converted" ]; then pending=false; else pending=true; fi
if [ $check = 1 ]; then
  echo "convert $cfg check" >> "$log"
  printf '{"schema":"kmemdbg.convert/1","changed":%s,"steps":[{"name":"inspect","changed":false},{"name":"cfg","changed":%s},{"name":"restart","changed":%s}]}\n' $pending $pending $pending
  if [ $pending = true ]; then exit 3; else exit 0; fi
fi
[ $yes = 1 ] || { echo "stand-in: restart needs --yes" >&2; exit 2; }
echo "convert $cfg convert" >> "$log"
if grep -q FAIL_HEALTH "$cfg"; then
  printf '{"schema":"kmemdbg.convert/1","changed":false,"error":"health check failed"}\n'
  echo "kmemdbg: restart: health check failed: no answer to OPTIONS on 127.0.0.1; rolled back, previous proxy running" >&2
  exit 1
fi
touch "$cfg.converted"
printf '{"schema":"kmemdbg.convert/1","changed":%s,"steps":[{"name":"cfg","changed":%s},{"name":"restart","changed":%s}]}\n' $pending $pending $pending
"#;

struct Fleet {
    dir: tempfile::TempDir,
    hosts: Vec<&'static str>,
}

impl Fleet {
    fn new(hosts: &[&'static str]) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let standin = dir.path().join("kmemdbg");
        let log = dir.path().join("calls.log");
        std::fs::write(&standin, STANDIN.replace("__LOG__", log.to_str().unwrap())).unwrap();
        std::fs::set_permissions(&standin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut inv = String::from("[kamailio_proxies]\n");
        for h in hosts {
            let cfg = dir.path().join(format!("{h}.cfg"));
            std::fs::write(&cfg, "#!KAMAILIO\n").unwrap();
            inv.push_str(&format!(
                "{h} ansible_connection=local kmemdbg_cfg={} kmemdbg_pidfile={}\n",
                cfg.display(),
                dir.path().join(format!("{h}.pid")).display()
            ));
        }
        inv.push_str(&format!(
            "[kamailio_proxies:vars]\nansible_python_interpreter=/usr/bin/python3\nkmemdbg_exe={}\n",
            standin.display()
        ));
        std::fs::write(dir.path().join("inventory.ini"), inv).unwrap();
        Fleet {
            dir,
            hosts: hosts.to_vec(),
        }
    }
    fn cfg(&self, host: &str) -> PathBuf {
        self.dir.path().join(format!("{host}.cfg"))
    }
    fn converted(&self, host: &str) -> bool {
        self.dir
            .path()
            .join(format!("{host}.cfg.converted"))
            .exists()
    }
    /// The non-check convert calls so far, as host names, in order.
    fn conversions(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.path().join("calls.log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.ends_with(" convert"))
            .filter_map(|l| {
                self.hosts
                    .iter()
                    .find(|h| l.contains(&format!("/{h}.cfg ")))
                    .map(|h| h.to_string())
            })
            .collect()
    }
    fn play(&self, extra: &[&str]) -> (i32, String) {
        let playbook = example_dir().join("convert-fleet.yml");
        let mut args = vec!["-i", "inventory.ini", playbook.to_str().unwrap()];
        args.extend_from_slice(extra);
        ansible_playbook(self.dir.path(), &args)
    }
}

#[test]
fn standin_ansible_rollout_reports_converts_serially_and_is_idempotent() {
    if !have_ansible("standin_ansible_rollout_reports_converts_serially_and_is_idempotent") {
        return;
    }
    let fleet = Fleet::new(&["proxy-a", "proxy-b", "proxy-c"]);

    // ansible-playbook --check: reports, converts nothing.
    let (code, out) = fleet.play(&["--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "kmemdbg: needs conversion: proxy-a, proxy-b, proxy-c; already converted: none"
        ),
        "{out}"
    );
    assert!(
        out.contains("kmemdbg: proxy-b pending steps: cfg, restart"),
        "{out}"
    );
    assert!(fleet.conversions().is_empty(), "{out}");

    // First run: every host changed, converted one after the other.
    let (code, out) = fleet.play(&[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        fleet.conversions(),
        ["proxy-a", "proxy-b", "proxy-c"],
        "{out}"
    );
    let r = recap(&out);
    for h in &fleet.hosts {
        assert!(fleet.converted(h));
        assert_eq!(r[*h]["changed"], 1, "{h}: {out}");
        assert_eq!(r[*h]["failed"], 0, "{h}: {out}");
    }
    // serial: 1 means one play batch per host, in inventory order.
    let batches: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("TASK [Convert (guided restart"))
        .collect();
    assert_eq!(batches.len(), 3, "{out}");

    // Second run: nothing pending, nothing changed, no conversion called.
    let (code, out) = fleet.play(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "kmemdbg: needs conversion: none; already converted: proxy-a, proxy-b, proxy-c"
        ),
        "{out}"
    );
    assert_eq!(fleet.conversions().len(), 3, "{out}");
    let r = recap(&out);
    for h in &fleet.hosts {
        assert_eq!(r[*h]["changed"], 0, "{h}: {out}");
    }
}

#[test]
fn standin_ansible_rollout_stops_at_first_failed_health_check() {
    if !have_ansible("standin_ansible_rollout_stops_at_first_failed_health_check") {
        return;
    }
    let fleet = Fleet::new(&["proxy-a", "proxy-b", "proxy-c"]);
    std::fs::write(fleet.cfg("proxy-b"), "#!KAMAILIO\n# FAIL_HEALTH\n").unwrap();
    let (code, out) = fleet.play(&[]);
    assert_ne!(code, 0, "{out}");
    // a converted, b failed (and kmemdbg rolled it back), c never touched.
    assert_eq!(fleet.conversions(), ["proxy-a", "proxy-b"], "{out}");
    assert!(
        fleet.converted("proxy-a") && !fleet.converted("proxy-b") && !fleet.converted("proxy-c")
    );
    assert!(out.contains("health check failed"), "{out}");
    assert!(
        out.contains("kmemdbg: rollout stopped at proxy-b: 'Convert (guided restart"),
        "{out}"
    );
    let r = recap(&out);
    assert_eq!(r["proxy-a"]["changed"], 1, "{out}");
    assert_eq!(r["proxy-b"]["failed"], 1, "{out}");
    assert_eq!(r["proxy-c"]["changed"], 0, "{out}");
    assert_eq!(r["proxy-c"]["failed"], 0, "{out}");
}

/// An inventory of real proxies, each `(name, daemon, extra host vars)`,
/// run with the kmemdbg under test.
fn real_inventory(dir: &Path, hosts: &[(&str, &Daemon, &str)]) {
    let mut inv = String::from("[kamailio_proxies]\n");
    for (name, d, extra) in hosts {
        inv.push_str(&format!(
            "{name} ansible_connection=local kmemdbg_cfg={} kmemdbg_pidfile={} {extra}\n",
            d.cfg.display(),
            d.pidfile.display()
        ));
    }
    inv.push_str(&format!(
        "[kamailio_proxies:vars]\nansible_python_interpreter=/usr/bin/python3\nkmemdbg_exe={}\n",
        env!("CARGO_BIN_EXE_kmemdbg")
    ));
    std::fs::write(dir.join("inventory.ini"), inv).unwrap();
}

fn play_real(dir: &Path) -> (i32, String) {
    let playbook = example_dir().join("convert-fleet.yml");
    ansible_playbook(dir, &["-i", "inventory.ini", playbook.to_str().unwrap()])
}

/// `kmemdbg convert --check` on a daemon: 0 converted, 3 pending.
fn convert_check(d: &Daemon) -> i32 {
    let (code, _, _) = run_kmemdbg(&[
        "convert",
        "--cfg",
        d.cfg.to_str().unwrap(),
        "--pidfile",
        d.pidfile.to_str().unwrap(),
        "--check",
    ]);
    code
}

fn has_pair(argv: &[String], a: &str, b: &str) -> bool {
    argv.windows(2).any(|w| w[0] == a && w[1] == b)
}

#[test]
fn real_proxy_ansible_converts_then_reports_unchanged() {
    const T: &str = "real_proxy_ansible_converts_then_reports_unchanged";
    let Some(bin) = debian_kamailio(T) else {
        return;
    };
    if !have_ansible(T) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let proxy_dir = dir.path().join("proxy-a");
    std::fs::create_dir(&proxy_dir).unwrap();
    let d = Daemon::start_default(&bin, &proxy_dir);
    let old_pid = d.pid().unwrap();
    real_inventory(dir.path(), &[("proxy-a", &d, "")]);

    // First run: reported, converted (changed), answering OPTIONS after.
    let (code, out) = play_real(dir.path());
    assert_eq!(code, 0, "{out}\nlog:\n{}", d.log_text());
    assert!(
        out.contains("kmemdbg: needs conversion: proxy-a; already converted: none"),
        "{out}"
    );
    assert!(
        out.contains("kmemdbg: proxy-a pending steps: cfg, runtime, restart"),
        "{out}"
    );
    let r = recap(&out);
    assert_eq!(
        (r["proxy-a"]["changed"], r["proxy-a"]["failed"]),
        (1, 0),
        "{out}"
    );
    let new_pid = d.pid().unwrap();
    assert_ne!(new_pid, old_pid, "not restarted: {out}");
    assert!(
        has_pair(&cmdline(new_pid), "-x", "qm"),
        "{:?}",
        cmdline(new_pid)
    );
    assert!(d.answers(), "the converted proxy does not answer OPTIONS");
    assert_eq!(convert_check(&d), 0);

    // Second run: nothing pending, unchanged, not restarted.
    let (code, out) = play_real(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("kmemdbg: needs conversion: none; already converted: proxy-a"),
        "{out}"
    );
    let r = recap(&out);
    assert_eq!(
        (r["proxy-a"]["changed"], r["proxy-a"]["failed"]),
        (0, 0),
        "{out}"
    );
    assert_eq!(d.pid(), Some(new_pid));
    assert!(d.answers());
}

#[test]
fn real_proxy_ansible_stops_rollout_at_failed_health_check() {
    const T: &str = "real_proxy_ansible_stops_rollout_at_failed_health_check";
    let Some(bin) = debian_kamailio(T) else {
        return;
    };
    if !have_ansible(T) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // proxy-bad answers OPTIONS until memlog is lowered (which convert does):
    // the converted proxy fails kmemdbg's health check, kmemdbg rolls it back
    // to its previous, answering setup, and the rollout stops there.
    let bad_dir = dir.path().join("proxy-bad");
    std::fs::create_dir(&bad_dir).unwrap();
    let bad_port = free_port();
    let silent = default_style_cfg(bad_port).replacen(
        "request_route {\n",
        "request_route {\n\tif (is_method(\"OPTIONS\") && $sel(cfg_get.core.memlog) <= 3) { exit; }\n",
        1,
    );
    let bad = Daemon::start(&bin, &bad_dir, bad_port, &silent, &[]);
    let bad_pid = bad.pid().unwrap();
    assert!(
        bad.answers(),
        "proxy-bad does not answer before the conversion"
    );
    let bad_files = bad.files();
    // proxy-good comes after it and must not be touched.
    let good_dir = dir.path().join("proxy-good");
    std::fs::create_dir(&good_dir).unwrap();
    let good_port = free_port();
    let good = Daemon::start(
        &bin,
        &good_dir,
        good_port,
        &default_style_cfg(good_port),
        &[],
    );
    let good_pid = good.pid().unwrap();
    let good_files = good.files();
    real_inventory(
        dir.path(),
        &[
            (
                "proxy-bad",
                &bad,
                "kmemdbg_extra_args='[\"--timeout\", \"5\"]'",
            ),
            ("proxy-good", &good, ""),
        ],
    );

    let (code, out) = play_real(dir.path());
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("kmemdbg: needs conversion: proxy-bad, proxy-good"),
        "{out}"
    );
    assert!(
        out.contains("kmemdbg: rollout stopped at proxy-bad: 'Convert (guided restart"),
        "{out}"
    );
    assert!(
        out.contains("failed (exit 1): restart: ") && out.contains("(restart: rolled_back)"),
        "{out}"
    );
    assert!(out.contains("no answer to SIP OPTIONS"), "{out}");
    let r = recap(&out);
    assert_eq!(r["proxy-bad"]["failed"], 1, "{out}");
    assert_eq!(
        (r["proxy-good"]["changed"], r["proxy-good"]["failed"]),
        (0, 0),
        "{out}"
    );
    // proxy-bad: rolled back to its previous setup (restarted, answering,
    // no -x qm), every file as before.
    let pid = bad.pid().expect("a proxy runs under proxy-bad's pid file");
    assert!(
        daemon::alive(pid) && pid != bad_pid,
        "proxy-bad was not restarted"
    );
    assert!(
        !cmdline(pid).iter().any(|a| a == "-x"),
        "{:?}",
        cmdline(pid)
    );
    assert!(
        bad.answers(),
        "proxy-bad does not answer after the rollback"
    );
    let (_, fail_line) = out.split_once("kmemdbg: rollout stopped at").unwrap();
    eprintln!(
        "kmemdbg: rollout stopped at{}",
        fail_line.lines().next().unwrap_or("")
    );
    assert_eq!(bad.files(), bad_files, "proxy-bad's files changed");
    // proxy-good: never converted, same process, still pending.
    assert_eq!(good.pid(), Some(good_pid));
    assert_eq!(good.files(), good_files);
    assert!(good.answers());
    assert_eq!(convert_check(&good), 3);
}
