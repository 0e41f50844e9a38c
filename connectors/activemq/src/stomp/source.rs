//! The STOMP source: subscriptions on a shared connection (`pool.rs`), one
//! `client-individual` subscription per queue, run by core's session driver. On ActiveMQ a
//! last subscription, to a temporary queue, takes the statistics plugin's answers for the
//! backlog (`crate::stats`).

use crate::config::{ActiveMqSourceConfig, Brokers, Protocol, Queue};
use crate::stats::{self, Reply, Statistics};
use crate::stomp::acker::{Live, StompAcker};
use crate::stomp::codec::{Frame, Item, Out};
use crate::stomp::connection::Login;
use crate::stomp::destination;
use crate::stomp::error::StompError;
use crate::stomp::event;
use crate::stomp::pool::{self, Inbox, Mux, POOL, subscription};
use async_trait::async_trait;
use sluice_core::session::{Read, Session, SessionSource};
use sluice_core::source::Acker;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub(crate) struct StompSource {
    brokers: Brokers,
    login: Login,
    queues: Vec<Queue>,
    prefetch: u32,
    acker: Arc<StompAcker>,
    display: String,
    /// Which shared connections this pipe may use (`pool::key`).
    key: pool::Key,
    /// Set once the broker refused one of the pipe's subscriptions: from then on the pipe
    /// has a connection of its own (`pool.rs` says why).
    alone: Arc<AtomicBool>,
}

impl StompSource {
    /// Build from validated configuration; no I/O.
    pub(crate) fn new(cfg: &ActiveMqSourceConfig, default_prefetch: u32) -> Result<Self, String> {
        let brokers = Brokers::parse(cfg.url.expose(), Protocol::Stomp)?;
        let login = Login {
            username: cfg.username.clone(),
            password: cfg.password.clone(),
            virtual_host: cfg.virtual_host.clone(),
            heart_beat: cfg.heart_beat.0,
        };
        Ok(StompSource {
            display: format!("activemq(stomp) {brokers} queues={}", cfg.queues.join(",")),
            key: pool::key(&brokers.to_string(), &login),
            alone: Arc::default(),
            login,
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

/// One pipe's subscriptions on a shared connection.
pub(crate) struct Subscribed {
    inbox: Inbox,
    mux: Arc<Mux>,
    session: i64,
    /// The subscription id of the statistics answers.
    stats_id: String,
    epoch: u64,
    acker: Arc<StompAcker>,
    /// Receipts and ids of subscriptions the broker has not confirmed yet.
    subscribing: Vec<(String, String)>,
    alone: Arc<AtomicBool>,
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
        let endpoint = self.brokers.pick(0, attempt);
        let key = if self.alone.load(Ordering::Relaxed) {
            // A key no other pipe has: this source's address.
            format!("{}\nalone {:p}", self.key, self)
        } else {
            self.key.clone()
        };
        let lease = POOL
            .lease(key, |_| async {
                pool::connect(endpoint, &self.login).await.map_err(Arc::new)
            })
            .await
            .map_err(StompError::Shared)?;
        let mux = lease.connection().clone();
        let (session, inbox) = mux.open_session();
        let mut frames = Vec::with_capacity(self.queues.len() + 1);
        let mut subscriptions = Vec::with_capacity(self.queues.len() + 1);
        let mut subscribing = Vec::with_capacity(self.queues.len());
        for (i, q) in self.queues.iter().enumerate() {
            let id = subscription(session, Some(i));
            let receipt = mux.expect(session).to_string();
            let mut subscribe = Frame::new("SUBSCRIBE")
                .header("id", id.clone())
                .header("destination", destination(&q.name))
                .header("ack", "client-individual")
                .header("activemq.prefetchSize", self.prefetch.to_string())
                .header("prefetch-count", self.prefetch.to_string())
                .header("receipt", receipt.clone());
            if q.exclusive {
                subscribe = subscribe.header("activemq.exclusive", "true");
            }
            frames.push(Out::Frame(subscribe));
            subscribing.push((receipt, id.clone()));
            subscriptions.push(id);
        }
        // Only ActiveMQ has the plugin: elsewhere (RabbitMQ's STOMP plugin) a request would
        // create a queue named after it.
        let stats = mux
            .details
            .server
            .starts_with("ActiveMQ/")
            .then(|| Statistics::new(self.queues.iter().map(|q| plain_name(&q.name))));
        if stats.is_some() {
            let id = subscription(session, None);
            let answers = Frame::new("SUBSCRIBE")
                .header("id", id.clone())
                .header("destination", reply_to(session))
                .header("ack", "auto")
                .header("transformation", "jms-map-json");
            frames.push(Out::Frame(answers));
            subscriptions.push(id);
        }
        let live = Live {
            mux: mux.clone(),
            lease,
            session,
            subscriptions,
            inbox: None,
        };
        // From here on the acker owns the subscriptions: a failed write below ends them
        // through the driver's `lost`.
        self.acker.new_epoch(epoch, live).await;
        mux.send(frames).await?;
        let peer = format!("{} prefetch={}", mux.endpoint, self.prefetch);
        Ok((
            Subscribed {
                inbox,
                mux,
                session,
                stats_id: subscription(session, None),
                epoch,
                acker: self.acker.clone(),
                subscribing,
                alone: self.alone.clone(),
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

/// The temporary queue of a session's statistics answers.
fn reply_to(session: i64) -> String {
    format!("/temp-queue/sluice-stats-{session}")
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
            let frame = match self.inbox.recv().await {
                Some(Item::Heartbeat) => return Ok(Read::Alive),
                Some(Item::Frame(f)) => f,
                None => return Err(self.mux.failure()),
            };
            match frame.command.as_str() {
                "MESSAGE" if frame.get("subscription") == Some(self.stats_id.as_str()) => {
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
                "RECEIPT" => {
                    let receipt = frame.get("receipt-id").unwrap_or_default();
                    self.subscribing.retain(|(r, _)| r != receipt);
                    Ok(Read::Alive)
                }
                "ERROR" => {
                    // An answer to one of this pipe's frames (the connection routes only those
                    // here): the broker may close the connection after it.
                    self.alone.store(true, Ordering::Relaxed);
                    // A refused subscription is not there to unsubscribe from.
                    let receipt = frame.get("receipt-id").unwrap_or_default();
                    if let Some((_, refused)) = self.subscribing.iter().find(|(r, _)| r == receipt)
                    {
                        let refused = refused.clone();
                        self.acker
                            .with_live(move |live| live.subscriptions.retain(|s| *s != refused))
                            .await;
                    }
                    Err(StompError::from_error_frame(&frame))
                }
                _ => Ok(Read::Alive),
            }
        }
    }

    /// The shared connection's reader watches for silence, for every pipe on it.
    fn silence_limit(&self) -> Option<Duration> {
        None
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
                        .header("reply-to", reply_to(self.session))
                        .header("persistent", "false")
                        .header("expires", expires.to_string())
                })
                .collect();
            self.acker
                .write("statistics requests", move |live| {
                    let frames = requests.into_iter().map(Out::Frame);
                    Box::pin(async move { live.mux.send(frames).await.map_err(|e| e.to_string()) })
                })
                .await;
        }
        stats.backlog()
    }

    /// The subscriptions stay for settlements until the source closes; the inbox goes to
    /// the acker, whose goodbye waits for the broker's receipt in it.
    async fn stop(self) {
        let inbox = self.inbox;
        self.acker.with_live(|live| live.inbox = Some(inbox)).await;
    }

    async fn lost(self) {
        self.acker.lost().await;
    }
}
