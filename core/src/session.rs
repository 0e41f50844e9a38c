//! The session driver: the one loop every source that holds sessions runs on.
//!
//! A connector says how to open a session (connect, log in, subscribe; for a poller, check
//! the queue answers) and how to read the next records from it. The driver owns everything
//! else, the same for every connector: connection epochs, the pipe's status and its ESM
//! reason, the silence watchdog, the backlog gauge, handing records to the pipe, giving back
//! what could not be handed over at shutdown, counting errors, and reconnecting with capped,
//! jittered backoff (reset once a session got going: it delivered a record, or lasted
//! [`STABLE_AFTER`]).

use crate::record::Record;
use crate::source::{Acker, Outcome, Source, SourceContext, forward};
use crate::status::Reason;
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the driver asks a session for its backlog.
pub const BACKLOG_INTERVAL: Duration = Duration::from_secs(5);
/// Longest wait between backlog questions for an idle pipe: while the answer is 0 and no
/// record arrives, each wait doubles up to this, so 1,000 idle pipes ask 17 times a second
/// rather than 200. The first record brings the 5-second pace back.
pub const BACKLOG_IDLE_INTERVAL: Duration = Duration::from_secs(60);

/// A session lost before it delivered a record and sooner than this after it opened did not
/// get going, and the backoff keeps growing: a broker that refuses a consumer just after
/// accepting the subscription (an ActiveMQ `ExceptionResponse`, a STOMP ERROR frame) would
/// otherwise be asked again ten times a second.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// How the driver handles a connector's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// One call failed but the session holds (throttled, one call timed out): back off and
    /// read again from the same session; the pipe stays connected.
    Transient,
    /// The session is gone (connection refused, reset, closed, silent): back off and open a
    /// new one.
    Disconnected,
    /// The broker refused what was asked (credentials, rights, a queue that does not exist):
    /// nothing changes by itself, but someone may fix it, so the driver keeps trying with
    /// backoff and shows the reason meanwhile.
    Permanent,
}

/// A connector's error, classified in one place (the connector's `error.rs`).
pub trait SourceError: std::error::Error + Send + Sync + 'static {
    /// What the driver does about it.
    fn class(&self) -> ErrorClass;
    /// The ESM reason the pipe shows while it lasts.
    fn reason(&self) -> Reason {
        Reason::ConnectionLost
    }
}

/// What one read of a session gave.
// Boxing the record would cost an allocation per message on the hot path; a `Read` lives on
// the stack for one step and is moved once.
#[allow(clippy::large_enum_variant)]
pub enum Read {
    /// One record.
    Record(Record),
    /// Several records, in order (a poller's receive).
    Records(Vec<Record>),
    /// Traffic that is not a record (a heart-beat, a keep-alive, an answer): the broker is
    /// alive.
    Alive,
}

/// One session: a connection with its subscriptions, or a poller's run of calls.
#[async_trait]
pub trait Session: Send + 'static {
    /// The connector's error.
    type Error: SourceError;

    /// Wait for the next read. Must be cancel-safe: the driver drops it to stop, to ask for
    /// the backlog, or when the broker was silent too long. (Not boxed like the other methods:
    /// it runs once per message.)
    fn next(&mut self) -> impl Future<Output = Result<Read, Self::Error>> + Send;

    /// How long the broker may send nothing at all before the session counts as lost
    /// (`None`: no limit, as for a poller or a client library with its own heart-beats).
    fn silence_limit(&self) -> Option<Duration> {
        None
    }

    /// Messages waiting at the broker, when it tells cheaply; asked every
    /// [`BACKLOG_INTERVAL`]. `None` leaves the gauge as it is.
    async fn backlog(&mut self) -> Option<u64> {
        None
    }

    /// Stop receiving but keep what settlements still need (the connection stays open until
    /// [`SessionSource::close`]).
    async fn stop(self);

    /// The session was lost: what it delivered can no longer be settled; close what is left.
    async fn lost(self);
}

