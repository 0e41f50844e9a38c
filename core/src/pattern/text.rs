//! String operators on the quoted form of a value (`"text"`), as event-ruler matches them:
//! a string value is compared with its quotes, so `prefix` operands start with `"`, `suffix`
//! operands end with `"`, and numbers, booleans and null (which have no quotes) never match.

/// `equals-ignore-case` (alone, or in `prefix`, `suffix` and `anything-but`).
///
/// Each UTF-16 unit of the operand matches its lower- or upper-case form (Java's
/// `toLowerCase`/`toUpperCase` of that one unit, in UTF-8), which is how event-ruler folds
/// case: `ß` matches `ß` or `SS`. A character outside the Basic Multilingual Plane is two
/// surrogate units, which Java encodes as `?` each; Sluice keeps that quirk so that it answers
/// as AWS does.
#[derive(Clone, Debug)]
pub(super) struct IgnoreCase {
    /// One entry per operand unit: its accepted byte sequences.
    units: Vec<Unit>,
    /// All units single-byte ASCII: compare with `eq_ignore_ascii_case`.
    ascii: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
enum Unit {
    One(Vec<u8>),
    Two(Vec<u8>, Vec<u8>),
}

impl IgnoreCase {
    pub(super) fn new(quoted: &str) -> Self {
        if quoted.is_ascii() {
            return IgnoreCase {
                units: Vec::new(),
                ascii: Some(quoted.as_bytes().to_vec()),
            };
        }
        let mut units = Vec::new();
        for c in quoted.chars() {
            if c.len_utf16() == 2 {
                units.push(Unit::One(b"?".to_vec()));
                units.push(Unit::One(b"?".to_vec()));
                continue;
            }
            let lower: String = c.to_lowercase().collect();
            let upper: String = c.to_uppercase().collect();
            if lower == upper {
                units.push(Unit::One(lower.into_bytes()));
            } else {
                units.push(Unit::Two(lower.into_bytes(), upper.into_bytes()));
            }
        }
        IgnoreCase { units, ascii: None }
    }

    pub(super) fn equals(&self, text: &[u8]) -> bool {
        match &self.ascii {
            Some(a) => a.eq_ignore_ascii_case(text),
            None => self.ends_forward(text).contains(&text.len()),
        }
    }

    pub(super) fn prefix_of(&self, text: &[u8]) -> bool {
        match &self.ascii {
            Some(a) => text.len() >= a.len() && a.eq_ignore_ascii_case(&text[..a.len()]),
            None => !self.ends_forward(text).is_empty(),
        }
    }

    pub(super) fn suffix_of(&self, text: &[u8]) -> bool {
        match &self.ascii {
            Some(a) => {
                text.len() >= a.len() && a.eq_ignore_ascii_case(&text[text.len() - a.len()..])
            }
            None => {
                // Walk the units backwards from the end of the text.
                let mut starts = vec![text.len()];
                for unit in self.units.iter().rev() {
                    let mut next = Vec::new();
                    for &end in &starts {
                        for alt in unit.alternatives() {
                            if end >= alt.len() && &text[end - alt.len()..end] == alt {
                                next.push(end - alt.len());
                            }
                        }
                    }
                    next.dedup();
                    if next.is_empty() {
                        return false;
                    }
                    starts = next;
                }
                true
            }
        }
    }

