//! JMS messages (`Message` and its text, bytes, map, object, stream and blob classes, which
//! share one layout) and their bodies.

use super::buf::{Reader, WireError, Writer};
use super::command::Header;
use super::data::{self, ConsumerId, Destination, MessageId, ProducerId, TransactionId};
use super::mutf8;
use super::primitive::{self, PrimitiveMap};
use super::types;
use bytes::{Bytes, BytesMut};
use std::io::Read;

/// A message, as dispatched by the broker or sent by a producer.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct Message {
    pub header: Header,
    /// The data structure type: which JMS class (`types::TEXT_MESSAGE`, ...).
    pub class: u8,
    pub producer_id: Option<ProducerId>,
    pub destination: Option<Destination>,
    pub transaction_id: Option<TransactionId>,
    pub original_destination: Option<Destination>,
    pub message_id: Option<MessageId>,
    pub original_transaction_id: Option<TransactionId>,
    /// `JMSXGroupID`.
    pub group_id: Option<String>,
    pub group_sequence: i32,
    pub correlation_id: Option<String>,
    pub persistent: bool,
    /// Absolute expiry, epoch milliseconds; 0 never.
    pub expiration: i64,
    pub priority: u8,
    pub reply_to: Option<Destination>,
    /// `JMSTimestamp`: when the producer sent it.
    pub timestamp: i64,
    /// `JMSType`.
    pub jms_type: Option<String>,
    /// The body as marshalled by the message class (possibly compressed).
    pub content: Option<Bytes>,
    /// The JMS properties as a marshalled primitive map; see [`Message::properties`].
    pub marshalled_properties: Option<Bytes>,
    pub data_structure: Option<Box<data::Data>>,
    pub target_consumer_id: Option<ConsumerId>,
    pub compressed: bool,
    pub redelivery_counter: i32,
    pub broker_path: Option<Vec<String>>,
    pub arrival: i64,
    pub user_id: Option<String>,
    pub received_by_df_bridge: bool,
    pub droppable: bool,
    pub cluster: Option<Vec<String>>,
    pub broker_in_time: i64,
    pub broker_out_time: i64,
    pub jmsx_group_first_for_consumer: bool,
}

/// Bodies are inflated up to this size; a larger one is refused rather than exhausting memory.
pub(super) const MAX_INFLATED: usize = 64 << 20;

