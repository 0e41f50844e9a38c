//! The OpenWire source: one connection and session, one consumer per queue, individual acks.

use crate::acker::{Live, OpenWireAcker};
use crate::config::{Brokers, OpenWireSourceConfig, brokers};
use crate::connection::{self, Login};
use crate::error::OpenWireError;
use crate::event;
use crate::wire::{Command, ConsumerId, ConsumerInfo, Data, Destination, Header};
use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use sluice_core::record::{DeliveryId, Record};
use sluice_core::source::{Acker, Ended, Source, SourceContext, forward, run_sessions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// ActiveMQ's default `MaxInactivityDuration`: a broker silent this long is taken as gone, and
/// a keep-alive goes out every third of it.
const MAX_INACTIVITY: Duration = Duration::from_secs(30);

pub struct OpenWireSource {
    brokers: Brokers,
    /// Where round-robin over the brokers starts (random with `randomize`).
    start: usize,
    login: Login,
    queues: Vec<Destination>,
    prefetch: u32,
    acker: Arc<OpenWireAcker>,
    epoch: AtomicU64,
    seq: AtomicU64,
    display: String,
}

impl OpenWireSource {
    /// Build from validated configuration; no I/O.
    pub fn new(cfg: &OpenWireSourceConfig, default_prefetch: u32) -> Result<Self, String> {
        let brokers = brokers(&cfg.url)?;
        Ok(OpenWireSource {
            display: format!(
                "activemq(openwire) {} queues={}",
                brokers
                    .endpoints
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                cfg.queues.join(",")
            ),
            start: brokers.start(),
            login: Login {
                username: cfg.username.clone(),
                password: cfg.password.clone(),
                max_inactivity: MAX_INACTIVITY,
            },
            queues: cfg.queues.iter().map(|q| Destination::parse(q)).collect(),
            prefetch: cfg.prefetch.unwrap_or(default_prefetch).max(1),
            acker: Arc::new(OpenWireAcker::default()),
            epoch: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            brokers,
        })
    }

    /// The first broker's host, for the default `eventSourceArn`.
    pub fn host(&self) -> &str {
        &self.brokers.endpoints[0].host
    }

    async fn session(
        &self,
        attempt: usize,
        out: &mpsc::Sender<Record>,
        ctx: &SourceContext,
        stop: &CancellationToken,
    ) -> Ended<OpenWireError> {
        let connected = tokio::select! {
            _ = stop.cancelled() => return Ended::Stopped,
            c = connection::connect(&self.brokers, self.start, attempt, &self.login) => match c {
                Ok(c) => c,
                Err(e) => return Ended::Lost(e),
            },
        };
        let mut consumers = Vec::with_capacity(self.queues.len());
        let mut subscribing = Vec::with_capacity(self.queues.len());
        let (mut writer, mut reader) = connected.conn.split();
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
                ..ConsumerInfo::default()
            };
            if let Err(e) = writer.feed(Command::ConsumerInfo(info)).await {
                return Ended::Lost(e.into());
            }
            subscribing.push(command_id);
            consumers.push((id, queue.clone()));
        }
        if let Err(e) = writer.flush().await {
            return Ended::Lost(e.into());
        }
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        let live = Live {
            writer,
            consumers,
            session: Data::SessionId(connected.session.clone()),
            connection: Data::ConnectionId(connected.session.connection.clone()),
            ids: connected.ids.clone(),
        };
        self.acker
            .new_epoch(epoch, live, connected.keep_alive_every)
            .await;
        ctx.status.set_connected(true);
        ctx.status.set_reason("USER_INITIATED");
        info!(broker = %connected.endpoint, name = connected.broker_name, epoch, prefetch = self.prefetch, "consuming");
        let mut last_heard = Instant::now();
        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Ended::Stopped,
                item = reader.next() => {
                    last_heard = Instant::now();
                    let command = match item {
                        Some(Ok(c)) => c,
                        Some(Err(e)) => return self.lost(e.into(), ctx).await,
                        None => return self.lost(OpenWireError::Closed, ctx).await,
                    };
                    match command {
                        Command::MessageDispatch(d) => {
                            let Some(m) = d.message.as_deref() else { continue };
                            let consumer = d
                                .consumer_id
                                .as_ref()
                                .map_or(0, |c| (c.value - 1).max(0) as usize);
                            let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
                            self.acker.delivered(seq, consumer, m.message_id.clone().unwrap_or_default());
                            let record = event::to_record(DeliveryId { epoch, seq }, &d, m);
                            if !forward(out, record, stop).await {
                                return Ended::Stopped;
                            }
                        }
                        Command::KeepAliveInfo(h) if h.response_required => {
                            self.acker.answer_keep_alive().await;
                        }
                        Command::Response(_, c) => subscribing.retain(|s| *s != c),
                        Command::ExceptionResponse(_, c, t) if subscribing.contains(&c) => {
                            return self.lost(OpenWireError::broker(t), ctx).await;
                        }
                        Command::ExceptionResponse(_, _, t) => {
                            warn!(error = %t.unwrap_or_default(), "the broker refused a command");
                        }
                        Command::ConnectionError(_, t, _) => {
                            return self.lost(OpenWireError::broker(t), ctx).await;
                        }
                        Command::ShutdownInfo(_) => return self.lost(OpenWireError::Closed, ctx).await,
                        Command::ConnectionControl { close, exit, .. } if close || exit => {
                            return self.lost(OpenWireError::Closed, ctx).await;
                        }
                        Command::ConsumerControl(c) if c.close => {
                            return self.lost(
                                OpenWireError::Protocol("the broker closed a consumer".into()),
                                ctx,
                            ).await;
                        }
                        _ => {}
                    }
                }
                _ = check.tick() => {
                    if let Some(limit) = connected.read_timeout
                        && last_heard.elapsed() > limit
                    {
                        return self.lost(OpenWireError::Silent(limit), ctx).await;
                    }
                }
            }
        }
    }

    async fn lost(&self, e: OpenWireError, ctx: &SourceContext) -> Ended<OpenWireError> {
        self.acker.lost().await;
        ctx.status.set_connected(false);
        Ended::Lost(e)
    }
}

#[async_trait]
impl Source for OpenWireSource {
    async fn run(&self, out: mpsc::Sender<Record>, ctx: SourceContext, stop: CancellationToken) {
        let (out, context, token) = (&out, &ctx, &stop);
        run_sessions(&ctx, &stop, "openwire", &self.epoch, |attempt| {
            self.session(attempt, out, context, token)
        })
        .await;
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
