//! Byte helpers of the log-line reader: digits, blanks, short searches.
//! Pure and panic-free on any input.

#[inline]
pub(super) fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

/// Leading ASCII digits of `s`: (value, digit count). Value saturates.
#[inline]
pub(super) fn digits(s: &[u8]) -> (u64, usize) {
    let mut v: u64 = 0;
    let mut n = 0;
    for &b in s {
        if !is_digit(b) {
            break;
        }
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        n += 1;
    }
    (v, n)
}

#[inline]
pub(super) fn skip_blanks(s: &[u8]) -> &[u8] {
    // dump lines are indented by up to a dozen spaces: skip eight at a time
    let mut i = 0;
    while s.len() >= i + 8 && s[i..i + 8] == *b"        " {
        i += 8;
    }
    let n = s[i..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &s[i + n..]
}

#[inline]
pub(super) fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Position of `byte` in a short `hay`, eight bytes at a time.
#[inline]
pub(super) fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = LOW.wrapping_mul(u64::from(byte));
    let mut i = 0;
    while i + 8 <= hay.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&hay[i..i + 8]);
        let x = u64::from_le_bytes(w) ^ pattern;
        // the lowest byte of x that is zero is the first match (exact for the lowest one)
        let zero = x.wrapping_sub(LOW) & !x & HIGH;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay[i..].iter().position(|&b| b == byte).map(|p| i + p)
}

/// Position of `needle` in `hay` (short needles: memchr on the first byte).
pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    memchr::memchr_iter(first, hay).find(|&i| hay[i + 1..].starts_with(rest))
}
