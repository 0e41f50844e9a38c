//! The conformance suite: the scenarios every source connector runs, written once against
//! the [`Broker`] trait. A new connector adds one `Broker` implementation (in `brokers.rs`)
//! and one line in `tests/tests/conformance.rs` (and `conformance_restart.rs`); every
//! scenario then runs against it. Broker-specific tests (event fields, protocol corners) stay
//! in the per-broker test files.

mod brokers;
pub mod scenarios;

pub use brokers::{ActiveMqOpenWire, ActiveMqStomp, RabbitMq, SqsStandard, decode_data};

use async_trait::async_trait;
use serde_json::Value;
use std::net::SocketAddr;

/// A queue of one test: what the pipe names, and what the broker needs to find it again.
#[derive(Clone, Debug)]
pub struct Queue {
    /// The queue's name (RabbitMQ, ActiveMQ) or URL (SQS).
    pub name: String,
    /// Its own dead-letter queue at the broker, when asked for.
    pub dead_letter: Option<String>,
    /// A tag carried by every message published to it (ActiveMQ: the `test` property, used
    /// to pick this test's messages out of the shared `ActiveMQ.DLQ`).
    pub tag: String,
}

/// What the scenarios need from a broker.
#[async_trait]
pub trait Broker: Send + Sync {
    /// A short name for queue and pipe names and messages.
    fn kind(&self) -> &'static str;

    /// The record key filter patterns see the body under (the connector's `EventShape`).
    fn body_key(&self) -> &'static str {
        "data"
    }

    /// Whether a connection reset always reaches Sluice as a source error (the SQS client
    /// retries a reset call itself).
    fn notices_every_reset(&self) -> bool {
        true
    }

    /// Whether settlements belong to a connection, so that an ack after a reconnect is stale
    /// (RabbitMQ, ActiveMQ); SQS receipt handles outlive connections.
    fn settles_by_connection(&self) -> bool {
        true
    }

    /// A new, empty queue. With `dead_letter`, what the source rejects goes to the broker's own
    /// dead-letter path (for a broker that counts deliveries itself, after two).
    async fn queue(&self, dead_letter: bool) -> Queue;

    /// The `source:` block of a pipe on `queue` (indented as a top-level key), reaching the
    /// broker through `via` (`host:port` of a fault proxy) when given.
    fn source(&self, queue: &Queue, via: Option<&str>) -> String;

    /// Publish `bodies` (UTF-8 text) to the queue; returns once the broker has them all.
    async fn publish(&self, queue: &Queue, bodies: &[String]);

    /// Messages still in the queue as the broker counts them, asked once no consumer holds any.
    async fn left(&self, queue: &Queue) -> u64;

    /// Bodies in the broker's own dead-letter path of `queue`, waiting up to a few seconds
    /// for `expected` of them.
    async fn broker_dead_lettered(&self, queue: &Queue, expected: usize) -> Vec<String>;

    /// Where the broker listens, for the fault proxy.
    fn addr(&self) -> SocketAddr;

    /// The message body of one record of an event the function received.
    fn body(&self, record: &Value) -> String;

    /// Stop and start the broker; returns once it accepts connections again.
    async fn restart(&self);
}
