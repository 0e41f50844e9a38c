//! One SQS message as a record of Lambda's `aws:sqs` event.
//!
//! The shape follows the seeds exactly: `messageId`, `receiptHandle`, `body`, `attributes`
//! (string values, in Lambda's order: `ApproximateReceiveCount`, `SentTimestamp`, then for
//! FIFO `SequenceNumber` and `MessageGroupId`, `SenderId`, `MessageDeduplicationId`,
//! `ApproximateFirstReceiveTimestamp`, then `AWSTraceHeader` and `DeadLetterQueueSourceArn`
//! when SQS sends them), `messageAttributes` in lowerCamelCase (sorted by name),
//! `md5OfBody`, `md5OfMessageAttributes` (when the message has attributes), `eventSource`,
//! `eventSourceARN`, `awsRegion`. A binary attribute's value is `binaryValue`, base64, as
//! Lambda sends it.

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName as A};
use bytes::Bytes;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use sluice_core::event::EventShape;
use sluice_core::record::{DeliveryId, HeaderValue, Metadata, Record};
use std::collections::HashMap;

/// Lambda's SQS event: `{"Records":[...]}`, each record carrying `eventSource` and its ARN
/// itself, the body under `body`.
pub const SHAPE: EventShape = EventShape {
    event_source: "aws:sqs",
    list_key: "Records",
    records_carry_source: true,
    grouped: false,
    body_key: "body",
};

/// The fields every record of one queue shares.
#[derive(Clone, Debug)]
pub struct QueueFields {
    /// `eventSourceARN`.
    pub arn: String,
    /// `awsRegion`.
    pub region: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SqsRecord<'a> {
    message_id: &'a str,
    receipt_handle: &'a str,
    body: &'a str,
    attributes: Attributes<'a>,
    message_attributes: MessageAttributes<'a>,
    md5_of_body: &'a str,
    /// Present when the message has attributes, as in AWS's captured event (aws-lambda-go's
    /// `sqs-event.json`); every official library reads it as an optional string.
    #[serde(skip_serializing_if = "Option::is_none")]
    md5_of_message_attributes: Option<&'a str>,
    event_source: &'static str,
    #[serde(rename = "eventSourceARN")]
    event_source_arn: &'a str,
    aws_region: &'a str,
}

/// Lambda's order of system attributes.
const ORDER: [A; 9] = [
    A::ApproximateReceiveCount,
    A::SentTimestamp,
    A::SequenceNumber,
    A::MessageGroupId,
    A::SenderId,
    A::MessageDeduplicationId,
    A::ApproximateFirstReceiveTimestamp,
    A::AwsTraceHeader,
    A::DeadLetterQueueSourceArn,
];

struct Attributes<'a>(Option<&'a HashMap<A, String>>);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(attrs) = self.0 {
            for name in &ORDER {
                if let Some(v) = attrs.get(name) {
                    map.serialize_entry(name.as_str(), v)?;
                }
            }
        }
        map.end()
    }
}

struct MessageAttributes<'a>(Vec<(&'a String, &'a MessageAttributeValue)>);

impl Serialize for MessageAttributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, v) in &self.0 {
            map.serialize_entry(name, &AttributeValue(v))?;
        }
        map.end()
    }
}

struct AttributeValue<'a>(&'a MessageAttributeValue);

impl Serialize for AttributeValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let mut map = s.serialize_map(None)?;
        if let Some(sv) = v.string_value() {
            map.serialize_entry("stringValue", sv)?;
        }
        if let Some(b) = v.binary_value() {
            map.serialize_entry("binaryValue", &base64(b.as_ref()))?;
        }
        map.serialize_entry("stringListValues", v.string_list_values())?;
        let binaries: Vec<String> = v
            .binary_list_values()
            .iter()
            .map(|b| base64(b.as_ref()))
            .collect();
        map.serialize_entry("binaryListValues", &binaries)?;
        map.serialize_entry("dataType", v.data_type())?;
        map.end()
    }
}

