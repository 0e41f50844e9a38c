//! sluice-openwire: ActiveMQ's native protocol, OpenWire, as a source and a target. No Rust
//! OpenWire implementation existed; this one is our own, written from the Java
//! `activemq-client` marshallers and checked against bytes they produce.
//!
//! Layout, as in the other connectors:
//! - `wire/`: the wire format (negotiation choices documented there), frames, commands,
//!   messages, primitive maps, modified UTF-8;
//! - `config.rs`: settings and broker URLs (`tcp://`, `ssl://`, lists,
//!   `failover:(...)?randomize=`);
//! - `connection.rs`: TCP or TLS (rustls), `WireFormatInfo`, `ConnectionInfo` with the
//!   credentials, a session;
//! - `event.rs`: one dispatched message as a record of Lambda's `aws:mq` event;
//! - `source.rs`: one consumer per queue with the pipe's prefetch, keep-alives, the broker's
//!   inactivity watched, reconnect with epochs;
//! - `acker.rs`: individual and poison acks, stale ones skipped, clean close;
//! - `sink.rs`: synchronous sends (a response per message);
//! - `error.rs`: the connector's errors and their ESM reasons.
//!
//! # Outcomes at the broker
//!
//! | runner outcome | what ActiveMQ sees |
//! |---|---|
//! | `Ack` (delivered, filtered, dead-lettered by Sluice) | `MessageAck` of type individual (4) |
//! | a failed delivery | nothing yet: Sluice holds it unacknowledged and retries it after the backoff |
//! | `Reject` (given up after `retry.max_attempts`, no `dead_letter`) | `MessageAck` of type poison (1) with a cause: ActiveMQ moves the message to its dead-letter queue (`ActiveMQ.DLQ` by default) with `dlqDeliveryFailureCause` set |
//! | `Retry` (only at shutdown: records Sluice still held) | nothing: on close the broker redelivers them, redelivery counter raised |
//! | stale (connection gone) | nothing: the broker already redelivers it |
//!
//! Why retries are Sluice's: Lambda's JMS client redelivers in the client (ActiveMQ's default
//! redelivery policy; the seeds give `maximumRedeliveries` 5, so six deliveries) and then sends
//! a poison ack. Sluice's `retry.max_attempts` (default 6) plays that policy, with backoff,
//! and the poison ack ends it in the same place.
//!
//! # Connection behaviour
//!
//! - Keep-alive: the source offers ActiveMQ's default `MaxInactivityDuration` of 30s, sends a
//!   `KeepAliveInfo` every 10s, answers the broker's, and replaces a connection on which the
//!   broker was silent for the negotiated duration. The target turns inactivity monitoring off
//!   (its connection idles between batches) and replaces a connection when a send on it fails.
//! - Failover: brokers are tried in turn on every reconnect, from a random one when
//!   `randomize` is true (ActiveMQ's default). Acks of the old connection are skipped as stale.
//! - Not done: `ConnectionControl` rebalancing (`updateClusterClients`), transactions,
//!   durable topic subscriptions, selectors, the queue depth (`sluice_source_backlog_messages`
//!   stays 0: OpenWire has no cheap way to ask for it).
//!
//! # Example
//!
//! ```yaml
//! name: orders
//! source:
//!   activemq:
//!     url: failover:(ssl://b-1.mq.us-east-1.amazonaws.com:61617,ssl://b-2.mq.us-east-1.amazonaws.com:61617)?randomize=true
//!     username: app
//!     password: ${file:/var/run/secrets/activemq/password}
//!     queues: [orders]
//! target:
//!   http: {url: http://orders-fn.internal:8080/}
//! ```

mod acker;
pub mod config;
mod connection;
pub mod error;
pub mod event;
mod sink;
mod source;
pub mod wire;

pub use config::{OpenWireSourceConfig, OpenWireTargetConfig};
pub use error::OpenWireError;
pub use sink::OpenWireSink;
pub use source::OpenWireSource;
