//! The STOMP source: one connection, one `client-individual` subscription per queue, run by
//! core's session driver. On ActiveMQ a last subscription, to a temporary queue, takes the
//! statistics plugin's answers for the backlog (`crate::stats`).

use crate::config::{ActiveMqSourceConfig, Brokers, Protocol, Queue};
use crate::stats::{self, Reply, Statistics};
use crate::stomp::acker::{Live, StompAcker};
use crate::stomp::codec::{Frame, Item, Out};
use crate::stomp::connection::{self, Conn, Login};
use crate::stomp::destination;
use crate::stomp::error::StompError;
use crate::stomp::event;
use async_trait::async_trait;
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use sluice_core::session::{Read, Session, SessionSource};
use sluice_core::source::Acker;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The subscription id and temporary queue of statistics answers.
const STATS_ID: &str = "sluice-stats";
const STATS_REPLY_TO: &str = "/temp-queue/sluice-stats";

pub(crate) struct StompSource {
    brokers: Brokers,
    login: Login,
    queues: Vec<Queue>,
    prefetch: u32,
    acker: Arc<StompAcker>,
    display: String,
}

impl StompSource {
    /// Build from validated configuration; no I/O.
    pub(crate) fn new(cfg: &ActiveMqSourceConfig, default_prefetch: u32) -> Result<Self, String> {
        let brokers = Brokers::parse(cfg.url.expose(), Protocol::Stomp)?;
        Ok(StompSource {
            display: format!("activemq(stomp) {brokers} queues={}", cfg.queues.join(",")),
            login: Login {
                username: cfg.username.clone(),
                password: cfg.password.clone(),
                virtual_host: cfg.virtual_host.clone(),
                heart_beat: cfg.heart_beat.0,
            },
            queues: cfg
                .queues
                .iter()
                .map(|q| Queue::parse(q))
                .collect::<Result<_, _>>()?,
            prefetch: cfg.prefetch.unwrap_or(default_prefetch).max(1),
            acker: Arc::default(),
            brokers,
        })
    }

    /// The first broker's host, for the default `eventSourceArn`.
    pub(crate) fn host(&self) -> &str {
        self.brokers.host()
    }
}

/// One connection's subscriptions.
pub(crate) struct Subscribed {
    reader: SplitStream<Conn>,
    epoch: u64,
    acker: Arc<StompAcker>,
    silence: Option<Duration>,
    /// The queues' statistics; `None` on a broker that is not ActiveMQ.
    stats: Option<Statistics>,
    /// The queues' plain names, for statistics requests.
    queues: Vec<String>,
}

#[async_trait]
impl SessionSource for StompSource {
    type Session = Subscribed;

    fn kind(&self) -> &'static str {
        "stomp"
    }

    async fn open(&self, attempt: usize, epoch: u64) -> Result<(Subscribed, String), StompError> {
        let connected = connection::connect(self.brokers.pick(0, attempt), &self.login).await?;
        let (mut writer, reader) = connected.conn.split();
        for (i, q) in self.queues.iter().enumerate() {
            let mut subscribe = Frame::new("SUBSCRIBE")
                .header("id", i.to_string())
                .header("destination", destination(&q.name))
                .header("ack", "client-individual")
                .header("activemq.prefetchSize", self.prefetch.to_string())
                .header("prefetch-count", self.prefetch.to_string());
            if q.exclusive {
                subscribe = subscribe.header("activemq.exclusive", "true");
            }
            writer.feed(Out::Frame(subscribe)).await?;
        }
        // Only ActiveMQ has the plugin: elsewhere (RabbitMQ's STOMP plugin) a request would
        // create a queue named after it.
        let stats = connected
            .server
            .starts_with("ActiveMQ/")
            .then(|| Statistics::new(self.queues.iter().map(|q| plain_name(&q.name))));
        if stats.is_some() {
            let answers = Frame::new("SUBSCRIBE")
                .header("id", STATS_ID)
                .header("destination", STATS_REPLY_TO)
                .header("ack", "auto")
                .header("transformation", "jms-map-json");
            writer.feed(Out::Frame(answers)).await?;
        }
        writer.flush().await?;
        let live = Live {
            writer,
            reader: None,
        };
        self.acker
            .new_epoch(epoch, live, connected.send_every)
            .await;
        let peer = format!("{} prefetch={}", connected.endpoint, self.prefetch);
        Ok((
            Subscribed {
                reader,
                epoch,
                acker: self.acker.clone(),
                silence: connected.silent_limit,
                stats,
                queues: self
                    .queues
                    .iter()
                    .map(|q| plain_name(&q.name).to_owned())
                    .collect(),
            },
            peer,
        ))
    }

    fn acker(&self) -> Arc<dyn Acker> {
        self.acker.clone()
    }

    async fn close(&self) {
        self.acker.close().await;
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}

