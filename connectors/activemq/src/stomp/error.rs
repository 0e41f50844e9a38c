//! Errors of the STOMP protocol (classified with OpenWire's in `crate::error`).

use crate::stomp::codec::{CodecError, Frame};

#[derive(Debug, thiserror::Error)]
/// Why a STOMP connection, subscription or send failed.
pub enum StompError {
    #[error(transparent)]
    /// The TCP or TLS connection could not be opened.
    Connect(#[from] crate::connection::ConnectError),
    #[error("timed out {0}")]
    /// The broker did not answer in time, while doing this.
    Timeout(&'static str),
    #[error(transparent)]
    /// A frame that does not decode.
    Codec(#[from] CodecError),
    #[error("the broker closed the connection")]
    /// The broker closed the connection.
    Closed,
    #[error("the broker sent nothing for {0:?} (heart-beats missed)")]
    /// The broker stayed silent past the negotiated heart-beat.
    Silent(std::time::Duration),
    #[error("the broker sent ERROR: {message}")]
    /// The broker sent an ERROR frame.
    Broker {
        /// Its `message` header, with the first line of its body.
        message: String,
    },
    #[error("{0}")]
    /// The broker broke the protocol.
    Protocol(String),
    #[error(transparent)]
    /// What ended a connection shared by several pipes, as each of them sees it.
    Shared(std::sync::Arc<StompError>),
}

impl StompError {
    /// The error an ERROR frame reports (its `message` and first body line).
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
