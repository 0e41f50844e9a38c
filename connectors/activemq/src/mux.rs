//! A connection shared by several sources, each with a session of its own on it: the part
//! both protocols have in common (each protocol's `pool.rs` says what a session is there, and
//! keeps the pool of core's [`sluice_core::pool`]).
//!
//! ActiveMQ gives every connection its own threads and a socket; a JMS client is meant to
//! open one connection and a session per consumer. So pipes that name the same brokers with
//! the same credentials lease a shared connection and open their own session on it.
//!
//! One task per connection reads, and routes what it reads to the session it is for (the
//! protocol says how: by consumer or subscription id, or by the command a response answers,
//! registered with [`Mux::expect`] when it was sent). The same task answers the broker's
//! keep-alives and watches for silence, and one more sends keep-alives. A session's inbox is
//! unbounded: the broker sends a consumer at most its prefetch of unacknowledged messages, so
//! the prefetch bounds it, as the socket's buffer bounded it before.
//!
//! Faults: what the broker refuses one session ends that session only: its pipe removes it
//! at the broker (the unacknowledged messages go back to their queues) and opens a new one
//! after its backoff. A lost connection, a decode error, a write that stalls for [`STALLED`]
//! or silence ends every session on it with the same error; the first pipe to reopen connects
//! again.

use crate::config::Endpoint;
use crate::connection::Io;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use sluice_core::pool::Shared;
use sluice_core::source::bounded;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_util::codec::{Decoder, Encoder, Framed};

/// A write that takes longer ends the connection: half of the pipes' own write timeout, so
/// that theirs never fires first and leaves the connection half-used.
const STALLED: Duration = Duration::from_secs(sluice_core::source::WRITE_TIMEOUT.as_secs() / 2);

/// What a protocol says about sharing its connections.
pub(crate) trait Protocol: Sized + Send + Sync + 'static {
    /// The frames both ways.
    type Codec: Decoder<Item = Self::In>
        + Encoder<Self::Out, Error = <Self::Codec as Decoder>::Error>
        + Send
        + 'static;
    /// A frame read.
    type In: Send + 'static;
    /// A frame written.
    type Out: Send + 'static;
    /// What the connection knows of its broker.
    type Details: Send + Sync + 'static;
    /// The protocol's error.
    type Error: std::error::Error + From<<Self::Codec as Decoder>::Error> + Send + Sync + 'static;

    /// The error every session of a connection sees when the connection ends.
    fn shared(e: Arc<Self::Error>) -> Self::Error;
    /// The connection closed (also when it was closed on purpose).
    fn closed() -> Self::Error;
    /// Timed out doing `what`.
    fn timeout(what: &'static str) -> Self::Error;
    /// The broker sent nothing for `limit`.
    fn silent(limit: Duration) -> Self::Error;
    /// Where a frame read goes; an error ends the connection.
    fn route(frame: &Self::In) -> Result<Route, Self::Error>;
    /// An answer no session waits for (its session ended, or it was sent without asking).
    fn unanswered(_frame: &Self::In) {}
    /// A keep-alive (or heart-beat) to write.
    fn keep_alive(mux: &Mux<Self>) -> Self::Out;
    /// What to write when the last pipe on a connection closes it.
    fn goodbye(mux: &Mux<Self>) -> Vec<Self::Out>;
}

/// Where a frame read goes.
pub(crate) enum Route {
    /// To session N.
    Session(i64),
    /// To the session that sent command N (see [`Mux::expect`]); a warning when none did.
    Answer(i32),
    /// The broker asks for a keep-alive back.
    KeepAlive,
    /// Nowhere.
    Drop,
}

/// A session's frames.
pub(crate) type Inbox<In> = mpsc::UnboundedReceiver<In>;
type Writer<P> = SplitSink<Framed<Box<dyn Io>, <P as Protocol>::Codec>, <P as Protocol>::Out>;
type Reader<P> = SplitStream<Framed<Box<dyn Io>, <P as Protocol>::Codec>>;

/// One shared connection.
pub(crate) struct Mux<P: Protocol> {
    writer: tokio::sync::Mutex<Writer<P>>,
    /// Command ids (OpenWire) or receipt numbers (STOMP) of this connection.
    ids: Arc<AtomicI32>,
    pub endpoint: Endpoint,
    pub details: P::Details,
    sessions: AtomicI64,
    routes: Mutex<Routes<P::In>>,
    /// Why the connection ended; set once, and then it is not open.
    failure: OnceLock<Arc<P::Error>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

struct Routes<In> {
    sessions: HashMap<i64, mpsc::UnboundedSender<In>>,
    /// Commands waiting for an answer, with the session that sent each.
    pending: HashMap<i32, i64>,
}

impl<P: Protocol> Shared for Mux<P> {
    fn is_open(&self) -> bool {
        self.failure.get().is_none()
    }
}

impl<P: Protocol> Drop for Mux<P> {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(PoisonError::into_inner) {
            task.abort();
        }
    }
}

/// A connection, logged in, to share.
pub(crate) struct Opened<P: Protocol> {
    pub conn: Framed<Box<dyn Io>, P::Codec>,
    pub endpoint: Endpoint,
    pub details: P::Details,
    /// The connection's id counter, where the handshake left it.
    pub ids: Arc<AtomicI32>,
    /// The first session number to hand out.
    pub first_session: i64,
    /// How long the broker may stay silent (None: forever).
    pub silence: Option<Duration>,
    /// How often to send a keep-alive (None: never).
    pub keep_alive_every: Option<Duration>,
}

