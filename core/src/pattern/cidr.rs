//! IP addresses and CIDR blocks, as event-ruler reads them.
//!
//! An address is IPv4 when it looks like `digits.digits.digits.digits` (each part a decimal
//! 0..255, leading zeros read as decimal) and IPv6 when it is made of hex digits and colons
//! with at least one colon (no embedded dotted quad, no zone). An IPv4-mapped IPv6 address
//! (`::ffff:a00:1`) is the IPv4 address, as Java's `InetAddress` makes it.
//!
//! A CIDR needs exactly one `/` (a trailing empty part is ignored, as Java's `split` does) and
//! mask bits 0..31 for IPv4 and 0..127 for IPv6: event-ruler refuses `/32` and `/128` (write
//! the address itself, which matches exactly that address). The host bits need not be zero.
//!
//! Ranges compare the address bytes. event-ruler compares the hex form digit by digit and
//! stops at the end of the range, so an IPv6 address is tested against an IPv4 range by its
//! first four bytes; an IPv4 address never matches an IPv6 range. Sluice does the same.

use std::net::Ipv6Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Ip {
    fn bytes(&self) -> &[u8] {
        match self {
            Ip::V4(b) => b,
            Ip::V6(b) => b,
        }
    }
}

/// An inclusive range of addresses of one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IpRange {
    lo: Ip,
    hi: Ip,
}

impl IpRange {
    pub(super) fn single(ip: Ip) -> Self {
        IpRange { lo: ip, hi: ip }
    }

    pub(super) fn contains(&self, ip: &Ip) -> bool {
        let width = self.lo.bytes().len();
        let b = ip.bytes();
        if b.len() < width {
            return false;
        }
        let b = &b[..width];
        self.lo.bytes() <= b && b <= self.hi.bytes()
    }
}

fn looks_v4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

fn looks_v6(s: &str) -> bool {
    s.contains(':') && s.bytes().all(|c| c.is_ascii_hexdigit() || c == b':')
}

/// Whether a string would be read as an address at all (then an invalid one is an error).
pub(super) fn looks_like_ip(s: &str) -> bool {
    looks_v4(s) || looks_v6(s)
}

/// The address a string spells, if it spells one.
pub(super) fn parse_ip(s: &str) -> Option<Ip> {
    if looks_v4(s) {
        let mut out = [0u8; 4];
        for (o, part) in out.iter_mut().zip(s.split('.')) {
            let digits = part.trim_start_matches('0');
            if digits.len() > 3 {
                return None;
            }
            let v: u32 = if digits.is_empty() {
                0
            } else {
                digits.parse().ok()?
            };
            *o = u8::try_from(v).ok()?;
        }
        return Some(Ip::V4(out));
    }
    if looks_v6(s) {
        let a: Ipv6Addr = s.parse().ok()?;
        return Some(match a.to_ipv4_mapped() {
            Some(v4) => Ip::V4(v4.octets()),
            None => Ip::V6(a.octets()),
        });
    }
    None
}

/// Parse a `cidr` operand.
pub(super) fn parse_cidr(text: &str) -> Result<IpRange, String> {
    let mut parts: Vec<&str> = text.split('/').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    let [addr, bits] = parts[..] else {
        return Err("Malformed CIDR, one '/' required".into());
    };
    let bits = parse_java_int(bits).ok_or("Malformed CIDR, mask bits must be an integer")?;
    if bits < 0 {
        return Err("Malformed CIDR, mask bits must not be negative".into());
    }
    if !looks_like_ip(addr) {
        return Err(format!("Nonstandard IP address: {addr}"));
    }
    let ip = parse_ip(addr).ok_or_else(|| format!("Invalid IP address: {addr}"))?;
    let bits = bits as u32;
    let (lo, hi) = match ip {
        Ip::V4(b) => {
            if bits > 31 {
                return Err("IPv4 mask bits must be < 32".into());
            }
            let v = u32::from_be_bytes(b);
            let host = u32::MAX.checked_shr(bits).unwrap_or(0);
            (
                Ip::V4((v & !host).to_be_bytes()),
                Ip::V4((v | host).to_be_bytes()),
            )
        }
        Ip::V6(b) => {
            if bits > 127 {
                return Err("IPv6 mask bits must be < 128".into());
            }
            let v = u128::from_be_bytes(b);
            let host = u128::MAX.checked_shr(bits).unwrap_or(0);
            (
                Ip::V6((v & !host).to_be_bytes()),
                Ip::V6((v | host).to_be_bytes()),
            )
        }
    };
    Ok(IpRange { lo, hi })
}

/// `Integer.parseInt`: an optional sign and decimal digits.
fn parse_java_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = s.trim_start_matches('+').parse().ok()?;
    i32::try_from(v).ok().map(i64::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_ip("10.0.0.1"), Some(Ip::V4([10, 0, 0, 1])));
        assert_eq!(parse_ip("10.0.0.010"), Some(Ip::V4([10, 0, 0, 10])));
        assert_eq!(parse_ip("256.0.0.1"), None);
        assert_eq!(parse_ip("::ffff:a00:1"), Some(Ip::V4([10, 0, 0, 1])));
        assert!(matches!(parse_ip("2001:db8::1"), Some(Ip::V6(_))));
        assert_eq!(parse_ip("2001:db8::g"), None);
        assert_eq!(parse_ip("host.example"), None);
    }

    #[test]
    fn blocks() {
        let r = parse_cidr("10.0.0.0/24").unwrap();
        assert!(r.contains(&Ip::V4([10, 0, 0, 255])));
        assert!(!r.contains(&Ip::V4([10, 0, 1, 0])));
        let r = parse_cidr("10.1.2.3/8").unwrap();
        assert!(r.contains(&Ip::V4([10, 255, 0, 0])));
        assert!(
            parse_cidr("0.0.0.0/0")
                .unwrap()
                .contains(&Ip::V4([1, 2, 3, 4]))
        );
        let r = parse_cidr("2001:db8::/32").unwrap();
        assert!(r.contains(&parse_ip("2001:db8:ffff::1").unwrap()));
        assert!(!r.contains(&parse_ip("2001:db9::1").unwrap()));
        assert!(!r.contains(&Ip::V4([32, 1, 13, 184])));
    }

    #[test]
    fn malformed_blocks() {
        for (bad, why) in [
            ("10.0.0.0", "one '/'"),
            ("10.0.0.0/8/1", "one '/'"),
            ("10.0.0.0/x", "integer"),
            ("10.0.0.0/-1", "negative"),
            ("10.0.0.0/32", "< 32"),
            ("::/128", "< 128"),
            ("300.0.0.0/8", "Invalid IP"),
            ("example.com/8", "Nonstandard"),
        ] {
            let e = parse_cidr(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(parse_cidr("10.0.0.0/8/").is_ok());
    }
}
