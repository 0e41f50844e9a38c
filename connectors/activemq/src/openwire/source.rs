//! The OpenWire source: a session on a shared connection (`pool.rs`), one consumer per
//! queue, individual acks, run by core's session driver; the statistics plugin's answers on
//! a last consumer.

use crate::config::{ActiveMqSourceConfig, Brokers, Protocol, Queue};
use crate::openwire::acker::{Live, OpenWireAcker};
use crate::openwire::connection::Login;
use crate::openwire::error::OpenWireError;
use crate::openwire::event;
use crate::openwire::pool::{self, Inbox, Mux, POOL};
use crate::openwire::stats::StatsChannel;
use crate::openwire::wire::{Command, ConsumerId, ConsumerInfo, Destination};
use async_trait::async_trait;
use sluice_core::session::{Read, Session, SessionSource};
use sluice_core::source::Acker;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// ActiveMQ's default `MaxInactivityDuration`: a broker silent this long is taken as gone, and
/// a keep-alive goes out every third of it.
const MAX_INACTIVITY: Duration = Duration::from_secs(30);

pub(crate) struct OpenWireSource {
    brokers: Brokers,
    /// Where round-robin over the brokers starts (random with `randomize`).
    start: usize,
    login: Login,
    queues: Vec<Destination>,
    /// Per queue: `consumer.exclusive=true`.
    exclusive: Vec<bool>,
    prefetch: u32,
    acker: Arc<OpenWireAcker>,
    display: String,
    /// Which shared connections this pipe may use (`pool::key`).
    key: pool::Key,
}

