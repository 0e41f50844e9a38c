//! The OpenWire target: every record sent as a JMS message with a response required, so a
//! confirmed send means stored (persistent messages are in the broker's store by then).

use crate::config::{ActiveMqTargetConfig, Brokers, Protocol};
use crate::openwire::connection::{self, Conn, Login};
use crate::openwire::error::OpenWireError;
use crate::openwire::wire::{
    Command, Destination, Header, Message, MessageId, Primitive, ProducerId, types,
};
use async_trait::async_trait;
use futures_util::SinkExt;
use sluice_core::record::{HeaderValue, Record, now_ms};
use sluice_core::sink::{Sink, SinkError, SinkOutcome};
use sluice_core::source::WRITE_TIMEOUT;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// One producer on one connection.
struct Producer {
    conn: Conn,
    id: ProducerId,
    ids: Arc<AtomicI32>,
    sequence: i64,
}

/// Sends each record's body (not the Lambda event: a broker target moves messages): UTF-8
/// bodies as TextMessages, others as BytesMessages; persistent unless the record or the config
/// says otherwise; correlation id, reply-to, type, priority, group and properties carried over.
/// Records that were retried carry `sluice_attempts` and `sluice_error` properties (JMS property
/// names must be identifiers, so not the `x-sluice-` names other targets use).
pub(crate) struct OpenWireSink {
    brokers: Brokers,
    start: usize,
    login: Login,
    destination: Destination,
    persistent: bool,
    attempts: AtomicUsize,
    live: Mutex<Option<Producer>>,
    display: String,
}

impl OpenWireSink {
    pub(crate) fn new(cfg: &ActiveMqTargetConfig) -> Result<Self, String> {
        let brokers = Brokers::parse(cfg.url.expose(), Protocol::Openwire)?;
        Ok(OpenWireSink {
            display: format!(
                "activemq(openwire) {} destination={}",
                brokers.endpoints[0], cfg.destination
            ),
            start: brokers.start(),
            login: Login {
                username: cfg.username.clone(),
                password: cfg.password.clone(),
                // The connection idles between batches: no inactivity monitor on either side;
                // a dead connection shows when a send fails, and is replaced then.
                max_inactivity: Duration::ZERO,
            },
            destination: Destination::parse(&cfg.destination),
            persistent: cfg.persistent,
            attempts: AtomicUsize::new(0),
            live: Mutex::new(None),
            brokers,
        })
    }

