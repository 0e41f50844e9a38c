//! Errors of the OpenWire connector, classified in one place.

use crate::wire::{CodecError, Throwable};

#[derive(Debug, thiserror::Error)]
pub enum OpenWireError {
    #[error(transparent)]
    Connect(#[from] sluice_core::net::ConnectError),
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
    #[error("the broker sent nothing for {0:?} (keep-alives missed)")]
    Silent(std::time::Duration),
}

impl OpenWireError {
    pub fn broker(t: Option<Throwable>) -> Self {
        OpenWireError::Broker(t.unwrap_or_default())
    }

    /// The ESM state transition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            OpenWireError::Broker(t) => {
                let text = t.to_string().to_ascii_lowercase();
                if text.contains("not authorized") || text.contains("authoriz") {
                    "EVENT_SOURCE_AUTHZ_ERROR"
                } else if text.contains("securityexception")
                    || text.contains("password")
                    || text.contains("credential")
                    || text.contains("authenticat")
                {
                    "EVENT_SOURCE_AUTHN_ERROR"
                } else {
                    "PROBLEM: broker error"
                }
            }
            _ => "PROBLEM: connection lost",
        }
    }

    /// Whether the broker refused the request itself (as opposed to the connection failing).
    pub fn is_refusal(&self) -> bool {
        matches!(self, OpenWireError::Broker(_))
    }
}

impl sluice_core::source::SessionError for OpenWireError {
    fn reason(&self) -> &'static str {
        OpenWireError::reason(self)
    }
}
