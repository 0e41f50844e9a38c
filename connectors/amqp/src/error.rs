//! Errors of the AMQP connector, classified in one place: AMQP reply codes decide which are
//! refusals (permanent until someone changes the broker or the pipe) and which reason the
//! pipe shows; everything else is a lost connection.

use sluice_core::session::{ErrorClass, SourceError};
use sluice_core::status::Reason;

/// What a reply code means for the pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a refusal: the network, a broker restarting.
    None,
    /// The broker refused the credentials: ESM's `EVENT_SOURCE_AUTHN_ERROR`.
    Authentication,
    /// The user may not use the vhost or queue: `EVENT_SOURCE_AUTHZ_ERROR`.
    Authorization,
    /// The queue or exchange does not exist: `ESM_CONFIG_NOT_VALID`.
    NotFound,
}

#[derive(Clone, Debug, thiserror::Error)]
/// Why an AMQP connection, channel or consumer failed.
pub enum AmqpError {
    #[error("connecting to {node}: {source}")]
    /// Connecting to a node failed.
    Connect {
        /// The node, without credentials.
        node: String,
        #[source]
        /// What lapin reported.
        source: lapin::Error,
    },
    #[error("{what}: {source}")]
    /// A channel operation failed.
    Channel {
        /// The operation.
        what: &'static str,
        #[source]
        /// What lapin reported.
        source: lapin::Error,
    },
    #[error("the broker cancelled the consumer or closed the channel")]
    /// The broker cancelled the consumer or closed its channel.
    ConsumerGone,
    #[error("connecting to {node}: no answer within {after:?}")]
    /// Connecting to a node took too long.
    ConnectTimeout {
        /// The node, without credentials.
        node: String,
        /// How long it was given.
        after: std::time::Duration,
    },
}

impl AmqpError {
    /// Whether, and how, the broker refused.
    pub fn refusal(&self) -> Refusal {
        match self {
            AmqpError::Connect { source, .. } | AmqpError::Channel { source, .. } => {
                classify(source)
            }
            AmqpError::ConsumerGone | AmqpError::ConnectTimeout { .. } => Refusal::None,
        }
    }
}

impl SourceError for AmqpError {
    fn class(&self) -> ErrorClass {
        match self.refusal() {
            Refusal::None => ErrorClass::Disconnected,
            _ => ErrorClass::Permanent,
        }
    }

    fn reason(&self) -> Reason {
        match self.refusal() {
            Refusal::None => Reason::ConnectionLost,
            Refusal::Authentication => Reason::AuthenticationRefused,
            Refusal::Authorization => Reason::AuthorizationRefused,
            Refusal::NotFound => Reason::ConfigNotValid(None),
        }
    }
}

/// AMQP reply codes: 403 ACCESS_REFUSED, 404 NOT_FOUND, 530 NOT_ALLOWED (vhost access).
pub fn classify(e: &lapin::Error) -> Refusal {
    let text = e.to_string();
    if let lapin::ErrorKind::ProtocolError(amqp) = e.kind() {
        match amqp.get_id() {
            403 if text.contains("login") || text.contains("PLAIN") || text.contains("auth") => {
                return Refusal::Authentication;
            }
            403 | 530 => return Refusal::Authorization,
            404 => return Refusal::NotFound,
            _ => {}
        }
    }
    if text.contains("ACCESS_REFUSED") && (text.contains("login") || text.contains("PLAIN")) {
        return Refusal::Authentication;
    }
    Refusal::None
}
