//! The RabbitMQ target: publish each record with publisher confirms.

use crate::config::{self, RabbitMqTargetConfig, SHORT_STRING_MAX};
use crate::error::AmqpError;
use crate::pool::{self, Lease, Role};
use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Confirmation};
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
    display: String,
    attempts: AtomicUsize,
    /// A confirm-mode channel of its own on a connection shared with other pipes' publishers.
    live: Mutex<Option<(Lease, Channel)>>,
}

impl RabbitMqSink {
    /// Build from validated configuration; no I/O. Errors name their place under `path`.
    pub fn new(cfg: &RabbitMqTargetConfig, path: &str) -> Result<Self, Vec<ConfigError>> {
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

    /// The confirm-mode channel, opening it (and leasing a connection) first if needed.
    async fn channel(&self) -> Result<Channel, AmqpError> {
        let mut live = self.live.lock().await;
        if let Some((lease, ch)) = live.as_ref()
            && lease.connection().status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        if let Some((lease, ch)) = live.take() {
            release(lease, ch, "reconnecting").await;
        }
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed);
        let lease = pool::lease(Role::Publish, &self.uris, attempt).await?;
        let opened = async {
            let ch = lease
                .connection()
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
            Ok(ch)
        };
        match opened.await {
            Ok(ch) => {
                *live = Some((lease, ch.clone()));
                Ok(ch)
            }
            Err(e) => {
                lease.close("setup failed").await;
                Err(e)
            }
        }
    }

    /// Drop the channel after a failure; the next batch opens a new one (and a new
    /// connection if the shared one is what failed).
    async fn reset(&self) {
        if let Some((lease, ch)) = self.live.lock().await.take() {
            release(lease, ch, "reconnecting").await;
        }
    }

    /// The AMQP properties of a record. AMQP carries properties and header names as short
    /// strings (at most 255 bytes; lapin panics on longer ones). A longer property value (a
    /// JMS correlation id may be any length) is carried as an `x-sluice-PROPERTY` header
    /// instead; a longer header name cannot be carried at all, and the record is refused.
    fn properties(&self, r: &Record) -> Result<BasicProperties, String> {
        let m = &r.meta;
        let mut p = BasicProperties::default().with_delivery_mode(
            if m.persistent.unwrap_or(self.persistent) {
                2
            } else {
                1
            },
        );
        let mut headers = FieldTable::default();
        let mut short = |name: &'static str, v: &Option<String>| -> Option<ShortString> {
            let v = v.as_ref()?;
            if v.len() <= SHORT_STRING_MAX {
                return Some(ShortString::from(v.as_str()));
            }
            headers.insert(
                format!("x-sluice-{name}").into(),
                AMQPValue::LongString(LongString::from(v.as_str())),
            );
            None
        };
        if let Some(v) = short("content-type", &m.content_type) {
            p = p.with_content_type(v);
        }
        if let Some(v) = short("content-encoding", &m.content_encoding) {
            p = p.with_content_encoding(v);
        }
        if let Some(v) = short("message-id", &m.message_id) {
            p = p.with_message_id(v);
        }
        if let Some(v) = short("correlation-id", &m.correlation_id) {
            p = p.with_correlation_id(v);
        }
        if let Some(v) = short("reply-to", &m.reply_to) {
            p = p.with_reply_to(v);
        }
        if let Some(v) = short("type", &m.kind) {
            p = p.with_type(v);
        }
        if let Some(v) = m.priority {
            p = p.with_priority(v);
        }
        if let Some(ms) = m.timestamp_ms {
            p = p.with_timestamp(ms / 1000);
        }
        for (k, v) in &m.headers {
            if k.len() > SHORT_STRING_MAX {
                return Err(format!(
                    "header name of {} bytes: AMQP allows at most {SHORT_STRING_MAX}",
                    k.len()
                ));
            }
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
        Ok(p)
    }
}

/// Close a channel, then give its lease back.
async fn release(lease: Lease, ch: Channel, reason: &str) {
    sluice_core::source::bounded(ch.close(200, reason.into())).await;
    lease.close(reason).await;
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
        let mut failed = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            let properties = match self.properties(r) {
                Ok(p) => p,
                Err(e) => {
                    warn!(error = %e, "record cannot be published to RabbitMQ; it fails (and is dead-lettered after its attempts)");
                    failed.push(i);
                    continue;
                }
            };
            let published = ch
                .basic_publish(
                    self.exchange.clone(),
                    self.routing_key.clone(),
                    BasicPublishOptions {
                        mandatory: true,
                        immediate: false,
                    },
                    &r.body,
                    properties,
                )
                .await;
            match published {
                Ok(c) => confirms.push((i, c)),
                Err(e) => {
                    self.reset().await;
                    return Err(SinkError::Connection(e.to_string()));
                }
            }
        }
        for (i, c) in confirms {
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
            failed.sort_unstable();
            SinkOutcome::Partial { failed }
        })
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::config::Secret;
    use sluice_core::testkit::record;

    fn sink() -> RabbitMqSink {
        let cfg = RabbitMqTargetConfig {
            url: Some(Secret::new("amqp://u:p@127.0.0.1:1/%2f")),
            urls: Vec::new(),
            vhost: None,
            exchange: String::new(),
            routing_key: "q".into(),
            persistent: true,
            input_template: None,
        };
        RabbitMqSink::new(&cfg, "target").unwrap()
    }

    #[test]
    fn over_long_properties_travel_as_headers_and_over_long_header_names_refuse_the_record() {
        let mut r = record(1);
        let long = "c".repeat(300);
        r.meta.correlation_id = Some(long.clone());
        r.meta.reply_to = Some("short".into());
        let p = sink().properties(&r).unwrap();
        assert_eq!(p.correlation_id(), &None);
        assert_eq!(
            p.reply_to().as_ref().map(ShortString::as_str),
            Some("short")
        );
        let headers = p.headers().as_ref().unwrap();
        assert_eq!(
            headers.inner().get("x-sluice-correlation-id"),
            Some(&AMQPValue::LongString(LongString::from(long.as_str())))
        );
        // Exactly 255 bytes is still a property.
        r.meta.correlation_id = Some("c".repeat(255));
        assert!(sink().properties(&r).unwrap().correlation_id().is_some());

        r.meta.headers = vec![("h".repeat(256), HeaderValue::Bool(true))];
        let e = sink().properties(&r).unwrap_err();
        assert!(e.contains("256 bytes"), "{e}");
    }
}