fn base64(b: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(b)
}

/// What the source needs besides the record.
pub struct Received {
    /// The record.
    pub record: Record,
    /// Its receipt handle, for settling.
    pub receipt_handle: String,
    /// Its message id.
    pub message_id: String,
}

/// Build the record for one received message; `None` if SQS left out its id or handle.
pub fn to_record(seq: u64, m: Message, q: &QueueFields) -> Option<Received> {
    let message_id = m.message_id?;
    let receipt_handle = m.receipt_handle?;
    let body = m.body.unwrap_or_default();
    let attrs = m.attributes.unwrap_or_default();
    let mut message_attrs: Vec<_> = m.message_attributes.iter().flatten().collect();
    message_attrs.sort_by(|a, b| a.0.cmp(b.0));
    let event = serde_json::to_vec(&SqsRecord {
        message_id: &message_id,
        receipt_handle: &receipt_handle,
        body: &body,
        attributes: Attributes(Some(&attrs)),
        message_attributes: MessageAttributes(message_attrs),
        md5_of_body: m.md5_of_body.as_deref().unwrap_or_default(),
        md5_of_message_attributes: m.md5_of_message_attributes.as_deref(),
        event_source: "aws:sqs",
        event_source_arn: &q.arn,
        aws_region: &q.region,
    })
    .unwrap_or_default();
    let number = |a: &A| attrs.get(a).and_then(|v| v.parse::<u64>().ok());
    let receive_count = number(&A::ApproximateReceiveCount).unwrap_or(1).max(1);
    let meta = Metadata {
        message_id: Some(message_id.clone()),
        timestamp_ms: number(&A::SentTimestamp),
        headers: m
            .message_attributes
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| header_value(v).map(|v| (k, v)))
            .collect(),
        group_id: attrs.get(&A::MessageGroupId).cloned(),
        dedup_id: attrs.get(&A::MessageDeduplicationId).cloned(),
        aws_trace_header: attrs.get(&A::AwsTraceHeader).cloned(),
        ..Metadata::default()
    };
    let mut record = Record::new(
        DeliveryId { epoch: 1, seq },
        Bytes::from(event),
        Bytes::from(body),
    );
    record.meta = meta;
    // SQS counts deliveries: the ones before this were failed attempts.
    record.attempts = u32::try_from(receive_count - 1).unwrap_or(u32::MAX);
    Some(Received {
        record,
        receipt_handle,
        message_id,
    })
}

