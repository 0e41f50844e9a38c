//! The commands a consumer and a producer exchange with the broker, in OpenWire 12's loose
//! layout (identical in versions 10 to 12 for all of these).

use super::buf::{Reader, WireError, Writer};
use super::data::{self, Destination, ProducerId, SessionId, Throwable};
use super::info::MAGIC;
pub(crate) use super::info::{
    BrokerInfo, ConnectionInfo, ConsumerControl, ConsumerInfo, Header, MessageAck, MessageDispatch,
    WireFormatInfo,
};
use super::message::Message;
use super::primitive;
use super::types;
use bytes::BytesMut;

/// Every command OpenWire clients of Sluice's kind send or receive.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Command {
    WireFormatInfo(WireFormatInfo),
    BrokerInfo(BrokerInfo),
    ConnectionInfo(ConnectionInfo),
    SessionInfo(Header, SessionId),
    ConsumerInfo(ConsumerInfo),
    ProducerInfo(Header, ProducerId, Option<Destination>),
    /// Adds (operation 0) or removes (1) a temporary destination of a connection.
    DestinationInfo {
        header: Header,
        connection_id: String,
        destination: Destination,
        operation: u8,
    },
    KeepAliveInfo(Header),
    ShutdownInfo(Header),
    /// Closes a connection, session, consumer or producer (its id), with the last delivered
    /// broker sequence (-1 none: redeliver everything unacknowledged).
    RemoveInfo(Header, data::Data, i64),
    MessageDispatch(MessageDispatch),
    MessageAck(MessageAck),
    Message(Box<Message>),
    Response(Header, i32),
    ExceptionResponse(Header, i32, Option<Throwable>),
    /// The broker ends the connection with an exception.
    ConnectionError(Header, Option<Throwable>, Option<String>),
    /// The broker asks a client to close, reconnect elsewhere, or learns of other brokers.
    ConnectionControl {
        header: Header,
        close: bool,
        exit: bool,
        /// The brokers of the cluster, comma-separated (Java sends "" when none).
        connected_brokers: Option<String>,
        reconnect_to: Option<String>,
    },
    /// The broker changes a consumer's prefetch or closes it.
    ConsumerControl(ConsumerControl),
    ProducerAck(Header, Option<ProducerId>, i32),
    /// A type Sluice does not use; the size prefix lets it be skipped whole.
    Unknown(u8),
}

