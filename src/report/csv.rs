//! `watch --csv`: every sample as rows of one long table, one row per pool
//! (shm, each process's pkg, each module's shm) and moment. Pure: returns
//! the text; the caller writes it.
//!
//! Columns: `elapsed_s,unix_ms,pool,pid,rank,desc,used_bytes,real_used_bytes,free_bytes,total_bytes`
//! (`pool` is `shm`, `pkg` or `module`; for `module` rows `desc` is the
//! module name and only `used_bytes` is known).

use crate::watch::Sample;
use std::fmt::Write;

pub const HEADER: &str =
    "elapsed_s,unix_ms,pool,pid,rank,desc,used_bytes,real_used_bytes,free_bytes,total_bytes";

/// The rows of one sample (no header).
pub fn rows(s: &Sample) -> String {
    let mut out = String::new();
    let t = format!("{:.3},{}", s.elapsed_s, s.unix_ms);
    let _ = writeln!(
        out,
        "{t},shm,,,,{},{},{},{}",
        s.shm.used_bytes, s.shm.real_used_bytes, s.shm.free_bytes, s.shm.total_bytes
    );
    for p in &s.pkg {
        let _ = writeln!(
            out,
            "{t},pkg,{},{},{},{},{},{},{}",
            p.pid,
            p.rank,
            field(&p.desc),
            p.used_bytes,
            p.real_used_bytes,
            p.free_bytes,
            p.total_bytes
        );
    }
    for m in &s.mods {
        let _ = writeln!(out, "{t},module,,,{},{},,,", field(&m.module), m.bytes);
    }
    out
}

/// Header plus every sample.
pub fn render(samples: &[Sample]) -> String {
    let mut out = format!("{HEADER}\n");
    for s in samples {
        out.push_str(&rows(s));
    }
    out
}

/// RFC 4180 quoting when needed.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::{ModShm, PkgStat, ShmStat};

    #[test]
    fn rows_and_quoting() {
        let s = Sample {
            elapsed_s: 1.5,
            unix_ms: 1700000000000,
            shm: ShmStat {
                used_bytes: 10,
                real_used_bytes: 20,
                max_used_bytes: 20,
                free_bytes: 80,
                total_bytes: 100,
                fragments: None,
            },
            pkg: vec![PkgStat {
                pid: 7,
                rank: 1,
                desc: "udp receiver child=0 sock=127.0.0.1:5060, \"x\"".into(),
                used_bytes: 1,
                real_used_bytes: 2,
                free_bytes: 3,
                total_bytes: 4,
            }],
            mods: vec![ModShm {
                module: "htable".into(),
                bytes: 99,
            }],
            rcv_requests: None,
        };
        let text = render(&[s]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert_eq!(lines[1], "1.500,1700000000000,shm,,,,10,20,80,100");
        assert_eq!(
            lines[2],
            "1.500,1700000000000,pkg,7,1,\"udp receiver child=0 sock=127.0.0.1:5060, \"\"x\"\"\",1,2,3,4"
        );
        assert_eq!(lines[3], "1.500,1700000000000,module,,,htable,99,,,");
        for l in &lines[1..] {
            // Every row has the header's 10 columns (outside quotes).
            let mut n = 1;
            let mut q = false;
            for c in l.chars() {
                match c {
                    '"' => q = !q,
                    ',' if !q => n += 1,
                    _ => {}
                }
            }
            assert_eq!(n, 10, "{l}");
        }
    }
}
