//! The pipe runner: one task that owns a pipe's records from receipt to settlement.
//!
//! ```text
//!  Source::run ──records──▶ [pending batch] ──▶ ready ──▶ Sink::deliver (≤ concurrency tasks)
//!                                ▲                 ▲              │
//!                                │                 └── retries ◀──┤ failed (backoff)
//!                                │                                ├─▶ Acker: Ack
//!                      batch.size / window / max_bytes            └─▶ dead_letter sink or Reject
//! ```
//!
//! Everything is bounded: the channel from the source, one batch being filled, one batch
//! waiting for a slot, `concurrency` batches in flight. When the pipe is full it stops reading
//! the channel, the source stops receiving, and the broker's prefetch holds the rest.
//!
//! Failed records are held here and delivered again after a backoff (only the failed ones);
//! the broker still holds them unacknowledged, so a crash loses nothing. After
//! `retry.max_attempts` deliveries a record goes to the dead-letter sink, or is rejected to the
//! broker's own dead-letter path. A broker that counts deliveries itself gets failed
//! records back at once, with the backoff as their delay, and its own count decides.
//!
//! A target that cannot be reached at all (refused, reset, DNS, TLS: no response) is not an
//! attempt: its records are held and tried again with capped backoff until it answers, and
//! the pipe is not ready meanwhile. A delivery task that panics counts as a failed attempt.
//! Held records are bounded in count and in bytes; while either bound is reached nothing new
//! is taken, so the broker's prefetch holds the rest.
//!
//! Files, by responsibility: filling batches in `batcher.rs`; starting deliveries, holding
//! retries and bounding what is held in `schedule.rs`; what a finished delivery leads to, and
//! the one settlement path (stale, acked and age metrics), in `settle.rs`; stopping within the
//! shutdown timeout in `drain.rs`. Ordered pipes (message groups, as in FIFO queues) keep each
//! group's order: see `order.rs`. What arrives from the source is counted once, as it arrives
//! (`on_records`).
//!
//! A `filter` is applied as records arrive: a record no pattern matches is acknowledged at
//! once (in one settlement per wake-up) and counted in `sluice_filtered_messages_total`. An
//! enrichment, the input template and the rate limit run inside the delivery task, before
//! the target (`deliver.rs`); with `on_filtered: dead_letter` filtered records go to the
//! dead-letter destination instead of being acknowledged.

mod batcher;
mod deliver;
mod drain;
use drain::source_ended;
mod order;
mod schedule;
mod settle;

use batcher::{Added, Batcher};
use deliver::Stages;
use settle::Settle;

use crate::config::LogConfig;
use crate::enrich::Enricher;
use crate::event::Envelope;
use crate::execlog::{Detail, ExecLog, Step};
use crate::limit::RateLimiter;
use crate::metrics::PipeMetrics;
use crate::pattern::{Filter, FlatEvent};
use crate::record::{Record, now_ms};
use crate::sink::{Sink, SinkError, SinkOutcome};
use crate::source::{Acker, Outcome, Source, SourceContext};
use crate::status::{PipeStatus, Reason, State};
use crate::template::TemplateStage;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

/// Resolved settings of one pipe (defaults applied, validated).
#[derive(Clone, Debug)]
pub struct PipeSettings {
    /// Records per batch (`batch.size`).
    pub batch_size: usize,
    /// How long a batch waits to fill (`batch.window`).
    pub window: Duration,
    /// Largest event in bytes (`batch.max_bytes`).
    pub max_bytes: usize,
    /// Batches in flight at once (`concurrency`).
    pub concurrency: usize,
    /// 0 = unlimited.
    pub max_attempts: u32,
    /// First retry delay (`retry.backoff.initial`).
    pub backoff_initial: Duration,
    /// Longest retry delay (`retry.backoff.max`).
    pub backoff_max: Duration,
    /// Keep the order of each `meta.group_id`: one batch per group in flight, and a failed
    /// record holds back its group's successors in the batch (FIFO queues).
    pub ordered: bool,
}

/// How [`Pipe::run`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PipeExit {
    /// `stop` was cancelled and the pipe drained.
    Stopped,
    /// The pipe stopped by itself (its source task failed or panicked): it drained what it
    /// could and closed its connections; the caller restarts it.
    Failed(String),
}

/// Bytes of held records (retries, throttled and unreachable batches) above which no new
/// records are taken, unless the pipe's own batches need more (`2 x max_bytes x
/// concurrency`, capped at [`HOLD_BYTES_MAX`]).
const HOLD_BYTES_MIN: usize = 64 * 1024 * 1024;
const HOLD_BYTES_MAX: usize = 512 * 1024 * 1024;

