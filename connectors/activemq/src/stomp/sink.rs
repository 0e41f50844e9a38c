//! The STOMP target: SEND every record with a receipt, then wait for all the receipts.

use crate::config::{ActiveMqTargetConfig, Brokers, Protocol};
use crate::stomp::codec::{Frame, Item, Out};
use crate::stomp::connection::{self, Conn, Login};
use crate::stomp::destination;
use crate::stomp::error::StompError;
use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use sluice_core::record::{HeaderValue, Record};
use sluice_core::sink::{Sink, SinkError, SinkOutcome};
use sluice_core::source::WRITE_TIMEOUT;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends each record's body (not the Lambda event: a broker target moves messages) with its
/// properties as headers; persistent unless the record or the config says otherwise. A body
/// that is UTF-8 text without NUL goes as a text message, anything else with a
/// `content-length` (a bytes message for ActiveMQ). Records that were retried carry
/// `x-sluice-attempts` and `x-sluice-error` headers.
pub(crate) struct StompSink {
    brokers: Brokers,
    login: Login,
    destination: String,
    persistent: bool,
    attempts: AtomicUsize,
    receipts: AtomicUsize,
    live: Mutex<Option<Conn>>,
    display: String,
}

impl StompSink {
    pub(crate) fn new(cfg: &ActiveMqTargetConfig) -> Result<Self, String> {
        let brokers = Brokers::parse(cfg.url.expose(), Protocol::Stomp)?;
        Ok(StompSink {
            display: format!(
                "activemq(stomp) {} destination={}",
                brokers.endpoints[0], cfg.destination
            ),
            login: Login {
                username: cfg.username.clone(),
                password: cfg.password.clone(),
                virtual_host: cfg.virtual_host.clone(),
                heart_beat: Duration::ZERO,
            },
            destination: destination(&cfg.destination),
            persistent: cfg.persistent,
            attempts: AtomicUsize::new(0),
            receipts: AtomicUsize::new(0),
            live: Mutex::new(None),
            brokers,
        })
    }

    fn frame(&self, r: &Record, receipt: String) -> Frame {
        let m = &r.meta;
        let mut f = Frame::new("SEND")
            .header("destination", self.destination.clone())
            .header(
                "persistent",
                m.persistent.unwrap_or(self.persistent).to_string(),
            )
            .header("receipt", receipt);
        for (name, value) in [
            ("correlation-id", &m.correlation_id),
            ("reply-to", &m.reply_to),
            ("type", &m.kind),
            ("content-type", &m.content_type),
        ] {
            if let Some(v) = value {
                f = f.header(name, v.clone());
            }
        }
        if let Some(p) = m.priority {
            f = f.header("priority", p.to_string());
        }
        if let Some(g) = &m.group_id {
            f = f.header("JMSXGroupID", g.clone());
        }
        for (k, v) in &m.headers {
            if k.starts_with("x-sluice-")
                || f.get(k).is_some()
                || crate::stomp::event::is_reserved(k)
            {
                continue;
            }
            let v = match v {
                HeaderValue::String(s) => s.clone(),
                HeaderValue::Int(n) => n.to_string(),
                HeaderValue::Float(x) => x.to_string(),
                HeaderValue::Bool(b) => b.to_string(),
                HeaderValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            };
            f = f.header(k, v);
        }
        if r.attempts > 0 {
            f = f.header("x-sluice-attempts", r.attempts.to_string());
        }
        if let Some(e) = &r.last_error {
            f = f.header("x-sluice-error", e.chars().take(512).collect::<String>());
        }
        let text = std::str::from_utf8(&r.body).is_ok() && !r.body.contains(&0);
        if !text {
            f = f.header("content-length", r.body.len().to_string());
        }
        f.body = r.body.clone();
        f
    }

    async fn send_all(&self, conn: &mut Conn, batch: &[Record]) -> Result<(), StompError> {
        let base = self.receipts.fetch_add(batch.len(), Ordering::Relaxed);
        // Receipts are matched by id, not counted: a receipt for a batch whose call was
        // abandoned can never confirm another batch.
        let mut waiting: HashSet<String> = HashSet::with_capacity(batch.len());
        let write = async {
            for (i, r) in batch.iter().enumerate() {
                let receipt = format!("s-{}", base + i);
                waiting.insert(receipt.clone());
                conn.feed(Out::Frame(self.frame(r, receipt))).await?;
            }
            conn.flush().await
        };
        tokio::time::timeout(WRITE_TIMEOUT, write)
            .await
            .map_err(|_| StompError::Closed)??;
        while !waiting.is_empty() {
            let item = tokio::time::timeout(RECEIPT_TIMEOUT, conn.next())
                .await
                .map_err(|_| StompError::Timeout("waiting for receipts"))?;
            match item {
                Some(Ok(Item::Frame(f))) if f.command == "RECEIPT" => {
                    if let Some(id) = f.get("receipt-id") {
                        waiting.remove(id);
                    }
                }
                Some(Ok(Item::Frame(f))) if f.command == "ERROR" => {
                    return Err(StompError::from_error_frame(&f));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err(StompError::Closed),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for StompSink {
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        let mut live = self.live.lock().await;
        if live.is_none() {
            let attempt = self.attempts.fetch_add(1, Ordering::Relaxed);
            let c = connection::connect(self.brokers.pick(0, attempt), &self.login)
                .await
                .map_err(|e| SinkError::Connection(e.to_string()))?;
            *live = Some(c.conn);
        }
        let Some(conn) = live.as_mut() else {
            return Err(SinkError::Connection("not connected".into()));
        };
        match self.send_all(conn, batch).await {
            Ok(()) => Ok(SinkOutcome::Delivered),
            Err(e) => {
                // An ERROR frame ends the connection too (STOMP 1.2): start afresh next time.
                *live = None;
                Err(match e {
                    StompError::Broker { .. } => SinkError::Failed(e.to_string()),
                    StompError::Timeout(_) => SinkError::Timeout(RECEIPT_TIMEOUT),
                    _ => SinkError::Connection(e.to_string()),
                })
            }
        }
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}
