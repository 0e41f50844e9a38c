//! sluice-core: everything a pipe needs that knows no broker.
//!
//! Layout:
//! - [`record`]: the record model ([`Record`], [`DeliveryId`], [`Metadata`]).
//! - [`source`], [`sink`]: the traits connectors implement. A source has a receive half
//!   ([`Source::run`]) and a separate settle half ([`Acker`]), so acknowledgements never wait
//!   behind a blocked receive.
//! - [`event`]: the events targets receive, in Lambda, Pipes and CloudEvents form, from the
//!   [`event::EventShape`] each connector declares, and their exact serialized size, used for
//!   `batch.max_bytes`.
//! - [`connector`]: the connector contract: defaults and event shape as data, and building.
//! - [`session`]: the session driver every connection-holding source and poller runs on:
//!   connect, epochs, status and reasons, the silence watchdog, backoff, source metrics.
//! - [`deliveries`]: the epoch table of sources whose receipts are opaque strings.
//! - [`runner`]: the pipe runner. It owns batching, bounded concurrency, retries with backoff,
//!   settlement, dead-lettering, metrics and drain on shutdown; connectors only do I/O.
//! - [`config`]: the pipe settings shared by every connector (batch, retry, durations, sizes,
//!   secrets) and the [`config::ConfigError`] that `sluice validate` prints.
//! - [`pattern`]: the EventBridge event-pattern language (filters, `sluice match`).
//! - [`enrich`]: enrichment with EventBridge Pipes semantics.
//! - [`metrics`]: the metric names of the contract (one list) and per-pipe handles.
//! - [`redact`]: secrets kept out of logs, `validate`, `/pipes` and errors.
//! - [`status`]: the ESM-style pipe state shown by `/pipes` and `/readyz`.
//! - [`pool`]: connections shared by the pipes that would open the same one.
//! - [`backoff`]: capped exponential backoff with jitter, shared by retries and reconnects.
//! - `testkit` (feature `testkit`, for other crates' tests): a scriptable in-memory source,
//!   acker and sink, and event shapes.

pub mod backoff;
pub mod config;
pub mod connector;
pub mod deliveries;
pub mod enrich;
pub mod event;
pub mod execlog;
pub mod limit;
pub mod metrics;
pub mod pattern;
pub mod pool;
pub mod record;
pub mod redact;
pub mod runner;
pub mod session;
pub mod sink;
pub mod source;
pub mod status;
pub mod template;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod time;
pub mod trace;

pub use record::{DeliveryId, HeaderValue, Metadata, Record};
pub use sink::{Sink, SinkError, SinkOutcome};
pub use source::{Acker, Outcome, Source, SourceContext};
