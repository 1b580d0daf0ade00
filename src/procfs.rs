//! What `/proc` says about processes, read in one place: is a PID alive
//! (a zombie is not), its parent, process group, command line, executable
//! and working directory, the UDP sockets it holds, its cgroup and status,
//! and which processes are Kamailio main processes;
//! plus the one table of Kamailio's command-line options that take a value
//! (its `getopt` string), which every reader of a kamailio command line uses.
//!
//! Only reads `/proc`: never signals, changes or waits for a process. The
//! parsers ([`parse_stat`], [`split_cmdline`]) are pure and never panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Names a Kamailio binary goes by (older releases: `ser`, `openser`).
pub const PROGRAM_NAMES: &[&str] = &["kamailio", "ser", "openser"];

/// Short options that take a value (kamailio 5.x `main.c` getopt string
/// `":f:cm:M:dVIhEeb:l:L:n:vKrRDTN:W:w:t:u:g:P:G:SQ:O:a:A:x:X:Y:"`; older
/// versions use a subset of the same letters).
pub const SHORT_WITH_VALUE: &str = "fmMblLnNWwtugPGQOaAxXY";

/// Long options that take a value (`--name=value` or `--name value`).
pub const LONG_WITH_VALUE: &[&str] = &[
    "alias",
    "subst",
    "substdef",
    "substdefs",
    "server-id",
    "loadmodule",
    "modparam",
    "log-engine",
    "debug",
    "atexit",
];

/// The fields of `/proc/PID/stat` kmemdbg uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    pub ppid: u32,
    /// The process group.
    pub pgrp: u32,
    /// Start time, in clock ticks after boot.
    pub start_ticks: u64,
}

impl Stat {
    /// Neither a zombie nor dead.
    pub fn is_alive(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

/// Reads `/proc/PID/stat` text (the command name may hold spaces and `)`).
pub fn parse_stat(text: &str) -> Option<Stat> {
    let after = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state), then ppid, pgrp, ...; starttime is field 22
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// `/proc/PID/cmdline` bytes as arguments (empty ones dropped).
pub fn split_cmdline(raw: &[u8]) -> Vec<String> {
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Every PID in `/proc`, ascending.
pub fn pids() -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<u32> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    out.sort_unstable();
    out
}

/// The process's stat, or `None` when it is gone.
pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.is_alive())
}

/// The parent PID of `pid`.
pub fn parent_of(pid: u32) -> Option<u32> {
    stat(pid).map(|s| s.ppid)
}

/// Living processes (not zombies) whose parent is `pid`, ascending.
pub fn children_of(pid: u32) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&p| stat(p).is_some_and(|s| s.ppid == pid && s.is_alive()))
        .collect()
}

/// True while some process (not a zombie) is in the process group `group`.
pub fn group_alive(group: u32) -> bool {
    pids()
        .into_iter()
        .any(|p| stat(p).is_some_and(|s| s.pgrp == group && s.is_alive()))
}

/// The command line of `pid`, or `None` when it is gone or has none (a kernel thread).
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let args = split_cmdline(&std::fs::read(format!("/proc/{pid}/cmdline")).ok()?);
    (!args.is_empty()).then_some(args)
}

/// The executable of `pid` (the kernel hides another user's unless we are root).
pub fn exe(pid: u32) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
}

/// What file descriptor `fd` of `pid` points at (`2`: where its stderr goes).
pub fn fd_target(pid: u32, fd: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()
}

/// The working directory of `pid` (a relative `-f` is relative to it).
pub fn cwd(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// When `pid` started, as the time of its `/proc` entry.
pub fn started(pid: u32) -> Option<std::time::SystemTime> {
    std::fs::metadata(format!("/proc/{pid}"))
        .and_then(|m| m.modified())
        .ok()
}

/// Is this path a Kamailio binary (by name; `(deleted)` after an upgrade is ignored)?
pub fn is_kamailio_program(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(" (deleted)"))
        .is_some_and(|n| PROGRAM_NAMES.contains(&n))
}

/// The Kamailio binary `pid` runs: its executable when the kernel shows it,
/// else its `argv[0]`; `None` when it is not a Kamailio.
fn kamailio_program(pid: u32) -> Option<PathBuf> {
    let program = exe(pid)
        .ok()
        .or_else(|| cmdline(pid).map(|a| PathBuf::from(&a[0])))?;
    is_kamailio_program(&program).then_some(program)
}

/// Every Kamailio main process: a living Kamailio whose parent is not a
/// Kamailio of the same binary (its children are the workers). Ascending.
pub fn kamailio_main_pids() -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&pid| {
            let Some(program) = kamailio_program(pid) else {
                return false;
            };
            if !alive(pid) {
                return false;
            }
            let parent = parent_of(pid).and_then(kamailio_program);
            parent != Some(program)
        })
        .collect()
}

