//! `target.runtime_api`: Sluice serves the AWS Lambda Runtime API, and unchanged Lambda
//! function code pulls its batches from it.
//!
//! A Lambda container image runs a runtime interface client (RIC) that polls
//! `AWS_LAMBDA_RUNTIME_API` for work: `GET /2018-06-01/runtime/invocation/next`, then
//! `POST .../invocation/ID/response` or `.../invocation/ID/error`. Pointed at Sluice, the same
//! image runs as a Deployment beside it and receives the batches a pipe would send to a
//! function: the event is the pipe's `format` (Lambda's own by default), so the handler is
//! the one that runs on AWS.
//!
//! Layout: `config.rs` (the keys), `invocations.rs` (batches waiting for a worker and held by
//! one; no I/O), `server.rs` (the HTTP API), `sink.rs` (the sink the runner calls).
//!
//! Concurrency is the number of workers polling, bounded by the pipe's `concurrency` (no more
//! batches are in flight than that). Each `next` answer carries `Lambda-Runtime-Aws-Request-Id`,
//! `Lambda-Runtime-Deadline-Ms` (now + `timeout`), `Lambda-Runtime-Invoked-Function-Arn` and
//! `Lambda-Runtime-Trace-Id`.
//!
//! # Outcomes
//!
//! | what happens | outcome |
//! |---|---|
//! | `POST .../response` | as an HTTP function's 2xx answer: delivered, or with `report_batch_item_failures: true` its `batchItemFailures` fail just those records (the same rules) |
//! | `POST .../error` | the whole batch failed (an attempt); `errorType: errorMessage` in the log and `last_processing_result` |
//! | no answer by the deadline | the whole batch failed as a timeout (an attempt); a later answer gets 400 |
//! | every connection from the worker's host closes while it holds a batch (a killed pod) | the whole batch failed (an attempt), at once rather than at the deadline; a worker that dies while others on its host stay connected fails its batch at the deadline (runtime clients pool connections, so one closing connection proves nothing) |
//! | a response larger than 6 MB | the worker gets 413; the whole batch failed |
//! | no worker connected for 30s (connected but busy workers: the batch waits its turn) | unreachable: the batch is held and offered again with capped backoff, not an attempt; the pipe is not ready meanwhile |
//! | the address cannot be bound | unreachable, as above, and the bind is retried every 2s |
//! | `POST /runtime/init/error` | logged, shown under `target.details.init_error` in `/pipes` |
//! | an answer for an unknown or ended request id | 400 `InvalidRequestID` to the worker; nothing else changes |
//!
//! What differs from AWS: there is no sandbox per invocation (a worker's process lives on
//! between batches, as a warm Lambda does), no `Lambda-Runtime-Client-Context` or Cognito
//! identity, and the trace id is a fresh X-Ray root (`Sampled=0`).
//!
//! # Example
//!
//! ```yaml
//! target:
//!   runtime_api:
//!     listen: 0.0.0.0:9001
//!     timeout: 30s
//! concurrency: 4                 # at most 4 workers hold a batch at once
//! report_batch_item_failures: true
//! ```

mod config;
mod invocations;
mod server;
mod sink;

pub use config::RuntimeApiConfig;
pub use sink::RuntimeApiSink;

use sluice_core::config::ConfigError;
use sluice_core::connector::{SinkConnector, SinkContext};
use sluice_core::event::Format;
use sluice_core::sink::Sink;
use std::sync::Arc;

/// The Runtime API connector, as the bridge builds it.
pub struct RuntimeApi;

impl SinkConnector for RuntimeApi {
    type Config = RuntimeApiConfig;

    fn format(cfg: &RuntimeApiConfig) -> Format {
        cfg.format
    }

    fn build_sink(
        cfg: &RuntimeApiConfig,
        ctx: &SinkContext<'_>,
    ) -> Result<Arc<dyn Sink>, Vec<ConfigError>> {
        let envelope = ctx.envelope(cfg.format);
        let sink = RuntimeApiSink::new(
            cfg,
            ctx.pipe,
            envelope,
            ctx.report_batch_item_failures,
            ctx.pool,
        )
        .map_err(|e| vec![ConfigError::new(format!("{}.runtime_api", ctx.path), e)])?;
        Ok(Arc::new(sink))
    }
}
