//! Errors of the SQS connector, classified in one place.

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use sluice_core::session::{self, SourceError};
use sluice_core::status::Reason;

/// How a failure should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying as is (network, throttling, service errors).
    Transient,
    /// SQS asks us to slow down.
    Throttled,
    /// Credentials refused or missing: ESM's `EVENT_SOURCE_AUTHN_ERROR`.
    Authentication,
    /// Not allowed on this queue: `EVENT_SOURCE_AUTHZ_ERROR`.
    Authorization,
    /// The queue does not exist: `ESM_CONFIG_NOT_VALID`.
    NotFound,
    /// The request itself is wrong (a bad attribute, a body SQS will not take).
    Invalid,
}

impl ErrorClass {
    /// The ESM state transition reason for this class.
    pub fn reason(self) -> Reason {
        match self {
            ErrorClass::Transient | ErrorClass::Throttled => Reason::ConnectionLost,
            ErrorClass::Authentication => Reason::AuthenticationRefused,
            ErrorClass::Authorization => Reason::AuthorizationRefused,
            ErrorClass::NotFound | ErrorClass::Invalid => Reason::ConfigNotValid(None),
        }
    }
}

impl SourceError for SqsError {
    /// A throttled call leaves the session as it is; other failures end it (the next one
    /// starts by reading the queue's attributes again); refusals are permanent.
    fn class(&self) -> session::ErrorClass {
        match self.class {
            ErrorClass::Throttled => session::ErrorClass::Transient,
            ErrorClass::Transient => session::ErrorClass::Disconnected,
            ErrorClass::Authentication
            | ErrorClass::Authorization
            | ErrorClass::NotFound
            | ErrorClass::Invalid => session::ErrorClass::Permanent,
        }
    }

    fn reason(&self) -> Reason {
        self.class.reason()
    }
}

/// One failed SQS call.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {message}")]
pub struct SqsError {
    /// The SQS call that failed.
    pub call: &'static str,
    /// What the failure means.
    pub class: ErrorClass,
    /// What SQS (or the client) said.
    pub message: String,
}

impl SqsError {
    /// Classify an SDK error of `call`.
    pub fn from_sdk<E, R>(call: &'static str, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let (class, message) = match &e {
            SdkError::ServiceError(s) => {
                let err = s.err();
                let code = err.code().unwrap_or_default();
                let msg = err.message().unwrap_or_default();
                (classify_code(code), format!("{code}: {msg}"))
            }
            SdkError::ConstructionFailure(_) => {
                (ErrorClass::Authentication, format!("{}", DisplayChain(&e)))
            }
            _ => (ErrorClass::Transient, format!("{}", DisplayChain(&e))),
        };
        SqsError {
            call,
            class,
            message,
        }
    }
}

/// SQS error codes (JSON and query protocol spellings).
pub fn classify_code(code: &str) -> ErrorClass {
    match code {
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException"
        | "MissingAuthenticationToken"
        | "IncompleteSignature"
        | "ExpiredToken"
        | "InvalidSecurity" => ErrorClass::Authentication,
        "AccessDenied" | "AccessDeniedException" | "KmsAccessDenied" => ErrorClass::Authorization,
        "QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue" | "InvalidAddress" => {
            ErrorClass::NotFound
        }
        "RequestThrottled" | "ThrottlingException" | "KmsThrottled" | "OverLimit" => {
            ErrorClass::Throttled
        }
        "InvalidParameterValue"
        | "InvalidAttributeName"
        | "InvalidAttributeValue"
        | "InvalidMessageContents"
        | "MissingParameter"
        | "BatchRequestTooLong"
        | "UnsupportedOperation" => ErrorClass::Invalid,
        _ => ErrorClass::Transient,
    }
}

/// An error and its sources on one line: the SDK's top-level messages ("dispatch failure")
/// say little without them.
struct DisplayChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_esm_reasons() {
        let reason = |code| classify_code(code).reason().to_string();
        assert_eq!(reason("InvalidClientTokenId"), "EVENT_SOURCE_AUTHN_ERROR");
        assert_eq!(reason("SignatureDoesNotMatch"), "EVENT_SOURCE_AUTHN_ERROR");
        assert_eq!(reason("AccessDenied"), "EVENT_SOURCE_AUTHZ_ERROR");
        assert_eq!(
            reason("AWS.SimpleQueueService.NonExistentQueue"),
            "ESM_CONFIG_NOT_VALID"
        );
        assert_eq!(reason("QueueDoesNotExist"), "ESM_CONFIG_NOT_VALID");
        assert_eq!(classify_code("RequestThrottled"), ErrorClass::Throttled);
        assert_eq!(classify_code("InternalError"), ErrorClass::Transient);
    }
}
