//! Trace context carried across Sluice, so that a trace started by a producer continues in the
//! function (or at the next broker).
//!
//! Read from a record's headers (AMQP headers, JMS properties, STOMP headers, SQS message
//! attributes): W3C `traceparent` and `tracestate` (names in any case); and from SQS's
//! `AWSTraceHeader` system attribute (X-Ray's `Root=1-...;Parent=...;Sampled=...`), which is
//! what Lambda hands to X-Ray. The two describe the same ids (X-Ray's root `1-AAAAAAAA-BBBB...`
//! is the W3C trace id `AAAAAAAABBBB...`), so either is derived from the other when only one
//! came. A malformed value is ignored, as the W3C rules say.
//!
//! Where it goes: HTTP and Lambda targets get `traceparent`, `tracestate` and
//! `X-Amzn-Trace-Id` headers from the first record of the batch that has a context;
//! `format: cloudevents` carries each record's own as the CloudEvents `traceparent`/`tracestate`
//! extension attributes; the Runtime API hands it to the worker as `Lambda-Runtime-Trace-Id`;
//! an SQS target sets `AWSTraceHeader`; broker targets carry the headers as they came.

use crate::record::{HeaderValue, Metadata, Record};

/// One record's trace context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits.
    trace_id: String,
    /// 16 lowercase hex digits.
    parent_id: String,
    sampled: bool,
    /// W3C `tracestate`, as it came.
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The context of a record, if it carries a valid one (`traceparent` first, else
    /// `AWSTraceHeader`).
    pub fn of(meta: &Metadata) -> Option<TraceContext> {
        let header = |name: &str| {
            meta.headers.iter().find_map(|(k, v)| match v {
                HeaderValue::String(s) if k.eq_ignore_ascii_case(name) => Some(s.as_str()),
                _ => None,
            })
        };
        let mut ctx = header("traceparent")
            .and_then(parse_traceparent)
            .or_else(|| meta.aws_trace_header.as_deref().and_then(parse_xray))?;
        ctx.tracestate = header("tracestate")
            .filter(|s| !s.is_empty() && s.len() <= 512 && s.is_ascii())
            .map(str::to_owned);
        Some(ctx)
    }

    /// The context of the first record of `batch` that has one.
    pub fn first(batch: &[Record]) -> Option<TraceContext> {
        batch.iter().find_map(|r| TraceContext::of(&r.meta))
    }

    /// `00-TRACE-PARENT-FLAGS`.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            self.trace_id,
            self.parent_id,
            if self.sampled { "01" } else { "00" }
        )
    }

    /// The X-Ray header: `Root=1-AAAAAAAA-BBBBBBBBBBBBBBBBBBBBBBBB;Parent=...;Sampled=0|1`.
    pub fn xray(&self) -> String {
        format!(
            "Root=1-{}-{};Parent={};Sampled={}",
            &self.trace_id[..8],
            &self.trace_id[8..],
            self.parent_id,
            u8::from(self.sampled)
        )
    }

    /// The HTTP headers a function call carries.
    pub fn http_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("traceparent", self.traceparent()),
            ("x-amzn-trace-id", self.xray()),
        ];
        if let Some(s) = &self.tracestate {
            h.push(("tracestate", s.clone()));
        }
        h
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

fn all_zero(s: &str) -> bool {
    s.bytes().all(|c| c == b'0')
}

/// A W3C `traceparent` (version 00, or a later version read as 00 defines it).
fn parse_traceparent(s: &str) -> Option<TraceContext> {
    let mut parts = s.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let valid = is_hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && is_hex(trace, 32)
        && !all_zero(trace)
        && is_hex(parent, 16)
        && !all_zero(parent)
        && is_hex(flags, 2);
    valid.then(|| TraceContext {
        trace_id: trace.to_owned(),
        parent_id: parent.to_owned(),
        sampled: u8::from_str_radix(flags, 16).is_ok_and(|f| f & 1 == 1),
        tracestate: None,
    })
}

/// An X-Ray trace header. Without a `Parent` (a header made before any segment) there is no
/// span to continue from, so no W3C context is derived.
fn parse_xray(s: &str) -> Option<TraceContext> {
    let (mut root, mut parent, mut sampled) = (None, None, false);
    for field in s.split(';') {
        match field.trim().split_once('=') {
            Some(("Root", v)) => root = Some(v),
            Some(("Parent", v)) => parent = Some(v),
            Some(("Sampled", v)) => sampled = v == "1",
            _ => {}
        }
    }
    let mut r = root?.split('-');
    let (one, time, id) = (r.next()?, r.next()?, r.next()?);
    let trace_id = format!("{time}{id}").to_ascii_lowercase();
    let parent = parent?.to_ascii_lowercase();
    let valid = one == "1"
        && r.next().is_none()
        && is_hex(&trace_id, 32)
        && !all_zero(&trace_id)
        && is_hex(&parent, 16)
        && !all_zero(&parent);
    valid.then_some(TraceContext {
        trace_id,
        parent_id: parent,
        sampled,
        tracestate: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(headers: &[(&str, &str)], xray: Option<&str>) -> Metadata {
        Metadata {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), HeaderValue::String(v.to_string())))
                .collect(),
            aws_trace_header: xray.map(str::to_owned),
            ..Metadata::default()
        }
    }

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn w3c_headers_in_any_case_and_their_xray_form() {
        let c = TraceContext::of(&meta(
            &[("TraceParent", TP), ("tracestate", "congo=t61rcWkgMzE")],
            None,
        ))
        .unwrap();
        assert_eq!(c.traceparent(), TP);
        assert_eq!(
            c.xray(),
            "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"
        );
        assert_eq!(c.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
    }

    #[test]
    fn an_xray_header_becomes_a_w3c_context_and_back() {
        let x = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let c = TraceContext::of(&meta(&[], Some(x))).unwrap();
        assert_eq!(
            c.traceparent(),
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
        assert_eq!(c.xray(), x);
        // traceparent wins over AWSTraceHeader.
        assert_eq!(
            TraceContext::of(&meta(&[("traceparent", TP)], Some(x)))
                .unwrap()
                .traceparent(),
            TP
        );
    }

    #[test]
    fn malformed_values_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(
                TraceContext::of(&meta(&[("traceparent", bad)], None)),
                None,
                "{bad}"
            );
        }
        for bad in [
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            "Root=2-x-y;Parent=53995c3f42cd8ad8",
            "garbage",
        ] {
            assert_eq!(TraceContext::of(&meta(&[], Some(bad))), None, "{bad}");
        }
        // A later version may add fields.
        assert!(
            TraceContext::of(&meta(
                &[(
                    "traceparent",
                    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz"
                )],
                None
            ))
            .is_some()
        );
    }
}
