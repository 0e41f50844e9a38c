//! OpenWire connections shared by the sources that name the same brokers with the same
//! credentials (`crate::mux` says how and why): each pipe opens its own session, with its
//! consumers and its statistics channel inside; 1,000 pipes on one broker use at most
//! [`MAX_CONNECTIONS`] (4) connections.
//!
//! Dispatches go to the session of their consumer id, responses to the session that sent the
//! command. A refusal of one pipe's consumer (an `ExceptionResponse` to its `ConsumerInfo`)
//! ends that pipe's session only. A `ConnectionError`, `ShutdownInfo` or a `ConnectionControl`
//! asking to close ends the connection.
//!
//! Targets keep a connection each: a send waits for its response on the connection, and a
//! broker blocking one producer under flow control would hold up the others.

use crate::config::Endpoint;
use crate::mux::{self, Opened, Protocol, Route};
use crate::openwire::connection::{self, Login};
use crate::openwire::error::OpenWireError;
use crate::openwire::wire::{Command, Data, Header, OpenWireCodec, SessionId};
use sluice_core::pool::Pool;
use std::sync::{Arc, LazyLock};
use tracing::warn;

/// Pipes on one connection before the pool opens the next (until [`MAX_CONNECTIONS`]), so
/// that a few busy pipes do not all wait on one connection's reader.
const SPREAD: usize = 16;
/// Most connections per broker list and credentials.
pub(crate) const MAX_CONNECTIONS: usize = 4;

/// The broker list and credentials in full: only pipes that would open exactly the same
/// connection share one. Never printed.
pub(super) type Key = String;

pub(super) type Mux = mux::Mux<OpenWire>;
pub(super) type Inbox = mux::Inbox<Command>;

/// A pipe's share of a connection.
pub(super) type Lease = sluice_core::pool::Lease<Key, Mux, Arc<OpenWireError>>;

pub(super) static POOL: LazyLock<Pool<Key, Mux, Arc<OpenWireError>>> =
    LazyLock::new(|| Pool::new(SPREAD, MAX_CONNECTIONS));

/// The key of `login` on `brokers`.
pub(super) fn key(brokers: &str, login: &Login) -> Key {
    let password = login.password.as_ref().map(|p| p.expose());
    format!("{brokers}\n{:?}\n{password:?}", login.username)
}

/// OpenWire on a shared connection.
pub(super) struct OpenWire;

/// What a shared OpenWire connection knows.
pub(super) struct Details {
    /// The connection's id, which every session and consumer id names.
    pub connection: String,
    /// The broker's name from its `BrokerInfo`.
    pub broker_name: String,
}

/// Connect to `endpoint`, to share. Session 1 is the connection's own (opened at connect
/// and left empty); pipes' sessions are numbered from 2.
pub(super) async fn connect(endpoint: &Endpoint, login: &Login) -> Result<Arc<Mux>, OpenWireError> {
    let c = connection::connect(endpoint, login).await?;
    Ok(Mux::start(Opened {
        conn: c.conn,
        endpoint: c.endpoint,
        details: Details {
            connection: c.session.connection,
            broker_name: c.broker_name,
        },
        ids: c.ids,
        first_session: 2,
        silence: c.read_timeout,
        keep_alive_every: c.keep_alive_every,
    }))
}

impl Mux {
    /// A header for a command of `session`; with `answer`, its response goes to the session.
    pub(super) fn header(&self, session: i64, answer: bool) -> Header {
        Header {
            command_id: if answer {
                self.expect(session)
            } else {
                self.next_id()
            },
            response_required: answer,
        }
    }

    /// A new session's id, and its inbox.
    pub(super) fn session(&self) -> (SessionId, Inbox) {
        let (value, inbox) = self.open_session();
        let id = SessionId {
            connection: self.details.connection.clone(),
            value,
        };
        (id, inbox)
    }
}

impl Protocol for OpenWire {
    type Codec = OpenWireCodec;
    type In = Command;
    type Out = Command;
    type Details = Details;
    type Error = OpenWireError;

    fn shared(e: Arc<OpenWireError>) -> OpenWireError {
        OpenWireError::Shared(e)
    }

    fn closed() -> OpenWireError {
        OpenWireError::Closed
    }

    fn timeout(what: &'static str) -> OpenWireError {
        OpenWireError::Timeout(what)
    }

    fn silent(limit: std::time::Duration) -> OpenWireError {
        OpenWireError::Silent(limit)
    }

    fn route(command: &Command) -> Result<Route, OpenWireError> {
        Ok(match command {
            Command::MessageDispatch(d) => d
                .consumer_id
                .as_ref()
                .map_or(Route::Drop, |c| Route::Session(c.session)),
            Command::Response(_, c) | Command::ExceptionResponse(_, c, _) => Route::Answer(*c),
            Command::ConsumerControl(c) => c
                .consumer_id
                .as_ref()
                .map_or(Route::Drop, |c| Route::Session(c.session)),
            Command::KeepAliveInfo(h) if h.response_required => Route::KeepAlive,
            Command::ConnectionError(_, t, _) => return Err(OpenWireError::broker(t.clone())),
            Command::ShutdownInfo(_) => return Err(OpenWireError::Closed),
            Command::ConnectionControl { close, exit, .. } if *close || *exit => {
                return Err(OpenWireError::Closed);
            }
            _ => Route::Drop,
        })
    }

    fn unanswered(command: &Command) {
        if let Command::ExceptionResponse(_, _, t) = command {
            let error = t.as_ref().map(ToString::to_string).unwrap_or_default();
            warn!(%error, "the broker refused a command");
        }
    }

    fn keep_alive(mux: &Mux) -> Command {
        Command::KeepAliveInfo(mux.header(0, false))
    }

    fn goodbye(mux: &Mux) -> Vec<Command> {
        vec![
            Command::RemoveInfo(
                mux.header(0, false),
                Data::ConnectionId(mux.details.connection.clone()),
                -2,
            ),
            Command::ShutdownInfo(mux.header(0, false)),
        ]
    }
}
