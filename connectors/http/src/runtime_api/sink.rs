//! `target.runtime_api` as a sink: a batch is queued for the next worker and settled by its
//! answer.

use super::config::RuntimeApiConfig;
use super::invocations::{Ended, Invocations};
use super::server::{Listening, serve};
use crate::response::batch_item_failures;
use async_trait::async_trait;
use bytes::Bytes;
use sluice_core::event::Envelope;
use sluice_core::record::Record;
use sluice_core::sink::{Sink, SinkError, SinkOutcome};
use sluice_core::trace::TraceContext;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a batch waits for a worker when none is connected before the target counts as
/// unreachable (the batch is held and offered again with capped backoff, not counted as an
/// attempt). While workers are connected but busy, it waits its turn.
const NO_WORKER_WAIT: Duration = Duration::from_secs(30);

/// The Runtime API target of one pipe.
pub struct RuntimeApiSink {
    addr: SocketAddr,
    function_arn: String,
    envelope: Envelope,
    report_batch_item_failures: bool,
    /// The pipe's `concurrency`: batches that may be in flight at once.
    concurrency: usize,
    inv: Arc<Invocations>,
    listening: Arc<Listening>,
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl RuntimeApiSink {
    /// Build from validated configuration; no I/O (listening starts in [`Sink::start`]).
    pub fn new(
        cfg: &RuntimeApiConfig,
        pipe: &str,
        envelope: Envelope,
        report_batch_item_failures: bool,
        concurrency: usize,
    ) -> Result<Self, String> {
        let addr = cfg
            .addr()
            .ok_or_else(|| format!("invalid listen address {}", cfg.listen))?;
        let stop = CancellationToken::new();
        Ok(RuntimeApiSink {
            addr,
            function_arn: cfg
                .function_arn
                .clone()
                .unwrap_or_else(|| format!("arn:aws:lambda:local:000000000000:function:{pipe}")),
            envelope,
            report_batch_item_failures,
            concurrency: concurrency.max(1),
            inv: Arc::new(Invocations::new(cfg.timeout.0)),
            listening: Arc::new(Listening::default()),
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        })
    }
}

/// Forgets the invocation if `deliver` is cancelled before it ended.
struct Forget<'a>(&'a Invocations, &'a str, bool);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if !self.2 {
            self.0.forget(self.1);
        }
    }
}

#[async_trait]
impl Sink for RuntimeApiSink {
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        let bind_error = self
            .listening
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(e) = bind_error {
            return Err(SinkError::Connection(e));
        }
        let mut body = Vec::new();
        self.envelope.write(batch, &mut body);
        let trace = TraceContext::first(batch).map(|t| t.xray());
        let (id, mut ended) = self.inv.submit(Bytes::from(body), trace);
        let mut forget = Forget(&self.inv, &id, false);
        let how = loop {
            match tokio::time::timeout(NO_WORKER_WAIT, &mut ended).await {
                Ok(how) => break how,
                // Workers are connected but busy: the batch is behind others, each of which
                // ends by its deadline.
                Err(_) if self.inv.has_workers() => continue,
                Err(_) if self.inv.withdraw(&id) => {
                    forget.2 = true;
                    return Err(SinkError::Connection(format!(
                        "no worker polled the Runtime API on {} within {NO_WORKER_WAIT:?}",
                        self.addr
                    )));
                }
                // A worker holds it: its answer or its deadline ends it.
                Err(_) => break ended.await,
            }
        };
        forget.2 = true;
        match how {
            Ok(Ended::Response(answer)) if self.report_batch_item_failures => {
                batch_item_failures(&answer, batch).map_err(SinkError::Failed)
            }
            Ok(Ended::Response(_)) => Ok(SinkOutcome::Delivered),
            Ok(Ended::FunctionError(e)) => Err(SinkError::Failed(format!("function error: {e}"))),
            Ok(Ended::Deadline) => Err(SinkError::Timeout(self.inv.timeout())),
            Ok(Ended::WorkerGone) | Err(_) => Err(SinkError::Failed(
                "the worker's connection closed before it answered".into(),
            )),
        }
    }

    /// A batch may wait behind the others in flight (at most `concurrency`, each ended by its
    /// deadline), then run to its own deadline; the deadline tasks fire first.
    fn call_timeout(&self) -> Duration {
        let in_flight = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        NO_WORKER_WAIT
            + self
                .inv
                .timeout()
                .saturating_mul(in_flight.saturating_add(1))
            + Duration::from_secs(10)
    }

    fn describe(&self) -> String {
        format!(
            "runtime_api {} format={}",
            self.addr,
            self.envelope.format.name()
        )
    }

    fn start(&self) {
        tokio::spawn(serve(
            self.addr,
            self.function_arn.clone(),
            self.inv.clone(),
            self.listening.clone(),
            self.stop.clone(),
        ));
    }

    fn stop(&self) {
        self.stop.cancel();
    }

    fn details(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self.inv.report()).ok()
    }
}
