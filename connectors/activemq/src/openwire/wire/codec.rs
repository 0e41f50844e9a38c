//! Size-prefixed frames: a 32-bit big-endian length, then the command's type byte and fields.

use super::buf::{Reader, WireError};
use super::command::Command;
use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Frames larger than this are refused before anything is allocated for them (ActiveMQ's own
/// default limit is 100 MiB; Sluice offers 64 MiB in its `WireFormatInfo`).
pub(crate) const MAX_FRAME: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("openwire: {0}")]
    Wire(#[from] WireError),
}

/// The OpenWire framing for `tokio_util::codec::Framed`.
#[derive(Clone, Debug)]
pub(crate) struct OpenWireCodec {
    pub max_frame: usize,
    /// Negotiated: whether exceptions carry stack traces.
    pub stack_traces: bool,
}

impl Default for OpenWireCodec {
    fn default() -> Self {
        OpenWireCodec {
            max_frame: MAX_FRAME,
            stack_traces: false,
        }
    }
}

impl Decoder for OpenWireCodec {
    type Item = Command;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Command>, CodecError> {
        let Some(head) = src.get(..4) else {
            return Ok(None);
        };
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if size > self.max_frame {
            return Err(WireError::TooLarge {
                size: size as u64,
                max: self.max_frame,
            }
            .into());
        }
        if size == 0 {
            return Err(WireError::Invalid("an empty frame").into());
        }
        if src.len() < 4 + size {
            src.reserve(4 + size - src.len());
            return Ok(None);
        }
        src.advance(4);
        let mut r = Reader::new(src.split_to(size).freeze());
        r.stack_traces = self.stack_traces;
        Ok(Some(Command::read(&mut r)?))
    }
}

impl OpenWireCodec {
    /// Append one frame for `c` to `dst`.
    pub(crate) fn encode_frame(&self, c: &Command, dst: &mut BytesMut) -> Result<(), CodecError> {
        let start = dst.len();
        dst.put_u32(0);
        c.write(dst)?;
        let size = dst.len() - start - 4;
        if size > self.max_frame {
            dst.truncate(start);
            return Err(WireError::TooLarge {
                size: size as u64,
                max: self.max_frame,
            }
            .into());
        }
        dst[start..start + 4].copy_from_slice(&(size as u32).to_be_bytes());
        Ok(())
    }
}

impl Encoder<Command> for OpenWireCodec {
    type Error = CodecError;

    fn encode(&mut self, c: Command, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode_frame(&c, dst)
    }
}
