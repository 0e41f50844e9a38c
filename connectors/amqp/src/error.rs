//! Errors of the AMQP connector, classified in one place.

/// How a failure should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying as is (network, broker restarting).
    Transient,
    /// The broker refused the credentials: ESM's `EVENT_SOURCE_AUTHN_ERROR`.
    Authentication,
    /// The user may not use the vhost or queue: `EVENT_SOURCE_AUTHZ_ERROR`.
    Authorization,
    /// The queue or exchange does not exist: `ESM_CONFIG_NOT_VALID`.
    NotFound,
}

impl ErrorClass {
    /// The ESM state transition reason for this class.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorClass::Transient => "PROBLEM: connection lost",
            ErrorClass::Authentication => "EVENT_SOURCE_AUTHN_ERROR",
            ErrorClass::Authorization => "EVENT_SOURCE_AUTHZ_ERROR",
            ErrorClass::NotFound => "ESM_CONFIG_NOT_VALID",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("connecting to {node}: {source}")]
    Connect {
        node: String,
        #[source]
        source: lapin::Error,
    },
    #[error("{what}: {source}")]
    Channel {
        what: &'static str,
        #[source]
        source: lapin::Error,
    },
    #[error("the broker cancelled the consumer or closed the channel")]
    ConsumerGone,
    #[error("connecting to {node}: no answer within {after:?}")]
    ConnectTimeout {
        node: String,
        after: std::time::Duration,
    },
}

impl AmqpError {
    pub fn class(&self) -> ErrorClass {
        let source = match self {
            AmqpError::Connect { source, .. } | AmqpError::Channel { source, .. } => source,
            AmqpError::ConsumerGone | AmqpError::ConnectTimeout { .. } => {
                return ErrorClass::Transient;
            }
        };
        classify(source)
    }
}

/// AMQP reply codes: 403 ACCESS_REFUSED, 404 NOT_FOUND, 530 NOT_ALLOWED (vhost access).
pub fn classify(e: &lapin::Error) -> ErrorClass {
    let text = e.to_string();
    if let lapin::ErrorKind::ProtocolError(amqp) = e.kind() {
        match amqp.get_id() {
            403 if text.contains("login") || text.contains("PLAIN") || text.contains("auth") => {
                return ErrorClass::Authentication;
            }
            403 | 530 => return ErrorClass::Authorization,
            404 => return ErrorClass::NotFound,
            _ => {}
        }
    }
    if text.contains("ACCESS_REFUSED") && (text.contains("login") || text.contains("PLAIN")) {
        return ErrorClass::Authentication;
    }
    ErrorClass::Transient
}

impl sluice_core::source::SessionError for AmqpError {
    fn reason(&self) -> &'static str {
        self.class().reason()
    }
}
