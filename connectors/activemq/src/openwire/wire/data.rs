//! The data structures nested inside commands: ids, destinations, transaction ids and
//! exceptions. In the loose encoding a nested structure is a boolean (present), its type byte
//! and its fields; with caching off a "cached" structure is written the same way.

use super::buf::{Reader, WireError, Writer};
use super::message::Message;
use super::types;
use bytes::Bytes;
use std::fmt;

/// `SessionId`: connection id and session number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct SessionId {
    pub connection: String,
    pub value: i64,
}

/// `ConsumerId`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct ConsumerId {
    pub connection: String,
    pub session: i64,
    pub value: i64,
}

/// `ProducerId`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct ProducerId {
    pub connection: String,
    pub value: i64,
    pub session: i64,
}

/// `MessageId`: the producer and its sequence number; `text_view` when the id is not of that
/// form (a message that came in over STOMP or AMQP keeps its original id there).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct MessageId {
    pub text_view: Option<String>,
    pub producer: ProducerId,
    pub producer_sequence: i64,
    pub broker_sequence: i64,
}

impl fmt::Display for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.connection, self.session, self.value)
    }
}

impl fmt::Display for MessageId {
    /// As Java's `MessageId.toString()`: what JMS shows as `JMSMessageID`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text_view {
            Some(t) => f.write_str(t),
            None => write!(f, "{}:{}", self.producer, self.producer_sequence),
        }
    }
}

/// A queue or a topic (temporary ones too).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Destination {
    pub kind: DestinationKind,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DestinationKind {
    Queue,
    Topic,
    TempQueue,
    TempTopic,
}

impl Destination {
    /// A queue by name.
    #[cfg(test)]
    pub(crate) fn queue(name: impl Into<String>) -> Self {
        Destination {
            kind: DestinationKind::Queue,
            name: name.into(),
        }
    }

    fn type_byte(&self) -> u8 {
        match self.kind {
            DestinationKind::Queue => types::QUEUE,
            DestinationKind::Topic => types::TOPIC,
            DestinationKind::TempQueue => types::TEMP_QUEUE,
            DestinationKind::TempTopic => types::TEMP_TOPIC,
        }
    }

    /// `queue://orders`, `topic://prices`, from a config name (a bare name is a queue).
    pub(crate) fn parse(name: &str) -> Self {
        let strip = |p: &str| name.strip_prefix(p).map(str::to_owned);
        let (kind, name) = if let Some(n) = strip("queue://") {
            (DestinationKind::Queue, n)
        } else if let Some(n) = strip("topic://") {
            (DestinationKind::Topic, n)
        } else if let Some(n) = strip("temp-queue://") {
            (DestinationKind::TempQueue, n)
        } else if let Some(n) = strip("temp-topic://") {
            (DestinationKind::TempTopic, n)
        } else {
            (DestinationKind::Queue, name.to_owned())
        };
        Destination { kind, name }
    }
}

impl fmt::Display for Destination {
    /// Java's qualified name, `queue://orders`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            DestinationKind::Queue => "queue://",
            DestinationKind::Topic => "topic://",
            DestinationKind::TempQueue => "temp-queue://",
            DestinationKind::TempTopic => "temp-topic://",
        };
        write!(f, "{prefix}{}", self.name)
    }
}

/// A transaction a message was produced in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TransactionId {
    Local {
        value: i64,
        connection: String,
    },
    Xa {
        format: i32,
        global: Option<Bytes>,
        branch: Option<Bytes>,
    },
}

/// A Java exception as the broker sends it (class and message; stack traces are negotiated off).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Throwable {
    pub class: Option<String>,
    pub message: Option<String>,
}

impl fmt::Display for Throwable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = self.class.as_deref().unwrap_or("exception");
        match &self.message {
            Some(m) => write!(f, "{class}: {m}"),
            None => f.write_str(class),
        }
    }
}

/// Any structure that may appear nested.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    ConnectionId(String),
    SessionId(SessionId),
    ConsumerId(ConsumerId),
    ProducerId(ProducerId),
    BrokerId(String),
    MessageId(MessageId),
    Destination(Destination),
    TransactionId(TransactionId),
    Message(Box<Message>),
    BrokerInfo(Box<super::command::BrokerInfo>),
}

