//! A small strict JSON reader shared by the pattern compiler and the event flattener.
//!
//! Not serde_json, for three reasons: patterns need every number's literal text (an AWS account
//! number such as `123456789012345678` is matched as written, not as the nearest double) and
//! their keys in order with duplicates (the pattern compiler's override rules depend on both);
//! errors need byte offsets, so `sluice validate` can point at the bad operand; and the event
//! flattener writes fields straight into reusable buffers, with no tree per event.

use super::scan::{digits_end, plain_end};

/// A JSON syntax error at a byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub message: String,
}

/// How deep objects and arrays may nest; deeper input is refused rather than risking the stack.
pub(crate) const MAX_DEPTH: usize = 128;

pub(crate) struct Reader<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn error<T>(&self, message: impl Into<String>) -> Result<T, JsonError> {
        Err(JsonError {
            offset: self.pos,
            message: message.into(),
        })
    }

    #[inline]
    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next non-space byte, not consumed.
    #[inline]
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub(crate) fn expect(&mut self, b: u8) -> Result<(), JsonError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            self.expected(b)
        }
    }

    #[cold]
    fn expected(&self, b: u8) -> Result<(), JsonError> {
        self.unexpected(&format!("`{}`", b as char))
    }

    pub(crate) fn unexpected<T>(&self, wanted: &str) -> Result<T, JsonError> {
        match self.bytes.get(self.pos) {
            None => self.error(format!("unexpected end of JSON, expected {wanted}")),
            Some(&c) if c.is_ascii_graphic() => {
                self.error(format!("unexpected `{}`, expected {wanted}", c as char))
            }
            Some(c) => self.error(format!("unexpected byte 0x{c:02x}, expected {wanted}")),
        }
    }

    /// After the top-level value: only white space may follow.
    pub(crate) fn end(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.error("unexpected data after the JSON value"),
        }
    }

    /// A string starting at the current `"`, unescaped and appended to `out`.
    pub(crate) fn string_into(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        self.string_to(out)
    }

    /// A string without escapes at the current `"`, without its quotes, read in place; `None`
    /// (nothing consumed) when it has an escape or a non-ASCII character, for
    /// [`Reader::string_into`] to read.
    pub(crate) fn plain_string(&mut self) -> Result<Option<&'a [u8]>, JsonError> {
        Ok(self.plain_string_quoted()?.map(|s| &s[1..s.len() - 1]))
    }

    /// [`Reader::plain_string`] with the quotes, as event-ruler compares string values.
    pub(crate) fn plain_string_quoted(&mut self) -> Result<Option<&'a [u8]>, JsonError> {
        if self.peek() != Some(b'"') {
            return self.unexpected("`\"`");
        }
        let start = self.pos;
        let end = plain_end(self.bytes, start + 1);
        if self.bytes.get(end) == Some(&b'"') {
            self.pos = end + 1;
            Ok(Some(&self.bytes[start..=end]))
        } else {
            Ok(None)
        }
    }

    /// Check and step over a string without keeping it (no allocation).
    fn skip_string(&mut self) -> Result<(), JsonError> {
        self.string_to(&mut Discard)
    }

    /// A string: checked, and its characters unescaped into `out`.
    fn string_to(&mut self, out: &mut impl Out) -> Result<(), JsonError> {
        self.expect(b'"')?;
        loop {
            let run = self.pos;
            self.pos = plain_end(self.bytes, self.pos);
            out.put(&self.bytes[run..self.pos]);
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => self.escape_to(out)?,
                Some(0x80..) => self.non_ascii(out)?,
                None => return self.error("unterminated string"),
                Some(_) => return self.error("control character in a string must be escaped"),
            }
        }
    }

    /// A run of a string holding non-ASCII bytes: it must be UTF-8 up to the next byte that
    /// ends a run (all ASCII, so no character is cut). Only strings are checked, and only
    /// where they leave ASCII: any such byte outside a string is a syntax error anyway.
    #[cold]
    fn non_ascii(&mut self, out: &mut impl Out) -> Result<(), JsonError> {
        let rest = &self.bytes[self.pos..];
        let len = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(rest.len());
        if let Err(e) = std::str::from_utf8(&rest[..len]) {
            self.pos += e.valid_up_to();
            return self.error("string is not valid UTF-8");
        }
        out.put(&rest[..len]);
        self.pos += len;
        Ok(())
    }

    fn escape_to(&mut self, out: &mut impl Out) -> Result<(), JsonError> {
        self.pos += 1;
        let Some(&c) = self.bytes.get(self.pos) else {
            return self.error("unterminated string");
        };
        self.pos += 1;
        let simple = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut code = self.hex4()?;
                if (0xD800..0xDC00).contains(&code) {
                    // A high surrogate must be followed by `\u` and a low one.
                    if self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u") {
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return self.error("invalid UTF-16 surrogate pair in \\u escape");
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    } else {
                        return self.error("lone UTF-16 surrogate in \\u escape");
                    }
                } else if (0xDC00..0xE000).contains(&code) {
                    return self.error("lone UTF-16 surrogate in \\u escape");
                }
                let ch = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut buf = [0u8; 4];
                out.put(ch.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            _ => {
                self.pos -= 1;
                return self.error(format!("invalid escape `\\{}`", c as char));
            }
        };
        out.put(&[simple]);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(h) = self.bytes.get(self.pos..self.pos + 4) else {
            return self.error("truncated \\u escape");
        };
        let mut v = 0u32;
        for &d in h {
            let digit = (d as char).to_digit(16);
            match digit {
                Some(x) => v = v * 16 + x,
                None => return self.error("invalid \\u escape"),
            }
        }
        self.pos += 4;
        Ok(v)
    }

    /// A number's literal text (JSON grammar: no leading zeros, no `+`, no bare `.`).
    pub(crate) fn number(&mut self) -> Result<&'a [u8], JsonError> {
        self.skip_ws();
        let start = self.pos;
        let b = self.bytes;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits_end(b, i + 1),
            _ => {
                self.pos = i;
                return self.unexpected("a digit");
            }
        }
        if b.get(i) == Some(&b'.') {
            let digits = digits_end(b, i + 1);
            if digits == i + 1 {
                self.pos = i + 1;
                return self.unexpected("a digit after `.`");
            }
            i = digits;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let digits = digits_end(b, i);
            if digits == i {
                self.pos = i;
                return self.unexpected("a digit in the exponent");
            }
            i = digits;
        }
        if let Some(b'0'..=b'9') = b.get(i) {
            self.pos = i;
            return self.error("leading zeros are not allowed in JSON numbers");
        }
        self.pos = i;
        Ok(&b[start..i])
    }

    /// `true`, `false` or `null`, returned as written.
    pub(crate) fn literal(&mut self) -> Result<&'static str, JsonError> {
        self.skip_ws();
        let lit = match self.bytes.get(self.pos) {
            Some(b't') => "true",
            Some(b'f') => "false",
            Some(b'n') => "null",
            _ => return self.unexpected("a JSON value"),
        };
        if self.bytes.get(self.pos..self.pos + lit.len()) != Some(lit.as_bytes()) {
            return self.unexpected("a JSON value");
        }
        self.pos += lit.len();
        Ok(lit)
    }

    /// Check and step over one value. A loop rather than recursion: values nobody reads are
    /// most of an event, and this is how they are passed over.
    pub(crate) fn skip_value(&mut self, depth: usize) -> Result<(), JsonError> {
        // Bit per open container (innermost at `level - 1`): set for an object.
        let mut objects = [0u64; 3];
        let mut level = 0usize;
        loop {
            // A value.
            if depth + level > MAX_DEPTH {
                return self.error("JSON nested too deeply");
            }
            match self.peek() {
                Some(b'"') => self.skip_string()?,
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(open @ (b'{' | b'[')) => {
                    self.pos += 1;
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                    } else {
                        let (word, bit) = (level / 64, 1u64 << (level % 64));
                        level += 1;
                        if open == b'{' {
                            objects[word] |= bit;
                            self.skip_string()?;
                            self.expect(b':')?;
                        } else {
                            objects[word] &= !bit;
                        }
                        continue;
                    }
                }
                _ => {
                    self.literal()?;
                }
            }
            // After a value: close containers, or go on to the next member or element.
            loop {
                if level == 0 {
                    return Ok(());
                }
                let inner = level - 1;
                let object = objects[inner / 64] >> (inner % 64) & 1 == 1;
                let close = if object { b'}' } else { b']' };
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            self.skip_string()?;
                            self.expect(b':')?;
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.pos += 1;
                        level -= 1;
                    }
                    _ => {
                        return self.unexpected(if object { "`,` or `}`" } else { "`,` or `]`" });
                    }
                }
            }
        }
    }

    /// After a member: `true` if a `,` follows (more to come), `false` at the closing byte.
    #[inline]
    pub(crate) fn comma_or(&mut self, close: u8) -> Result<bool, JsonError> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => self.expected_comma_or(close),
        }
    }

    #[cold]
    fn expected_comma_or(&self, close: u8) -> Result<bool, JsonError> {
        self.unexpected(&format!("`,` or `{}`", close as char))
    }
}

