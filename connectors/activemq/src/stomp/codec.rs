//! STOMP 1.2 frames on `tokio-util`'s codec traits.
//!
//! ```text
//! COMMAND EOL  (header ":" value EOL)*  EOL  body  NUL     EOL = LF or CR LF
//! ```
//!
//! - Header names and values are escaped (`\\`, `\n`, `\r`, `\c` for `:`) in every frame but
//!   CONNECT and CONNECTED; an undefined escape is an error. Of repeated headers the first wins.
//! - A `content-length` header gives the body's size (it may then hold NUL bytes); without one
//!   the body ends at the first NUL.
//! - EOLs between frames are heart-beats; the decoder yields them so that the connection knows
//!   the peer is alive.
//! - A frame larger than `max_frame` is an error, before it is buffered whole.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// `CONNECT`, `MESSAGE`, `ACK`, ...
    pub command: String,
    /// Headers in order, unescaped.
    pub headers: Vec<(String, String)>,
    /// The body, as sent.
    pub body: Bytes,
}

impl Frame {
    /// A frame with no headers and no body.
    pub fn new(command: &str) -> Self {
        Frame {
            command: command.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The first value of a header.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the decoder yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A frame to send.
    Frame(Frame),
    /// A heart-beat (a lone newline).
    Heartbeat,
}

#[derive(Debug, thiserror::Error)]
/// A stream of bytes that is not STOMP 1.2.
pub enum CodecError {
    #[error("malformed stomp frame: {0}")]
    /// Not a frame: what is wrong with it.
    Malformed(String),
    #[error("stomp frame larger than {0} bytes")]
    /// A frame larger than the limit (bytes).
    TooLarge(usize),
    #[error(transparent)]
    /// The connection failed.
    Io(#[from] std::io::Error),
}

/// Frames both ways, with a size limit on what is read.
#[derive(Clone, Debug)]
pub struct StompCodec {
    /// Largest frame accepted, in bytes.
    pub max_frame: usize,
}

impl Default for StompCodec {
    fn default() -> Self {
        StompCodec {
            max_frame: 16 * 1024 * 1024,
        }
    }
}

fn malformed(what: impl Into<String>) -> CodecError {
    CodecError::Malformed(what.into())
}

/// Frames whose headers are not escaped.
fn raw_headers(command: &str) -> bool {
    command == "CONNECT" || command == "CONNECTED"
}

fn unescape(raw: &[u8]) -> Result<String, CodecError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next() {
            Some(b'\\') => b'\\',
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b'c') => b':',
            other => {
                return Err(malformed(format!(
                    "undefined escape \\{}",
                    other.map_or(String::new(), |c| (*c as char).to_string())
                )));
            }
        });
    }
    String::from_utf8(out).map_err(|_| malformed("header is not UTF-8"))
}

