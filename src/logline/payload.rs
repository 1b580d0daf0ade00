//! What an allocator's message says: status and summary dumps of q_malloc /
//! f_malloc (headers, fragments, `alloc'd from`, check words, sums, end
//! markers, pool headings), per-allocation debug lines and corruption
//! reports. Pure: the message (prefix already stripped) in, a [`Body`] out.
//! Never panics.

use super::bytes::{digits, find, find_byte, skip_blanks, trim_end};
use super::prefix::Prefix;
use super::Body;
use crate::mem::{Allocator, Pool};

#[inline]
pub(super) fn after<'a>(s: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
    s.strip_prefix(word)
}

/// `= N` / `=N` / `= N,` : the number after optional blanks, however wide
/// (a count wider than its printf field has no blank before it). Markdown
/// bold around it (`= **12**`, as pasted into an issue) is skipped.
#[inline]
pub(super) fn number_after(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut t = skip_blanks(s);
    let bold = t.starts_with(b"**");
    if bold {
        t = &t[2..];
    }
    let (v, n) = digits(t);
    let mut rest = &t[n..];
    if bold {
        rest = rest.strip_prefix(b"**").unwrap_or(rest);
    }
    (n > 0 && n <= 20).then_some((v, rest))
}

/// The hex word at the start of `s` (after blanks): (value, rest).
pub(super) fn hex_after(s: &[u8]) -> Option<(u64, &[u8])> {
    let t = skip_blanks(s);
    let n = t.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if n == 0 || n > 16 {
        return None;
    }
    let v = t[..n].iter().fold(0u64, |v, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        (v << 4) | u64::from(d)
    });
    Some((v, &t[n..]))
}

pub(super) fn classify<'a>(
    s: &'a [u8],
    prefix: &Prefix<'a>,
    loc_file: Option<&'a [u8]>,
) -> Body<'a> {
    let m = skip_blanks(s);
    if loc_file.is_none() {
        // the common case: a dump line
        if let Some(body) = dump_message(m, prefix) {
            return body;
        }
    }
    let bug = prefix.level == Some(&b"BUG"[..]);
    let fallback = || {
        if prefix.log_line {
            Body::OtherLog
        } else {
            Body::Unreadable
        }
    };
    // per-allocation debug lines come from the allocator's own source file
    if let Some(file) = loc_file {
        if is_allocator_file(file) {
            if let Some(body) = out_of_memory(m) {
                return body;
            }
            return if is_corruption_message(m, bug) {
                Body::Corruption { text: trim_end(m) }
            } else if let Some(body) = dump_message(m, prefix) {
                body
            } else {
                Body::AllocDebug
            };
        }
    }
    if loc_file.is_some() {
        if let Some(body) = dump_message(m, prefix) {
            return body;
        }
    }
    if let Some(body) = out_of_memory(m) {
        return body;
    }
    if is_alloc_debug(m) {
        return Body::AllocDebug;
    }
    if is_corruption_message(m, bug) {
        return Body::Corruption { text: trim_end(m) };
    }
    // A line with no recognised prefix that is only the continuation of
    // a multi-line message ("\t\t bucket size: ..." after "hash= ..").
    fallback()
}

pub(super) fn is_allocator_file(file: &[u8]) -> bool {
    let name = match file.iter().rposition(|&b| b == b'/') {
        Some(i) => &file[i + 1..],
        None => file,
    };
    matches!(
        name,
        b"q_malloc.c" | b"f_malloc.c" | b"tlsf_malloc.c" | b"sf_malloc.c" | b"ll_malloc.c"
    )
}

pub(super) fn is_alloc_debug(m: &[u8]) -> bool {
    const WORDS: [&[u8]; 12] = [
        b"qm_malloc(",
        b"qm_free(",
        b"qm_realloc(",
        b"fm_malloc(",
        b"fm_free(",
        b"fm_realloc(",
        b"qm_free: freeing frag.",
        b"fm_free: freeing block",
        b"qm_realloc: ",
        b"fm_realloc: ",
        b"freeing frag. ",
        b"realloc'ing frag ",
    ];
    WORDS.iter().any(|w| m.starts_with(w))
}

