//! OpenWire connections shared by the sources that name the same brokers with the same
//! credentials, on core's [`sluice_core::pool`].
//!
//! ActiveMQ gives every connection its own threads and a socket; a JMS client is meant to
//! open one connection and a session per consumer. So each pipe leases a shared connection
//! and opens its own session on it, with its consumers and its statistics channel inside:
//! 1,000 pipes on one broker use at most [`MAX_CONNECTIONS`] (4) connections.
//!
//! One task per connection reads, and routes what it reads by session: dispatches by their
//! consumer id's session, responses by the command they answer (registered when it was
//! sent). The same task answers the broker's keep-alives and watches for silence, and one
//! more sends keep-alives. A pipe's channel is unbounded: the broker sends a consumer at
//! most its prefetch of unacknowledged messages, so the prefetch bounds it, as the socket's
//! buffer bounded it before.
//!
//! Faults: a refusal of one pipe's consumer (an `ExceptionResponse` to its `ConsumerInfo`)
//! ends that pipe's session only; the pipe removes its session at the broker (its
//! unacknowledged messages go back to their queues) and opens a new one after its backoff.
//! A lost connection, a `ConnectionError`, a decode error or silence ends every session on
//! it with the same error; the first pipe to reopen connects again.
//!
//! Targets keep a connection each: a send waits for its response on the connection, and a
//! broker blocking one producer under flow control would hold up the others.

use crate::config::Endpoint;
use crate::openwire::acker::{Reader, Writer};
use crate::openwire::connection::{self, Login};
use crate::openwire::error::OpenWireError;
use crate::openwire::wire::{Command, Data, Header, SessionId};
use futures_util::{SinkExt, StreamExt};
use sluice_core::pool::{Pool, Shared};
use sluice_core::source::bounded;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::warn;

/// Pipes on one connection before the pool opens the next (until [`MAX_CONNECTIONS`]), so
/// that a few busy pipes do not all wait on one connection's reader.
const SPREAD: usize = 16;
/// Most connections per broker list and credentials.
pub(crate) const MAX_CONNECTIONS: usize = 4;

/// A write that takes longer ends the connection; half of the pipes' own write timeout.
const STALLED: Duration = Duration::from_secs(sluice_core::source::WRITE_TIMEOUT.as_secs() / 2);

/// The broker list and credentials in full: only pipes that would open exactly the same
/// connection share one. Never printed.
pub(super) type Key = String;

pub(super) static POOL: LazyLock<Pool<Key, Mux, Arc<OpenWireError>>> =
    LazyLock::new(|| Pool::new(SPREAD, MAX_CONNECTIONS));

/// The key of `login` on `brokers`.
pub(super) fn key(brokers: &str, login: &Login) -> Key {
    let password = login.password.as_ref().map(|p| p.expose());
    format!("{brokers}\n{:?}\n{password:?}", login.username)
}

/// A pipe's commands: its dispatches and the responses to its commands.
pub(super) type Inbox = mpsc::UnboundedReceiver<Command>;

/// One shared connection.
pub(super) struct Mux {
    writer: tokio::sync::Mutex<Writer>,
    ids: Arc<AtomicI32>,
    /// The connection's id, which every session and consumer id names.
    pub connection: String,
    pub endpoint: Endpoint,
    pub broker_name: String,
    /// Session 1 is the connection's own (opened by `connect`, left empty).
    sessions: AtomicI64,
    routes: Mutex<Routes>,
    /// Why the connection ended; set once, and then it is not open.
    failure: OnceLock<Arc<OpenWireError>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

#[derive(Default)]
struct Routes {
    sessions: HashMap<i64, mpsc::UnboundedSender<Command>>,
    /// Commands waiting for a response, with the session that sent each.
    pending: HashMap<i32, i64>,
}

impl Shared for Mux {
    fn is_open(&self) -> bool {
        self.failure.get().is_none()
    }
}

impl Drop for Mux {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(PoisonError::into_inner) {
            task.abort();
        }
    }
}

impl Mux {
    /// Connect to `endpoint` and start the reader (and, when the broker watches for
    /// inactivity, the keep-alive sender).
    pub(super) async fn connect(
        endpoint: &Endpoint,
        login: &Login,
    ) -> Result<Arc<Mux>, OpenWireError> {
        let connected = connection::connect(endpoint, login).await?;
        let (writer, reader) = connected.conn.split();
        let mux = Arc::new(Mux {
            writer: tokio::sync::Mutex::new(writer),
            ids: connected.ids,
            connection: connected.session.connection,
            endpoint: connected.endpoint,
            broker_name: connected.broker_name,
            sessions: AtomicI64::new(2),
            routes: Mutex::default(),
            failure: OnceLock::new(),
            tasks: Mutex::default(),
        });
        let mut tasks = vec![
            tokio::spawn(read(Arc::downgrade(&mux), reader, connected.read_timeout)).abort_handle(),
        ];
        if let Some(every) = connected.keep_alive_every {
            tasks.push(tokio::spawn(keep_alive(Arc::downgrade(&mux), every)).abort_handle());
        }
        *mux.tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
        Ok(mux)
    }

    /// A new session id, and the inbox its commands arrive in.
    pub(super) fn open_session(&self) -> (SessionId, Inbox) {
        let value = self.sessions.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes().sessions.insert(value, tx);
        let session = SessionId {
            connection: self.connection.clone(),
            value,
        };
        (session, rx)
    }

    /// Stop routing to `session` (its dispatches are dropped: unacknowledged, they go back
    /// to their queues when the session is removed).
    pub(super) fn forget(&self, session: i64) {
        let mut routes = self.routes();
        routes.sessions.remove(&session);
        routes.pending.retain(|_, s| *s != session);
    }