/// A message attribute as a broker-neutral header: `Number` becomes an integer or a float
/// where it parses as one, `Binary` stays bytes, custom type suffixes are not kept.
fn header_value(v: MessageAttributeValue) -> Option<HeaderValue> {
    let kind = v.data_type.split('.').next().unwrap_or_default().to_owned();
    match kind.as_str() {
        "Binary" => v
            .binary_value
            .map(|b| HeaderValue::Bytes(Bytes::from(b.into_inner()))),
        "Number" => {
            let s = v.string_value?;
            Some(if let Ok(n) = s.parse::<i64>() {
                HeaderValue::Int(n)
            } else if let Ok(f) = s.parse::<f64>() {
                HeaderValue::Float(f)
            } else {
                HeaderValue::String(s)
            })
        }
        _ => v.string_value.map(HeaderValue::String),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::primitives::Blob;

    fn fields() -> QueueFields {
        QueueFields {
            arn: "arn:aws:sqs:us-east-2:123456789012:my-queue".into(),
            region: "us-east-2".into(),
        }
    }

    #[test]
    fn standard_record_matches_the_seed_shape() {
        let m = Message::builder()
            .message_id("059f36b4-87a3-44ab-83d2-661975830a7d")
            .receipt_handle("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...")
            .body("Test message.")
            .md5_of_body("e4e68fb7bd0e697a0ae8f1bb342846b3")
            .attributes(A::SenderId, "AIDAIENQZJOLO23YVJ4VO")
            .attributes(A::ApproximateFirstReceiveTimestamp, "1545082649185")
            .attributes(A::SentTimestamp, "1545082649183")
            .attributes(A::ApproximateReceiveCount, "1")
            .message_attributes(
                "myAttribute",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("myValue")
                    .build()
                    .unwrap(),
            )
            .build();
        let r = to_record(7, m, &fields()).unwrap();
        assert_eq!(
            std::str::from_utf8(&r.record.event).unwrap(),
            concat!(
                r#"{"messageId":"059f36b4-87a3-44ab-83d2-661975830a7d","receiptHandle":"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...","#,
                r#""body":"Test message.","attributes":{"ApproximateReceiveCount":"1","SentTimestamp":"1545082649183","#,
                r#""SenderId":"AIDAIENQZJOLO23YVJ4VO","ApproximateFirstReceiveTimestamp":"1545082649185"},"#,
                r#""messageAttributes":{"myAttribute":{"stringValue":"myValue","stringListValues":[],"binaryListValues":[],"dataType":"String"}},"#,
                r#""md5OfBody":"e4e68fb7bd0e697a0ae8f1bb342846b3","eventSource":"aws:sqs","#,
                r#""eventSourceARN":"arn:aws:sqs:us-east-2:123456789012:my-queue","awsRegion":"us-east-2"}"#
            )
        );
        assert_eq!(r.record.attempts, 0);
        assert_eq!(r.record.meta.timestamp_ms, Some(1545082649183));
        assert_eq!(
            r.record.item_id(),
            Some("059f36b4-87a3-44ab-83d2-661975830a7d")
        );
    }

    #[test]
    fn fifo_attributes_in_lambda_order_and_binary_values() {
        let m = Message::builder()
            .message_id("11d6ee51")
            .receipt_handle("h")
            .body("{\"a\":1}")
            .attributes(A::MessageDeduplicationId, "1")
            .attributes(A::MessageGroupId, "g1")
            .attributes(A::SequenceNumber, "18849496460467696128")
            .attributes(A::ApproximateReceiveCount, "3")
            .attributes(A::SenderId, "S")
            .attributes(A::SentTimestamp, "1573251510774")
            .attributes(A::ApproximateFirstReceiveTimestamp, "1573251510774")
            .message_attributes(
                "bin",
                MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(Blob::new(b"abc".to_vec()))
                    .build()
                    .unwrap(),
            )
            .message_attributes(
                "n",
                MessageAttributeValue::builder()
                    .data_type("Number")
                    .string_value("42")
                    .build()
                    .unwrap(),
            )
            .build();
        let r = to_record(1, m, &fields()).unwrap();
        let text = std::str::from_utf8(&r.record.event).unwrap();
        assert!(text.contains(concat!(
            r#""attributes":{"ApproximateReceiveCount":"3","SentTimestamp":"1573251510774","#,
            r#""SequenceNumber":"18849496460467696128","MessageGroupId":"g1","SenderId":"S","#,
            r#""MessageDeduplicationId":"1","ApproximateFirstReceiveTimestamp":"1573251510774"}"#
        )), "{text}");
        assert!(text.contains(
            r#""bin":{"binaryValue":"YWJj","stringListValues":[],"binaryListValues":[],"dataType":"Binary"},"n":{"stringValue":"42""#
        ), "{text}");
        assert!(text.contains(r#""body":"{\"a\":1}""#), "{text}");
        assert_eq!(r.record.attempts, 2);
        assert_eq!(r.record.meta.group_id.as_deref(), Some("g1"));
        assert_eq!(r.record.meta.dedup_id.as_deref(), Some("1"));
        assert!(
            r.record
                .meta
                .headers
                .contains(&("n".into(), HeaderValue::Int(42)))
        );
    }
}
