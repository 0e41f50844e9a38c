//! The sink trait: targets and dead-letter destinations.

use crate::record::Record;
use async_trait::async_trait;
use std::time::Duration;

/// A confirmed delivery of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkOutcome {
    /// Every record was confirmed (HTTP 2xx, publisher confirms, ...).
    Delivered,
    /// The target confirmed some records and reported the others (positions in the batch) as
    /// failed; only those are retried.
    Partial {
        /// Positions in the batch of the records that failed.
        failed: Vec<usize>,
    },
}

/// Why a batch was not delivered at all.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// 429 or 503: retried with backoff, not counted as an attempt.
    #[error("throttled by the target")]
    Throttled {
        /// How long the target asked to be left alone (`Retry-After`).
        retry_after: Option<Duration>,
    },
    #[error("target did not answer within {0:?}")]
    /// No answer within this long: an attempt.
    Timeout(Duration),
    /// Could not reach the target (connect refused, connection lost).
    #[error("cannot reach the target: {0}")]
    Connection(String),
    /// The target answered, and the answer is a failure.
    #[error("{0}")]
    Failed(String),
}

/// [`Sink::call_timeout`] unless a sink says otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Deliver within the sink's [`Sink::call_timeout`]: no call, however stuck, holds a batch
/// forever.
pub async fn deliver_within(sink: &dyn Sink, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
    let limit = sink.call_timeout();
    tokio::time::timeout(limit, sink.deliver(batch))
        .await
        .unwrap_or(Err(SinkError::Timeout(limit)))
}

/// A target or dead-letter destination. `Ok` means the target confirmed.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Deliver a batch; `Ok` once the target confirmed.
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError>;

    /// Longest a call may take before the runner abandons it as a timeout (an attempt). A
    /// last resort above the connector's own timeouts: a connector must be safe to cancel
    /// at any await (a late confirmation never confirms another batch).
    fn call_timeout(&self) -> Duration {
        DEFAULT_CALL_TIMEOUT
    }

    /// Largest number of records one call takes (a batch API's limit); the runner never
    /// exceeds it.
    fn max_batch(&self) -> usize {
        usize::MAX
    }

    /// Kind and redacted address, for `/pipes` and logs.
    fn describe(&self) -> String;

    /// Called once when the pipe starts, before any batch: a sink that serves rather than
    /// calls (the Lambda Runtime API) starts listening here, and stops when it is dropped.
    /// Constructors do no I/O, so this is where such a sink begins.
    fn start(&self) {}

    /// Called when the pipe's run ends (drained, failed or panicked): a serving sink stops
    /// listening here, whoever still holds it (a pipe restarted by its supervisor builds a new
    /// sink, which must be able to listen on the same address).
    fn stop(&self) {}

    /// Live facts for `/pipes` (the Runtime API's workers), if the sink has any.
    fn details(&self) -> Option<serde_json::Value> {
        None
    }
}