pub(super) fn is_corruption_message(m: &[u8], level_is_bug: bool) -> bool {
    let head = &m[..m.len().min(400)];
    (level_is_bug || find(head, b"BUG").is_some())
        && (find(head, b"overwritten").is_some()
            || find(head, b"already freed").is_some()
            || find(head, b"bad pointer").is_some()
            || find(head, b"different free frag").is_some()
            // q_malloc's checks all say "fragm. 0x.. (address 0x..)": also
            // `bad size`, `does not match`, and a line wrapped before its verb
            || (find(head, b"fragm. ").is_some() && find(head, b"(address ").is_some()))
}

/// The dump messages, dispatched on the first byte.
pub(super) fn dump_message<'a>(m: &'a [u8], prefix: &Prefix<'a>) -> Option<Body<'a>> {
    let first = *m.first()?;
    match first {
        b'0'..=b'9' => fragment(m),
        b'a' => after(m, b"alloc'd from ").map(|site| Body::Site {
            freed: false,
            site: trim_end(site),
        }),
        b'f' => {
            if let Some(site) = after(m, b"freed from ") {
                return Some(Body::Site {
                    freed: true,
                    site: trim_end(site),
                });
            }
            after(m, b"fm_status (").and_then(|r| {
                looks_like_block(r).then_some(Body::StatusStart {
                    allocator: Some(Allocator::Fm),
                })
            })
        }
        b'q' => after(m, b"qm_status (").and_then(|r| {
            looks_like_block(r).then_some(Body::StatusStart {
                allocator: Some(Allocator::Qm),
            })
        }),
        b'(' => {
            // 4.x/5.x: "qm_status: (0x7f52..):" (only after the allocator prefix)
            let alloc = prefix.allocator?;
            looks_like_block(&m[1..]).then_some(Body::StatusStart {
                allocator: Some(alloc),
            })
        }
        b'b' => {
            if let Some(r) = after(m, b"block address: ") {
                return looks_like_block(r).then_some(Body::StatusStart { allocator: None });
            }
            after(m, b"bucket size:").map(|r| bucket(r).unwrap_or(Body::FreeList))
        }
        b'h' => {
            if let Some(r) = after(m, b"heap size=") {
                return number_after(r).map(|(v, _)| Body::HeapSize(v));
            }
            if !(m.starts_with(b"hash=") || m.starts_with(b"hash =")) {
                return None;
            }
            // f_malloc joins the bucket line to the hash line (`#012#011#011` in rsyslog)
            Some(
                find(m, b"bucket size:")
                    .and_then(|at| bucket(&m[at + 12..]))
                    .unwrap_or(Body::FreeList),
            )
        }
        b'u' => {
            if let Some(r) = after(m, b"used=") {
                let (used, r) = number_after(r)?;
                let r = after(r, b", used+overhead=")?;
                let (used_overhead, r) = number_after(r)?;
                let r = after(r, b", free=")?;
                let (free, _) = number_after(r)?;
                return Some(Body::Used {
                    used,
                    used_overhead,
                    free,
                });
            }
            m.starts_with(b"unused fragm.").then_some(Body::FreeList)
        }
        b'm' => after(m, b"max used (+overhead)=")
            .and_then(number_after)
            .map(|(v, _)| Body::MaxUsed(v)),
        b'd' => {
            if m.starts_with(b"dumping all alloc'ed. fragments") {
                Some(Body::FragmentsBegin)
            } else if m.starts_with(b"dumping free list") {
                Some(Body::FreeList)
            } else {
                None
            }
        }
        b's' => {
            if let Some(r) = after(m, b"start check=") {
                return Some(checks(r, m));
            }
            if m.starts_with(b"summarizing all alloc'ed. fragments") {
                return Some(Body::SumsStart {
                    allocator: prefix.allocator,
                });
            }
            None
        }
        b'*' => {
            let r = skip_blanks(&m[1..]);
            (r.starts_with(b"beginning overwritten") || r.starts_with(b"end overwritten"))
                .then(|| Body::Overwritten { text: trim_end(m) })
        }
        b'c' => sum_row(m),
        b'-' => {
            if m.starts_with(b"--- allocated fragments") {
                return Some(Body::FragmentsBegin);
            }
            if m.starts_with(b"--- dumping free list") {
                return Some(Body::FreeList);
            }
            let dashes = m.iter().take_while(|&&b| b == b'-').count();
            (dashes >= 20 && trim_end(&m[dashes..]).is_empty()).then_some(Body::End)
        }
        b'T' => after(m, b"TOTAL:").map(|r| free_total(r).unwrap_or(Body::FreeList)),
        b'M' => pool_header(m),
        // tlsf_sums: "pool (0x7f1a3eec1000) summarizing all alloc'ed. fragments:"
        b'p' => after(m, b"pool (").and_then(|r| {
            let close = find(r, b") summarizing all alloc'ed. fragments")?;
            looks_like_block(&r[..close]).then_some(Body::SumsStart {
                allocator: prefix.allocator,
            })
        }),
        _ => None,
    }
}

