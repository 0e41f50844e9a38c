//! Settlement over STOMP: ACK and NACK frames with the `ack` header exactly as received (the
//! codec unescapes it and escapes it again, so ActiveMQ's `\c` comes back as it went out).

use crate::acker::{BrokerAcker, Wire};
use crate::stomp::codec::{Frame, Item, Out};
use crate::stomp::pool::{Inbox, Lease, Mux};
use futures_util::future::BoxFuture;
use sluice_core::pool::Shared;
use sluice_core::source::Outcome;
use std::sync::Arc;

/// Longest wait for the broker's receipt at goodbye.
const GOODBYE_CONFIRM: std::time::Duration = std::time::Duration::from_secs(2);

/// A pipe's subscriptions on a shared connection.
pub(super) struct Live {
    pub mux: Arc<Mux>,
    /// Given back when the session ends; the last pipe out closes the connection.
    pub lease: Lease,
    pub session: i64,
    /// The ids of its subscriptions (the statistics answers' included).
    pub subscriptions: Vec<String>,
    /// The session's inbox once the source stopped reading, so that the goodbye can wait
    /// for the broker's receipt.
    pub inbox: Option<Inbox>,
}

/// The STOMP frames of settlements, heart-beats and goodbyes.
pub(super) struct StompWire;

pub(super) type StompAcker = BrokerAcker<StompWire>;

impl Wire for StompWire {
    type Live = Live;
    /// The `ack` header of the MESSAGE.
    type Receipt = String;
    const NAME: &'static str = "stomp";

    fn settle(live: &mut Live, items: Vec<(String, Outcome)>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let frames = items.into_iter().filter_map(|(ack, outcome)| {
                let frame = match outcome {
                    Outcome::Ack => Frame::new("ACK").header("id", ack),
                    // A poison ack: ActiveMQ moves the message to its dead-letter queue.
                    // RabbitMQ's STOMP plugin requeues a NACK unless told not to; without
                    // requeue its dead-letter exchange, if any, takes it.
                    Outcome::Reject => Frame::new("NACK")
                        .header("id", ack)
                        .header("requeue", "false"),
                    Outcome::Retry { .. } => return None,
                };
                Some(Out::Frame(frame))
            });
            live.mux.send(frames).await.map_err(|e| e.to_string())
        })
    }

    /// UNSUBSCRIBE every subscription; when the inbox is here, the last with a receipt,
    /// waited for as STOMP 1.2 asks of a graceful close: the broker has then processed every
    /// ACK sent before it. The last pipe on the connection closes it.
    fn goodbye(mut live: Live) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Some(inbox) = live.inbox.take() {
                let receipt = live.mux.expect(live.session);
                if live
                    .mux
                    .send(unsubscribe(&live, Some(receipt)))
                    .await
                    .is_ok()
                {
                    let _ = tokio::time::timeout(GOODBYE_CONFIRM, received(inbox, receipt)).await;
                }
                end(live, false).await;
            } else {
                end(live, true).await;
            }
        })
    }

    /// The session ended on its own (a refused subscription) or with its connection: what is
    /// left of it goes, without waiting.
    fn abandon(live: Live) -> BoxFuture<'static, ()> {
        Box::pin(end(live, true))
    }
}

/// UNSUBSCRIBE frames for every subscription of `live`, each with a receipt, so that an
/// ERROR about one (a subscription the broker had refused) answers the session instead of
/// the connection; the last one's receipt is `last` when given.
fn unsubscribe(live: &Live, last: Option<i32>) -> Vec<Out> {
    let n = live.subscriptions.len();
    live.subscriptions
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let receipt = match last {
                Some(r) if i + 1 == n => r,
                _ => live.mux.expect(live.session),
            };
            let f = Frame::new("UNSUBSCRIBE")
                .header("id", id.clone())
                .header("receipt", receipt.to_string());
            Out::Frame(f)
        })
        .collect()
}

/// Unsubscribe (when `unsubscribing` and the connection is open), stop routing to the session
/// and give the lease back; the last pipe out closes the connection.
async fn end(live: Live, unsubscribing: bool) {
    if unsubscribing && live.mux.is_open() {
        let _ = live.mux.send(unsubscribe(&live, None)).await;
    }
    live.mux.forget(live.session);
    if let Some(last) = live.lease.release() {
        last.close().await;
    }
}

/// Read until the RECEIPT (or ERROR) for `receipt` (messages still arriving are
/// unacknowledged: the broker redelivers them).
async fn received(mut inbox: Inbox, receipt: i32) {
    let receipt = receipt.to_string();
    while let Some(item) = inbox.recv().await {
        if let Item::Frame(f) = item
            && matches!(f.command.as_str(), "RECEIPT" | "ERROR")
            && f.get("receipt-id") == Some(receipt.as_str())
        {
            return;
        }
    }
}
