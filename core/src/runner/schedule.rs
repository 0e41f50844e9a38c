//! Starting deliveries and holding retries: up to `concurrency` delivery tasks, the oldest
//! ready batch first (for ordered pipes, the oldest whose groups are free), records of a lost
//! connection left out, and retries held until their backoff is over, bounded in count and
//! in bytes.

use super::{Dest, Done, InFlight, Job, Runner, body_bytes, oldest, order, panic_message};
use crate::record::Record;
use crate::sink::SinkError;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{Instrument, info_span};

impl Runner {
    /// Whether held records reached their bound in count or bytes: then nothing new is taken.
    pub(super) fn holding_full(&self) -> bool {
        self.held >= self.hold_cap || self.held_bytes >= self.hold_bytes_cap
    }

    /// Start ready jobs while there are free slots.
    pub(super) fn dispatch(&mut self) {
        if self.draining {
            return;
        }
        while self.tasks.len() < self.pipe.settings.concurrency {
            let Some(mut job) = self.next_job() else {
                break;
            };
            if let Some(epoch) = self.acker.live_epoch()
                && job.records.iter().any(|r| r.id.epoch != epoch)
            {
                // Their connection is gone and the broker redelivers them. Not a settlement,
                // so not counted as stale: they simply leave the pipe.
                let before = job.records.len();
                job.records.retain(|r| r.id.epoch == epoch);
                let left = before - job.records.len();
                self.pipe.metrics.source_inflight.dec_by(left as i64);
                tracing::debug!(
                    records = left,
                    "records of a lost connection left to the broker"
                );
                if job.records.is_empty() {
                    continue;
                }
            }
            if job.dest == Dest::DeadLetter && self.pipe.dead_letter.is_none() {
                continue;
            }
            if job.dest == Dest::Target {
                self.pipe
                    .metrics
                    .batch_messages
                    .observe(job.records.len() as f64);
            }
            let span = info_span!("batch", records = job.records.len(), dest = ?job.dest);
            let oldest = oldest(&job.records);
            let ids = job.records.iter().map(|r| r.id).collect();
            let groups = if self.pipe.settings.ordered && job.dest == Dest::Target {
                order::groups(&job.records)
            } else {
                Vec::new()
            };
            for g in &groups {
                *self.busy.entry(g.clone()).or_default() += 1;
            }
            let stages = self.stages.clone();
            let handle = self.tasks.spawn(
                async move {
                    use futures_util::FutureExt;
                    let started = Instant::now();
                    let call = stages.deliver(job.dest, &job.records);
                    // A connector that panics on some input fails this batch (an attempt),
                    // rather than losing track of its records.
                    let result = std::panic::AssertUnwindSafe(call)
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|p| {
                            Err(SinkError::Failed(format!(
                                "the connector panicked: {}",
                                panic_message(p)
                            )))
                        });
                    Done {
                        dest: job.dest,
                        records: job.records,
                        result,
                        elapsed: started.elapsed(),
                    }
                }
                .instrument(span),
            );
            self.inflight.insert(
                handle.id(),
                InFlight {
                    oldest,
                    groups,
                    ids,
                },
            );
        }
        self.pipe.metrics.inflight.set(self.tasks.len() as i64);
    }

    /// The next job that may start: the oldest, or for ordered pipes the oldest whose groups
    /// are neither in flight nor held by an older job.
    fn next_job(&mut self) -> Option<Job> {
        if !self.pipe.settings.ordered {
            return self.ready.pop_front();
        }
        let i = order::first_free(&self.ready, &self.busy, self.retries.values())?;
        self.ready.remove(i)
    }

    /// A batch is no longer in flight.
    pub(super) fn finished(&mut self, id: tokio::task::Id) {
        let Some(f) = self.inflight.remove(&id) else {
            return;
        };
        for g in f.groups {
            if let Some(n) = self.busy.get_mut(&g) {
                *n -= 1;
                if *n == 0 {
                    self.busy.remove(&g);
                }
            }
        }
    }

    pub(super) fn release_retries(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = self.retries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        // Ahead of newer records: retried records are older than anything waiting.
        for job in due.into_iter().rev() {
            self.held -= job.records.len();
            self.held_bytes -= body_bytes(&job.records);
            self.ready.push_front(job);
        }
    }

    pub(super) fn schedule(&mut self, dest: Dest, records: Vec<Record>, delay: Duration) {
        if records.is_empty() {
            return;
        }
        self.retry_seq += 1;
        self.held += records.len();
        self.held_bytes += body_bytes(&records);
        // Delays are capped by validation; this also survives an absurd one.
        let now = Instant::now();
        let at = now
            .checked_add(delay)
            .unwrap_or(now + self.pipe.settings.backoff_max);
        self.retries
            .insert((at, self.retry_seq), Job { dest, records });
    }
}
