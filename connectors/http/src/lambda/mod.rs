//! `target.lambda`: AWS Lambda's Invoke API (`RequestResponse`), on AWS or any endpoint that
//! speaks it (`cargo lambda watch`, LocalStack), signed with SigV4 from the standard AWS
//! credential chain.
//!
//! Layout: `config.rs` (the keys and the function name forms), `sign.rs` (credentials and
//! SigV4), `sink.rs` (one `Invoke` per batch).
//!
//! The request is the event in the target's `format`; the batcher keeps it within Lambda's
//! 6 MB payload limit (`batch.max_bytes` may not be set above it for this target).
//!
//! # Outcomes
//!
//! | the Invoke API answers | outcome |
//! |---|---|
//! | 200 | as an HTTP function's 2xx answer: delivered, or with `report_batch_item_failures: true` the function's `batchItemFailures` fail just those records |
//! | 200 with `X-Amz-Function-Error` (an unhandled error, a timeout inside the function) | the whole batch failed (an attempt) |
//! | 429 `TooManyRequestsException`, 503 | throttled: retried after `Retry-After` or the backoff, not an attempt |
//! | no answer: refused, reset, DNS, TLS; no credentials yet; no Region in the config, the ARN or the environment | unreachable: held and retried with capped backoff, not an attempt (nothing reaches the dead-letter path for want of configuration) |
//! | any other status (403 `AccessDenied`, 404 `ResourceNotFoundException`, 413 ...), a timeout | the whole batch failed (an attempt); the error type is in the log |
//! | an answer larger than 6 MB | the whole batch failed (an attempt) |
//!
//! # Example
//!
//! ```yaml
//! target:
//!   lambda:
//!     function_name: orders-fn
//!     qualifier: live
//!     region: us-east-1
//! report_batch_item_failures: true
//! ```

mod config;
mod sign;
mod sink;

pub use config::{LambdaTargetConfig, MAX_PAYLOAD};
pub use sink::LambdaSink;

use sluice_core::config::ConfigError;
use sluice_core::connector::{SinkConnector, SinkContext};
use sluice_core::event::Format;
use sluice_core::sink::Sink;
use std::sync::Arc;

/// The Lambda Invoke API connector, as the bridge builds it.
pub struct Lambda;

impl SinkConnector for Lambda {
    type Config = LambdaTargetConfig;

    fn format(cfg: &LambdaTargetConfig) -> Format {
        cfg.format
    }

    fn build_sink(
        cfg: &LambdaTargetConfig,
        ctx: &SinkContext<'_>,
    ) -> Result<Arc<dyn Sink>, Vec<ConfigError>> {
        let envelope = ctx.envelope(cfg.format);
        Ok(Arc::new(LambdaSink::new(
            cfg,
            envelope,
            ctx.report_batch_item_failures,
            ctx.pool,
        )))
    }
}