fn escape_into(s: &str, out: &mut BytesMut) {
    for b in s.bytes() {
        match b {
            b'\\' => out.put_slice(b"\\\\"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b':' => out.put_slice(b"\\c"),
            _ => out.put_u8(b),
        }
    }
}

/// A line without its EOL.
fn trim_eol(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl Decoder for StompCodec {
    type Item = Item;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, CodecError> {
        // Heart-beats: EOLs before a frame.
        match buf.first() {
            None => return Ok(None),
            Some(b'\n') => {
                buf.advance(1);
                return Ok(Some(Item::Heartbeat));
            }
            Some(b'\r') => {
                if buf.len() < 2 {
                    return Ok(None);
                }
                if buf[1] != b'\n' {
                    return Err(malformed("CR without LF"));
                }
                buf.advance(2);
                return Ok(Some(Item::Heartbeat));
            }
            Some(_) => {}
        }
        // The header block ends at the first empty line.
        let mut lines = Vec::new();
        let mut pos = 0;
        let header_end = loop {
            let Some(nl) = memchr::memchr(b'\n', &buf[pos..]) else {
                if buf.len() > self.max_frame {
                    return Err(CodecError::TooLarge(self.max_frame));
                }
                return Ok(None);
            };
            let line = trim_eol(&buf[pos..pos + nl]);
            let next = pos + nl + 1;
            if line.is_empty() {
                break next;
            }
            lines.push((pos, pos + line.len()));
            pos = next;
            if pos > self.max_frame {
                return Err(CodecError::TooLarge(self.max_frame));
            }
        };
        let (cs, ce) = lines[0];
        let command = std::str::from_utf8(&buf[cs..ce])
            .map_err(|_| malformed("command is not UTF-8"))?
            .to_owned();
        if command.is_empty() || !command.bytes().all(|c| c.is_ascii_uppercase()) {
            return Err(malformed(format!("bad command {command:?}")));
        }
        let raw = raw_headers(&command);
        let mut headers: Vec<(String, String)> = Vec::with_capacity(lines.len() - 1);
        for &(s, e) in &lines[1..] {
            let line = &buf[s..e];
            let Some(colon) = memchr::memchr(b':', line) else {
                return Err(malformed("header without ':'"));
            };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            let (name, value) = if raw {
                (
                    String::from_utf8_lossy(name).into_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            } else {
                (unescape(name)?, unescape(value)?)
            };
            headers.push((name, value));
        }
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| malformed(format!("content-length {v:?}")))
            })
            .transpose()?;
        let body_end = match length {
            Some(n) => {
                let end = header_end
                    .checked_add(n)
                    .filter(|e| *e < self.max_frame)
                    .ok_or(CodecError::TooLarge(self.max_frame))?;
                if buf.len() <= end {
                    buf.reserve(end + 1 - buf.len());
                    return Ok(None);
                }
                if buf[end] != 0 {
                    return Err(malformed("body longer than its content-length"));
                }
                end
            }
            None => match memchr::memchr(0, &buf[header_end..]) {
                Some(i) => header_end + i,
                None if buf.len() > self.max_frame => {
                    return Err(CodecError::TooLarge(self.max_frame));
                }
                None => return Ok(None),
            },
        };
        let mut frame_bytes = buf.split_to(body_end + 1);
        frame_bytes.advance(header_end);
        frame_bytes.truncate(body_end - header_end);
        // Of repeated headers the first wins: drop the later ones.
        let mut seen: Vec<usize> = Vec::new();
        for (i, (k, _)) in headers.iter().enumerate() {
            if headers[..i].iter().any(|(x, _)| x == k) {
                seen.push(i);
            }
        }
        for i in seen.into_iter().rev() {
            headers.remove(i);
        }
        Ok(Some(Item::Frame(Frame {
            command,
            headers,
            body: frame_bytes.freeze(),
        })))
    }
}

/// What is written: a frame, or a heart-beat (one EOL).
#[derive(Clone, Debug)]
pub enum Out {
    /// A frame received.
    Frame(Frame),
    /// A heart-beat received.
    Heartbeat,
}

