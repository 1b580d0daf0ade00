//! Streams a log (file, pipe, captured output) into an [`Aggregator`]:
//! the only part of `dump` that does I/O, and it only reads.
//!
//! A regular file is cut at line boundaries into one part per core; each
//! part is read in fixed-size blocks and parsed on its own thread, and the
//! parts are joined in order (the result is the same as reading it all in
//! one go; see [`Aggregator::join`]). A pipe is read by one thread while
//! another parses. Either way memory stays the same for 1 kB or 50 GB of
//! input: a few blocks per thread. Lines are split with `memchr` and parsed
//! in place (no allocation per line). A line longer than [`MAX_LINE_BYTES`]
//! is skipped and counted, never buffered whole.

use super::{Aggregator, DumpLog};
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc;

/// Size of one read block.
pub const BLOCK_BYTES: usize = 1 << 20;
/// Blocks in flight between the reader and the parser.
const BLOCKS_IN_FLIGHT: usize = 4;
/// Longest line that is parsed; longer ones are counted as unreadable.
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// Files smaller than this are read by one thread.
pub const PARALLEL_MIN_BYTES: u64 = 8 << 20;
/// At most this many threads read one file.
pub const MAX_THREADS: usize = 4;

/// Splits blocks into lines, carrying a partial line from one block to the next.
struct LineSplitter {
    agg: Aggregator,
    carry: Vec<u8>,
    /// Inside a line that is longer than MAX_LINE_BYTES: its length so far.
    skipping: Option<u64>,
}

impl LineSplitter {
    fn new(agg: Aggregator) -> LineSplitter {
        LineSplitter {
            agg,
            carry: Vec::new(),
            skipping: None,
        }
    }

    fn block(&mut self, mut data: &[u8]) {
        // finish the line carried over from the previous block
        if self.skipping.is_some() || !self.carry.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.tail(&data[..i]);
                    self.end_line();
                    data = &data[i + 1..];
                }
                None => {
                    self.tail(data);
                    return;
                }
            }
        }
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            self.agg.feed(&data[start..nl]);
            start = nl + 1;
        }
        self.tail(&data[start..]);
    }

    /// Adds the start of a line whose end is in a later block.
    fn tail(&mut self, part: &[u8]) {
        if part.is_empty() {
            return;
        }
        if let Some(n) = &mut self.skipping {
            *n += part.len() as u64;
            return;
        }
        if self.carry.len() + part.len() > MAX_LINE_BYTES {
            self.skipping = Some((self.carry.len() + part.len()) as u64);
            self.carry = Vec::new();
            return;
        }
        self.carry.extend_from_slice(part);
    }

    fn end_line(&mut self) {
        if let Some(n) = self.skipping.take() {
            self.agg.feed_overlong(n);
        } else {
            self.agg.feed(&self.carry);
            self.carry.clear();
            if self.carry.capacity() > 4 * BLOCK_BYTES {
                self.carry = Vec::new();
            }
        }
    }

    fn finish(mut self) -> Aggregator {
        if let Some(n) = self.skipping.take() {
            self.agg.feed_overlong(n);
        } else if !self.carry.is_empty() {
            // the last line has no newline: the input may stop inside it
            self.agg.feed_unterminated(&self.carry);
        }
        self.agg
    }
}

/// Reads everything from `reader` and returns the dumps in it.
pub fn read_snapshots<R: Read + Send>(reader: R) -> io::Result<DumpLog> {
    read_into(reader, Aggregator::new()).map(Aggregator::finish)
}

/// Feeds everything from `reader` into `agg` (which may already hold lines).
pub fn read_into<R: Read + Send>(reader: R, agg: Aggregator) -> io::Result<Aggregator> {
    read_into_blocks(reader, agg, BLOCK_BYTES)
}

