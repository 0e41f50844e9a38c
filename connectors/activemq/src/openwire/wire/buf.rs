//! Reading and writing OpenWire's loose encoding: big-endian numbers, a boolean byte before
//! every optional value, `writeUTF` strings (a 16-bit length and modified UTF-8) and 32-bit
//! length-prefixed byte sequences.

use super::mutf8;
use bytes::{BufMut, Bytes, BytesMut};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("frame ends early")]
    Truncated,
    #[error("frame of {size} bytes is larger than the limit of {max}")]
    TooLarge { size: u64, max: usize },
    #[error("unknown data structure type {0}")]
    UnknownType(u8),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("a string of {0} bytes does not fit OpenWire's 65535")]
    StringTooLong(usize),
}

/// Reads a frame held in one `Bytes`; byte sequences come out as zero-copy slices.
pub(crate) struct Reader {
    data: Bytes,
    pos: usize,
    /// Nesting left before a structure is refused (hostile input cannot recurse deeply).
    pub depth: u8,
    /// Whether exceptions carry stack traces (negotiated; Sluice asks for none).
    pub stack_traces: bool,
}

macro_rules! read_number {
    ($name:ident, $t:ty) => {
        pub(crate) fn $name(&mut self) -> Result<$t, WireError> {
            let raw = self.take(std::mem::size_of::<$t>())?;
            Ok(<$t>::from_be_bytes(
                raw.try_into().map_err(|_| WireError::Truncated)?,
            ))
        }
    };
}

impl Reader {
    pub(crate) fn new(data: Bytes) -> Self {
        Reader {
            data,
            pos: 0,
            depth: 16,
            stack_traces: false,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated);
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.data[start..self.pos])
    }

    read_number!(u8, u8);
    read_number!(i16, i16);
    read_number!(u16, u16);
    read_number!(i32, i32);
    read_number!(i64, i64);
    read_number!(f32, f32);
    read_number!(f64, f64);

    pub(crate) fn bool(&mut self) -> Result<bool, WireError> {
        Ok(self.u8()? != 0)
    }

    /// `n` bytes, sharing the frame's buffer.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<Bytes, WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated);
        }
        let b = self.data.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// A length that must fit in what is left of the frame.
    pub(crate) fn length(&mut self, n: i64) -> Result<usize, WireError> {
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.remaining())
            .ok_or(WireError::Truncated)
    }

    /// `readUTF`: a 16-bit length, then modified UTF-8.
    pub(crate) fn utf(&mut self) -> Result<String, WireError> {
        let n = self.u16()? as usize;
        Ok(mutf8::decode(self.take(n)?))
    }

    /// `looseUnmarshalString`.
    pub(crate) fn opt_string(&mut self) -> Result<Option<String>, WireError> {
        if self.bool()? {
            Ok(Some(self.utf()?))
        } else {
            Ok(None)
        }
    }

    /// `looseUnmarshalByteSequence`.
    pub(crate) fn opt_bytes(&mut self) -> Result<Option<Bytes>, WireError> {
        if !self.bool()? {
            return Ok(None);
        }
        let n = self.i32()?;
        let n = self.length(n as i64)?;
        Ok(Some(self.bytes(n)?))
    }

    /// Enter a nested structure; refused past the depth limit.
    pub(crate) fn nest(&mut self) -> Result<(), WireError> {
        self.depth = self
            .depth
            .checked_sub(1)
            .ok_or(WireError::Invalid("structures nested too deeply"))?;
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth += 1;
    }
}

/// Appends to a frame being built.
pub(crate) struct Writer<'a>(pub &'a mut BytesMut);

impl Writer<'_> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.put_u8(v);
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.0.put_u8(v as u8);
    }
    pub(crate) fn i16(&mut self, v: i16) {
        self.0.put_i16(v);
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.0.put_i32(v);
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.0.put_i64(v);
    }
    pub(crate) fn f32(&mut self, v: f32) {
        self.0.put_f32(v);
    }
    pub(crate) fn f64(&mut self, v: f64) {
        self.0.put_f64(v);
    }
    pub(crate) fn raw(&mut self, v: &[u8]) {
        self.0.put_slice(v);
    }

    /// `writeUTF`.
    pub(crate) fn utf(&mut self, s: &str) -> Result<(), WireError> {
        let n = mutf8::encoded_len(s);
        let len = u16::try_from(n).map_err(|_| WireError::StringTooLong(n))?;
        self.0.put_u16(len);
        mutf8::encode_into(s, self.0);
        Ok(())
    }

    /// `looseMarshalString`.
    pub(crate) fn opt_string(&mut self, s: Option<&str>) -> Result<(), WireError> {
        self.bool(s.is_some());
        match s {
            Some(s) => self.utf(s),
            None => Ok(()),
        }
    }

    /// `looseMarshalByteSequence`.
    pub(crate) fn opt_bytes(&mut self, b: Option<&[u8]>) -> Result<(), WireError> {
        self.bool(b.is_some());
        if let Some(b) = b {
            let n = i32::try_from(b.len()).map_err(|_| WireError::TooLarge {
                size: b.len() as u64,
                max: i32::MAX as usize,
            })?;
            self.0.put_i32(n);
            self.0.put_slice(b);
        }
        Ok(())
    }
}
