//! The RabbitMQ source: one connection, one channel, one consumer per queue.

use crate::acker::AmqpAcker;
use crate::config::{self, RabbitMqSourceConfig};
use crate::connection;
use crate::error::AmqpError;
use crate::event;
use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::select_all;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection};
use sluice_core::config::ConfigError;
use sluice_core::record::{DeliveryId, Record};
use sluice_core::source::{Acker, Ended, Source, SourceContext, forward, run_sessions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// How often the backlog gauge is refreshed (a passive `queue.declare` per queue).
const BACKLOG_INTERVAL: Duration = Duration::from_secs(5);

pub struct RabbitMqSource {
    uris: Vec<AMQPUri>,
    queues: Vec<(String, Arc<str>)>,
    prefetch: u16,
    name: String,
    display: String,
    acker: Arc<AmqpAcker>,
    epoch: AtomicU64,
    /// The live connection and its channels, closed in order at shutdown.
    connection: tokio::sync::Mutex<Option<(Connection, [Channel; 2])>>,
}

/// Why a consume session ended.
impl RabbitMqSource {
    /// Build from validated configuration; no I/O. `default_prefetch` comes from the pipe's
    /// batch size and concurrency.
    pub fn new(
        cfg: &RabbitMqSourceConfig,
        pipe: &str,
        default_prefetch: u16,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let uris = config::uris(
            &cfg.url,
            &cfg.urls,
            &cfg.vhost,
            "source.rabbitmq",
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        let vhost = uris
            .first()
            .map(|u| u.vhost.clone())
            .unwrap_or_else(|| "/".into());
        let vhost = if vhost.is_empty() {
            "/".to_owned()
        } else {
            vhost
        };
        Ok(RabbitMqSource {
            queues: cfg
                .queues
                .iter()
                .map(|q| (q.clone(), event::group_key(q, &vhost)))
                .collect(),
            prefetch: cfg.prefetch.unwrap_or(default_prefetch).max(1),
            name: format!("sluice/{pipe}"),
            display: format!(
                "rabbitmq {} queues={}",
                config::display(&cfg.url, &cfg.urls),
                cfg.queues.join(",")
            ),
            acker: Arc::new(AmqpAcker::default()),
            epoch: AtomicU64::new(0),
            connection: tokio::sync::Mutex::new(None),
            uris,
        })
    }

    /// The host for the default `eventSourceArn`.
    pub fn host(&self) -> String {
        self.uris
            .first()
            .map(|u| u.authority.host.clone())
            .unwrap_or_default()
    }

    /// Connect, consume until the connection is lost or `stop` is cancelled.
    async fn session(
        &self,
        attempt: usize,
        out: &mpsc::Sender<Record>,
        ctx: &SourceContext,
        stop: &CancellationToken,
    ) -> Ended<AmqpError> {
        // A blackholed broker can make a connect hang for minutes; shutdown must not wait.
        let connecting = connection::connect(&self.uris, attempt, &self.name);
        let conn = tokio::select! {
            _ = stop.cancelled() => return Ended::Stopped,
            c = connecting => match c {
                Ok(c) => c,
                Err(e) => return Ended::Lost(e),
            },
        };
        let setup = async {
            let ch = conn
                .create_channel()
                .await
                .map_err(chan("opening a channel"))?;
            ch.basic_qos(self.prefetch, BasicQosOptions { global: false })
                .await
                .map_err(chan("setting prefetch"))?;
            let mut consumers = Vec::new();
            for (i, (queue, _)) in self.queues.iter().enumerate() {
                let c = ch
                    .basic_consume(
                        queue.as_str().into(),
                        format!("{}-{i}", self.name).into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .map_err(chan("consuming"))?;
                consumers.push(c);
            }
            let stats = conn
                .create_channel()
                .await
                .map_err(chan("opening a channel"))?;
            Ok::<_, AmqpError>((ch, consumers, stats))
        };
        let set_up = tokio::select! {
            _ = stop.cancelled() => None,
            r = setup => Some(r),
        };
        let (channel, consumers, stats) = match set_up {
            Some(Ok(x)) => x,
            Some(Err(e)) => {
                crate::connection::bounded(conn.close(200, "setup failed".into())).await;
                return Ended::Lost(e);
            }
            None => {
                crate::connection::bounded(conn.close(200, "sluice shutting down".into())).await;
                return Ended::Stopped;
            }
        };
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        self.acker.new_epoch(epoch, channel.clone(), self.prefetch);
        *self.connection.lock().await = Some((conn, [channel.clone(), stats.clone()]));
        ctx.status.set_connected(true);
        ctx.status.set_reason("USER_INITIATED");
        info!(node = %connection::node_name(&self.uris[attempt % self.uris.len()]), epoch, prefetch = self.prefetch, "consuming");

        let mut deliveries = select_all(
            consumers
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, c)| c.map(move |d| (i, d))),
        );
        let mut backlog = tokio::time::interval(BACKLOG_INTERVAL);
        let ended = loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break Ended::Stopped,
                d = deliveries.next() => match d {
                    Some((queue, Ok(delivery))) => {
                        let tag = delivery.delivery_tag;
                        self.acker.delivered(tag);
                        let record = event::to_record(
                            DeliveryId { epoch, seq: tag },
                            &delivery.properties,
                            delivery.redelivered,
                            delivery.data,
                            &self.queues[queue].1,
                        );
                        if !forward(out, record, stop).await {
                            break Ended::Stopped;
                        }
                    }
                    Some((_, Err(e))) => break Ended::Lost(AmqpError::Channel { what: "receiving", source: e }),
                    None => break Ended::Lost(AmqpError::ConsumerGone),
                },
                _ = backlog.tick() => self.report_backlog(&stats, ctx).await,
            }
        };
        match ended {
            Ended::Stopped => {
                // Stop receiving but keep the connection for the settlements still to come.
                for c in &consumers {
                    let _ = channel
                        .basic_cancel(c.tag(), BasicCancelOptions::default())
                        .await;
                }
            }
            Ended::Lost(_) => {
                self.acker.lost();
                ctx.status.set_connected(false);
                if let Some((conn, _)) = self.connection.lock().await.take() {
                    crate::connection::bounded(conn.close(200, "reconnecting".into())).await;
                }
            }
        }
        ended
    }

    async fn report_backlog(&self, stats: &Channel, ctx: &SourceContext) {
        let mut total = 0i64;
        for (queue, _) in &self.queues {
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            match stats
                .queue_declare(queue.as_str().into(), passive, FieldTable::default())
                .await
            {
                Ok(q) => total += i64::from(q.message_count()),
                Err(_) => return,
            }
        }
        ctx.metrics.backlog.set(total);
    }
}

fn chan(what: &'static str) -> impl Fn(lapin::Error) -> AmqpError {
    move |source| AmqpError::Channel { what, source }
}

#[async_trait]
impl Source for RabbitMqSource {
    async fn run(&self, out: mpsc::Sender<Record>, ctx: SourceContext, stop: CancellationToken) {
        let (out, context, token) = (&out, &ctx, &stop);
        run_sessions(&ctx, &stop, "rabbitmq", &self.epoch, |attempt| {
            self.session(attempt, out, context, token)
        })
        .await;
    }

    fn acker(&self) -> Arc<dyn Acker> {
        self.acker.clone()
    }

    async fn close(&self) {
        self.acker.lost();
        if let Some((conn, channels)) = self.connection.lock().await.take() {
            // Channels first, so that no frame arrives for a channel the connection is
            // already tearing down; unacknowledged deliveries go back to their queues.
            for ch in channels {
                crate::connection::bounded(ch.close(200, "sluice shutting down".into())).await;
            }
            crate::connection::bounded(conn.close(200, "sluice shutting down".into())).await;
        }
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}
