//! Typed records of the RPC answers kmemdbg reads, in one place: kamcmd's
//! `{ key: value }` blocks, `core.psx` (processes), `core.shmmem` (shared
//! memory), `pkg.stats` (kex, private memory per process), `mod.stats all
//! shm` (kex, shared memory per module), `stats.get_statistics NAME`,
//! `core.sockets_list` and kamcmd's `error:` answers.
//!
//! The memory answers (`pkg.stats`, `core.shmmem`, `mod.stats`,
//! `core.psx`) are read by [`crate::memrpc`], the one reader of them; the
//! functions here only turn its figures into the unsigned records the live
//! callers use.
//!
//! Pure: text in, data out; no I/O, never panics (fuzzed below). Callers
//! (`watch`, `triage`, `capture`, `service::suggest`, `size`) ask
//! [`super::Kamcmd`] for the text and read it here, never by hand.

use crate::memrpc::{self, Method};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// One `{ ... }` block of kamcmd output, keys in order of appearance.
pub type Record = BTreeMap<String, String>;

/// A process of the proxy, from `core.psx`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Process {
    pub idx: u32,
    pub pid: u32,
    pub description: String,
}

impl Process {
    /// Receivers only dump pkg memory when they process a SIP message.
    pub fn is_receiver(&self) -> bool {
        self.description.contains("receiver")
    }
}

/// kamcmd prints `error: 500 - command x not found` and exits 0.
pub fn rpc_error(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("error:").map(|e| e.trim().to_string()))
}

/// Parses kamcmd's `{ key: value }` blocks (nested blocks are flattened).
pub fn parse_records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cur: Option<Record> = None;
    let mut depth = 0usize;
    for line in text.lines() {
        let l = line.trim();
        if l.ends_with('{') {
            depth += 1;
            if depth == 1 {
                cur = Some(Record::new());
            }
        } else if l == "}" {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                if let Some(r) = cur.take() {
                    out.push(r);
                }
            }
        } else if let (Some(r), Some((k, v))) = (cur.as_mut(), l.split_once(':')) {
            r.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

/// `core.psx` records as processes (records without a numeric index and
/// PID are skipped), read by [`crate::memrpc`].
pub fn parse_psx(text: &str) -> Vec<Process> {
    memrpc::read_text(text)
        .processes
        .into_iter()
        .filter_map(|p| {
            Some(Process {
                idx: fit(p.index)?,
                pid: fit(Some(p.pid))?,
                description: p.desc,
            })
        })
        .collect()
}

/// One process's private (pkg) memory, from `pkg.stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PkgStat {
    pub pid: u32,
    /// Kamailio's process rank (receivers >= 1, attendant 0, others negative).
    pub rank: i64,
    pub desc: String,
    pub used_bytes: u64,
    /// Used plus the allocator's per-fragment overhead: what runs out.
    pub real_used_bytes: u64,
    pub free_bytes: u64,
    pub total_bytes: u64,
}

/// The shared memory (shm) pool, from `core.shmmem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShmStat {
    pub used_bytes: u64,
    pub real_used_bytes: u64,
    /// Highest `real_used` since the proxy started.
    pub max_used_bytes: u64,
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// `fragments` (all of the pool's fragments), when printed.
    #[serde(skip)]
    pub fragments: Option<u64>,
}

/// Shared memory held by one module, from `mod.stats all shm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModShm {
    pub module: String,
    pub bytes: u64,
}

/// A figure as printed, when it fits (a negative or absurd one does not).
fn fit<T: TryFrom<i128>>(v: Option<i128>) -> Option<T> {
    T::try_from(v?).ok()
}

/// `kamcmd pkg.stats`: one record per process; records without a PID or
/// sizes are skipped. Read by [`crate::memrpc`], the one reader of memory
/// RPC answers.
pub fn parse_pkg_stats(text: &str) -> Vec<PkgStat> {
    memrpc::read_text(text)
        .pools
        .iter()
        .filter(|p| p.method == Method::PkgStats)
        .filter_map(|p| {
            let used_bytes = fit(p.used)?;
            Some(PkgStat {
                pid: fit(p.pid)?,
                rank: fit(p.rank).unwrap_or(0),
                desc: p.desc.clone().unwrap_or_default(),
                used_bytes,
                real_used_bytes: fit(p.real_used).unwrap_or(used_bytes),
                free_bytes: fit(p.free)?,
                total_bytes: fit(p.total)?,
            })
        })
        .collect()
}

