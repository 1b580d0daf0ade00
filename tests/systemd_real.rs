//! kmemdbg against a real systemd and journald: each test boots an sd box
//! (`tests/support/sdbox.rs`: systemd as PID 1 of its own namespaces, Debian's
//! `kamailio.service`, a private journal). Tests here change host files under
//! `/etc` (restored byte for byte by the box's guard) and run one at a time
//! (the box's flock and mutex).

mod common;
#[path = "support/sdbox.rs"]
mod sdbox;

use std::time::Duration;

/// The harness itself: the box boots, Debian's kamailio.service runs in it
/// with the packaged argv, journald holds its lines, and a host file the test
/// adds under /etc is gone again once the box drops.
#[test]
fn real_systemd_box_boots_debian_kamailio_with_journal() {
    let probe = "/etc/systemd/system/kamailio.service.d/zz-sdbox-smoke.conf";
    {
        let Some(mut b) = sdbox::SdBox::boot("real_systemd_box_boots_debian_kamailio_with_journal")
        else {
            return;
        };
        assert!(b.wait_active("kamailio", Duration::from_secs(60)));
        let pid = b.main_pid("kamailio");
        assert!(pid > 1, "kamailio.service has no main PID");
        // The packaged ExecStart, expanded by systemd (by hand from
        // /lib/systemd/system/kamailio.service and its Environment= lines).
        let argv = b.cmdline(pid);
        assert_eq!(
            argv,
            [
                "/usr/sbin/kamailio",
                "-P",
                "/run/kamailio/kamailio.pid",
                "-f",
                "/etc/kamailio/kamailio.cfg",
                "-m",
                "64",
                "-M",
                "8"
            ]
        );
        let log = b.journal("kamailio");
        assert!(
            log.lines().any(|l| l.contains("<core>")),
            "journalctl -u kamailio holds no kamailio line:\n{log}"
        );
        // The box's pid namespace is its own: PID 1 inside is systemd.
        assert_eq!(b.ok(&["cat", "/proc/1/comm"]).trim(), "systemd");
        // A host file written through the guard is seen by the box's systemd.
        b.etc.write(probe, "[Unit]\nDescription=sdbox smoke\n");
        b.ok(&["systemctl", "daemon-reload"]);
        assert_eq!(b.show("kamailio", "Description"), "sdbox smoke");
    }
    assert!(
        !std::path::Path::new(probe).exists()
            && !std::path::Path::new("/etc/systemd/system/kamailio.service.d").exists(),
        "the box's guard left {probe} behind"
    );
}

/// The guard alone, on a temp tree: created files go, changed and removed
/// ones come back with their bytes, mode and mtime, also when the test panics.
#[test]
fn etc_guard_restores_byte_for_byte_on_panic() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("etc");
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::write(root.join("a.conf"), b"a=1\n\xff raw\n").expect("write");
    std::fs::write(root.join("sub/b.conf"), "b=2\n").expect("write");
    std::fs::set_permissions(root.join("a.conf"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
    let before_mtime = std::fs::metadata(root.join("a.conf"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let r = root.clone();
    let caught = std::panic::catch_unwind(move || {
        let mut g = sdbox::EtcGuard::new();
        g.watch(&r);
        g.write(r.join("a.conf"), "changed\n");
        g.remove(r.join("sub"));
        g.write(r.join("new.d/x.conf"), "x\n");
        assert_eq!(g.changed().len(), 5, "{:?}", g.changed());
        panic!("test failure inside the guard's life");
    });
    assert!(caught.is_err());
    assert_eq!(
        std::fs::read(root.join("a.conf")).expect("a.conf back"),
        b"a=1\n\xff raw\n"
    );
    let m = std::fs::metadata(root.join("a.conf")).expect("meta");
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    assert_eq!(m.modified().expect("mtime"), before_mtime);
    assert_eq!(
        std::fs::read_to_string(root.join("sub/b.conf")).expect("b back"),
        "b=2\n"
    );
    assert!(!root.join("new.d").exists());
}
