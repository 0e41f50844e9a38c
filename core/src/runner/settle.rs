//! What the runner does with a finished delivery: acknowledge, retry, or give up; and the one
//! path every settlement at the source takes ([`Runner::settle`]), which counts stale
//! settlements, acknowledgements and ages.

/// Times a dead-letter destination may refuse a record (answer with a failure, not be
/// unreachable) before the record takes the broker's own dead-letter path instead: a record
/// the destination can never take (a body it refuses, too large, a property it cannot
/// carry) must not hold the pipe forever.
pub(super) const DEAD_LETTER_REFUSALS: u32 = 3;

/// Longest wait between calls to an unreachable target or dead-letter destination, so the
/// pipe resumes soon after it comes back (also capped by `retry.backoff.max`).
const UNREACHABLE_BACKOFF_MAX: Duration = Duration::from_secs(30);

use super::order::{Fates, partition};
use super::{Dest, Done, Runner};
use crate::backoff;
use crate::execlog::{Detail, Step};
use crate::record::{DeliveryId, Record, now_ms};
use crate::sink::{SinkError, SinkOutcome};
use crate::source::Outcome;
use crate::status::LastResult;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, warn};

/// Records settled at the source, and why: that decides the outcome and what is counted.
pub(super) enum Settle<'a> {
    /// Delivered to the target or the dead-letter destination: acknowledged, age observed.
    Delivered(&'a [Record]),
    /// Filtered out: acknowledged.
    Filtered(&'a [(DeliveryId, Outcome)]),
    /// Given up to the broker's own dead-letter path: rejected.
    GivenUp(&'a [Record]),
    /// Not delivered: back to the broker, to be delivered again after the delay.
    Released(&'a [Record], Duration),
    /// Batches abandoned in flight at the shutdown timeout: back to the broker at once.
    Abandoned(&'a [DeliveryId]),
}

impl Runner {
    /// Settle at the source: the one place the runner talks to the acker, so that
    /// `sluice_source_inflight_messages`, stale settlements, acknowledgements and ages are
    /// counted once. Returns how many were stale.
    pub(super) async fn settle(&self, what: Settle<'_>) -> usize {
        let owned: Vec<(DeliveryId, Outcome)>;
        let settlements: &[(DeliveryId, Outcome)] = match &what {
            Settle::Filtered(s) => s,
            Settle::Delivered(r) => {
                owned = with_outcome(r, Outcome::Ack);
                &owned
            }
            Settle::GivenUp(r) => {
                owned = with_outcome(r, Outcome::Reject);
                &owned
            }
            Settle::Released(r, delay) => {
                owned = with_outcome(r, Outcome::Retry { delay: *delay });
                &owned
            }
            Settle::Abandoned(ids) => {
                owned = ids
                    .iter()
                    .map(|id| {
                        (
                            *id,
                            Outcome::Retry {
                                delay: Duration::ZERO,
                            },
                        )
                    })
                    .collect();
                &owned
            }
        };
        if settlements.is_empty() {
            return 0;
        }
        let stale = self.acker.settle(settlements).await;
        let m = &self.pipe.metrics;
        m.stale.inc_by(stale as u64);
        m.source_inflight.dec_by(settlements.len() as i64);
        let live = (settlements.len() - stale) as u64;
        match what {
            Settle::Delivered(records) => {
                m.acked.inc_by(live);
                let now = now_ms();
                for r in records {
                    m.message_age
                        .observe(now.saturating_sub(r.born_ms()) as f64 / 1000.0);
                }
            }
            Settle::Filtered(s) => {
                m.filtered.inc_by(s.len() as u64);
                m.acked.inc_by(live);
            }
            Settle::GivenUp(_) => {
                m.broker_dead_lettered.inc_by(live);
            }
            Settle::Released(..) | Settle::Abandoned(_) => {}
        }
        stale
    }

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
        // Any answer, even a failure, means the destination is reachable again.
        if !matches!(result, Err(SinkError::Connection(_))) && self.unreachable > 0 {
            self.unreachable = 0;
            self.pipe.status.set_target_reachable(true);
        }
        match (dest, result) {
            (Dest::Target, Ok(SinkOutcome::Delivered)) => {
                m.req_success.inc();
                m.delivered.inc_by(records.len() as u64);
                self.pipe.status.set_last_result(LastResult::Ok);
                self.ack(records).await;
            }
            (Dest::Target, Ok(SinkOutcome::Partial { failed })) => {
                if failed.is_empty() {
                    m.req_success.inc();
                } else {
                    m.req_partial.inc();
                }
                let Fates {
                    failed,
                    mut held_back,
                    delivered,
                } = partition(records, &failed, self.pipe.settings.ordered);
                held_back.extend(self.take_waiting(&failed));
                m.delivered.inc_by(delivered.len() as u64);
                self.pipe.status.set_last_result(LastResult::Ok);
                self.ack(delivered).await;
                self.fail(failed, "reported in batchItemFailures", held_back)
                    .await;
            }
            (Dest::Target, Err(SinkError::Throttled { retry_after })) => {
                m.req_throttled.inc();
                // Throttling is not an attempt: the same records go again after the delay the
                // target asked for (or the first backoff step).
                let delay = self.throttle_delay(retry_after);
                self.pipe.status.set_last_result(LastResult::Throttled);
                self.hold_or_release(Dest::Target, records, delay, false)
                    .await;
            }
            (Dest::Target, Err(SinkError::Connection(e))) => {
                m.target_conn_errors.inc();
                m.req_error.inc();
                self.pipe
                    .status
                    .set_last_result(LastResult::TargetUnreachable);
                self.wait_for_reachable(Dest::Target, records, &e).await;
            }
            (Dest::Target, Err(e)) => {
                match &e {
                    SinkError::Timeout(_) => m.req_timeout.inc(),
                    _ => m.req_error.inc(),
                };
                // The execution log has the line when it is on (`target_failed`).
                if !self.log.enabled(Step::TargetFailed) {
                    warn!(error = %e, records = records.len(), "batch failed");
                }
                self.pipe.status.set_last_result(LastResult::CallFailed);
                let waiting = self.take_waiting(&records);
                self.fail(records, &e.to_string(), waiting).await;
            }
            (Dest::DeadLetter, Ok(outcome)) => {
                let failed = match outcome {
                    SinkOutcome::Delivered => Vec::new(),
                    SinkOutcome::Partial { failed } => failed,
                };
                let fates = partition(records, &failed, false);
                m.dead_lettered.inc_by(fates.delivered.len() as u64);
                self.ack(fates.delivered).await;
                self.dead_letter_refused(fates.failed, "dead-letter destination refused records")
                    .await;
            }
            (Dest::DeadLetter, Err(SinkError::Connection(e))) => {
                m.dlq_conn_errors.inc();
                self.wait_for_reachable(Dest::DeadLetter, records, &e).await;
            }
            (Dest::DeadLetter, Err(SinkError::Throttled { retry_after })) => {
                let delay = self.throttle_delay(retry_after);
                self.hold_or_release(Dest::DeadLetter, records, delay, false)
                    .await;
            }
            (Dest::DeadLetter, Err(e)) => {
                self.dead_letter_refused(records, &e.to_string()).await;
            }
        }
    }

    /// How long a throttled destination is left alone: what it asked for, capped at
    /// `retry.backoff.max`, else the first backoff step.
    fn throttle_delay(&self, retry_after: Option<Duration>) -> Duration {
        let s = &self.pipe.settings;
        retry_after
            .map(|d| d.min(s.backoff_max))
            .unwrap_or_else(|| backoff::delay(s.backoff_initial, s.backoff_max, 1))
    }

    /// No response at all: not an attempt. Hold the records and call again with capped
    /// backoff until the destination answers; meanwhile the pipe is not ready.
    async fn wait_for_reachable(&mut self, dest: Dest, records: Vec<Record>, error: &str) {
        self.unreachable = self.unreachable.saturating_add(1);
        self.pipe.status.set_target_reachable(false);
        let s = &self.pipe.settings;
        let delay = backoff::delay(
            s.backoff_initial.min(UNREACHABLE_BACKOFF_MAX),
            s.backoff_max.min(UNREACHABLE_BACKOFF_MAX),
            self.unreachable,
        );
        if self.unreachable == 1 || self.unreachable.is_power_of_two() {
            error!(
                ?dest,
                records = records.len(),
                error,
                retry_in = ?delay,
                calls = self.unreachable,
                "cannot reach the destination; records are held (not an attempt) until it answers"
            );
        }
        self.hold_or_release(dest, records, delay, false).await;
    }

    /// Ordered pipes: the records still waiting here (in the batch being filled or ready to
    /// go) that belong to the groups of `failed`. They are successors of a failed record, so
    /// they go back with it rather than overtake it.
    fn take_waiting(&mut self, failed: &[Record]) -> Vec<Record> {
        if !self.pipe.settings.ordered || failed.is_empty() {
            return Vec::new();
        }
        let groups = super::order::groups(failed);
        if groups.is_empty() {
            return Vec::new();
        }
        let in_groups = |r: &Record| r.meta.group_id.as_ref().is_some_and(|g| groups.contains(g));
        let mut taken = Vec::new();
        for job in self.ready.iter_mut().filter(|j| j.dest == Dest::Target) {
            let (out, keep): (Vec<_>, Vec<_>) = job.records.drain(..).partition(in_groups);
            taken.extend(out);
            job.records = keep;
        }
        self.ready.retain(|j| !j.records.is_empty());
        taken.extend(self.batcher.take_if(in_groups));
        taken
    }

    /// Acknowledge delivered (or dead-lettered) records at the source.
    pub(super) async fn ack(&mut self, records: Vec<Record>) {
        self.settle(Settle::Delivered(&records)).await;
    }

    /// Count a failed delivery of these records; retry them after a backoff or give them up.
    /// `held_back` records (ordered pipes) were not failed themselves: they go back with the
    /// failed ones, uncounted.
    pub(super) async fn fail(
        &mut self,
        records: Vec<Record>,
        reason: &str,
        held_back: Vec<Record>,
    ) {
        if records.is_empty() && held_back.is_empty() {
            return;
        }
        // A broker that dead-letters by its own count (a redrive policy) decides.
        let limit = self.acker.attempt_limit();
        let max = limit.unwrap_or(self.pipe.settings.max_attempts);
        let reason: Arc<str> = reason.into();
        self.pipe.metrics.failed.inc_by(records.len() as u64);
        let mut retry = held_back;
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
            // Held-back successors and failed records go again in the order received.
            retry.sort_by_key(|r| r.id);
            self.pipe.metrics.retried.inc_by(retry.len() as u64);
            self.log.step(
                Step::Retried,
                Detail {
                    records: retry.len(),
                    attempt: Some(attempts + 1),
                    error: Some(&reason),
                    ..Detail::default()
                },
            );
            let s = &self.pipe.settings;
            let delay = backoff::delay(s.backoff_initial, s.backoff_max, attempts.max(1));
            self.hold_or_release(Dest::Target, retry, delay, true).await;
        }
        self.give_up(give_up, limit.is_some()).await;
    }

    /// Deliver again after `delay`: held here, or, for a failed delivery (`attempted`), handed
    /// back to a broker that counts deliveries itself. Throttled batches and dead letters are
    /// always held here, so that they cost no delivery at the broker. While draining nothing
    /// new starts: the broker redelivers.
    async fn hold_or_release(
        &mut self,
        dest: Dest,
        records: Vec<Record>,
        delay: Duration,
        attempted: bool,
    ) {
        if self.draining || (attempted && self.acker.broker_redelivers()) {
            self.settle(Settle::Released(&records, delay)).await;
        } else {
            self.schedule(dest, records, delay);
        }
    }

    /// Records that will not be delivered to the target: to the dead-letter sink, else (or
    /// when `to_broker`) to the broker's dead-letter path. Never dropped silently.
    pub(super) async fn give_up(&mut self, records: Vec<Record>, to_broker: bool) {
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
        let to_destination = self.pipe.dead_letter.is_some() && !to_broker;
        if to_destination && self.draining {
            // Leave it to the broker: it is redelivered after restart and given up again.
            return;
        }
        self.log.step(
            Step::DeadLettered,
            Detail {
                records: records.len(),
                destination: Some(if to_destination {
                    "dead_letter"
                } else {
                    "broker"
                }),
                error: records[0].last_error.as_deref(),
                ..Detail::default()
            },
        );
        if to_destination {
            self.queue_dead_letters(records);
        } else {
            self.settle(Settle::GivenUp(&records)).await;
        }
    }

    /// Queue records for the dead-letter destination, in calls it can take.
    pub(super) fn queue_dead_letters(&mut self, mut records: Vec<Record>) {
        let cap = self
            .pipe
            .dead_letter
            .as_ref()
            .map_or(usize::MAX, |d| d.max_batch())
            .max(1);
        while !records.is_empty() {
            let rest = records.split_off(records.len().min(cap));
            self.ready.push_back(super::Job {
                dest: Dest::DeadLetter,
                records,
            });
            records = rest;
        }
    }

    /// The dead-letter destination answered with a failure: try again a few times, then hand
    /// the records to the broker's own dead-letter path. Never dropped.
    async fn dead_letter_refused(&mut self, records: Vec<Record>, reason: &str) {
        if records.is_empty() {
            return;
        }
        let (again, to_broker): (Vec<Record>, Vec<Record>) = records
            .into_iter()
            .map(|mut r| {
                r.dead_letter_refusals += 1;
                r
            })
            .partition(|r| r.dead_letter_refusals < DEAD_LETTER_REFUSALS);
        if !to_broker.is_empty() {
            error!(
                records = to_broker.len(),
                error = reason,
                refusals = DEAD_LETTER_REFUSALS,
                "dead-letter destination keeps refusing; records go to the broker's dead-letter path"
            );
            self.give_up(to_broker, true).await;
        }
        if again.is_empty() {
            return;
        }
        error!(
            records = again.len(),
            error = reason,
            "dead-letter destination refused records; will retry"
        );
        let tries = again
            .iter()
            .map(|r| r.dead_letter_refusals)
            .max()
            .unwrap_or(1);
        let s = &self.pipe.settings;
        let delay = backoff::delay(s.backoff_initial, s.backoff_max, tries);
        self.hold_or_release(Dest::DeadLetter, again, delay, false)
            .await;
    }
}

fn with_outcome(records: &[Record], outcome: Outcome) -> Vec<(DeliveryId, Outcome)> {
    records.iter().map(|r| (r.id, outcome)).collect()
}
