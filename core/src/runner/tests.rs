//! Runner behaviour with paused tokio time: no real waiting, deterministic windows and backoff.

use super::*;
use crate::event::Format;
use crate::testkit::{GROUPED_SHAPE, MemorySource, ScriptedSink, record};
use std::sync::atomic::{AtomicUsize, Ordering};

fn settings() -> PipeSettings {
    PipeSettings {
        batch_size: 100,
        window: Duration::from_millis(500),
        max_bytes: 6 * 1024 * 1024,
        concurrency: 1,
        max_attempts: 3,
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(10),
        ordered: false,
    }
}

struct Harness {
    source: Arc<MemorySource>,
    feed: mpsc::UnboundedSender<Record>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<PipeExit>,
    status: Arc<PipeStatus>,
    metrics: PipeMetrics,
}

fn start(
    settings: PipeSettings,
    sink: Arc<dyn Sink>,
    dead_letter: Option<Arc<ScriptedSink>>,
) -> Harness {
    let (source, feed) = MemorySource::new();
    start_with(source, feed, settings, sink, dead_letter)
}

fn start_with(
    source: Arc<MemorySource>,
    feed: mpsc::UnboundedSender<Record>,
    settings: PipeSettings,
    sink: Arc<dyn Sink>,
    dead_letter: Option<Arc<ScriptedSink>>,
) -> Harness {
    let status = Arc::new(PipeStatus::default());
    let metrics = PipeMetrics::detached("t");
    let pipe = Pipe {
        name: "t".into(),
        source: source.clone(),
        sink,
        dead_letter: dead_letter.map(|d| d as Arc<dyn Sink>),
        filter: None,
        enricher: None,
        envelope: Envelope::new(GROUPED_SHAPE, Format::Lambda, "arn"),
        settings,
        metrics: metrics.clone(),
        status: status.clone(),
        options: Default::default(),
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(pipe.run(stop.clone(), Duration::from_secs(30)));
    Harness {
        source,
        feed,
        stop,
        task,
        status,
        metrics,
    }
}

impl Harness {
    fn send(&self, range: std::ops::Range<u64>) {
        for n in range {
            self.feed.send(record(n)).unwrap();
        }
    }

    /// Let virtual time run until `cond` holds (paused time advances only when all is idle).
    async fn until(&self, what: &str, cond: impl Fn() -> bool) {
        for _ in 0..100_000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never happened: {what}");
    }

    fn acked(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .source
            .acker
            .outcomes()
            .into_iter()
            .filter(|(_, o)| *o == Outcome::Ack)
            .map(|(n, _)| n)
            .collect();
        v.sort();
        v
    }

    fn outcomes_of(&self, want: fn(&Outcome) -> bool) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .source
            .acker
            .outcomes()
            .into_iter()
            .filter(|(_, o)| want(o))
            .map(|(n, _)| n)
            .collect();
        v.sort();
        v
    }

    async fn shutdown(self) {
        self.stop.cancel();
        assert_eq!(self.task.await.unwrap(), PipeExit::Stopped);
    }
}

