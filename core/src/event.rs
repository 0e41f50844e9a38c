//! The event a target receives, built from records serialized once at receive time.
//!
//! `format: lambda` wraps records exactly as AWS Lambda does for the connector's
//! [`EventShape`];
//! `format: pipes` sends a bare array (EventBridge Pipes); `format: cloudevents` sends a
//! CloudEvents batch. [`Envelope::size`] gives the exact serialized size of a batch, so that
//! `batch.max_bytes` is measured on what the target receives.

use crate::record::Record;
use serde::{Deserialize, Serialize};

const HEAD_OPEN: &str = "{\"eventSource\":\"";
const HEAD_ARN: &str = "\",\"eventSourceArn\":";
const CE_ID: &str = "{\"specversion\":\"1.0\",\"id\":";
const CE_SOURCE: &str = ",\"source\":";
const CE_TYPE: &str = ",\"type\":\"";
const CE_DATA: &str = ".message\",\"datacontenttype\":\"application/json\",\"data\":";

/// How a connector's records are wrapped into the event a target receives: data each
/// connector declares, so that core writes every shape without knowing any source.
///
/// With a head, `format: lambda` writes
/// `{"eventSource":SOURCE,"eventSourceArn":ARN,"LIST_KEY":[records]}` (or `{"GROUP":[...]}`
/// in place of the list when `grouped`); without one, `{"LIST_KEY":[records]}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventShape {
    /// `eventSource` of the events (`aws:...`).
    pub event_source: &'static str,
    /// The key holding the records in `format: lambda`.
    pub list_key: &'static str,
    /// Records carry `eventSource` and their ARN themselves: the Lambda event has no head, and
    /// `format: pipes` sends the records as they are.
    pub records_carry_source: bool,
    /// Records are grouped by [`Record::group`] into an object of lists, groups in order of
    /// first appearance.
    pub grouped: bool,
    /// The record key holding the payload, which filter patterns see decoded.
    pub body_key: &'static str,
}

/// The `format` of an HTTP target.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Exactly the event AWS Lambda sends for the source.
    #[default]
    Lambda,
    /// A bare JSON array of records (EventBridge Pipes' target shape); each record also carries
    /// `eventSource` and `eventSourceArn`.
    Pipes,
    /// `application/cloudevents-batch+json`: one CloudEvent per record, the record as `data`.
    Cloudevents,
}

impl Format {
    /// The name as written in pipe files.
    pub fn name(self) -> &'static str {
        match self {
            Format::Lambda => "lambda",
            Format::Pipes => "pipes",
            Format::Cloudevents => "cloudevents",
        }
    }
}

/// How records are wrapped into one event.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The connector's event shape.
    pub shape: EventShape,
    /// The target's format.
    pub format: Format,
    /// Value of `eventSourceArn` (already a JSON-safe string; escaped when written).
    arn_json: String,
    /// `"LIST_KEY":` followed by `[` or `{`, with a leading comma after a head.
    list_open: String,
}

impl Envelope {
    /// An envelope for records of `shape`, in `format`, from `event_source_arn`.
    pub fn new(shape: EventShape, format: Format, event_source_arn: &str) -> Self {
        let arn_json = serde_json::to_string(event_source_arn).unwrap_or_else(|_| "\"\"".into());
        let key = serde_json::to_string(shape.list_key).unwrap_or_else(|_| "\"\"".into());
        let list_open = format!(
            "{}{key}:{}",
            if shape.records_carry_source { "{" } else { "," },
            if shape.grouped { "{" } else { "[" }
        );
        Envelope {
            shape,
            format,
            arn_json,
            list_open,
        }
    }

    /// Whether `format: lambda` groups records (so the sizer tracks groups).
    fn groups(&self) -> bool {
        self.shape.grouped && self.format == Format::Lambda
    }

