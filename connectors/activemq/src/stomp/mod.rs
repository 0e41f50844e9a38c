//! STOMP 1.2, over our own codec on `tokio-util` (no maintained STOMP crate fits: `stomp-rs`
//! is from 2015 and predates tokio). Also speaks to any STOMP 1.2 broker, RabbitMQ's STOMP
//! plugin included.
//!
//! - `codec.rs`: frames both ways (escaping, `content-length`, CRLF, heart-beats, size limit);
//! - `connection.rs`: CONNECT, heart-beat negotiation;
//! - `event.rs`: one MESSAGE as a record of Lambda's `aws:mq` event;
//! - `pool.rs`: connections shared by sources, subscriptions named after the pipe's session;
//! - `source.rs`: `client-individual` subscriptions, `activemq.prefetchSize`;
//! - `acker.rs`: ACK / NACK with the `ack` header as received;
//! - `sink.rs`: SEND with a receipt per message;
//! - `error.rs`: the protocol's errors.
//!
//! What STOMP cannot tell: the queue's depth (`sluice_source_backlog_messages` stays 0), broker
//! in/out times (`brokerInTime` is the message's `timestamp`, `brokerOutTime` the moment Sluice
//! received it), a delivery count (the `redelivered` flag is all there is).

mod acker;
pub mod codec;
mod connection;
pub(crate) mod error;
pub(crate) mod event;
mod pool;
mod sink;
mod source;

pub(crate) use sink::StompSink;
pub(crate) use source::StompSource;

/// A queue name as a STOMP destination.
pub(crate) fn destination(name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/queue/{name}")
    }
}
