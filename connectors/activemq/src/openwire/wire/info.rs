//! The fields of the commands that have more than a few: the header every command has, the
//! wire format and broker infos, connection and consumer infos, dispatches, acks and consumer
//! control.

use super::buf::{Reader, WireError, Writer};
use super::data::{self, ConsumerId, Destination, MessageId, Throwable};
use super::message::Message;
use super::primitive::{Primitive, PrimitiveMap};
use super::types;

/// `BaseCommand`'s fields: every command has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Header {
    pub command_id: i32,
    pub response_required: bool,
}

impl Header {
    pub(crate) fn read(r: &mut Reader) -> Result<Self, WireError> {
        Ok(Header {
            command_id: r.i32()?,
            response_required: r.bool()?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.i32(self.command_id);
        w.bool(self.response_required);
    }
}

/// The first command each side sends: protocol version and options.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct WireFormatInfo {
    pub version: i32,
    pub options: PrimitiveMap,
}

pub(super) const MAGIC: &[u8; 8] = b"ActiveMQ";

impl WireFormatInfo {
    /// A numeric option.
    pub(crate) fn number(&self, name: &str) -> Option<i64> {
        match self.option(name)? {
            Primitive::Long(n) => Some(*n),
            Primitive::Int(n) => Some(*n as i64),
            _ => None,
        }
    }

    fn option(&self, name: &str) -> Option<&Primitive> {
        self.options.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// What the broker says about itself after the wire format is settled.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct BrokerInfo {
    pub header: Header,
    pub broker_id: Option<String>,
    pub broker_url: Option<String>,
    pub peers: Vec<BrokerInfo>,
    pub broker_name: Option<String>,
    pub slave: bool,
    pub master: bool,
    pub fault_tolerant: bool,
    pub duplex: bool,
    pub network: bool,
    pub connection_id: i64,
    pub upload_url: Option<String>,
    pub network_properties: Option<String>,
}

impl BrokerInfo {
    pub(crate) fn read(r: &mut Reader) -> Result<Self, WireError> {
        let header = Header::read(r)?;
        let broker_id = data::read_broker_id(r)?;
        let broker_url = r.opt_string()?;
        let mut peers = Vec::new();
        if r.bool()? {
            for _ in 0..r.i16()?.max(0) {
                match data::read_nested(r)? {
                    Some(data::Data::BrokerInfo(b)) => peers.push(*b),
                    None => {}
                    Some(_) => return Err(WireError::Invalid("expected a broker info")),
                }
            }
        }
        Ok(BrokerInfo {
            header,
            broker_id,
            broker_url,
            peers,
            broker_name: r.opt_string()?,
            slave: r.bool()?,
            master: r.bool()?,
            fault_tolerant: r.bool()?,
            duplex: r.bool()?,
            network: r.bool()?,
            connection_id: r.i64()?,
            upload_url: r.opt_string()?,
            network_properties: r.opt_string()?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        self.header.write(w);
        match &self.broker_id {
            Some(id) => {
                w.bool(true);
                w.u8(types::BROKER_ID);
                w.opt_string(Some(id))?;
            }
            None => w.bool(false),
        }
        w.opt_string(self.broker_url.as_deref())?;
        w.bool(!self.peers.is_empty());
        if !self.peers.is_empty() {
            w.i16(self.peers.len() as i16);
            for p in &self.peers {
                w.bool(true);
                w.u8(types::BROKER_INFO);
                p.write(w)?;
            }
        }
        w.opt_string(self.broker_name.as_deref())?;
        for b in [
            self.slave,
            self.master,
            self.fault_tolerant,
            self.duplex,
            self.network,
        ] {
            w.bool(b);
        }
        w.i64(self.connection_id);
        w.opt_string(self.upload_url.as_deref())?;
        w.opt_string(self.network_properties.as_deref())
    }
}

/// Opens a connection; the broker checks the credentials here.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct ConnectionInfo {
    pub header: Header,
    pub connection_id: String,
    pub client_id: Option<String>,
    pub password: Option<String>,
    pub user_name: Option<String>,
    pub manageable: bool,
    pub fault_tolerant: bool,
    pub failover_reconnect: bool,
    pub client_ip: Option<String>,
}

/// Opens a consumer on a destination.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct ConsumerInfo {
    pub header: Header,
    pub consumer_id: ConsumerId,
    pub destination: Option<Destination>,
    pub prefetch_size: i32,
    pub maximum_pending_message_limit: i32,
    pub dispatch_async: bool,
    pub selector: Option<String>,
    /// An exclusive consumer: the broker dispatches the queue to it alone while it lives.
    pub exclusive: bool,
    pub priority: u8,
}

/// One delivered message, for one consumer.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct MessageDispatch {
    pub header: Header,
    pub consumer_id: Option<ConsumerId>,
    pub destination: Option<Destination>,
    /// None marks the end of a browse or a consumer's close.
    pub message: Option<Box<Message>>,
    pub redelivery_counter: i32,
}

/// Settles messages: one (individual, poison) or a range (standard, delivered).
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct MessageAck {
    pub header: Header,
    pub destination: Option<Destination>,
    pub consumer_id: Option<ConsumerId>,
    pub ack_type: u8,
    pub first_message_id: Option<MessageId>,
    pub last_message_id: Option<MessageId>,
    pub message_count: i32,
    pub poison_cause: Option<Throwable>,
}

/// The broker changes a consumer: its prefetch, or closes it.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct ConsumerControl {
    pub header: Header,
    pub destination: Option<Destination>,
    pub close: bool,
    pub consumer_id: Option<ConsumerId>,
    pub prefetch: i32,
    pub flush: bool,
    pub start: bool,
    pub stop: bool,
}
