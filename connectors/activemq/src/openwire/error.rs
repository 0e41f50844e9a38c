//! Errors of the OpenWire protocol (classified with STOMP's in `crate::error`).

use crate::openwire::wire::{CodecError, Throwable};

#[derive(Debug, thiserror::Error)]
/// Why an OpenWire connection, subscription or send failed.
pub enum OpenWireError {
    #[error(transparent)]
    /// The TCP or TLS connection could not be opened.
    Connect(#[from] crate::connection::ConnectError),
    #[error("timed out {0}")]
    /// The broker did not answer in time, while doing this.
    Timeout(&'static str),
    #[error(transparent)]
    /// A command that does not decode.
    Codec(#[from] CodecError),
    #[error("the broker closed the connection")]
    /// The broker closed the connection.
    Closed,
    #[error("the broker sent nothing for {0:?} (keep-alives missed)")]
    /// The broker stayed silent past the negotiated inactivity duration.
    Silent(std::time::Duration),
    /// An `ExceptionResponse` or `ConnectionError`: the broker's Java exception.
    #[error("the broker refused: {0}")]
    Broker(Throwable),
    #[error("{0}")]
    /// The broker broke the protocol.
    Protocol(String),
    #[error(transparent)]
    /// What ended a connection shared by several pipes, as each of them sees it.
    Shared(std::sync::Arc<OpenWireError>),
}

impl OpenWireError {
    /// A refusal with the broker's exception, if it sent one.
    pub fn broker(t: Option<Throwable>) -> Self {
        OpenWireError::Broker(t.unwrap_or_default())
    }

    /// Whether the broker refused the request itself (as opposed to the connection failing).
    pub fn is_refusal(&self) -> bool {
        match self {
            OpenWireError::Broker(_) => true,
            OpenWireError::Shared(e) => e.is_refusal(),
            _ => false,
        }
    }
}
