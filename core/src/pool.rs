//! Connections shared by the pipes that would open the same one.
//!
//! Brokers recommend few long-lived connections with a channel or session per consumer:
//! every connection costs the broker a process or threads and file descriptors. So a pipe
//! leases a connection from a [`Pool`] and opens its own channels or sessions on it. A pool
//! opens a new connection for every `spread` pipes on a key, up to `max`; past it, pipes join
//! the least used. The key is whatever makes two connections interchangeable (endpoints,
//! credentials, options, a role); the connector chooses it.
//!
//! Faults stay where they happen: a pipe whose channel fails gives its lease back and the
//! others read on. A lost connection ends the sessions of every pipe on it; the first pipe to
//! lease again connects again and the others find the new connection. While a connect keeps
//! failing, the pipes waiting on it get the same error for [`FAILURE_HOLDS`] instead of each
//! trying in turn.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a failed connect is the answer for every pipe asking for the same connection.
pub const FAILURE_HOLDS: Duration = Duration::from_secs(1);

/// A connection a pool can hand out.
pub trait Shared: Send + Sync + 'static {
    /// Whether it still works; a pool replaces one that does not.
    fn is_open(&self) -> bool;
}

/// One pool of shared connections, usually a connector's `static`.
pub struct Pool<K, C, E> {
    slots: Mutex<Slots<K, C, E>>,
    spread: usize,
    max: usize,
    numbers: AtomicUsize,
}

/// Each key's connections.
type Slots<K, C, E> = HashMap<K, Vec<Arc<Slot<C, E>>>>;

/// One shared connection and the pipes that lease it.
struct Slot<C, E> {
    /// Leases held, counted under the pool's lock.
    users: AtomicUsize,
    /// Unique in its pool: connectors name the connection after it.
    number: usize,
    state: tokio::sync::Mutex<State<C, E>>,
}

struct State<C, E> {
    live: Option<Arc<C>>,
    failed: Option<(Instant, E)>,
}

