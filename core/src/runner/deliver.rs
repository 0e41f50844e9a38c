//! One delivery, as a delivery task runs it: enrichment, input template, rate limit, target
//! call, each step written to the pipe's execution log. Dead letters go straight to their
//! destination (no enrichment, template or limit: a dead letter keeps the record as it was).

use super::Dest;
use crate::enrich::{self, Enricher};
use crate::execlog::{Detail, ExecLog, Step};
use crate::limit::RateLimiter;
use crate::metrics::PipeMetrics;
use crate::record::Record;
use crate::sink::{Sink, SinkError, SinkOutcome, deliver_within};
use crate::template::TemplateStage;
use std::sync::Arc;

/// Everything between a batch and its destination; one per pipe run, shared by its tasks.
pub(super) struct Stages {
    pub(super) target: Arc<dyn Sink>,
    pub(super) dead_letter: Option<Arc<dyn Sink>>,
    pub(super) enricher: Option<Arc<dyn Enricher>>,
    pub(super) template: Option<Arc<TemplateStage>>,
    pub(super) limiter: Option<RateLimiter>,
    pub(super) log: Arc<ExecLog>,
    pub(super) metrics: PipeMetrics,
}

impl Stages {
    /// Deliver a batch; the outcome is in terms of `records` (positions in it).
    pub(super) async fn deliver(
        &self,
        dest: Dest,
        records: &[Record],
    ) -> Result<SinkOutcome, SinkError> {
        match (dest, &self.dead_letter) {
            (Dest::Target, _) => self.to_target(records).await,
            (Dest::DeadLetter, Some(sink)) => deliver_within(sink.as_ref(), records).await,
            // Not scheduled without a destination; a defined answer all the same.
            (Dest::DeadLetter, None) => Err(SinkError::Failed(
                "no dead-letter destination is configured".into(),
            )),
        }
    }

    async fn to_target(&self, records: &[Record]) -> Result<SinkOutcome, SinkError> {
        let log = &self.log;
        let batch = Some(log.next_batch());
        let mut input = records;
        let enriched;
        let mut same_shape = true;
        if let Some(e) = &self.enricher {
            log.step(
                Step::EnrichmentStarted,
                Detail {
                    batch,
                    records: records.len(),
                    payload: Some(records),
                    ..Detail::default()
                },
            );
            match enrich::enrich(e.as_ref(), records, &self.metrics).await {
                Err(err) => {
                    let error = err.to_string();
                    log.step(
                        Step::EnrichmentFailed,
                        Detail {
                            batch,
                            records: records.len(),
                            error: Some(&error),
                            ..Detail::default()
                        },
                    );
                    return Err(err);
                }
                Ok(None) => {
                    log.step(
                        Step::EnrichmentSucceeded,
                        Detail {
                            batch,
                            ..Detail::default()
                        },
                    );
                    return Ok(SinkOutcome::Delivered);
                }
                Ok(Some((r, same))) => {
                    enriched = r;
                    same_shape = same;
                    input = &enriched;
                    log.step(
                        Step::EnrichmentSucceeded,
                        Detail {
                            batch,
                            records: input.len(),
                            ..Detail::default()
                        },
                    );
                }
            }
        }
        let templated;
        if let Some(t) = &self.template {
            templated = t.apply(input, self.enricher.is_some());
            input = &templated;
        }
        if let Some(limiter) = &self.limiter {
            limiter.acquire(input.len()).await;
        }
        log.step(
            Step::TargetStarted,
            Detail {
                batch,
                records: input.len(),
                payload: Some(input),
                ..Detail::default()
            },
        );
        let result = deliver_within(self.target.as_ref(), input).await;
        match &result {
            Ok(outcome) => {
                let failed = match outcome {
                    SinkOutcome::Partial { failed } => Some(failed.len()),
                    SinkOutcome::Delivered => None,
                };
                log.step(
                    Step::TargetSucceeded,
                    Detail {
                        batch,
                        records: input.len(),
                        failed,
                        payload: Some(input),
                        ..Detail::default()
                    },
                );
            }
            Err(e) => {
                let error = e.to_string();
                log.step(
                    Step::TargetFailed,
                    Detail {
                        batch,
                        records: input.len(),
                        error: Some(&error),
                        ..Detail::default()
                    },
                );
            }
        }
        enrich::outcome_for_source(result?, same_shape, input.len())
    }
}
