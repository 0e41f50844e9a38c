//! Settlement over STOMP: ACK and NACK frames with the `ack` header exactly as received (the
//! codec unescapes it and escapes it again, so ActiveMQ's `\c` comes back as it went out).

use crate::acker::{BrokerAcker, Wire};
use crate::stomp::codec::{Frame, Out};
use crate::stomp::connection::Conn;
use futures_util::SinkExt;
use futures_util::future::BoxFuture;
use futures_util::stream::SplitSink;
use sluice_core::source::Outcome;

pub type Writer = SplitSink<Conn, Out>;

/// The STOMP frames of settlements, heart-beats and goodbyes.
pub struct StompWire;

pub type StompAcker = BrokerAcker<StompWire>;

impl Wire for StompWire {
    type Live = Writer;
    /// The `ack` header of the MESSAGE.
    type Receipt = String;
    const NAME: &'static str = "stomp";

    fn settle(w: &mut Writer, items: Vec<(String, Outcome)>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
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

    fn beat(w: &mut Writer) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            w.feed(Out::Heartbeat).await.map_err(|e| e.to_string())?;
            w.flush().await.map_err(|e| e.to_string())
        })
    }

    fn goodbye(mut w: Writer) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = w.send(Out::Frame(Frame::new("DISCONNECT"))).await;
            let _ = w.close().await;
        })
    }
}
