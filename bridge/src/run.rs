//! The supervisor: start every pipe and the admin server, apply pipe-file changes while
//! running (section 7 of the contract), drain on a signal.
//!
//! Files are polled every two seconds rather than watched through inotify: polling sees every
//! kind of change the same way, including the atomic symlink swap of a Kubernetes ConfigMap
//! volume, and costs a few small reads.

use crate::admin::{self, AdminState, PipeView, Toggle};
use crate::assemble::assemble;
use crate::load::{self, Loaded};
use prometheus_client::registry::Registry;
use sluice_core::config::ConfigError;
use sluice_core::metrics::Metrics;
use sluice_core::status::{Reason, State};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

const RELOAD_INTERVAL: Duration = Duration::from_secs(2);
/// Past `--shutdown-timeout`, the most the exit waits for what is still closing.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// One pipe the supervisor owns.
struct Running {
    file: PathBuf,
    revision: String,
    /// Hash of its resolved secrets: a rotated secret restarts the pipe.
    secrets: u64,
    /// What it was started from, to start it again after a disable.
    loaded: Loaded,
    view: Arc<PipeView>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// The drain of a `POST .../disable`, until it ends.
    draining: Option<JoinHandle<()>>,
}

struct Supervisor {
    metrics: Metrics,
    shutdown_timeout: Duration,
    running: BTreeMap<String, Running>,
    admin: Arc<AdminState>,
}

