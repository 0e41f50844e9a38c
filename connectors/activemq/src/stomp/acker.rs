//! Settlement over STOMP: ACK and NACK frames with the `ack` header exactly as received (the
//! codec unescapes it and escapes it again, so ActiveMQ's `\c` comes back as it went out).

use crate::acker::{BrokerAcker, Wire};
use crate::stomp::codec::Item;
use crate::stomp::codec::{Frame, Out};
use crate::stomp::connection::Conn;
use futures_util::future::BoxFuture;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use sluice_core::source::Outcome;

pub(super) type Writer = SplitSink<Conn, Out>;

/// The live connection: its writing half, and its reading half once the source stopped
/// reading (so that the goodbye can wait for the broker's receipt).
pub(super) struct Live {
    pub writer: Writer,
    pub reader: Option<SplitStream<Conn>>,
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
            let w = &mut live.writer;
            for (ack, outcome) in items {
                let frame = match outcome {
                    Outcome::Ack => Frame::new("ACK").header("id", ack),
                    // A poison ack: ActiveMQ moves the message to its dead-letter queue.
                    // RabbitMQ's STOMP plugin requeues a NACK unless told not to; without
                    // requeue its dead-letter exchange, if any, takes it.
                    Outcome::Reject => Frame::new("NACK")
                        .header("id", ack)
                        .header("requeue", "false"),
                    Outcome::Retry { .. } => continue,
                };
                w.feed(Out::Frame(frame)).await.map_err(|e| e.to_string())?;
            }
            w.flush().await.map_err(|e| e.to_string())
        })
    }

    fn beat(live: &mut Live) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let w = &mut live.writer;
            w.feed(Out::Heartbeat).await.map_err(|e| e.to_string())?;
            w.flush().await.map_err(|e| e.to_string())
        })
    }

    /// DISCONNECT; when the reading half is here, with a receipt, waited for as STOMP 1.2
    /// asks of a graceful close: the broker has then processed every ACK sent before it.
    fn goodbye(mut live: Live) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut bye = Frame::new("DISCONNECT");
            if live.reader.is_some() {
                bye = bye.header("receipt", "sluice-goodbye");
            }
            if live.writer.send(Out::Frame(bye)).await.is_ok()
                && let Some(mut reader) = live.reader
            {
                // Messages still arriving are unacknowledged: the broker redelivers them.
                while let Some(Ok(item)) = reader.next().await {
                    if let Item::Frame(f) = item
                        && f.command == "RECEIPT"
                    {
                        break;
                    }
                }
            }
            let _ = live.writer.close().await;
        })
    }
}