    /// A header for a command of `session`; with `answer`, its response is routed to it.
    pub(super) fn header(&self, session: i64, answer: bool) -> Header {
        let command_id = self.ids.fetch_add(1, Ordering::Relaxed);
        if answer {
            self.routes().pending.insert(command_id, session);
        }
        Header {
            command_id,
            response_required: answer,
        }
    }

    /// The command id counter, for the statistics channel.
    pub(super) fn ids(&self) -> Arc<AtomicI32> {
        self.ids.clone()
    }

    /// Write `commands` and flush. A failed write ends the connection for every pipe, and
    /// so does one that stalls for [`STALLED`]: the broker is black-holed, and the pipes'
    /// own write timeouts (longer) must not fire first and leave it half-used.
    pub(super) async fn send(
        &self,
        commands: impl IntoIterator<Item = Command>,
    ) -> Result<(), OpenWireError> {
        if let Some(e) = self.failure.get() {
            return Err(OpenWireError::Shared(e.clone()));
        }
        let mut writer = self.writer.lock().await;
        let write = async {
            for c in commands {
                writer.feed(c).await?;
            }
            writer.flush().await
        };
        let written = match tokio::time::timeout(STALLED, write).await {
            Ok(written) => written.map_err(OpenWireError::from),
            Err(_) => Err(OpenWireError::Timeout("writing to the broker")),
        };
        drop(writer);
        written.map_err(|e| self.fail(e))
    }

    /// Why the connection ended (closed, when it has not).
    pub(super) fn failure(&self) -> OpenWireError {
        match self.failure.get() {
            Some(e) => OpenWireError::Shared(e.clone()),
            None => OpenWireError::Closed,
        }
    }

    /// End the connection for every pipe on it: their inboxes close.
    fn fail(&self, e: OpenWireError) -> OpenWireError {
        let e = self.failure.get_or_init(|| Arc::new(e)).clone();
        let mut routes = self.routes();
        routes.sessions.clear();
        routes.pending.clear();
        OpenWireError::Shared(e)
    }

    /// Close the connection (its last pipe has removed its session).
    pub(super) async fn close(&self) {
        let goodbye = [
            Command::RemoveInfo(
                self.header(0, false),
                Data::ConnectionId(self.connection.clone()),
                -2,
            ),
            Command::ShutdownInfo(self.header(0, false)),
        ];
        if self.is_open() {
            bounded(self.send(goodbye)).await;
        }
        self.fail(OpenWireError::Closed);
        let _ = bounded(async { self.writer.lock().await.close().await }).await;
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hand a command to the session it is for; an error for what ends the connection.
    fn route(self: &Arc<Self>, command: Command) -> Result<(), OpenWireError> {
        let session = match &command {
            Command::MessageDispatch(d) => d.consumer_id.as_ref().map(|c| c.session),
            Command::Response(_, c) => self.routes().pending.remove(c),
            Command::ExceptionResponse(_, c, t) => {
                let session = self.routes().pending.remove(c);
                if session.is_none() {
                    let error = t.as_ref().map(ToString::to_string).unwrap_or_default();
                    warn!(%error, "the broker refused a command");
                }
                session
            }
            Command::ConsumerControl(c) => c.consumer_id.as_ref().map(|c| c.session),
            Command::KeepAliveInfo(h) => {
                if h.response_required {
                    // Spawned: the reader never waits for the writer.
                    let me = self.clone();
                    tokio::spawn(async move {
                        let beat = Command::KeepAliveInfo(me.header(0, false));
                        bounded(me.send([beat])).await;
                    });
                }
                None
            }
            Command::ConnectionError(_, t, _) => return Err(OpenWireError::broker(t.clone())),
            Command::ShutdownInfo(_) => return Err(OpenWireError::Closed),
            Command::ConnectionControl { close, exit, .. } if *close || *exit => {
                return Err(OpenWireError::Closed);
            }
            _ => None,
        };
        if let Some(session) = session {
            let mut routes = self.routes();
            if let Some(tx) = routes.sessions.get(&session)
                && tx.send(command).is_err()
            {
                // The pipe's session has ended without saying so.
                routes.sessions.remove(&session);
            }
        }
        Ok(())
    }
}

/// The connection's reader: routes commands until the connection ends, or the broker stays
/// silent for longer than `silence` (the negotiated inactivity duration).
async fn read(mux: Weak<Mux>, mut reader: Reader, silence: Option<Duration>) {
    let error = loop {
        let next = match silence {
            Some(limit) => match tokio::time::timeout(limit, reader.next()).await {
                Ok(next) => next,
                Err(_) => {
                    break OpenWireError::Timeout("waiting for the broker, which went silent");
                }
            },
            None => reader.next().await,
        };
        let command = match next {
            Some(Ok(c)) => c,
            Some(Err(e)) => break e.into(),
            None => break OpenWireError::Closed,
        };
        let Some(mux) = mux.upgrade() else { return };
        if let Err(e) = mux.route(command) {
            break e;
        }
    };
    if let Some(mux) = mux.upgrade() {
        mux.fail(error);
    }
}

/// Send a `KeepAliveInfo` every `every` while the connection lasts.
async fn keep_alive(mux: Weak<Mux>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(mux) = mux.upgrade() else { return };
        if !mux.is_open() {
            return;
        }
        let beat = Command::KeepAliveInfo(mux.header(0, false));
        if bounded(mux.send([beat])).await.is_none() {
            mux.fail(OpenWireError::Timeout("writing a keep-alive"));
        }
    }
}
