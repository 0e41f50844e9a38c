//! Settlement over OpenWire: one `MessageAck` per record, written together and flushed once
//! per settle call. Individual acks for delivered records, poison acks for given-up ones.

use crate::acker::{BrokerAcker, Wire};
use crate::openwire::connection::Conn;
use crate::openwire::wire::{
    Command, ConsumerId, Data, Destination, Header, MessageAck, MessageId, Throwable, types,
};
use futures_util::SinkExt;
use futures_util::future::BoxFuture;
use futures_util::stream::SplitSink;
use sluice_core::source::Outcome;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

pub(super) type Writer = SplitSink<Conn, Command>;
pub(super) type Reader = futures_util::stream::SplitStream<Conn>;

/// Longest wait for the broker to confirm the consumers' removal at goodbye.
const GOODBYE_CONFIRM: std::time::Duration = std::time::Duration::from_secs(2);

/// The writing half of the live connection and what acks need from it.
pub(super) struct Live {
    pub writer: Writer,
    /// Consumer `i` reads the i-th queue.
    pub consumers: Vec<(ConsumerId, Destination)>,
    pub session: Data,
    pub connection: Data,
    pub ids: Arc<AtomicI32>,
    /// The reading half, handed over when the session stops, so the goodbye can wait for the
    /// broker's answer.
    pub reader: Option<Reader>,
}

impl Live {
    fn header(&self) -> Header {
        Header {
            command_id: self.ids.fetch_add(1, Ordering::Relaxed),
            response_required: false,
        }
    }
}

/// The OpenWire commands of settlements, keep-alives and goodbyes.
pub(super) struct OpenWireWire;

pub(super) type OpenWireAcker = BrokerAcker<OpenWireWire>;

impl Wire for OpenWireWire {
    type Live = Live;
    /// The consumer (by queue index) and the message id.
    type Receipt = (usize, MessageId);
    const NAME: &'static str = "openwire";

    fn settle(
        live: &mut Live,
        items: Vec<((usize, MessageId), Outcome)>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            for ((consumer, message_id), outcome) in items {
                let ack_type = match outcome {
                    Outcome::Ack => types::ack::INDIVIDUAL,
                    // The broker moves a poison-acked message to its dead-letter queue.
                    Outcome::Reject => types::ack::POISON,
                    Outcome::Retry { .. } => continue,
                };
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
                live.writer
                    .feed(Command::MessageAck(ack))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            live.writer.flush().await.map_err(|e| e.to_string())
        })
    }

    fn beat(live: &mut Live) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let beat = Command::KeepAliveInfo(live.header());
            live.writer.send(beat).await.map_err(|e| e.to_string())
        })
    }

    /// Consumers, session and connection removed, then `ShutdownInfo`. Unacknowledged
    /// messages go back to their queues with their redelivery counter raised.
    fn goodbye(mut live: Live) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut goodbye: Vec<Command> = live
                .consumers
                .iter()
                .map(|(c, _)| Command::RemoveInfo(live.header(), Data::ConsumerId(c.clone()), -2))
                .collect();
            // The broker applies acknowledgements behind their arrival: removing the consumers
            // at once handed acknowledged messages out again. Removing them with a response
            // required, and waiting for it, lets every acknowledgement written before land.
            if let Some(reader) = live.reader.take()
                && let Some(Command::RemoveInfo(h, _, _)) = goodbye.last_mut()
            {
                h.response_required = true;
                let id = h.command_id;
                for c in goodbye.drain(..) {
                    if live.writer.feed(c).await.is_err() {
                        return;
                    }
                }
                if live.writer.flush().await.is_err() {
                    return;
                }
                let _ = tokio::time::timeout(GOODBYE_CONFIRM, answered(reader, id)).await;
            }
            goodbye.push(Command::RemoveInfo(live.header(), live.session.clone(), -2));
            goodbye.push(Command::RemoveInfo(
                live.header(),
                live.connection.clone(),
                -2,
            ));
            goodbye.push(Command::ShutdownInfo(live.header()));
            for c in goodbye {
                if live.writer.feed(c).await.is_err() {
                    return;
                }
            }
            let _ = live.writer.close().await;
        })
    }
}

/// Read until the broker answers command `id` (dispatches that arrive meanwhile are dropped:
/// unacknowledged, they go back to their queue).
async fn answered(mut reader: Reader, id: i32) {
    use futures_util::StreamExt;
    while let Some(Ok(c)) = reader.next().await {
        match c {
            Command::Response(_, correlation) | Command::ExceptionResponse(_, correlation, _)
                if correlation == id =>
            {
                return;
            }
            _ => {}
        }
    }
}
