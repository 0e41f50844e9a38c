//! sluice-stomp: ActiveMQ (and any STOMP 1.2 broker, RabbitMQ's STOMP plugin included) as a
//! source and a target, over our own STOMP 1.2 codec on `tokio-util`.
//!
//! No maintained STOMP crate fits: `stomp-rs` is from 2015 and predates tokio. Layout, as in
//! the AMQP connector:
//! - `codec.rs`: frames both ways (escaping, `content-length`, CRLF, heart-beats, size limit);
//! - `config.rs`: the `source.activemq` / `target.activemq` keys and broker URLs
//!   (`stomp://`, `stomp+ssl://`, `tcp://`, `ssl://`, lists, `failover:(...)`);
//! - `connection.rs`: TCP or TLS (rustls on ring), CONNECT, heart-beat negotiation;
//! - `event.rs`: one MESSAGE as a record of Lambda's `aws:mq` event;
//! - `source.rs`: `client-individual` subscriptions, `activemq.prefetchSize`, heart-beat
//!   supervision (a broker silent for twice its interval is replaced), reconnect with epochs;
//! - `acker.rs`: ACK / NACK with the `ack` header as received, stale ids skipped;
//! - `sink.rs`: SEND with a receipt per message;
//! - `error.rs`: the connector's errors and their ESM reasons.
//!
//! # Outcomes at the broker
//!
//! | runner outcome | what ActiveMQ sees |
//! |---|---|
//! | `Ack` (delivered, filtered, dead-lettered by Sluice) | `ACK id:<ack>` |
//! | a failed delivery | nothing yet: Sluice holds it unacknowledged and retries it after the backoff |
//! | `Reject` (given up after `retry.max_attempts`, no `dead_letter`) | `NACK id:<ack> requeue:false`: a poison ack, ActiveMQ moves it to `ActiveMQ.DLQ` (RabbitMQ's plugin: rejected without requeue, so a dead-letter exchange takes it) |
//! | `Retry` (only at shutdown: records Sluice still held) | nothing: the broker redelivers them when the connection closes |
//! | stale (connection gone) | nothing: the broker already redelivers it |
//!
//! Why retries are Sluice's: Lambda consumes ActiveMQ with a JMS client whose redelivery policy
//! (6 redeliveries by default) runs in the client and ends in a poison ack. Sluice's
//! `retry.max_attempts` (default 6) plays that policy, with backoff, and the NACK is the poison
//! ack. A stock ActiveMQ has no broker-side redelivery, so a NACK goes straight to the DLQ; a
//! broker with a `redeliveryPlugin` would redeliver it by its own policy first.
//!
//! # What STOMP cannot tell
//!
//! - The queue's depth: `sluice_source_backlog_messages` stays 0 for STOMP sources.
//! - Broker in/out times: `brokerInTime` is the message's `timestamp`, `brokerOutTime` the
//!   moment Sluice received it.
//! - A delivery count: the `redelivered` flag is all there is.
//!
//! # Example
//!
//! ```yaml
//! name: orders
//! source:
//!   activemq:
//!     protocol: stomp
//!     url: failover:(stomp+ssl://b-1.example:61614,stomp+ssl://b-2.example:61614)
//!     username: app
//!     password: ${file:/var/run/secrets/activemq/password}
//!     queues: [orders]
//! target:
//!   http: {url: http://orders-fn.internal:8080/}
//! ```

mod acker;
pub mod codec;
pub mod config;
mod connection;
pub mod error;
pub mod event;
mod sink;
mod source;

pub use config::{StompSourceConfig, StompTargetConfig};
pub use error::StompError;
pub use sink::StompSink;
pub use source::StompSource;
