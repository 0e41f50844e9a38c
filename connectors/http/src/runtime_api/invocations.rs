//! The invocations of one Runtime API: batches waiting for a worker, batches a worker holds,
//! and how each ends. No I/O here: the server (`server.rs`) and the sink (`sink.rs`) meet in
//! this state, and the unit tests drive it directly.

use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, oneshot};

/// How an invocation ended, as the sink sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// `POST .../response`: the function's answer.
    Response(Bytes),
    /// `POST .../error`: the function failed (`errorType: errorMessage`).
    FunctionError(String),
    /// The worker did not answer before the deadline.
    Deadline,
    /// Every connection from the worker's host closed while it held the invocation.
    WorkerGone,
}

/// A batch handed to a worker.
pub(crate) struct Handed {
    pub request_id: String,
    pub body: Bytes,
    pub deadline_ms: u64,
    pub trace_id: String,
}

struct Waiting {
    request_id: String,
    body: Bytes,
    /// The batch's X-Ray header, if its records carried a trace.
    trace: Option<String>,
    done: oneshot::Sender<Ended>,
}

struct Held {
    /// The host of the worker that took it.
    host: IpAddr,
    done: oneshot::Sender<Ended>,
}

/// One connection to the Runtime API: its id and the worker's host.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer {
    pub connection: u64,
    pub host: IpAddr,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Waiting>,
    held: HashMap<String, Held>,
    /// Workers waiting in `next` now.
    polling: usize,
    /// Connections that asked for work, with when they last did (for `/pipes`).
    workers: HashMap<u64, u64>,
    /// Open connections per worker host. Runtime clients pool connections (a `next` on one, its
    /// response on another, idle ones closed), so one connection closing says nothing; the
    /// last one of a host closing means the worker is gone.
    open: HashMap<IpAddr, usize>,
    handed: u64,
    responses: u64,
    errors: u64,
    deadlines: u64,
    gone: u64,
    init_error: Option<String>,
}

/// The shared state of one Runtime API.
pub(crate) struct Invocations {
    state: Mutex<State>,
    work: Notify,
    timeout: Duration,
}