/// `kamcmd core.shmmem` (or corex's `shm.stats`): the first record with
/// `total`, `free` and `used`, read by [`crate::memrpc`].
pub fn parse_shmmem(text: &str) -> Option<ShmStat> {
    memrpc::read_text(text).pools.iter().find_map(|p| {
        if p.method != Method::ShmStats {
            return None;
        }
        let used: u64 = fit(p.used)?;
        let real = fit(p.real_used).unwrap_or(used);
        Some(ShmStat {
            used_bytes: used,
            real_used_bytes: real,
            max_used_bytes: fit(p.max_used).unwrap_or(real),
            free_bytes: fit(p.free)?,
            total_bytes: fit(p.total)?,
            fragments: fit(p.fragments),
        })
    })
}

/// `kamcmd mod.stats all shm`: `Module: NAME` followed by a block whose
/// `Total:` line is that module's shm, read by [`crate::memrpc`]. Modules
/// without a total are skipped.
pub fn parse_mod_stats(text: &str) -> Vec<ModShm> {
    memrpc::read_text(text)
        .modules
        .into_iter()
        .filter_map(|b| {
            Some(ModShm {
                module: b.module?,
                bytes: fit(b.total)?,
            })
        })
        .collect()
}

/// `kamcmd stats.get_statistics NAME`: the value of `GROUP:NAME = N`.
pub fn parse_statistic(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        let key = key.trim();
        let short = key.rsplit(':').next().unwrap_or(key);
        (short == name || key == name)
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// The first UDP socket in `core.sockets_list` (pure).
pub fn udp_listen_address(text: &str) -> Option<SocketAddr> {
    // The records are flattened: proto, address, port appear in order.
    let mut proto = None;
    let mut address: Option<String> = None;
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "proto" => {
                proto = Some(v.to_string());
                address = None;
            }
            "address" => address = Some(v.to_string()),
            "port" if proto.as_deref() == Some("udp") => {
                let a = address.as_deref()?;
                let ip = match a {
                    "0.0.0.0" | "*" => "127.0.0.1",
                    "::" | "[::]" => "::1",
                    other => other.trim_start_matches('[').trim_end_matches(']'),
                };
                if let (Ok(ip), Ok(port)) = (ip.parse(), v.parse()) {
                    return Some(SocketAddr::new(ip, port));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `kamcmd core.psx` from Debian's 5.6.3 here.
    const PSX: &str = "{\n\tIDX: 0\n\tPID: 7178\n\tDSC: main process - attendant\n}\n{\n\tIDX: 1\n\tPID: 7181\n\tDSC: udp receiver child=0 sock=127.0.0.1:25090\n}\n{\n\tIDX: 6\n\tPID: 7186\n\tDSC: ctl handler\n}\n";

    #[test]
    fn psx() {
        let p = parse_psx(PSX);
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].pid, 7181);
        assert!(p[1].is_receiver());
        assert!(!p[0].is_receiver());
        assert_eq!(p[2].description, "ctl handler");
    }

    #[test]
    fn shmmem_record() {
        let r = parse_records("{\n\ttotal: 67108864\n\tfree: 66486880\n\tused: 381840\n}\n");
        assert_eq!(r[0]["total"], "67108864");
    }

    #[test]
    fn errors_detected() {
        assert_eq!(
            rpc_error("error: 500 - command no.such not found\n").as_deref(),
            Some("500 - command no.such not found")
        );
        assert_eq!(rpc_error("5\n"), None);
    }

    /// Real `kamcmd pkg.stats` from Debian's 5.6.3 here (first two records).
    const PKG: &str = "{\n\tentry: 0\n\tpid: 15361\n\trank: 0\n\tused: 438392\n\tfree: 3459920\n\treal_used: 734384\n\ttotal_size: 4194304\n\ttotal_frags: 2\n\tdesc: main process - attendant\n}\n{\n\tentry: 1\n\tpid: 15368\n\trank: 1\n\tused: 438576\n\tfree: 3459528\n\treal_used: 734776\n\ttotal_size: 4194304\n\ttotal_frags: 3\n\tdesc: udp receiver child=0 sock=127.0.0.1:25999\n}\n{\n\tentry: 6\n\tpid: 15375\n\trank: -2\n\tused: 444368\n\tfree: 3453944\n\treal_used: 740360\n\ttotal_size: 4194304\n\ttotal_frags: 1\n\tdesc: ctl handler\n}\n";

    /// Real `kamcmd core.shmmem`.
    const SHM: &str = "{\n\ttotal: 33554432\n\tfree: 32923728\n\tused: 390352\n\treal_used: 630704\n\tmax_used: 630704\n\tfragments: 1\n}\n";

    /// Real `kamcmd mod.stats all shm` (abridged: two modules).
    const MODS: &str = "Module: core\n{\n\tcounters_prefork_init(212): 9216\n\tcfg_shmize(217): 384\n\tTotal: 379896\n}\n\nModule: htable\n{\n\tht_init_tables(394): 8192\n\tht_add_table(289): 320\n\tTotal: 8512\n}\n\n";

    #[test]
    fn pkg_stats() {
        let p = parse_pkg_stats(PKG);
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].pid, 15368);
        assert_eq!(p[1].rank, 1);
        assert_eq!(p[1].real_used_bytes, 734776);
        assert_eq!(p[1].desc, "udp receiver child=0 sock=127.0.0.1:25999");
        assert_eq!(p[2].rank, -2);
        assert_eq!(p[0].total_bytes, 4 << 20);
    }

    #[test]
    fn shmmem() {
        let s = parse_shmmem(SHM).unwrap();
        assert_eq!(s.total_bytes, 32 << 20);
        assert_eq!(s.real_used_bytes, 630704);
        assert_eq!(s.max_used_bytes, 630704);
        assert_eq!(parse_shmmem("error: 500 - x\n"), None);
    }

    #[test]
    fn mod_stats() {
        let m = parse_mod_stats(MODS);
        assert_eq!(
            m,
            vec![
                ModShm {
                    module: "core".into(),
                    bytes: 379896
                },
                ModShm {
                    module: "htable".into(),
                    bytes: 8512
                }
            ]
        );
    }

    #[test]
    fn statistic() {
        // Real `kamcmd stats.get_statistics rcv_requests`.
        assert_eq!(
            parse_statistic("core:rcv_requests = 17\n", "rcv_requests"),
            Some(17)
        );
        assert_eq!(
            parse_statistic("core:rcv_requests_ack = 0\n", "rcv_requests"),
            None
        );
    }

    /// Real `kamcmd core.sockets_list` from Debian's 5.6.3 here.
    const SOCKETS: &str = "{\n\tsocket: {\n\t\tproto: udp\n\t\taddress: 127.0.0.1\n\t\tport: 25999\n\t\tmcast: no\n\t\tmhomed: no\n\t\tvirtual: no\n\t}\n}\n";

    #[test]
    fn first_udp_socket() {
        assert_eq!(
            udp_listen_address(SOCKETS),
            Some("127.0.0.1:25999".parse().unwrap())
        );
        let tcp_first = "{\n socket: {\n proto: tcp\n address: 10.0.0.1\n port: 5060\n }\n socket: {\n proto: udp\n address: 0.0.0.0\n port: 5070\n }\n}\n";
        assert_eq!(
            udp_listen_address(tcp_first),
            Some("127.0.0.1:5070".parse().unwrap())
        );
        assert_eq!(udp_listen_address("error: 500\n"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panic(s in "[{}a-zA-Z0-9_:=() \\n\\t-]{0,300}") {
            let _ = parse_pkg_stats(&s);
            let _ = parse_shmmem(&s);
            let _ = parse_mod_stats(&s);
            let _ = parse_statistic(&s, "rcv_requests");
            let _ = parse_psx(&s);
            let _ = parse_records(&s);
            let _ = udp_listen_address(&s);
        }
    }
}
