//! Connections shared by the pipes that name the same brokers with the same credentials.
//!
//! RabbitMQ recommends few long-lived connections with a channel per consumer: every
//! connection costs the broker a process and file descriptors, and lapin a thread. So a pipe
//! leases a connection from this pool and opens its own channels on it; 1,000 pipes on one
//! broker use at most [`MAX_CONNECTIONS`] (4) connections for consuming and as many for
//! publishing. Consuming and publishing never share a connection: RabbitMQ blocks a
//! publishing connection under a memory or disk alarm, and a consumer on it would stall too.
//!
//! Faults stay where they happen. A refusal about one queue (404, 403 on a queue) closes only
//! that pipe's channel; the other pipes on the connection read on. A lost connection ends the
//! sessions of every pipe on it; the first pipe to reopen connects again and the others find
//! the new connection. While a connect keeps failing, the pipes waiting on it get the same
//! error for [`FAILURE_HOLDS`] instead of each trying in turn.

use crate::connection;
use crate::error::AmqpError;
use lapin::Connection;
use lapin::uri::AMQPUri;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Pipes on one connection before the pool opens the next (until [`MAX_CONNECTIONS`]), so
/// that a few busy pipes do not all wait on one connection's I/O thread.
const SPREAD: usize = 16;
/// Most connections per endpoint and role; past it, pipes join the least used. lapin gives
/// each connection an I/O thread and 8 MiB of buffers (32 frames each way at RabbitMQ's
/// 128 KiB `frame_max`, which Sluice keeps: a smaller one would make a message with large
/// headers undeliverable), so connections are the largest cost of many pipes.
pub(crate) const MAX_CONNECTIONS: usize = 4;
/// How long a failed connect is the answer for every pipe asking for the same connection.
const FAILURE_HOLDS: Duration = Duration::from_secs(1);

/// What the pipes do on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// Sources' consumers.
    Consume,
    /// Targets' and dead-letter destinations' publishers.
    Publish,
}

/// The role and every URI in full (credentials, vhost, options): only pipes that would open
/// exactly the same connection share one.
type Key = (Role, String);

static POOL: LazyLock<Mutex<HashMap<Key, Vec<Arc<Slot>>>>> = LazyLock::new(Mutex::default);
static NAMES: AtomicUsize = AtomicUsize::new(0);

/// One shared connection and the pipes that lease it.
struct Slot {
    /// Leases held, counted under the pool's lock.
    users: AtomicUsize,
    /// The connection's name at the broker, e.g. `sluice/consume/3`.
    name: String,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    live: Option<(Arc<Connection>, String)>,
    failed: Option<(Instant, AmqpError)>,
}

/// A pipe's share of a connection; the connection closes when its last lease is closed.
pub(crate) struct Lease {
    reservation: Reservation,
    conn: Arc<Connection>,
    node: String,
}

/// Lease a connection to one of `uris` for `role`; `attempt` picks the node when a new
/// connection has to be opened. Cancel-safe.
pub(crate) async fn lease(
    role: Role,
    uris: &[AMQPUri],
    attempt: usize,
) -> Result<Lease, AmqpError> {
    let key = (role, format!("{uris:?}"));
    let slot = reserve(&key, role);
    // From here on the reservation is returned whatever happens, cancellation included.
    let reservation = Reservation {
        key,
        slot: slot.clone(),
        released: false,
    };
    let mut state = slot.state.lock().await;
    if let Some((conn, node)) = &state.live
        && conn.status().connected()
    {
        let (conn, node) = (conn.clone(), node.clone());
        drop(state);
        return Ok(Lease {
            reservation,
            conn,
            node,
        });
    }
    if let Some((at, e)) = &state.failed
        && at.elapsed() < FAILURE_HOLDS
    {
        return Err(e.clone());
    }
    state.live = None;
    match connection::connect(uris, attempt, &slot.name).await {
        Ok(conn) => {
            let conn = Arc::new(conn);
            let node = connection::node_name(&uris[attempt % uris.len()]);
            state.failed = None;
            state.live = Some((conn.clone(), node.clone()));
            drop(state);
            Ok(Lease {
                reservation,
                conn,
                node,
            })
        }
        Err(e) => {
            state.failed = Some((Instant::now(), e.clone()));
            Err(e)
        }
    }
}

