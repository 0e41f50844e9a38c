//! The STOMP source: one connection, one `client-individual` subscription per queue.

use crate::acker::StompAcker;
use crate::codec::{Frame, Item, Out};
use crate::config::{Endpoint, StompSourceConfig, destination, endpoints};
use crate::connection::{self, Login};
use crate::error::StompError;
use crate::event;
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
use tracing::info;

pub struct StompSource {
    endpoints: Vec<Endpoint>,
    login: Login,
    queues: Vec<String>,
    prefetch: u32,
    acker: Arc<StompAcker>,
    epoch: AtomicU64,
    seq: AtomicU64,
    display: String,
}

impl StompSource {
    /// Build from validated configuration; no I/O.
    pub fn new(cfg: &StompSourceConfig, default_prefetch: u32) -> Result<Self, String> {
        let endpoints = endpoints(&cfg.url)?;
        Ok(StompSource {
            display: format!(
                "activemq(stomp) {} queues={}",
                endpoints
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                cfg.queues.join(",")
            ),
            login: Login {
                username: cfg.username.clone(),
                password: cfg.password.clone(),
                virtual_host: cfg.virtual_host.clone(),
                heart_beat: cfg.heart_beat,
            },
            queues: cfg.queues.clone(),
            prefetch: cfg.prefetch.unwrap_or(default_prefetch).max(1),
            acker: Arc::new(StompAcker::default()),
            epoch: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            endpoints,
        })
    }

    /// The first broker's host, for the default `eventSourceArn`.
    pub fn host(&self) -> &str {
        &self.endpoints[0].host
    }

    async fn session(
        &self,
        attempt: usize,
        out: &mpsc::Sender<Record>,
        ctx: &SourceContext,
        stop: &CancellationToken,
    ) -> Ended<StompError> {
        let connected = tokio::select! {
            _ = stop.cancelled() => return Ended::Stopped,
            c = connection::connect(&self.endpoints, attempt, &self.login) => match c {
                Ok(c) => c,
                Err(e) => return Ended::Lost(e),
            },
        };
        let (mut writer, mut reader) = connected.conn.split();
        for (i, q) in self.queues.iter().enumerate() {
            let subscribe = Frame::new("SUBSCRIBE")
                .header("id", i.to_string())
                .header("destination", destination(q))
                .header("ack", "client-individual")
                .header("activemq.prefetchSize", self.prefetch.to_string())
                .header("prefetch-count", self.prefetch.to_string());
            if let Err(e) = writer.feed(Out::Frame(subscribe)).await {
                return Ended::Lost(e.into());
            }
        }
        if let Err(e) = writer.flush().await {
            return Ended::Lost(e.into());
        }
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        self.acker
            .new_epoch(epoch, writer, connected.send_every)
            .await;
        ctx.status.set_connected(true);
        ctx.status.set_reason("USER_INITIATED");
        info!(broker = %connected.endpoint, epoch, prefetch = self.prefetch, "consuming");
        let mut last_heard = Instant::now();
        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Ended::Stopped,
                item = reader.next() => {
                    last_heard = Instant::now();
                    let frame = match item {
                        Some(Ok(Item::Heartbeat)) => continue,
                        Some(Ok(Item::Frame(f))) => f,
                        Some(Err(e)) => return self.lost(e.into(), ctx).await,
                        None => return self.lost(StompError::Closed, ctx).await,
                    };
                    match frame.command.as_str() {
                        "MESSAGE" => {
                            let ack = frame
                                .get("ack")
                                .or_else(|| frame.get("message-id"))
                                .unwrap_or_default()
                                .to_owned();
                            let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
                            self.acker.delivered(seq, ack);
                            let record = event::to_record(DeliveryId { epoch, seq }, frame);
                            if !forward(out, record, stop).await {
                                return Ended::Stopped;
                            }
                        }
                        "ERROR" => return self.lost(StompError::from_error_frame(&frame), ctx).await,
                        _ => {}
                    }
                }
                _ = check.tick() => {
                    if let Some(limit) = connected.silent_limit
                        && last_heard.elapsed() > limit
                    {
                        return self.lost(StompError::Silent(limit), ctx).await;
                    }
                }
            }
        }
    }

    async fn lost(&self, e: StompError, ctx: &SourceContext) -> Ended<StompError> {
        self.acker.lost().await;
        ctx.status.set_connected(false);
        Ended::Lost(e)
    }
}

#[async_trait]
impl Source for StompSource {
    async fn run(&self, out: mpsc::Sender<Record>, ctx: SourceContext, stop: CancellationToken) {
        let (out, context, token) = (&out, &ctx, &stop);
        run_sessions(&ctx, &stop, "stomp", &self.epoch, |attempt| {
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