/// Pipes without a window send records at once when nothing arrived for this long before them;
/// records closer together wait for the timer's next tick (up to a millisecond), which batches
/// a busy flow.
const SPARSE_AFTER: Duration = Duration::from_micros(500);

/// A pipe ready to run: connectors built, nothing connected yet.
pub struct Pipe {
    /// The pipe's name.
    pub name: Arc<str>,
    /// Where records come from.
    pub source: Arc<dyn Source>,
    /// Where batches go.
    pub sink: Arc<dyn Sink>,
    /// Where given-up records go; none: the broker's own dead-letter path.
    pub dead_letter: Option<Arc<dyn Sink>>,
    /// Records go on only when a pattern matches.
    pub filter: Option<Arc<Filter>>,
    /// Called once per batch before the target.
    pub enricher: Option<Arc<dyn Enricher>>,
    /// How records are wrapped into events (for `batch.max_bytes`).
    pub envelope: Envelope,
    /// Batching, concurrency and retry settings.
    pub settings: PipeSettings,
    /// The pipe's metric handles.
    pub metrics: PipeMetrics,
    /// The pipe's state, as `/pipes` shows it.
    pub status: Arc<PipeStatus>,
    /// Input template, rate limit, execution log, what happens to filtered records.
    pub options: PipeOptions,
}

/// What a pipe may add on the way to its target (all off by default).
#[derive(Clone, Debug, Default)]
pub struct PipeOptions {
    /// `input_template`: each record reshaped before the target.
    pub template: Option<Arc<TemplateStage>>,
    /// `rate_limit`: at most this many records a second to the target.
    pub rate_limit: Option<u32>,
    /// `log`: the execution log.
    pub log: LogConfig,
    /// `on_filtered: dead_letter`: records no pattern matches go to the dead-letter
    /// destination instead of being acknowledged (a selective redrive keeps the rest).
    pub filtered_to_dead_letter: bool,
}

/// Which sink a job goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    Target,
    DeadLetter,
}

struct Job {
    dest: Dest,
    records: Vec<Record>,
}

/// What the runner remembers of a batch in flight.
struct InFlight {
    /// Oldest `born_ms`, for `sluice_oldest_message_age_seconds`.
    oldest: Option<u64>,
    /// Its message groups (ordered pipes only).
    groups: Vec<String>,
    /// Its records' ids: a batch abandoned at the shutdown timeout is handed back to the
    /// broker by these (a broker that can makes them deliverable again at once).
    ids: Vec<crate::record::DeliveryId>,
}

struct Done {
    dest: Dest,
    records: Vec<Record>,
    result: Result<SinkOutcome, SinkError>,
    elapsed: Duration,
}

impl Pipe {
    /// Run until `stop` is cancelled, then drain: stop receiving, finish the batches in flight
    /// within `shutdown_timeout`, settle, close the source. The whole drain, closing included,
    /// takes at most `shutdown_timeout`.
    pub async fn run(self, stop: CancellationToken, shutdown_timeout: Duration) -> PipeExit {
        let span = info_span!("pipe", pipe = %self.name);
        Runner::new(self)
            .run(stop, shutdown_timeout)
            .instrument(span)
            .await
    }
}

struct Runner {
    pipe: Pipe,
    /// What each delivery task runs.
    stages: Arc<Stages>,
    log: Arc<ExecLog>,
    acker: Arc<dyn Acker>,
    batcher: Batcher,
    ready: VecDeque<Job>,
    retries: BTreeMap<(Instant, u64), Job>,
    retry_seq: u64,
    /// Records in `retries`; while it is at `hold_cap` (or their bytes at `hold_bytes_cap`) no
    /// new records are taken.
    held: usize,
    hold_cap: usize,
    held_bytes: usize,
    hold_bytes_cap: usize,
    /// Target calls in a row that got no response at all (backoff for the next one).
    unreachable: u32,
    tasks: JoinSet<Done>,
    inflight: HashMap<tokio::task::Id, InFlight>,
    /// Message groups with a batch in flight (ordered pipes only).
    busy: HashMap<String, usize>,
    last_received_ms: Option<u64>,
    draining: bool,
    /// Reused by the filter for every record.
    flat: FlatEvent,
    /// Filtered-out records waiting for their acknowledgement.
    filtered: Vec<(crate::record::DeliveryId, Outcome)>,
    /// Filtered-out records bound for the dead-letter destination (`on_filtered`).
    filtered_out: Vec<Record>,
    /// When records last arrived, and whether the last arrival came after a quiet spell
    /// (pipes without a window send such records at once).
    last_arrival: Instant,
    sparse: bool,
}