/// What `/pipes` shows of the Runtime API.
#[derive(serde::Serialize)]
pub(crate) struct Report {
    pub workers: usize,
    pub polling: usize,
    pub waiting_batches: usize,
    pub invocations_in_progress: usize,
    pub invocations: u64,
    pub responses: u64,
    pub function_errors: u64,
    pub deadlines_missed: u64,
    pub workers_lost: u64,
    pub init_error: Option<String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A request id in the UUID form Lambda uses.
fn request_id() -> String {
    let (a, b) = (fastrand::u64(..), fastrand::u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// An X-Ray trace header for an invocation, as Lambda sets `Lambda-Runtime-Trace-Id`.
fn trace_id() -> String {
    format!(
        "Root=1-{:08x}-{:024x};Sampled=0",
        now_ms() / 1000,
        fastrand::u128(..) >> 32
    )
}

impl Invocations {
    pub(crate) fn new(timeout: Duration) -> Self {
        Invocations {
            state: Mutex::new(State::default()),
            work: Notify::new(),
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a batch for the next worker; the receiver says how it ended. `trace`: the X-Ray
    /// header the worker gets (`Lambda-Runtime-Trace-Id`), else a new one.
    pub(crate) fn submit(
        &self,
        body: Bytes,
        trace: Option<String>,
    ) -> (String, oneshot::Receiver<Ended>) {
        let (done, ended) = oneshot::channel();
        let id = request_id();
        self.lock().waiting.push_back(Waiting {
            request_id: id.clone(),
            body,
            trace,
            done,
        });
        self.work.notify_one();
        (id, ended)
    }

    /// Take back a batch no worker has taken yet; `true` if it was still waiting.
    pub(crate) fn withdraw(&self, request_id: &str) -> bool {
        let mut s = self.lock();
        let before = s.waiting.len();
        s.waiting.retain(|w| w.request_id != request_id);
        s.waiting.len() < before
    }

    /// The sink stopped waiting (cancelled at shutdown): whether waiting or held, the
    /// invocation is gone; a late answer for it is refused.
    pub(crate) fn forget(&self, request_id: &str) {
        if !self.withdraw(request_id) {
            self.lock().held.remove(request_id);
        }
    }

    /// A connection from a worker opened.
    pub(crate) fn connection_opened(&self, peer: Peer) {
        *self.lock().open.entry(peer.host).or_insert(0) += 1;
    }

    /// A worker on `peer` asks for work: wait for a batch and hand it over. The deadline
    /// starts now. Cancel-safe: a worker that goes away while waiting takes nothing.
    pub(crate) async fn next(&self, peer: Peer) -> Handed {
        {
            let mut s = self.lock();
            s.polling += 1;
            s.workers.insert(peer.connection, now_ms());
        }
        let _polling = PollingGuard(self);
        loop {
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(h) = self.take(peer.host) {
                return h;
            }
            notified.await;
        }
    }

    fn take(&self, host: IpAddr) -> Option<Handed> {
        let mut s = self.lock();
        let w = s.waiting.pop_front()?;
        if !s.waiting.is_empty() {
            // More work: wake another worker.
            self.work.notify_one();
        }
        s.handed += 1;
        s.held
            .insert(w.request_id.clone(), Held { host, done: w.done });
        Some(Handed {
            request_id: w.request_id,
            body: w.body,
            deadline_ms: now_ms() + self.timeout.as_millis() as u64,
            trace_id: w.trace.unwrap_or_else(trace_id),
        })
    }

    /// End a held invocation; `false` if no worker holds `request_id` (unknown, or already
    /// ended by its deadline).
    pub(crate) fn end(&self, request_id: &str, how: Ended) -> bool {
        let mut s = self.lock();
        let Some(held) = s.held.remove(request_id) else {
            return false;
        };
        match how {
            Ended::Response(_) => s.responses += 1,
            Ended::FunctionError(_) => s.errors += 1,
            Ended::Deadline => s.deadlines += 1,
            Ended::WorkerGone => s.gone += 1,
        }
        // The sink may have stopped waiting (shutdown); nothing else to tell then.
        let _ = held.done.send(how);
        true
    }

    /// A connection closed. When it was its host's last, the invocations held by workers of
    /// that host fail now rather than at their deadline (a killed pod closes them all; a
    /// client closing one pooled connection does not).
    pub(crate) fn connection_closed(&self, peer: Peer) {
        let ids: Vec<String> = {
            let mut s = self.lock();
            s.workers.remove(&peer.connection);
            let left = match s.open.get_mut(&peer.host) {
                Some(n) => {
                    *n = n.saturating_sub(1);
                    *n
                }
                None => 0,
            };
            if left > 0 {
                return;
            }
            s.open.remove(&peer.host);
            s.held
                .iter()
                .filter(|(_, h)| h.host == peer.host)
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in ids {
            self.end(&id, Ended::WorkerGone);
        }
    }

    /// Some worker is connected (polling or holding a batch).
    pub(crate) fn has_workers(&self) -> bool {
        !self.lock().workers.is_empty()
    }

    /// `POST /runtime/init/error`.
    pub(crate) fn init_error(&self, what: String) {
        self.lock().init_error = Some(what);
    }

    /// The invocation deadline workers are given.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn report(&self) -> Report {
        let s = self.lock();
        Report {
            workers: s.workers.len(),
            polling: s.polling,
            waiting_batches: s.waiting.len(),
            invocations_in_progress: s.held.len(),
            invocations: s.handed,
            responses: s.responses,
            function_errors: s.errors,
            deadlines_missed: s.deadlines,
            workers_lost: s.gone,
            init_error: s.init_error.clone(),
        }
    }
}

struct PollingGuard<'a>(&'a Invocations);

impl Drop for PollingGuard<'_> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.polling = s.polling.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(connection: u64, host: [u8; 4]) -> Peer {
        Peer {
            connection,
            host: IpAddr::from(host),
        }
    }

    #[tokio::test]
    async fn the_worker_gets_the_batchs_trace_or_a_new_one() {
        let inv = Invocations::new(Duration::from_secs(30));
        let xray = "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1";
        let _traced = inv.submit(Bytes::from_static(b"{}"), Some(xray.into()));
        let _plain = inv.submit(Bytes::from_static(b"{}"), None);
        assert_eq!(inv.next(peer(1, [10, 0, 0, 1])).await.trace_id, xray);
        let fresh = inv.next(peer(2, [10, 0, 0, 2])).await.trace_id;
        assert!(fresh.starts_with("Root=1-") && fresh != xray, "{fresh}");
    }

    #[tokio::test]
    async fn a_batch_waits_for_a_worker_and_its_response_settles_it() {
        let inv = Invocations::new(Duration::from_secs(30));
        let (id, ended) = inv.submit(Bytes::from_static(b"{}"), None);
        let handed = inv.next(peer(1, [10, 0, 0, 1])).await;
        assert_eq!(handed.request_id, id);
        assert_eq!(inv.report().invocations_in_progress, 1);
        assert!(inv.end(&id, Ended::Response(Bytes::from_static(b"ok"))));
        assert_eq!(
            ended.await.unwrap(),
            Ended::Response(Bytes::from_static(b"ok"))
        );
        assert!(!inv.end(&id, Ended::Deadline), "settled once");
    }

    #[tokio::test]
    async fn a_worker_host_losing_its_last_connection_fails_what_it_held() {
        let inv = Invocations::new(Duration::from_secs(30));
        let (a1, a2, b) = (
            peer(1, [10, 0, 0, 1]),
            peer(2, [10, 0, 0, 1]),
            peer(3, [10, 0, 0, 2]),
        );
        for p in [a1, a2, b] {
            inv.connection_opened(p);
        }
        let (held_by_a, mut ended_a) = inv.submit(Bytes::new(), None);
        let (_held_by_b, _ended_b) = inv.submit(Bytes::new(), None);
        assert_eq!(inv.next(a1).await.request_id, held_by_a);
        let _other = inv.next(b).await;
        // A pooled client closing one connection: the worker is still there.
        inv.connection_closed(a1);
        assert!(ended_a.try_recv().is_err(), "still held");
        inv.connection_closed(a2);
        assert_eq!(ended_a.await.unwrap(), Ended::WorkerGone);
        assert_eq!(
            inv.report().invocations_in_progress,
            1,
            "host b still holds its batch"
        );
    }

    #[tokio::test]
    async fn a_withdrawn_batch_is_never_handed_out() {
        let inv = Invocations::new(Duration::from_secs(30));
        let (a, _) = inv.submit(Bytes::from_static(b"a"), None);
        let (b, _) = inv.submit(Bytes::from_static(b"b"), None);
        assert!(inv.withdraw(&a));
        assert_eq!(inv.next(peer(1, [127, 0, 0, 1])).await.request_id, b);
        assert_eq!(inv.report().waiting_batches, 0);
    }

    #[test]
    fn request_ids_look_like_lambdas() {
        let id = request_id();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert!(trace_id().starts_with("Root=1-"));
    }
}
