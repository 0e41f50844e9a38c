//! The source traits: a receive half and a settle half.

use crate::metrics::PipeMetrics;
use crate::record::{DeliveryId, Record};
use crate::status::PipeStatus;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longest wait for one write to a broker (settlements, heart-beats, goodbyes). A write that
/// takes longer means the connection is black-holed: it is given up, and the broker
/// redelivers what was not settled.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What happens to a record at its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered (or filtered out on purpose, or dead-lettered by Sluice): remove it.
    Ack,
    /// Not delivered: let the broker deliver it again after `delay` (where it can).
    Retry {
        /// Redeliver after this long.
        delay: Duration,
    },
    /// Given up: hand it to the broker's own dead-letter path.
    Reject,
}

/// What a source needs from the pipe while it runs.
#[derive(Clone)]
pub struct SourceContext {
    /// The pipe's metric handles, for the source's own counts.
    pub metrics: PipeMetrics,
    /// The pipe's state, which the source keeps connected or not.
    pub status: Arc<PipeStatus>,
}

/// The receive half of a source. Constructors do no I/O; `run` connects (retrying forever with
/// capped, jittered backoff), receives, and reconnects after a lost connection.
#[async_trait]
pub trait Source: Send + Sync {
    /// Receive records into `out` until `stop` is cancelled. On return the source no longer
    /// receives, but its connection stays open so that settlements still reach the broker.
    async fn run(&self, out: mpsc::Sender<Record>, ctx: SourceContext, stop: CancellationToken);

    /// The settle half, usable while `run` is blocked.
    fn acker(&self) -> Arc<dyn Acker>;

    /// Close every connection. Unsettled records are redelivered by the broker.
    async fn close(&self);

    /// Kind and redacted address, for `/pipes` and logs.
    fn describe(&self) -> String;
}

/// The settle half of a source. Settling is idempotent and never fails: a settlement for a
/// delivery from an earlier connection is stale, skipped and counted, because the broker
/// delivers that message again anyway.
#[async_trait]
pub trait Acker: Send + Sync {
    /// Settle these deliveries. Returns how many were stale.
    async fn settle(&self, settlements: &[(DeliveryId, Outcome)]) -> usize;

    /// Whether the broker counts deliveries itself (so `Retry` goes back to the broker rather
    /// than being held and redelivered by the runner).
    fn broker_redelivers(&self) -> bool {
        false
    }

    /// The connection epoch settlements are accepted for now, for a source whose broker
    /// redelivers everything of a lost connection (`None`: the source keeps no epochs). The
    /// runner drops records of another epoch before delivering them: the broker sends them
    /// again, so delivering the old copy would only make a duplicate.
    fn live_epoch(&self) -> Option<u64> {
        None
    }

    /// Deliveries after which the broker dead-letters a record itself (a queue's redrive
    /// policy's `maxReceiveCount`). When set it replaces `retry.max_attempts`, and records that
    /// reach it are rejected to the broker's path rather than sent to `dead_letter`.
    fn attempt_limit(&self) -> Option<u32> {
        None
    }
}

/// Hand a record to the pipe, giving up when `stop` is cancelled. A source must never block on
/// a full pipe in a way that ignores `stop`, or shutdown would wait for it forever. Returns
/// false when the source should stop receiving.
pub async fn forward(out: &mpsc::Sender<Record>, record: Record, stop: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        _ = stop.cancelled() => false,
        sent = out.send(record) => sent.is_ok(),
    }
}

/// A write or goodbye (close, cancel, disconnect) that gives up after [`WRITE_TIMEOUT`]: a
/// black-holed broker never answers, and dropping a connection closes its socket anyway.
/// `None` when it timed out.
pub async fn bounded<T>(write: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(WRITE_TIMEOUT, write).await.ok()
}
