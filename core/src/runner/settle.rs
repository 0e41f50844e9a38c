//! What the runner does with a finished delivery: acknowledge, retry, or give up.

use super::{Dest, Done, Runner};
use crate::backoff;
use crate::record::{Record, now_ms};
use crate::sink::{SinkError, SinkOutcome};
use crate::source::Outcome;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, warn};

impl Runner {
    pub(super) async fn on_done(&mut self, done: Done) {
        let Done {
            dest,
            records,
            result,
            elapsed,
        } = done;
        let m = self.pipe.metrics.clone();
        if dest == Dest::Target {
            m.request_duration.observe(elapsed.as_secs_f64());
        }
        match (dest, result) {
            (Dest::Target, Ok(SinkOutcome::Delivered)) => {
                m.req_success.inc();
                m.delivered.inc_by(records.len() as u64);
                self.pipe.status.set_last_result("OK");
                self.ack(records).await;
            }
            (Dest::Target, Ok(SinkOutcome::Partial { failed })) => {
                if failed.is_empty() {
                    m.req_success.inc();
                } else {
                    m.req_partial.inc();
                }
                let (bad, good) = split(records, &failed);
                m.delivered.inc_by(good.len() as u64);
                self.pipe.status.set_last_result("OK");
                self.ack(good).await;
                self.fail(bad, "reported in batchItemFailures").await;
            }
            (Dest::Target, Err(SinkError::Throttled { retry_after })) => {
                m.req_throttled.inc();
                // Throttling is not an attempt: the same records go again after the delay the
                // target asked for (or the first backoff step).
                let s = &self.pipe.settings;
                let delay = retry_after
                    .unwrap_or_else(|| backoff::delay(s.backoff_initial, s.backoff_max, 1));
                self.pipe
                    .status
                    .set_last_result("PROBLEM: Function throttled");
                self.hold_or_release(Dest::Target, records, delay).await;
            }
            (Dest::Target, Err(e)) => {
                match &e {
                    SinkError::Timeout(_) => m.req_timeout.inc(),
                    SinkError::Connection(_) => {
                        m.target_conn_errors.inc();
                        m.req_error.inc()
                    }
                    _ => m.req_error.inc(),
                };
                warn!(error = %e, records = records.len(), "batch failed");
                self.pipe
                    .status
                    .set_last_result("PROBLEM: Function call failed");
                self.fail(records, &e.to_string()).await;
            }
            (Dest::DeadLetter, Ok(outcome)) => {
                let failed = match outcome {
                    SinkOutcome::Delivered => Vec::new(),
                    SinkOutcome::Partial { failed } => failed,
                };
                let (bad, good) = split(records, &failed);
                m.dead_lettered.inc_by(good.len() as u64);
                self.ack(good).await;
                self.retry_dead_letter(bad, "dead-letter destination refused records")
                    .await;
            }
            (Dest::DeadLetter, Err(e)) => {
                if matches!(e, SinkError::Connection(_)) {
                    m.dlq_conn_errors.inc();
                }
                self.retry_dead_letter(records, &e.to_string()).await;
            }
        }
    }

    /// Acknowledge delivered (or dead-lettered) records at the source.
    pub(super) async fn ack(&mut self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        let settlements: Vec<_> = records.iter().map(|r| (r.id, Outcome::Ack)).collect();
        let stale = self.acker.settle(&settlements).await;
        let m = &self.pipe.metrics;
        m.stale.inc_by(stale as u64);
        m.acked.inc_by((records.len() - stale) as u64);
        let now = now_ms();
        for r in &records {
            m.message_age
                .observe(now.saturating_sub(r.born_ms()) as f64 / 1000.0);
        }
    }

