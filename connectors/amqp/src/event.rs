//! One AMQP delivery as a record of Lambda's `aws:rmq` event.
//!
//! The shape follows the seeds: `basicProperties` always carries all fourteen properties plus
//! `bodySize`, then `redelivered` and base64 `data`. Absent properties are `null`, except
//! `headers` (`{}`), and `deliveryMode` and `priority`, which AWS's Rust and Go event types
//! read as plain integers (a `null` fails the whole event): an absent delivery mode is `1`
//! (AMQP: not persistent) and an absent priority `0` (RabbitMQ treats a message without one as
//! priority 0).
//! Header values: strings as `{"bytes":[...]}` and numbers as numbers, as in the seeds; the
//! seeds say nothing of other types, so booleans are booleans, timestamps are epoch seconds,
//! decimals are numbers, arrays are arrays and nested tables are objects (string values inside
//! them keep the `bytes` form). The timestamp is written like Lambda's
//! (`"Jan 1, 1970, 12:33:41 AM"`, UTC).
//!
//! Tables and arrays nested deeper than [`MAX_DEPTH`] levels are written as the string
//! `"(nested too deeply)"`: rendering is recursive, and a hostile header must not exhaust the
//! stack.

use bytes::Bytes;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use sluice_core::event::EventShape;
use sluice_core::record::{DeliveryId, HeaderValue, Metadata, Record};
use std::sync::Arc;

/// Lambda's `aws:rmq` event: records grouped by `QUEUE::VHOST` under `rmqMessagesByQueue`,
/// the body base64 in `data`.
pub const SHAPE: EventShape = EventShape {
    event_source: "aws:rmq",
    list_key: "rmqMessagesByQueue",
    records_carry_source: false,
    grouped: true,
    body_key: "data",
};

/// Everything but `data`, which is appended as base64 without going through serde's string
/// escaping (the base64 alphabet needs none): on 1 KiB bodies that escaping was the largest
/// cost of building a record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RmqRecord<'a> {
    basic_properties: BasicProps<'a>,
    redelivered: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BasicProps<'a> {
    content_type: Option<&'a str>,
    content_encoding: Option<&'a str>,
    /// `{}` when the message has none: every library reads a map, and a handler iterating it
    /// needs no `null` check.
    headers: Headers<'a>,
    /// Always a number: the Rust and Go event types read `u8` and fail the event on `null`.
    delivery_mode: u8,
    priority: u8,
    correlation_id: Option<&'a str>,
    reply_to: Option<&'a str>,
    expiration: Option<&'a str>,
    message_id: Option<&'a str>,
    timestamp: Option<String>,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    user_id: Option<&'a str>,
    app_id: Option<&'a str>,
    cluster_id: Option<&'a str>,
    body_size: usize,
}

/// AMQP's delivery mode for a message that sets none: not persistent.
const TRANSIENT: u8 = 1;

/// Levels of nested header tables and arrays rendered in an event.
pub const MAX_DEPTH: u8 = 32;

/// A table (`None`: an empty one) and its depth (the top-level headers are depth 0).
struct Headers<'a>(Option<&'a FieldTable>, u8);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.1 > MAX_DEPTH {
            return s.serialize_str("(nested too deeply)");
        }
        let Some(table) = self.0 else {
            return s.serialize_map(Some(0))?.end();
        };
        let mut map = s.serialize_map(Some(table.inner().len()))?;
        for (k, v) in table.inner() {
            map.serialize_entry(k.as_str(), &Value(v, self.1 + 1))?;
        }
        map.end()
    }
}

/// A header value and its depth.
struct Value<'a>(&'a AMQPValue, u8);

/// `{"bytes":[...]}`, Lambda's form for string header values.
struct ByteList<'a>(&'a [u8]);

impl Serialize for ByteList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("bytes", self.0)?;
        map.end()
    }
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            AMQPValue::Boolean(b) => s.serialize_bool(*b),
            AMQPValue::ShortShortInt(n) => s.serialize_i8(*n),
            AMQPValue::ShortShortUInt(n) => s.serialize_u8(*n),
            AMQPValue::ShortInt(n) => s.serialize_i16(*n),
            AMQPValue::ShortUInt(n) => s.serialize_u16(*n),
            AMQPValue::LongInt(n) => s.serialize_i32(*n),
            AMQPValue::LongUInt(n) => s.serialize_u32(*n),
            AMQPValue::LongLongInt(n) => s.serialize_i64(*n),
            AMQPValue::Float(f) => s.serialize_f32(*f),
            AMQPValue::Double(f) => s.serialize_f64(*f),
            AMQPValue::DecimalValue(d) => {
                s.serialize_f64(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
            }
            AMQPValue::ShortString(v) => ByteList(v.as_str().as_bytes()).serialize(s),
            AMQPValue::LongString(v) => ByteList(v.as_bytes()).serialize(s),
            AMQPValue::ByteArray(v) => ByteList(v.as_slice()).serialize(s),
            AMQPValue::Timestamp(t) => s.serialize_u64(*t),
            AMQPValue::FieldArray(_) | AMQPValue::FieldTable(_) if self.1 > MAX_DEPTH => {
                s.serialize_str("(nested too deeply)")
            }
            AMQPValue::FieldArray(a) => {
                let mut seq = s.serialize_seq(Some(a.as_slice().len()))?;
                for v in a.as_slice() {
                    seq.serialize_element(&Value(v, self.1 + 1))?;
                }
                seq.end()
            }
            AMQPValue::FieldTable(t) => Headers(Some(t), self.1).serialize(s),
            AMQPValue::Void => s.serialize_unit(),
        }
    }
}