    /// The `Content-Type` of an event in this format.
    pub fn content_type(&self) -> &'static str {
        match self.format {
            Format::Cloudevents => "application/cloudevents-batch+json",
            _ => "application/json",
        }
    }

    /// Serialize a batch. Records are written in order; in a grouped shape they are grouped
    /// by [`Record::group`] in order of first appearance, as Lambda does.
    pub fn write(&self, records: &[Record], out: &mut Vec<u8>) {
        out.reserve(self.size(records));
        match self.format {
            Format::Lambda => self.write_lambda(records, out),
            Format::Pipes => {
                out.push(b'[');
                for (i, r) in records.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    if self.shape.records_carry_source {
                        out.extend_from_slice(&r.event);
                    } else {
                        self.write_pipes_record(r, out);
                    }
                }
                out.push(b']');
            }
            Format::Cloudevents => {
                out.push(b'[');
                for (i, r) in records.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write_cloudevent(r, i, out);
                }
                out.push(b']');
            }
        }
    }

    /// The exact length [`Envelope::write`] produces for `records`.
    pub fn size(&self, records: &[Record]) -> usize {
        let mut sizer = BatchSizer::default();
        for r in records {
            sizer.add(self, r);
        }
        sizer.total(self)
    }

    fn head_len(&self) -> usize {
        HEAD_OPEN.len() + self.shape.event_source.len() + HEAD_ARN.len() + self.arn_json.len()
    }

    fn write_lambda(&self, records: &[Record], out: &mut Vec<u8>) {
        if !self.shape.records_carry_source {
            self.write_head(out);
        }
        out.extend_from_slice(self.list_open.as_bytes());
        if !self.shape.grouped {
            write_joined(records.iter(), out);
            out.extend_from_slice(b"]}");
            return;
        }
        let groups = groups_in_order(records);
        for (gi, group) in groups.iter().enumerate() {
            if gi > 0 {
                out.push(b',');
            }
            write_json_str(group, out);
            out.extend_from_slice(b":[");
            write_joined(
                records.iter().filter(|r| group_of(r) == group.as_ref()),
                out,
            );
            out.push(b']');
        }
        out.extend_from_slice(b"}}");
    }

    fn write_head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(HEAD_OPEN.as_bytes());
        out.extend_from_slice(self.shape.event_source.as_bytes());
        out.extend_from_slice(HEAD_ARN.as_bytes());
        out.extend_from_slice(self.arn_json.as_bytes());
    }

    /// One record as EventBridge Pipes shows it (`format: pipes`): with `eventSource` and
    /// `eventSourceArn` of its own.
    pub fn write_record(&self, r: &Record, out: &mut Vec<u8>) {
        if self.shape.records_carry_source {
            out.extend_from_slice(&r.event);
        } else {
            self.write_pipes_record(r, out);
        }
    }

    fn write_pipes_record(&self, r: &Record, out: &mut Vec<u8>) {
        // `{"eventSource":SOURCE,"eventSourceArn":ARN,` + the record without its `{`.
        self.write_head(out);
        if r.event.len() > 2 {
            out.push(b',');
        }
        out.extend_from_slice(&r.event[1..]);
    }

    fn write_cloudevent(&self, r: &Record, position: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(CE_ID.as_bytes());
        match r.item_id() {
            Some(id) => write_json_str(id, out),
            None => write_json_str(&position.to_string(), out),
        }
        out.extend_from_slice(CE_SOURCE.as_bytes());
        out.extend_from_slice(self.arn_json.as_bytes());
        out.extend_from_slice(CE_TYPE.as_bytes());
        out.extend_from_slice(self.shape.event_source.as_bytes());
        out.extend_from_slice(CE_DATA.as_bytes());
        out.extend_from_slice(&r.event);
        if let Some(ext) = ce_trace_extension(r) {
            out.extend_from_slice(&ext);
        }
        out.push(b'}');
    }
}

/// Running total of a batch's serialized size, so the batcher can test each record in O(1)
/// (amortised over the few distinct groups) before adding it.
#[derive(Debug, Default)]
pub struct BatchSizer {
    body: usize,
    count: usize,
    /// Groups in the batch being sized.
    groups: Vec<std::sync::Arc<str>>,
    /// Serialized length of every group key seen (a pipe has a few: one per queue), kept
    /// across batches so that no record pays for escaping its key again.
    key_lens: Vec<(std::sync::Arc<str>, usize)>,
}

impl BatchSizer {
    /// Size of the batch with `record` added, without adding it.
    pub fn with(&mut self, env: &Envelope, record: &Record) -> usize {
        let cost = self.record_cost(env, record, false);
        self.total_for(env, self.count + 1, self.body + cost)
    }

    /// Size of an event holding `record` alone.
    pub fn alone(&mut self, env: &Envelope, record: &Record) -> usize {
        let cost = self.record_cost(env, record, true);
        self.total_for(env, 1, cost)
    }

