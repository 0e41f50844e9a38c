//! OpenWire, ActiveMQ's native wire format: our own implementation, written from the Java
//! `activemq-client` marshallers (`org.apache.activemq.openwire.v12`) as the reference.
//!
//! # What is negotiated
//!
//! Sluice offers version 12 (what the broker offers, and what the Java client 5.15 to 6.x uses),
//! the **loose encoding**, **no caching**, **no stack traces** and a size prefix on every frame.
//! The broker takes the lower version and turns tight encoding and caching on only when both
//! sides ask for them, so the connection runs loose and uncached:
//!
//! - loose encoding writes every field in full (a boolean byte before each optional value)
//!   instead of tight encoding's bit stream of presence flags and compressed longs: a few more
//!   bytes per message, and a decoder that is simple to check against the Java marshallers;
//! - without caching, ids and destinations are written out each time rather than replaced by
//!   cache indexes, so no frame depends on state left by earlier ones;
//! - the size prefix lets the decoder skip any command it does not know, whole.
//!
//! The layouts of every structure here are the same in versions 10, 11 and 12; a broker that
//! offers less than 10 is refused.

mod buf;
mod codec;
mod command;
mod data;
mod info;
mod message;
pub(crate) mod mutf8;
mod primitive;
pub(crate) mod types;

pub(crate) use codec::{CodecError, MAX_FRAME, OpenWireCodec};
pub(crate) use command::{
    Command, ConnectionInfo, ConsumerInfo, Header, MessageAck, MessageDispatch, WireFormatInfo,
};
pub(crate) use data::{ConsumerId, Data, Destination, MessageId, ProducerId, SessionId, Throwable};
pub(crate) use message::Message;
pub(crate) use primitive::{Primitive, PrimitiveMap};

#[cfg(test)]
mod tests;
