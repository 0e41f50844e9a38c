//! Runs of bytes found eight at a time: where a string's plain bytes end, where a number's
//! digits end. Strings and numbers are most of an event's bytes, and most of an event is only
//! checked, not kept, so these two loops are most of the matcher's reading.
//!
//! Each reads eight bytes as a `u64` and flags the bytes that end the run with bit tricks (no
//! `unsafe`, no platform intrinsics). The tricks may also flag bytes after the first true one
//! (a borrow or carry runs upwards), never before it, and only the lowest flag is used.

const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGH: u64 = ONES << 7;

/// Where the run of plain string bytes from `i` ends: at the first `"`, `\`, control character
/// or non-ASCII byte, or at the end of `b`.
pub(super) fn plain_end(b: &[u8], mut i: usize) -> usize {
    // The high bit of each byte of `x` that is zero.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let hits = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
            | (x & HIGH);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if ends_plain(c) {
            break;
        }
        i += 1;
    }
    i
}

fn ends_plain(c: u8) -> bool {
    c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c)
}

/// Where the run of ASCII digits from `i` ends: at the first other byte, or at the end of `b`.
pub(super) fn digits_end(b: &[u8], mut i: usize) -> usize {
    const HIGH_NIBBLES: u64 = ONES * 0xF0;
    const THREES: u64 = ONES * 0x30;
    const LOW7: u64 = ONES * 0x7F;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // A digit is 0x30..=0x39: its high nibble is 3, and still 3 after adding 6. A carry out
        // of a byte (only from 0xFA and above, not a digit) disturbs only the bytes after it.
        let odd =
            ((x & HIGH_NIBBLES) ^ THREES) | ((x.wrapping_add(ONES * 6) & HIGH_NIBBLES) ^ THREES);
        // The high bit of each byte of `odd` that is not zero (exact: no carry between bytes).
        let flagged = (((odd & LOW7) + LOW7) | odd) & HIGH;
        if flagged != 0 {
            return i + (flagged.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    type Scan = fn(&[u8], usize) -> usize;

    fn one_plain(b: &[u8], i: usize) -> usize {
        i + b[i..].iter().take_while(|&&c| !ends_plain(c)).count()
    }

    fn one_digits(b: &[u8], i: usize) -> usize {
        i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count()
    }

    /// The scan and its byte-at-a-time definition agree on `bytes` from `start`.
    fn agree(scan: Scan, one: Scan, bytes: &[u8], start: usize) {
        assert_eq!(
            scan(bytes, start),
            one(bytes, start),
            "{bytes:?} from {start}"
        );
    }

    /// Both agree with a byte-at-a-time loop on random bytes, from every start, with the
    /// ending byte at every offset and every byte value as the one that ends the run.
    #[test]
    fn eight_at_a_time_agrees_with_one_at_a_time() {
        let scans: [(Scan, Scan, u8); 2] =
            [(plain_end, one_plain, b'a'), (digits_end, one_digits, b'7')];
        for (scan, one, filler) in scans {
            for end in 0..=255u8 {
                for at in 0..20 {
                    let mut bytes = vec![filler; 24];
                    bytes[at] = end;
                    for start in 0..=at {
                        agree(scan, one, &bytes, start);
                    }
                }
            }
        }
        let mut rng = fastrand::Rng::with_seed(8);
        for _ in 0..5_000 {
            let len = rng.usize(0..40);
            // Mostly letters or digits, with the odd byte of any value.
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.u8(0..10) {
                    0 => rng.u8(..),
                    1..=4 => rng.u8(b'0'..=b'9'),
                    _ => rng.u8(b'a'..=b'z'),
                })
                .collect();
            for start in 0..=len {
                for (scan, one, _) in scans {
                    agree(scan, one, &bytes, start);
                }
            }
        }
    }
}
