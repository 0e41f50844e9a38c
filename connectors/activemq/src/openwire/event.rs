//! One dispatched JMS message as a record of Lambda's `aws:mq` event, from the real JMS fields.
//!
//! `messageType` comes from the message class: a TextMessage is `jms/text-message` with the
//! text's UTF-8 bytes as `data`; every other class is `jms/bytes-message` with its body (a
//! BytesMessage's bytes; Lambda emits no other types, and rather than drop a map, object or
//! stream message, Sluice passes its marshalled body on). `replyTo` is the destination's
//! qualified name (`queue://replies`), `expiration` the absolute `JMSExpiration` (`0`: never), `redelivered` is `JMSRedelivered` (the broker's redelivery counter above 0),
//! and `properties` the JMS custom properties as Java's `String.valueOf` prints them.

use crate::event::{BYTES_MESSAGE, MqDestination, MqMessage, TEXT_MESSAGE};
use crate::openwire::wire::{Message, MessageDispatch, Primitive, PrimitiveMap, types};
use bytes::Bytes;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use sluice_core::record::{DeliveryId, HeaderValue, Metadata, Record, now_ms};
use tracing::warn;

struct Properties<'a>(&'a PrimitiveMap);

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0.iter().filter(|(k, _)| is_property(k)) {
            map.serialize_entry(k, &v.to_text())?;
        }
        map.end()
    }
}

/// JMS-defined names (`JMSX...`, `JMS_...`) are not custom properties.
fn is_property(name: &str) -> bool {
    !name.starts_with("JMS")
}

fn header_value(v: &Primitive) -> HeaderValue {
    match v {
        Primitive::Bool(b) => HeaderValue::Bool(*b),
        Primitive::Byte(n) => HeaderValue::Int(*n as i64),
        Primitive::Short(n) => HeaderValue::Int(*n as i64),
        Primitive::Int(n) => HeaderValue::Int(*n as i64),
        Primitive::Long(n) => HeaderValue::Int(*n),
        Primitive::Float(x) => HeaderValue::Float(*x as f64),
        Primitive::Double(x) => HeaderValue::Float(*x),
        Primitive::Bytes(b) => HeaderValue::Bytes(b.clone()),
        other => HeaderValue::String(other.to_text()),
    }
}

/// A time in epoch milliseconds; `0` for none (a negative value is none too).
fn millis(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Build the record for one dispatch (which must carry a message).
pub(crate) fn to_record(id: DeliveryId, dispatch: &MessageDispatch, m: &Message) -> Record {
    let message_id = m
        .message_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let body = m.body().unwrap_or_else(|e| {
        warn!(message_id, error = %e, "body not decodable; passing the raw content on");
        m.content.clone().unwrap_or_default()
    });
    let properties = m.properties().unwrap_or_else(|e| {
        warn!(message_id, error = %e, "properties not decodable; left out");
        Vec::new()
    });
    let destination = m.destination.as_ref().or(dispatch.destination.as_ref());
    let reply_to = m.reply_to.as_ref().map(ToString::to_string);
    let received = now_ms();
    let event = serde_json::to_vec(&MqMessage {
        message_id: &message_id,
        message_type: if m.class == types::TEXT_MESSAGE {
            TEXT_MESSAGE
        } else {
            BYTES_MESSAGE
        },
        delivery_mode: if m.persistent { 2 } else { 1 },
        reply_to: reply_to.as_deref(),
        kind: m.jms_type.as_deref(),
        expiration: m.expiration,
        priority: m.priority,
        correlation_id: m.correlation_id.as_deref(),
        redelivered: dispatch.redelivery_counter.max(m.redelivery_counter) > 0,
        destination: MqDestination {
            physical_name: destination.map_or("", |d| d.name.as_str()),
        },
        data: base64_simd::STANDARD.encode_to_string(&body),
        timestamp: millis(m.timestamp),
        broker_in_time: millis(m.broker_in_time),
        broker_out_time: match millis(m.broker_out_time) {
            0 => received,
            t => t,
        },
        properties: Properties(&properties),
    })
    .unwrap_or_default();
    let meta = Metadata {
        message_id: Some(message_id).filter(|m| !m.is_empty()),
        correlation_id: m.correlation_id.clone(),
        reply_to,
        kind: m.jms_type.clone(),
        priority: Some(m.priority),
        persistent: Some(m.persistent),
        timestamp_ms: Some(millis(m.timestamp)).filter(|t| *t > 0),
        group_id: m.group_id.clone(),
        headers: properties
            .iter()
            .filter(|(k, _)| is_property(k))
            .map(|(k, v)| (k.clone(), header_value(v)))
            .collect(),
        ..Metadata::default()
    };
    let mut record = Record::new(id, Bytes::from(event), body);
    record.meta = meta;
    record.received_ms = received;
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openwire::wire::{Destination, MessageId, ProducerId};

    #[test]
    fn a_text_message_as_lambda_sends_it() {
        let mut m = Message {
            class: types::TEXT_MESSAGE,
            message_id: Some(MessageId {
                producer: ProducerId {
                    connection: "ID:b-1-37557-1234520418293-4:1".into(),
                    session: 1,
                    value: 1,
                },
                producer_sequence: 1,
                ..MessageId::default()
            }),
            destination: Some(Destination::queue("testQueue")),
            expiration: 60000,
            priority: 1,
            correlation_id: Some("myJMSCoID".into()),
            timestamp: 1598827811958,
            broker_in_time: 1598827811958,
            broker_out_time: 1598827811959,
            content: Some(Message::text_content("ABC:AAAA")),
            ..Message::default()
        };
        m.set_properties(&vec![
            ("index".into(), Primitive::Int(1)),
            ("doAlarm".into(), Primitive::Bool(false)),
            ("JMSXGroupSeq".into(), Primitive::Int(1)),
        ])
        .unwrap();
        let dispatch = MessageDispatch::default();
        let r = to_record(DeliveryId { epoch: 1, seq: 1 }, &dispatch, &m);
        let text = std::str::from_utf8(&r.event).unwrap();
        assert_eq!(
            text,
            r#"{"messageID":"ID:b-1-37557-1234520418293-4:1:1:1:1","messageType":"jms/text-message","deliveryMode":1,"replyTo":null,"type":null,"expiration":60000,"priority":1,"correlationID":"myJMSCoID","redelivered":false,"destination":{"physicalName":"testQueue"},"data":"QUJDOkFBQUE=","timestamp":1598827811958,"brokerInTime":1598827811958,"brokerOutTime":1598827811959,"properties":{"index":"1","doAlarm":"false"}}"#
        );
        assert_eq!(&r.body[..], b"ABC:AAAA");
        assert_eq!(r.meta.headers[0], ("index".into(), HeaderValue::Int(1)));
        let redelivered = MessageDispatch {
            redelivery_counter: 2,
            ..MessageDispatch::default()
        };
        let r = to_record(DeliveryId { epoch: 1, seq: 2 }, &redelivered, &m);
        assert!(
            std::str::from_utf8(&r.event)
                .unwrap()
                .contains(r#""redelivered":true"#)
        );
    }
}
