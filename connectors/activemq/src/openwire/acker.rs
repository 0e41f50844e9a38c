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

/// The writing half of the live connection and what acks need from it.
pub(super) struct Live {
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