/// UDP sockets held by `pid` (and so by its children, which inherit them).
pub fn owned_udp_addrs(pid: u32) -> Vec<SocketAddr> {
    let mut inodes = Vec::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            if let Ok(target) = std::fs::read_link(e.path()) {
                let t = target.to_string_lossy();
                if let Some(n) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    if let Ok(n) = n.parse::<u64>() {
                        inodes.push(n);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            for (addr, inode) in parse_proc_net_udp(&text) {
                if inodes.contains(&inode) && !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
    }
    // loopback first, IPv4 before IPv6
    out.sort_by_key(|a| (!a.ip().is_loopback(), a.is_ipv6()));
    out
}

/// (local address, inode) of each socket in `/proc/net/udp` or `udp6`.
pub fn parse_proc_net_udp(text: &str) -> Vec<(SocketAddr, u64)> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(inode)) = (f.get(1), f.get(9)) else {
            continue;
        };
        let Some((ip_hex, port_hex)) = local.split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port_hex, 16) else {
            continue;
        };
        let ip = match ip_hex.len() {
            8 => match u32::from_str_radix(ip_hex, 16) {
                Ok(v) => IpAddr::V4(Ipv4Addr::from(v.swap_bytes())),
                Err(_) => continue,
            },
            32 => {
                let mut bytes = [0u8; 16];
                let mut okay = true;
                for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                    match u32::from_str_radix(&ip_hex[i * 8..i * 8 + 8], 16) {
                        Ok(w) => chunk.copy_from_slice(&w.swap_bytes().to_be_bytes()),
                        Err(_) => okay = false,
                    }
                }
                if !okay {
                    continue;
                }
                IpAddr::V6(Ipv6Addr::from(bytes))
            }
            _ => continue,
        };
        let Ok(inode) = inode.parse::<u64>() else {
            continue;
        };
        out.push((SocketAddr::new(ip, port), inode));
    }
    out
}

/// The text of `/proc/PID/cgroup` (which systemd unit runs it).
pub fn cgroup(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()
}

/// The text of `/proc/PID/status` (owner, tracer, capabilities).
pub fn status(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok()
}

/// The text of this process's own `/proc/self/status`.
pub fn self_status() -> Option<String> {
    std::fs::read_to_string("/proc/self/status").ok()
}

/// This process's effective uid: the owner of its `/proc/self` files.
pub fn self_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/status").ok().map(|m| m.uid())
}

/// `kernel.yama.ptrace_scope`; `None` without Yama.
pub fn ptrace_scope() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_the_name() {
        // a real line of /proc/PID/stat, the name changed to hold ") ("
        let text = "7240 (kam ) (ailio) S 1 7240 7240 0 -1 4194560 2331 0 0 0 3 6 0 0 20 0 1 0 1234567 0 0";
        let s = parse_stat(text).unwrap();
        assert_eq!(
            (s.state, s.ppid, s.pgrp, s.start_ticks),
            ('S', 1, 7240, 1234567)
        );
        assert!(s.is_alive());
        assert!(!parse_stat(&text.replace(" S ", " Z ")).unwrap().is_alive());
        assert_eq!(parse_stat("12 (x) S"), None);
    }

    #[test]
    fn this_process_is_alive_and_its_own() {
        let me = std::process::id();
        assert!(alive(me));
        assert!(pids().contains(&me));
        assert_eq!(parent_of(me), Some(std::os::unix::process::parent_id()));
        assert!(cmdline(me).is_some_and(|a| !a.is_empty()));
        assert!(!alive(u32::MAX));
    }

    #[test]
    fn cmdline_and_program_names() {
        assert_eq!(
            split_cmdline(b"/usr/sbin/kamailio\0-f\0/etc/k.cfg\0\0"),
            ["/usr/sbin/kamailio", "-f", "/etc/k.cfg"]
        );
        assert!(is_kamailio_program(Path::new(
            "/usr/sbin/kamailio (deleted)"
        )));
        assert!(is_kamailio_program(Path::new("ser")));
        assert!(!is_kamailio_program(Path::new("/usr/bin/kamcmd")));
    }

    #[test]
    fn proc_net_udp_lines() {
        // Real lines from this machine (kamailio on 127.0.0.1:27060, 0.0.0.0:68).
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  812: 0100007F:69B4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1419207 2 0000000000000000 0\n 1234: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 17 2 0000000000000000 0\n";
        let v = parse_proc_net_udp(text);
        assert_eq!(v[0], ("127.0.0.1:27060".parse().unwrap(), 1419207));
        assert_eq!(v[1], ("0.0.0.0:68".parse().unwrap(), 17));
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000001000000:13C4 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 555 2 0\n";
        assert_eq!(parse_proc_net_udp(v6)[0].0, "[::1]:5060".parse().unwrap());
    }

    proptest::proptest! {
        #[test]
        fn parse_stat_never_panics(s in "\\PC{0,200}") {
            let _ = parse_stat(&s);
        }

        #[test]
        fn parse_proc_net_udp_never_panics(s in "[0-9A-Fa-f: \\n]{0,200}") {
            let _ = parse_proc_net_udp(&s);
        }
    }
}
