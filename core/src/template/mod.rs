//! Input templates: EventBridge Pipes' `InputTemplate`, applied to each record before the
//! target.
//!
//! A template is compiled once per pipe; per record only the event is parsed (and only when a
//! placeholder looks into it). Placeholders are `<$.path>` (see `path.rs`) and the reserved
//! variables `<aws.pipes.pipe-name>`, `<aws.pipes.pipe-arn>`, `<aws.pipes.source-arn>`,
//! `<aws.pipes.enrichment-arn>`, `<aws.pipes.target-arn>`, `<aws.pipes.event>`,
//! `<aws.pipes.event.json>` and `<aws.pipes.event.ingestion-time>`.
//!
//! Placement, as AWS documents it:
//!
//! | template | placeholder | a string value | any other value | nothing there |
//! |---|---|---|---|---|
//! | JSON (starts with `{` or `[`) | as a value: `"k": <$.a>` | quoted: `"x"` | as JSON: `{"b":1}`, `3` | `null` |
//! | JSON | inside a string: `"k": "id <$.a>"` | escaped, no quotes | its JSON text, escaped | nothing |
//! | text (anything else) | anywhere | as is | its JSON text | nothing |
//!
//! A JSON template must be valid JSON with its placeholders in place (checked at load, with a
//! line and column); its whitespace outside strings is dropped. `<aws.pipes.event.json>` may
//! only stand as a value. A `<` in text or inside a string that does not start a placeholder
//! (`<$` or `<aws.pipes.`) is an ordinary character.
//!
//! The event a path sees is the record as the target would get it, with the body decoded as
//! Pipes does ("implicit body data parsing"): the connector's body key (`body` for SQS, `data`
//! for ActiveMQ and RabbitMQ) holds the parsed JSON when the body is JSON, else it keeps its
//! value (SQS's text, the brokers' base64). After an enrichment the event is what the
//! enrichment returned for the record, as is.

mod path;
mod render;

pub use render::{TemplateContext, TemplateStage};

use path::JsonPath;

/// Why a template was refused; `line` and `column` count from 1 inside the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (line {line}, column {column} of the template)")]
pub struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// Line in the template.
    pub line: usize,
    /// Column in the template (characters).
    pub column: usize,
}

/// A compiled input template.
#[derive(Clone, Debug)]
pub struct Template {
    json: bool,
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Static(String),
    Insert(Var, Place),
}

/// Where a placeholder stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// A JSON value position.
    Value,
    /// Inside a JSON string.
    InString,
    /// In a text template.
    Text,
}

#[derive(Clone, Debug)]
enum Var {
    Path(JsonPath),
    PipeName,
    PipeArn,
    SourceArn,
    EnrichmentArn,
    TargetArn,
    Event,
    EventJson,
    IngestionTime,
}

impl Var {
    fn parse(inner: &str) -> Result<Var, String> {
        if inner.starts_with('$') {
            return JsonPath::parse(inner).map(Var::Path);
        }
        Ok(match inner {
            "aws.pipes.pipe-name" => Var::PipeName,
            "aws.pipes.pipe-arn" => Var::PipeArn,
            "aws.pipes.source-arn" => Var::SourceArn,
            "aws.pipes.enrichment-arn" => Var::EnrichmentArn,
            "aws.pipes.target-arn" => Var::TargetArn,
            "aws.pipes.event" => Var::Event,
            "aws.pipes.event.json" => Var::EventJson,
            "aws.pipes.event.ingestion-time" => Var::IngestionTime,
            other => {
                return Err(format!(
                    "unknown variable <{other}>; allowed <$.path>, <aws.pipes.pipe-name>, \
                     <aws.pipes.pipe-arn>, <aws.pipes.source-arn>, <aws.pipes.enrichment-arn>, \
                     <aws.pipes.target-arn>, <aws.pipes.event>, <aws.pipes.event.json>, \
                     <aws.pipes.event.ingestion-time>"
                ));
            }
        })
    }
}

impl Template {
    /// Compile a template; the error gives the line and column inside it.
    pub fn compile(text: &str) -> Result<Template, TemplateError> {
        let json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
        let b = text.as_bytes();
        let mut parts = Vec::new();
        let mut literal = String::new();
        // The template with each placeholder blanked out, same length, to check the JSON.
        let mut probe = String::with_capacity(text.len());
        let mut in_string = false;
        let mut escaped = false;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let opens = c == b'<'
                && ((json && !in_string)
                    || b[i + 1..].starts_with(b"$")
                    || b[i + 1..].starts_with(b"aws.pipes."));
            if opens && !escaped {
                let Some(len) = b[i..].iter().position(|&x| x == b'>') else {
                    return Err(error_at(text, i, "a placeholder < is not closed by >"));
                };
                let inner = &text[i + 1..i + len];
                let var = Var::parse(inner).map_err(|m| error_at(text, i, &m))?;
                let place = match (json, in_string) {
                    (false, _) => Place::Text,
                    (true, false) => Place::Value,
                    (true, true) => Place::InString,
                };
                if matches!(var, Var::EventJson) && place != Place::Value {
                    return Err(error_at(
                        text,
                        i,
                        "<aws.pipes.event.json> can only stand as a JSON value (it is not \
                         escaped); use <aws.pipes.event> inside a string or in text",
                    ));
                }
                if !literal.is_empty() {
                    parts.push(Part::Static(std::mem::take(&mut literal)));
                }
                parts.push(Part::Insert(var, place));
                let blank = if place == Place::Value { '0' } else { 'x' };
                probe.push(blank);
                probe.extend(std::iter::repeat_n(' ', len));
                i += len + 1;
                continue;
            }
            let ch_len = utf8_len(c);
            let ch = &text[i..(i + ch_len).min(text.len())];
            probe.push_str(ch);
            if json {
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if c == b'\\' {
                        escaped = true;
                    } else if c == b'"' {
                        in_string = false;
                    }
                    literal.push_str(ch);
                } else {
                    if c == b'"' {
                        in_string = true;
                    }
                    if !c.is_ascii_whitespace() {
                        literal.push_str(ch);
                    }
                }
            } else {
                literal.push_str(ch);
            }
            i += ch_len;
        }
        if !literal.is_empty() {
            parts.push(Part::Static(literal));
        }
        if json && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&probe) {
            return Err(TemplateError {
                message: format!("the template is not valid JSON: {}", strip_position(&e)),
                line: e.line(),
                column: e.column(),
            });
        }
        Ok(Template { json, parts })
    }

    /// Whether the template makes JSON (else text).
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Whether a placeholder looks into the event (so each record's event must be parsed).
    fn reads_event(&self) -> bool {
        self.parts.iter().any(|p| {
            matches!(
                p,
                Part::Insert(Var::Path(_), _) | Part::Insert(Var::EventJson, _)
            )
        })
    }

    /// Whether a placeholder may look into the decoded body under `body_key`.
    fn reads_body(&self, body_key: &str) -> bool {
        self.parts.iter().any(|p| match p {
            Part::Insert(Var::Path(path), _) => path.first_key().is_none_or(|k| k == body_key),
            Part::Insert(Var::EventJson, _) => true,
            _ => false,
        })
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn error_at(text: &str, offset: usize, message: &str) -> TemplateError {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TemplateError {
        message: message.to_owned(),
        line,
        column,
    }
}

/// serde_json's message without its own " at line L column C" (we report ours).
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests;
