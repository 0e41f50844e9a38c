//! sluice-amqp: RabbitMQ (AMQP 0-9-1) as a source and a target, on lapin 4.
//!
//! This is the reference connector the others copy. Layout:
//! - `config.rs`: the `source.rabbitmq` and `target.rabbitmq` keys and their validation;
//! - `connection.rs`: connecting to one of several nodes in turn, error classification;
//! - `pool.rs`: connections shared by the pipes that name the same brokers and credentials
//!   (a channel per pipe, at most 4 connections per endpoint for consuming and 4 for
//!   publishing);
//! - `event.rs`: one delivery as a record of Lambda's `aws:rmq` event;
//! - `source.rs`: consumer with manual acks, prefetch, reconnect, backlog gauge;
//! - `acker.rs`: settlement with contiguous `multiple=true` acks and stale-tag skipping;
//! - `sink.rs`: publishing with publisher confirms (target and dead-letter destination);
//! - `error.rs`: the connector's error type.
//!
//! # Outcomes at the broker
//!
//! | runner outcome | what RabbitMQ sees |
//! |---|---|
//! | `Ack` (delivered, filtered, dead-lettered by Sluice) | `basic.ack`, `multiple=true` for each contiguous run of settled tags |
//! | `Retry` (only at shutdown: records Sluice still held) | `basic.nack requeue=true` |
//! | `Reject` (given up, no `dead_letter`) | `basic.reject requeue=false`: the queue's dead-letter exchange takes it, or RabbitMQ drops it |
//! | stale (tag from a connection that is gone) | nothing: RabbitMQ already requeued it and delivers it again |
//!
//! # Values AMQP cannot carry
//!
//! | from the broker, a file or another source | outcome |
//! |---|---|
//! | a property (correlation id, message id, reply-to, type, content type or encoding) over 255 bytes, e.g. from JMS or STOMP | published without that property and with an `x-sluice-PROPERTY` long-string header holding it |
//! | a header name over 255 bytes | that record fails (its batch's other records are published), is retried and then dead-lettered |
//! | header tables or arrays nested deeper than 32 levels | shown as `"(nested too deeply)"` in the event |
//! | a queue, exchange, routing key or vhost over 255 bytes in a pipe file | refused by `validate`, with its place |
//! | a broker that takes no bytes (black hole) | found by the heart-beat (10s unless the URL sets `?heartbeat=`), the connection replaced; connects and closes time out after 10s |
//!
//! Retries of failed records are held by the runner, not requeued: RabbitMQ classic queues
//! count no deliveries, so requeueing would lose `retry.max_attempts`. The broker still holds
//! the message unacknowledged, so a crash loses nothing.
//!
//! # Sharing connections
//!
//! Pipes whose URLs are the same (nodes, credentials, vhost, options) share connections: each
//! pipe has its own channels (consumer and backlog for a source, a confirm-mode channel for a
//! target), so prefetch, acks and delivery tags stay per pipe, and a channel error (a queue
//! deleted or refused) ends only that pipe's session. A connection takes 16 pipes before a
//! second one opens, up to 4 per endpoint, so 1,000 pipes on one broker hold 4 consuming
//! connections (and 4 lapin I/O threads) rather than 1,000. What ends a connection ends the
//! sessions of all its pipes (they reconnect together), as with any shared connection. Consumers and publishers never
//! share a connection: RabbitMQ blocks publishing connections under a resource alarm. The
//! connections are named `sluice/consume/N` and `sluice/publish/N` at the broker; the consumer
//! tags name the pipe (`sluice/PIPE-0`).
//!
//! # Reconnecting
//!
//! lapin 4 offers automatic recovery, but a recovered channel starts delivery tags again at 1:
//! an ack for a tag from before the recovery could then settle a different message. Sluice
//! therefore reconnects itself: every connection gets a new epoch, delivery ids carry it, and
//! the acker skips (and counts) settlements from an older epoch. RabbitMQ redelivers those
//! messages, which at-least-once allows.
//!
//! # Example
//!
//! ```yaml
//! name: orders
//! source:
//!   rabbitmq:
//!     url: amqp://app:${env:RABBIT_PASSWORD}@rabbit.internal:5672/%2f
//!     queues: [orders]
//! target:
//!   http: {url: http://orders-fn.internal:8080/}
//! dead_letter:
//!   rabbitmq: {url: amqp://app:${env:RABBIT_PASSWORD}@rabbit.internal:5672/%2f, exchange: "", routing_key: orders-dlq}
//! ```

mod acker;
pub mod config;
mod connection;
pub mod error;
pub mod event;
mod pool;
mod sink;
mod source;

pub use config::{RabbitMqSourceConfig, RabbitMqTargetConfig};
pub use error::AmqpError;
pub use sink::RabbitMqSink;
pub use source::RabbitMqSource;

use sluice_core::config::ConfigError;
use sluice_core::connector::{
    BuiltSource, Defaults, SinkConnector, SinkContext, Sizing, SourceConnector,
};
use sluice_core::event::EventShape;
use sluice_core::session::Driven;
use sluice_core::sink::Sink;
use std::sync::Arc;
use std::time::Duration;

/// The RabbitMQ connector, as the bridge builds it.
pub struct RabbitMq;

impl SourceConnector for RabbitMq {
    type Config = RabbitMqSourceConfig;
    /// One batch at a time: a RabbitMQ queue hands out messages in order, and acks of one
    /// channel settle fastest in order (see `acker.rs`).
    const DEFAULTS: Defaults = Defaults {
        batch_size: 100,
        window: Duration::from_millis(500),
        concurrency: 1,
    };
    const SHAPE: EventShape = event::SHAPE;

    fn build_source(
        cfg: &RabbitMqSourceConfig,
        pipe: &str,
        sizing: Sizing,
    ) -> Result<BuiltSource, Vec<ConfigError>> {
        // Room for the batches in flight and as many again arriving.
        let prefetch = sizing
            .in_flight()
            .saturating_mul(2)
            .min(u32::from(u16::MAX)) as u16;
        let source = RabbitMqSource::new(cfg, pipe, prefetch)?;
        let event_source_arn = cfg
            .event_source_arn
            .clone()
            .unwrap_or_else(|| format!("arn:aws:mq:local:000000000000:broker:{}", source.host()));
        Ok(BuiltSource {
            source: Arc::new(Driven(source)),
            event_source_arn,
            ordered: false,
        })
    }
}

impl SinkConnector for RabbitMq {
    type Config = RabbitMqTargetConfig;

    fn build_sink(
        cfg: &RabbitMqTargetConfig,
        ctx: &SinkContext<'_>,
    ) -> Result<Arc<dyn Sink>, Vec<ConfigError>> {
        let path = format!("{}.rabbitmq", ctx.path);
        Ok(Arc::new(RabbitMqSink::new(cfg, &path)?))
    }
}