/// `0x7f..):` / `(nil)):` / `0x..` (the heap block address).
pub(super) fn looks_like_block(r: &[u8]) -> bool {
    r.starts_with(b"0x") || r.starts_with(b"(nil)") || r.starts_with(b"nil")
}

/// `12. N  address=0x.. frag=0x.. size=N used=1`
pub(super) fn fragment(m: &[u8]) -> Option<Body<'_>> {
    let n = m.iter().take(20).take_while(|b| b.is_ascii_digit()).count();
    let r = m[n..].strip_prefix(b".")?;
    let r = skip_blanks(r);
    let flag = *r.first()?;
    if !matches!(flag, b'N' | b'A' | b'a') {
        return None;
    }
    let r = skip_blanks(&r[1..]);
    let r = after(r, b"address=")?;
    let end = find_byte(r, b' ').unwrap_or(r.len());
    let address = &r[..end];
    let r = &r[end..];
    // " frag=0x.. size=N": the word after the next blank, or "size=" a little further
    let size_at = match r.strip_prefix(b" frag=") {
        Some(f) => match find_byte(f, b' ') {
            Some(sp) if f[sp + 1..].starts_with(b"size=") => r.len() - f.len() + sp + 6,
            _ => find(&r[..r.len().min(64)], b"size=")? + 5,
        },
        None => find(&r[..r.len().min(64)], b"size=")? + 5,
    };
    let (size, _) = number_after(&r[size_at..])?;
    Some(Body::Fragment {
        free: flag != b'N',
        address,
        size,
    })
}

/// `start check=f0f0f0f0, end check= c0c0c0c0, abcdefed`
pub(super) fn checks<'a>(r: &'a [u8], whole: &'a [u8]) -> Body<'a> {
    if trim_end(r) == b"f0f0f0f0, end check= c0c0c0c0, abcdefed" {
        return Body::Checks {
            ok: true,
            text: trim_end(whole),
        };
    }
    let parsed = (|| {
        let (start, r) = hex_after(r)?;
        let r = after(r, b", end check=")?;
        let (end1, r) = hex_after(r)?;
        let r = after(r, b",")?;
        let (end2, _) = hex_after(r)?;
        Some((start, end1, end2))
    })();
    // a line cut short (log truncated mid-line) proves nothing: only values
    // that were read and differ from the guard patterns are damage
    let ok = parsed.map_or(true, |v| v == (0xf0f0_f0f0, 0xc0c0_c0c0, 0xabcd_efed));
    Body::Checks {
        ok,
        text: trim_end(whole),
    }
}

/// `count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)`
pub(super) fn sum_row(m: &[u8]) -> Option<Body<'_>> {
    let r = after(m, b"count=")?;
    let (count, r) = number_after(r)?;
    let r = after(skip_blanks(r), b"size=")?;
    let (size, r) = number_after(r)?;
    let r = after(skip_blanks(r), b"bytes from ")?;
    Some(Body::SumRow {
        count,
        size,
        site: trim_end(r),
    })
}

