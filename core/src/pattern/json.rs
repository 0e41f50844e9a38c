//! A small strict JSON reader shared by the pattern compiler and the event flattener.
//!
//! Not serde_json, for three reasons: patterns need every number's literal text (an AWS account
//! number such as `123456789012345678` is matched as written, not as the nearest double) and
//! their keys in order with duplicates (the pattern compiler's override rules depend on both);
//! errors need byte offsets, so `sluice validate` can point at the bad operand; and the event
//! flattener writes fields straight into reusable buffers, with no tree per event.

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
    /// The whole input is valid UTF-8 (checked once, which is several times faster than
    /// string by string): every string in it is then valid too, since strings are cut at
    /// ASCII bytes and escapes decode to whole characters. Otherwise each string is checked,
    /// so the error names the string.
    utf8: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            pos: 0,
            utf8: std::str::from_utf8(bytes).is_ok(),
        }
    }

    pub(crate) fn error<T>(&self, message: impl Into<String>) -> Result<T, JsonError> {
        Err(JsonError {
            offset: self.pos,
            message: message.into(),
        })
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next non-space byte, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn expect(&mut self, b: u8) -> Result<(), JsonError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            self.unexpected(&format!("`{}`", b as char))
        }
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
        self.expect(b'"')?;
        let start_len = out.len();
        loop {
            let run = self.pos;
            while let Some(&c) = self.bytes.get(self.pos) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.extend_from_slice(&self.bytes[run..self.pos]);
            match self.bytes.get(self.pos) {
                None => return self.error("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => self.escape(out)?,
                Some(_) => return self.error("control character in a string must be escaped"),
            }
        }
        if !self.utf8 && std::str::from_utf8(&out[start_len..]).is_err() {
            return self.error("string is not valid UTF-8");
        }
        Ok(())
    }

    /// Check and step over a string without keeping it (no allocation).
    fn skip_string(&mut self) -> Result<(), JsonError> {
        self.expect(b'"')?;
        let mut run = self.pos;
        loop {
            while let Some(&c) = self.bytes.get(self.pos) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            if !self.utf8 && std::str::from_utf8(&self.bytes[run..self.pos]).is_err() {
                return self.error("string is not valid UTF-8");
            }
            match self.bytes.get(self.pos) {
                None => return self.error("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.escape_to(&mut Discard)?;
                    run = self.pos;
                }
                Some(_) => return self.error("control character in a string must be escaped"),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        self.escape_to(out)
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
    pub(crate) fn number(&mut self) -> Result<&'a str, JsonError> {
        self.skip_ws();
        let start = self.pos;
        let b = self.bytes;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = b.get(i) {
                    i += 1;
                }
            }
            _ => {
                self.pos = i;
                return self.unexpected("a digit");
            }
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.pos = i;
                return self.unexpected("a digit after `.`");
            }
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.pos = i;
                return self.unexpected("a digit in the exponent");
            }
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
        }
        if let Some(b'0'..=b'9') = b.get(i) {
            self.pos = i;
            return self.error("leading zeros are not allowed in JSON numbers");
        }
        self.pos = i;
        // Only ASCII was consumed.
        Ok(std::str::from_utf8(&b[start..i]).unwrap_or("0"))
    }

    /// `true`, `false` or `null`, returned as written.
    pub(crate) fn literal(&mut self) -> Result<&'static str, JsonError> {
        self.skip_ws();
        for lit in ["true", "false", "null"] {
            if self.bytes[self.pos..].starts_with(lit.as_bytes()) {
                self.pos += lit.len();
                return Ok(lit);
            }
        }
        self.unexpected("a JSON value")
    }

    /// Check and step over one value.
    pub(crate) fn skip_value(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return self.error("JSON nested too deeply");
        }
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_string()?;
                    self.expect(b':')?;
                    self.skip_value(depth + 1)?;
                    if !self.comma_or(b'}')? {
                        return Ok(());
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if !self.comma_or(b']')? {
                        return Ok(());
                    }
                }
            }
            Some(b'"') => self.skip_string(),
            Some(b'-' | b'0'..=b'9') => self.number().map(|_| ()),
            _ => self.literal().map(|_| ()),
        }
    }

    /// After a member: `true` if a `,` follows (more to come), `false` at the closing byte.
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
            _ => self.unexpected(&format!("`,` or `{}`", close as char)),
        }
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
        Some(b'-' | b'0'..=b'9') => Node::Number(r.number()?.to_owned()),
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

    #[test]
    fn positions() {
        let text = "{\n  \"a\": [x]\n}";
        let e = parse(text).unwrap_err();
        assert_eq!(line_col(text, e.offset), (2, 9));
    }
}
