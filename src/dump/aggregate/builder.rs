//! One dump being assembled: the [`Builder`] that sums a dump's fragments
//! or summary rows per site, and the fast hasher its site maps use. Pure.

use super::*;

// ---------------------------------------------------------------- hashing

/// The Fx hash (rustc's) over a sample of the key: its length, its first 8
/// and its last 16 bytes (sites differ in their ends: function and line).
/// Keys are still compared in full, so a collision only costs a comparison;
/// the keys come from the dump, and a slow path is a slowdown, never a bug.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

/// 8 bytes of `b` from `at` (zero-padded), little-endian.
#[inline]
pub(super) fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    let part = &b[at.min(b.len())..(at + 8).min(b.len())];
    w[..part.len()].copy_from_slice(part);
    u64::from_le_bytes(w)
}

pub(super) const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n <= 24 {
            let mut at = 0;
            while at < n {
                self.add(word(bytes, at));
                at += 8;
            }
        } else {
            self.add(word(bytes, 0));
            self.add(word(bytes, n - 16));
            self.add(word(bytes, n - 8));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(super) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

impl Builder {
    pub(super) fn new(kind: DumpKind, line: u64, headless: bool, ctx: &Ctx) -> Builder {
        Builder {
            pid: ctx.pid,
            process_no: ctx.process_no,
            pool: None,
            pool_from_previous: false,
            kind,
            allocator: ctx.allocator,
            time: ctx.time.map(|t| String::from_utf8_lossy(t).into_owned()),
            first_line: line,
            last_line: line,
            headless,
            listing: false,
            end_seen: false,
            heap: HeapStats::default(),
            sites: FxMap::default(),
            pending: None,
            fragments_without_site: 0,
            bytes_without_site: 0,
            free_fragments: 0,
            free_list: FreeListStats::default(),
            had_fragment: false,
            last_address: Vec::new(),
            last_site: Vec::new(),
            fragment_flagged: false,
            corruption: Vec::new(),
            corruption_total: 0,
        }
    }

    /// An empty builder with the identity of `other` (kind, first line, process).
    pub(super) fn empty_like(other: &Builder) -> Builder {
        let mut b = Builder::new(
            other.kind,
            other.first_line,
            other.headless,
            &Ctx {
                pid: other.pid,
                process_no: other.process_no,
                allocator: other.allocator,
                time: None,
                repeat: 1,
            },
        );
        b.time.clone_from(&other.time);
        b.pool = other.pool;
        b.pool_from_previous = other.pool_from_previous;
        b
    }

    pub(super) fn flush_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            if p.free {
                self.free_fragments += 1;
            } else {
                self.fragments_without_site += 1;
                self.bytes_without_site = self.bytes_without_site.saturating_add(p.size);
            }
        }
    }

    #[inline]
    pub(super) fn add_site(&mut self, site: &[u8], count: u64, bytes: u64) {
        if let Some(acc) = self.sites.get_mut(site) {
            acc.count = acc.count.saturating_add(count);
            acc.bytes = acc.bytes.saturating_add(bytes);
        } else {
            self.sites.insert(site.into(), Acc { count, bytes });
        }
    }

    /// Complete: the end marker, or a short status (mem_summary & 16: header only).
    pub(super) fn complete(&self) -> bool {
        self.end_seen
            || (self.kind == DumpKind::Status
                && !self.listing
                && self.heap.max_used_bytes.is_some())
    }

    pub(super) fn mark(&mut self, line: u64, text: &[u8]) {
        self.corruption_total += 1;
        if self.corruption.len() >= CORRUPTION_KEPT {
            return;
        }
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.corruption.push(Corruption {
            line,
            pid: self.pid,
            address: (!self.last_address.is_empty()).then(|| lossy(&self.last_address)),
            site: (!self.last_site.is_empty()).then(|| lossy(&self.last_site)),
            text: lossy(text),
        });
    }

    /// Applies one dump line (not a line that starts or announces a dump).
    #[inline]
    pub(super) fn apply(&mut self, line_no: u64, body: &Body, repeat: u64) {
        self.last_line = line_no;
        match *body {
            Body::HeapSize(v) => self.heap.size_bytes = Some(v),
            Body::Used {
                used,
                used_overhead,
                free,
            } => {
                self.heap.used_bytes = Some(used);
                self.heap.used_with_overhead_bytes = Some(used_overhead);
                self.heap.free_bytes = Some(free);
            }
            Body::MaxUsed(v) => self.heap.max_used_bytes = Some(v),
            Body::FragmentsBegin => self.listing = true,
            Body::Fragment {
                free,
                address,
                size,
            } => {
                self.listing = true;
                self.flush_pending();
                self.pending = Some(PendingFragment { size, free });
                self.had_fragment = true;
                self.last_address.clear();
                self.last_address.extend_from_slice(address);
                self.last_site.clear();
                self.fragment_flagged = false;
            }
            Body::Site { freed, site } => {
                self.listing = true;
                self.last_site.clear();
                self.last_site.extend_from_slice(site);
                match self.pending.take() {
                    Some(p) if p.free || freed => self.free_fragments += 1,
                    Some(p) => self.add_site(site, repeat, p.size.saturating_mul(repeat)),
                    None if freed => {
                        self.free_fragments = self.free_fragments.saturating_add(repeat)
                    }
                    // a site with no fragment line before it (filtered input): count only
                    None => self.add_site(site, repeat, 0),
                }
            }
            Body::Checks { ok: false, text } if !self.fragment_flagged => {
                self.fragment_flagged = true;
                self.mark(line_no, text);
            }
            Body::Overwritten { text } => {
                if self.fragment_flagged {
                    // the guard-word line already counted this fragment; keep the clearer text
                    if let Some(last) = self.corruption.last_mut() {
                        if last.line + 3 >= line_no {
                            last.text = String::from_utf8_lossy(text).into_owned();
                        }
                    }
                } else {
                    self.fragment_flagged = true;
                    self.mark(line_no, text);
                }
            }
            Body::SumRow { count, size, site } => {
                self.add_site(
                    site,
                    count.saturating_mul(repeat),
                    size.saturating_mul(repeat),
                );
            }
            Body::FreeList => self.flush_pending(),
            Body::FreeBucket { .. } | Body::FreeTotal { .. } => {
                self.flush_pending();
                self.free_list.add(body);
            }
            Body::End => self.end_seen = true,
            _ => {}
        }
    }

    /// Adds what `later` read after this builder's last line (chunked reading).
    pub(super) fn absorb(&mut self, later: Builder) {
        for (site, acc) in later.sites {
            if let Some(a) = self.sites.get_mut(&site) {
                a.count = a.count.saturating_add(acc.count);
                a.bytes = a.bytes.saturating_add(acc.bytes);
            } else {
                self.sites.insert(site, acc);
            }
        }
        let h = later.heap;
        self.heap.size_bytes = h.size_bytes.or(self.heap.size_bytes);
        self.heap.used_bytes = h.used_bytes.or(self.heap.used_bytes);
        self.heap.used_with_overhead_bytes = h
            .used_with_overhead_bytes
            .or(self.heap.used_with_overhead_bytes);
        self.heap.free_bytes = h.free_bytes.or(self.heap.free_bytes);
        self.heap.max_used_bytes = h.max_used_bytes.or(self.heap.max_used_bytes);
        self.listing |= later.listing;
        self.end_seen |= later.end_seen;
        self.fragments_without_site += later.fragments_without_site;
        self.bytes_without_site = self
            .bytes_without_site
            .saturating_add(later.bytes_without_site);
        self.free_fragments = self.free_fragments.saturating_add(later.free_fragments);
        self.free_list.merge(&later.free_list);
        let room = CORRUPTION_KEPT.saturating_sub(self.corruption.len());
        self.corruption
            .extend(later.corruption.into_iter().take(room));
        self.corruption_total += later.corruption_total;
        self.last_line = self.last_line.max(later.last_line);
        if later.had_fragment {
            self.had_fragment = true;
            self.pending = later.pending;
            self.last_address = later.last_address;
            self.last_site = later.last_site;
            self.fragment_flagged = later.fragment_flagged;
        }
    }

    pub(super) fn shift_lines(&mut self, offset: u64) {
        self.first_line += offset;
        self.last_line += offset;
        for c in &mut self.corruption {
            c.line += offset;
        }
    }

    pub(super) fn finish(mut self) -> Snapshot {
        self.flush_pending();
        let complete = self.complete();
        let mut sites: Vec<SiteStat> = self
            .sites
            .into_iter()
            .map(|(k, a)| SiteStat {
                site: parse_site(&k),
                count: a.count,
                bytes: a.bytes,
            })
            .collect();
        sites.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then(b.count.cmp(&a.count))
                .then_with(|| a.site.text.cmp(&b.site.text))
        });
        Snapshot {
            index: 0,
            source: None,
            pid: self.pid,
            process_no: self.process_no,
            pool: self.pool,
            kind: self.kind,
            allocator: self.allocator,
            time: self.time,
            first_line: self.first_line,
            last_line: self.last_line,
            complete,
            lost: false,
            headless: self.headless,
            heap: self.heap,
            total_count: sites.iter().fold(0u64, |t, s| t.saturating_add(s.count)),
            total_bytes: sites.iter().fold(0u64, |t, s| t.saturating_add(s.bytes)),
            fragments_without_site: self.fragments_without_site,
            bytes_without_site: self.bytes_without_site,
            free_fragments: self.free_fragments,
            sites,
            corruption: self.corruption,
            corruption_total: self.corruption_total,
            free_list: self.free_list,
        }
    }
}
