//! One pipe's task, kept alive: a pipe that fails unexpectedly (its source task ended, or the
//! runner itself panicked) has its connections closed so the broker redelivers what it held,
//! is reported (not ready, `last_processing_result`) and counted in
//! `sluice_pipe_restarts_total`, and is built and started again after a capped backoff.
//!
//! No half-alive pipe: either the runner runs and consumes, or the pipe is reported failed
//! and waits for its restart.

use sluice_core::backoff;
use sluice_core::runner::{Pipe, PipeExit, panic_message};
use sluice_core::status::{LastResult, PipeStatus, Reason, State};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// A pipe that ran this long before failing starts its restart backoff from the beginning.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// Longest wait for the connections of a pipe whose runner panicked to close.
const CLOSE_AFTER_PANIC: Duration = Duration::from_secs(5);

/// Run `first`, and after every unexpected failure a fresh pipe from `rebuild`, until `stop`.
/// Every incarnation reports through `first`'s status and metrics.
pub(crate) async fn supervise<F>(
    first: Pipe,
    mut rebuild: F,
    stop: CancellationToken,
    shutdown_timeout: Duration,
) where
    F: FnMut() -> Result<Pipe, String>,
{
    let status: Arc<PipeStatus> = first.status.clone();
    let metrics = first.metrics.clone();
    let name = first.name.clone();
    let mut pipe = first;
    let mut failures: u32 = 0;
    loop {
        let source = pipe.source.clone();
        let sinks: Vec<_> = std::iter::once(pipe.sink.clone())
            .chain(pipe.dead_letter.clone())
            .collect();
        let started = Instant::now();
        let ended = tokio::spawn(pipe.run(stop.clone(), shutdown_timeout)).await;
        let why = match ended {
            Ok(PipeExit::Stopped) => return,
            Ok(PipeExit::Failed(why)) => why,
            Err(e) => {
                let why = if e.is_panic() {
                    format!("pipe task panicked: {}", panic_message(e.into_panic()))
                } else {
                    "pipe task was cancelled".to_owned()
                };
                // The runner is gone with whatever it held: close its connections so the
                // broker redelivers all of it.
                let _ = tokio::time::timeout(CLOSE_AFTER_PANIC, source.close()).await;
                for sink in &sinks {
                    sink.stop();
                }
                why
            }
        };
        metrics.restarts.inc();
        status.set_connected(false);
        status.set_last_result(LastResult::PipeFailed(why.to_string()));
        if stop.is_cancelled() {
            status.set_state(State::Disabled, Reason::UserInitiated);
            return;
        }
        failures = if started.elapsed() >= HEALTHY_RUN {
            1
        } else {
            failures.saturating_add(1)
        };
        let delay = backoff::reconnect_delay(failures).max(Duration::from_millis(200));
        error!(pipe = %name, error = %why, restart_in = ?delay, "pipe failed; restarting it");
        tokio::select! {
            _ = stop.cancelled() => {
                status.set_state(State::Disabled, Reason::UserInitiated);
                return;
            }
            _ = tokio::time::sleep(delay) => {}
        }
        pipe = match rebuild() {
            Ok(mut p) => {
                p.status = status.clone();
                p.metrics = metrics.clone();
                p
            }
            Err(e) => {
                // The configuration built once already; this cannot fail for a valid file.
                error!(pipe = %name, error = %e, "pipe could not be rebuilt; it stays stopped");
                status.set_state(State::Disabled, Reason::ConfigNotValid(None));
                return;
            }
        };
        info!(pipe = %name, restarts = metrics.restarts.get(), "pipe restarting");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use sluice_core::event::{Envelope, Format};
    use sluice_core::metrics::PipeMetrics;
    use sluice_core::record::Record;
    use sluice_core::runner::PipeSettings;
    use sluice_core::source::{Acker, Source, SourceContext};
    use sluice_core::testkit::{MemorySource, ScriptedSink, record};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::mpsc;

    /// A source whose receive task panics at once; it counts its closes.
    struct PanickingSource {
        inner: Arc<MemorySource>,
        closes: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Source for PanickingSource {
        async fn run(&self, _: mpsc::Sender<Record>, _: SourceContext, _: CancellationToken) {
            panic!("boom from a hostile input");
        }
        fn acker(&self) -> Arc<dyn Acker> {
            self.inner.acker()
        }
        async fn close(&self) {
            self.closes.fetch_add(1, Ordering::SeqCst);
        }
        fn describe(&self) -> String {
            "panicking".into()
        }
    }

    fn pipe(source: Arc<dyn Source>, sink: Arc<ScriptedSink>, metrics: &PipeMetrics) -> Pipe {
        Pipe {
            name: "t".into(),
            source,
            sink,
            dead_letter: None,
            filter: None,
            enricher: None,
            envelope: Envelope::new(sluice_core::testkit::GROUPED_SHAPE, Format::Lambda, "arn"),
            settings: PipeSettings {
                batch_size: 10,
                window: Duration::from_millis(10),
                max_bytes: 1 << 20,
                concurrency: 1,
                max_attempts: 3,
                backoff_initial: Duration::from_secs(1),
                backoff_max: Duration::from_secs(10),
                ordered: false,
            },
            metrics: metrics.clone(),
            status: Arc::new(PipeStatus::default()),
            options: Default::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pipe_whose_source_panics_is_closed_counted_and_restarted() {
        let metrics = PipeMetrics::detached("t");
        let sink = ScriptedSink::ok();
        let closes = Arc::new(AtomicUsize::new(0));
        let (healthy, feed) = MemorySource::new();
        let first = pipe(
            Arc::new(PanickingSource {
                inner: healthy.clone(),
                closes: closes.clone(),
            }),
            sink.clone(),
            &metrics,
        );
        let status = first.status.clone();
        let stop = CancellationToken::new();
        let (m, s, h) = (metrics.clone(), sink.clone(), healthy.clone());
        let task = tokio::spawn(supervise(
            first,
            move || Ok(pipe(h.clone(), s.clone(), &m)),
            stop.clone(),
            Duration::from_secs(5),
        ));
        for n in 0..5 {
            feed.send(record(n)).unwrap();
        }
        for _ in 0..10_000 {
            if healthy.acker.outcomes().len() == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            healthy.acker.outcomes().len(),
            5,
            "the restarted pipe delivers"
        );
        assert_eq!(metrics.restarts.get(), 1);
        assert_eq!(
            closes.load(Ordering::SeqCst),
            1,
            "the failed pipe was closed"
        );
        assert!(status.ready(), "the restarted pipe is ready");
        stop.cancel();
        task.await.unwrap();
        assert_eq!(status.snapshot().state, State::Disabled);
    }
}