/// A source that reads through sessions. Implementing this is what a connector's source
/// writes; [`Driven`] makes it a [`Source`].
#[async_trait]
pub trait SessionSource: Send + Sync + 'static {
    /// The session it opens.
    type Session: Session;

    /// The protocol's name in logs.
    fn kind(&self) -> &'static str;

    /// Once, before the first session: what the source needs from the pipe for as long as it
    /// runs (a client, a metric it counts itself).
    async fn start(&self, _ctx: &SourceContext) {}

    /// Open a session: connect, log in, subscribe. `attempt` counts opens since the source
    /// started (connectors with several brokers go round them); records of this session
    /// carry `epoch`, and the connector's acker learns it here. Must be cancel-safe.
    async fn open(
        &self,
        attempt: usize,
        epoch: u64,
    ) -> Result<(Self::Session, String), <Self::Session as Session>::Error>;

    /// The settle half.
    fn acker(&self) -> Arc<dyn Acker>;

    /// Close every connection. Unsettled records are redelivered by the broker.
    async fn close(&self);

    /// Kind and redacted address, for `/pipes` and logs.
    fn describe(&self) -> String;
}

/// A [`SessionSource`] run by the driver: the [`Source`] the runner sees.
pub struct Driven<S>(pub S);

#[async_trait]
impl<S: SessionSource> Source for Driven<S> {
    async fn run(&self, out: mpsc::Sender<Record>, ctx: SourceContext, stop: CancellationToken) {
        drive(&self.0, &out, &ctx, &stop).await;
    }

    fn acker(&self) -> Arc<dyn Acker> {
        self.0.acker()
    }

