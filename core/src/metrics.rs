//! Metric names (the one list, matching section 5 of the contract) and per-pipe handles.
//!
//! Handles are resolved once per pipe, so the hot path only touches atomics: no label hashing
//! per record. prometheus-client appends `_total` to counters itself, so counters are
//! registered under their name without it.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Records received from the source (`pipe`).
pub const SOURCE_MESSAGES: &str = "sluice_source_messages_total";
/// Body bytes received from the source (`pipe`).
pub const SOURCE_BYTES: &str = "sluice_source_bytes_total";
/// Records the filter dropped, acknowledged (`pipe`).
pub const FILTERED_MESSAGES: &str = "sluice_filtered_messages_total";
/// Records delivered (`outcome=delivered`) or failed (`outcome=failed`) at the target.
pub const TARGET_MESSAGES: &str = "sluice_target_messages_total";
/// Target calls by `outcome`: success, partial, error, throttled, timeout.
pub const TARGET_REQUESTS: &str = "sluice_target_requests_total";
/// Target call latency (histogram).
pub const TARGET_REQUEST_DURATION: &str = "sluice_target_request_duration_seconds";
/// Records per batch sent to the target (histogram).
pub const BATCH_MESSAGES: &str = "sluice_batch_messages";
/// Records acknowledged at the source.
pub const ACKED_MESSAGES: &str = "sluice_acked_messages_total";
/// Records delivered again after a failure.
pub const RETRIED_MESSAGES: &str = "sluice_retried_messages_total";
/// Records given up, by `destination`: `dead_letter` or `broker`.
pub const DEAD_LETTERED_MESSAGES: &str = "sluice_dead_lettered_messages_total";
/// Records that could not be delivered at all, by `reason` (`oversize`).
pub const DROPPED_MESSAGES: &str = "sluice_dropped_messages_total";
/// Batches in flight to the target now.
pub const INFLIGHT_BATCHES: &str = "sluice_inflight_batches";
/// Messages waiting at the source, where the broker tells it cheaply.
pub const SOURCE_BACKLOG: &str = "sluice_source_backlog_messages";
/// Age of records when acknowledged, from their source timestamp (histogram).
pub const MESSAGE_AGE: &str = "sluice_message_age_seconds";
/// Age of the oldest record held by the pipe (Lambda's OffsetLag).
pub const OLDEST_MESSAGE_AGE: &str = "sluice_oldest_message_age_seconds";
/// 1 while the pipe is enabled, connected to its source and its target reachable.
pub const PIPE_UP: &str = "sluice_pipe_up";
/// Failed connections by `component`: `source`, `target`, `dead_letter`.
pub const CONNECTION_ERRORS: &str = "sluice_connection_errors_total";
/// Beyond the contract: enrichment calls by outcome (`success`, `empty` when it asked to skip
/// the target, `error`, `throttled`, `timeout`) and their latency.
pub const ENRICHMENT_REQUESTS: &str = "sluice_enrichment_requests_total";
/// Enrichment call latency (histogram).
pub const ENRICHMENT_REQUEST_DURATION: &str = "sluice_enrichment_request_duration_seconds";
/// Beyond the contract: settlements skipped because their connection was gone.
pub const STALE_SETTLEMENTS: &str = "sluice_stale_settlements_total";
/// Beyond the contract (section 7): pipe files that failed to reload.
pub const CONFIG_RELOAD_ERRORS: &str = "sluice_config_reload_errors_total";
/// Pipes added, changed or removed by a change of the pipe files (no `pipe` label).
pub const CONFIG_RELOADS: &str = "sluice_config_reloads_total";
/// Records received and not yet settled at the source.
pub const SOURCE_INFLIGHT: &str = "sluice_source_inflight_messages";
/// Settlements the broker refused, or that failed after their retries.
pub const ACK_ERRORS: &str = "sluice_ack_errors_total";
/// Times the supervisor restarted a failed pipe.
pub const PIPE_RESTARTS: &str = "sluice_pipe_restarts_total";

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 15))
}

fn age_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 20))
}

