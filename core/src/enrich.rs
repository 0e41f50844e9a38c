//! Enrichment, as EventBridge Pipes does it: one synchronous call per batch, after the filter
//! and before the target, whose answer replaces the batch.
//!
//! - An array answer is the new batch, one record per element, in order. When it has as many
//!   elements as the batch, element *i* takes the place of record *i* (keeping its id, so a
//!   partial failure at the target retries just those records); otherwise the target gets the
//!   new records and the whole source batch succeeds or fails with them.
//! - `""`, `{}`, `[]`, `null` or an empty body means there is nothing to send: the target is
//!   skipped and the records are acknowledged (counted as delivered).
//! - Any other JSON value is a batch of one.
//! - A failure (error status, timeout, an answer that is not JSON) fails the batch, which is
//!   retried like a failed target call; 429 and 503 are throttling.

use crate::metrics::PipeMetrics;
use crate::record::Record;
use crate::sink::{SinkError, SinkOutcome};
use async_trait::async_trait;
use bytes::Bytes;
use std::time::Instant;

/// What an enrichment call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enriched {
    /// Skip the target; acknowledge the batch.
    Nothing,
    /// The new batch: one JSON document per record.
    Records(Vec<Bytes>),
}

#[async_trait]
/// An enrichment: called once per batch before the target; its answer replaces the batch.
pub trait Enricher: Send + Sync {
    /// Enrich a batch: the records that go on, or an error (an attempt, as for a target).
    async fn enrich(&self, batch: &[Record]) -> Result<Enriched, SinkError>;

    /// Kind and redacted address, for `/pipes` and logs.
    fn describe(&self) -> String;
}

/// Read an enrichment answer by the Pipes rules above.
pub fn split_answer(body: &[u8]) -> Result<Enriched, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Enriched::Nothing);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("enrichment answer is not JSON: {e}"))?;
    let docs = match value {
        serde_json::Value::Null => return Ok(Enriched::Nothing),
        serde_json::Value::String(s) if s.is_empty() => return Ok(Enriched::Nothing),
        serde_json::Value::Object(m) if m.is_empty() => return Ok(Enriched::Nothing),
        serde_json::Value::Array(items) if items.is_empty() => return Ok(Enriched::Nothing),
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    Ok(Enriched::Records(
        docs.iter()
            .map(|d| Bytes::from(serde_json::to_vec(d).unwrap_or_default()))
            .collect(),
    ))
}

/// Call the enrichment for a batch: `None` when it answered that there is nothing to send,
/// else the new records and whether they take the places of the originals one for one
/// (`same_shape`: element *i* keeps record *i*'s id, so a partial failure retries just those).
pub async fn enrich(
    enricher: &dyn Enricher,
    records: &[Record],
    metrics: &PipeMetrics,
) -> Result<Option<(Vec<Record>, bool)>, SinkError> {
    if records.is_empty() {
        return Ok(None);
    }
    let started = Instant::now();
    let answer = enricher.enrich(records).await;
    metrics
        .enrich_duration
        .observe(started.elapsed().as_secs_f64());
    let docs = match answer {
        Ok(Enriched::Nothing) => {
            metrics.enrich_empty.inc();
            return Ok(None);
        }
        Ok(Enriched::Records(docs)) => {
            metrics.enrich_success.inc();
            docs
        }
        Err(e) => {
            match &e {
                SinkError::Throttled { .. } => metrics.enrich_throttled.inc(),
                SinkError::Timeout(_) => metrics.enrich_timeout.inc(),
                _ => metrics.enrich_error.inc(),
            };
            return Err(match e {
                SinkError::Failed(m) => SinkError::Failed(format!("enrichment: {m}")),
                SinkError::Connection(m) => SinkError::Connection(format!("enrichment: {m}")),
                other => other,
            });
        }
    };
    let same_shape = docs.len() == records.len();
    let template = &records[0];
    let enriched = docs
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let mut r = if same_shape {
                records[i].clone()
            } else {
                let mut r = template.clone();
                r.meta.message_id = None;
                r
            };
            r.event = doc.clone();
            r.body = doc;
            r
        })
        .collect();
    Ok(Some((enriched, same_shape)))
}

/// The target's outcome for enriched records, stated in terms of the source's records: when
/// the enrichment changed the batch's size, a partial failure fails the whole batch.
pub fn outcome_for_source(
    outcome: SinkOutcome,
    same_shape: bool,
    sent: usize,
) -> Result<SinkOutcome, SinkError> {
    match outcome {
        SinkOutcome::Partial { failed } if !same_shape && !failed.is_empty() => {
            Err(SinkError::Failed(format!(
                "target failed {} of {sent} enriched records; the enrichment changed the batch \
                 size, so the whole batch is retried",
                failed.len(),
            )))
        }
        SinkOutcome::Partial { .. } if !same_shape => Ok(SinkOutcome::Delivered),
        outcome => Ok(outcome),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_answer_rules() {
        for nothing in ["", "  ", "\"\"", "{}", "[]", "null"] {
            assert_eq!(
                split_answer(nothing.as_bytes()),
                Ok(Enriched::Nothing),
                "{nothing}"
            );
        }
        assert_eq!(
            split_answer(br#"[{"a":1}, 2]"#),
            Ok(Enriched::Records(vec![
                Bytes::from_static(br#"{"a":1}"#),
                Bytes::from_static(b"2")
            ]))
        );
        assert_eq!(
            split_answer(br#"[{}]"#),
            Ok(Enriched::Records(vec![Bytes::from_static(b"{}")]))
        );
        assert_eq!(
            split_answer(br#"{"x":true}"#),
            Ok(Enriched::Records(vec![Bytes::from_static(
                br#"{"x":true}"#
            )]))
        );
        assert!(split_answer(b"<html>").is_err());
    }
}
