//! Settlement: one `MessageAck` per record, written together and flushed once per settle call.
//! Individual acks for delivered records, poison acks for given-up ones; deliveries of an
//! earlier connection are stale and skipped (the broker already redelivers them).

use crate::connection::Conn;
use crate::wire::{
    Command, ConsumerId, Data, Destination, Header, MessageAck, MessageId, Throwable, types,
};
use async_trait::async_trait;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use sluice_core::record::DeliveryId;
use sluice_core::source::{Acker, Outcome, WRITE_TIMEOUT};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;
use tracing::warn;

pub type Writer = SplitSink<Conn, Command>;

/// The writing half of the live connection and what acks need from it.
pub struct Live {
    pub writer: Writer,
    /// Consumer `i` reads the i-th queue.
    pub consumers: Vec<(ConsumerId, Destination)>,
    pub session: Data,
    pub connection: Data,
    pub ids: Arc<AtomicI32>,
}

impl Live {
    fn header(&self) -> Header {
        Header {
            command_id: self.ids.fetch_add(1, Ordering::Relaxed),
            response_required: false,
        }
    }
}

#[derive(Default)]
pub struct OpenWireAcker {
    live: tokio::sync::Mutex<Option<Live>>,
    /// Consumer index and message id of every unsettled delivery of the live connection.
    pending: std::sync::Mutex<HashMap<u64, (usize, MessageId)>>,
    epoch: AtomicU64,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl OpenWireAcker {
    /// A new connection: earlier deliveries are stale from now on.
    pub async fn new_epoch(self: &Arc<Self>, epoch: u64, live: Live, keep_alive: Option<Duration>) {
        lock(&self.pending).clear();
        self.epoch.store(epoch, Ordering::Relaxed);
        *self.live.lock().await = Some(live);
        if let Some(every) = keep_alive {
            // Keep-alives go on while the pipe drains, after the source stopped reading.
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if me.epoch.load(Ordering::Relaxed) != epoch || !me.keep_alive().await {
                        return;
                    }
                }
            });
        }
    }

    pub fn delivered(&self, seq: u64, consumer: usize, message_id: MessageId) {
        lock(&self.pending).insert(seq, (consumer, message_id));
    }

    /// The connection is gone: nothing of it can be settled any more.
    pub async fn lost(&self) {
        self.epoch.fetch_add(1 << 32, Ordering::Relaxed);
        lock(&self.pending).clear();
        self.live.lock().await.take();
    }

    async fn keep_alive(&self) -> bool {
        let mut guard = self.live.lock().await;
        let Some(live) = guard.as_mut() else {
            return false;
        };
        let beat = Command::KeepAliveInfo(live.header());
        match tokio::time::timeout(WRITE_TIMEOUT, live.writer.send(beat)).await {
            Ok(r) => r.is_ok(),
            Err(_) => {
                warn!(timeout = ?WRITE_TIMEOUT, "keep-alive write timed out; connection given up");
                guard.take();
                false
            }
        }
    }

    /// Answer a keep-alive the broker asked a response for.
    pub async fn answer_keep_alive(&self) {
        let _ = self.keep_alive().await;
    }

    /// Close cleanly: consumers, session and connection removed, then `ShutdownInfo`.
    /// Unacknowledged messages go back to their queues with their redelivery counter raised.
    pub async fn close(&self) {
        self.epoch.fetch_add(1 << 32, Ordering::Relaxed);
        let Some(mut live) = self.live.lock().await.take() else {
            return;
        };
        let mut goodbye: Vec<Command> = live
            .consumers
            .iter()
            .map(|(c, _)| Command::RemoveInfo(live.header(), Data::ConsumerId(c.clone()), -2))
            .collect();
        goodbye.push(Command::RemoveInfo(live.header(), live.session.clone(), -2));
        goodbye.push(Command::RemoveInfo(
            live.header(),
            live.connection.clone(),
            -2,
        ));
        goodbye.push(Command::ShutdownInfo(live.header()));
        let write = async {
            for c in goodbye {
                if live.writer.feed(c).await.is_err() {
                    return;
                }
            }
            let _ = live.writer.close().await;
        };
        // Dropping the writer closes the socket anyway.
        let _ = tokio::time::timeout(WRITE_TIMEOUT, write).await;
    }
}

#[async_trait]
impl Acker for OpenWireAcker {
    async fn settle(&self, settlements: &[(DeliveryId, Outcome)]) -> usize {
        let epoch = self.epoch.load(Ordering::Relaxed);
        let mut stale = 0;
        let mut acks = Vec::with_capacity(settlements.len());
        {
            let mut pending = lock(&self.pending);
            for (id, outcome) in settlements {
                let Some((consumer, message_id)) = (id.epoch == epoch)
                    .then(|| pending.remove(&id.seq))
                    .flatten()
                else {
                    stale += 1;
                    continue;
                };
                let ack_type = match outcome {
                    Outcome::Ack => types::ack::INDIVIDUAL,
                    // The broker moves a poison-acked message to its dead-letter queue.
                    Outcome::Reject => types::ack::POISON,
                    // Left unacknowledged: the broker redelivers it when the consumer closes.
                    Outcome::Retry { .. } => continue,
                };
                acks.push((consumer, message_id, ack_type));
            }
        }
        if acks.is_empty() {
            return stale;
        }
        let mut guard = self.live.lock().await;
        let Some(live) = guard.as_mut() else {
            warn!("settlements not written: the broker redelivers those messages");
            return stale;
        };
        let result = async {
            for (consumer, message_id, ack_type) in acks {
                let Some((consumer_id, destination)) = live.consumers.get(consumer) else {
                    continue;
                };
                let poison_cause = (ack_type == types::ack::POISON).then(|| Throwable {
                    class: Some("java.lang.Throwable".into()),
                    message: Some("sluice: delivery failed retry.max_attempts times".into()),
                });
                let ack = MessageAck {
                    header: live.header(),
                    destination: Some(destination.clone()),
                    consumer_id: Some(consumer_id.clone()),
                    ack_type,
                    first_message_id: Some(message_id.clone()),
                    last_message_id: Some(message_id),
                    message_count: 1,
                    poison_cause,
                };
                live.writer.feed(Command::MessageAck(ack)).await?;
            }
            live.writer.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, result).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(error = %e, "writing acks to the broker failed: it redelivers those messages")
            }
            Err(_) => {
                warn!(timeout = ?WRITE_TIMEOUT, "writing acks timed out; connection given up: the broker redelivers those messages");
                guard.take();
            }
        }
        stale
    }

    fn live_epoch(&self) -> Option<u64> {
        Some(self.epoch.load(Ordering::Relaxed))
    }
}
