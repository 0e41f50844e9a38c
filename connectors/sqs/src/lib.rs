//! sluice-sqs: Amazon SQS (standard and FIFO) as a source and a target, on aws-sdk-sqs.
//!
//! Layout, as in the AMQP connector:
//! - `config.rs`: the `source.sqs` and `target.sqs` keys, Lambda's validation rules, what a
//!   queue URL tells (account, name, Region, FIFO, ARN);
//! - `connection.rs`: the SDK client (standard credential chain, rustls on ring);
//! - `event.rs`: one message as a record of Lambda's `aws:sqs` event;
//! - `source.rs`: long-polling receives, several in parallel while they come back full;
//!   queue attributes (backlog, redrive policy) every 5 s;
//! - `acker.rs`: batched deletes and visibility changes, visibility extension;
//! - `sink.rs`: `SendMessageBatch` (target and dead-letter destination);
//! - `error.rs`: SQS error codes classified into ESM reasons.
//!
//! # Outcomes at the broker
//!
//! | runner outcome | what SQS sees |
//! |---|---|
//! | `Ack` (delivered, filtered, dead-lettered by Sluice) | `DeleteMessageBatch` with the message's latest receipt handle |
//! | `Retry { delay }` (a failed delivery, standard queue) | `ChangeMessageVisibilityBatch` to `delay`: SQS delivers it again after the backoff and counts the receive |
//! | a failed delivery, FIFO queue | nothing: the runner holds it and retries it after the backoff, its visibility extended |
//! | `Reject` (given up), queue with a redrive policy | visibility 0: the next receive goes over `maxReceiveCount` and SQS moves it to the queue's dead-letter queue (FIFO: rejected again each time it comes back, until SQS moves it) |
//! | `Reject`, queue without a redrive policy | nothing: it comes back after its visibility timeout, as with Lambda, until its retention period ends |
//! | held by Sluice (batching, in flight, throttled) | visibility extended by the timeout each time half of it has passed (up to 12 h) |
//! | stale (settled twice) | nothing |
//!
//! SQS counts deliveries itself, so failed records of a standard queue go straight back to
//! the queue with their backoff as visibility timeout, and `retry.max_attempts` is compared
//! with `ApproximateReceiveCount`. When the queue has a redrive policy, its `maxReceiveCount` takes
//! the place of `retry.max_attempts` and given-up records are left to it
//! (`sluice_dead_lettered_messages_total{destination="broker"}`), even when the pipe has a
//! `dead_letter`: SQS would move them anyway. Records the target throttled are held by Sluice
//! rather than given back, so throttling costs no receive.
//!
//! # FIFO queues
//!
//! A queue whose name ends in `.fifo` is ordered: the runner delivers one batch per message
//! group at a time, different groups in parallel up to `concurrency`, and a failed record
//! holds back its group's later records (in its batch, and any Sluice already received):
//! they are not deleted even if the target took them, and go again together with it, in
//! order. As the seeds put it, "the function attempts all retries on the affected messages
//! before Lambda receives additional messages from the same group": failed FIFO records are
//! retried by Sluice, not given back to the queue, so they stay in flight and SQS hands out
//! nothing more of their group meanwhile. Attempts count from `ApproximateReceiveCount`.
//! (Giving them back would also work with SQS, which returns a group's visible messages in
//! order; moto 5.2.5, the test server, does not when several become visible at once.)
//! Batches hold at most 10 records and have no window, as with Lambda. One receive runs at a
//! time by default (`max_receives` raises it): the order of a group is the order of one
//! receive's messages.
//!
//! # Choices where the seeds are silent
//!
//! - Receives wait 20 s (`wait_time`), ask for all system and message attributes, and ask
//!   for 10 messages. One receive runs at first; another is added each time one comes back
//!   full, up to `max_receives`, and an empty receive drops back to one.
//! - When Sluice stops, records it holds are made visible at once rather than left to their
//!   timeout. A long poll cut short by the stop may already have hidden up to 10 messages;
//!   they come back after the queue's visibility timeout (nothing is lost).
//! - The event's `eventSourceARN` is derived from the queue URL (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
//! - Message attributes carried to an SQS target: `String`, `Number` (as integer or float)
//!   and `Binary`; custom type suffixes (`String.x`) are not kept, and at most ten valid
//!   names are carried.
//!
//! # Crate choice
//!
//! aws-sdk-sqs and aws-config are used without default features: their default HTTPS client
//! builds aws-lc-rs (C and cmake); Sluice passes a rustls client on ring instead, as lapin
//! and the HTTP connector use. SSO profiles are therefore not in the credential chain;
//! environment, shared profiles with static keys, web identity (Kubernetes service
//! accounts), container and instance credentials are.
//!
//! # Example
//!
//! ```yaml
//! name: orders
//! source:
//!   sqs:
//!     queue_url: https://sqs.us-east-1.amazonaws.com/123456789012/orders
//! target:
//!   http: {url: http://orders-fn.internal:8080/}
//! report_batch_item_failures: true
//! ```

mod acker;
pub mod config;
mod connection;
pub mod error;
pub mod event;
mod sink;
mod source;

pub use config::{QueueUrl, SqsSourceConfig, SqsTargetConfig};
pub use error::SqsError;
pub use sink::SqsSink;
pub use source::SqsSource;

use sluice_core::config::ConfigError;
use sluice_core::connector::{
    BuiltSource, Defaults, SinkConnector, SinkContext, Sizing, SourceConnector,
};
use sluice_core::event::EventShape;
use sluice_core::session::Driven;
use sluice_core::sink::Sink;
use std::sync::Arc;
use std::time::Duration;

/// The SQS connector, as the bridge builds it.
pub struct Sqs;

impl SourceConnector for Sqs {
    type Config = SqsSourceConfig;
    /// Lambda's defaults for SQS: batches of 10, sent as soon as a receive returns.
    const DEFAULTS: Defaults = Defaults {
        batch_size: 10,
        window: Duration::ZERO,
        concurrency: 5,
    };
    const SHAPE: EventShape = event::SHAPE;

    fn build_source(
        cfg: &SqsSourceConfig,
        _pipe: &str,
        sizing: Sizing,
    ) -> Result<BuiltSource, Vec<ConfigError>> {
        // Enough receives of 10 to fill `concurrency` batches.
        let receives = sizing.in_flight().div_ceil(10).clamp(1, 20) as usize;
        let source = SqsSource::new(cfg, receives)
            .map_err(|e| vec![ConfigError::new("source.sqs.queue_url", e)])?;
        Ok(BuiltSource {
            event_source_arn: source.arn().to_owned(),
            ordered: cfg.is_fifo(),
            source: Arc::new(Driven(source)),
        })
    }
}

impl SinkConnector for Sqs {
    type Config = SqsTargetConfig;

    fn build_sink(
        cfg: &SqsTargetConfig,
        ctx: &SinkContext<'_>,
    ) -> Result<Arc<dyn Sink>, Vec<ConfigError>> {
        let sink = SqsSink::new(cfg)
            .map_err(|e| vec![ConfigError::new(format!("{}.sqs.queue_url", ctx.path), e)])?;
        Ok(Arc::new(sink))
    }
}