#[tokio::test(start_paused = true)]
async fn batches_by_size_then_window() {
    let sink = ScriptedSink::ok();
    let h = start(settings(), sink.clone(), None);
    let t0 = Instant::now();
    h.send(0..250);
    h.until("all acked", || h.acked().len() == 250).await;
    let sizes: Vec<usize> = sink.batches().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    // The last, partial batch waited for its window.
    assert!(t0.elapsed() >= Duration::from_millis(500));
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn one_record_waits_for_the_window_and_zero_window_sends_at_once() {
    let sink = ScriptedSink::ok();
    let h = start(settings(), sink.clone(), None);
    let t0 = Instant::now();
    h.send(0..1);
    h.until("acked", || h.acked().len() == 1).await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_millis(600),
        "{waited:?}"
    );
    h.shutdown().await;

    let sink = ScriptedSink::ok();
    let h = start(
        PipeSettings {
            window: Duration::ZERO,
            ..settings()
        },
        sink.clone(),
        None,
    );
    let t0 = Instant::now();
    h.send(0..1);
    h.until("acked", || h.acked().len() == 1).await;
    assert!(t0.elapsed() < Duration::from_millis(50));
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn max_bytes_splits_batches_and_oversize_goes_to_dead_letter() {
    let sink = ScriptedSink::ok();
    let dlq = ScriptedSink::ok();
    let env = Envelope::new(GROUPED_SHAPE, Format::Lambda, "arn");
    // Room for exactly three records of this size.
    let max = env.size(&[record(10), record(11), record(12)]);
    let h = start(
        PipeSettings {
            max_bytes: max,
            ..settings()
        },
        sink.clone(),
        Some(dlq.clone()),
    );
    h.send(10..17);
    let mut huge = record(99);
    huge.event = bytes::Bytes::from(vec![b' '; max + 1]);
    h.feed.send(huge).unwrap();
    h.until("all acked", || h.acked().len() == 8).await;
    for b in sink.batches() {
        assert!(b.len() <= 3, "{b:?}");
    }
    assert_eq!(sink.batches().concat().len(), 7);
    assert_eq!(dlq.batches(), vec![vec![99]]);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn partial_failure_retries_only_failed_records_then_rejects() {
    // Records 3 and 5 always fail; the rest succeed.
    let sink = ScriptedSink::new(|batch| {
        let failed = batch
            .iter()
            .enumerate()
            .filter(|(_, r)| r.id.seq == 3 || r.id.seq == 5)
            .map(|(i, _)| i)
            .collect();
        Ok(SinkOutcome::Partial { failed })
    });
    let h = start(settings(), sink.clone(), None);
    h.send(0..10);
    let rejected = || {
        h.source
            .acker
            .outcomes()
            .into_iter()
            .filter(|(_, o)| *o == Outcome::Reject)
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    h.until("two rejected", || rejected().len() == 2).await;
    let batches = sink.batches();
    assert_eq!(batches[0].len(), 10);
    // max_attempts 3: the first delivery and two retries of just the failed pair.
    assert_eq!(&batches[1..], &[vec![3, 5], vec![3, 5]]);
    assert_eq!(h.acked(), vec![0, 1, 2, 4, 6, 7, 8, 9]);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn given_up_records_go_to_dead_letter_and_are_acked_after_it_confirms() {
    let sink = ScriptedSink::new(|_| Err(SinkError::Failed("500".into())));
    let dlq_calls = Arc::new(AtomicUsize::new(0));
    let calls = dlq_calls.clone();
    // The dead-letter destination fails once, then confirms.
    let dlq = ScriptedSink::new(move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(SinkError::Connection("down".into()))
        } else {
            Ok(SinkOutcome::Delivered)
        }
    });
    let h = start(settings(), sink.clone(), Some(dlq.clone()));
    h.send(0..2);
    h.until("acked after dead letter", || h.acked().len() == 2)
        .await;
    assert_eq!(sink.batches().len(), 3);
    assert_eq!(dlq.batches(), vec![vec![0, 1], vec![0, 1]]);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn throttling_is_not_an_attempt_and_honours_retry_after() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let sink = ScriptedSink::new(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) < 5 {
            Err(SinkError::Throttled {
                retry_after: Some(Duration::from_secs(7)),
            })
        } else {
            Ok(SinkOutcome::Delivered)
        }
    });
    let h = start(
        PipeSettings {
            window: Duration::ZERO,
            ..settings()
        },
        sink.clone(),
        None,
    );
    let t0 = Instant::now();
    h.send(0..1);
    h.until("acked", || h.acked().len() == 1).await;
    // Five throttles with max_attempts 3, and still delivered, 5 x 7s later.
    assert_eq!(sink.batches().len(), 6);
    assert!(t0.elapsed() >= Duration::from_secs(35));
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn concurrency_bounds_batches_in_flight() {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    struct Slow(Arc<AtomicUsize>, Arc<AtomicUsize>);
    #[async_trait::async_trait]
    impl Sink for Slow {
        async fn deliver(&self, _: &[Record]) -> Result<SinkOutcome, SinkError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            self.1.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.0.fetch_sub(1, Ordering::SeqCst);
            Ok(SinkOutcome::Delivered)
        }
        fn describe(&self) -> String {
            "slow".into()
        }
    }
    let h = start(
        PipeSettings {
            batch_size: 10,
            concurrency: 3,
            ..settings()
        },
        Arc::new(Slow(now.clone(), peak.clone())),
        None,
    );
    h.send(0..200);
    h.until("all acked", || h.acked().len() == 200).await;
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_finishes_in_flight_batches_and_releases_the_rest() {
    struct Gate(tokio::sync::Semaphore);
    #[async_trait::async_trait]
    impl Sink for Gate {
        async fn deliver(&self, _: &[Record]) -> Result<SinkOutcome, SinkError> {
            let _p = self.0.acquire().await;
            Ok(SinkOutcome::Delivered)
        }
        fn describe(&self) -> String {
            "gate".into()
        }
    }
    let gate = Arc::new(Gate(tokio::sync::Semaphore::new(0)));
    let h = start(
        PipeSettings {
            batch_size: 5,
            ..settings()
        },
        gate.clone(),
        None,
    );
    h.send(0..12);
    // Let the first batch start; the gate holds it in flight.
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.stop.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.0.add_permits(100);
    h.task.await.unwrap();
    let outcomes = h.source.acker.outcomes();
    let acked: Vec<u64> = outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Ack)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        acked,
        vec![0, 1, 2, 3, 4],
        "the batch in flight finished and was acked"
    );
    // Every other record the runner held was handed back, none acked.
    assert!(
        outcomes
            .iter()
            .all(|(n, o)| *n < 5 || matches!(o, Outcome::Retry { .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn ordered_pipes_hold_a_failed_records_group_back_with_it() {
    let failed_once = std::sync::atomic::AtomicBool::new(false);
    let sink = ScriptedSink::new(
        move |batch| match batch.iter().position(|r| r.id.seq == 1) {
            Some(i) if !failed_once.swap(true, Ordering::Relaxed) => {
                Ok(SinkOutcome::Partial { failed: vec![i] })
            }
            _ => Ok(SinkOutcome::Delivered),
        },
    );
    let h = start(
        PipeSettings {
            batch_size: 3,
            window: Duration::ZERO,
            concurrency: 2,
            ordered: true,
            ..settings()
        },
        sink.clone(),
        None,
    );
    for (n, g) in [(0, "a"), (1, "a"), (2, "b"), (3, "a"), (4, "b"), (5, "a")] {
        let mut r = record(n);
        r.meta.group_id = Some(g.into());
        h.feed.send(r).unwrap();
    }
    h.until("all acked", || h.acked().len() == 6).await;
    // The second batch shares groups with the first, so it waited; record 1 failed, so its
    // group's successors 3 and 5 left that batch and went again with it, in order.
    assert_eq!(sink.batches(), vec![vec![0, 1, 2], vec![4], vec![1, 3, 5]]);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_target_is_not_an_attempt_and_the_pipe_is_not_ready_meanwhile() {
    // The target refuses connections for ten minutes of (virtual) time, then answers.
    let t0 = Instant::now();
    let sink = ScriptedSink::new(move |_| {
        if t0.elapsed() < Duration::from_secs(600) {
            Err(SinkError::Connection("connection refused".into()))
        } else {
            Ok(SinkOutcome::Delivered)
        }
    });
    let h = start(settings(), sink.clone(), None);
    h.send(0..10);
    h.until("target seen down", || !h.status.target_reachable())
        .await;
    assert!(
        !h.status.ready(),
        "an unreachable target makes the pipe not ready"
    );
    h.until("all acked", || h.acked().len() == 10).await;
    // Far more calls than max_attempts (3), nothing given up, nothing counted as failed.
    assert!(sink.batches().len() > 3, "{}", sink.batches().len());
    assert!(h.outcomes_of(|o| *o == Outcome::Reject).is_empty());
    assert_eq!(h.metrics.failed.get(), 0);
    assert_eq!(h.metrics.retried.get(), 0);
    assert!(h.metrics.target_conn_errors.get() > 3);
    assert!(h.status.target_reachable() && h.status.ready());
    // Backoff between calls is capped at 30s: the last wait before recovery was short.
    assert!(
        t0.elapsed() < Duration::from_secs(600 + 31),
        "{:?}",
        t0.elapsed()
    );
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_huge_retry_after_is_capped_at_backoff_max() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let sink = ScriptedSink::new(move |_| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(SinkError::Throttled {
                retry_after: Some(Duration::from_secs(u64::MAX)),
            })
        } else {
            Ok(SinkOutcome::Delivered)
        }
    });
    let h = start(settings(), sink.clone(), None);
    let t0 = Instant::now();
    h.send(0..3);
    h.until("acked", || h.acked().len() == 3).await;
    // backoff_max is 10s: delivered after it, not never (and no overflow panic).
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(12),
        "{waited:?}"
    );
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_target_fails_the_batch_as_an_attempt_and_the_pipe_goes_on() {
    let sink = ScriptedSink::new(|batch| {
        if batch.iter().any(|r| r.id.seq == 2) {
            panic!("connector bug on record 2");
        }
        Ok(SinkOutcome::Delivered)
    });
    let dlq = ScriptedSink::ok();
    let h = start(
        PipeSettings {
            batch_size: 1,
            ..settings()
        },
        sink.clone(),
        Some(dlq.clone()),
    );
    h.send(0..5);
    h.until("all acked", || h.acked().len() == 5).await;
    // Record 2 was tried max_attempts (3) times, then dead-lettered; the others delivered.
    assert_eq!(dlq.batches(), vec![vec![2]]);
    assert_eq!(sink.batches().iter().filter(|b| b == &&vec![2]).count(), 3);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_dead_letter_destination_that_keeps_refusing_hands_records_to_the_broker() {
    let sink = ScriptedSink::new(|_| Err(SinkError::Failed("HTTP 500".into())));
    let dlq = ScriptedSink::new(|_| Err(SinkError::Failed("binary body not allowed".into())));
    let h = start(settings(), sink.clone(), Some(dlq.clone()));
    h.send(0..2);
    h.until("rejected to the broker", || {
        h.outcomes_of(|o| *o == Outcome::Reject).len() == 2
    })
    .await;
    assert_eq!(dlq.batches().len() as u32, settle::DEAD_LETTER_REFUSALS);
    assert!(h.acked().is_empty());
    assert_eq!(h.metrics.broker_dead_lettered.get(), 2);
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn held_records_are_bounded_in_bytes() {
    // The target is down; records of 1 MiB arrive faster than anything leaves.
    let sink = ScriptedSink::new(|_| Err(SinkError::Connection("refused".into())));
    let (source, feed) = MemorySource::new();
    let h = start_with(
        source,
        feed,
        PipeSettings {
            batch_size: 10,
            window: Duration::ZERO,
            concurrency: 5,
            max_bytes: 6 << 20,
            ..settings()
        },
        sink,
        None,
    );
    for n in 0..400 {
        let mut r = record(n);
        r.body = bytes::Bytes::from(vec![b'x'; 1 << 20]);
        h.feed.send(r).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(120)).await;
    // The runner took no more than its byte bound (64 MiB) plus one batch and the channel.
    let taken = h.metrics.source_inflight.get();
    assert!(taken > 0 && taken <= 64 + 10 + 16, "{taken} records held");
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_source_that_panics_ends_the_pipe_as_failed_and_closes_it() {
    struct Boom(Arc<MemorySource>, Arc<AtomicUsize>);
    #[async_trait::async_trait]
    impl Source for Boom {
        async fn run(&self, _: mpsc::Sender<Record>, ctx: SourceContext, _: CancellationToken) {
            ctx.status.set_connected(true);
            tokio::time::sleep(Duration::from_secs(1)).await;
            panic!("frame from a hostile broker");
        }
        fn acker(&self) -> Arc<dyn Acker> {
            self.0.acker.clone()
        }
        async fn close(&self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
        fn describe(&self) -> String {
            "boom".into()
        }
    }
    let closes = Arc::new(AtomicUsize::new(0));
    let (inner, _feed) = MemorySource::new();
    let status = Arc::new(PipeStatus::default());
    let pipe = Pipe {
        name: "t".into(),
        source: Arc::new(Boom(inner, closes.clone())),
        sink: ScriptedSink::ok(),
        dead_letter: None,
        filter: None,
        enricher: None,
        envelope: Envelope::new(GROUPED_SHAPE, Format::Lambda, "arn"),
        settings: settings(),
        metrics: PipeMetrics::detached("t"),
        status: status.clone(),
        options: Default::default(),
    };
    let exit = pipe
        .run(CancellationToken::new(), Duration::from_secs(5))
        .await;
    match exit {
        PipeExit::Failed(why) => assert!(why.contains("frame from a hostile broker"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(closes.load(Ordering::SeqCst), 1);
    assert!(!status.ready());
}

#[tokio::test(start_paused = true)]
async fn held_records_of_a_lost_connection_are_dropped_not_delivered_again() {
    let sink = ScriptedSink::new(|_| Err(SinkError::Failed("HTTP 500".into())));
    let (source, feed) = MemorySource::new();
    source.acker.epoch.store(1, Ordering::Relaxed);
    let h = start_with(source, feed, settings(), sink.clone(), None);
    h.send(0..5);
    h.until("first delivery failed", || sink.batches().len() == 1)
        .await;
    // The connection is replaced: the broker redelivers the five itself.
    h.source.acker.epoch.store(2, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        sink.batches().len(),
        1,
        "the old copies were not delivered again"
    );
    assert_eq!(h.metrics.source_inflight.get(), 0);
    assert!(
        h.source.acker.outcomes().is_empty(),
        "nothing settled for them"
    );
    h.shutdown().await;
}
