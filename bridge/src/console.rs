//! The console: a page for people, served by the admin server with every asset compiled into
//! the binary (no CDN: it works offline and behind a strict NetworkPolicy), and the history
//! it draws its charts from.
//!
//! The history is kept in memory at a fixed cost per pipe: one sample every
//! [`SAMPLE_EVERY`] for the last [`KEPT`] (counters, backlog, oldest age: 48 bytes a sample,
//! about 9 KiB a pipe), and the last [`ERRORS_KEPT`] problems with their times. The page
//! turns counters into rates itself and polls `/pipes` and `/console/history` every few
//! seconds (only the samples it does not have yet), sending the admin token when one is set.

use crate::admin::PipeView;
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;
use sluice_core::record::now_ms;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// How often each pipe is sampled.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How far back the charts go.
const KEPT: Duration = Duration::from_secs(15 * 60);
const SAMPLES: usize = (KEPT.as_secs() / SAMPLE_EVERY.as_secs()) as usize;
/// Problems kept per pipe.
const ERRORS_KEPT: usize = 20;

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("console/index.html"),
    ),
    (
        "/console.js",
        "text/javascript; charset=utf-8",
        include_str!("console/console.js"),
    ),
    (
        "/console.css",
        "text/css; charset=utf-8",
        include_str!("console/console.css"),
    ),
];

/// Whether `path` is one of the console's static files (no data in them).
pub(crate) fn is_asset(path: &str) -> bool {
    ASSETS.iter().any(|(p, _, _)| *p == path)
}

/// The static file at `path`, if it is one.
pub(crate) fn asset(path: &str) -> Option<Response<Full<Bytes>>> {
    let (_, content_type, body) = ASSETS.iter().find(|(p, _, _)| *p == path)?;
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    Some(r)
}

/// One sample of a pipe.
#[derive(Clone, Copy, Debug, Serialize)]
struct Sample {
    /// Epoch milliseconds.
    t: u64,
    received: u64,
    delivered: u64,
    failed: u64,
    acked: u64,
    backlog: i64,
    oldest_age: f64,
}

/// A pipe's recent past.
#[derive(Debug, Default)]
pub(crate) struct History {
    samples: VecDeque<Sample>,
    errors: VecDeque<(u64, String)>,
    /// The problem last recorded, so that a lasting one is recorded once.
    current: Option<String>,
}

impl History {
    fn sample(&mut self, p: &PipeView) {
        let m = &p.metrics;
        let now = now_ms();
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            t: now,
            received: m.source_messages.get(),
            delivered: m.delivered.get(),
            failed: m.failed.get(),
            acked: m.acked.get(),
            backlog: m.backlog.get(),
            oldest_age: m.oldest_age.get(),
        });
        let s = p.status.snapshot();
        let result = s.last_processing_result.to_string();
        let problem = if result.starts_with("PROBLEM") {
            Some(result)
        } else if p.enabled() && !s.connected {
            Some(s.state_transition_reason.to_string())
        } else {
            None
        };
        if let Some(text) = &problem
            && self.current.as_ref() != Some(text)
        {
            if self.errors.len() == ERRORS_KEPT {
                self.errors.pop_front();
            }
            self.errors
                .push_back((now, sluice_core::redact::redact(text).into_owned()));
        }
        self.current = problem;
    }
}

/// Take one sample of every pipe.
pub(crate) fn sample(pipes: &[Arc<PipeView>]) {
    for p in pipes {
        p.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sample(p);
    }
}

#[derive(Serialize)]
pub(crate) struct HistoryJson {
    name: String,
    every_ms: u64,
    samples: Vec<Sample>,
    errors: Vec<(u64, String)>,
}

/// Every pipe's history, for `/console/history?since=MS`: the samples taken after `since`
/// (epoch milliseconds; all of them without it), so that a page polling every few seconds
/// fetches one new sample per pipe, not fifteen minutes of them.
pub(crate) fn histories(pipes: &[Arc<PipeView>], since: u64) -> Vec<HistoryJson> {
    pipes
        .iter()
        .map(|p| {
            let h = p.history.lock().unwrap_or_else(|e| e.into_inner());
            HistoryJson {
                name: p.name.clone(),
                every_ms: SAMPLE_EVERY.as_millis() as u64,
                samples: h.samples.iter().filter(|s| s.t > since).copied().collect(),
                errors: h.errors.iter().cloned().collect(),
            }
        })
        .collect()
}
