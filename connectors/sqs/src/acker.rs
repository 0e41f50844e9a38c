//! Settlement and visibility: every received message Sluice still holds is tracked here until
//! it is settled.
//!
//! - `Ack` → `DeleteMessageBatch`, `Retry { delay }` → `ChangeMessageVisibilityBatch` with the
//!   delay as the new timeout, `Reject` → visible at once when the queue has a redrive policy
//!   (the next receive moves it to the dead-letter queue), else left to its timeout.
//! - Settling only queues the calls: a worker task sends them, ten entries per call, several
//!   calls at once, so the runner never waits on SQS.
//! - The same worker extends the visibility of every tracked message when half of its timeout
//!   has passed (up to SQS's 12-hour limit), so a slow target never lets a message reappear
//!   while it is still being delivered.
//! - SQS may deliver a message again (standard queues, or after a timeout ran out). Deletes
//!   and changes always use the latest receipt handle of a message id.

use crate::error::SqsError;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
};
use prometheus_client::metrics::counter::Counter;
use sluice_core::record::DeliveryId;
use sluice_core::source::{Acker, Outcome};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// SQS's limit on how long a message may stay invisible after its first receipt.
const MAX_INVISIBLE: Duration = Duration::from_secs(12 * 3600);
/// Settlement calls in flight at once.
const PARALLEL_CALLS: usize = 8;
/// Entries per batch call (SQS's limit).
const PER_CALL: usize = 10;
const REJECTED_CAP: usize = 10_000;

/// What to do with one message at SQS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Delete,
    /// New visibility timeout, seconds.
    Visible(i32),
}

#[derive(Debug)]
struct Op {
    handle: String,
    action: Action,
}

struct Entry {
    message_id: String,
    received: Instant,
    visible_until: Instant,
}

#[derive(Default)]
struct Tracked {
    entries: HashMap<u64, Entry>,
    /// Latest receipt handle of each message id, and how many entries share it.
    handles: HashMap<String, (String, u32)>,
}

impl Tracked {
    /// Forget one entry; its message's latest handle.
    fn take(&mut self, seq: u64) -> Option<(Entry, String)> {
        let entry = self.entries.remove(&seq)?;
        let handle = match self.handles.get_mut(&entry.message_id) {
            Some((h, refs)) if *refs > 1 => {
                *refs -= 1;
                h.clone()
            }
            _ => self
                .handles
                .remove(&entry.message_id)
                .map(|(h, _)| h)
                .unwrap_or_default(),
        };
        Some((entry, handle))
    }
}

pub(crate) struct SqsAcker {
    queue_url: String,
    /// FIFO queues: failed records are retried by the runner, not given back (see lib.rs).
    fifo: bool,
    /// FIFO message ids given up to a redrive policy: rejected again whenever they come back,
    /// until SQS moves them. At most `REJECTED_CAP` are remembered.
    rejected: Mutex<HashSet<String>>,
    tracked: Mutex<Tracked>,
    ops: mpsc::UnboundedSender<Op>,
    ops_rx: Mutex<Option<mpsc::UnboundedReceiver<Op>>>,
    /// The visibility timeout in seconds (configured, else the queue's).
    visibility: AtomicU64,
    /// The redrive policy's `maxReceiveCount`; 0 when the queue has none.
    max_receive_count: AtomicU32,
    closing: CancellationToken,
    worker: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// `sluice_ack_errors_total`: deletes and visibility changes SQS refused, or that failed
    /// after their tries (the message comes back).
    errors: std::sync::OnceLock<Counter>,
}

impl SqsAcker {
    pub(crate) fn new(queue_url: String, fifo: bool) -> Self {
        let (ops, rx) = mpsc::unbounded_channel();
        SqsAcker {
            queue_url,
            fifo,
            rejected: Mutex::new(HashSet::new()),
            tracked: Mutex::new(Tracked::default()),
            ops,
            ops_rx: Mutex::new(Some(rx)),
            visibility: AtomicU64::new(30),
            max_receive_count: AtomicU32::new(0),
            closing: CancellationToken::new(),
            worker: tokio::sync::Mutex::new(None),
            errors: std::sync::OnceLock::new(),
        }
    }

    /// Count failed settlements in the pipe's `sluice_ack_errors_total`.
    pub(crate) fn count_errors_in(&self, counter: Counter) {
        let _ = self.errors.set(counter);
    }

    fn errors(&self) -> Counter {
        self.errors.get().cloned().unwrap_or_default()
    }

    pub(crate) fn set_queue(&self, visibility_secs: u64, max_receive_count: u32) {
        self.visibility
            .store(visibility_secs.max(1), Ordering::Relaxed);
        self.max_receive_count
            .store(max_receive_count, Ordering::Relaxed);
    }

