//! The record model: one message received from a source, ready to be batched.

use bytes::Bytes;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Opaque id of one delivery. Only the connector that made it knows what it maps to
/// (a delivery tag, an ack id, a receipt handle). `epoch` changes with every
/// new broker connection, so a settlement made for an old connection is recognised as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId {
    /// The connection (or session) the delivery came on.
    pub epoch: u64,
    /// The delivery's number, unique within the source.
    pub seq: u64,
}

/// A header value carried from one broker to another.
#[derive(Clone, Debug, PartialEq)]
pub enum HeaderValue {
    /// A string, or a byte string shown as text.
    String(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Binary (a binary message attribute, a byte array).
    Bytes(Bytes),
}

/// Broker-neutral message properties, carried over when a record is published to a broker
/// target (or a broker dead-letter destination).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    /// MIME type of the body.
    pub content_type: Option<String>,
    /// Encoding of the body (`gzip`, ...).
    pub content_encoding: Option<String>,
    /// The message id the source gave it.
    pub message_id: Option<String>,
    /// Correlation id, carried to broker targets.
    pub correlation_id: Option<String>,
    /// Where replies go, carried to broker targets.
    pub reply_to: Option<String>,
    /// Message type (the broker's message `type` property).
    pub kind: Option<String>,
    /// Priority, 0..9.
    pub priority: Option<u8>,
    /// Whether the message was persistent at its source.
    pub persistent: Option<bool>,
    /// Broker or producer timestamp, epoch milliseconds.
    pub timestamp_ms: Option<u64>,
    /// Application headers or properties, in order.
    pub headers: Vec<(String, HeaderValue)>,
    /// Ordering key: records with the same group are delivered in order (a FIFO
    /// queue's message group); also carried to FIFO targets.
    pub group_id: Option<String>,
    /// Deduplication id carried to FIFO targets (a FIFO queue's deduplication id).
    pub dedup_id: Option<String>,
    /// An X-Ray trace header that came outside the headers (SQS's `AWSTraceHeader` system
    /// attribute); see `trace.rs`.
    pub aws_trace_header: Option<String>,
}

/// One received message.
#[derive(Clone, Debug)]
pub struct Record {
    /// Where to settle it.
    pub id: DeliveryId,
    /// The record as it appears inside the target event (e.g. one entry of
    /// `rmqMessagesByQueue["q::/"]`), serialized once at receive time.
    pub event: Bytes,
    /// The raw body.
    pub body: Bytes,
    /// Grouping key inside the event, e.g. a queue and virtual host.
    pub group: Option<Arc<str>>,
    /// What broker targets carry over (properties, headers, group).
    pub meta: Metadata,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// Why the last delivery failed, for dead-letter headers and logs.
    pub last_error: Option<Arc<str>>,
    /// Times the dead-letter destination refused it (an answer, not an outage).
    pub dead_letter_refusals: u32,
    /// When Sluice received it, epoch milliseconds.
    pub received_ms: u64,
}

impl Record {
    /// A record with no metadata; connectors fill in the rest.
    pub fn new(id: DeliveryId, event: Bytes, body: Bytes) -> Self {
        Record {
            id,
            event,
            body,
            group: None,
            meta: Metadata::default(),
            attempts: 0,
            last_error: None,
            dead_letter_refusals: 0,
            received_ms: now_ms(),
        }
    }
}

/// Wall-clock time in epoch milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Record {
    /// The id a function names in `batchItemFailures` (the message id); `None` means the
    /// record is named by its position in the batch.
    pub fn item_id(&self) -> Option<&str> {
        self.meta.message_id.as_deref()
    }

    /// Epoch milliseconds its age counts from: the broker's timestamp, else receipt.
    pub fn born_ms(&self) -> u64 {
        self.meta.timestamp_ms.unwrap_or(self.received_ms)
    }
}
