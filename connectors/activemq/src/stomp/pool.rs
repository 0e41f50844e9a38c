//! STOMP connections shared by the sources that name the same brokers with the same login,
//! virtual host and heart-beat (`crate::mux` says how and why): each pipe's subscriptions
//! carry ids of its own session number (`7-0`, `7-1`, `7-stats`), so that MESSAGE frames go to
//! the pipe by their `subscription` header; 1,000 pipes on one broker use at most
//! [`MAX_CONNECTIONS`] (4) connections.
//!
//! A pipe's SUBSCRIBE and UNSUBSCRIBE frames ask for receipts numbered by the connection, and
//! the RECEIPT or ERROR that answers goes to that pipe: a refused subscription ends only its
//! pipe's session (an ERROR about the UNSUBSCRIBE of a session that ended is only logged).
//! STOMP lets a broker close the connection after any ERROR (RabbitMQ does; ActiveMQ does
//! not), which would end the sessions of every pipe on it, again at every retry: so a pipe
//! refused once moves to a connection of its own. An ERROR that answers no receipt is logged;
//! if the broker closes the connection after it, every pipe on it reconnects.
//!
//! Targets keep a connection each: a SEND waits for its receipt, and a broker blocking one
//! producer would hold up the others.

use crate::config::Endpoint;
use crate::mux::{self, Opened, Protocol, Route};
use crate::stomp::codec::{Frame, Item, Out, StompCodec};
use crate::stomp::connection::{self, Login};
use crate::stomp::error::StompError;
use sluice_core::pool::Pool;
use std::sync::atomic::AtomicI32;
use std::sync::{Arc, LazyLock};
use tracing::warn;

/// Pipes on one connection before the pool opens the next (until [`MAX_CONNECTIONS`]).
const SPREAD: usize = 16;
/// Most connections per broker list and login.
pub(crate) const MAX_CONNECTIONS: usize = 4;

/// The broker list and login in full: only pipes that would open exactly the same
/// connection share one. Never printed.
pub(super) type Key = String;
pub(super) type Mux = mux::Mux<Stomp>;
pub(super) type Inbox = mux::Inbox<Item>;
/// A pipe's share of a connection.
pub(super) type Lease = sluice_core::pool::Lease<Key, Mux, Arc<StompError>>;

pub(super) static POOL: LazyLock<Pool<Key, Mux, Arc<StompError>>> =
    LazyLock::new(|| Pool::new(SPREAD, MAX_CONNECTIONS));

/// The key of `login` on `brokers`.
pub(super) fn key(brokers: &str, login: &Login) -> Key {
    let password = login.password.as_ref().map(|p| p.expose());
    format!(
        "{brokers}\n{:?}\n{password:?}\n{:?}\n{:?}",
        login.username, login.virtual_host, login.heart_beat
    )
}

/// STOMP on a shared connection.
pub(super) struct Stomp;

/// What a shared STOMP connection knows.
pub(super) struct Details {
    /// The CONNECTED frame's `server` header (`ActiveMQ/5.17.2`), if any.
    pub server: String,
}

/// Connect to `endpoint`, to share.
pub(super) async fn connect(endpoint: &Endpoint, login: &Login) -> Result<Arc<Mux>, StompError> {
    let c = connection::connect(endpoint, login).await?;
    Ok(Mux::start(Opened {
        conn: c.conn,
        endpoint: c.endpoint,
        details: Details { server: c.server },
        ids: Arc::new(AtomicI32::new(1)),
        first_session: 1,
        silence: c.silent_limit,
        keep_alive_every: c.send_every,
    }))
}

/// The subscription id of a session's `i`-th queue, or of its statistics answers (`None`).
pub(super) fn subscription(session: i64, i: Option<usize>) -> String {
    match i {
        Some(i) => format!("{session}-{i}"),
        None => format!("{session}-stats"),
    }
}

/// The session a subscription id belongs to.
fn session_of(subscription: &str) -> Option<i64> {
    subscription.split_once('-')?.0.parse().ok()
}

impl Protocol for Stomp {
    type Codec = StompCodec;
    type In = Item;
    type Out = Out;
    type Details = Details;
    type Error = StompError;

    fn shared(e: Arc<StompError>) -> StompError {
        StompError::Shared(e)
    }

    fn closed() -> StompError {
        StompError::Closed
    }

    fn timeout(what: &'static str) -> StompError {
        StompError::Timeout(what)
    }

    fn silent(limit: std::time::Duration) -> StompError {
        StompError::Silent(limit)
    }

    fn route(item: &Item) -> Result<Route, StompError> {
        let Item::Frame(frame) = item else {
            return Ok(Route::Drop);
        };
        let receipt = || frame.get("receipt-id").and_then(|r| r.parse().ok());
        Ok(match frame.command.as_str() {
            "MESSAGE" => frame
                .get("subscription")
                .and_then(session_of)
                .map_or(Route::Drop, Route::Session),
            "RECEIPT" => receipt().map_or(Route::Drop, Route::Answer),
            "ERROR" => match receipt() {
                Some(r) => Route::Answer(r),
                None => {
                    // About no frame in particular: whether the connection survives it is the
                    // broker's to say (RabbitMQ closes it, and then every pipe reconnects).
                    let error = StompError::from_error_frame(frame);
                    warn!(%error, "the broker sent an ERROR that answers no receipt");
                    Route::Drop
                }
            },
            _ => Route::Drop,
        })
    }

    fn unanswered(item: &Item) {
        if let Item::Frame(f) = item
            && f.command == "ERROR"
        {
            let error = StompError::from_error_frame(f);
            warn!(%error, "the broker refused a frame of a session that has ended");
        }
    }

    fn keep_alive(_: &Mux) -> Out {
        Out::Heartbeat
    }

    fn goodbye(_: &Mux) -> Vec<Out> {
        vec![Out::Frame(Frame::new("DISCONNECT"))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_go_to_the_session_their_subscription_names() {
        let message = |sub: &str| Item::Frame(Frame::new("MESSAGE").header("subscription", sub));
        for (sub, session) in [
            ("7-0", Some(7)),
            ("12-stats", Some(12)),
            ("x-1", None),
            ("7", None),
        ] {
            match Stomp::route(&message(sub)).expect("a message never ends the connection") {
                Route::Session(s) => assert_eq!(Some(s), session, "{sub}"),
                Route::Drop => assert_eq!(session, None, "{sub}"),
                _ => panic!("{sub}: a message is not an answer"),
            }
        }
    }

    #[test]
    fn an_error_with_a_receipt_goes_to_its_pipe_and_one_without_leaves_the_connection_be() {
        let error = || Frame::new("ERROR").header("message", "not authorized");
        let answered = Item::Frame(error().header("receipt-id", "41"));
        assert!(matches!(Stomp::route(&answered), Ok(Route::Answer(41))));
        assert!(matches!(
            Stomp::route(&Item::Frame(error())),
            Ok(Route::Drop)
        ));
    }
}
