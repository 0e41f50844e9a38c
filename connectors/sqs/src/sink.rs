//! The SQS target: `SendMessageBatch`, ten records (and at most 1 MiB, SQS's limit since 2025) per call.

use crate::config::{QueueUrl, SqsTargetConfig, resolve_region};
use crate::connection::{self, Endpoint};
use crate::error::{ErrorClass, SqsError};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_sdk_sqs::types::{MessageSystemAttributeNameForSends, MessageSystemAttributeValue};
use sluice_core::record::{HeaderValue, Record};
use sluice_core::sink::{Sink, SinkError, SinkOutcome};
use sluice_core::trace::TraceContext;
use tokio::sync::OnceCell;
use tracing::warn;

/// SQS's limits: entries per call, bytes per call (bodies and attributes), attributes per
/// message.
const PER_CALL: usize = 10;
const BYTES_PER_CALL: usize = 1024 * 1024;
const ATTRIBUTES_PER_MESSAGE: usize = 10;

/// Sends each record's body (not the Lambda event: a broker target moves messages) with its
/// headers as message attributes. Records that were retried carry `x-sluice-attempts` and
/// `x-sluice-error` attributes, so a dead-letter queue shows why a message is there.
pub struct SqsSink {
    url: QueueUrl,
    endpoint: Endpoint,
    group_id: Option<String>,
    client: OnceCell<Client>,
    display: String,
}

impl SqsSink {
    /// Build from validated configuration; no I/O.
    pub fn new(cfg: &SqsTargetConfig) -> Result<Self, String> {
        let url = QueueUrl::parse(&cfg.queue_url)?;
        let region = resolve_region(cfg.region.as_deref(), &url);
        Ok(SqsSink {
            endpoint: Endpoint {
                region,
                endpoint_url: cfg.endpoint_url.clone(),
            },
            group_id: cfg.message_group_id.clone(),
            client: OnceCell::new(),
            display: format!("sqs {}", url.url),
            url,
        })
    }

    /// One entry, and its size as SQS counts it; `Err` for a record SQS cannot take.
    fn entry(&self, i: usize, r: &Record) -> Result<(SendMessageBatchRequestEntry, usize), String> {
        let body = std::str::from_utf8(&r.body)
            .map_err(|_| "the body is not UTF-8 text, which SQS cannot carry".to_owned())?;
        let mut size = body.len();
        let mut e = SendMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .message_body(body);
        for (name, value) in attributes(r) {
            size += name.len() + value.data_type().len();
            size += value.string_value().map_or(0, str::len);
            size += value.binary_value().map_or(0, |b| b.as_ref().len());
            e = e.message_attributes(name, value);
        }
        // The record's trace continues at the next consumer (Lambda reads AWSTraceHeader).
        if let Some(trace) = TraceContext::of(&r.meta) {
            let value = MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(trace.xray())
                .build()
                .map_err(|e| e.to_string())?;
            e = e.message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                value,
            );
        }
        if self.url.is_fifo() {
            let group = r.meta.group_id.as_ref().or(self.group_id.as_ref());
            e = e.set_message_group_id(group.cloned());
            // The source's deduplication id, else its message id: a batch Sluice sends again
            // (after a timeout that hid a success) is then not queued twice.
            let dedup = r
                .meta
                .dedup_id
                .as_deref()
                .or(r.meta.message_id.as_deref())
                .filter(|id| valid_id(id));
            e = e.set_message_deduplication_id(dedup.map(str::to_owned));
        }
        if size > BYTES_PER_CALL {
            return Err(format!(
                "{size} bytes with attributes, more than SQS's {BYTES_PER_CALL}"
            ));
        }
        let entry = e.build().map_err(|e| e.to_string())?;
        Ok((entry, size))
    }

    async fn send(
        &self,
        client: &Client,
        entries: Vec<SendMessageBatchRequestEntry>,
        failed: &mut Vec<usize>,
    ) -> Result<(), SqsError> {
        let out = client
            .send_message_batch()
            .queue_url(&self.url.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| SqsError::from_sdk("SendMessageBatch", e))?;
        for f in out.failed() {
            warn!(code = %f.code, message = f.message().unwrap_or_default(), sender_fault = f.sender_fault, "sqs refused one message");
            if let Ok(i) = f.id.parse() {
                failed.push(i);
            }
        }
        Ok(())
    }
}

/// Headers as message attributes: valid names only, at most ten, room kept for Sluice's own.
fn attributes(r: &Record) -> Vec<(String, MessageAttributeValue)> {
    let mut own = Vec::new();
    if r.attempts > 0 {
        own.push((
            "x-sluice-attempts".to_owned(),
            HeaderValue::Int(i64::from(r.attempts)),
        ));
    }
    if let Some(e) = &r.last_error {
        own.push((
            "x-sluice-error".to_owned(),
            HeaderValue::String(e.chars().take(512).collect()),
        ));
    }
    let carried = r
        .meta
        .headers
        .iter()
        .filter(|(k, _)| valid_name(k) && !k.starts_with("x-sluice-"))
        .take(ATTRIBUTES_PER_MESSAGE - own.len())
        .map(|(k, v)| (k.clone(), v.clone()));
    carried
        .chain(own)
        .filter_map(|(k, v)| attribute(v).map(|v| (k, v)))
        .collect()
}

