//! The RabbitMQ target: publish each record with publisher confirms.

use crate::config::{self, RabbitMqTargetConfig};
use crate::connection;
use crate::error::AmqpError;
use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use sluice_core::config::ConfigError;
use sluice_core::record::{HeaderValue, Record};
use sluice_core::sink::{Sink, SinkError, SinkOutcome};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Mutex;
use tracing::warn;

/// Publishes the record's body and properties (not the Lambda event: a broker target moves
/// messages, like a shovel). Records that were retried carry `x-sluice-attempts` and
/// `x-sluice-error` headers, so a dead-letter queue shows why a message is there.
pub struct RabbitMqSink {
    uris: Vec<AMQPUri>,
    exchange: ShortString,
    routing_key: ShortString,
    persistent: bool,
    name: String,
    display: String,
    attempts: AtomicUsize,
    live: Mutex<Option<(Connection, Channel)>>,
}

impl RabbitMqSink {
    pub fn new(
        cfg: &RabbitMqTargetConfig,
        path: &str,
        pipe: &str,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let uris = config::uris(&cfg.url, &cfg.urls, &cfg.vhost, path, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RabbitMqSink {
            uris,
            exchange: cfg.exchange.as_str().into(),
            routing_key: cfg.routing_key.as_str().into(),
            persistent: cfg.persistent,
            name: format!("sluice/{pipe}/{}", path.replace('.', "-")),
            display: format!(
                "rabbitmq {} exchange={:?} routing_key={:?}",
                config::display(&cfg.url, &cfg.urls),
                cfg.exchange,
                cfg.routing_key
            ),
            attempts: AtomicUsize::new(0),
            live: Mutex::new(None),
        })
    }

    /// The confirm-mode channel, connecting first if needed.
    async fn channel(&self) -> Result<Channel, AmqpError> {
        let mut live = self.live.lock().await;
        if let Some((conn, ch)) = live.as_ref()
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        *live = None;
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed);
        let conn = connection::connect(&self.uris, attempt, &self.name).await?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|source| AmqpError::Channel {
                what: "opening a channel",
                source,
            })?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|source| AmqpError::Channel {
                what: "enabling confirms",
                source,
            })?;
        *live = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn reset(&self) {
        if let Some((conn, _)) = self.live.lock().await.take() {
            let _ = conn.close(200, "reconnecting".into()).await;
        }
    }

    fn properties(&self, r: &Record) -> BasicProperties {
        let m = &r.meta;
        let mut p = BasicProperties::default().with_delivery_mode(
            if m.persistent.unwrap_or(self.persistent) {
                2
            } else {
                1
            },
        );
        let s = |v: &String| ShortString::from(v.as_str());
        if let Some(v) = &m.content_type {
            p = p.with_content_type(s(v));
        }
        if let Some(v) = &m.content_encoding {
            p = p.with_content_encoding(s(v));
        }
        if let Some(v) = &m.message_id {
            p = p.with_message_id(s(v));
        }
        if let Some(v) = &m.correlation_id {
            p = p.with_correlation_id(s(v));
        }
        if let Some(v) = &m.reply_to {
            p = p.with_reply_to(s(v));
        }
        if let Some(v) = &m.kind {
            p = p.with_type(s(v));
        }
        if let Some(v) = m.priority {
            p = p.with_priority(v);
        }
        if let Some(ms) = m.timestamp_ms {
            p = p.with_timestamp(ms / 1000);
        }
        let mut headers = FieldTable::default();
        for (k, v) in &m.headers {
            let v = match v {
                HeaderValue::String(s) => AMQPValue::LongString(LongString::from(s.as_str())),
                HeaderValue::Int(n) => AMQPValue::LongLongInt(*n),
                HeaderValue::Float(f) => AMQPValue::Double(*f),
                HeaderValue::Bool(b) => AMQPValue::Boolean(*b),
                HeaderValue::Bytes(b) => AMQPValue::ByteArray(b.to_vec().into()),
            };
            headers.insert(k.as_str().into(), v);
        }
        if r.attempts > 0 {
            headers.insert(
                "x-sluice-attempts".into(),
                AMQPValue::LongLongInt(i64::from(r.attempts)),
            );
        }
        if let Some(e) = &r.last_error {
            let e: String = e.chars().take(512).collect();
            headers.insert(
                "x-sluice-error".into(),
                AMQPValue::LongString(LongString::from(e)),
            );
        }
        if !headers.inner().is_empty() {
            p = p.with_headers(headers);
        }
        p
    }
}

#[async_trait]
impl Sink for RabbitMqSink {
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        let ch = self
            .channel()
            .await
            .map_err(|e| SinkError::Connection(e.to_string()))?;
        // Publish the whole batch, then wait for the confirms: one round trip per batch.
        let mut confirms = Vec::with_capacity(batch.len());
        for r in batch {
            let published = ch
                .basic_publish(
                    self.exchange.clone(),
                    self.routing_key.clone(),
                    BasicPublishOptions {
                        mandatory: true,
                        immediate: false,
                    },
                    &r.body,
                    self.properties(r),
                )
                .await;
            match published {
                Ok(c) => confirms.push(c),
                Err(e) => {
                    self.reset().await;
                    return Err(SinkError::Connection(e.to_string()));
                }
            }
        }
        let mut failed = Vec::new();
        for (i, c) in confirms.into_iter().enumerate() {
            match c.await {
                Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => {}
                Ok(Confirmation::Ack(Some(_))) => {
                    // Returned as unroutable: no queue took it.
                    warn!(exchange = %self.exchange, routing_key = %self.routing_key, "message unroutable: no queue is bound");
                    failed.push(i);
                }
                Ok(Confirmation::Nack(_)) => failed.push(i),
                Err(e) => {
                    self.reset().await;
                    return Err(SinkError::Connection(e.to_string()));
                }
            }
        }
        Ok(if failed.is_empty() {
            SinkOutcome::Delivered
        } else {
            SinkOutcome::Partial { failed }
        })
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}