impl Message {
    pub(crate) fn read(class: u8, r: &mut Reader) -> Result<Self, WireError> {
        Ok(Message {
            header: Header::read(r)?,
            class,
            producer_id: data::read_producer_id(r)?,
            destination: data::read_destination(r)?,
            transaction_id: data::read_transaction_id(r)?,
            original_destination: data::read_destination(r)?,
            message_id: data::read_message_id(r)?,
            original_transaction_id: data::read_transaction_id(r)?,
            group_id: r.opt_string()?,
            group_sequence: r.i32()?,
            correlation_id: r.opt_string()?,
            persistent: r.bool()?,
            expiration: r.i64()?,
            priority: r.u8()?,
            reply_to: data::read_destination(r)?,
            timestamp: r.i64()?,
            jms_type: r.opt_string()?,
            content: r.opt_bytes()?,
            marshalled_properties: r.opt_bytes()?,
            data_structure: data::read_nested(r)?.map(Box::new),
            target_consumer_id: data::read_consumer_id(r)?,
            compressed: r.bool()?,
            redelivery_counter: r.i32()?,
            broker_path: data::read_broker_ids(r)?,
            arrival: r.i64()?,
            user_id: r.opt_string()?,
            received_by_df_bridge: r.bool()?,
            droppable: r.bool()?,
            cluster: data::read_broker_ids(r)?,
            broker_in_time: r.i64()?,
            broker_out_time: r.i64()?,
            jmsx_group_first_for_consumer: r.bool()?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        self.header.write(w);
        match &self.producer_id {
            Some(p) => data::write_producer_id(w, p)?,
            None => w.bool(false),
        }
        data::write_destination(w, self.destination.as_ref())?;
        data::write_transaction_id(w, self.transaction_id.as_ref())?;
        data::write_destination(w, self.original_destination.as_ref())?;
        data::write_message_id(w, self.message_id.as_ref())?;
        data::write_transaction_id(w, self.original_transaction_id.as_ref())?;
        w.opt_string(self.group_id.as_deref())?;
        w.i32(self.group_sequence);
        w.opt_string(self.correlation_id.as_deref())?;
        w.bool(self.persistent);
        w.i64(self.expiration);
        w.u8(self.priority);
        data::write_destination(w, self.reply_to.as_ref())?;
        w.i64(self.timestamp);
        w.opt_string(self.jms_type.as_deref())?;
        w.opt_bytes(self.content.as_deref())?;
        w.opt_bytes(self.marshalled_properties.as_deref())?;
        if self.data_structure.is_some() {
            return Err(WireError::Invalid(
                "sending a message with a data structure",
            ));
        }
        w.bool(false);
        match &self.target_consumer_id {
            Some(c) => data::write_consumer_id(w, c)?,
            None => w.bool(false),
        }
        w.bool(self.compressed);
        w.i32(self.redelivery_counter);
        data::write_broker_ids(w, self.broker_path.as_deref())?;
        w.i64(self.arrival);
        w.opt_string(self.user_id.as_deref())?;
        w.bool(self.received_by_df_bridge);
        w.bool(self.droppable);
        data::write_broker_ids(w, self.cluster.as_deref())?;
        w.i64(self.broker_in_time);
        w.i64(self.broker_out_time);
        w.bool(self.jmsx_group_first_for_consumer);
        Ok(())
    }

    /// The JMS properties, in wire order.
    pub(crate) fn properties(&self) -> Result<PrimitiveMap, WireError> {
        match &self.marshalled_properties {
            Some(b) if !b.is_empty() => {
                Ok(primitive::read_map(&mut Reader::new(b.clone()))?.unwrap_or_default())
            }
            _ => Ok(Vec::new()),
        }
    }

    pub(crate) fn set_properties(&mut self, map: &PrimitiveMap) -> Result<(), WireError> {
        if map.is_empty() {
            self.marshalled_properties = None;
            return Ok(());
        }
        let mut out = BytesMut::new();
        primitive::write_map(&mut Writer(&mut out), map)?;
        self.marshalled_properties = Some(out.freeze());
        Ok(())
    }

    /// The body as the application sees it: a text message's text as UTF-8, a bytes message's
    /// bytes, other classes' marshalled content; inflated if the producer compressed it.
    pub(crate) fn body(&self) -> Result<Bytes, WireError> {
        let Some(content) = &self.content else {
            return Ok(Bytes::new());
        };
        if self.class == types::TEXT_MESSAGE {
            let plain = if self.compressed {
                Bytes::from(inflate(content)?)
            } else {
                content.clone()
            };
            // `writeUTF8`: a 32-bit length (-1 for a null text), then modified UTF-8.
            let mut r = Reader::new(plain);
            let n = r.i32()?;
            if n < 0 {
                return Ok(Bytes::new());
            }
            let n = r.length(n as i64)?;
            let raw = r.bytes(n)?;
            if std::str::from_utf8(&raw).is_ok() && !raw.contains(&0xc0) && !raw.contains(&0xed) {
                return Ok(raw);
            }
            return Ok(Bytes::from(mutf8::decode(&raw).into_bytes()));
        }
        if !self.compressed {
            return Ok(content.clone());
        }
        // Other classes compress as a 32-bit inflated length, then a zlib stream.
        if content.len() < 4 {
            return Err(WireError::Truncated);
        }
        Ok(Bytes::from(inflate(&content[4..])?))
    }

    /// A map message's entries.
    pub(crate) fn map_body(&self) -> Result<PrimitiveMap, WireError> {
        if self.class != types::MAP_MESSAGE {
            return Err(WireError::Invalid("not a map message"));
        }
        let body = self.body()?;
        if body.is_empty() {
            return Ok(Vec::new());
        }
        Ok(primitive::read_map(&mut Reader::new(body))?.unwrap_or_default())
    }

    /// A text message body: `writeUTF8` of the text.
    pub(crate) fn text_content(text: &str) -> Bytes {
        let mut out = BytesMut::with_capacity(4 + text.len());
        let mut w = Writer(&mut out);
        w.i32(mutf8::encoded_len(text) as i32);
        mutf8::encode_into(text, w.0);
        out.freeze()
    }
}

fn inflate(data: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| WireError::Invalid("a compressed body that does not inflate"))?;
    if out.len() > MAX_INFLATED {
        return Err(WireError::TooLarge {
            size: out.len() as u64,
            max: MAX_INFLATED,
        });
    }
    Ok(out)
}
