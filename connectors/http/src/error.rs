//! Errors of the HTTP connector, classified in one place into the runner's [`SinkError`].

use sluice_core::sink::SinkError;

/// The request never got an answer: a connection error, described with its whole cause chain
/// (hyper_util's own message is only "client error (Connect)"). It never holds the URL.
pub(crate) fn unreachable(e: &hyper_util::client::legacy::Error) -> SinkError {
    let mut msg = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    SinkError::Connection(msg)
}