/// Where an unescaped character goes: kept (a `Vec`) or checked and dropped.
trait Out {
    fn put(&mut self, bytes: &[u8]);
}

impl Out for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

struct Discard;

impl Out for Discard {
    fn put(&mut self, _: &[u8]) {}
}

/// A parsed pattern document: values keep their literal text and offset; object members keep
/// their order and duplicates.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    /// The number as written.
    Number(String),
    String(String),
    Array(Vec<Spanned>),
    Object(Vec<(Spanned<String>, Spanned)>),
}

#[derive(Clone, Debug)]
pub(crate) struct Spanned<T = Node> {
    pub value: T,
    pub offset: usize,
}

/// Parse a whole document into a [`Node`] tree.
pub(crate) fn parse(text: &str) -> Result<Spanned, JsonError> {
    let mut r = Reader::new(text.as_bytes());
    let v = node(&mut r, 0)?;
    r.end()?;
    Ok(v)
}

fn owned(bytes: Vec<u8>) -> String {
    // string_into already checked UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
}

fn node(r: &mut Reader<'_>, depth: usize) -> Result<Spanned, JsonError> {
    if depth > MAX_DEPTH {
        return r.error("JSON nested too deeply");
    }
    let c = r.peek();
    let offset = r.pos;
    let value = match c {
        Some(b'{') => {
            r.pos += 1;
            let mut members = Vec::new();
            if r.peek() == Some(b'}') {
                r.pos += 1;
            } else {
                loop {
                    r.skip_ws();
                    let key_offset = r.pos;
                    let mut key = Vec::new();
                    r.string_into(&mut key)?;
                    r.expect(b':')?;
                    let v = node(r, depth + 1)?;
                    members.push((
                        Spanned {
                            value: owned(key),
                            offset: key_offset,
                        },
                        v,
                    ));
                    if !r.comma_or(b'}')? {
                        break;
                    }
                }
            }
            Node::Object(members)
        }
        Some(b'[') => {
            r.pos += 1;
            let mut items = Vec::new();
            if r.peek() == Some(b']') {
                r.pos += 1;
            } else {
                loop {
                    items.push(node(r, depth + 1)?);
                    if !r.comma_or(b']')? {
                        break;
                    }
                }
            }
            Node::Array(items)
        }
        Some(b'"') => {
            let mut s = Vec::new();
            r.string_into(&mut s)?;
            Node::String(owned(s))
        }
        Some(b'-' | b'0'..=b'9') => Node::Number(String::from_utf8_lossy(r.number()?).into_owned()),
        _ => match r.literal()? {
            "true" => Node::Bool(true),
            "false" => Node::Bool(false),
            _ => Node::Null,
        },
    };
    Ok(Spanned { value, offset })
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_grammar() {
        for bad in [
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "+1",
            "\"\\x\"",
            "\"\u{1}\"",
            "nul",
            "{} x",
            "\"\\ud800\"",
            "[1 2]",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn keeps_literals_order_and_duplicates() {
        let v = parse(r#"{"b": 1.50, "a": "x\u00e9\ud83d\ude00", "b": [true, null]}"#).unwrap();
        let Node::Object(m) = v.value else { panic!() };
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].0.value, "b");
        assert!(matches!(&m[0].1.value, Node::Number(n) if n == "1.50"));
        assert!(matches!(&m[1].1.value, Node::String(s) if s == "xé😀"));
        assert_eq!(m[2].0.offset, 40);
    }

    #[test]
    fn skipping_checks_without_keeping() {
        for ok in [
            r#"{"a": "x\u00e9\n", "b": [1, {"c": null}]}"#,
            r#""\ud83d\ude00""#,
        ] {
            assert!(Reader::new(ok.as_bytes()).skip_value(0).is_ok(), "{ok}");
        }
        for bad in [
            r#""\x""#,
            "\"\u{1}\"",
            r#""\udc00""#,
            r#"{"a" 1}"#,
            r#""abc"#,
        ] {
            assert!(Reader::new(bad.as_bytes()).skip_value(0).is_err(), "{bad}");
        }
    }

    /// The skipper agrees with the reader on every input: both accept or both refuse.
    #[test]
    fn skipping_accepts_what_reading_accepts() {
        let deep = |open: &str, close: &str, n: usize| open.repeat(n) + &close.repeat(n);
        let mixed = |n: usize| {
            let open: String = (0..n)
                .map(|i| if i % 3 == 0 { "[" } else { "{\"k\":" })
                .collect();
            let close: String = (0..n)
                .rev()
                .map(|i| if i % 3 == 0 { "]" } else { "}" })
                .collect();
            format!("{open}1{close}")
        };
        let long = format!("\"{}\"", "abcdefgh".repeat(9));
        let mut cases = vec![
            deep("[", "]", MAX_DEPTH),
            deep("[", "]", MAX_DEPTH + 1),
            deep("[", "]", MAX_DEPTH + 2),
            mixed(MAX_DEPTH),
            mixed(MAX_DEPTH + 1),
            mixed(70),
            r#"{"a": [], "b": {}, "c": [[], {}], "d": [1, "x", true, false, null]}"#.to_owned(),
            r#"{"a": [1,]}"#.to_owned(),
            r#"{"a": 1 "b": 2}"#.to_owned(),
            r#"[1}"#.to_owned(),
            r#"{"a"}"#.to_owned(),
            "\"caf\u{e9} na\u{ef}ve \u{1f600}\"".to_owned(),
            long.clone(),
        ];
        // A quote, escape, control character or non-ASCII byte at every offset of a word.
        for at in 0..20 {
            for special in ["\\\"", "\\n", "\u{1}", "\u{e9}", "\""] {
                let mut text = "x".repeat(20);
                text.insert_str(at, special);
                cases.push(format!("\"{text}\""));
            }
        }
        for case in &cases {
            let read = parse(case).is_ok();
            let mut r = Reader::new(case.as_bytes());
            let skipped = r.skip_value(0).and_then(|_| r.end()).is_ok();
            assert_eq!(read, skipped, "{case}");
        }
        // Numbers with digit runs of every length, and a bad byte after each.
        for len in 1..20 {
            let digits: String = (0..len).map(|i| char::from(b'1' + (i % 9) as u8)).collect();
            for text in [
                digits.clone(),
                format!("-{digits}.{digits}e-{digits}"),
                format!("0.{digits}E+1"),
            ] {
                let mut r = Reader::new(text.as_bytes());
                assert_eq!(r.number().unwrap(), text.as_bytes());
                for bad in [":", "\u{ff}", "a"] {
                    let text = format!("[{text}{bad}]");
                    let mut r = Reader::new(text.as_bytes());
                    assert!(r.skip_value(0).is_err(), "{text}");
                }
            }
        }
        // Invalid UTF-8 inside a string is refused, wherever it is.
        for at in 1..12 {
            let mut bytes = b"\"abcdefghijkl\"".to_vec();
            bytes[at] = 0xff;
            assert!(Reader::new(&bytes).skip_value(0).is_err(), "0xff at {at}");
            assert!(Reader::new(&bytes).string_into(&mut Vec::new()).is_err());
        }
        // A plain string is read in place, with or without its quotes.
        let mut r = Reader::new(long.as_bytes());
        assert_eq!(
            r.plain_string().unwrap(),
            Some(&long.as_bytes()[1..long.len() - 1])
        );
        let mut r = Reader::new(br#""a\nb""#);
        assert_eq!(r.plain_string_quoted().unwrap(), None);
        assert_eq!(r.pos, 0, "nothing consumed: the caller decodes the string");
    }

    #[test]
    fn positions() {
        let text = "{\n  \"a\": [x]\n}";
        let e = parse(text).unwrap_err();
        assert_eq!(line_col(text, e.offset), (2, 9));
    }
}
