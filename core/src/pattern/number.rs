//! Numbers as event-ruler compares them: as IEEE-754 doubles, but only numbers a double holds
//! exactly. A literal whose decimal value differs from the double it parses to (more than 15-17
//! significant digits, or out of the double's range) is "not comparable": in a pattern's
//! `numeric` or `anything-but` it is an error, in a pattern's exact list it is matched by its
//! text only, and in an event it matches only exact text and never a range.

use std::fmt::Write;

/// The double a JSON number literal stands for, if it stands for exactly one.
pub(super) fn comparable(literal: &str) -> Option<f64> {
    let value: f64 = literal.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let lit = Decimal::of(literal)?;
    // Fast path: up to 15 significant digits in the normal range always survive a round trip.
    if lit.digits.len() <= 15 && (-300..=300).contains(&lit.exponent) {
        return Some(normalize_zero(value));
    }
    let mut buf = StackString::default();
    write!(buf, "{value:e}").ok()?;
    let shortest = Decimal::of(buf.as_str())?;
    (shortest == lit).then(|| normalize_zero(value))
}

/// Java's BigDecimal has no negative zero: `-0` compares as `0`.
fn normalize_zero(v: f64) -> f64 {
    if v == 0.0 { 0.0 } else { v }
}

/// A decimal number reduced to sign, significant digits (no leading or trailing zeros) and the
/// power of ten of the last digit; zero has no digits and no sign.
#[derive(Debug, PartialEq, Eq)]
struct Decimal<'a> {
    negative: bool,
    digits: DigitSeq<'a>,
    exponent: i64,
}

/// The digits of a literal with the decimal point skipped, without copying.
#[derive(Debug, Clone, Copy)]
struct DigitSeq<'a> {
    int: &'a [u8],
    frac: &'a [u8],
    /// Leading zeros to skip, trailing zeros to drop (counted over int ++ frac).
    skip: usize,
    len: usize,
}

impl DigitSeq<'_> {
    fn len(&self) -> usize {
        self.len
    }
    fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        self.int
            .iter()
            .chain(self.frac.iter())
            .copied()
            .skip(self.skip)
            .take(self.len)
    }
}

impl PartialEq for DigitSeq<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}
impl Eq for DigitSeq<'_> {}

impl<'a> Decimal<'a> {
    fn of(text: &'a str) -> Option<Self> {
        let b = text.as_bytes();
        let (negative, b) = match b.first() {
            Some(b'-') => (true, &b[1..]),
            Some(b'+') => (false, &b[1..]),
            _ => (false, b),
        };
        let (mantissa, exp) = match b.iter().position(|&c| c == b'e' || c == b'E') {
            Some(i) => (
                &b[..i],
                std::str::from_utf8(&b[i + 1..]).ok()?.parse().ok()?,
            ),
            None => (b, 0i64),
        };
        let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, &[][..]),
        };
        if !int.iter().chain(frac).all(u8::is_ascii_digit) {
            return None;
        }
        let total = int.len() + frac.len();
        let all = || int.iter().chain(frac.iter());
        let skip = all().take_while(|&&c| c == b'0').count();
        if skip == total {
            return Some(Decimal {
                negative: false,
                digits: DigitSeq {
                    int,
                    frac,
                    skip: 0,
                    len: 0,
                },
                exponent: 0,
            });
        }
        let trailing = all().rev().take_while(|&&c| c == b'0').count();
        let len = total - skip - trailing;
        // The last significant digit sits at 10^(exp - frac.len() + trailing).
        let exponent = exp - frac.len() as i64 + trailing as i64;
        Some(Decimal {
            negative,
            digits: DigitSeq {
                int,
                frac,
                skip,
                len,
            },
            exponent,
        })
    }
}

/// Enough for any `{:e}` of an f64, without allocating.
#[derive(Default)]
struct StackString {
    buf: [u8; 32],
    len: usize,
}

impl StackString {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for StackString {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::comparable;

    #[test]
    fn exact_doubles_compare() {
        assert_eq!(comparable("5"), Some(5.0));
        assert_eq!(comparable("5.0"), Some(5.0));
        assert_eq!(comparable("5e0"), Some(5.0));
        assert_eq!(comparable("3.018e2"), Some(301.8));
        assert_eq!(comparable("-0"), Some(0.0));
        assert!(comparable("-0").unwrap().is_sign_positive());
        assert_eq!(comparable("0.1"), Some(0.1));
        assert_eq!(comparable("0.30000000000000004"), Some(0.30000000000000004));
        assert_eq!(comparable("1.7976931348623157e308"), Some(f64::MAX));
        assert_eq!(comparable("9007199254740992"), Some(9007199254740992.0));
    }

    #[test]
    fn inexact_numbers_do_not() {
        // An account number: the nearest double is ...680.
        assert_eq!(comparable("123456789012345678"), None);
        assert_eq!(comparable("9007199254740993"), None);
        assert_eq!(comparable("0.3000000000000000444"), None);
        assert_eq!(comparable("1e400"), None);
        assert_eq!(comparable("-1e400"), None);
    }
}
