//! One POST per batch.

use crate::config::HttpTargetConfig;
use crate::endpoint::Endpoint;
use crate::response::batch_item_failures;
use async_trait::async_trait;
use sluice_core::event::Envelope;
use sluice_core::record::Record;
use sluice_core::sink::{Sink, SinkError, SinkOutcome};

/// Largest function answer read; anything larger is a failure (a `batchItemFailures` list for
/// 10,000 records is well under this).
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// `target.http`: one POST per batch, in the target's `format`.
pub struct HttpSink {
    endpoint: Endpoint,
    envelope: Envelope,
    report_batch_item_failures: bool,
}

impl HttpSink {
    /// Build from validated configuration; no I/O.
    pub fn new(
        cfg: &HttpTargetConfig,
        envelope: Envelope,
        report_batch_item_failures: bool,
        pool_size: usize,
    ) -> Result<Self, String> {
        let endpoint = Endpoint::new(
            &cfg.url,
            &cfg.headers,
            envelope.content_type(),
            cfg.timeout.0,
            MAX_RESPONSE,
            pool_size,
        )?;
        Ok(HttpSink {
            endpoint,
            envelope,
            report_batch_item_failures,
        })
    }
}

#[async_trait]
impl Sink for HttpSink {
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        let mut body = Vec::new();
        self.envelope.write(batch, &mut body);
        let trace = self.endpoint.trace_headers(batch);
        let answer = self.endpoint.post_with(body, trace).await?;
        if self.report_batch_item_failures {
            batch_item_failures(&answer.body, batch).map_err(SinkError::Failed)
        } else {
            Ok(SinkOutcome::Delivered)
        }
    }

    /// The endpoint's own timeout fires first; this only bounds building the request.
    fn call_timeout(&self) -> std::time::Duration {
        self.endpoint.timeout() + std::time::Duration::from_secs(10)
    }

    fn describe(&self) -> String {
        format!(
            "http {} format={}",
            self.endpoint.display,
            self.envelope.format.name()
        )
    }
}
