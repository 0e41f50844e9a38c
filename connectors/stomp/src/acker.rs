//! Settlement: ACK and NACK frames with the `ack` header exactly as received (the codec
//! unescapes it and escapes it again, so ActiveMQ's `\c` comes back as it went out).

use crate::codec::{Frame, Out};
use crate::connection::Conn;
use async_trait::async_trait;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use sluice_core::record::DeliveryId;
use sluice_core::source::{Acker, Outcome, WRITE_TIMEOUT};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::warn;

pub type Writer = SplitSink<Conn, Out>;

#[derive(Default)]
pub struct StompAcker {
    /// The live connection's writing half; frames from the source (heart-beats) and from
    /// settlements share it.
    writer: tokio::sync::Mutex<Option<Writer>>,
    /// `ack` header of every unsettled delivery of the live connection.
    ack_ids: std::sync::Mutex<HashMap<u64, String>>,
    epoch: AtomicU64,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StompAcker {
    /// A new connection: earlier deliveries are stale from now on.
    pub async fn new_epoch(self: &Arc<Self>, epoch: u64, writer: Writer, beat: Option<Duration>) {
        lock(&self.ack_ids).clear();
        self.epoch.store(epoch, Ordering::Relaxed);
        *self.writer.lock().await = Some(writer);
        if let Some(every) = beat {
            // Heart-beats go on while the pipe drains, after the source stopped reading.
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if me.epoch.load(Ordering::Relaxed) != epoch || !me.send(vec![]).await {
                        return;
                    }
                }
            });
        }
    }

    pub fn delivered(&self, seq: u64, ack_id: String) {
        lock(&self.ack_ids).insert(seq, ack_id);
    }

    /// The connection is gone: nothing of it can be settled any more.
    pub async fn lost(&self) {
        self.epoch.fetch_add(1 << 32, Ordering::Relaxed);
        lock(&self.ack_ids).clear();
        self.writer.lock().await.take();
    }

    /// Write frames (a heart-beat when empty); false if there is no live connection.
    pub async fn send(&self, frames: Vec<Frame>) -> bool {
        let mut guard = self.writer.lock().await;
        let Some(w) = guard.as_mut() else {
            return false;
        };
        let write = async {
            if frames.is_empty() {
                w.feed(Out::Heartbeat).await?;
            }
            for f in frames {
                w.feed(Out::Frame(f)).await?;
            }
            w.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                warn!(error = %e, "writing to the stomp broker failed");
                false
            }
            Err(_) => {
                // Black-holed: give the connection up for writing; the source's silence
                // watchdog replaces it.
                warn!(timeout = ?WRITE_TIMEOUT, "writing to the stomp broker timed out; connection given up");
                guard.take();
                false
            }
        }
    }

    /// Say goodbye and close: unacknowledged messages go back to their queues.
    pub async fn close(&self) {
        self.epoch.fetch_add(1 << 32, Ordering::Relaxed);
        if let Some(mut w) = self.writer.lock().await.take() {
            let goodbye = async {
                let _ = w.send(Out::Frame(Frame::new("DISCONNECT"))).await;
                let _ = w.close().await;
            };
            // Dropping the writer closes the socket anyway.
            let _ = tokio::time::timeout(WRITE_TIMEOUT, goodbye).await;
        }
    }
}

#[async_trait]
impl Acker for StompAcker {
    async fn settle(&self, settlements: &[(DeliveryId, Outcome)]) -> usize {
        let epoch = self.epoch.load(Ordering::Relaxed);
        let mut stale = 0;
        let mut frames = Vec::with_capacity(settlements.len());
        {
            let mut ids = lock(&self.ack_ids);
            for (id, outcome) in settlements {
                let ack = match (id.epoch == epoch).then(|| ids.remove(&id.seq)).flatten() {
                    Some(a) => a,
                    None => {
                        stale += 1;
                        continue;
                    }
                };
                match outcome {
                    Outcome::Ack => frames.push(Frame::new("ACK").header("id", ack)),
                    // A poison ack: ActiveMQ moves the message to its dead-letter queue.
                    // RabbitMQ's STOMP plugin requeues a NACK unless told not to; without
                    // requeue its dead-letter exchange, if any, takes it.
                    Outcome::Reject => frames.push(
                        Frame::new("NACK")
                            .header("id", ack)
                            .header("requeue", "false"),
                    ),
                    // Left unacknowledged: the broker redelivers it when the connection closes.
                    Outcome::Retry { .. } => {}
                }
            }
        }
        if !frames.is_empty() && !self.send(frames).await {
            warn!("settlements not written: the broker redelivers those messages");
        }
        stale
    }

    fn live_epoch(&self) -> Option<u64> {
        Some(self.epoch.load(Ordering::Relaxed))
    }
}