impl OpenWireSource {
    /// Build from validated configuration; no I/O.
    pub(crate) fn new(cfg: &ActiveMqSourceConfig, default_prefetch: u32) -> Result<Self, String> {
        let brokers = Brokers::parse(cfg.url.expose(), Protocol::Openwire)?;
        let queues: Vec<Queue> = cfg
            .queues
            .iter()
            .map(|q| Queue::parse(q))
            .collect::<Result<_, _>>()?;
        let login = Login {
            username: cfg.username.clone(),
            password: cfg.password.clone(),
            max_inactivity: MAX_INACTIVITY,
        };
        Ok(OpenWireSource {
            key: pool::key(&brokers.to_string(), &login),
            display: format!(
                "activemq(openwire) {brokers} queues={}",
                cfg.queues.join(",")
            ),
            start: brokers.start(),
            login,
            queues: queues.iter().map(|q| Destination::parse(&q.name)).collect(),
            exclusive: queues.iter().map(|q| q.exclusive).collect(),
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

/// One pipe's consumers, in its session on a shared connection.
pub(crate) struct Consuming {
    inbox: Inbox,
    mux: Arc<Mux>,
    epoch: u64,
    acker: Arc<OpenWireAcker>,
    /// Command ids of consumers the broker has not accepted yet.
    subscribing: Vec<i32>,
    stats: StatsChannel,
}

#[async_trait]
impl SessionSource for OpenWireSource {
    type Session = Consuming;

    fn kind(&self) -> &'static str {
        "openwire"
    }

    async fn open(&self, attempt: usize, epoch: u64) -> Result<(Consuming, String), OpenWireError> {
        let endpoint = self.brokers.pick(self.start, attempt);
        let lease = POOL
            .lease(self.key.clone(), |_| async {
                pool::connect(endpoint, &self.login).await.map_err(Arc::new)
            })
            .await
            .map_err(OpenWireError::Shared)?;
        let mux = lease.connection().clone();
        let (session, inbox) = mux.session();
        let mut commands = Vec::with_capacity(self.queues.len() + 4);
        commands.push(Command::SessionInfo(
            mux.header(session.value, false),
            session.clone(),
        ));
        let mut consumers = Vec::with_capacity(self.queues.len());
        let mut subscribing = Vec::with_capacity(self.queues.len());
        for (i, queue) in self.queues.iter().enumerate() {
            let id = ConsumerId {
                connection: session.connection.clone(),
                session: session.value,
                value: i as i64 + 1,
            };
            let header = mux.header(session.value, true);
            subscribing.push(header.command_id);
            commands.push(Command::ConsumerInfo(ConsumerInfo {
                header,
                consumer_id: id.clone(),
                destination: Some(queue.clone()),
                prefetch_size: self.prefetch.min(i32::MAX as u32) as i32,
                dispatch_async: true,
                exclusive: self.exclusive[i],
                ..ConsumerInfo::default()
            }));
            consumers.push((id, queue.clone()));
        }
        let (stats, setup) = StatsChannel::open(
            &session,
            &self.queues,
            self.queues.len() as i64 + 1,
            mux.ids(),
        );
        commands.extend(setup);
        let live = Live {
            mux: mux.clone(),
            lease,
            consumers,
            session,
            temporary: stats.temporary(),
            inbox: None,
        };
        // From here on the acker owns the session: a failed write below ends it through
        // the driver's `lost`, which removes what the broker has of it.
        self.acker.new_epoch(epoch, live).await;
        mux.send(commands).await?;
        let peer = format!(
            "{} name={} prefetch={}",
            mux.endpoint, mux.details.broker_name, self.prefetch
        );
        Ok((
            Consuming {
                inbox,
                mux,
                epoch,
                acker: self.acker.clone(),
                subscribing,
                stats,
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

#[async_trait]
impl Session for Consuming {
    type Error = OpenWireError;

    // Written out: inside #[async_trait] an `async fn` would be boxed, once per message.
    #[allow(clippy::manual_async_fn)]
    fn next(&mut self) -> impl Future<Output = Result<Read, OpenWireError>> + Send {
        async move {
            let Some(command) = self.inbox.recv().await else {
                return Err(self.mux.failure());
            };
            match command {
                Command::MessageDispatch(d) => {
                    let Some(m) = d.message.as_deref() else {
                        return Ok(Read::Alive);
                    };
                    if self.stats.is_ours(&d) {
                        self.stats.answer(m);
                        return Ok(Read::Alive);
                    }
                    let consumer = d
                        .consumer_id
                        .as_ref()
                        .map_or(0, |c| (c.value - 1).max(0) as usize);
                    let receipt = (consumer, m.message_id.clone().unwrap_or_default());
                    let id = self.acker.deliveries.delivered(self.epoch, receipt);
                    Ok(Read::Record(event::to_record(id, &d, m)))
                }
                Command::Response(_, c) => {
                    self.subscribing.retain(|s| *s != c);
                    Ok(Read::Alive)
                }
                Command::ExceptionResponse(_, c, t) if self.subscribing.contains(&c) => {
                    Err(OpenWireError::broker(t))
                }
                Command::ConsumerControl(c) if c.close => Err(OpenWireError::Protocol(
                    "the broker closed a consumer".into(),
                )),
                _ => Ok(Read::Alive),
            }
        }
    }

    /// The shared connection's reader watches for silence, for every pipe on it.
    fn silence_limit(&self) -> Option<Duration> {
        None
    }

    /// Acknowledge the last statistics answer and ask again (answers arrive through `next`);
    /// report the last answers.
    async fn backlog(&mut self) -> Option<u64> {
        let commands = self.stats.round();
        if !commands.is_empty() {
            self.acker
                .write("statistics requests", move |live| {
                    Box::pin(
                        async move { live.mux.send(commands).await.map_err(|e| e.to_string()) },
                    )
                })
                .await;
        }
        self.stats.backlog()
    }

    /// The session stays open for settlements until the source closes; the inbox goes to
    /// the acker, whose goodbye waits for the broker's answer in it.
    async fn stop(self) {
        let inbox = self.inbox;
        self.acker
            .with_live(move |live| live.inbox = Some(inbox))
            .await;
    }

    async fn lost(self) {
        self.acker.lost().await;
    }
}
