//! Errors of the STOMP protocol (classified with OpenWire's in `crate::error`).

use crate::stomp::codec::{CodecError, Frame};

#[derive(Debug, thiserror::Error)]
pub enum StompError {
    #[error(transparent)]
    Connect(#[from] crate::connection::ConnectError),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("the broker closed the connection")]
    Closed,
    #[error("the broker sent ERROR: {message}")]
    Broker { message: String },
    #[error("{0}")]
    Protocol(String),
}

impl StompError {
    pub fn from_error_frame(f: &Frame) -> Self {
        let mut message = f.get("message").unwrap_or("").to_owned();
        let body = String::from_utf8_lossy(&f.body);
        let body = body.trim();
        if !body.is_empty() {
            message = format!("{message} ({})", body.lines().next().unwrap_or(""));
        }
        StompError::Broker { message }
    }
}