impl<K, C, E> Pool<K, C, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Shared,
    E: Clone + Send + Sync + 'static,
{
    /// A pool that opens a connection for every `spread` pipes on a key, up to `max`.
    pub fn new(spread: usize, max: usize) -> Self {
        Pool {
            slots: Mutex::default(),
            spread: spread.max(1),
            max: max.max(1),
            numbers: AtomicUsize::new(0),
        }
    }

    /// Lease a connection for `key`; when the one chosen is not open, `connect` opens it,
    /// given the slot's number (and returns it in an `Arc`, so that it may hand its own tasks
    /// a `Weak` of it). Cancel-safe: a cancelled lease is given back.
    pub async fn lease<F, Fut>(&'static self, key: K, connect: F) -> Result<Lease<K, C, E>, E>
    where
        F: FnOnce(usize) -> Fut,
        Fut: Future<Output = Result<Arc<C>, E>>,
    {
        let slot = self.reserve(&key);
        // From here on the reservation is given back whatever happens, cancellation included.
        let reservation = Reservation {
            pool: self,
            key,
            slot: slot.clone(),
            released: false,
        };
        let mut state = slot.state.lock().await;
        if let Some(conn) = &state.live
            && conn.is_open()
        {
            let conn = conn.clone();
            drop(state);
            return Ok(Lease { reservation, conn });
        }
        if let Some((at, e)) = &state.failed
            && at.elapsed() < FAILURE_HOLDS
        {
            return Err(e.clone());
        }
        state.live = None;
        match connect(slot.number).await {
            Ok(conn) => {
                state.failed = None;
                state.live = Some(conn.clone());
                drop(state);
                Ok(Lease { reservation, conn })
            }
            Err(e) => {
                state.failed = Some((Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// Pick the connection a new lease goes to and count the lease on it.
    fn reserve(&self, key: &K) -> Arc<Slot<C, E>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slots = slots.entry(key.clone()).or_default();
        let least = slots
            .iter()
            .min_by_key(|s| s.users.load(Ordering::Relaxed))
            .cloned();
        let slot = match least {
            Some(s) if s.users.load(Ordering::Relaxed) < self.spread || slots.len() >= self.max => {
                s
            }
            _ => {
                let s = Arc::new(Slot {
                    users: AtomicUsize::new(0),
                    number: self.numbers.fetch_add(1, Ordering::Relaxed),
                    state: tokio::sync::Mutex::new(State {
                        live: None,
                        failed: None,
                    }),
                });
                slots.push(s.clone());
                s
            }
        };
        slot.users.fetch_add(1, Ordering::Relaxed);
        slot
    }

    /// Take one lease back; the last one out removes the connection from the pool and gets
    /// it, to close.
    fn release(&self, key: &K, slot: &Arc<Slot<C, E>>) -> Option<Arc<C>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.users.fetch_sub(1, Ordering::Relaxed) != 1 {
            return None;
        }
        if let Some(of_key) = slots.get_mut(key) {
            of_key.retain(|s| !Arc::ptr_eq(s, slot));
            if of_key.is_empty() {
                slots.remove(key);
            }
        }
        drop(slots);
        // Nobody else can reach the slot now, so its lock is free unless a cancelled lease is
        // still unwinding; then that lease drops the connection with the slot.
        slot.state.try_lock().ok().and_then(|mut s| s.live.take())
    }

    /// Connections the pool holds for keys `which` picks (for tests and figures).
    pub fn connections(&self, which: impl Fn(&K) -> bool) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(k, _)| which(k))
            .map(|(_, slots)| slots.len())
            .sum()
    }
}

/// A pipe's share of a connection. Dropping it gives it back; [`Lease::release`] also
/// hands the last pipe out the connection to close.
pub struct Lease<K, C, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Shared,
    E: Clone + Send + Sync + 'static,
{
    reservation: Reservation<K, C, E>,
    conn: Arc<C>,
}

impl<K, C, E> Lease<K, C, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Shared,
    E: Clone + Send + Sync + 'static,
{
    /// The shared connection, to open channels or sessions on.
    pub fn connection(&self) -> &Arc<C> {
        &self.conn
    }

    /// Give the lease back. `Some` for the last pipe on the connection: the pool has let go
    /// of it, and the caller closes it. Close the lease's channels first.
    pub fn release(mut self) -> Option<Arc<C>> {
        self.reservation.release()
    }
}

/// A lease counted on a slot: given back when released or dropped (a failed or cancelled
/// connect, a sink dropped with its pipe).
struct Reservation<K, C, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Shared,
    E: Clone + Send + Sync + 'static,
{
    pool: &'static Pool<K, C, E>,
    key: K,
    slot: Arc<Slot<C, E>>,
    released: bool,
}

impl<K, C, E> Reservation<K, C, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Shared,
    E: Clone + Send + Sync + 'static,
{
    fn release(&mut self) -> Option<Arc<C>> {
        if std::mem::replace(&mut self.released, true) {
            return None;
        }
        self.pool.release(&self.key, &self.slot)
    }
}

impl<K, C, E> Drop for Reservation<K, C, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    C: Shared,
    E: Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    struct Conn(AtomicBool);

    impl Shared for Conn {
        fn is_open(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }

    type TestPool = Pool<&'static str, Conn, String>;

    fn pool() -> &'static TestPool {
        Box::leak(Box::new(Pool::new(16, 4)))
    }

    #[test]
    fn leases_spread_evenly_over_at_most_max_connections_per_key() {
        let pool = pool();
        let slots: Vec<_> = (0..200).map(|_| pool.reserve(&"a")).collect();
        let other = pool.reserve(&"b");
        assert_eq!(pool.connections(|k| *k == "a"), 4);
        assert_eq!(pool.connections(|k| *k == "b"), 1);
        let per: Vec<usize> = pool.slots.lock().unwrap()[&"a"]
            .iter()
            .map(|s| s.users.load(Ordering::Relaxed))
            .collect();
        assert_eq!(per, vec![50; 4]);
        for s in &slots {
            pool.release(&"a", s);
        }
        pool.release(&"b", &other);
        assert_eq!(pool.connections(|_| true), 0);
    }

    #[tokio::test]
    async fn pipes_share_an_open_connection_and_replace_a_closed_one() {
        let pool = pool();
        let opened = AtomicUsize::new(0);
        let connect = |_| async {
            opened.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(Arc::new(Conn(AtomicBool::new(true))))
        };
        let first = pool.lease("a", connect).await.expect("lease");
        let second = pool.lease("a", connect).await.expect("lease");
        assert!(Arc::ptr_eq(first.connection(), second.connection()));
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        first.connection().0.store(false, Ordering::SeqCst);
        let third = pool.lease("a", connect).await.expect("lease");
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        assert!(third.connection().is_open());
        let live = third.connection().clone();
        assert!(first.release().is_none());
        assert!(second.release().is_none());
        let last = third.release().expect("the last one out closes");
        assert!(Arc::ptr_eq(&last, &live));
        assert_eq!(pool.connections(|_| true), 0);
    }

    #[tokio::test]
    async fn pipes_waiting_on_a_failing_connect_get_its_error_instead_of_trying_again() {
        let pool = pool();
        let tried = AtomicUsize::new(0);
        let connect = |_| async {
            tried.fetch_add(1, Ordering::SeqCst);
            Err::<Arc<Conn>, _>("refused".to_owned())
        };
        // A pipe that holds the slot (as one waiting for the same connection does).
        let holder = pool.reserve(&"a");
        let first = pool.lease("a", connect).await.err().expect("refused");
        let second = pool.lease("a", connect).await.err().expect("refused");
        assert_eq!(first, second);
        assert_eq!(tried.load(Ordering::SeqCst), 1);
        pool.release(&"a", &holder);
        assert_eq!(pool.connections(|_| true), 0);
    }
}
