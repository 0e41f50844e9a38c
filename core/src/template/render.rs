//! Rendering a compiled template for each record of a batch.

use super::path::Selected;
use super::{Part, Place, Template, Var};
use crate::event::{Envelope, EventShape, Format};
use crate::record::{Record, now_ms};
use bytes::Bytes;
use serde_json::Value;

/// The pipe's values for the reserved variables.
#[derive(Clone, Debug, Default)]
pub struct TemplateContext {
    /// `<aws.pipes.pipe-name>`.
    pub pipe_name: String,
    /// `<aws.pipes.pipe-arn>`.
    pub pipe_arn: String,
    /// `<aws.pipes.source-arn>`: the source's `eventSourceArn`.
    pub source_arn: String,
    /// `<aws.pipes.enrichment-arn>`: empty without an enrichment.
    pub enrichment_arn: String,
    /// `<aws.pipes.target-arn>`.
    pub target_arn: String,
}

/// A pipe's target input template, ready to apply to batches.
#[derive(Clone, Debug)]
pub struct TemplateStage {
    template: Template,
    context: TemplateContext,
    /// Writes a source record as Pipes shows it (with `eventSource`, `eventSourceArn`).
    envelope: Envelope,
    /// The event key holding the body (`body`, `data`), decoded as Pipes does.
    body_key: &'static str,
    reads_event: bool,
    reads_body: bool,
}

/// One record's inputs.
struct Input<'a> {
    raw_event: &'a [u8],
    event: Option<&'a Value>,
    ingestion_time: &'a str,
}

impl TemplateStage {
    /// A stage for records of `shape` (their body is under its `body_key`).
    pub fn new(template: Template, context: TemplateContext, shape: EventShape) -> Self {
        TemplateStage {
            reads_event: template.reads_event(),
            reads_body: template.reads_body(shape.body_key),
            envelope: Envelope::new(shape, Format::Pipes, &context.source_arn),
            template,
            context,
            body_key: shape.body_key,
        }
    }

    /// Whether the output is JSON (else text).
    pub fn is_json(&self) -> bool {
        self.template.json
    }

    /// The batch as the target receives it: each record's `body` is the template's output and
    /// its `event` the output as a JSON value (a text output as a JSON string); ids, groups
    /// and properties stay, so settlement and partial failures work as before. `enriched`:
    /// the records are an enrichment's answer, not the source's events.
    pub fn apply(&self, records: &[Record], enriched: bool) -> Vec<Record> {
        let ingestion_time = crate::time::iso8601_ms(now_ms());
        let mut out = Vec::with_capacity(records.len());
        let mut buf = Vec::new();
        let mut raw = Vec::new();
        for r in records {
            raw.clear();
            if enriched {
                raw.extend_from_slice(&r.event);
            } else {
                self.envelope.write_record(r, &mut raw);
            }
            let parsed = self.reads_event.then(|| self.event_of(&raw, r, enriched));
            buf.clear();
            self.render(
                &Input {
                    raw_event: &raw,
                    event: parsed.as_ref(),
                    ingestion_time: &ingestion_time,
                },
                &mut buf,
            );
            let body = Bytes::copy_from_slice(&buf);
            let mut t = r.clone();
            t.event = if self.template.json {
                body.clone()
            } else {
                Bytes::from(serde_json::to_vec(&String::from_utf8_lossy(&buf)).unwrap_or_default())
            };
            t.body = body;
            t.meta.content_type = Some(
                if self.template.json {
                    "application/json"
                } else {
                    "text/plain"
                }
                .to_owned(),
            );
            t.meta.content_encoding = None;
            out.push(t);
        }
        out
    }

    /// The event a path sees: the record's event with its body decoded (implicit body data
    /// parsing), or an enrichment's answer as is. A record whose event is not JSON (an
    /// enrichment that answered a bare string does not get here: answers are JSON) is `null`.
    fn event_of(&self, raw: &[u8], r: &Record, enriched: bool) -> Value {
        let mut event: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
        if !enriched
            && self.reads_body
            && let Some(slot) = event.get_mut(self.body_key)
            && let Ok(body) = serde_json::from_slice::<Value>(&r.body)
        {
            *slot = body;
        }
        event
    }

    fn render(&self, input: &Input<'_>, out: &mut Vec<u8>) {
        for part in &self.template.parts {
            match part {
                Part::Static(s) => out.extend_from_slice(s.as_bytes()),
                Part::Insert(var, place) => self.insert(var, *place, input, out),
            }
        }
    }

    fn insert(&self, var: &Var, place: Place, input: &Input<'_>, out: &mut Vec<u8>) {
        let c = &self.context;
        let text = match var {
            Var::PipeName => &c.pipe_name,
            Var::PipeArn => &c.pipe_arn,
            Var::SourceArn => &c.source_arn,
            Var::EnrichmentArn => &c.enrichment_arn,
            Var::TargetArn => &c.target_arn,
            Var::IngestionTime => input.ingestion_time,
            Var::Event => {
                // Valid JSON already: a value as is; in a string or text, its text.
                match place {
                    Place::Value => out.extend_from_slice(input.raw_event),
                    Place::InString => escape_into(&String::from_utf8_lossy(input.raw_event), out),
                    Place::Text => out.extend_from_slice(input.raw_event),
                }
                return;
            }
            Var::EventJson => {
                write_value(input.event, out);
                return;
            }
            Var::Path(path) => {
                let selected = input.event.map_or(Selected::Missing, |e| path.select(e));
                let value = match &selected {
                    Selected::Missing => None,
                    Selected::One(v) => Some(*v),
                    Selected::Many(v) => Some(v),
                };
                match (place, value) {
                    (Place::Value, v) => write_value(v, out),
                    (_, None) => {}
                    (Place::InString, Some(Value::String(s))) => escape_into(s, out),
                    (Place::InString, Some(v)) => escape_into(&v.to_string(), out),
                    (Place::Text, Some(Value::String(s))) => out.extend_from_slice(s.as_bytes()),
                    (Place::Text, Some(v)) => {
                        let _ = serde_json::to_writer(&mut *out, v);
                    }
                }
                return;
            }
        };
        match place {
            Place::Value => {
                let _ = serde_json::to_writer(&mut *out, text);
            }
            Place::InString => escape_into(text, out),
            Place::Text => out.extend_from_slice(text.as_bytes()),
        }
    }
}

fn write_value(v: Option<&Value>, out: &mut Vec<u8>) {
    match v {
        Some(v) => {
            let _ = serde_json::to_writer(&mut *out, v);
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// `s` escaped as the inside of a JSON string (no quotes).
fn escape_into(s: &str, out: &mut Vec<u8>) {
    let start = out.len();
    let _ = serde_json::to_writer(&mut *out, s);
    // Drop the quotes serde_json wrote around it.
    out.pop();
    out.remove(start);
}