    /// Count a failed delivery of these records; retry them after a backoff or give them up.
    pub(super) async fn fail(&mut self, records: Vec<Record>, reason: &str) {
        if records.is_empty() {
            return;
        }
        let max = self.pipe.settings.max_attempts;
        let reason: Arc<str> = reason.into();
        self.pipe.metrics.failed.inc_by(records.len() as u64);
        let mut retry = Vec::new();
        let mut give_up = Vec::new();
        let mut attempts = 0;
        for mut r in records {
            r.attempts += 1;
            r.last_error = Some(reason.clone());
            if max != 0 && r.attempts >= max {
                give_up.push(r);
            } else {
                attempts = attempts.max(r.attempts);
                retry.push(r);
            }
        }
        if !retry.is_empty() {
            self.pipe.metrics.retried.inc_by(retry.len() as u64);
            let s = &self.pipe.settings;
            let delay = backoff::delay(s.backoff_initial, s.backoff_max, attempts);
            self.hold_or_release(Dest::Target, retry, delay).await;
        }
        self.give_up(give_up).await;
    }

    /// Deliver again after `delay`: held here, or handed back to a broker that counts
    /// deliveries itself. While draining nothing new starts: the broker redelivers.
    async fn hold_or_release(&mut self, dest: Dest, records: Vec<Record>, delay: Duration) {
        if self.draining || self.acker.broker_redelivers() {
            let settlements: Vec<_> = records
                .iter()
                .map(|r| (r.id, Outcome::Retry { delay }))
                .collect();
            self.acker.settle(&settlements).await;
        } else {
            self.schedule(dest, records, delay);
        }
    }

    /// Records that will not be delivered to the target: to the dead-letter sink, else to the
    /// broker's dead-letter path. Never dropped silently.
    pub(super) async fn give_up(&mut self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        for r in &records {
            warn!(
                attempts = r.attempts,
                reason = r.last_error.as_deref().unwrap_or(""),
                message_id = r.meta.message_id.as_deref().unwrap_or(""),
                "record given up"
            );
        }
        if self.pipe.dead_letter.is_some() {
            if self.draining {
                // Leave it to the broker: it is redelivered after restart and given up again.
                return;
            }
            let cap = self
                .pipe
                .dead_letter
                .as_ref()
                .map_or(usize::MAX, |d| d.max_batch())
                .max(1);
            let mut records = records;
            while !records.is_empty() {
                let rest = records.split_off(records.len().min(cap));
                self.ready.push_back(super::Job {
                    dest: Dest::DeadLetter,
                    records,
                });
                records = rest;
            }
        } else {
            let settlements: Vec<_> = records.iter().map(|r| (r.id, Outcome::Reject)).collect();
            let stale = self.acker.settle(&settlements).await;
            self.pipe.metrics.stale.inc_by(stale as u64);
            self.pipe
                .metrics
                .broker_dead_lettered
                .inc_by((records.len() - stale) as u64);
        }
    }

    /// The dead-letter destination failed: keep trying, never drop.
    async fn retry_dead_letter(&mut self, records: Vec<Record>, reason: &str) {
        if records.is_empty() {
            return;
        }
        error!(
            records = records.len(),
            error = reason,
            "dead-letter destination failed; will retry"
        );
        let attempts = records.iter().map(|r| r.attempts).max().unwrap_or(1);
        let s = &self.pipe.settings;
        let delay = backoff::delay(s.backoff_initial, s.backoff_max, attempts);
        self.hold_or_release(Dest::DeadLetter, records, delay).await;
    }
}

/// Split a batch into (failed, delivered) by positions.
fn split(records: Vec<Record>, failed: &[usize]) -> (Vec<Record>, Vec<Record>) {
    let mut is_failed = vec![false; records.len()];
    for &i in failed {
        if let Some(f) = is_failed.get_mut(i) {
            *f = true;
        }
    }
    let mut bad = Vec::with_capacity(failed.len());
    let mut good = Vec::with_capacity(records.len().saturating_sub(failed.len()));
    for (r, failed) in records.into_iter().zip(is_failed) {
        if failed {
            bad.push(r);
        } else {
            good.push(r);
        }
    }
    (bad, good)
}
