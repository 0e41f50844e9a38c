//! Stopping a pipe: stop receiving, finish the batches in flight, hand back what is held,
//! close. The whole sequence takes at most the shutdown timeout: batches in flight get the
//! timeout less a budget for settling and closing, and a batch still in flight then is handed
//! back by its ids (a broker that can makes it deliverable again at once).

use super::{PipeExit, Runner, Settle, panic_message};
use crate::record::Record;
use crate::status::{LastResult, Reason, State};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{error, info, warn};

impl Runner {
    /// After the loop: `receive_stop` is cancelled, `receiver` is the source's task.
    pub(super) async fn drain(
        &mut self,
        exit: PipeExit,
        mut receiver: JoinHandle<()>,
        mut rx: mpsc::Receiver<Record>,
        shutdown_timeout: Duration,
    ) -> PipeExit {
        let started = Instant::now();
        let close_budget = (shutdown_timeout / 4).min(Duration::from_secs(5));
        let drain_until = started + (shutdown_timeout - close_budget);
        let close_until = started + shutdown_timeout;
        match &exit {
            PipeExit::Stopped => self
                .pipe
                .status
                .set_state(State::Disabling, Reason::UserInitiated),
            PipeExit::Failed(why) => {
                self.pipe.status.set_connected(false);
                self.pipe
                    .status
                    .set_last_result(LastResult::PipeFailed(why.to_string()));
            }
        }
        if !receiver.is_finished()
            && tokio::time::timeout_at(drain_until, &mut receiver)
                .await
                .is_err()
        {
            warn!("source did not stop receiving in time; abandoning it");
            receiver.abort();
        }
        // Records the source handed over that were never taken: released with the rest, so
        // a broker that can makes them deliverable again at once.
        let mut unread = Vec::new();
        while let Ok(r) = rx.try_recv() {
            self.pipe.metrics.source_inflight.inc();
            unread.push(r);
        }
        self.draining = true;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(drain_until, self.tasks.join_next()).await {
                Ok(Some(Ok(done))) => self.on_done(done).await,
                Ok(Some(Err(_))) => {}
                Ok(None) => break,
                Err(_) => {
                    warn!(
                        batches = self.tasks.len(),
                        "shutdown timeout: abandoning batches in flight; the broker redelivers them"
                    );
                    self.tasks.abort_all();
                    let abandoned: Vec<_> =
                        self.inflight.drain().flat_map(|(_, f)| f.ids).collect();
                    let _ = tokio::time::timeout_at(
                        close_until,
                        self.settle(Settle::Abandoned(&abandoned)),
                    )
                    .await;
                    break;
                }
            }
        }
        if tokio::time::timeout_at(close_until, self.release_held(unread))
            .await
            .is_err()
        {
            warn!("shutdown timeout: held records not released; the broker redelivers them");
        }
        // Never skipped: a close that cannot finish in time is abandoned, and the broker
        // redelivers what was not settled when the process exits.
        let close_by = close_until.max(Instant::now() + Duration::from_millis(500));
        if tokio::time::timeout_at(close_by, self.pipe.source.close())
            .await
            .is_err()
        {
            warn!("shutdown timeout: source connections not closed cleanly");
        }
        self.pipe.metrics.inflight.set(0);
        self.pipe.metrics.source_inflight.set(0);
        if exit == PipeExit::Stopped {
            self.pipe
                .status
                .set_state(State::Disabled, Reason::UserInitiated);
            info!("pipe stopped");
        }
        exit
    }

    /// Shutdown: everything still held was not delivered; hand it back to the broker now
    /// rather than when the connection closes.
    async fn release_held(&mut self, unread: Vec<Record>) {
        let mut held: Vec<Record> = self.batcher.take_all();
        held.extend(unread);
        held.extend(self.ready.drain(..).flat_map(|j| j.records));
        held.extend(
            std::mem::take(&mut self.retries)
                .into_values()
                .flat_map(|j| j.records),
        );
        self.held = 0;
        self.held_bytes = 0;
        self.settle(Settle::Released(&held, Duration::ZERO)).await;
    }
}

/// The receive task ended while the pipe was running.
pub(super) fn source_ended(ended: Result<(), tokio::task::JoinError>) -> PipeExit {
    let why = match ended {
        Err(e) if e.is_panic() => {
            format!("source task panicked: {}", panic_message(e.into_panic()))
        }
        _ => "source task ended unexpectedly".to_owned(),
    };
    error!(error = %why, "pipe failed; closing its connections so the broker redelivers");
    PipeExit::Failed(why)
}