impl Runner {
    fn new(pipe: Pipe) -> Self {
        let acker = pipe.source.acker();
        let rate_cap = pipe
            .options
            .rate_limit
            .map_or(usize::MAX, RateLimiter::batch_cap);
        let batch_cap = pipe
            .settings
            .batch_size
            .min(pipe.sink.max_batch())
            .min(rate_cap)
            .max(1);
        let log = Arc::new(ExecLog::new(&pipe.name, &pipe.options.log));
        let stages = Arc::new(Stages {
            target: pipe.sink.clone(),
            dead_letter: pipe.dead_letter.clone(),
            enricher: pipe.enricher.clone(),
            template: pipe.options.template.clone(),
            limiter: pipe.options.rate_limit.map(RateLimiter::new),
            log: log.clone(),
            metrics: pipe.metrics.clone(),
        });
        Runner {
            stages,
            log,
            acker,
            batcher: Batcher::new(
                pipe.envelope.clone(),
                batch_cap,
                pipe.settings.max_bytes,
                pipe.settings.window,
            ),
            ready: VecDeque::new(),
            retries: BTreeMap::new(),
            retry_seq: 0,
            held: 0,
            hold_cap: 2 * batch_cap * pipe.settings.concurrency.max(1),
            held_bytes: 0,
            hold_bytes_cap: pipe
                .settings
                .max_bytes
                .saturating_mul(2 * pipe.settings.concurrency.max(1))
                .clamp(HOLD_BYTES_MIN, HOLD_BYTES_MAX),
            unreachable: 0,
            tasks: JoinSet::new(),
            inflight: HashMap::new(),
            busy: HashMap::new(),
            last_received_ms: None,
            draining: false,
            flat: FlatEvent::new(),
            filtered: Vec::new(),
            filtered_out: Vec::new(),
            last_arrival: Instant::now(),
            sparse: false,
            pipe,
        }
    }

    async fn run(mut self, stop: CancellationToken, shutdown_timeout: Duration) -> PipeExit {
        let p = &self.pipe;
        p.status.set_state(State::Enabling, Reason::UserInitiated);
        // Room for one batch in the channel: enough to keep the batcher busy, small enough
        // that a stopped pipe holds little outside the broker's prefetch.
        let (tx, mut rx) = mpsc::channel(self.batcher.cap().clamp(16, 1024));
        let receive_stop = stop.child_token();
        let ctx = SourceContext {
            metrics: p.metrics.clone(),
            status: p.status.clone(),
        };
        p.sink.start();
        p.status.set_target(p.sink.clone());
        if let Some(d) = &p.dead_letter {
            d.start();
        }
        let source = p.source.clone();
        let rs = receive_stop.clone();
        let mut receiver = tokio::spawn(
            async move { source.run(tx, ctx, rs).await }.instrument(tracing::Span::current()),
        );
        p.status.set_state(State::Enabled, Reason::UserInitiated);
        info!(source = %p.source.describe(), target = %p.sink.describe(), "pipe started");

        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut received = Vec::with_capacity(self.batcher.cap());
        let mut exit = PipeExit::Stopped;
        let no_window = self.pipe.settings.window.is_zero();
        loop {
            // No window and a sparse flow (nothing arrived for a while before this): the batch
            // goes now rather than at the timer's next tick, up to a millisecond later. A busy
            // flow waits for the tick, so batches grow with the load instead of going out a
            // record at a time.
            if no_window && self.sparse && self.ready.is_empty() {
                self.sparse = false;
                self.close_batch();
            }
            self.dispatch();
            let accept = self.ready.is_empty() && self.batcher.room() > 0 && !self.holding_full();
            let deadline = self.batcher.deadline();
            let next_retry = self.retries.keys().next().map(|(t, _)| *t);
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.pipe.metrics.inflight.set(self.tasks.len() as i64);
                    match done {
                        Ok((id, done)) => {
                            self.finished(id);
                            self.on_done(done).await
                        }
                        // Only an abort ends a delivery task this way (panics are caught inside).
                        Err(e) => self.finished(e.id()),
                    }
                }
                // The source stopped receiving by itself: a panic or a bug, never a broker
                // problem (those are retried inside the source).
                ended = &mut receiver => {
                    exit = source_ended(ended);
                    break;
                }
                // Everything already queued in one wake-up, up to the room in the batch.
                n = rx.recv_many(&mut received, self.batcher.room()), if accept => {
                    self.on_records(&mut received).await;
                    if n == 0 {
                        // The sender is gone, so the receiver task has ended: let its branch
                        // say how.
                        exit = source_ended((&mut receiver).await);
                        break;
                    }
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => self.close_batch(),
                _ = sleep_until(next_retry.unwrap_or_else(Instant::now)), if next_retry.is_some() => self.release_retries(),
                _ = tick.tick() => self.report(),
            }
        }