    /// Every text position the whole operand can reach from the start.
    fn ends_forward(&self, text: &[u8]) -> Vec<usize> {
        let mut ends = vec![0];
        for unit in &self.units {
            let mut next = Vec::new();
            for &start in &ends {
                for alt in unit.alternatives() {
                    if text[start..].starts_with(alt) {
                        next.push(start + alt.len());
                    }
                }
            }
            next.dedup();
            if next.is_empty() {
                return next;
            }
            ends = next;
        }
        ends
    }
}

impl Unit {
    fn alternatives(&self) -> impl Iterator<Item = &[u8]> {
        let (a, b) = match self {
            Unit::One(a) => (a.as_slice(), None),
            Unit::Two(a, b) => (a.as_slice(), Some(b.as_slice())),
        };
        std::iter::once(a).chain(b)
    }
}

/// A `wildcard` operand: `*` matches any run of bytes (also empty); `\*` is a literal star and
/// `\\` a literal backslash; any other escape, and two stars in a row, are errors.
#[derive(Clone, Debug)]
pub(super) struct Wildcard {
    /// Literal pieces between stars; the first is anchored at the start, the last at the end.
    pieces: Vec<Vec<u8>>,
}

impl Wildcard {
    /// Parse the quoted operand (`"a*b"`). Error positions are byte offsets in it, as
    /// event-ruler reports them.
    pub(super) fn parse(quoted: &str) -> Result<Self, String> {
        let b = quoted.as_bytes();
        let mut pieces = vec![Vec::new()];
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'*' => {
                    if b.get(i + 1) == Some(&b'*') {
                        return Err(format!("Consecutive wildcard characters at pos {i}"));
                    }
                    pieces.push(Vec::new());
                }
                b'\\' => match b.get(i + 1) {
                    Some(&c @ (b'*' | b'\\')) => {
                        if let Some(p) = pieces.last_mut() {
                            p.push(c);
                        }
                        i += 1;
                    }
                    _ => return Err(format!("Invalid escape character at pos {i}")),
                },
                c => {
                    if let Some(p) = pieces.last_mut() {
                        p.push(c);
                    }
                }
            }
            i += 1;
        }
        Ok(Wildcard { pieces })
    }

    pub(super) fn matches(&self, text: &[u8]) -> bool {
        let n = self.pieces.len();
        let first = &self.pieces[0];
        if n == 1 {
            return text == first.as_slice();
        }
        let last = &self.pieces[n - 1];
        if text.len() < first.len() + last.len()
            || !text.starts_with(first)
            || !text.ends_with(last)
        {
            return false;
        }
        // Middle pieces, leftmost first, between the anchored ends.
        let mut at = first.len();
        let end = text.len() - last.len();
        for piece in &self.pieces[1..n - 1] {
            if piece.is_empty() {
                continue;
            }
            match find(&text[at..end], piece) {
                Some(p) => at += p + piece.len(),
                None => return false,
            }
        }
        true
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let w = Wildcard::parse("\"Simple*Service\"").unwrap();
        assert!(w.matches(b"\"SimpleQueueService\""));
        assert!(w.matches(b"\"SimpleService\""));
        assert!(!w.matches(b"\"SimpleQueueServices\""));
        let w = Wildcard::parse("\"*/lib/*\"").unwrap();
        assert!(w.matches(b"\"/usr/lib/x\""));
        assert!(!w.matches(b"\"/usr/lob/x\""));
        let w = Wildcard::parse("\"a\\*b\"").unwrap();
        assert!(w.matches(b"\"a*b\""));
        assert!(!w.matches(b"\"axb\""));
        let w = Wildcard::parse("\"a\\\\*\"").unwrap();
        assert!(w.matches(b"\"a\\bc\""));
        let w = Wildcard::parse("\"*a*a*\"").unwrap();
        assert!(w.matches(b"\"aa\""));
        assert!(!w.matches(b"\"a\""));
        assert!(
            Wildcard::parse("\"a**b\"")
                .unwrap_err()
                .contains("Consecutive")
        );
        assert!(Wildcard::parse("\"a\\b\"").unwrap_err().contains("escape"));
        assert!(Wildcard::parse("\"a\\\"").unwrap_err().contains("escape"));
    }

    #[test]
    fn ignore_case() {
        let ic = IgnoreCase::new("\"EventB");
        assert!(ic.prefix_of(b"\"eventbridge\""));
        assert!(!ic.prefix_of(b"\"event\""));
        let ic = IgnoreCase::new(".PNG\"");
        assert!(ic.suffix_of(b"\"a.png\""));
        let ic = IgnoreCase::new("\"straße\"");
        assert!(ic.equals("\"STRASSE\"".as_bytes()));
        assert!(ic.equals("\"Straße\"".as_bytes()));
        assert!(!ic.equals("\"STRASSEN\"".as_bytes()));
        assert!(IgnoreCase::new("straße\"").suffix_of("\"xSTRASSE\"".as_bytes()));
        let ic = IgnoreCase::new("\"😀\"");
        assert!(!ic.equals("\"😀\"".as_bytes()));
        assert!(ic.equals(b"\"??\""));
    }
}
