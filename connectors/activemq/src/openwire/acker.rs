//! Settlement over OpenWire: one `MessageAck` per record, written together and flushed once
//! per settle call. Individual acks for delivered records, poison acks for given-up ones.

use crate::acker::{BrokerAcker, Wire};
use crate::openwire::pool::{Inbox, Lease, Mux};
use crate::openwire::wire::{
    Command, ConsumerId, Data, Destination, MessageAck, MessageId, SessionId, Throwable, types,
};
use futures_util::future::BoxFuture;
use sluice_core::pool::Shared;
use sluice_core::source::Outcome;
use std::sync::Arc;

/// Longest wait for the broker to confirm the consumers' removal at goodbye.
const GOODBYE_CONFIRM: std::time::Duration = std::time::Duration::from_secs(2);

/// A pipe's session on a shared connection, and what acks need from it.
pub(super) struct Live {
    pub mux: Arc<Mux>,
    /// Given back when the session ends; the last pipe out closes the connection.
    pub lease: Lease,
    /// Consumer `i` reads the i-th queue.
    pub consumers: Vec<(ConsumerId, Destination)>,
    pub session: SessionId,
    /// The statistics channel's temporary queue, removed with the session.
    pub temporary: Destination,
    /// The session's inbox, handed over when the session stops, so the goodbye can wait
    /// for the broker's answer.
    pub inbox: Option<Inbox>,
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
            let session = live.session.value;
            let mut acks = Vec::with_capacity(items.len());
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
                acks.push(Command::MessageAck(MessageAck {
                    header: live.mux.header(session, false),
                    destination: Some(destination.clone()),
                    consumer_id: Some(consumer_id.clone()),
                    ack_type,
                    first_message_id: Some(message_id.clone()),
                    last_message_id: Some(message_id),
                    message_count: 1,
                    poison_cause,
                }));
            }
            live.mux.send(acks).await.map_err(|e| e.to_string())
        })
    }

    /// Consumers removed (waiting for the broker's answer when the inbox is here), then the
    /// session and its temporary queue; the last pipe on the connection closes it.
    /// Unacknowledged messages go back to their queues with their redelivery counter raised.
    fn goodbye(mut live: Live) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let session = live.session.value;
            // The broker applies acknowledgements behind their arrival: removing the consumers
            // at once handed acknowledged messages out again. Removing them with a response
            // required, and waiting for it, lets every acknowledgement written before land.
            if let Some(inbox) = live.inbox.take()
                && !live.consumers.is_empty()
            {
                let last = live.consumers.len() - 1;
                let mut waiting_for = 0;
                let removals: Vec<Command> = live
                    .consumers
                    .iter()
                    .enumerate()
                    .map(|(i, (c, _))| {
                        let header = live.mux.header(session, i == last);
                        waiting_for = header.command_id;
                        Command::RemoveInfo(header, Data::ConsumerId(c.clone()), -2)
                    })
                    .collect();
                if live.mux.send(removals).await.is_ok() {
                    let _ =
                        tokio::time::timeout(GOODBYE_CONFIRM, answered(inbox, waiting_for)).await;
                }
            }
            end(live).await;
        })
    }

    /// The session ended on its own (a refusal of one of its consumers) or with its
    /// connection: what is left of it goes, without waiting.
    fn abandon(live: Live) -> BoxFuture<'static, ()> {
        Box::pin(end(live))
    }
}

/// Remove the session and its temporary queue, and give the lease back.
async fn end(live: Live) {
    let Live {
        mux,
        lease,
        session,
        temporary,
        ..
    } = live;
    if mux.is_open() {
        let remove = [
            Command::RemoveInfo(
                mux.header(session.value, false),
                Data::SessionId(session.clone()),
                -2,
            ),
            Command::DestinationInfo {
                header: mux.header(session.value, false),
                connection_id: mux.details.connection.clone(),
                destination: temporary,
                operation: 1,
            },
        ];
        let _ = mux.send(remove).await;
    }
    mux.forget(session.value);
    if let Some(last) = lease.release() {
        last.close().await;
    }
}

/// Read until the broker answers command `id` (dispatches that arrive meanwhile are dropped:
/// unacknowledged, they go back to their queue).
async fn answered(mut inbox: Inbox, id: i32) {
    while let Some(c) = inbox.recv().await {
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
