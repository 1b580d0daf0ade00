//! Why gdb could not attach to a live process, in words an operator can act
//! on: who runs the process, who runs kmemdbg, what the kernel allows
//! (Yama's `kernel.yama.ptrace_scope`, CAP_SYS_PTRACE), whether a debugger
//! already holds it, and the ways around (root, the proxy's user, a core
//! file). Pure: gdb's text and the facts read from /proc come in, a message
//! goes out; the only reading of /proc is [`AttachFacts::read`], through
//! [`crate::procfs`]. Never passes gdb's raw output on as the explanation.

use crate::procfs;
use serde::Serialize;

/// What gdb said when the kernel refused `ptrace(PTRACE_ATTACH)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// gdb's line, e.g. `ptrace: Operation not permitted.`
    pub gdb_line: String,
    pub reason: RefusalReason,
    /// From gdb's `warning: process N is already traced by process M`.
    pub traced_by: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// EPERM: another user, Yama, no CAP_SYS_PTRACE, or already traced.
    NotPermitted,
    /// ESRCH: the process is gone.
    NoSuchProcess,
    /// Any other `ptrace: ...` error.
    Other,
}

/// Finds gdb's refusal in its output (stdout and stderr, any order).
///
/// gdb 13.1 (Debian 12) prints `ptrace: Operation not permitted.` for an
/// attach the kernel refuses, after `warning: process N is already traced
/// by process M` when a debugger holds it, and `ptrace: No such process.`
/// for a pid that is gone; in `-batch` mode it then runs the `-ex` commands
/// anyway and exits 0, so the exit status says nothing.
pub fn refusal(gdb_output: &str) -> Option<Refusal> {
    let line = gdb_output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("ptrace: "))?;
    let reason = if line.contains("Operation not permitted") {
        RefusalReason::NotPermitted
    } else if line.contains("No such process") {
        RefusalReason::NoSuchProcess
    } else {
        RefusalReason::Other
    };
    let traced_by = gdb_output.lines().find_map(|l| {
        l.trim()
            .strip_prefix("warning: process ")?
            .split_once(" is already traced by process ")?
            .1
            .trim()
            .parse()
            .ok()
    });
    Some(Refusal {
        gdb_line: line.to_string(),
        reason,
        traced_by,
    })
}

/// What decides whether an attach is allowed (each `None` when unreadable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachFacts {
    pub pid: u32,
    /// The target's real uid and its user name.
    pub target_uid: Option<u32>,
    pub target_user: Option<String>,
    /// kmemdbg's effective uid and its user name.
    pub our_uid: Option<u32>,
    pub our_user: Option<String>,
    /// kmemdbg holds CAP_SYS_PTRACE (bit 19 of CapEff).
    pub our_cap_sys_ptrace: Option<bool>,
    /// `/proc/sys/kernel/yama/ptrace_scope`; `None`: no Yama in this kernel.
    pub ptrace_scope: Option<u32>,
    /// The process's `TracerPid` when not 0.
    pub tracer_pid: Option<u32>,
}

const CAP_SYS_PTRACE: u32 = 19;

/// `Uid:` (real), `TracerPid:` (0 = none) and `CapEff:` of a /proc/PID/status text.
pub fn parse_status(text: &str) -> (Option<u32>, Option<u32>, Option<bool>) {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
    };
    let uid = field("Uid:")
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok());
    let tracer = field("TracerPid:")
        .and_then(|v| v.parse().ok())
        .filter(|&p: &u32| p != 0);
    let cap = field("CapEff:")
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .map(|c| c & (1 << CAP_SYS_PTRACE) != 0);
    (uid, tracer, cap)
}

/// The name of `uid` in an /etc/passwd text.
pub fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

