//! The OpenWire source: one connection and session, one consumer per queue, individual acks,
//! run by core's session driver; the statistics plugin's answers on a last consumer.

use crate::config::{ActiveMqSourceConfig, Brokers, Protocol, Queue};
use crate::openwire::acker::{Live, OpenWireAcker};
use crate::openwire::connection::{self, Conn, Login};
use crate::openwire::error::OpenWireError;
use crate::openwire::event;
use crate::openwire::stats::StatsChannel;
use crate::openwire::wire::{Command, ConsumerId, ConsumerInfo, Data, Destination, Header};
use async_trait::async_trait;
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use sluice_core::session::{Read, Session, SessionSource};
use sluice_core::source::Acker;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tracing::warn;

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
        Ok(OpenWireSource {
            display: format!(
                "activemq(openwire) {brokers} queues={}",
                cfg.queues.join(",")
            ),
            start: brokers.start(),
            login: Login {
                username: cfg.username.clone(),
                password: cfg.password.clone(),
                max_inactivity: MAX_INACTIVITY,
            },
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

/// One connection's consumers.
pub(crate) struct Consuming {
    reader: SplitStream<Conn>,
    epoch: u64,
    acker: Arc<OpenWireAcker>,
    /// Command ids of consumers the broker has not accepted yet.
    subscribing: Vec<i32>,
    silence: Option<Duration>,
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
        let connected = connection::connect(endpoint, &self.login).await?;
        let mut consumers = Vec::with_capacity(self.queues.len());
        let mut subscribing = Vec::with_capacity(self.queues.len());
        let (mut writer, reader) = connected.conn.split();
        for (i, queue) in self.queues.iter().enumerate() {
            let id = ConsumerId {
                connection: connected.session.connection.clone(),
                session: connected.session.value,
                value: i as i64 + 1,
            };
            let command_id = connected.ids.fetch_add(1, Ordering::Relaxed);
            let info = ConsumerInfo {
                header: Header {
                    command_id,
                    response_required: true,
                },
                consumer_id: id.clone(),
                destination: Some(queue.clone()),
                prefetch_size: self.prefetch.min(i32::MAX as u32) as i32,
                dispatch_async: true,
                exclusive: self.exclusive[i],
                ..ConsumerInfo::default()
            };
            writer.feed(Command::ConsumerInfo(info)).await?;
            subscribing.push(command_id);
            consumers.push((id, queue.clone()));
        }
        let (stats, setup) = StatsChannel::open(
            &connected.session,
            &self.queues,
            self.queues.len() as i64 + 1,
            connected.ids.clone(),
        );
        for command in setup {
            writer.feed(command).await?;
        }
        writer.flush().await?;
        let live = Live {
            writer,
            consumers,
            session: Data::SessionId(connected.session.clone()),
            connection: Data::ConnectionId(connected.session.connection.clone()),
            ids: connected.ids.clone(),
            reader: None,
        };
        self.acker
            .new_epoch(epoch, live, connected.keep_alive_every)
            .await;
        let peer = format!(
            "{} name={} prefetch={}",
            connected.endpoint, connected.broker_name, self.prefetch
        );
        Ok((
            Consuming {
                reader,
                epoch,
                acker: self.acker.clone(),
                subscribing,
                silence: connected.read_timeout,
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
            let command = match self.reader.next().await {
                Some(Ok(c)) => c,
                Some(Err(e)) => return Err(e.into()),
                None => return Err(OpenWireError::Closed),
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
                Command::KeepAliveInfo(h) if h.response_required => {
                    // Spawned: `next` must stay cancel-safe.
                    let acker = self.acker.clone();
                    tokio::spawn(async move { acker.beat().await });
                    Ok(Read::Alive)
                }
                Command::Response(_, c) => {
                    self.subscribing.retain(|s| *s != c);
                    Ok(Read::Alive)
                }
                Command::ExceptionResponse(_, c, t) if self.subscribing.contains(&c) => {
                    Err(OpenWireError::broker(t))
                }
                Command::ExceptionResponse(_, _, t) => {
                    warn!(error = %t.unwrap_or_default(), "the broker refused a command");
                    Ok(Read::Alive)
                }
                Command::ConnectionError(_, t, _) => Err(OpenWireError::broker(t)),
                Command::ShutdownInfo(_) => Err(OpenWireError::Closed),
                Command::ConnectionControl { close, exit, .. } if close || exit => {
                    Err(OpenWireError::Closed)
                }
                Command::ConsumerControl(c) if c.close => Err(OpenWireError::Protocol(
                    "the broker closed a consumer".into(),
                )),
                _ => Ok(Read::Alive),
            }
        }
    }

    fn silence_limit(&self) -> Option<Duration> {
        self.silence
    }

    /// Acknowledge the last statistics answer and ask again (answers arrive through `next`);
    /// report the last answers.
    async fn backlog(&mut self) -> Option<u64> {
        let commands = self.stats.round();
        if !commands.is_empty() {
            self.acker
                .write("statistics requests", move |live| {
                    Box::pin(async move {
                        for c in commands {
                            live.writer.feed(c).await.map_err(|e| e.to_string())?;
                        }
                        live.writer.flush().await.map_err(|e| e.to_string())
                    })
                })
                .await;
        }
        self.stats.backlog()
    }

    /// The connection stays open for settlements until the source closes; the reading half
    /// goes to the acker, whose goodbye waits for the broker's answer on it.
    async fn stop(self) {
        let reader = self.reader;
        self.acker
            .with_live(move |live| live.reader = Some(reader))
            .await;
    }

    async fn lost(self) {
        self.acker.lost().await;
    }
}
