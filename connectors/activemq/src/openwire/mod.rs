//! OpenWire, ActiveMQ's native protocol. No Rust OpenWire implementation existed; this one is
//! our own, written from the Java `activemq-client` marshallers and checked against bytes they
//! produce (the golden bytes in `wire/tests.rs`).
//!
//! - `wire/`: the wire format (negotiation choices documented there), frames, commands,
//!   messages, primitive maps, modified UTF-8;
//! - `connection.rs`: `WireFormatInfo`, `ConnectionInfo` with the credentials, a session;
//! - `event.rs`: one dispatched message as a record of Lambda's `aws:mq` event;
//! - `pool.rs`: connections shared by sources, a session per pipe;
//! - `source.rs`: one consumer per queue with the pipe's prefetch;
//! - `acker.rs`: individual and poison acks, clean close;
//! - `stats.rs`: the statistics plugin's answers, for the backlog;
//! - `sink.rs`: synchronous sends (a response per message);
//! - `error.rs`: the protocol's errors.
//!
//! Keep-alive: a source's connection offers ActiveMQ's default `MaxInactivityDuration` of 30s,
//! sends a `KeepAliveInfo` every 10s, answers the broker's, and ends when the broker was
//! silent for the negotiated duration. The target turns inactivity
//! monitoring off (its connection idles between batches) and replaces a connection when a send
//! on it fails. Not done: `ConnectionControl` rebalancing (`updateClusterClients`),
//! transactions, durable topic subscriptions, selectors.

mod acker;
mod connection;
pub(crate) mod error;
pub(crate) mod event;
mod pool;
mod sink;
mod source;
mod stats;
pub(crate) mod wire;

pub(crate) use sink::OpenWireSink;
pub(crate) use source::OpenWireSource;