fn attribute(v: HeaderValue) -> Option<MessageAttributeValue> {
    let (kind, text, binary) = match v {
        HeaderValue::String(s) if s.is_empty() => return None,
        HeaderValue::String(s) => ("String", Some(s), None),
        HeaderValue::Int(n) => ("Number", Some(n.to_string()), None),
        HeaderValue::Float(f) if f.is_finite() => ("Number", Some(f.to_string()), None),
        HeaderValue::Float(_) => return None,
        HeaderValue::Bool(b) => ("String", Some(b.to_string()), None),
        HeaderValue::Bytes(b) if b.is_empty() => return None,
        HeaderValue::Bytes(b) => ("Binary", None, Some(Blob::new(b.to_vec()))),
    };
    MessageAttributeValue::builder()
        .data_type(kind)
        .set_string_value(text)
        .set_binary_value(binary)
        .build()
        .ok()
}

/// SQS attribute names: `[A-Za-z0-9_.-]`, at most 256, no `AWS.`/`Amazon.` prefix, no
/// leading, trailing or doubled period.
fn valid_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|c| c.is_ascii_graphic())
}

#[async_trait]
impl Sink for SqsSink {
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        let client = self
            .client
            .get_or_init(|| connection::client(&self.endpoint))
            .await;
        let mut failed = Vec::new();
        // Calls of at most ten entries and 256 KiB, in order.
        let mut calls: Vec<(Vec<usize>, Vec<SendMessageBatchRequestEntry>)> = Vec::new();
        let mut call_bytes = 0;
        for (i, r) in batch.iter().enumerate() {
            let (entry, size) = match self.entry(i, r) {
                Ok(x) => x,
                Err(why) => {
                    warn!(reason = %why, "record cannot be sent to sqs");
                    failed.push(i);
                    continue;
                }
            };
            let full = calls
                .last()
                .is_none_or(|(p, _)| p.len() == PER_CALL || call_bytes + size > BYTES_PER_CALL);
            if full {
                calls.push((Vec::new(), Vec::new()));
                call_bytes = 0;
            }
            if let Some((positions, entries)) = calls.last_mut() {
                positions.push(i);
                entries.push(entry);
                call_bytes += size;
            }
        }
        let whole = calls.len() == 1 && failed.is_empty();
        for (positions, entries) in calls {
            if let Err(e) = self.send(client, entries, &mut failed).await {
                if whole {
                    return Err(match e.class {
                        ErrorClass::Throttled => SinkError::Throttled { retry_after: None },
                        ErrorClass::Transient => SinkError::Connection(e.to_string()),
                        _ => SinkError::Failed(e.to_string()),
                    });
                }
                warn!(error = %e, records = positions.len(), "sqs call failed");
                failed.extend(positions);
            }
        }
        Ok(if failed.is_empty() {
            SinkOutcome::Delivered
        } else {
            failed.sort_unstable();
            SinkOutcome::Partial { failed }
        })
    }

    fn max_batch(&self) -> usize {
        PER_CALL
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names() {
        for ok in ["a", "x-sluice-error", "my.attr_1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "AWS.x", "amazon.y", ".a", "a.", "a..b", "a b", "ü"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_records_trace_goes_on_as_the_aws_trace_header() {
        let sink = SqsSink::new(&SqsTargetConfig {
            queue_url: "http://127.0.0.1:1/000000000000/q".into(),
            region: Some("us-east-1".into()),
            endpoint_url: None,
            message_group_id: None,
            input_template: None,
        })
        .unwrap();
        let mut r = sluice_core::testkit::record(1);
        r.meta.headers = vec![(
            "traceparent".into(),
            HeaderValue::String("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        )];
        let (entry, _) = sink.entry(0, &r).unwrap();
        let system = entry.message_system_attributes().unwrap();
        assert_eq!(
            system[&MessageSystemAttributeNameForSends::AwsTraceHeader].string_value(),
            Some("Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1")
        );
        let (plain, _) = sink.entry(1, &sluice_core::testkit::record(2)).unwrap();
        assert!(plain.message_system_attributes().is_none());
    }

    #[test]
    fn headers_become_at_most_ten_attributes() {
        let mut r = sluice_core::testkit::record(1);
        r.meta.headers = (0..12)
            .map(|i| (format!("h{i}"), HeaderValue::Int(i)))
            .collect();
        r.attempts = 2;
        r.last_error = Some("boom".into());
        let a = attributes(&r);
        assert_eq!(a.len(), 10);
        assert!(
            a.iter()
                .any(|(k, v)| k == "x-sluice-attempts" && v.string_value() == Some("2"))
        );
        assert!(
            a.iter()
                .any(|(k, v)| k == "x-sluice-error" && v.data_type() == "String")
        );
    }
}