macro_rules! expect {
    ($fn:ident, $variant:ident, $t:ty, $what:literal) => {
        /// Read a nested structure that must be of this type.
        pub(crate) fn $fn(r: &mut Reader) -> Result<Option<$t>, WireError> {
            match read_nested(r)? {
                None => Ok(None),
                Some(Data::$variant(v)) => Ok(Some(v)),
                Some(_) => Err(WireError::Invalid(concat!("expected ", $what))),
            }
        }
    };
}

expect!(read_session_id, SessionId, SessionId, "a session id");
expect!(read_consumer_id, ConsumerId, ConsumerId, "a consumer id");
expect!(read_producer_id, ProducerId, ProducerId, "a producer id");
expect!(read_message_id, MessageId, MessageId, "a message id");
expect!(read_destination, Destination, Destination, "a destination");
expect!(
    read_transaction_id,
    TransactionId,
    TransactionId,
    "a transaction id"
);
expect!(read_connection_id, ConnectionId, String, "a connection id");
expect!(read_broker_id, BrokerId, String, "a broker id");

/// `looseUnmarshalNestedObject`.
pub(super) fn read_nested(r: &mut Reader) -> Result<Option<Data>, WireError> {
    if !r.bool()? {
        return Ok(None);
    }
    let kind = r.u8()?;
    r.nest()?;
    let data = read_body(kind, r)?;
    r.leave();
    Ok(Some(data))
}

fn read_body(kind: u8, r: &mut Reader) -> Result<Data, WireError> {
    Ok(match kind {
        types::CONNECTION_ID => Data::ConnectionId(r.opt_string()?.unwrap_or_default()),
        types::BROKER_ID => Data::BrokerId(r.opt_string()?.unwrap_or_default()),
        types::SESSION_ID => Data::SessionId(SessionId {
            connection: r.opt_string()?.unwrap_or_default(),
            value: r.i64()?,
        }),
        types::CONSUMER_ID => Data::ConsumerId(ConsumerId {
            connection: r.opt_string()?.unwrap_or_default(),
            session: r.i64()?,
            value: r.i64()?,
        }),
        types::PRODUCER_ID => Data::ProducerId(read_producer_body(r)?),
        types::MESSAGE_ID => Data::MessageId(MessageId {
            text_view: r.opt_string()?,
            producer: read_producer_id(r)?.unwrap_or_default(),
            producer_sequence: r.i64()?,
            broker_sequence: r.i64()?,
        }),
        types::QUEUE | types::TOPIC | types::TEMP_QUEUE | types::TEMP_TOPIC => {
            let kind = match kind {
                types::QUEUE => DestinationKind::Queue,
                types::TOPIC => DestinationKind::Topic,
                types::TEMP_QUEUE => DestinationKind::TempQueue,
                _ => DestinationKind::TempTopic,
            };
            Data::Destination(Destination {
                kind,
                name: r.opt_string()?.unwrap_or_default(),
            })
        }
        types::LOCAL_TRANSACTION_ID => Data::TransactionId(TransactionId::Local {
            value: r.i64()?,
            connection: read_connection_id(r)?.unwrap_or_default(),
        }),
        types::XA_TRANSACTION_ID => Data::TransactionId(TransactionId::Xa {
            format: r.i32()?,
            global: read_byte_array(r)?,
            branch: read_byte_array(r)?,
        }),
        types::BROKER_INFO => Data::BrokerInfo(Box::new(super::command::BrokerInfo::read(r)?)),
        k if types::is_message(k) => Data::Message(Box::new(Message::read(k, r)?)),
        other => return Err(WireError::UnknownType(other)),
    })
}

fn read_producer_body(r: &mut Reader) -> Result<ProducerId, WireError> {
    Ok(ProducerId {
        connection: r.opt_string()?.unwrap_or_default(),
        value: r.i64()?,
        session: r.i64()?,
    })
}

/// `looseUnmarshalByteArray`.
pub(super) fn read_byte_array(r: &mut Reader) -> Result<Option<Bytes>, WireError> {
    r.opt_bytes()
}

