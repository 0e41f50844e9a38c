//! sluice-http: HTTP functions as targets and as enrichments.
//!
//! Layout:
//! - `config.rs`: the `target.http` keys and their validation;
//! - `connection.rs`: the pooled keep-alive client (HTTP/1.1, rustls for `https://`);
//! - `response.rs`: what a function's answer means (section 4 of the contract);
//! - `endpoint.rs`: one function endpoint (URL, headers, timeout) and how its answer is read;
//! - `sink.rs`: one POST per batch;
//! - `enrich.rs`: `enrichment.http`, one POST per batch whose answer replaces the batch;
//! - `error.rs`: the connector's error type;
//! - `lambda/`: `target.lambda`, the Lambda Invoke API with SigV4 (its outcome table is in its
//!   module docs);
//! - `runtime_api/`: `target.runtime_api`, Sluice serving the Lambda Runtime API to unchanged
//!   function code (its own outcome table is in its module docs).
//!
//! # Outcomes
//!
//! | the function answers | outcome |
//! |---|---|
//! | 2xx | all records delivered |
//! | 2xx with `report_batch_item_failures: true` and `{"batchItemFailures":[{"itemIdentifier":ID},...]}` | only those records failed; they are retried |
//! | 2xx with `report_batch_item_failures: true` and an empty body, `null`, `{}`, or an empty or null list | all delivered |
//! | 2xx with `report_batch_item_failures: true` and a body that is not JSON, not an object, a list that is not a list, or an unknown, empty or null ID | the whole batch failed |
//! | any status with `X-Amz-Function-Error` | the whole batch failed |
//! | 429 or 503 | throttled: retried after `Retry-After` (seconds, capped at `retry.backoff.max`; an unreadable value means the backoff) or the backoff, not counted as an attempt |
//! | no answer at all: connection refused or reset, DNS, TLS | unreachable: the records are held and sent again with capped backoff until it answers, not counted as an attempt; the pipe is not ready meanwhile |
//! | any other status, a timeout waiting for the answer | the whole batch failed (an attempt) |
//! | an answer larger than 4 MiB | the whole batch failed (an attempt) |
//!
//! `ID` is the record's `messageId` (`messageID` for ActiveMQ, `basicProperties.messageId` for
//! RabbitMQ). A RabbitMQ record whose `messageId` is null is named by its 0-based position in
//! the batch, as a string (`"3"`) or a number (`3`).
//!
//! An enrichment is read with the same status rules; its 2xx answer replaces the batch as in
//! EventBridge Pipes (`""`, `{}`, `[]` or an empty body: nothing to send, the records are
//! acknowledged; an array: one record per element; a body that is not JSON fails the batch).
//!
//! # Example
//!
//! ```yaml
//! target:
//!   http:
//!     url: https://orders-fn.internal/
//!     timeout: 30s
//!     headers: {Authorization: "Bearer ${env:FN_TOKEN}"}
//!     format: lambda
//! report_batch_item_failures: true
//! ```

pub mod config;
mod connection;
mod endpoint;
mod enrich;
mod error;
pub mod lambda;
pub mod response;
pub mod runtime_api;
mod sink;

pub use config::{EnrichmentConfig, HttpEnrichmentConfig, HttpTargetConfig};
pub use enrich::HttpEnricher;
pub use lambda::{Lambda, LambdaTargetConfig};
pub use runtime_api::{RuntimeApi, RuntimeApiConfig};
pub use sink::HttpSink;

use sluice_core::config::ConfigError;
use sluice_core::connector::{SinkConnector, SinkContext};
use sluice_core::event::Format;
use sluice_core::sink::Sink;
use std::sync::Arc;

/// The HTTP function connector, as the bridge builds it.
pub struct Http;

impl SinkConnector for Http {
    type Config = HttpTargetConfig;

    fn format(cfg: &HttpTargetConfig) -> Format {
        cfg.format
    }

    fn build_sink(
        cfg: &HttpTargetConfig,
        ctx: &SinkContext<'_>,
    ) -> Result<Arc<dyn Sink>, Vec<ConfigError>> {
        let envelope = ctx.envelope(cfg.format);
        let sink = HttpSink::new(cfg, envelope, ctx.report_batch_item_failures, ctx.pool)
            .map_err(|e| vec![ConfigError::new(format!("{}.http", ctx.path), e)])?;
        Ok(Arc::new(sink))
    }
}
