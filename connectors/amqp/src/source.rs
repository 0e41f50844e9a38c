//! The RabbitMQ source: one connection, one channel, one consumer per queue, run by core's
//! session driver.

use crate::acker::AmqpAcker;
use crate::config::{self, RabbitMqSourceConfig};
use crate::connection;
use crate::error::AmqpError;
use crate::event;
use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::{SelectAll, select_all};
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, Consumer};
use sluice_core::config::ConfigError;
use sluice_core::record::DeliveryId;
use sluice_core::session::{Read, Session, SessionSource};
use sluice_core::source::{Acker, bounded};
use std::future::Future;
use std::sync::Arc;

/// The live connection, shared by the source (which closes it at shutdown) and its session
/// (which closes it when lost).
type LiveConnection = Arc<tokio::sync::Mutex<Option<Live>>>;

/// A connection, its two channels (consuming, backlog), and the consumers of a stopped session.
struct Live {
    conn: Connection,
    channels: [Channel; 2],
    /// Kept until the channel closes: dropping a lapin consumer cancels it.
    parked: Option<Deliveries>,
}

type Deliveries = SelectAll<futures_util::stream::Map<Consumer, TagQueue>>;

/// The RabbitMQ source: consumers on one connection, run by core's session driver.
pub struct RabbitMqSource {
    uris: Vec<AMQPUri>,
    queues: Arc<[(String, Arc<str>)]>,
    prefetch: u16,
    name: String,
    display: String,
    acker: Arc<AmqpAcker>,
    /// The live connection and its channels, closed in order at shutdown.
    connection: LiveConnection,
}

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
            connection: Arc::default(),
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
}

fn chan(what: &'static str) -> impl Fn(lapin::Error) -> AmqpError {
    move |source| AmqpError::Channel { what, source }
}

/// One connection's consumers.
pub struct Consuming {
    epoch: u64,
    deliveries: Deliveries,
    stats: Channel,
    queues: Arc<[(String, Arc<str>)]>,
    acker: Arc<AmqpAcker>,
    connection: LiveConnection,
}

type Delivery = (usize, Result<lapin::message::Delivery, lapin::Error>);
type TagQueue = Box<dyn FnMut(Result<lapin::message::Delivery, lapin::Error>) -> Delivery + Send>;

#[async_trait]
impl SessionSource for RabbitMqSource {
    type Session = Consuming;

    fn kind(&self) -> &'static str {
        "rabbitmq"
    }

    async fn open(&self, attempt: usize, epoch: u64) -> Result<(Consuming, String), AmqpError> {
        let conn = connection::connect(&self.uris, attempt, &self.name).await?;
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
        let (channel, consumers, stats) = match setup.await {
            Ok(x) => x,
            Err(e) => {
                bounded(conn.close(200, "setup failed".into())).await;
                return Err(e);
            }
        };
        self.acker.new_epoch(epoch, channel.clone(), self.prefetch);
        *self.connection.lock().await = Some(Live {
            conn,
            channels: [channel.clone(), stats.clone()],
            parked: None,
        });
        let deliveries = select_all(consumers.iter().cloned().enumerate().map(|(i, c)| {
            let tag: TagQueue = Box::new(move |d| (i, d));
            c.map(tag)
        }));
        let peer = format!(
            "{} prefetch={}",
            connection::node_name(&self.uris[attempt % self.uris.len()]),
            self.prefetch
        );
        Ok((
            Consuming {
                epoch,
                deliveries,
                stats,
                queues: self.queues.clone(),
                acker: self.acker.clone(),
                connection: self.connection.clone(),
            },
            peer,
        ))
    }

    fn acker(&self) -> Arc<dyn Acker> {
        self.acker.clone()
    }

    async fn close(&self) {
        self.acker.lost();
        if let Some(live) = self.connection.lock().await.take() {
            // Channels first, so that no frame arrives for a channel the connection is
            // already tearing down; unacknowledged deliveries go back to their queues.
            for ch in live.channels {
                bounded(ch.close(200, "sluice shutting down".into())).await;
            }
            bounded(live.conn.close(200, "sluice shutting down".into())).await;
            drop(live.parked);
        }
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}

#[async_trait]
impl Session for Consuming {
    type Error = AmqpError;

    // Written out: inside #[async_trait] an `async fn` would be boxed, once per message.
    #[allow(clippy::manual_async_fn)]
    fn next(&mut self) -> impl Future<Output = Result<Read, AmqpError>> + Send {
        async move {
            match self.deliveries.next().await {
                Some((queue, Ok(delivery))) => {
                    let tag = delivery.delivery_tag;
                    self.acker.delivered(tag);
                    Ok(Read::Record(event::to_record(
                        DeliveryId {
                            epoch: self.epoch,
                            seq: tag,
                        },
                        &delivery.properties,
                        delivery.redelivered,
                        delivery.data,
                        &self.queues[queue].1,
                    )))
                }
                Some((_, Err(e))) => Err(chan("receiving")(e)),
                None => Err(AmqpError::ConsumerGone),
            }
        }
    }

    /// A passive `queue.declare` per queue, on a channel of its own.
    async fn backlog(&mut self) -> Option<u64> {
        let mut total = 0u64;
        for (queue, _) in self.queues.iter() {
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let q = self
                .stats
                .queue_declare(queue.as_str().into(), passive, FieldTable::default())
                .await
                .ok()?;
            total += u64::from(q.message_count());
        }
        Some(total)
    }

    /// Stop reading, without `basic.cancel`: the connection stays for the settlements still
    /// to come, and what the broker sent meanwhile stays unacknowledged until `close` shuts
    /// the channel, which requeues it in its original order. A cancel would let a
    /// single-active-consumer queue hand the next messages to a standby replica while the
    /// records held here were still out, and break the queue's order at every failover. The
    /// consumers are parked with the connection until then (dropping one cancels it).
    async fn stop(self) {
        if let Some(live) = self.connection.lock().await.as_mut() {
            live.parked = Some(self.deliveries);
        }
    }

    async fn lost(self) {
        self.acker.lost();
        if let Some(live) = self.connection.lock().await.take() {
            bounded(live.conn.close(200, "reconnecting".into())).await;
        }
    }
}