    /// Add a record to the batch being sized.
    pub fn add(&mut self, env: &Envelope, record: &Record) {
        self.body += self.record_cost(env, record, false);
        self.count += 1;
        if env.groups() {
            let g = record.group.clone().unwrap_or_else(|| "".into());
            if !self.groups.contains(&g) {
                self.groups.push(g);
            }
        }
    }

    /// The size of the batch sized so far.
    pub fn total(&self, env: &Envelope) -> usize {
        self.total_for(env, self.count, self.body)
    }

    /// Start sizing a new batch (group key lengths are kept).
    pub fn clear(&mut self) {
        self.body = 0;
        self.count = 0;
        self.groups.clear();
    }

    fn key_len(&mut self, g: &Option<std::sync::Arc<str>>) -> usize {
        let g = g.clone().unwrap_or_else(|| "".into());
        if let Some((_, n)) = self.key_lens.iter().find(|(k, _)| *k == g) {
            return *n;
        }
        let n = json_str_len(&g);
        self.key_lens.push((g, n));
        n
    }

    /// Bytes a record adds beyond separators: itself, plus its group key when it opens a group
    /// (always, when it is `alone`).
    fn record_cost(&mut self, e: &Envelope, r: &Record, alone: bool) -> usize {
        match e.format {
            Format::Lambda => {
                let mut cost = r.event.len();
                if e.shape.grouped {
                    let g = r.group.as_deref().unwrap_or("");
                    if alone || !self.groups.iter().any(|x| x.as_ref() == g) {
                        // "key":[ ... ]
                        cost += self.key_len(&r.group) + 3;
                    }
                }
                cost
            }
            Format::Pipes if e.shape.records_carry_source => r.event.len(),
            Format::Pipes => {
                e.head_len() + usize::from(r.event.len() > 2) + r.event.len().saturating_sub(1)
            }
            Format::Cloudevents => {
                let position = if alone { 0 } else { self.count };
                let id_len = match r.item_id() {
                    Some(id) => json_str_len(id),
                    None => json_str_len(&position.to_string()),
                };
                CE_ID.len()
                    + id_len
                    + CE_SOURCE.len()
                    + e.arn_json.len()
                    + CE_TYPE.len()
                    + e.shape.event_source.len()
                    + CE_DATA.len()
                    + r.event.len()
                    + ce_trace_extension(r).map_or(0, |e| e.len())
                    + 1
            }
        }
    }

    fn total_for(&self, e: &Envelope, count: usize, body: usize) -> usize {
        // Commas separate records inside a group and groups themselves: with n records in
        // g groups that is (n - g) + (g - 1) = n - 1, the same as for a flat list.
        let commas = count.saturating_sub(1);
        match e.format {
            Format::Pipes | Format::Cloudevents => 2 + body + commas,
            Format::Lambda => {
                let head = if e.shape.records_carry_source {
                    0
                } else {
                    e.head_len()
                };
                head + e.list_open.len() + 2 + body + commas
            }
        }
    }
}

/// The CloudEvents distributed-tracing extension of a record that carries a trace context:
/// `,"traceparent":"...","tracestate":"..."`.
fn ce_trace_extension(r: &Record) -> Option<Vec<u8>> {
    let ctx = crate::trace::TraceContext::of(&r.meta)?;
    let mut out = Vec::with_capacity(80);
    out.extend_from_slice(b",\"traceparent\":");
    write_json_str(&ctx.traceparent(), &mut out);
    if let Some(state) = &ctx.tracestate {
        out.extend_from_slice(b",\"tracestate\":");
        write_json_str(state, &mut out);
    }
    Some(out)
}

fn group_of(r: &Record) -> &str {
    r.group.as_deref().unwrap_or("")
}

fn groups_in_order(records: &[Record]) -> Vec<std::sync::Arc<str>> {
    let mut groups: Vec<std::sync::Arc<str>> = Vec::new();
    for r in records {
        let g = r.group.clone().unwrap_or_else(|| "".into());
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    groups
}

fn write_joined<'r>(records: impl Iterator<Item = &'r Record>, out: &mut Vec<u8>) {
    for (i, r) in records.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&r.event);
    }
}

