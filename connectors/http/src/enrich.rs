//! `enrichment.http`: one POST per batch (the records as a JSON array, EventBridge Pipes'
//! shape), whose answer replaces the batch (see `sluice_core::enrich`).

use crate::config::HttpEnrichmentConfig;
use crate::endpoint::Endpoint;
use async_trait::async_trait;
use sluice_core::enrich::{Enriched, Enricher, split_answer};
use sluice_core::event::{Envelope, EventShape, Format};
use sluice_core::record::Record;
use sluice_core::sink::SinkError;

/// Pipes' limit on an enrichment answer.
const MAX_ANSWER: usize = 6 * 1024 * 1024;

/// `enrichment.http`: one POST per batch, its answer replacing the batch.
pub struct HttpEnricher {
    endpoint: Endpoint,
    envelope: Envelope,
}

impl HttpEnricher {
    /// Build from validated configuration; no I/O.
    pub fn new(
        cfg: &HttpEnrichmentConfig,
        shape: EventShape,
        event_source_arn: &str,
        pool_size: usize,
    ) -> Result<Self, String> {
        let envelope = Envelope::new(shape, Format::Pipes, event_source_arn);
        let endpoint = Endpoint::new(
            &cfg.url,
            &cfg.headers,
            envelope.content_type(),
            cfg.timeout.0,
            MAX_ANSWER,
            pool_size,
        )?;
        Ok(HttpEnricher { endpoint, envelope })
    }
}

#[async_trait]
impl Enricher for HttpEnricher {
    async fn enrich(&self, batch: &[Record]) -> Result<Enriched, SinkError> {
        let mut body = Vec::new();
        self.envelope.write(batch, &mut body);
        let answer = self.endpoint.post(body).await?;
        split_answer(&answer.body).map_err(SinkError::Failed)
    }

    fn describe(&self) -> String {
        format!("http {}", self.endpoint.display)
    }
}