impl Command {
    /// Decode one frame's payload (type byte and fields).
    pub(crate) fn read(r: &mut Reader) -> Result<Command, WireError> {
        let kind = r.u8()?;
        Ok(match kind {
            types::WIREFORMAT_INFO => {
                let magic = r.bytes(8)?;
                if &magic[..] != MAGIC {
                    return Err(WireError::Invalid("not an OpenWire peer (bad magic)"));
                }
                let version = r.i32()?;
                let options = match r.opt_bytes()? {
                    Some(b) => primitive::read_map(&mut Reader::new(b))?.unwrap_or_default(),
                    None => Vec::new(),
                };
                Command::WireFormatInfo(WireFormatInfo { version, options })
            }
            types::BROKER_INFO => Command::BrokerInfo(BrokerInfo::read(r)?),
            types::CONNECTION_INFO => {
                let header = Header::read(r)?;
                let connection_id = data::read_connection_id(r)?.unwrap_or_default();
                let client_id = r.opt_string()?;
                let password = r.opt_string()?;
                let user_name = r.opt_string()?;
                data::read_broker_ids(r)?;
                let _broker_master_connector = r.bool()?;
                let manageable = r.bool()?;
                let _client_master = r.bool()?;
                Command::ConnectionInfo(ConnectionInfo {
                    header,
                    connection_id,
                    client_id,
                    password,
                    user_name,
                    manageable,
                    fault_tolerant: r.bool()?,
                    failover_reconnect: r.bool()?,
                    client_ip: r.opt_string()?,
                })
            }
            types::SESSION_INFO => Command::SessionInfo(
                Header::read(r)?,
                data::read_session_id(r)?.unwrap_or_default(),
            ),
            types::CONSUMER_INFO => {
                let header = Header::read(r)?;
                let consumer_id = data::read_consumer_id(r)?.unwrap_or_default();
                let _browser = r.bool()?;
                let destination = data::read_destination(r)?;
                let prefetch_size = r.i32()?;
                let maximum_pending_message_limit = r.i32()?;
                let dispatch_async = r.bool()?;
                let selector = r.opt_string()?;
                let _client_id = r.opt_string()?;
                let _subscription = r.opt_string()?;
                let _no_local = r.bool()?;
                let exclusive = r.bool()?;
                let _retroactive = r.bool()?;
                let priority = r.u8()?;
                data::read_broker_ids(r)?;
                if data::read_nested(r)?.is_some() {
                    return Err(WireError::Invalid("consumer info with a predicate"));
                }
                let _network = r.bool()?;
                let _optimized = r.bool()?;
                let _no_range = r.bool()?;
                if r.bool()? && r.i16()? > 0 {
                    return Err(WireError::Invalid("consumer info with a network path"));
                }
                Command::ConsumerInfo(ConsumerInfo {
                    header,
                    consumer_id,
                    destination,
                    prefetch_size,
                    maximum_pending_message_limit,
                    dispatch_async,
                    selector,
                    exclusive,
                    priority,
                })
            }
            types::PRODUCER_INFO => {
                let header = Header::read(r)?;
                let id = data::read_producer_id(r)?.unwrap_or_default();
                let destination = data::read_destination(r)?;
                data::read_broker_ids(r)?;
                let _dispatch_async = r.bool()?;
                let _window = r.i32()?;
                Command::ProducerInfo(header, id, destination)
            }
            types::DESTINATION_INFO => {
                let header = Header::read(r)?;
                let connection_id = data::read_connection_id(r)?.unwrap_or_default();
                let destination = data::read_destination(r)?
                    .ok_or(WireError::Invalid("destination info without a destination"))?;
                let operation = r.u8()?;
                let _timeout = r.i64()?;
                data::read_broker_ids(r)?;
                Command::DestinationInfo {
                    header,
                    connection_id,
                    destination,
                    operation,
                }
            }
            types::KEEP_ALIVE_INFO => Command::KeepAliveInfo(Header::read(r)?),
            types::SHUTDOWN_INFO => Command::ShutdownInfo(Header::read(r)?),
            types::REMOVE_INFO => {
                let header = Header::read(r)?;
                let id =
                    data::read_nested(r)?.ok_or(WireError::Invalid("remove info without id"))?;
                Command::RemoveInfo(header, id, r.i64()?)
            }
            types::MESSAGE_DISPATCH => Command::MessageDispatch(MessageDispatch {
                header: Header::read(r)?,
                consumer_id: data::read_consumer_id(r)?,
                destination: data::read_destination(r)?,
                message: match data::read_nested(r)? {
                    None => None,
                    Some(data::Data::Message(m)) => Some(m),
                    Some(_) => return Err(WireError::Invalid("dispatch of a non-message")),
                },
                redelivery_counter: r.i32()?,
            }),
            types::MESSAGE_ACK => {
                let header = Header::read(r)?;
                let destination = data::read_destination(r)?;
                data::read_transaction_id(r)?;
                Command::MessageAck(MessageAck {
                    header,
                    destination,
                    consumer_id: data::read_consumer_id(r)?,
                    ack_type: r.u8()?,
                    first_message_id: data::read_message_id(r)?,
                    last_message_id: data::read_message_id(r)?,
                    message_count: r.i32()?,
                    poison_cause: data::read_throwable(r)?,
                })
            }
            k if types::is_message(k) => Command::Message(Box::new(Message::read(k, r)?)),
            types::RESPONSE => Command::Response(Header::read(r)?, r.i32()?),
            types::EXCEPTION_RESPONSE => {
                Command::ExceptionResponse(Header::read(r)?, r.i32()?, data::read_throwable(r)?)
            }
            types::CONNECTION_ERROR => Command::ConnectionError(
                Header::read(r)?,
                data::read_throwable(r)?,
                data::read_connection_id(r)?,
            ),
            types::CONNECTION_CONTROL => {
                let header = Header::read(r)?;
                let close = r.bool()?;
                let exit = r.bool()?;
                let _fault_tolerant = r.bool()?;
                let _resume = r.bool()?;
                let _suspend = r.bool()?;
                let connected_brokers = r.opt_string()?;
                let reconnect_to = r.opt_string()?;
                let _rebalance = r.bool()?;
                let _token = r.opt_bytes()?;
                Command::ConnectionControl {
                    header,
                    close,
                    exit,
                    connected_brokers,
                    reconnect_to,
                }
            }
            types::CONSUMER_CONTROL => Command::ConsumerControl(ConsumerControl {
                header: Header::read(r)?,
                destination: data::read_destination(r)?,
                close: r.bool()?,
                consumer_id: data::read_consumer_id(r)?,
                prefetch: r.i32()?,
                flush: r.bool()?,
                start: r.bool()?,
                stop: r.bool()?,
            }),
            types::PRODUCER_ACK => {
                Command::ProducerAck(Header::read(r)?, data::read_producer_id(r)?, r.i32()?)
            }
            other => Command::Unknown(other),
        })
    }