/// Pick the connection a new lease goes to and count the lease on it.
fn reserve(key: &Key, role: Role) -> Arc<Slot> {
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let slots = pool.entry(key.clone()).or_default();
    let least = slots
        .iter()
        .min_by_key(|s| s.users.load(Ordering::Relaxed))
        .cloned();
    let slot = match least {
        Some(s) if s.users.load(Ordering::Relaxed) < SPREAD || slots.len() >= MAX_CONNECTIONS => s,
        _ => {
            let role = match role {
                Role::Consume => "consume",
                Role::Publish => "publish",
            };
            let n = NAMES.fetch_add(1, Ordering::Relaxed);
            let s = Arc::new(Slot {
                users: AtomicUsize::new(0),
                name: format!("sluice/{role}/{n}"),
                state: tokio::sync::Mutex::default(),
            });
            slots.push(s.clone());
            s
        }
    };
    slot.users.fetch_add(1, Ordering::Relaxed);
    slot
}

/// Take one lease back; the last one out removes the connection from the pool and gets it
/// to close.
fn release(key: &Key, slot: &Arc<Slot>) -> Option<Arc<Connection>> {
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.users.fetch_sub(1, Ordering::Relaxed) != 1 {
        return None;
    }
    if let Some(slots) = pool.get_mut(key) {
        slots.retain(|s| !Arc::ptr_eq(s, slot));
        if slots.is_empty() {
            pool.remove(key);
        }
    }
    drop(pool);
    // Nobody else can reach the slot now, so its lock is free unless a cancelled lease is
    // still unwinding; then that lease drops the connection with the slot.
    slot.state
        .try_lock()
        .ok()
        .and_then(|mut s| s.live.take())
        .map(|(conn, _)| conn)
}

/// A lease counted on a slot: given back when released or dropped (a failed or cancelled
/// connect, a sink dropped with its pipe).
struct Reservation {
    key: Key,
    slot: Arc<Slot>,
    released: bool,
}

impl Reservation {
    fn release(&mut self) -> Option<Arc<Connection>> {
        if std::mem::replace(&mut self.released, true) {
            return None;
        }
        release(&self.key, &self.slot)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

impl Lease {
    /// The shared connection, to open channels on.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// `host:port/vhost` of the node it is connected to.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Give the lease back; the last pipe on the connection closes it with `reason`.
    /// Close the lease's channels first.
    pub(crate) async fn close(mut self, reason: &str) {
        let last = self.reservation.release();
        drop(self);
        if let Some(conn) = last
            && let Ok(conn) = Arc::try_unwrap(conn)
        {
            sluice_core::source::bounded(conn.close(200, reason.into())).await;
        }
    }
}

/// Connections the pool holds for `role` (for tests and the benchmark's figures).
#[cfg(test)]
fn count(role: Role) -> usize {
    POOL.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|((r, _), _)| *r == role)
        .map(|(_, slots)| slots.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(port: u16) -> Vec<AMQPUri> {
        vec![
            format!("amqp://u:p@127.0.0.1:{port}/%2f")
                .parse()
                .expect("uri"),
        ]
    }

    #[test]
    fn leases_spread_evenly_over_at_most_four_connections_per_endpoint() {
        // Nothing listens on port 1: every connect is refused at once. Leases are counted
        // before the connect, so the spread is visible while they wait.
        let u = uris(1);
        let key = (Role::Publish, format!("{u:?}"));
        let slots: Vec<_> = (0..200).map(|_| reserve(&key, Role::Publish)).collect();
        assert_eq!(count(Role::Publish), MAX_CONNECTIONS);
        let per: Vec<usize> = POOL.lock().unwrap()[&key]
            .iter()
            .map(|s| s.users.load(Ordering::Relaxed))
            .collect();
        assert_eq!(per.iter().sum::<usize>(), 200);
        assert!(per.iter().all(|&n| n == 200 / MAX_CONNECTIONS), "{per:?}");
        for s in &slots {
            release(&key, s);
        }
        assert_eq!(count(Role::Publish), 0);
    }

    #[tokio::test]
    async fn pipes_waiting_on_a_failing_connect_get_its_error_instead_of_trying_again() {
        // A "broker" that accepts and hangs up at once, counting the connections tried.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tried = Arc::new(AtomicUsize::new(0));
        let counter = tried.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        let u = uris(port);
        let key = (Role::Consume, format!("{u:?}"));
        // A pipe that holds the slot (as one waiting for the same connection does).
        let holder = reserve(&key, Role::Consume);
        let first = lease(Role::Consume, &u, 0).await.err().expect("hung up");
        let second = lease(Role::Consume, &u, 0).await.err().expect("hung up");
        assert_eq!(first.to_string(), second.to_string());
        assert_eq!(tried.load(Ordering::SeqCst), 1);
        release(&key, &holder);
        assert_eq!(count(Role::Consume), 0);
    }
}