impl<P: Protocol> Mux<P> {
    /// Share `opened`: start its reader and, if asked for, its keep-alives.
    pub(crate) fn start(opened: Opened<P>) -> Arc<Mux<P>> {
        let (writer, reader) = opened.conn.split();
        let mux = Arc::new(Mux {
            writer: tokio::sync::Mutex::new(writer),
            ids: opened.ids,
            endpoint: opened.endpoint,
            details: opened.details,
            sessions: AtomicI64::new(opened.first_session),
            routes: Mutex::new(Routes {
                sessions: HashMap::new(),
                pending: HashMap::new(),
            }),
            failure: OnceLock::new(),
            tasks: Mutex::default(),
        });
        let mut tasks =
            vec![tokio::spawn(read(Arc::downgrade(&mux), reader, opened.silence)).abort_handle()];
        if let Some(every) = opened.keep_alive_every {
            tasks.push(tokio::spawn(keep_alive(Arc::downgrade(&mux), every)).abort_handle());
        }
        *mux.tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
        mux
    }

    /// A new session number, and the inbox its frames arrive in.
    pub(crate) fn open_session(&self) -> (i64, Inbox<P::In>) {
        let session = self.sessions.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes().sessions.insert(session, tx);
        (session, rx)
    }

    /// Stop routing to `session` (what still comes for it is dropped: unacknowledged, it
    /// goes back to its queue when the session is removed at the broker).
    pub(crate) fn forget(&self, session: i64) {
        let mut routes = self.routes();
        routes.sessions.remove(&session);
        routes.pending.retain(|_, s| *s != session);
    }

    /// The next id of the connection.
    pub(crate) fn next_id(&self) -> i32 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The next id, whose answer goes to `session`.
    pub(crate) fn expect(&self, session: i64) -> i32 {
        let id = self.next_id();
        self.routes().pending.insert(id, session);
        id
    }

    /// The id counter (OpenWire's statistics channel numbers its commands with it).
    pub(crate) fn ids(&self) -> Arc<AtomicI32> {
        self.ids.clone()
    }

    /// Write `frames` and flush. A failed or stalled write ends the connection for every pipe.
    pub(crate) async fn send(
        &self,
        frames: impl IntoIterator<Item = P::Out>,
    ) -> Result<(), P::Error> {
        if let Some(e) = self.failure.get() {
            return Err(P::shared(e.clone()));
        }
        let mut writer = self.writer.lock().await;
        let write = async {
            for f in frames {
                writer.feed(f).await?;
            }
            writer.flush().await
        };
        let written = match tokio::time::timeout(STALLED, write).await {
            Ok(written) => written.map_err(P::Error::from),
            Err(_) => Err(P::timeout("writing to the broker")),
        };
        drop(writer);
        written.map_err(|e| self.fail(e))
    }

    /// Why the connection ended (closed, when it has not).
    pub(crate) fn failure(&self) -> P::Error {
        match self.failure.get() {
            Some(e) => P::shared(e.clone()),
            None => P::closed(),
        }
    }

    /// End the connection for every pipe on it: their inboxes close.
    fn fail(&self, e: P::Error) -> P::Error {
        let e = self.failure.get_or_init(|| Arc::new(e)).clone();
        let mut routes = self.routes();
        routes.sessions.clear();
        routes.pending.clear();
        P::shared(e)
    }

    /// Close the connection (its last pipe has removed its session).
    pub(crate) async fn close(&self) {
        if self.is_open() {
            bounded(self.send(P::goodbye(self))).await;
        }
        self.fail(P::closed());
        let _ = bounded(async { self.writer.lock().await.close().await }).await;
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes<P::In>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hand a frame to the session it is for.
    fn deliver(self: &Arc<Self>, frame: P::In) -> Result<(), P::Error> {
        let session = match P::route(&frame)? {
            Route::Session(s) => s,
            Route::Answer(id) => {
                let session = self.routes().pending.remove(&id);
                match session {
                    Some(s) => s,
                    None => {
                        P::unanswered(&frame);
                        return Ok(());
                    }
                }
            }
            Route::KeepAlive => {
                // Spawned: the reader never waits for the writer.
                let me = self.clone();
                tokio::spawn(async move {
                    let beat = P::keep_alive(&me);
                    bounded(me.send([beat])).await;
                });
                return Ok(());
            }
            Route::Drop => return Ok(()),
        };
        let mut routes = self.routes();
        if let Some(tx) = routes.sessions.get(&session)
            && tx.send(frame).is_err()
        {
            // The pipe's session ended without saying so.
            routes.sessions.remove(&session);
        }
        Ok(())
    }
}

/// The connection's reader: routes frames until the connection ends, or the broker stays
/// silent for longer than `silence`.
async fn read<P: Protocol>(mux: Weak<Mux<P>>, mut reader: Reader<P>, silence: Option<Duration>) {
    let error = loop {
        let next = match silence {
            Some(limit) => match tokio::time::timeout(limit, reader.next()).await {
                Ok(next) => next,
                Err(_) => break P::silent(limit),
            },
            None => reader.next().await,
        };
        let frame = match next {
            Some(Ok(f)) => f,
            Some(Err(e)) => break e.into(),
            None => break P::closed(),
        };
        let Some(mux) = mux.upgrade() else { return };
        if let Err(e) = mux.deliver(frame) {
            break e;
        }
    };
    if let Some(mux) = mux.upgrade() {
        mux.fail(error);
    }
}

/// Send a keep-alive every `every` while the connection lasts.
async fn keep_alive<P: Protocol>(mux: Weak<Mux<P>>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(mux) = mux.upgrade() else { return };
        if !mux.is_open() {
            return;
        }
        let beat = P::keep_alive(&mux);
        if bounded(mux.send([beat])).await.is_none() {
            mux.fail(P::timeout("writing a keep-alive"));
        }
    }
}