    /// A FIFO message this source gave up before: reject it again at once.
    pub(crate) fn rejected_before(&self, message_id: &str) -> bool {
        self.fifo && lock(&self.rejected).contains(message_id)
    }

    fn visibility(&self) -> Duration {
        Duration::from_secs(self.visibility.load(Ordering::Relaxed))
    }

    /// Track a received message. `asked_at` is when the receive was sent: its visibility
    /// timeout started no earlier.
    pub(crate) fn received(&self, seq: u64, message_id: String, handle: String, asked_at: Instant) {
        let mut t = lock(&self.tracked);
        match t.handles.get_mut(&message_id) {
            Some((h, refs)) => {
                *h = handle;
                *refs += 1;
            }
            None => {
                t.handles.insert(message_id.clone(), (handle, 1));
            }
        }
        t.entries.insert(
            seq,
            Entry {
                message_id,
                received: asked_at,
                visible_until: asked_at + self.visibility(),
            },
        );
    }

    /// Start the worker that sends settlements and extends visibility (once per source run).
    pub(crate) async fn start(self: &Arc<Self>, client: Client) {
        let Some(rx) = lock(&self.ops_rx).take() else {
            return;
        };
        let me = self.clone();
        *self.worker.lock().await = Some(tokio::spawn(async move { me.work(client, rx).await }));
    }

    /// Send what is queued, then stop the worker.
    pub(crate) async fn close(&self) {
        self.closing.cancel();
        if let Some(w) = self.worker.lock().await.take() {
            let _ = w.await;
        }
    }

    async fn work(self: Arc<Self>, client: Client, mut rx: mpsc::UnboundedReceiver<Op>) {
        let mut calls: JoinSet<()> = JoinSet::new();
        let mut queued: Vec<Op> = Vec::new();
        let tick =
            (self.visibility() / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
        let mut heartbeat = tokio::time::interval(tick);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut queued, 1000), if calls.len() < PARALLEL_CALLS => {
                    if n == 0 {
                        break;
                    }
                    self.send(&client, &mut queued, &mut calls);
                }
                Some(_) = calls.join_next(), if !calls.is_empty() => {}
                _ = heartbeat.tick() => self.extend(&client, &mut calls),
                _ = self.closing.cancelled() => {
                    while let Ok(op) = rx.try_recv() {
                        queued.push(op);
                    }
                    self.send(&client, &mut queued, &mut calls);
                    break;
                }
            }
        }
        while calls.join_next().await.is_some() {}
    }

    /// Group queued operations into batch calls of ten.
    fn send(&self, client: &Client, queued: &mut Vec<Op>, calls: &mut JoinSet<()>) {
        let mut deletes = Vec::new();
        let mut changes: Vec<(String, i32)> = Vec::new();
        for op in queued.drain(..) {
            match op.action {
                Action::Delete => deletes.push(op.handle),
                Action::Visible(secs) => changes.push((op.handle, secs)),
            }
        }
        for chunk in deletes.chunks(PER_CALL) {
            calls.spawn(delete(
                client.clone(),
                self.queue_url.clone(),
                chunk.to_vec(),
                self.errors(),
            ));
        }
        for chunk in changes.chunks(PER_CALL) {
            calls.spawn(change_visibility(
                client.clone(),
                self.queue_url.clone(),
                chunk.to_vec(),
                self.errors(),
            ));
        }
    }

    /// Extend the visibility of tracked messages past half their timeout.
    fn extend(&self, client: &Client, calls: &mut JoinSet<()>) {
        let step = self.visibility();
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut t = lock(&self.tracked);
            let Tracked { entries, handles } = &mut *t;
            for e in entries.values_mut() {
                if e.visible_until.saturating_duration_since(now) > step / 2 {
                    continue;
                }
                let left = MAX_INVISIBLE.saturating_sub(now - e.received);
                let next = step.min(left);
                if next.is_zero() {
                    continue;
                }
                e.visible_until = now + next;
                if let Some((h, _)) = handles.get(&e.message_id) {
                    due.push((h.clone(), next.as_secs().max(1) as i32));
                }
            }
        }
        if due.is_empty() {
            return;
        }
        debug!(messages = due.len(), "extending visibility");
        for chunk in due.chunks(PER_CALL) {
            calls.spawn(change_visibility(
                client.clone(),
                self.queue_url.clone(),
                chunk.to_vec(),
                self.errors(),
            ));
        }
    }
}