        receive_stop.cancel();
        let exit = self.drain(exit, receiver, rx, shutdown_timeout).await;
        self.pipe.sink.stop();
        if let Some(d) = &self.pipe.dead_letter {
            d.stop();
        }
        exit
    }

    /// Records from the source, as many as one wake-up took: counted once, here, then
    /// filtered and batched.
    async fn on_records(&mut self, received: &mut Vec<Record>) {
        let m = &self.pipe.metrics;
        m.source_messages.inc_by(received.len() as u64);
        m.source_bytes.inc_by(body_bytes(received) as u64);
        m.source_inflight.inc_by(received.len() as i64);
        let now = Instant::now();
        self.sparse = now.duration_since(self.last_arrival) >= SPARSE_AFTER;
        self.last_arrival = now;
        self.log.step(
            Step::Received,
            Detail {
                records: received.len(),
                ..Detail::default()
            },
        );
        for r in received.drain(..) {
            self.on_record(r).await;
        }
        self.ack_filtered().await;
    }

    /// One record from the source.
    async fn on_record(&mut self, record: Record) {
        if let Some(filter) = &self.pipe.filter
            && !filter.accepts(&record, &mut self.flat)
        {
            if self.pipe.options.filtered_to_dead_letter && self.pipe.dead_letter.is_some() {
                self.filtered_out.push(record);
            } else {
                self.filtered.push((record.id, Outcome::Ack));
            }
            return;
        }
        self.last_received_ms = Some(record.born_ms());
        match self.batcher.add(record) {
            Added::Oversize(record) => {
                let mut record = *record;
                self.pipe.metrics.dropped_oversize.inc();
                warn!(
                    bytes = record.body.len(),
                    max_bytes = self.pipe.settings.max_bytes,
                    "record larger than batch.max_bytes on its own: sent to the dead-letter path"
                );
                record.last_error = Some("oversize: larger than batch.max_bytes".into());
                self.give_up(vec![record], false).await;
            }
            Added::Pending { closed } => {
                if let Some(batch) = closed {
                    self.enqueue(batch);
                }
                if self.batcher.full() {
                    self.close_batch();
                }
            }
        }
    }

    /// Acknowledge what the filter dropped, in one settlement (or, with `on_filtered:
    /// dead_letter`, send it to the dead-letter destination, which acknowledges it once
    /// confirmed).
    async fn ack_filtered(&mut self) {
        if !self.filtered_out.is_empty() {
            let out = std::mem::take(&mut self.filtered_out);
            self.pipe.metrics.filtered.inc_by(out.len() as u64);
            self.log.step(
                Step::Filtered,
                Detail {
                    records: out.len(),
                    destination: Some("dead_letter"),
                    ..Detail::default()
                },
            );
            self.queue_dead_letters(out);
        }
        if self.filtered.is_empty() {
            return;
        }
        let filtered = std::mem::take(&mut self.filtered);
        self.log.step(
            Step::Filtered,
            Detail {
                records: filtered.len(),
                ..Detail::default()
            },
        );
        self.settle(Settle::Filtered(&filtered)).await;
        self.filtered = filtered;
        self.filtered.clear();
    }

    fn close_batch(&mut self) {
        if let Some(batch) = self.batcher.close() {
            self.enqueue(batch);
        }
    }

    fn enqueue(&mut self, records: Vec<Record>) {
        self.ready.push_back(Job {
            dest: Dest::Target,
            records,
        });
    }

    /// Once a second: the age of the oldest record held; with nothing held, of the last one
    /// received while the broker reports a backlog (the queue's head is at least about that
    /// old), and 0 once the source is drained, so an idle pipe does not age.
    /// Sampling what is held is cheaper than tracking every record as it moves.
    fn report(&mut self) {
        let waiting = self.pipe.metrics.backlog.get() > 0;
        let held = oldest(self.batcher.pending())
            .into_iter()
            .chain(self.ready.iter().filter_map(|j| oldest(&j.records)))
            .chain(self.retries.values().filter_map(|j| oldest(&j.records)))
            .chain(self.inflight.values().filter_map(|f| f.oldest))
            .min()
            .or(self.last_received_ms.filter(|_| waiting));
        let age = held.map_or(0.0, |b| now_ms().saturating_sub(b) as f64 / 1000.0);
        self.pipe.metrics.oldest_age.set(age);
    }
}

/// The earliest `born_ms` of a batch.
fn oldest(records: &[Record]) -> Option<u64> {
    records.iter().map(Record::born_ms).min()
}

fn body_bytes(records: &[Record]) -> usize {
    records.iter().map(|r| r.body.len()).sum()
}

/// The text of a panic's payload, for logs and `last_processing_result`.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[cfg(test)]
mod tests;