fn opt(s: &Option<ShortString>) -> Option<&str> {
    s.as_ref().map(ShortString::as_str)
}

/// The record JSON for one delivery.
pub fn record_json(props: &BasicProperties, redelivered: bool, body: &[u8]) -> Vec<u8> {
    let rec = RmqRecord {
        basic_properties: BasicProps {
            content_type: opt(props.content_type()),
            content_encoding: opt(props.content_encoding()),
            headers: Headers(props.headers().as_ref(), 0),
            delivery_mode: props.delivery_mode().unwrap_or(TRANSIENT),
            priority: props.priority().unwrap_or(0),
            correlation_id: opt(props.correlation_id()),
            reply_to: opt(props.reply_to()),
            expiration: opt(props.expiration()),
            message_id: opt(props.message_id()),
            timestamp: props.timestamp().map(format_timestamp),
            kind: opt(props.kind()),
            user_id: opt(props.user_id()),
            app_id: opt(props.app_id()),
            cluster_id: opt(props.cluster_id()),
            body_size: body.len(),
        },
        redelivered,
    };
    let b64_len = body.len().div_ceil(3) * 4;
    let mut out = Vec::with_capacity(512 + b64_len);
    // Serializing plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &rec);
    out.pop(); // the closing brace
    out.extend_from_slice(b",\"data\":\"");
    let start = out.len();
    out.resize(start + b64_len, 0);
    // SIMD base64: with 1 KiB bodies, encoding was the largest single cost of a record.
    let written = base64_simd::STANDARD
        .encode(body, base64_simd::Out::from_slice(&mut out[start..]))
        .len();
    out.truncate(start + written);
    out.extend_from_slice(b"\"}");
    out
}

/// Broker-neutral metadata, for publishing the record to another broker.
pub fn metadata(props: &BasicProperties) -> Metadata {
    let own = |s: &Option<ShortString>| s.as_ref().map(|v| v.as_str().to_owned());
    let headers = props
        .headers()
        .as_ref()
        .map(|t| {
            t.inner()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), header_value(v)?)))
                .collect()
        })
        .unwrap_or_default();
    Metadata {
        content_type: own(props.content_type()),
        content_encoding: own(props.content_encoding()),
        message_id: own(props.message_id()),
        correlation_id: own(props.correlation_id()),
        reply_to: own(props.reply_to()),
        kind: own(props.kind()),
        priority: *props.priority(),
        persistent: props.delivery_mode().map(|m| m == 2),
        timestamp_ms: props.timestamp().map(|t| t.saturating_mul(1000)),
        headers,
        group_id: None,
        dedup_id: None,
        aws_trace_header: None,
    }
}