/// `looseUnmarshalThrowable`.
pub(super) fn read_throwable(r: &mut Reader) -> Result<Option<Throwable>, WireError> {
    if !r.bool()? {
        return Ok(None);
    }
    let t = Throwable {
        class: r.opt_string()?,
        message: r.opt_string()?,
    };
    if r.stack_traces {
        let frames = r.i16()?;
        for _ in 0..frames.max(0) {
            r.opt_string()?;
            r.opt_string()?;
            r.opt_string()?;
            r.i32()?;
        }
        r.nest()?;
        read_throwable(r)?;
        r.leave();
    }
    Ok(Some(t))
}

/// `looseUnmarshalObjectArray` of broker ids (a message's broker path and cluster).
pub(super) fn read_broker_ids(r: &mut Reader) -> Result<Option<Vec<String>>, WireError> {
    if !r.bool()? {
        return Ok(None);
    }
    let n = r.i16()?.max(0) as usize;
    let mut ids = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        ids.push(read_broker_id(r)?.unwrap_or_default());
    }
    Ok(Some(ids))
}

pub(super) fn write_connection_id(w: &mut Writer, id: &str) -> Result<(), WireError> {
    w.bool(true);
    w.u8(types::CONNECTION_ID);
    w.opt_string(Some(id))
}

pub(super) fn write_session_id(w: &mut Writer, id: &SessionId) -> Result<(), WireError> {
    w.bool(true);
    w.u8(types::SESSION_ID);
    w.opt_string(Some(&id.connection))?;
    w.i64(id.value);
    Ok(())
}

pub(super) fn write_consumer_id(w: &mut Writer, id: &ConsumerId) -> Result<(), WireError> {
    w.bool(true);
    w.u8(types::CONSUMER_ID);
    w.opt_string(Some(&id.connection))?;
    w.i64(id.session);
    w.i64(id.value);
    Ok(())
}

pub(super) fn write_producer_id(w: &mut Writer, id: &ProducerId) -> Result<(), WireError> {
    w.bool(true);
    w.u8(types::PRODUCER_ID);
    w.opt_string(Some(&id.connection))?;
    w.i64(id.value);
    w.i64(id.session);
    Ok(())
}

pub(super) fn write_message_id(w: &mut Writer, id: Option<&MessageId>) -> Result<(), WireError> {
    let Some(id) = id else {
        w.bool(false);
        return Ok(());
    };
    w.bool(true);
    w.u8(types::MESSAGE_ID);
    w.opt_string(id.text_view.as_deref())?;
    write_producer_id(w, &id.producer)?;
    w.i64(id.producer_sequence);
    w.i64(id.broker_sequence);
    Ok(())
}

pub(super) fn write_destination(w: &mut Writer, d: Option<&Destination>) -> Result<(), WireError> {
    let Some(d) = d else {
        w.bool(false);
        return Ok(());
    };
    w.bool(true);
    w.u8(d.type_byte());
    w.opt_string(Some(&d.name))
}

pub(super) fn write_transaction_id(
    w: &mut Writer,
    t: Option<&TransactionId>,
) -> Result<(), WireError> {
    match t {
        None => w.bool(false),
        Some(TransactionId::Local { value, connection }) => {
            w.bool(true);
            w.u8(types::LOCAL_TRANSACTION_ID);
            w.i64(*value);
            write_connection_id(w, connection)?;
        }
        Some(TransactionId::Xa {
            format,
            global,
            branch,
        }) => {
            w.bool(true);
            w.u8(types::XA_TRANSACTION_ID);
            w.i32(*format);
            w.opt_bytes(global.as_deref())?;
            w.opt_bytes(branch.as_deref())?;
        }
    }
    Ok(())
}

pub(super) fn write_throwable(w: &mut Writer, t: Option<&Throwable>) -> Result<(), WireError> {
    w.bool(t.is_some());
    if let Some(t) = t {
        w.opt_string(t.class.as_deref())?;
        w.opt_string(t.message.as_deref())?;
    }
    Ok(())
}

pub(super) fn write_broker_ids(w: &mut Writer, ids: Option<&[String]>) -> Result<(), WireError> {
    w.bool(ids.is_some());
    if let Some(ids) = ids {
        w.i16(ids.len() as i16);
        for id in ids {
            w.bool(true);
            w.u8(types::BROKER_ID);
            w.opt_string(Some(id))?;
        }
    }
    Ok(())
}