impl Encoder<Out> for StompCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Out, out: &mut BytesMut) -> Result<(), CodecError> {
        let frame = match item {
            Out::Heartbeat => {
                out.put_u8(b'\n');
                return Ok(());
            }
            Out::Frame(f) => f,
        };
        out.reserve(frame.command.len() + 64 + frame.body.len());
        out.put_slice(frame.command.as_bytes());
        out.put_u8(b'\n');
        let raw = raw_headers(&frame.command);
        for (k, v) in &frame.headers {
            if raw {
                out.put_slice(k.as_bytes());
                out.put_u8(b':');
                out.put_slice(v.as_bytes());
            } else {
                escape_into(k, out);
                out.put_u8(b':');
                escape_into(v, out);
            }
            out.put_u8(b'\n');
        }
        out.put_u8(b'\n');
        out.put_slice(&frame.body);
        out.put_u8(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Vec<Item>, CodecError> {
        let mut codec = StompCodec { max_frame: 4096 };
        let mut buf = BytesMut::from(input);
        let mut items = Vec::new();
        while let Some(item) = codec.decode(&mut buf)? {
            items.push(item);
        }
        Ok(items)
    }

    #[test]
    fn escaped_headers_crlf_and_binary_bodies() {
        let input = b"MESSAGE\r\nmessage-id:ID\\cbroker-1\\c1\r\nx:a\\\\b\\nc\r\nx:second\r\ncontent-length:3\r\n\r\na\0b\0\n\nSEND\ndestination:/queue/q\n\nhi\0";
        let items = decode_all(input).unwrap();
        let Item::Frame(m) = &items[0] else { panic!() };
        assert_eq!(m.command, "MESSAGE");
        assert_eq!(m.get("message-id"), Some("ID:broker-1:1"));
        assert_eq!(
            m.get("x"),
            Some("a\\b\nc"),
            "first of repeated headers wins"
        );
        assert_eq!(m.headers.len(), 3);
        assert_eq!(&m.body[..], b"a\0b");
        assert_eq!(items[1], Item::Heartbeat);
        assert_eq!(items[2], Item::Heartbeat);
        let Item::Frame(s) = &items[3] else { panic!() };
        assert_eq!(&s.body[..], b"hi");
    }

    #[test]
    fn connected_headers_are_not_unescaped() {
        let items = decode_all(b"CONNECTED\nserver:a\\cb\n\n\0").unwrap();
        let Item::Frame(f) = &items[0] else { panic!() };
        assert_eq!(f.get("server"), Some("a\\cb"));
    }

    #[test]
    fn partial_input_waits_and_bad_input_is_an_error() {
        assert!(decode_all(b"MESSAGE\nfoo:bar\n").unwrap().is_empty());
        assert!(
            decode_all(b"MESSAGE\ncontent-length:5\n\nab")
                .unwrap()
                .is_empty()
        );
        assert!(decode_all(b"MESSAGE\nfoo:b\\qr\n\n\0").is_err());
        assert!(decode_all(b"MESSAGE\nnocolon\n\n\0").is_err());
        assert!(decode_all(b"message\n\n\0").is_err());
        assert!(decode_all(b"MESSAGE\ncontent-length:1\n\nab\0").is_err());
        assert!(matches!(
            decode_all(&[b'A'; 5000]),
            Err(CodecError::TooLarge(4096))
        ));
        assert!(matches!(
            decode_all(b"MESSAGE\ncontent-length:99999\n\n"),
            Err(CodecError::TooLarge(4096))
        ));
    }

    #[test]
    fn encoded_frames_decode_to_themselves() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let text = |rng: &mut fastrand::Rng| -> String {
                (0..rng.usize(0..12))
                    .map(|_| *rng.choice(b"ab:\\\n\r xyz\xc3".iter()).unwrap() as char)
                    .collect()
            };
            let mut f = Frame::new(rng.choice(["SEND", "MESSAGE", "ACK"].iter()).unwrap());
            for i in 0..rng.usize(0..5) {
                f.headers
                    .push((format!("h{i}{}", text(&mut rng)), text(&mut rng)));
            }
            let body: Vec<u8> = (0..rng.usize(0..50)).map(|_| rng.u8(..)).collect();
            f.headers
                .push(("content-length".into(), body.len().to_string()));
            f.body = Bytes::from(body);
            let mut buf = BytesMut::new();
            StompCodec::default()
                .encode(Out::Frame(f.clone()), &mut buf)
                .unwrap();
            let items = decode_all(&buf).unwrap();
            assert_eq!(items, vec![Item::Frame(f)]);
        }
    }

    #[test]
    fn no_input_makes_the_decoder_panic() {
        let mut rng = fastrand::Rng::with_seed(11);
        let alphabet = b"MESAGCONTD:\\ncr\r\n\0content-length:12 ";
        for _ in 0..20_000 {
            let input: Vec<u8> = (0..rng.usize(0..80))
                .map(|_| {
                    if rng.bool() {
                        *rng.choice(alphabet.iter()).unwrap()
                    } else {
                        rng.u8(..)
                    }
                })
                .collect();
            let _ = decode_all(&input);
        }
    }
}
