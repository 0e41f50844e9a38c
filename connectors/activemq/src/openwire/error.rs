//! Errors of the OpenWire protocol (classified with STOMP's in `crate::error`).

use crate::openwire::wire::{CodecError, Throwable};

#[derive(Debug, thiserror::Error)]
pub enum OpenWireError {
    #[error(transparent)]
    Connect(#[from] crate::connection::ConnectError),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("the broker closed the connection")]
    Closed,
    /// An `ExceptionResponse` or `ConnectionError`: the broker's Java exception.
    #[error("the broker refused: {0}")]
    Broker(Throwable),
    #[error("{0}")]
    Protocol(String),
}

impl OpenWireError {
    pub fn broker(t: Option<Throwable>) -> Self {
        OpenWireError::Broker(t.unwrap_or_default())
    }

    /// Whether the broker refused the request itself (as opposed to the connection failing).
    pub fn is_refusal(&self) -> bool {
        matches!(self, OpenWireError::Broker(_))
    }
}
