//! The pipe's state as an ESM reports it, shared by the runner, its source and the admin server.

use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The states of an event source mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum State {
    Creating,
    Enabling,
    Enabled,
    Disabling,
    Disabled,
    Updating,
    Deleting,
}

#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub state: State,
    pub state_transition_reason: String,
    pub last_processing_result: String,
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
}

impl Default for PipeStatus {
    fn default() -> Self {
        PipeStatus {
            inner: Mutex::new(Snapshot {
                state: State::Creating,
                state_transition_reason: "USER_INITIATED".into(),
                last_processing_result: "No records processed".into(),
                connected: false,
                target_reachable: true,
            }),
            connected: AtomicBool::new(false),
            target_reachable: AtomicBool::new(true),
            up: None,
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

    pub fn set_state(&self, state: State, reason: impl Into<String>) {
        let reason = reason.into();
        self.with(|s| {
            s.state = state;
            s.state_transition_reason = reason;
        });
        self.refresh_up();
    }

    pub fn set_reason(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.with(|s| s.state_transition_reason = reason);
    }

    pub fn set_last_result(&self, result: &str) {
        self.with(|s| {
            if s.last_processing_result != result {
                s.last_processing_result = result.to_owned();
            }
        });
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
        self.refresh_up();
    }

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

    pub fn target_reachable(&self) -> bool {
        self.target_reachable.load(Ordering::Relaxed)
    }

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