    async fn connect(&self) -> Result<Producer, OpenWireError> {
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed);
        let mut c =
            connection::connect(self.brokers.pick(self.start, attempt), &self.login).await?;
        let id = ProducerId {
            connection: c.session.connection.clone(),
            session: c.session.value,
            value: 1,
        };
        let header = Header {
            command_id: c.next_id(),
            response_required: false,
        };
        c.conn
            .send(Command::ProducerInfo(header, id.clone(), None))
            .await?;
        Ok(Producer {
            conn: c.conn,
            id,
            ids: c.ids,
            sequence: 0,
        })
    }

    fn message(&self, p: &mut Producer, r: &Record) -> Message {
        p.sequence += 1;
        let m = &r.meta;
        let text = std::str::from_utf8(&r.body).ok();
        let mut message = Message {
            header: Header {
                command_id: p.ids.fetch_add(1, Ordering::Relaxed),
                response_required: true,
            },
            class: if text.is_some() {
                types::TEXT_MESSAGE
            } else {
                types::BYTES_MESSAGE
            },
            producer_id: Some(p.id.clone()),
            destination: Some(self.destination.clone()),
            message_id: Some(MessageId {
                text_view: None,
                producer: p.id.clone(),
                producer_sequence: p.sequence,
                broker_sequence: 0,
            }),
            persistent: m.persistent.unwrap_or(self.persistent),
            priority: m.priority.unwrap_or(4),
            timestamp: now_ms() as i64,
            correlation_id: m.correlation_id.clone(),
            jms_type: m.kind.clone(),
            reply_to: m.reply_to.as_deref().map(Destination::parse),
            group_id: m.group_id.clone(),
            content: Some(match text {
                Some(t) => Message::text_content(t),
                None => r.body.clone(),
            }),
            ..Message::default()
        };
        let mut properties: Vec<(String, Primitive)> = m
            .headers
            .iter()
            .filter(|(k, _)| !k.starts_with("x-sluice-") && !k.starts_with("sluice_"))
            .map(|(k, v)| {
                let v = match v {
                    HeaderValue::String(s) => Primitive::String(s.clone()),
                    HeaderValue::Int(n) => Primitive::Long(*n),
                    HeaderValue::Float(x) => Primitive::Double(*x),
                    HeaderValue::Bool(b) => Primitive::Bool(*b),
                    HeaderValue::Bytes(b) => Primitive::Bytes(b.clone()),
                };
                (k.clone(), v)
            })
            .collect();
        if r.attempts > 0 {
            properties.push(("sluice_attempts".into(), Primitive::Int(r.attempts as i32)));
        }
        if let Some(e) = &r.last_error {
            let e: String = e.chars().take(512).collect();
            properties.push(("sluice_error".into(), Primitive::String(e)));
        }
        // A property that cannot be encoded (a name over 64 KiB) is left out, not the message.
        if message.set_properties(&properties).is_err() {
            message.marshalled_properties = None;
        }
        message
    }

    async fn send_all(&self, p: &mut Producer, batch: &[Record]) -> Result<(), OpenWireError> {
        let mut waiting = HashSet::with_capacity(batch.len());
        let write = async {
            for r in batch {
                let m = self.message(p, r);
                waiting.insert(m.header.command_id);
                p.conn.feed(Command::Message(Box::new(m))).await?;
            }
            p.conn.flush().await
        };
        // A broker that takes no bytes for this long is black-holed: the connection goes.
        tokio::time::timeout(WRITE_TIMEOUT, write)
            .await
            .map_err(|_| OpenWireError::Closed)??;
        while !waiting.is_empty() {
            let command = tokio::time::timeout(RESPONSE_TIMEOUT, connection::next(&mut p.conn))
                .await
                .map_err(|_| OpenWireError::Timeout("waiting for the broker's responses"))??;
            match command {
                Command::Response(_, c) => {
                    waiting.remove(&c);
                }
                Command::ExceptionResponse(_, _, t) | Command::ConnectionError(_, t, _) => {
                    return Err(OpenWireError::broker(t));
                }
                Command::ShutdownInfo(_) => return Err(OpenWireError::Closed),
                _ => {}
            }
        }
        Ok(())
    }
}

fn sink_error(e: OpenWireError) -> SinkError {
    match e {
        OpenWireError::Broker(_) => SinkError::Failed(e.to_string()),
        OpenWireError::Timeout(_) => SinkError::Timeout(RESPONSE_TIMEOUT),
        _ => SinkError::Connection(e.to_string()),
    }
}

#[async_trait]
impl Sink for OpenWireSink {
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        let mut live = self.live.lock().await;
        // A kept connection may have died while idle (a broker restart): that shows as a
        // connection error on the first send, and one fresh connection is tried at once.
        let mut fresh = live.is_none();
        loop {
            if live.is_none() {
                *live = Some(self.connect().await.map_err(sink_error)?);
                fresh = true;
            }
            let Some(p) = live.as_mut() else {
                return Err(SinkError::Connection("not connected".into()));
            };
            match self.send_all(p, batch).await {
                Ok(()) => return Ok(SinkOutcome::Delivered),
                Err(e) => {
                    *live = None;
                    if fresh || e.is_refusal() {
                        return Err(sink_error(e));
                    }
                    tracing::info!(error = %e, "openwire target connection went stale; reconnecting");
                }
            }
        }
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}