pub(crate) async fn run(
    paths: Vec<PathBuf>,
    admin_addr: SocketAddr,
    shutdown_timeout: Duration,
    token: Option<Vec<u8>>,
    until_empty: bool,
) -> ExitCode {
    let loaded = match load::load(&paths) {
        Ok(l) => l,
        Err(errors) => {
            for e in errors {
                error!("{e}");
                eprintln!("{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    let listener = match admin::bind(admin_addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {admin_addr} (--admin-addr): {e}");
            return ExitCode::FAILURE;
        }
    };
    let (commands, mut toggles) = tokio::sync::mpsc::channel::<Toggle>(16);
    let admin = Arc::new(AdminState {
        registry,
        pipes: Default::default(),
        token,
        commands,
    });
    let mut sup = Supervisor {
        metrics,
        shutdown_timeout,
        running: BTreeMap::new(),
        admin: admin.clone(),
    };
    for l in &loaded {
        if let Err(errors) = sup.start(l) {
            for e in errors {
                eprintln!("{}: {e}", l.file.display());
            }
            return ExitCode::FAILURE;
        }
    }
    sup.publish();
    // The admin server stays up while pipes drain, so /readyz shows them stopping.
    let admin_stop = CancellationToken::new();
    let admin_task = tokio::spawn(admin::serve(listener, admin, admin_stop.clone()));
    info!(pipes = loaded.len(), "sluice running");

    // A change is applied once the files read the same on two polls in a row, so that a file
    // still being written is never applied half-written.
    let mut watch = load::Watch::default();
    let mut seen = watch.fingerprint(&paths);
    let mut settling: Option<u64> = None;
    let mut tick = tokio::time::interval(RELOAD_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let signal = wait_for_signal();
    tokio::pin!(signal);
    let mut sample = tokio::time::interval(crate::console::SAMPLE_EVERY);
    let mut empty_check = tokio::time::interval(crate::until_empty::CHECK_EVERY);
    let mut empty_watch = crate::until_empty::EmptyWatch::default();
    loop {
        tokio::select! {
            _ = &mut signal => break,
            now = empty_check.tick(), if until_empty => {
                if empty_watch.all_empty(&sup.views(), now) {
                    info!("--until-empty: every source is empty and nothing is in flight; stopping");
                    break;
                }
            }
            Some(t) = toggles.recv() => {
                let found = sup.toggle(&t.name, t.enable).await;
                let _ = t.reply.send(found.then_some(()));
            }
            _ = sample.tick() => {
                crate::console::sample(&sup.views());
            }
            _ = tick.tick() => {
                let now = watch.fingerprint(&paths);
                if now == seen {
                    settling = None;
                } else if settling == Some(now) {
                    seen = now;
                    settling = None;
                    sup.reload(&paths).await;
                } else {
                    settling = Some(now);
                }
            }
        }
    }
    info!("shutting down: draining pipes (a second signal exits at once)");
    tokio::spawn(async {
        wait_for_signal().await;
        // Whatever was not acknowledged comes back from the broker.
        eprintln!("second signal: exiting without draining");
        std::process::exit(1);
    });
    let names: Vec<String> = sup.running.keys().cloned().collect();
    // Their counters go on counting through the drain.
    let moved = sup.views();
    for r in names.iter().filter_map(|n| sup.running.get(n)) {
        r.stop.cancel();
    }
    // Each pipe bounds its own drain by the timeout; this bounds the whole exit even if a
    // close hangs somewhere below.
    let drain = async {
        for name in names {
            sup.stop(&name).await;
        }
    };
    if tokio::time::timeout(shutdown_timeout + EXIT_GRACE, drain)
        .await
        .is_err()
    {
        warn!(
            "shutdown timeout: exiting with pipes still closing; the broker redelivers what was not acknowledged"
        );
    }
    admin_stop.cancel();
    let _ = tokio::time::timeout(EXIT_GRACE, admin_task).await;
    if until_empty {
        print!("{}", crate::until_empty::summary(&moved));
    }
    info!("sluice stopped");
    ExitCode::SUCCESS
}

impl Supervisor {
    /// Build and start one pipe (or list it, if `enabled: false`).
    fn start(&mut self, l: &Loaded) -> Result<(), Vec<ConfigError>> {
        let pipe = assemble(&l.config, &self.metrics)?;
        // A pipe started again (enabled after a disable) keeps its history.
        let history = self
            .running
            .get(&l.config.name)
            .map(|r| std::mem::take(&mut *r.view.history.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default();
        let view = Arc::new(PipeView {
            name: l.config.name.clone(),
            enabled: std::sync::atomic::AtomicBool::new(l.config.enabled),
            history: std::sync::Mutex::new(history),
            config: l.shown.clone(),
            source_kind: l.config.source.kind(),
            source: pipe.source.describe(),
            target_kind: l.config.target.kind(),
            target: pipe.sink.describe(),
            revision: l.revision.clone(),
            status: pipe.status.clone(),
            metrics: pipe.metrics.clone(),
        });
        let stop = CancellationToken::new();
        let task = if l.config.enabled {
            let (config, metrics) = (l.config.clone(), self.metrics.clone());
            let rebuild = move || {
                assemble(&config, &metrics).map_err(|e| {
                    e.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            };
            Some(tokio::spawn(crate::supervise::supervise(
                pipe,
                rebuild,
                stop.clone(),
                self.shutdown_timeout,
            )))
        } else {
            pipe.status
                .set_state(State::Disabled, Reason::UserInitiated);
            None
        };
        self.running.insert(
            l.config.name.clone(),
            Running {
                file: l.file.clone(),
                revision: l.revision.clone(),
                secrets: l.secrets,
                loaded: l.clone(),
                view,
                stop,
                task,
                draining: None,
            },
        );
        Ok(())
    }

    /// Drain and stop one pipe, and forget it.
    async fn stop(&mut self, name: &str) {
        if let Some(r) = self.running.remove(name) {
            r.stop.cancel();
            for task in [r.task, r.draining].into_iter().flatten() {
                let _ = task.await;
            }
        }
    }

    /// `POST /pipes/NAME/enable|disable`, as `UpdateEventSourceMapping Enabled=...` does it:
    /// disable drains in the background (`Disabling`, then `Disabled`); enable waits for such a
    /// drain, then starts the pipe again from its file (`Enabling`, then `Enabled`). The choice
    /// holds until the process restarts or the pipe's file changes. False: no such pipe.
    async fn toggle(&mut self, name: &str, enable: bool) -> bool {
        let Some(r) = self.running.get_mut(name) else {
            return false;
        };
        if enable {
            if r.task.is_some() {
                return true;
            }
            if let Some(drain) = r.draining.take() {
                let _ = drain.await;
            }
            let mut l = r.loaded.clone();
            l.config.enabled = true;
            info!(pipe = %name, "enabled from the admin API");
            if let Err(errors) = self.start(&l) {
                for e in errors {
                    warn!(pipe = %name, error = %e, "pipe could not be started");
                }
            }
        } else {
            let Some(task) = r.task.take() else {
                return true;
            };
            info!(pipe = %name, "disabled from the admin API: draining");
            r.view
                .enabled
                .store(false, std::sync::atomic::Ordering::Relaxed);
            let status = r.view.status.clone();
            status.set_state(State::Disabling, Reason::UserInitiated);
            r.stop.cancel();
            r.stop = CancellationToken::new();
            r.draining = Some(tokio::spawn(async move {
                let _ = task.await;
                status.set_state(State::Disabled, Reason::UserInitiated);
            }));
        }
        self.publish();
        true
    }

    /// The pipes' views, as the admin endpoints, the console and `--until-empty` see them.
    fn views(&self) -> Vec<Arc<PipeView>> {
        self.running.values().map(|r| r.view.clone()).collect()
    }

    /// Show the current pipes on the admin endpoints.
    fn publish(&self) {
        *self.admin.pipes.write().unwrap_or_else(|e| e.into_inner()) = self.views();
    }

    /// The files changed: start added pipes, drain removed ones, restart changed ones (or ones
    /// whose secrets changed). A file that does not validate holds back only its own pipes:
    /// they keep running as they were, with the error as their reason.
    async fn reload(&mut self, paths: &[PathBuf]) {
        let files = match load::load_each(paths) {
            Ok(f) => f,
            Err(errors) => {
                self.metrics.reload_errors.inc();
                for e in &errors {
                    error!(error = %e, "pipe paths cannot be read; the running pipes are kept");
                }
                return;
            }
        };
        for (file, errors) in &files.broken {
            self.metrics.reload_errors.inc();
            for e in errors {
                error!(error = %e, "pipe file changed but does not validate; its running pipes are kept");
            }
            for r in self.running.values().filter(|r| &r.file == file) {
                r.view
                    .status
                    .set_reason(Reason::ConfigNotValid(Some(errors[0].to_string())));
            }
        }
        let held: Vec<String> = self
            .running
            .iter()
            .filter(|(_, r)| files.broken.iter().any(|(f, _)| f == &r.file))
            .map(|(n, _)| n.clone())
            .collect();
        let mut wanted: BTreeMap<&str, &Loaded> = BTreeMap::new();
        for l in &files.loaded {
            if held.contains(&l.config.name) {
                self.metrics.reload_errors.inc();
                error!(pipe = %l.config.name, file = %l.file.display(), "pipe is also defined by a file that does not validate; that definition keeps running");
                continue;
            }
            wanted.insert(l.config.name.as_str(), l);
        }
        let removed: Vec<String> = self
            .running
            .keys()
            .filter(|n| !wanted.contains_key(n.as_str()) && !held.contains(n))
            .cloned()
            .collect();
        for name in removed {
            info!(pipe = %name, "pipe removed: draining");
            if let Some(r) = self.running.get(&name) {
                r.view
                    .status
                    .set_state(State::Deleting, Reason::UserInitiated);
            }
            self.stop(&name).await;
            self.metrics.reloads.inc();
        }
        for (name, l) in wanted {
            let changed = match self.running.get(name) {
                Some(r) if r.revision == l.revision && r.secrets == l.secrets => {
                    // Unchanged; a reason left by an earlier invalid version is cleared.
                    r.view.status.set_reason(Reason::UserInitiated);
                    continue;
                }
                Some(r) => {
                    r.view
                        .status
                        .set_state(State::Updating, Reason::UserInitiated);
                    true
                }
                None => false,
            };
            if changed {
                info!(pipe = %name, "pipe changed: draining and restarting");
                self.stop(name).await;
            } else {
                info!(pipe = %name, "pipe added");
            }
            match self.start(l) {
                Ok(()) => {
                    self.metrics.reloads.inc();
                }
                Err(errors) => {
                    self.metrics.reload_errors.inc();
                    for e in errors {
                        warn!(pipe = %name, error = %e, "pipe could not be started");
                    }
                }
            }
        }
        self.publish();
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
