//! Java's "modified UTF-8", the string encoding of every OpenWire string (`DataOutput.writeUTF`,
//! ActiveMQ's `writeUTF8`): UTF-16 code units encoded one by one, so a character outside the
//! Basic Multilingual Plane becomes two 3-byte surrogates, and NUL becomes `C0 80`.
//!
//! Decoding is lenient, as a consumer must be: a malformed sequence becomes U+FFFD instead of
//! failing the whole message.

use bytes::BufMut;

/// The encoded length of `s`.
pub(crate) fn encoded_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0 => 2,
            1..=0x7f => 1,
            0x80..=0x7ff => 2,
            0x800..=0xffff => 3,
            _ => 6,
        })
        .sum()
}

/// Append `s` in modified UTF-8.
pub(crate) fn encode_into<B: BufMut>(s: &str, out: &mut B) {
    if !s.bytes().any(|b| b == 0 || b >= 0xf0) {
        // Plain UTF-8 without NUL or 4-byte sequences is already modified UTF-8.
        out.put_slice(s.as_bytes());
        return;
    }
    let mut units = [0u16; 2];
    for c in s.chars() {
        for &u in c.encode_utf16(&mut units).iter() {
            push_unit(u, out);
        }
    }
}

fn push_unit<B: BufMut>(u: u16, out: &mut B) {
    match u {
        1..=0x7f => out.put_u8(u as u8),
        0 | 0x80..=0x7ff => {
            out.put_u8(0xc0 | (u >> 6) as u8);
            out.put_u8(0x80 | (u & 0x3f) as u8);
        }
        _ => {
            out.put_u8(0xe0 | (u >> 12) as u8);
            out.put_u8(0x80 | ((u >> 6) & 0x3f) as u8);
            out.put_u8(0x80 | (u & 0x3f) as u8);
        }
    }
}

/// Decode modified UTF-8 (plain UTF-8 is accepted too).
pub(crate) fn decode(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes)
        && !s.is_empty()
        && !bytes.contains(&0xc0)
        && !bytes.contains(&0xed)
    {
        // No `C0 80` and no encoded surrogate: standard and modified UTF-8 agree.
        return s.to_owned();
    }
    let mut units = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let cont = |k: usize| {
            bytes
                .get(i + k)
                .filter(|c| *c & 0xc0 == 0x80)
                .map(|c| *c as u16)
        };
        let (unit, len) = match b {
            0x00..=0x7f => (b as u16, 1),
            0xc0..=0xdf => match cont(1) {
                Some(c1) => (((b as u16 & 0x1f) << 6) | (c1 & 0x3f), 2),
                None => (0xfffd, 1),
            },
            0xe0..=0xef => match (cont(1), cont(2)) {
                (Some(c1), Some(c2)) => (
                    ((b as u16 & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f),
                    3,
                ),
                _ => (0xfffd, 1),
            },
            0xf0..=0xf7 => {
                // A standard 4-byte sequence: accepted as its surrogate pair.
                match std::str::from_utf8(&bytes[i..(i + 4).min(bytes.len())]) {
                    Ok(s) => {
                        let mut pair = [0u16; 2];
                        if let Some(c) = s.chars().next() {
                            units.extend_from_slice(c.encode_utf16(&mut pair));
                        }
                        i += 4;
                        continue;
                    }
                    Err(_) => (0xfffd, 1),
                }
            }
            _ => (0xfffd, 1),
        };
        units.push(unit);
        i += len;
    }
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_modified_utf8() {
        let cases: [(&str, &[u8]); 4] = [
            ("abc", b"abc"),
            ("a\0b", &[b'a', 0xc0, 0x80, b'b']),
            ("é", &[0xc3, 0xa9]),
            // U+1F600 as two 3-byte surrogates, as Java writes it.
            ("\u{1F600}", &[0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]),
        ];
        for (text, bytes) in cases {
            let mut out = Vec::new();
            encode_into(text, &mut out);
            assert_eq!(out, bytes, "{text:?}");
            assert_eq!(encoded_len(text), bytes.len());
            assert_eq!(decode(bytes), text);
        }
        assert_eq!(decode("\u{1F600}".as_bytes()), "\u{1F600}");
        assert_eq!(decode(&[0xff, b'a', 0xe0]), "\u{fffd}a\u{fffd}");
    }
}
