//! Errors of the ActiveMQ connector, classified in one place for both protocols.
//!
//! | error | class | pipe's reason |
//! |---|---|---|
//! | the broker refused the login (`SecurityException`, "password", "credential", ...) | permanent | `EVENT_SOURCE_AUTHN_ERROR` |
//! | the broker refused a subscription ("not authorized") | permanent | `EVENT_SOURCE_AUTHZ_ERROR` |
//! | another refusal (an ERROR frame, an `ExceptionResponse`) | disconnected | `PROBLEM: broker error` |
//! | connect refused or timed out, connection closed, a frame that does not decode | disconnected | `PROBLEM: connection lost` |
//!
//! Neither protocol gives refusals a code, so the refusal's text decides. Authorization is
//! tested first: ActiveMQ's "User x is not authorized to read from: queue://q" must not read
//! as a login failure.

pub use crate::openwire::error::OpenWireError;
pub use crate::stomp::error::StompError;
use sluice_core::session::{ErrorClass, SourceError};
use sluice_core::status::Reason;

/// The reason a broker's refusal gives, from its text.
fn refusal(text: &str) -> Reason {
    let t = text.to_ascii_lowercase();
    if t.contains("not authorized") || t.contains("authoriz") {
        Reason::AuthorizationRefused
    } else if [
        "securityexception",
        "password",
        "login",
        "credential",
        "authenticat",
        "access_refused",
    ]
    .iter()
    .any(|w| t.contains(w))
    {
        Reason::AuthenticationRefused
    } else {
        Reason::SourceError
    }
}

fn class_of(reason: &Reason) -> ErrorClass {
    match reason {
        Reason::AuthenticationRefused | Reason::AuthorizationRefused => ErrorClass::Permanent,
        _ => ErrorClass::Disconnected,
    }
}

impl SourceError for StompError {
    fn class(&self) -> ErrorClass {
        class_of(&self.reason())
    }

    fn reason(&self) -> Reason {
        match self {
            StompError::Broker { message } => refusal(message),
            StompError::Shared(e) => e.reason(),
            _ => Reason::ConnectionLost,
        }
    }
}

impl SourceError for OpenWireError {
    fn class(&self) -> ErrorClass {
        class_of(&self.reason())
    }

    fn reason(&self) -> Reason {
        match self {
            OpenWireError::Broker(t) => refusal(&t.to_string()),
            OpenWireError::Shared(e) => e.reason(),
            _ => Reason::ConnectionLost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_activemq_words_them() {
        for (text, reason) in [
            (
                "User name [bad] or password is invalid.",
                Reason::AuthenticationRefused,
            ),
            (
                "java.lang.SecurityException: User name [x] or password is invalid.",
                Reason::AuthenticationRefused,
            ),
            (
                "User guest is not authorized to read from: queue://orders",
                Reason::AuthorizationRefused,
            ),
            ("Unknown STOMP action: FOO", Reason::SourceError),
        ] {
            assert_eq!(refusal(text), reason, "{text}");
        }
    }
}
