//! Lambda's `aws:mq` event: its shape, and one record (an ActiveMQ message) in Lambda's field
//! order. Both protocols fill the record, from different wire fields (`stomp/event.rs`,
//! `openwire/event.rs`).

use serde::Serialize;
use sluice_core::event::EventShape;

/// `{"eventSource":"aws:mq","eventSourceArn":ARN,"messages":[...]}`, the body base64 in
/// `data`.
pub(crate) const SHAPE: EventShape = EventShape {
    event_source: "aws:mq",
    list_key: "messages",
    records_carry_source: false,
    grouped: false,
    body_key: "data",
};

/// `eventSourceArn` when the pipe file gives none: a local broker ARN naming the host.
pub(crate) fn default_arn(host: &str) -> String {
    format!("arn:aws:mq:local:000000000000:broker:{host}")
}

/// Serialized as Lambda sends it and as AWS's event libraries read it (Rust `aws_lambda_events`,
/// Go `events`, Java, Powertools): every key present; the numbers (`expiration`, `priority`,
/// the three times) always numbers, `0` when the message has none, since the Rust and Go types
/// read them as plain integers and fail the whole event on a string or a `null`; optional
/// strings `null` when unset.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MqMessage<'a, P: Serialize> {
    #[serde(rename = "messageID")]
    pub message_id: &'a str,
    /// `jms/text-message` or `jms/bytes-message`.
    pub message_type: &'static str,
    /// JMS delivery mode: 2 persistent, 1 not.
    pub delivery_mode: u8,
    pub reply_to: Option<&'a str>,
    /// `JMSType`.
    #[serde(rename = "type")]
    pub kind: Option<&'a str>,
    /// `JMSExpiration`, epoch milliseconds; `0` never expires. A number, as the libraries and
    /// AWS's captured event have it (the documentation's example shows a string).
    pub expiration: i64,
    /// `JMSPriority`, 0..9 (JMS's default is 4).
    pub priority: u8,
    /// `JMSCorrelationID`, spelled `correlationID` as the libraries and AWS's captured event
    /// spell it (the documentation's example says `correlationId`).
    #[serde(rename = "correlationID")]
    pub correlation_id: Option<&'a str>,
    pub redelivered: bool,
    pub destination: MqDestination<'a>,
    /// The body, base64.
    pub data: String,
    /// `JMSTimestamp`, epoch milliseconds; `0` when the producer disabled it.
    pub timestamp: u64,
    pub broker_in_time: u64,
    pub broker_out_time: u64,
    /// JMS custom properties, values as strings.
    pub properties: P,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MqDestination<'a> {
    pub physical_name: &'a str,
}

pub(crate) const TEXT_MESSAGE: &str = "jms/text-message";
pub(crate) const BYTES_MESSAGE: &str = "jms/bytes-message";

/// JMS's default priority, for a frame that names none.
pub(crate) const DEFAULT_PRIORITY: u8 = 4;
