//! Errors of the HTTP connector.

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("building the request: {0}")]
    Request(#[from] http::Error),
}