impl AttachFacts {
    /// Reads the facts from /proc and /etc/passwd (missing files leave `None`).
    pub fn read(pid: u32) -> AttachFacts {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let (target_uid, tracer_pid, _) = parse_status(&procfs::status(pid).unwrap_or_default());
        let (_, _, our_cap_sys_ptrace) = parse_status(&procfs::self_status().unwrap_or_default());
        let our_uid = procfs::self_uid();
        AttachFacts {
            pid,
            target_user: target_uid.and_then(|u| user_name(&passwd, u)),
            target_uid,
            our_user: our_uid.and_then(|u| user_name(&passwd, u)),
            our_uid,
            our_cap_sys_ptrace,
            ptrace_scope: procfs::ptrace_scope(),
            tracer_pid,
        }
    }
}

fn who(uid: Option<u32>, user: &Option<String>) -> String {
    match (uid, user) {
        (Some(u), Some(n)) => format!("uid {u} ({n})"),
        (Some(u), None) => format!("uid {u}"),
        (None, _) => "an unknown user".into(),
    }
}

/// The operator's explanation of a refused attach, with what to do next.
pub fn explain(r: &Refusal, f: &AttachFacts) -> String {
    let pid = f.pid;
    if r.reason == RefusalReason::NoSuchProcess {
        return format!(
            "gdb cannot attach to process {pid}: it is gone (gdb: {}); kamcmd core.psx lists the proxy's processes",
            r.gdb_line
        );
    }
    let mut s = format!(
        "gdb may not attach to process {pid}: the kernel refused ptrace (gdb: {}).\n",
        r.gdb_line
    );
    let mut why = Vec::new();
    if let Some(t) = r.traced_by.or(f.tracer_pid) {
        why.push(format!(
            "process {pid} is already traced by process {t} (another gdb or strace): only one debugger may attach; end that one first"
        ));
    }
    let root = f.our_uid == Some(0);
    let same_user = f.our_uid.is_some() && f.our_uid == f.target_uid;
    if !root && !same_user {
        why.push(format!(
            "process {pid} runs as {}, kmemdbg as {}: only root or the same user may attach",
            who(f.target_uid, &f.target_user),
            who(f.our_uid, &f.our_user)
        ));
    }
    match f.ptrace_scope {
        Some(1) if !root => why.push(
            "kernel.yama.ptrace_scope is 1 (/proc/sys/kernel/yama/ptrace_scope): even the same user may attach only to its own children; root may attach to any process".into(),
        ),
        Some(2) => why.push(
            "kernel.yama.ptrace_scope is 2 (/proc/sys/kernel/yama/ptrace_scope): only root (CAP_SYS_PTRACE) may attach".into(),
        ),
        Some(3) => why.push(
            "kernel.yama.ptrace_scope is 3 (/proc/sys/kernel/yama/ptrace_scope): no process may attach to another, not even root, until a reboot; gcore cannot help either".into(),
        ),
        Some(n) => why.push(format!(
            "kernel.yama.ptrace_scope is {n} (/proc/sys/kernel/yama/ptrace_scope): it does not stop this attach"
        )),
        None => {}
    }
    if f.our_cap_sys_ptrace == Some(false) && (root || f.ptrace_scope == Some(2)) {
        why.push(
            "kmemdbg runs without CAP_SYS_PTRACE (a container or a capability-dropping service manager)".into(),
        );
    }
    if why.is_empty() {
        why.push("no reason found in /proc: a security module (SELinux, AppArmor) or a seccomp filter may forbid ptrace".into());
    }
    for w in why {
        s.push_str(&format!("  why: {w}\n"));
    }
    if let Some(t) = r.traced_by.or(f.tracer_pid) {
        s.push_str(&format!(
            "  next: detach that debugger (`detach` or `quit` in it; or end process {t}), then run kmemdbg gdb --pid {pid} again\n  next: or ask the proxy for a memory dump instead (no ptrace): kmemdbg dump\n"
        ));
        s.push_str(&format!("process {pid} was not stopped by kmemdbg"));
        return s;
    }
    let proxy_user = f
        .target_user
        .clone()
        .or_else(|| f.target_uid.map(|u| format!("#{u}")));
    let mut next = Vec::new();
    if !root {
        next.push(format!("run it as root: sudo kmemdbg gdb --pid {pid}"));
    }
    if let (Some(u), false) = (&proxy_user, f.ptrace_scope.is_some_and(|n| n >= 1)) {
        if f.target_uid != Some(0) {
            next.push(format!(
                "or as the proxy's user: sudo -u {u} kmemdbg gdb --pid {pid}"
            ));
        }
    }
    if f.ptrace_scope == Some(1) || f.ptrace_scope == Some(2) {
        next.push(
            "or allow attaching until the next reboot: sysctl kernel.yama.ptrace_scope=0 (as root)"
                .into(),
        );
    }
    next.push(
        "in a container, root also needs CAP_SYS_PTRACE (docker run --cap-add SYS_PTRACE ...)"
            .into(),
    );
    if f.ptrace_scope != Some(3) {
        next.push(format!(
            "or, as a user who may attach, save a core file and read that: gcore -o /tmp/kamailio {pid} && kmemdbg gdb --core /tmp/kamailio.{pid} --binary \"$(readlink /proc/{pid}/exe)\""
        ));
    }
    next.push("or ask the proxy for a memory dump instead (no ptrace): kmemdbg dump".into());
    for n in next {
        s.push_str(&format!("  next: {n}\n"));
    }
    s.push_str(&format!(
        "process {pid} was not stopped: the attach never happened"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // gdb 13.1 (Debian 12) here, run with the probe's -ex commands
    // (stdout, then stderr), as uid 65534 on a process of uid 0:
    const REFUSED: &str =
        "kmemdbg-probe type qm_frag\nkmemdbg-probe type fm_frag\nkmemdbg-probe done\n\
ptrace: Operation not permitted.\nNo struct type named qm_frag.\nNo struct type named fm_frag.\n";
    // as root, on a process another gdb was attached to:
    const TRACED: &str = "kmemdbg-probe done\n\
warning: process 4369 is already traced by process 4370\nptrace: Operation not permitted.\n";
    // as root, on a pid that does not exist:
    const GONE: &str = "kmemdbg-probe done\nptrace: No such process.\n";
    // a successful attach (gdb 13.1 on a 5.6.3 receiver): no refusal in it
    const ATTACHED: &str = "[Thread debugging using libthread_db enabled]\n\
0x00007f15369dbdd0 in __libc_pause () at ../sysdeps/unix/sysv/linux/pause.c:29\n\
kmemdbg-probe done\n[Inferior 1 (process 14032) detached]\n";

    // /proc/self/status of root here (trimmed) and of a process run by setpriv as nobody
    const ROOT_STATUS: &str =
        "Name:\tcat\nState:\tR (running)\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n\
CapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\n";
    const NOBODY_STATUS: &str = "Name:\tcat\nTracerPid:\t0\nUid:\t65534\t65534\t65534\t65534\n\
CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n";

    fn facts(our: u32, target: u32, scope: Option<u32>) -> AttachFacts {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nkamailio:x:108:114::/run/kamailio:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
        AttachFacts {
            pid: 4369,
            target_uid: Some(target),
            target_user: user_name(passwd, target),
            our_uid: Some(our),
            our_user: user_name(passwd, our),
            our_cap_sys_ptrace: Some(our == 0),
            ptrace_scope: scope,
            tracer_pid: None,
        }
    }

    #[test]
    fn finds_the_real_refusals() {
        let r = refusal(REFUSED).unwrap();
        assert_eq!(r.gdb_line, "ptrace: Operation not permitted.");
        assert_eq!((r.reason, r.traced_by), (RefusalReason::NotPermitted, None));
        let t = refusal(TRACED).unwrap();
        assert_eq!(
            (t.reason, t.traced_by),
            (RefusalReason::NotPermitted, Some(4370))
        );
        assert_eq!(refusal(GONE).unwrap().reason, RefusalReason::NoSuchProcess);
        assert_eq!(refusal(ATTACHED), None);
        assert_eq!(refusal(""), None);
    }

    #[test]
    fn reads_proc_status_and_passwd() {
        assert_eq!(parse_status(ROOT_STATUS), (Some(0), None, Some(true)));
        assert_eq!(
            parse_status(NOBODY_STATUS),
            (Some(65534), None, Some(false))
        );
        assert_eq!(parse_status("TracerPid:\t4370\n"), (None, Some(4370), None));
        assert_eq!(parse_status(""), (None, None, None));
        let passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
        assert_eq!(user_name(passwd, 65534).as_deref(), Some("nobody"));
        assert_eq!(user_name(passwd, 7), None);
    }

    #[test]
    fn other_user_without_yama_is_told_root_or_core_file() {
        let m = explain(&refusal(REFUSED).unwrap(), &facts(65534, 0, None));
        assert!(
            m.contains("the kernel refused ptrace (gdb: ptrace: Operation not permitted.)"),
            "{m}"
        );
        assert!(
            m.contains("runs as uid 0 (root), kmemdbg as uid 65534 (nobody)"),
            "{m}"
        );
        assert!(m.contains("sudo kmemdbg gdb --pid 4369"), "{m}");
        assert!(
            !m.contains("sudo -u root"),
            "root is not 'the proxy's user': {m}"
        );
        assert!(m.contains("CAP_SYS_PTRACE"), "{m}");
        assert!(m.contains("gcore -o /tmp/kamailio 4369"), "{m}");
        assert!(m.contains("kmemdbg dump"), "{m}");
        assert!(m.contains("was not stopped"), "{m}");
        assert!(!m.contains("ptrace_scope"), "no Yama here: {m}");
        assert!(!m.contains("No struct type"), "not gdb's raw output: {m}");
    }

    #[test]
    fn proxy_user_is_offered_when_yama_allows_it() {
        let m = explain(&refusal(REFUSED).unwrap(), &facts(1000, 108, Some(0)));
        assert!(m.contains("sudo -u kamailio kmemdbg gdb --pid 4369"), "{m}");
        assert!(m.contains("kernel.yama.ptrace_scope is 0"), "{m}");
    }

    #[test]
    fn yama_scopes_are_explained() {
        let r = refusal(REFUSED).unwrap();
        let m = explain(&r, &facts(108, 108, Some(1)));
        assert!(m.contains("kernel.yama.ptrace_scope is 1"), "{m}");
        assert!(m.contains("sysctl kernel.yama.ptrace_scope=0"), "{m}");
        assert!(!m.contains("only root or the same user"), "same user: {m}");
        assert!(
            !m.contains("sudo -u"),
            "the same user is refused under scope 1: {m}"
        );
        let m = explain(&r, &facts(108, 108, Some(2)));
        assert!(m.contains("only root (CAP_SYS_PTRACE) may attach"), "{m}");
        let m = explain(&r, &facts(0, 108, Some(3)));
        assert!(m.contains("until a reboot"), "{m}");
        assert!(!m.contains("gcore -o"), "gcore needs ptrace too: {m}");
        assert!(m.contains("kmemdbg dump"), "{m}");
    }

    #[test]
    fn root_without_the_capability_or_with_a_tracer() {
        let r = refusal(REFUSED).unwrap();
        let mut f = facts(0, 108, None);
        f.our_cap_sys_ptrace = Some(false);
        let m = explain(&r, &f);
        assert!(m.contains("without CAP_SYS_PTRACE"), "{m}");
        let m = explain(&refusal(TRACED).unwrap(), &facts(0, 0, None));
        assert!(m.contains("already traced by process 4370"), "{m}");
        assert!(m.contains("end process 4370"), "{m}");
        assert!(!m.contains("CAP_SYS_PTRACE"), "not the cause here: {m}");
        let m = explain(&refusal(GONE).unwrap(), &facts(0, 0, None));
        assert!(m.contains("it is gone"), "{m}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "(ptrace: [A-Za-z .]{0,30}|warning: process [0-9]{0,12} is already traced by process [0-9a-z]{0,12}|Uid:\t[0-9]{0,12}|CapEff:\t[0-9a-f]{0,20}|TracerPid:\t[0-9]{0,12}|\n){0,12}") {
            if let Some(r) = refusal(&s) {
                let _ = explain(&r, &AttachFacts::default());
            }
            let _ = parse_status(&s);
            let _ = user_name(&s, 0);
        }
    }
}