fn write_json_str(s: &str, out: &mut Vec<u8>) {
    // serde_json writes a valid JSON string; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn json_str_len(s: &str) -> usize {
    let mut v = Vec::with_capacity(s.len() + 2);
    write_json_str(s, &mut v);
    v.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{DeliveryId, Record};
    use bytes::Bytes;

    /// Shapes like those the connectors declare: a flat list, a grouped one, and records that
    /// carry their source.
    const FLAT: EventShape = EventShape {
        event_source: "aws:flat",
        list_key: "messages",
        records_carry_source: false,
        grouped: false,
        body_key: "data",
    };
    const GROUPED: EventShape = EventShape {
        event_source: "aws:grouped",
        list_key: "byQueue",
        grouped: true,
        ..FLAT
    };
    const BARE: EventShape = EventShape {
        event_source: "aws:bare",
        list_key: "Records",
        records_carry_source: true,
        ..FLAT
    };

    fn rec(n: u64, group: &str, event: &str) -> Record {
        let mut r = Record::new(
            DeliveryId { epoch: 1, seq: n },
            Bytes::from(event.to_owned()),
            Bytes::new(),
        );
        r.group = Some(group.into());
        r
    }

    fn traced(mut r: Record) -> Record {
        r.meta.headers = vec![
            (
                "traceparent".into(),
                crate::record::HeaderValue::String(
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
                ),
            ),
            (
                "tracestate".into(),
                crate::record::HeaderValue::String("a=\"b\"".into()),
            ),
        ];
        r
    }

    #[test]
    fn cloudevents_carry_each_records_trace_context() {
        let env = Envelope::new(FLAT, Format::Cloudevents, "arn");
        let mut out = Vec::new();
        env.write(&[traced(rec(1, "g", "{}")), rec(2, "g", "{}")], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v[0]["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(v[0]["tracestate"], "a=\"b\"");
        assert!(v[1].get("traceparent").is_none());
    }

    #[test]
    fn size_matches_written_length_for_every_shape() {
        let records = [
            rec(1, "a::/", r#"{"x":1}"#),
            traced(rec(2, "b::/", r#"{"x":22}"#)),
            rec(3, "a::/", r#"{"x":"é\"3"}"#),
        ];
        for kind in [GROUPED, FLAT, BARE] {
            for format in [Format::Lambda, Format::Pipes, Format::Cloudevents] {
                let env = Envelope::new(kind, format, "arn:aws:x:1:b:\"q\"");
                for n in 0..=records.len() {
                    let mut out = Vec::new();
                    env.write(&records[..n], &mut out);
                    assert_eq!(
                        env.size(&records[..n]),
                        out.len(),
                        "{kind:?} {format:?} {n}"
                    );
                    let mut sizer = BatchSizer::default();
                    for r in &records[..n] {
                        let expect = sizer.with(&env, r);
                        sizer.add(&env, r);
                        assert_eq!(expect, sizer.total(&env));
                        assert_eq!(sizer.alone(&env, r), env.size(std::slice::from_ref(r)));
                    }
                    let _: serde_json::Value = serde_json::from_slice(&out).expect("valid json");
                }
            }
        }
    }

    #[test]
    fn grouped_lambda_groups_in_first_seen_order() {
        let records = vec![
            rec(1, "b::/", r#"{"n":1}"#),
            rec(2, "a::/", r#"{"n":2}"#),
            rec(3, "b::/", r#"{"n":3}"#),
        ];
        let env = Envelope::new(GROUPED, Format::Lambda, "arn");
        let mut out = Vec::new();
        env.write(&records, &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"eventSource":"aws:grouped","eventSourceArn":"arn","byQueue":{"b::/":[{"n":1},{"n":3}],"a::/":[{"n":2}]}}"#
        );
    }

    #[test]
    fn bare_lambda_has_no_head() {
        let env = Envelope::new(BARE, Format::Lambda, "arn");
        let mut out = Vec::new();
        env.write(&[rec(1, "", r#"{"n":1}"#)], &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"Records":[{"n":1}]}"#
        );
    }

    #[test]
    fn pipes_records_carry_source_fields() {
        let env = Envelope::new(FLAT, Format::Pipes, "arn");
        let mut out = Vec::new();
        env.write(&[rec(1, "", r#"{"n":1}"#)], &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"[{"eventSource":"aws:flat","eventSourceArn":"arn","n":1}]"#
        );
    }
}
