//! One compiled operand and how it matches one event value.

use super::cidr::{IpRange, parse_ip};
use super::text::{IgnoreCase, Wildcard};

/// A leaf value of an event: its text as event-ruler sees it (strings with their quotes,
/// numbers as written, `true`/`false`/`null`) and, for a number a double holds exactly, its
/// value.
#[derive(Clone, Copy, Debug)]
pub(super) struct Value<'a> {
    pub text: &'a [u8],
    pub number: Option<f64>,
}

impl Value<'_> {
    fn is_string(&self) -> bool {
        self.text.len() >= 2 && self.text[0] == b'"'
    }
}

/// The compiled form of one entry of a pattern's value list.
#[derive(Clone, Debug)]
pub(super) enum Matcher {
    /// A string (quoted) or a literal (`true`, `null`, a number as written).
    Exact(Box<[u8]>),
    /// A number in the exact list or `numeric: ["=", n]`.
    NumberEquals(f64),
    Range {
        low: Option<(f64, bool)>,
        high: Option<(f64, bool)>,
    },
    Cidr(IpRange),
    /// `"text` (no closing quote).
    Prefix(Box<[u8]>),
    /// `text"` (no opening quote).
    Suffix(Box<[u8]>),
    PrefixIgnoreCase(IgnoreCase),
    SuffixIgnoreCase(IgnoreCase),
    EqualsIgnoreCase(IgnoreCase),
    Wildcard(Wildcard),
    Exists,
    /// The `anything-but` family: any value that is not excluded, whatever its type.
    Not(Excluded),
}

#[derive(Clone, Debug)]
pub(super) enum Excluded {
    Strings(Vec<Box<[u8]>>),
    Numbers(Vec<f64>),
    IgnoreCase(Vec<IgnoreCase>),
    Prefixes(Vec<Box<[u8]>>),
    Suffixes(Vec<Box<[u8]>>),
    Wildcards(Vec<Wildcard>),
}

impl Matcher {
    pub(super) fn matches(&self, v: &Value<'_>) -> bool {
        match self {
            Matcher::Exact(t) => v.text == &t[..],
            Matcher::NumberEquals(n) => v.number == Some(*n),
            Matcher::Range { low, high } => v.number.is_some_and(|x| {
                low.is_none_or(|(l, open)| if open { x > l } else { x >= l })
                    && high.is_none_or(|(h, open)| if open { x < h } else { x <= h })
            }),
            Matcher::Cidr(range) => {
                v.is_string()
                    && std::str::from_utf8(&v.text[1..v.text.len() - 1])
                        .ok()
                        .and_then(parse_ip)
                        .is_some_and(|ip| range.contains(&ip))
            }
            Matcher::Prefix(p) => v.text.starts_with(p),
            Matcher::Suffix(s) => v.text.ends_with(s),
            Matcher::PrefixIgnoreCase(ic) => ic.prefix_of(v.text),
            Matcher::SuffixIgnoreCase(ic) => ic.suffix_of(v.text),
            Matcher::EqualsIgnoreCase(ic) => ic.equals(v.text),
            Matcher::Wildcard(w) => w.matches(v.text),
            Matcher::Exists => true,
            Matcher::Not(ex) => !ex.excludes(v),
        }
    }
}

impl Excluded {
    fn excludes(&self, v: &Value<'_>) -> bool {
        match self {
            Excluded::Strings(set) => set.iter().any(|s| v.text == &s[..]),
            Excluded::Numbers(set) => v.number.is_some_and(|x| set.contains(&x)),
            Excluded::IgnoreCase(set) => set.iter().any(|ic| ic.equals(v.text)),
            Excluded::Prefixes(set) => set.iter().any(|p| v.text.starts_with(p)),
            Excluded::Suffixes(set) => set.iter().any(|s| v.text.ends_with(s)),
            Excluded::Wildcards(set) => set.iter().any(|w| w.matches(v.text)),
        }
    }
}