fn counter_name(name: &'static str) -> &'static str {
    name.strip_suffix("_total").unwrap_or(name)
}

/// Every family, registered once per process.
#[derive(Clone)]
pub struct Metrics {
    source_messages: Family<Labels, Counter>,
    source_bytes: Family<Labels, Counter>,
    filtered: Family<Labels, Counter>,
    target_messages: Family<Labels, Counter>,
    target_requests: Family<Labels, Counter>,
    request_duration: HistogramFamily,
    batch_messages: HistogramFamily,
    acked: Family<Labels, Counter>,
    retried: Family<Labels, Counter>,
    dead_lettered: Family<Labels, Counter>,
    dropped: Family<Labels, Counter>,
    inflight: Family<Labels, Gauge>,
    backlog: Family<Labels, Gauge>,
    message_age: HistogramFamily,
    oldest_age: Family<Labels, Gauge<f64, AtomicU64>>,
    pipe_up: Family<Labels, Gauge>,
    connection_errors: Family<Labels, Counter>,
    stale: Family<Labels, Counter>,
    source_inflight: Family<Labels, Gauge>,
    ack_errors: Family<Labels, Counter>,
    restarts: Family<Labels, Counter>,
    enrichment_requests: Family<Labels, Counter>,
    enrichment_duration: HistogramFamily,
    /// `sluice_config_reload_errors_total`.
    pub reload_errors: Counter,
    /// `sluice_config_reloads_total`.
    pub reloads: Counter,
}

impl Metrics {
    /// Register every metric in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            source_messages: Family::default(),
            source_bytes: Family::default(),
            filtered: Family::default(),
            target_messages: Family::default(),
            target_requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            batch_messages: Family::new_with_constructor(batch_histogram),
            acked: Family::default(),
            retried: Family::default(),
            dead_lettered: Family::default(),
            dropped: Family::default(),
            inflight: Family::default(),
            backlog: Family::default(),
            message_age: Family::new_with_constructor(age_histogram),
            oldest_age: Family::default(),
            pipe_up: Family::default(),
            connection_errors: Family::default(),
            stale: Family::default(),
            source_inflight: Family::default(),
            ack_errors: Family::default(),
            restarts: Family::default(),
            enrichment_requests: Family::default(),
            enrichment_duration: Family::new_with_constructor(latency_histogram),
            reload_errors: Counter::default(),
            reloads: Counter::default(),
        };
        registry.register(
            counter_name(ENRICHMENT_REQUESTS),
            "Enrichment calls, by outcome",
            m.enrichment_requests.clone(),
        );
        registry.register(
            ENRICHMENT_REQUEST_DURATION,
            "Enrichment call latency",
            m.enrichment_duration.clone(),
        );
        let c = counter_name;
        registry.register(
            c(SOURCE_MESSAGES),
            "Records received from the source",
            m.source_messages.clone(),
        );
        registry.register(
            c(SOURCE_BYTES),
            "Body bytes received from the source",
            m.source_bytes.clone(),
        );
        registry.register(
            c(FILTERED_MESSAGES),
            "Records dropped by the filter",
            m.filtered.clone(),
        );
        registry.register(
            c(TARGET_MESSAGES),
            "Records sent to the target, by outcome",
            m.target_messages.clone(),
        );
        registry.register(
            c(TARGET_REQUESTS),
            "Target calls, by outcome",
            m.target_requests.clone(),
        );
        registry.register(
            TARGET_REQUEST_DURATION,
            "Target call latency",
            m.request_duration.clone(),
        );
        registry.register(
            BATCH_MESSAGES,
            "Records per target call",
            m.batch_messages.clone(),
        );
        registry.register(
            c(ACKED_MESSAGES),
            "Records acknowledged at the source",
            m.acked.clone(),
        );
        registry.register(c(RETRIED_MESSAGES), "Record retries", m.retried.clone());
        registry.register(
            c(DEAD_LETTERED_MESSAGES),
            "Records given up, by destination",
            m.dead_lettered.clone(),
        );
        registry.register(
            c(DROPPED_MESSAGES),
            "Records that could not be delivered at all",
            m.dropped.clone(),
        );
        registry.register(
            INFLIGHT_BATCHES,
            "Batches being delivered now",
            m.inflight.clone(),
        );
        registry.register(
            SOURCE_BACKLOG,
            "Messages waiting at the source, as the broker reports it",
            m.backlog.clone(),
        );
        registry.register(
            MESSAGE_AGE,
            "Age of each record when acknowledged",
            m.message_age.clone(),
        );
        registry.register(
            OLDEST_MESSAGE_AGE,
            "Age of the oldest record in flight",
            m.oldest_age.clone(),
        );
        registry.register(
            PIPE_UP,
            "1 when the pipe is Enabled and connected",
            m.pipe_up.clone(),
        );
        registry.register(
            c(CONNECTION_ERRORS),
            "Failed connects and lost connections",
            m.connection_errors.clone(),
        );
        registry.register(
            c(STALE_SETTLEMENTS),
            "Settlements skipped because their connection was gone",
            m.stale.clone(),
        );
        registry.register(
            SOURCE_INFLIGHT,
            "Records received and not yet settled at the source",
            m.source_inflight.clone(),
        );
        registry.register(
            c(ACK_ERRORS),
            "Settlements the broker refused or that failed after retries",
            m.ack_errors.clone(),
        );
        registry.register(
            c(PIPE_RESTARTS),
            "Times the pipe's task failed unexpectedly and was restarted",
            m.restarts.clone(),
        );
        registry.register(
            c(CONFIG_RELOAD_ERRORS),
            "Pipe files that failed to reload",
            m.reload_errors.clone(),
        );
        registry.register(
            c(CONFIG_RELOADS),
            "Pipes added, changed or removed by a change of the pipe files",
            m.reloads.clone(),
        );
        m
    }

    /// Handles for one pipe.
    pub fn pipe(&self, pipe: &str) -> PipeMetrics {
        let l = |extra: &[(&'static str, &str)]| -> Labels {
            let mut v: Labels = vec![("pipe", pipe.to_owned())];
            v.extend(extra.iter().map(|(k, val)| (*k, (*val).to_owned())));
            v
        };
        let counter = |f: &Family<Labels, Counter>, extra: &[(&'static str, &str)]| {
            f.get_or_create(&l(extra)).clone()
        };
        let hist = |f: &HistogramFamily| f.get_or_create(&l(&[])).clone();
        PipeMetrics {
            source_messages: counter(&self.source_messages, &[]),
            source_bytes: counter(&self.source_bytes, &[]),
            filtered: counter(&self.filtered, &[]),
            delivered: counter(&self.target_messages, &[("outcome", "delivered")]),
            failed: counter(&self.target_messages, &[("outcome", "failed")]),
            req_success: counter(&self.target_requests, &[("outcome", "success")]),
            req_partial: counter(&self.target_requests, &[("outcome", "partial")]),
            req_error: counter(&self.target_requests, &[("outcome", "error")]),
            req_throttled: counter(&self.target_requests, &[("outcome", "throttled")]),
            req_timeout: counter(&self.target_requests, &[("outcome", "timeout")]),
            request_duration: hist(&self.request_duration),
            batch_messages: hist(&self.batch_messages),
            acked: counter(&self.acked, &[]),
            retried: counter(&self.retried, &[]),
            dead_lettered: counter(&self.dead_lettered, &[("destination", "dead_letter")]),
            broker_dead_lettered: counter(&self.dead_lettered, &[("destination", "broker")]),
            dropped_oversize: counter(&self.dropped, &[("reason", "oversize")]),
            inflight: self.inflight.get_or_create(&l(&[])).clone(),
            backlog: self.backlog.get_or_create(&l(&[])).clone(),
            message_age: hist(&self.message_age),
            oldest_age: self.oldest_age.get_or_create(&l(&[])).clone(),
            up: self.pipe_up.get_or_create(&l(&[])).clone(),
            source_conn_errors: counter(&self.connection_errors, &[("component", "source")]),
            target_conn_errors: counter(&self.connection_errors, &[("component", "target")]),
            dlq_conn_errors: counter(&self.connection_errors, &[("component", "dead_letter")]),
            stale: counter(&self.stale, &[]),
            source_inflight: self.source_inflight.get_or_create(&l(&[])).clone(),
            ack_errors: counter(&self.ack_errors, &[]),
            restarts: counter(&self.restarts, &[]),
            enrich_success: counter(&self.enrichment_requests, &[("outcome", "success")]),
            enrich_empty: counter(&self.enrichment_requests, &[("outcome", "empty")]),
            enrich_error: counter(&self.enrichment_requests, &[("outcome", "error")]),
            enrich_throttled: counter(&self.enrichment_requests, &[("outcome", "throttled")]),
            enrich_timeout: counter(&self.enrichment_requests, &[("outcome", "timeout")]),
            enrich_duration: hist(&self.enrichment_duration),
        }
    }
}

/// Pre-labelled handles for one pipe. Cloning is cheap (each handle is an `Arc`).
#[derive(Clone, Debug)]
pub struct PipeMetrics {
    /// `sluice_source_messages_total`.
    pub source_messages: Counter,
    /// `sluice_source_bytes_total`.
    pub source_bytes: Counter,
    /// `sluice_filtered_messages_total`.
    pub filtered: Counter,
    /// `sluice_target_messages_total{outcome="delivered"}`.
    pub delivered: Counter,
    /// `sluice_target_messages_total{outcome="failed"}`.
    pub failed: Counter,
    /// `sluice_target_requests_total{outcome="success"}`.
    pub req_success: Counter,
    /// `sluice_target_requests_total{outcome="partial"}`.
    pub req_partial: Counter,
    /// `sluice_target_requests_total{outcome="error"}`.
    pub req_error: Counter,
    /// `sluice_target_requests_total{outcome="throttled"}`.
    pub req_throttled: Counter,
    /// `sluice_target_requests_total{outcome="timeout"}`.
    pub req_timeout: Counter,
    /// `sluice_target_request_duration_seconds`.
    pub request_duration: Histogram,
    /// `sluice_batch_messages`.
    pub batch_messages: Histogram,
    /// `sluice_acked_messages_total`.
    pub acked: Counter,
    /// `sluice_retried_messages_total`.
    pub retried: Counter,
    /// `sluice_dead_lettered_messages_total{destination="dead_letter"}`.
    pub dead_lettered: Counter,
    /// `sluice_dead_lettered_messages_total{destination="broker"}`.
    pub broker_dead_lettered: Counter,
    /// `sluice_dropped_messages_total{reason="oversize"}`.
    pub dropped_oversize: Counter,
    /// `sluice_inflight_batches`.
    pub inflight: Gauge,
    /// `sluice_source_backlog_messages`.
    pub backlog: Gauge,
    /// `sluice_message_age_seconds`.
    pub message_age: Histogram,
    /// `sluice_oldest_message_age_seconds`.
    pub oldest_age: Gauge<f64, AtomicU64>,
    /// `sluice_pipe_up`.
    pub up: Gauge,
    /// `sluice_connection_errors_total{component="source"}`.
    pub source_conn_errors: Counter,
    /// `sluice_connection_errors_total{component="target"}`.
    pub target_conn_errors: Counter,
    /// `sluice_connection_errors_total{component="dead_letter"}`.
    pub dlq_conn_errors: Counter,
    /// `sluice_stale_settlements_total`.
    pub stale: Counter,
    /// Records received and not yet settled at the source.
    pub source_inflight: Gauge,
    /// Settlements the broker refused, or that failed after retries.
    pub ack_errors: Counter,
    /// Unexpected failures of the pipe's task.
    pub restarts: Counter,
    /// `sluice_enrichment_requests_total{outcome="success"}`.
    pub enrich_success: Counter,
    /// `sluice_enrichment_requests_total{outcome="empty"}`.
    pub enrich_empty: Counter,
    /// `sluice_enrichment_requests_total{outcome="error"}`.
    pub enrich_error: Counter,
    /// `sluice_enrichment_requests_total{outcome="throttled"}`.
    pub enrich_throttled: Counter,
    /// `sluice_enrichment_requests_total{outcome="timeout"}`.
    pub enrich_timeout: Counter,
    /// `sluice_enrichment_request_duration_seconds`.
    pub enrich_duration: Histogram,
}

impl PipeMetrics {
    /// Handles registered nowhere, for tests and tools.
    pub fn detached(pipe: &str) -> Self {
        Metrics::new(&mut Registry::default()).pipe(pipe)
    }
}