/// A queue's name without the STOMP `/queue/` prefix.
fn plain_name(q: &str) -> &str {
    q.strip_prefix("/queue/").unwrap_or(q)
}

#[async_trait]
impl Session for Subscribed {
    type Error = StompError;

    // Written out: inside #[async_trait] an `async fn` would be boxed, once per message.
    #[allow(clippy::manual_async_fn)]
    fn next(&mut self) -> impl Future<Output = Result<Read, StompError>> + Send {
        async move {
            let frame = match self.reader.next().await {
                Some(Ok(Item::Heartbeat)) => return Ok(Read::Alive),
                Some(Ok(Item::Frame(f))) => f,
                Some(Err(e)) => return Err(e.into()),
                None => return Err(StompError::Closed),
            };
            match frame.command.as_str() {
                "MESSAGE" if frame.get("subscription") == Some(STATS_ID) => {
                    if let (Some(stats), Some(r)) = (&mut self.stats, Reply::from_json(&frame.body))
                    {
                        stats.answer(&r.destination, r.size, r.inflight);
                    }
                    Ok(Read::Alive)
                }
                "MESSAGE" => {
                    let ack = frame
                        .get("ack")
                        .or_else(|| frame.get("message-id"))
                        .unwrap_or_default()
                        .to_owned();
                    let id = self.acker.deliveries.delivered(self.epoch, ack);
                    Ok(Read::Record(event::to_record(id, frame)))
                }
                "ERROR" => Err(StompError::from_error_frame(&frame)),
                _ => Ok(Read::Alive),
            }
        }
    }

    fn silence_limit(&self) -> Option<Duration> {
        self.silence
    }

    /// Ask the statistics plugin again (answers arrive through `next`) and report the last
    /// answers.
    async fn backlog(&mut self) -> Option<u64> {
        let stats = self.stats.as_mut()?;
        if stats.ask() {
            let expires = sluice_core::record::now_ms() + stats::REQUEST_TTL.as_millis() as u64;
            let requests: Vec<Frame> = self
                .queues
                .iter()
                .map(|q| {
                    Frame::new("SEND")
                        .header("destination", destination(&stats::request_queue(q)))
                        .header("reply-to", STATS_REPLY_TO)
                        .header("persistent", "false")
                        .header("expires", expires.to_string())
                })
                .collect();
            self.acker
                .write("statistics requests", move |live| {
                    Box::pin(async move {
                        for f in requests {
                            live.writer
                                .feed(Out::Frame(f))
                                .await
                                .map_err(|e| e.to_string())?;
                        }
                        live.writer.flush().await.map_err(|e| e.to_string())
                    })
                })
                .await;
        }
        stats.backlog()
    }

    /// The connection stays open for settlements until the source closes; the reading half
    /// goes to the acker, whose goodbye waits for the broker's receipt on it.
    async fn stop(self) {
        let reader = self.reader;
        self.acker
            .with_live(|live| live.reader = Some(reader))
            .await;
    }

    async fn lost(self) {
        self.acker.lost().await;
    }
}