fn read_into_blocks<R: Read + Send>(
    mut reader: R,
    agg: Aggregator,
    block_bytes: usize,
) -> io::Result<Aggregator> {
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(BLOCKS_IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(BLOCKS_IN_FLIGHT + 1);
    for _ in 0..BLOCKS_IN_FLIGHT {
        // cannot fail: the channel has room for every buffer and the receiver is alive
        let _ = empty_tx.send(vec![0u8; block_bytes.max(1)]);
    }
    std::thread::scope(|scope| {
        let reader_thread = scope.spawn(move || -> io::Result<()> {
            while let Ok(mut buf) = empty_rx.recv() {
                let mut filled = 0;
                // fill the block (short reads from pipes), stop at end of input
                while filled < buf.len() {
                    match reader.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                // a short block is followed by an empty one at end of input
                if filled == 0 || full_tx.send((buf, filled)).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        });
        let mut split = LineSplitter::new(agg);
        for (buf, len) in full_rx.iter() {
            split.block(&buf[..len]);
            // the reader may have finished already: then the buffer is just dropped
            let _ = empty_tx.send(buf);
        }
        let agg = split.finish();
        match reader_thread.join() {
            Ok(Ok(())) => Ok(agg),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the reader thread stopped unexpectedly")),
        }
    })
}

/// Reads a file: in parallel parts when it is a large regular file.
pub fn read_file(file: &File) -> io::Result<DumpLog> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS);
    read_file_with(file, threads, PARALLEL_MIN_BYTES)
}

/// [`read_file`] with `threads` parts for files of at least `min_bytes`.
fn read_file_with(file: &File, threads: usize, min_bytes: u64) -> io::Result<DumpLog> {
    let meta = file.metadata()?;
    if !meta.is_file() || threads < 2 || meta.len() < min_bytes {
        return read_snapshots(file);
    }
    let parts = split_points(file, meta.len(), threads)?;
    let results: Vec<io::Result<Aggregator>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| {
                scope.spawn(move || {
                    let agg = if i == 0 {
                        Aggregator::new()
                    } else {
                        Aggregator::new_chunk()
                    };
                    read_range(file, start, end, agg)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(io::Error::other("a reader thread stopped unexpectedly"))
                })
            })
            .collect()
    });
    let mut results = results.into_iter();
    let mut whole = match results.next() {
        Some(first) => first?,
        None => Aggregator::new(),
    };
    for (result, &(start, end)) in results.zip(parts.iter().skip(1)) {
        if whole.join(result?).is_err() {
            // this part could not be joined exactly: read it again, in order
            whole = read_range(file, start, end, whole)?;
        }
    }
    Ok(whole.finish())
}

/// Cuts `0..len` into up to `n` parts that start at line beginnings
/// (also `scan`'s parts: [`crate::scan::input`]).
pub fn split_points(file: &File, len: u64, n: usize) -> io::Result<Vec<(u64, u64)>> {
    let mut cuts = vec![0u64];
    let mut buf = vec![0u8; 64 << 10];
    for k in 1..n as u64 {
        let mut pos = (len * k / n as u64).max(*cuts.last().unwrap_or(&0));
        // the part starts after the first newline at or after pos - 1
        pos = pos.saturating_sub(1);
        let cut = loop {
            let got = file.read_at(&mut buf, pos)?;
            if got == 0 {
                break len;
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..got]) {
                break pos + i as u64 + 1;
            }
            pos += got as u64;
        };
        if cut >= len || cut <= *cuts.last().unwrap_or(&0) {
            continue;
        }
        cuts.push(cut);
    }
    let mut parts = Vec::with_capacity(cuts.len());
    for (i, &start) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).copied().unwrap_or(len);
        parts.push((start, end));
    }
    Ok(parts)
}

/// Feeds the lines of `start..end` (which begins at a line start) into `agg`.
fn read_range(file: &File, start: u64, end: u64, agg: Aggregator) -> io::Result<Aggregator> {
    let mut buf = vec![0u8; BLOCK_BYTES];
    let mut split = LineSplitter::new(agg);
    let mut pos = start;
    while pos < end {
        let want = ((end - pos) as usize).min(buf.len());
        let got = match file.read_at(&mut buf[..want], pos) {
            Ok(0) => break, // the file shrank while being read
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        split.block(&buf[..got]);
        pos += got as u64;
    }
    Ok(split.finish())
}

/// Reads the file at `path` (`-` for standard input), with errors that name it.
pub fn read_path(path: &Path) -> Result<DumpLog> {
    let shown = path.display();
    let mut log = if path.as_os_str() == "-" {
        read_snapshots(io::stdin()).context("cannot read standard input")?
    } else {
        if path.is_dir() {
            anyhow::bail!("{shown}: is a directory; pass the log file that holds the dump");
        }
        let file = File::open(path)
            .with_context(|| format!("{shown}: cannot open (does it exist, is it readable?)"))?;
        read_file(&file).with_context(|| format!("{shown}: read error"))?
    };
    log.set_source(&path.display().to_string());
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `n` bytes per call (like a pipe).
    struct Trickle<'a> {
        data: &'a [u8],
        n: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let k = self.n.min(buf.len()).min(self.data.len());
            buf[..k].copy_from_slice(&self.data[..k]);
            self.data = &self.data[k..];
            Ok(k)
        }
    }

    const SUMS: &str = " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:
 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/sr_module.c: fix_param(1144)
 1(7240) ALERT: qm_sums: qm_sums():  count=    40 size=    327680 bytes from core: core/pvapi.c: pv_init_buffer(2139)
 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------
