//! Errors of the STOMP connector, classified in one place.

use crate::codec::{CodecError, Frame};

#[derive(Debug, thiserror::Error)]
pub enum StompError {
    #[error(transparent)]
    Connect(#[from] sluice_core::net::ConnectError),
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
    #[error("the broker sent nothing for {0:?} (heart-beats missed)")]
    Silent(std::time::Duration),
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

    /// The ESM state transition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            StompError::Broker { message } => {
                let m = message.to_ascii_lowercase();
                if m.contains("password")
                    || m.contains("login")
                    || m.contains("credential")
                    || m.contains("authenticat")
                    || m.contains("access_refused")
                {
                    "EVENT_SOURCE_AUTHN_ERROR"
                } else if m.contains("not authorized") || m.contains("authoriz") {
                    "EVENT_SOURCE_AUTHZ_ERROR"
                } else {
                    "PROBLEM: broker error"
                }
            }
            _ => "PROBLEM: connection lost",
        }
    }
}

impl sluice_core::source::SessionError for StompError {
    fn reason(&self) -> &'static str {
        StompError::reason(self)
    }
}
