//! The pipe's state as an ESM reports it, shared by the runner, its source and the admin server.

use crate::sink::Sink;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The states of an event source mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum State {
    /// Being built.
    Creating,
    /// Starting.
    Enabling,
    /// Running.
    Enabled,
    /// Stopping: draining what is in flight.
    Disabling,
    /// Stopped (`enabled: false`, or drained).
    Disabled,
    /// Its pipe file changed: draining before the new version starts.
    Updating,
    /// Its pipe file was removed: draining before it goes.
    Deleting,
}

/// Why a pipe is in its state: the ESM `StateTransitionReason` codes, and Sluice's own
/// `PROBLEM: ...` texts where no ESM code fits. Connectors choose one through their error
/// classification; nobody writes the strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `USER_INITIATED`: started, stopped or changed on purpose, or connected again.
    UserInitiated,
    /// `EVENT_SOURCE_AUTHN_ERROR`: the source refused the credentials.
    AuthenticationRefused,
    /// `EVENT_SOURCE_AUTHZ_ERROR`: the credentials may not read the queue.
    AuthorizationRefused,
    /// `ESM_CONFIG_NOT_VALID`, with what is wrong when known (a queue that does not exist, a
    /// pipe file that does not validate).
    ConfigNotValid(Option<String>),
    /// `PROBLEM: connection lost`: the source cannot be reached or dropped the connection.
    ConnectionLost,
    /// `PROBLEM: broker error`: the source answered with an error Sluice cannot classify.
    SourceError,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::UserInitiated => f.write_str("USER_INITIATED"),
            Reason::AuthenticationRefused => f.write_str("EVENT_SOURCE_AUTHN_ERROR"),
            Reason::AuthorizationRefused => f.write_str("EVENT_SOURCE_AUTHZ_ERROR"),
            Reason::ConfigNotValid(None) => f.write_str("ESM_CONFIG_NOT_VALID"),
            Reason::ConfigNotValid(Some(why)) => write!(f, "ESM_CONFIG_NOT_VALID: {why}"),
            Reason::ConnectionLost => f.write_str("PROBLEM: connection lost"),
            Reason::SourceError => f.write_str("PROBLEM: broker error"),
        }
    }
}

/// The outcome of the pipe's last delivery, as `LastProcessingResult` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LastResult {
    /// `No records processed`.
    NoRecords,
    /// `OK`.
    Ok,
    /// `PROBLEM: Function throttled`.
    Throttled,
    /// `PROBLEM: Target unreachable`.
    TargetUnreachable,
    /// `PROBLEM: Function call failed`.
    CallFailed,
    /// `PROBLEM: Pipe failed: WHY`.
    PipeFailed(String),
}

impl std::fmt::Display for LastResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LastResult::NoRecords => f.write_str("No records processed"),
            LastResult::Ok => f.write_str("OK"),
            LastResult::Throttled => f.write_str("PROBLEM: Function throttled"),
            LastResult::TargetUnreachable => f.write_str("PROBLEM: Target unreachable"),
            LastResult::CallFailed => f.write_str("PROBLEM: Function call failed"),
            LastResult::PipeFailed(why) => write!(f, "PROBLEM: Pipe failed: {why}"),
        }
    }
}

/// What `/pipes` shows for one pipe.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// ESM `State`.
    pub state: State,
    #[serde(serialize_with = "as_text")]
    /// ESM `StateTransitionReason`.
    pub state_transition_reason: Reason,
    #[serde(serialize_with = "as_text")]
    /// ESM `LastProcessingResult`.
    pub last_processing_result: LastResult,
    /// Connected to its source.
    pub connected: bool,
    /// False while the target (or dead-letter destination) cannot be reached at all.
    pub target_reachable: bool,
}

/// Live state of one pipe.
#[derive(Debug)]
pub struct PipeStatus {
    inner: Mutex<Snapshot>,
    connected: AtomicBool,
    target_reachable: AtomicBool,
    /// `sluice_pipe_up`, kept equal to [`PipeStatus::ready`] on every change.
    up: Option<Gauge>,
    /// The target of the pipe's current run, for its live details in `/pipes` (the status
    /// outlives a restart; the sink does not).
    target: CurrentTarget,
}

/// The sink a run set, behind a lock.
#[derive(Default)]
struct CurrentTarget(Mutex<Option<Arc<dyn Sink>>>);

impl std::fmt::Debug for CurrentTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentTarget")
    }
}

impl Default for PipeStatus {
    fn default() -> Self {
        PipeStatus {
            inner: Mutex::new(Snapshot {
                state: State::Creating,
                state_transition_reason: Reason::UserInitiated,
                last_processing_result: LastResult::NoRecords,
                connected: false,
                target_reachable: true,
            }),
            connected: AtomicBool::new(false),
            target_reachable: AtomicBool::new(true),
            up: None,
            target: CurrentTarget::default(),
        }
    }
}

impl PipeStatus {
    /// A status that keeps the pipe's `sluice_pipe_up` gauge current.
    pub fn with_up_gauge(up: Gauge) -> Self {
        PipeStatus {
            up: Some(up),
            ..PipeStatus::default()
        }
    }

    /// The target this run delivers to (set by the runner when a run starts).
    pub fn set_target(&self, sink: Arc<dyn Sink>) {
        *self.target.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    }

    /// The current target's live details ([`Sink::details`]), if it has any.
    pub fn target_details(&self) -> Option<serde_json::Value> {
        let sink = self
            .target
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        sink.and_then(|s| s.details())
    }

    fn refresh_up(&self) {
        if let Some(g) = &self.up {
            g.set(i64::from(self.ready()));
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Snapshot) -> R) -> R {
        // A poisoned lock only means a panic elsewhere; the snapshot is still usable.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Move to `state`, for `reason`.
    pub fn set_state(&self, state: State, reason: Reason) {
        self.with(|s| {
            s.state = state;
            s.state_transition_reason = reason;
        });
        self.refresh_up();
    }

    /// Change the reason alone.
    pub fn set_reason(&self, reason: Reason) {
        self.with(|s| {
            if s.state_transition_reason != reason {
                s.state_transition_reason = reason;
            }
        });
    }

    /// Record the outcome of the last delivery.
    pub fn set_last_result(&self, result: LastResult) {
        self.with(|s| {
            if s.last_processing_result != result {
                s.last_processing_result = result;
            }
        });
    }

    /// Whether the source is connected now.
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
        self.refresh_up();
    }

    /// Whether the source is connected.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Whether the target answered the last call (any answer counts; only "no response at
    /// all" makes it unreachable). A pipe whose target is unreachable is not ready.
    pub fn set_target_reachable(&self, reachable: bool) {
        if self.target_reachable.swap(reachable, Ordering::Relaxed) != reachable {
            self.refresh_up();
        }
    }

    /// Whether the target answered its last call.
    pub fn target_reachable(&self) -> bool {
        self.target_reachable.load(Ordering::Relaxed)
    }

    /// A copy of the state, for `/pipes`.
    pub fn snapshot(&self) -> Snapshot {
        let connected = self.connected();
        let target_reachable = self.target_reachable();
        self.with(|s| Snapshot {
            connected,
            target_reachable,
            ..s.clone()
        })
    }

    /// Enabled, connected to its source, and its target reachable: what `/readyz` and
    /// `sluice_pipe_up` report.
    pub fn ready(&self) -> bool {
        self.connected() && self.target_reachable() && self.with(|s| s.state == State::Enabled)
    }
}

fn as_text<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
