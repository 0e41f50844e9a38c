//! The RabbitMQ source: one channel with a consumer per queue, on a connection shared with
//! the other pipes that consume from the same brokers (`pool.rs`), run by core's session
//! driver.

use crate::acker::AmqpAcker;
use crate::config::{self, RabbitMqSourceConfig};
use crate::error::AmqpError;
use crate::event;
use crate::pool::{self, Lease, Role};
use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::{SelectAll, select_all};
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{Channel, Consumer};
use sluice_core::config::ConfigError;
use sluice_core::record::DeliveryId;
use sluice_core::session::{Read, Session, SessionSource};
use sluice_core::source::{Acker, bounded};
use std::future::Future;
use std::sync::Arc;

/// The live connection, shared by the source (which closes it at shutdown) and its session
/// (which closes it when lost).
type LiveConnection = Arc<tokio::sync::Mutex<Option<Live>>>;

/// A leased connection, the pipe's two channels on it (consuming, backlog), and the consumers
/// of a stopped session.
struct Live {
    lease: Lease,
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

    /// Open the pipe's channels on the leased connection and its consumers; every channel
    /// opened goes into `opened`, for closing if a later step fails.
    async fn subscribe(
        &self,
        lease: &Lease,
        opened: &mut Vec<Channel>,
    ) -> Result<(Channel, Vec<Consumer>, Channel), AmqpError> {
        let conn = lease.connection();
        let ch = conn
            .create_channel()
            .await
            .map_err(chan("opening a channel"))?;
        opened.push(ch.clone());
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
        opened.push(stats.clone());
        Ok((ch, consumers, stats))
    }
}

/// Close a pipe's channels, each within the bounded wait.
async fn close_channels(channels: impl IntoIterator<Item = Channel>, reason: &str) {
    for ch in channels {
        bounded(ch.close(200, reason.into())).await;
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
        let lease = pool::lease(Role::Consume, &self.uris, attempt).await?;
        let mut opened = Vec::new();
        let (channel, consumers, stats) = match self.subscribe(&lease, &mut opened).await {
            Ok(x) => x,
            Err(e) => {
                // Only this pipe's channels: the connection is other pipes' too.
                close_channels(opened, "setup failed").await;
                lease.close("setup failed").await;
                return Err(e);
            }
        };
        self.acker.new_epoch(epoch, channel.clone(), self.prefetch);
        let peer = format!("{} prefetch={}", lease.node(), self.prefetch);
        *self.connection.lock().await = Some(Live {
            lease,
            channels: [channel, stats.clone()],
            parked: None,
        });
        let deliveries = select_all(consumers.into_iter().enumerate().map(|(i, c)| {
            let tag: TagQueue = Box::new(move |d| (i, d));
            c.map(tag)
        }));
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
            // Closing the channels hands their unacknowledged deliveries back to the queues.
            close_channels(live.channels, "sluice shutting down").await;
            drop(live.parked);
            live.lease.close("sluice shutting down").await;
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

    /// Close this pipe's channels (the connection may be fine and other pipes' too); if the
    /// connection is what failed, the next lease opens a new one.
    async fn lost(self) {
        self.acker.lost();
        if let Some(live) = self.connection.lock().await.take() {
            close_channels(live.channels, "reconnecting").await;
            live.lease.close("reconnecting").await;
        }
    }
}