    /// Encode the payload (type byte and fields) of a frame.
    pub(crate) fn write(&self, out: &mut BytesMut) -> Result<(), WireError> {
        let w = &mut Writer(out);
        match self {
            Command::WireFormatInfo(info) => {
                w.u8(types::WIREFORMAT_INFO);
                w.raw(MAGIC);
                w.i32(info.version);
                let mut options = BytesMut::new();
                primitive::write_map(&mut Writer(&mut options), &info.options)?;
                w.opt_bytes(Some(&options))?;
            }
            Command::BrokerInfo(b) => {
                w.u8(types::BROKER_INFO);
                b.write(w)?;
            }
            Command::ConnectionInfo(c) => {
                w.u8(types::CONNECTION_INFO);
                c.header.write(w);
                data::write_connection_id(w, &c.connection_id)?;
                w.opt_string(c.client_id.as_deref())?;
                w.opt_string(c.password.as_deref())?;
                w.opt_string(c.user_name.as_deref())?;
                data::write_broker_ids(w, None)?;
                w.bool(false); // broker master connector
                w.bool(c.manageable);
                w.bool(true); // client master (Java's default)
                w.bool(c.fault_tolerant);
                w.bool(c.failover_reconnect);
                w.opt_string(c.client_ip.as_deref())?;
            }
            Command::SessionInfo(h, id) => {
                w.u8(types::SESSION_INFO);
                h.write(w);
                data::write_session_id(w, id)?;
            }
            Command::ConsumerInfo(c) => {
                w.u8(types::CONSUMER_INFO);
                c.header.write(w);
                data::write_consumer_id(w, &c.consumer_id)?;
                w.bool(false); // browser
                data::write_destination(w, c.destination.as_ref())?;
                w.i32(c.prefetch_size);
                w.i32(c.maximum_pending_message_limit);
                w.bool(c.dispatch_async);
                w.opt_string(c.selector.as_deref())?;
                w.opt_string(None)?; // client id
                w.opt_string(None)?; // subscription name
                w.bool(false); // no local
                w.bool(c.exclusive);
                w.bool(false); // retroactive
                w.u8(c.priority);
                data::write_broker_ids(w, None)?;
                w.bool(false); // additional predicate
                w.bool(false); // network subscription
                w.bool(false); // optimized acknowledge
                w.bool(false); // no range acks
                data::write_broker_ids(w, None)?; // network consumer path
            }
            Command::ProducerInfo(h, id, destination) => {
                w.u8(types::PRODUCER_INFO);
                h.write(w);
                data::write_producer_id(w, id)?;
                data::write_destination(w, destination.as_ref())?;
                data::write_broker_ids(w, None)?;
                w.bool(false); // dispatch async
                w.i32(0); // window size: none, every send is synchronous
            }
            Command::DestinationInfo {
                header,
                connection_id,
                destination,
                operation,
            } => {
                w.u8(types::DESTINATION_INFO);
                header.write(w);
                data::write_connection_id(w, connection_id)?;
                data::write_destination(w, Some(destination))?;
                w.u8(*operation);
                w.i64(0); // timeout
                data::write_broker_ids(w, None)?;
            }
            Command::KeepAliveInfo(h) => {
                w.u8(types::KEEP_ALIVE_INFO);
                h.write(w);
            }
            Command::ShutdownInfo(h) => {
                w.u8(types::SHUTDOWN_INFO);
                h.write(w);
            }
            Command::RemoveInfo(h, id, last) => {
                w.u8(types::REMOVE_INFO);
                h.write(w);
                match id {
                    data::Data::ConnectionId(c) => data::write_connection_id(w, c)?,
                    data::Data::SessionId(s) => data::write_session_id(w, s)?,
                    data::Data::ConsumerId(c) => data::write_consumer_id(w, c)?,
                    data::Data::ProducerId(p) => data::write_producer_id(w, p)?,
                    _ => return Err(WireError::Invalid("removing something that is not an id")),
                }
                w.i64(*last);
            }
            Command::MessageDispatch(d) => {
                w.u8(types::MESSAGE_DISPATCH);
                d.header.write(w);
                match &d.consumer_id {
                    Some(c) => data::write_consumer_id(w, c)?,
                    None => w.bool(false),
                }
                data::write_destination(w, d.destination.as_ref())?;
                match &d.message {
                    Some(m) => {
                        w.bool(true);
                        w.u8(m.class);
                        m.write(w)?;
                    }
                    None => w.bool(false),
                }
                w.i32(d.redelivery_counter);
            }
            Command::MessageAck(a) => {
                w.u8(types::MESSAGE_ACK);
                a.header.write(w);
                data::write_destination(w, a.destination.as_ref())?;
                w.bool(false); // transaction id
                match &a.consumer_id {
                    Some(c) => data::write_consumer_id(w, c)?,
                    None => w.bool(false),
                }
                w.u8(a.ack_type);
                data::write_message_id(w, a.first_message_id.as_ref())?;
                data::write_message_id(w, a.last_message_id.as_ref())?;
                w.i32(a.message_count);
                data::write_throwable(w, a.poison_cause.as_ref())?;
            }
            Command::Message(m) => {
                w.u8(m.class);
                m.write(w)?;
            }
            Command::Response(h, correlation) => {
                w.u8(types::RESPONSE);
                h.write(w);
                w.i32(*correlation);
            }
            Command::ExceptionResponse(h, correlation, t) => {
                w.u8(types::EXCEPTION_RESPONSE);
                h.write(w);
                w.i32(*correlation);
                data::write_throwable(w, t.as_ref())?;
            }
            Command::ConnectionError(h, t, connection) => {
                w.u8(types::CONNECTION_ERROR);
                h.write(w);
                data::write_throwable(w, t.as_ref())?;
                match connection {
                    Some(c) => data::write_connection_id(w, c)?,
                    None => w.bool(false),
                }
            }
            Command::ConnectionControl {
                header,
                close,
                exit,
                connected_brokers,
                reconnect_to,
            } => {
                w.u8(types::CONNECTION_CONTROL);
                header.write(w);
                for b in [*close, *exit, false, false, false] {
                    w.bool(b);
                }
                w.opt_string(connected_brokers.as_deref())?;
                w.opt_string(reconnect_to.as_deref())?;
                w.bool(false);
                w.opt_bytes(None)?;
            }
            Command::ConsumerControl(c) => {
                w.u8(types::CONSUMER_CONTROL);
                c.header.write(w);
                data::write_destination(w, c.destination.as_ref())?;
                w.bool(c.close);
                match &c.consumer_id {
                    Some(id) => data::write_consumer_id(w, id)?,
                    None => w.bool(false),
                }
                w.i32(c.prefetch);
                for b in [c.flush, c.start, c.stop] {
                    w.bool(b);
                }
            }
            Command::ProducerAck(h, id, size) => {
                w.u8(types::PRODUCER_ACK);
                h.write(w);
                match id {
                    Some(p) => data::write_producer_id(w, p)?,
                    None => w.bool(false),
                }
                w.i32(*size);
            }
            Command::Unknown(t) => return Err(WireError::UnknownType(*t)),
        }
        Ok(())
    }
}