";

    #[test]
    fn same_result_whatever_the_block_sizes() {
        let text = SUMS.repeat(300);
        let whole = super::super::aggregate::aggregate_text(text.as_bytes());
        for n in [1usize, 7, 100, 4093] {
            let mut split = LineSplitter::new(Aggregator::new());
            for block in text.as_bytes().chunks(n) {
                split.block(block);
            }
            let got = split.finish().finish();
            assert_eq!(
                format!("{got:?}"),
                format!("{whole:?}"),
                "blocks of {n} bytes"
            );
        }
        // through the reader thread, in small blocks, from a reader that returns little at a time
        let got = read_into_blocks(
            Trickle {
                data: text.as_bytes(),
                n: 1001,
            },
            Aggregator::new(),
            4096,
        )
        .expect("read")
        .finish();
        assert_eq!(format!("{got:?}"), format!("{whole:?}"), "reader thread");
        assert_eq!(got.snapshots.len(), 300);
        assert!(got
            .snapshots
            .iter()
            .all(|s| s.complete && s.total_bytes == 327792));
    }

    #[test]
    fn parallel_parts_give_the_same_result_as_one_pass() {
        use crate::dump::generate::{generate, Layout, LinePrefix, Spec};
        let dir = tempfile::tempdir().expect("tempdir");
        for (layout, processes) in [
            (Layout::QmStatus5, 3),
            (Layout::QmSums5, 2),
            (Layout::QmStatus3, 1),
        ] {
            let path = dir.path().join("dump.log");
            let spec = Spec {
                layout,
                prefix: LinePrefix::Stderr,
                size_bytes: 150_000,
                dumps: 3,
                processes,
                sites: 50,
                leak: 7,
                ..Spec::default()
            };
            let mut out = std::io::BufWriter::new(File::create(&path).expect("create"));
            generate(&spec, &mut out).expect("generate");
            drop(out);
            let file = File::open(&path).expect("open");
            let one = read_snapshots(&file).expect("one pass");
            for n in [2, 3, 4] {
                let len = file.metadata().expect("meta").len();
                let parts = split_points(&file, len, n).expect("split");
                let mut whole =
                    read_range(&file, parts[0].0, parts[0].1, Aggregator::new()).expect("part");
                for &(a, b) in &parts[1..] {
                    let chunk = read_range(&file, a, b, Aggregator::new_chunk()).expect("part");
                    assert!(
                        whole.join(chunk).is_ok(),
                        "{layout:?}: generated dumps join exactly"
                    );
                }
                let parallel = whole.finish();
                assert_eq!(
                    format!("{:?}", parallel),
                    format!("{:?}", one),
                    "{layout:?} in {n} parts"
                );
                let threaded = read_file_with(&file, n, 0).expect("threads");
                assert_eq!(
                    format!("{threaded:?}"),
                    format!("{one:?}"),
                    "{layout:?} on {n} threads"
                );
            }
        }
    }

    #[test]
    fn crlf_and_missing_final_newline() {
        let text = SUMS.replace('\n', "\r\n");
        let text = text.trim_end();
        let log = read_snapshots(text.as_bytes()).expect("read");
        assert_eq!(log.snapshots.len(), 1);
        assert!(log.snapshots[0].complete);
        assert_eq!(log.lines.lines, 4);
    }

    #[test]
    fn overlong_line_is_skipped_not_buffered() {
        let mut text = SUMS.as_bytes().to_vec();
        text.extend(vec![b'x'; MAX_LINE_BYTES + 10]);
        text.push(b'\n');
        text.extend_from_slice(SUMS.as_bytes());
        let log = read_snapshots(&text[..]).expect("read");
        assert_eq!(log.lines.overlong_lines, 1);
        assert_eq!(log.lines.unreadable_lines, 1);
        assert_eq!(log.snapshots.len(), 2);
        assert!(log.lines.unreadable_samples[0].text.contains("too long"));
    }

    #[test]
    fn one_megabyte_line_is_read() {
        let mut text = " 1(7240) ALERT: qm_sums: qm_sums(): summarizing all alloc'ed. fragments:\n"
            .to_string();
        let long_site = "x".repeat(1 << 20);
        text.push_str(&format!(
            " 1(7240) ALERT: qm_sums: qm_sums():  count=     2 size=       112 bytes from core: core/{long_site}.c: f(1)\n"
        ));
        text.push_str(" 1(7240) ALERT: qm_sums: qm_sums(): -----------------------------\n");
        let log = read_snapshots(text.as_bytes()).expect("read");
        assert_eq!(log.snapshots.len(), 1);
        assert_eq!(log.snapshots[0].total_bytes, 112);
        assert_eq!(log.lines.overlong_lines, 0);
    }

    #[test]
    fn empty_input() {
        let log = read_snapshots(&b""[..]).expect("read");
        assert_eq!(log.lines.lines, 0);
        assert!(log.snapshots.is_empty());
    }
}
