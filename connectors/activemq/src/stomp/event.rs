//! One STOMP MESSAGE as a record of Lambda's `aws:mq` event.
//!
//! Fields in Lambda's order: `messageID`, `messageType` (`jms/bytes-message` when the frame has
//! a `content-length`, which ActiveMQ sets for BytesMessages only, else `jms/text-message`),
//! `deliveryMode` (2 persistent, 1 not), `replyTo`, `type`, `expiration` (the `expires`
//! header as a number, `0` when absent), `priority` (4 when absent), `correlationID`, `redelivered`, `destination.physicalName`, base64 `data`,
//! `timestamp`, `brokerInTime`, `brokerOutTime`, `properties` (the other headers: JMS custom
//! properties, as strings). STOMP carries no broker in/out times: `brokerInTime` is the
//! message's `timestamp` and `brokerOutTime` the moment Sluice received it.

use crate::event::{BYTES_MESSAGE, DEFAULT_PRIORITY, MqDestination, MqMessage, TEXT_MESSAGE};
use bytes::Bytes;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use sluice_core::record::{DeliveryId, HeaderValue, Metadata, Record, now_ms};

use crate::stomp::codec::Frame;

/// Headers that are JMS fields or STOMP plumbing, not properties.
const NOT_PROPERTIES: [&str; 17] = [
    "message-id",
    "destination",
    "ack",
    "subscription",
    "content-length",
    "content-type",
    "expires",
    "priority",
    "persistent",
    "timestamp",
    "redelivered",
    "correlation-id",
    "reply-to",
    "type",
    "scheduledJobId",
    "redeliveryDelay",
    "receipt",
];

struct Properties<'a>(&'a [(String, String)]);

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0.iter().filter(|(k, _)| is_property(k)) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

fn is_property(name: &str) -> bool {
    !is_reserved(name) && !name.starts_with("JMS")
}

/// A header STOMP or ActiveMQ gives a meaning of its own.
pub(crate) fn is_reserved(name: &str) -> bool {
    NOT_PROPERTIES.contains(&name)
}

/// The queue name of a destination (`/queue/orders` → `orders`).
pub(crate) fn physical_name(destination: &str) -> &str {
    destination
        .strip_prefix("/queue/")
        .or_else(|| destination.strip_prefix("/topic/"))
        .or_else(|| destination.strip_prefix("/amq/queue/"))
        .unwrap_or(destination)
}

/// Build the record for one MESSAGE frame.
pub(crate) fn to_record(id: DeliveryId, frame: Frame) -> Record {
    let get = |k| frame.get(k);
    let number = |k| get(k).and_then(|v: &str| v.trim().parse::<u64>().ok());
    let persistent = get("persistent").is_some_and(|v| v == "true");
    let timestamp = number("timestamp").unwrap_or(0);
    let priority = number("priority").and_then(|p| u8::try_from(p).ok());
    let expiration = get("expires").and_then(|v| v.trim().parse::<i64>().ok());
    let message_id = get("message-id").unwrap_or("");
    let received = now_ms();
    let event = serde_json::to_vec(&MqMessage {
        message_id,
        message_type: if get("content-length").is_some() {
            BYTES_MESSAGE
        } else {
            TEXT_MESSAGE
        },
        delivery_mode: if persistent { 2 } else { 1 },
        reply_to: get("reply-to"),
        kind: get("type"),
        expiration: expiration.unwrap_or(0),
        priority: priority.unwrap_or(DEFAULT_PRIORITY),
        correlation_id: get("correlation-id"),
        redelivered: get("redelivered").is_some_and(|v| v == "true"),
        destination: MqDestination {
            physical_name: physical_name(get("destination").unwrap_or("")),
        },
        data: base64_simd::STANDARD.encode_to_string(&frame.body),
        timestamp,
        broker_in_time: timestamp,
        broker_out_time: received,
        properties: Properties(&frame.headers),
    })
    .unwrap_or_default();
    let meta = Metadata {
        content_type: get("content-type").map(str::to_owned),
        message_id: Some(message_id.to_owned()).filter(|m| !m.is_empty()),
        correlation_id: get("correlation-id").map(str::to_owned),
        reply_to: get("reply-to").map(str::to_owned),
        kind: get("type").map(str::to_owned),
        priority,
        persistent: Some(persistent),
        timestamp_ms: Some(timestamp).filter(|t| *t > 0),
        headers: frame
            .headers
            .iter()
            .filter(|(k, _)| is_property(k))
            .map(|(k, v)| (k.clone(), HeaderValue::String(v.clone())))
            .collect(),
        // ActiveMQ's MESSAGE frames do not carry the JMS group (only properties and the
        // standard headers); another STOMP broker's header, if any, is used.
        group_id: get("JMSXGroupID").map(str::to_owned),
        ..Metadata::default()
    };
    let mut record = Record::new(id, Bytes::from(event), frame.body);
    record.meta = meta;
    record.received_ms = received;
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activemq_text_message_as_lambda_sends_it() {
        let frame = Frame::new("MESSAGE")
            .header("message-id", "ID:b-1:1:1:1:1")
            .header("destination", "/queue/testQueue")
            .header("ack", "ID:x:1")
            .header("subscription", "0")
            .header("expires", "60000")
            .header("priority", "1")
            .header("persistent", "false")
            .header("correlation-id", "myJMSCoID")
            .header("timestamp", "1598827811958")
            .header("myCustomProperty", "value")
            .header("JMSXGroupID", "g");
        let mut frame = frame;
        frame.body = Bytes::from_static(b"ABC:AAAA");
        let r = to_record(DeliveryId { epoch: 1, seq: 1 }, frame);
        let v: serde_json::Value = serde_json::from_slice(&r.event).unwrap();
        let text = std::str::from_utf8(&r.event).unwrap();
        assert!(text.starts_with(r#"{"messageID":"ID:b-1:1:1:1:1","messageType":"jms/text-message","deliveryMode":1,"replyTo":null,"type":null,"expiration":60000,"priority":1,"correlationID":"myJMSCoID","redelivered":false,"destination":{"physicalName":"testQueue"},"data":"QUJDOkFBQUE=","timestamp":1598827811958,"brokerInTime":1598827811958,"brokerOutTime":"#), "{text}");
        assert_eq!(
            v["properties"],
            serde_json::json!({"myCustomProperty": "value"})
        );
        assert_eq!(r.item_id(), Some("ID:b-1:1:1:1:1"));
    }
}