fn header_value(v: &AMQPValue) -> Option<HeaderValue> {
    Some(match v {
        AMQPValue::Boolean(b) => HeaderValue::Bool(*b),
        AMQPValue::ShortShortInt(n) => HeaderValue::Int(i64::from(*n)),
        AMQPValue::ShortShortUInt(n) => HeaderValue::Int(i64::from(*n)),
        AMQPValue::ShortInt(n) => HeaderValue::Int(i64::from(*n)),
        AMQPValue::ShortUInt(n) => HeaderValue::Int(i64::from(*n)),
        AMQPValue::LongInt(n) => HeaderValue::Int(i64::from(*n)),
        AMQPValue::LongUInt(n) => HeaderValue::Int(i64::from(*n)),
        AMQPValue::LongLongInt(n) => HeaderValue::Int(*n),
        AMQPValue::Float(f) => HeaderValue::Float(f64::from(*f)),
        AMQPValue::Double(f) => HeaderValue::Float(*f),
        AMQPValue::ShortString(s) => HeaderValue::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => {
            HeaderValue::String(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        AMQPValue::ByteArray(b) => HeaderValue::Bytes(bytes::Bytes::copy_from_slice(b.as_slice())),
        _ => return None,
    })
}

/// Build the record for one delivery.
pub fn to_record(
    id: DeliveryId,
    props: &BasicProperties,
    redelivered: bool,
    body: Vec<u8>,
    group: &Arc<str>,
) -> Record {
    let event = record_json(props, redelivered, &body);
    let mut r = Record::new(id, Bytes::from(event), Bytes::from(body));
    r.group = Some(group.clone());
    r.meta = metadata(props);
    r
}

/// `QUEUE::VHOST`, the key of `rmqMessagesByQueue`.
pub fn group_key(queue: &str, vhost: &str) -> Arc<str> {
    format!("{queue}::{vhost}").into()
}

/// An AMQP timestamp (epoch seconds) as Lambda writes it: `MMM d, yyyy, h:mm:ss a`, UTC.
pub fn format_timestamp(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = sluice_core::time::civil_from_days(days);
    let (h, min, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!(
        "{} {d}, {y}, {h12}:{min:02}:{s:02} {ampm}",
        MONTHS[(m - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::LongString;
    use serde_json::json;

    #[test]
    fn deeply_nested_headers_are_cut_off_not_recursed_into() {
        let mut table = FieldTable::default();
        table.insert("leaf".into(), AMQPValue::LongInt(1));
        for i in 0..1000 {
            let mut outer = FieldTable::default();
            let inner = if i % 2 == 0 {
                AMQPValue::FieldTable(table)
            } else {
                AMQPValue::FieldArray(vec![AMQPValue::FieldTable(table)].into())
            };
            outer.insert("n".into(), inner);
            table = outer;
        }
        let props = BasicProperties::default().with_headers(table);
        let json: serde_json::Value =
            serde_json::from_slice(&record_json(&props, false, b"{}")).unwrap();
        let text = json.to_string();
        assert!(text.contains("(nested too deeply)"));
        assert!(!text.contains("leaf"));
    }

    #[test]
    fn timestamps_like_lambda() {
        assert_eq!(format_timestamp(2021), "Jan 1, 1970, 12:33:41 AM");
        assert_eq!(format_timestamp(0), "Jan 1, 1970, 12:00:00 AM");
        assert_eq!(format_timestamp(1_598_827_811), "Aug 30, 2020, 10:50:11 PM");
        assert_eq!(format_timestamp(951_825_600), "Feb 29, 2000, 12:00:00 PM");
    }

    #[test]
    fn the_seed_example_field_by_field() {
        let mut headers = FieldTable::default();
        headers.insert(
            "header1".into(),
            AMQPValue::LongString(LongString::from("value1")),
        );
        headers.insert(
            "header2".into(),
            AMQPValue::LongString(LongString::from("value2")),
        );
        headers.insert("numberInHeader".into(), AMQPValue::LongInt(10));
        let props = BasicProperties::default()
            .with_content_type("text/plain".into())
            .with_headers(headers)
            .with_delivery_mode(1)
            .with_priority(34)
            .with_expiration("60000".into())
            .with_timestamp(2021)
            .with_user_id("AIDACKCEVSQ6C2EXAMPLE".into());
        let body = br#"{"timeout":0,"data":"CZrmf0Gw8Ov4bqLQxD4E"}"#;
        let got: serde_json::Value =
            serde_json::from_slice(&record_json(&props, false, body)).unwrap();
        let want = json!({
            "basicProperties": {
                "contentType": "text/plain",
                "contentEncoding": null,
                "headers": {
                    "header1": {"bytes": [118, 97, 108, 117, 101, 49]},
                    "header2": {"bytes": [118, 97, 108, 117, 101, 50]},
                    "numberInHeader": 10
                },
                "deliveryMode": 1,
                "priority": 34,
                "correlationId": null,
                "replyTo": null,
                "expiration": "60000",
                "messageId": null,
                "timestamp": "Jan 1, 1970, 12:33:41 AM",
                "type": null,
                "userId": "AIDACKCEVSQ6C2EXAMPLE",
                "appId": null,
                "clusterId": null,
                "bodySize": 43
            },
            "redelivered": false,
            "data": "eyJ0aW1lb3V0IjowLCJkYXRhIjoiQ1pybWYwR3c4T3Y0YnFMUXhENEUifQ=="
        });
        assert_eq!(got, want);
    }

    #[test]
    fn absent_properties_are_null_but_the_ones_libraries_read_as_numbers_or_maps() {
        let got: serde_json::Value =
            serde_json::from_slice(&record_json(&BasicProperties::default(), true, b"")).unwrap();
        let props = got["basicProperties"].as_object().unwrap();
        assert_eq!(props.len(), 15);
        assert!(props["timestamp"].is_null() && props["messageId"].is_null());
        assert_eq!(props["headers"], json!({}));
        assert_eq!(props["deliveryMode"], json!(1), "AMQP: not persistent");
        assert_eq!(props["priority"], json!(0));
        assert_eq!(got["redelivered"], json!(true));
        assert_eq!(got["data"], json!(""));
    }
}
