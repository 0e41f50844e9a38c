//! Numbers as event-ruler compares them: as IEEE-754 doubles, but only numbers a double holds
//! exactly. A literal whose decimal value differs from the double it parses to (more than 15-17
//! significant digits, or out of the double's range) is "not comparable": in a pattern's
//! `numeric` or `anything-but` it is an error, in a pattern's exact list it is matched by its
//! text only, and in an event it matches only exact text and never a range.

use std::fmt::Write;

/// The double a JSON number literal stands for, if it stands for exactly one: the literal is
/// the double's shortest decimal form (or a longer way of writing those digits).
pub(super) fn comparable(literal: &str) -> Option<f64> {
    let value: f64 = literal.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let text = literal.as_bytes();
    // Up to 15 digits without an exponent: always the double's shortest form. Most numbers.
    if text.len() <= 15 && !text.iter().any(|&c| c | 0x20 == b'e') {
        return Some(normalize_zero(value));
    }
    // Written as ryu writes it (a coordinate such as -122.42916360922355 usually is).
    let mut ryu = ryu::Buffer::new();
    let shortest = ryu.format_finite(value);
    if shortest.as_bytes() == text {
        return Some(normalize_zero(value));
    }
    // More than 17 significant digits is never a double's shortest form.
    let lit = Significant::of(text)?;
    // Up to 15 significant digits in the normal range always survive a round trip.
    if lit.len <= 15 && (-300..=300).contains(&lit.exponent) {
        return Some(normalize_zero(value));
    }
    // A double can have two shortest forms, equally near it (889025980702.78125 is ...7812 and
    // ...7813): ryu and the standard library settle that tie differently, and either is taken.
    let same = |text: &str| Significant::of(text.as_bytes()).as_ref() == Some(&lit);
    if same(shortest) {
        return Some(normalize_zero(value));
    }
    let mut std = StackString::default();
    write!(std, "{value:e}").ok()?;
    same(std.as_str()).then(|| normalize_zero(value))
}

/// Java's BigDecimal has no negative zero: `-0` compares as `0`.
fn normalize_zero(v: f64) -> f64 {
    if v == 0.0 { 0.0 } else { v }
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

/// Most significant digits a double's shortest decimal form has.
const MAX_DIGITS: usize = 17;

/// A decimal number reduced to sign, significant digits (no leading or trailing zeros) and the
/// power of ten of the last digit; zero has no digits and no sign.
#[derive(Debug, PartialEq, Eq)]
struct Significant {
    negative: bool,
    digits: [u8; MAX_DIGITS],
    len: usize,
    exponent: i64,
}

impl Significant {
    /// `None` for more than [`MAX_DIGITS`] significant digits or text that is not a number.
    fn of(text: &[u8]) -> Option<Self> {
        let (negative, text) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, text),
        };
        let (mantissa, exp) = match text.iter().position(|&c| c == b'e' || c == b'E') {
            Some(i) => (
                &text[..i],
                std::str::from_utf8(&text[i + 1..]).ok()?.parse().ok()?,
            ),
            None => (text, 0i64),
        };
        let mut n = Significant {
            negative,
            digits: [0; MAX_DIGITS],
            len: 0,
            exponent: 0,
        };
        // Zeros seen since the last other digit: kept only if another digit follows.
        let (mut zeros, mut fraction, mut point) = (0usize, 0i64, false);
        for &c in mantissa {
            match c {
                b'.' if !point => point = true,
                b'0' => {
                    zeros += usize::from(n.len > 0);
                    fraction += i64::from(point);
                }
                b'1'..=b'9' => {
                    if n.len + zeros >= MAX_DIGITS {
                        return None;
                    }
                    n.len += zeros;
                    zeros = 0;
                    n.digits[n.len] = c;
                    n.len += 1;
                    fraction += i64::from(point);
                }
                _ => return None,
            }
        }
        if n.len == 0 {
            n.negative = false;
            return Some(n);
        }
        // The last significant digit sits at 10^(exp - fraction digits + trailing zeros).
        n.exponent = exp.checked_sub(fraction)?.checked_add(zeros as i64)?;
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::{Significant, comparable};

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
        assert_eq!(comparable("1e-400"), None);
        assert_eq!(comparable("1.00000000000000000000001"), None);
    }

    #[test]
    fn both_shortest_forms_of_a_tie_compare() {
        // 889025980702.78125 exactly: ...7812 and ...7813 are equally near, both 16 digits.
        let exact = 889_025_980_702.0 + 0.781_25;
        assert_eq!(comparable("8.890259807027813e11"), Some(exact));
        assert_eq!(comparable("889025980702.7812"), Some(exact));
    }

    /// The shortest form, written any way JSON allows, is comparable; one digit more or less
    /// is not. Checked against the standard library's own shortest formatting.
    #[test]
    fn agrees_with_the_shortest_form() {
        let mut rng = fastrand::Rng::with_seed(17);
        for _ in 0..20_000 {
            let v = match rng.u8(0..3) {
                0 => f64::from_bits(rng.u64(..)),
                1 => (rng.f64() - 0.5) * 360.0,
                _ => rng.i64(..) as f64 / 1e6,
            };
            if !v.is_finite() {
                continue;
            }
            let v = if v == 0.0 { 0.0 } else { v };
            let shortest = format!("{v:e}");
            assert_eq!(comparable(&shortest), Some(v), "{shortest}");
            assert_eq!(comparable(&format!("{v}")), Some(v), "{v}");
            let (mantissa, exp) = shortest.split_once('e').unwrap();
            let padded = format!(
                "{mantissa}{}000E{exp}",
                if mantissa.contains('.') { "" } else { "." }
            );
            assert_eq!(comparable(&padded), Some(v), "{padded}");
            if mantissa.trim_start_matches('-').len() > 2 {
                // Its last digit changed: a different decimal, not the double's shortest form
                // unless it happens to be another double's.
                let mut other = mantissa.as_bytes().to_vec();
                let last = other.len() - 1;
                other[last] = if other[last] == b'9' {
                    b'8'
                } else {
                    other[last] + 1
                };
                let other = format!("{}e{exp}", String::from_utf8(other).unwrap());
                let parsed: f64 = other.parse().unwrap();
                let ryu = ryu::Buffer::new().format_finite(parsed).to_owned();
                let same =
                    |a: &str| Significant::of(a.as_bytes()) == Significant::of(other.as_bytes());
                let expect = (same(&format!("{parsed:e}")) || same(&ryu)).then_some(parsed);
                assert_eq!(comparable(&other), expect, "{other}");
            }
        }
    }
}