#[async_trait]
impl Acker for SqsAcker {
    async fn settle(&self, settlements: &[(DeliveryId, Outcome)]) -> usize {
        let redrive = self.max_receive_count.load(Ordering::Relaxed) > 0;
        let mut stale = 0;
        let mut t = lock(&self.tracked);
        for (id, outcome) in settlements {
            let Some((entry, handle)) = t.take(id.seq) else {
                stale += 1;
                continue;
            };
            let action = match outcome {
                Outcome::Ack => Action::Delete,
                Outcome::Retry { delay } => {
                    let left = MAX_INVISIBLE.saturating_sub(entry.received.elapsed());
                    Action::Visible(secs_ceil((*delay).min(left)))
                }
                // The next receive counts one more and moves it to the dead-letter queue.
                Outcome::Reject if redrive => {
                    if self.fifo {
                        let mut r = lock(&self.rejected);
                        if r.len() < REJECTED_CAP {
                            r.insert(entry.message_id.clone());
                        }
                    }
                    Action::Visible(0)
                }
                // No redrive policy: it stays in the queue and comes back after its timeout.
                Outcome::Reject => continue,
            };
            let _ = self.ops.send(Op { handle, action });
        }
        stale
    }

    fn broker_redelivers(&self) -> bool {
        !self.fifo
    }

    fn attempt_limit(&self) -> Option<u32> {
        match self.max_receive_count.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }
}

fn secs_ceil(d: Duration) -> i32 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(s).unwrap_or(i32::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave this map half-updated in a way that matters more than
    // losing settlements would.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Calls are tried a few times: a failed delete means a duplicate delivery later.
const TRIES: u32 = 3;

async fn delete(client: Client, queue_url: String, handles: Vec<String>, errors: Counter) {
    let entries: Vec<_> = handles
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(h)
                .build()
                .ok()
        })
        .collect();
    let call = || async {
        client
            .delete_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries.clone()))
            .send()
            .await
            .map(|out| out.failed)
            .map_err(|e| SqsError::from_sdk("DeleteMessageBatch", e))
    };
    let failed = with_tries(call, handles.len(), &errors).await;
    errors.inc_by(failed.len() as u64);
    for f in failed {
        warn!(code = %f.code, message = f.message().unwrap_or_default(), "sqs delete failed for one message; it will be delivered again");
    }
}

async fn change_visibility(
    client: Client,
    queue_url: String,
    changes: Vec<(String, i32)>,
    errors: Counter,
) {
    let entries: Vec<_> = changes
        .iter()
        .enumerate()
        .filter_map(|(i, (h, secs))| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(h)
                .visibility_timeout(*secs)
                .build()
                .ok()
        })
        .collect();
    let call = || async {
        client
            .change_message_visibility_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries.clone()))
            .send()
            .await
            .map(|out| out.failed)
            .map_err(|e| SqsError::from_sdk("ChangeMessageVisibilityBatch", e))
    };
    let failed = with_tries(call, changes.len(), &errors).await;
    errors.inc_by(failed.len() as u64);
    for f in failed {
        debug!(code = %f.code, message = f.message().unwrap_or_default(), "sqs visibility change failed for one message");
    }
}

/// Run a batch call up to `TRIES` times; its per-entry failures, none if it never got through
/// (that is logged here and counted in `errors`).
async fn with_tries<F, Fut>(
    call: F,
    messages: usize,
    errors: &Counter,
) -> Vec<BatchResultErrorEntry>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<BatchResultErrorEntry>, SqsError>>,
{
    for attempt in 1..=TRIES {
        match call().await {
            Ok(failed) => return failed,
            Err(e) if attempt == TRIES => {
                errors.inc_by(messages as u64);
                warn!(error = %e, messages, "sqs call failed; messages not deleted are delivered again");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await,
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_handle_wins_and_is_shared() {
        let a = SqsAcker::new("q".into(), false);
        let now = Instant::now();
        a.received(1, "m".into(), "h1".into(), now);
        a.received(2, "m".into(), "h2".into(), now);
        let mut t = lock(&a.tracked);
        assert_eq!(t.take(1).map(|(_, h)| h).as_deref(), Some("h2"));
        assert_eq!(t.take(2).map(|(_, h)| h).as_deref(), Some("h2"));
        assert!(t.take(2).is_none());
        assert!(t.handles.is_empty());
    }

    #[tokio::test]
    async fn settling_twice_is_stale() {
        let a = SqsAcker::new("q".into(), false);
        a.received(1, "m".into(), "h".into(), Instant::now());
        let id = DeliveryId { epoch: 1, seq: 1 };
        assert_eq!(a.settle(&[(id, Outcome::Ack)]).await, 0);
        assert_eq!(a.settle(&[(id, Outcome::Ack)]).await, 1);
        assert_eq!(secs_ceil(Duration::from_millis(1500)), 2);
    }
}