/// `Memory status (shm)`, `Memory still-in-use summary (pkg) of process 7240:`
pub(super) fn pool_header(m: &[u8]) -> Option<Body<'_>> {
    let (r, summary) = if let Some(r) = after(m, b"Memory status (") {
        (r, false)
    } else {
        (after(m, b"Memory still-in-use summary (")?, true)
    };
    let pool = if r.starts_with(b"pkg)") {
        Pool::Pkg
    } else if r.starts_with(b"shm)") {
        Pool::Shm
    } else {
        return None;
    };
    let of_pid = after(&r[4..], b" of process ")
        .and_then(number_after)
        .and_then(|(v, _)| u32::try_from(v).ok());
    Some(Body::PoolHeader {
        pool,
        summary,
        of_pid,
    })
}

/// The messages of a failed allocation (read from q_malloc.c, f_malloc.c,
/// tlsf_malloc.c and the PKG_MEM_ERROR / SHM_MEM_ERROR macros of 5.x and
/// 6.x, and the wordings modules print).
pub(super) fn out_of_memory(m: &[u8]) -> Option<Body<'_>> {
    let head = &m[..m.len().min(600)];
    // the allocator's own: "qm_find_free(0x.., 192); Free fragment not found!"
    if find(head, b"Free fragment not found").is_some()
        || find(head, b"No more free blocks").is_some()
    {
        let size = find_byte(head, b',')
            .and_then(|c| number_after(&head[c + 1..]))
            .map(|(v, _)| v);
        let site = find(head, b" called from ").map(|at| {
            let r = &head[at + 13..];
            let end = find(r, b", module:")
                .or_else(|| find_byte(r, b';'))
                .unwrap_or(r.len());
            trim_end(&r[..end])
        });
        return Some(Body::OutOfMemory {
            pool: None,
            size,
            site,
        });
    }
    const PKG: [&[u8]; 6] = [
        b"could not allocate private memory from pkg pool",
        b"no more pkg memory",
        b"no more pkg",
        b"no private memory left",
        b"out of pkg memory",
        b"not enough pkg memory",
    ];
    const SHM: [&[u8]; 6] = [
        b"could not allocate shared memory from shm pool",
        b"no more shm memory",
        b"no more shm",
        b"no shared memory left",
        b"out of shm memory",
        b"not enough shm memory",
    ];
    const ANY: [&[u8]; 4] = [
        b"mem. allocation failure",
        b"cannot allocate memory",
        b"no more memory",
        b"out of memory",
    ];
    let pool = if PKG.iter().any(|w| find(head, w).is_some()) {
        Some(Pool::Pkg)
    } else if SHM.iter().any(|w| find(head, w).is_some()) {
        Some(Pool::Shm)
    } else if ANY.iter().any(|w| find(head, w).is_some()) {
        None
    } else {
        return None;
    };
    Some(Body::OutOfMemory {
        pool,
        size: None,
        site: None,
    })
}

/// `  576 -  576 (first  576)` after `bucket size:`.
pub(super) fn bucket(r: &[u8]) -> Option<Body<'static>> {
    let (_, r) = number_after(r)?;
    let r = after(skip_blanks(r), b"-")?;
    let (high, r) = number_after(r)?;
    let r = after(skip_blanks(r), b"(first")?;
    let (first, _) = number_after(r)?;
    Some(Body::FreeBucket { high, first })
}

/// `    84 free fragments = 7143520 free bytes` after `TOTAL:`.
pub(super) fn free_total(r: &[u8]) -> Option<Body<'static>> {
    let (fragments, r) = number_after(r)?;
    let r = after(skip_blanks(r), b"free fragments")?;
    let r = after(skip_blanks(r), b"=")?;
    let (bytes, r) = number_after(r)?;
    after(skip_blanks(r), b"free bytes")?;
    Some(Body::FreeTotal { fragments, bytes })
}