    async fn close(&self) {
        self.0.close().await;
    }

    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// How one session ended.
enum End {
    Stopped,
    Lost {
        error: String,
        reason: Reason,
        /// Whether the session got going: the backoff starts over.
        connected: bool,
    },
}

/// Open sessions and read them until `stop`, reconnecting after each loss.
async fn drive<S: SessionSource>(
    source: &S,
    out: &mpsc::Sender<Record>,
    ctx: &SourceContext,
    stop: &CancellationToken,
) {
    source.start(ctx).await;
    let mut failures: u32 = 0;
    let mut epoch: u64 = 0;
    for attempt in 0usize.. {
        if stop.is_cancelled() {
            return;
        }
        epoch += 1;
        let end = tokio::select! {
            biased;
            _ = stop.cancelled() => End::Stopped,
            opened = source.open(attempt, epoch) => match opened {
                Ok((session, peer)) => {
                    ctx.status.set_connected(true);
                    ctx.status.set_reason(Reason::UserInitiated);
                    tracing::info!(peer = %peer, epoch, "consuming");
                    read(session, source, out, ctx, stop).await
                }
                Err(e) => End::Lost {
                    error: chain(&e),
                    reason: e.reason(),
                    connected: false,
                },
            },
        };
        let End::Lost {
            error,
            reason,
            connected,
        } = end
        else {
            return;
        };
        ctx.metrics.source_conn_errors.inc();
        ctx.status.set_connected(false);
        ctx.status.set_reason(reason.clone());
        failures = if connected { 1 } else { failures + 1 };
        let delay = crate::backoff::reconnect_delay(failures);
        let kind = source.kind();
        tracing::warn!(error = %error, reason = %reason, retry_in = ?delay, "{kind} connection failed");
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Read one session until it is lost or `stop` is cancelled.
async fn read<S: SessionSource>(
    mut session: S::Session,
    source: &S,
    out: &mpsc::Sender<Record>,
    ctx: &SourceContext,
    stop: &CancellationToken,
) -> End {
    let silence = session.silence_limit();
    let opened = Instant::now();
    let mut delivered = false;
    // Whether the session got going, so that its loss starts the backoff over.
    let got_going = |delivered: bool| delivered || opened.elapsed() >= STABLE_AFTER;
    let mut last_heard = Instant::now();
    // Only sessions with a silence limit wake up to check it, four times per limit (at least
    // every 10 s, at most every second): a loss is noticed within 1¼ limits, and 1,000 idle
    // pipes with a 30 s limit wake up 130 times a second rather than 1,000.
    let mut watchdog = tokio::time::interval(silence.map_or(Duration::from_secs(1), |l| {
        (l / 4).clamp(Duration::from_secs(1), Duration::from_secs(10))
    }));
    let mut backlog_every = BACKLOG_INTERVAL;
    let backlog = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(backlog);
    let mut received = false;
    let mut transient: u32 = 0;
    loop {
        let read = tokio::select! {
            biased;
            _ = stop.cancelled() => {
                session.stop().await;
                return End::Stopped;
            }
            r = session.next() => r,
            _ = watchdog.tick(), if silence.is_some() => {
                if let Some(limit) = silence
                    && last_heard.elapsed() > limit
                {
                    session.lost().await;
                    return End::Lost {
                        error: format!("the broker sent nothing for {limit:?} (heart-beats missed)"),
                        reason: Reason::ConnectionLost,
                        connected: got_going(delivered),
                    };
                }
                continue;
            }
            _ = &mut backlog => {
                let answer = session.backlog().await;
                if let Some(n) = answer {
                    ctx.metrics.backlog.set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                backlog_every = if answer == Some(0) && !received {
                    (backlog_every * 2).min(BACKLOG_IDLE_INTERVAL)
                } else {
                    BACKLOG_INTERVAL
                };
                received = false;
                backlog.as_mut().reset(Instant::now() + backlog_every);
                continue;
            }
        };
        if !received && matches!(read, Ok(Read::Record(_) | Read::Records(_))) {
            received = true;
            delivered = true;
            if backlog_every > BACKLOG_INTERVAL {
                backlog_every = BACKLOG_INTERVAL;
                backlog.as_mut().reset(Instant::now() + BACKLOG_INTERVAL);
            }
        }
        last_heard = Instant::now();
        let handed = match read {
            Ok(Read::Alive) => true,
            Ok(Read::Record(r)) => hand_over(std::iter::once(r), source, out, stop).await,
            Ok(Read::Records(records)) => hand_over(records.into_iter(), source, out, stop).await,
            Err(e) if e.class() == ErrorClass::Transient => {
                transient += 1;
                ctx.metrics.source_conn_errors.inc();
                let delay = crate::backoff::reconnect_delay(transient);
                let kind = source.kind();
                tracing::warn!(error = %chain(&e), retry_in = ?delay, "{kind} call failed");
                tokio::select! {
                    _ = stop.cancelled() => {
                        session.stop().await;
                        return End::Stopped;
                    }
                    _ = tokio::time::sleep(delay) => {}
                }
                continue;
            }
            Err(e) => {
                session.lost().await;
                return End::Lost {
                    error: chain(&e),
                    reason: e.reason(),
                    connected: got_going(delivered),
                };
            }
        };
        transient = 0;
        if !handed {
            session.stop().await;
            return End::Stopped;
        }
    }
}

/// Hand records to the pipe in order; when stopped first, give the rest back to the broker
/// at once. False when stopped.
async fn hand_over<S: SessionSource>(
    mut records: impl Iterator<Item = Record>,
    source: &S,
    out: &mpsc::Sender<Record>,
    stop: &CancellationToken,
) -> bool {
    while let Some(r) = records.next() {
        let id = r.id;
        if !forward(out, r, stop).await {
            let back: Vec<_> = std::iter::once(id)
                .chain(records.map(|r| r.id))
                .map(|id| {
                    (
                        id,
                        Outcome::Retry {
                            delay: Duration::ZERO,
                        },
                    )
                })
                .collect();
            source.acker().settle(&back).await;
            return false;
        }
    }
    true
}

/// An error with its sources, `outer: inner: innermost`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
