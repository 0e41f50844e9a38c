//! The supervisor: load, assemble, start every pipe and the admin server, drain on a signal.

use crate::admin::{self, AdminState, PipeView};
use crate::assemble::assemble;
use crate::config::{SourceConfig, TargetConfig};
use crate::load;
use prometheus_client::registry::Registry;
use sluice_core::metrics::Metrics;
use sluice_core::status::State;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

pub async fn run(
    paths: Vec<PathBuf>,
    admin_addr: SocketAddr,
    shutdown_timeout: Duration,
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
    let mut pipes = Vec::new();
    let mut views = Vec::new();
    for l in &loaded {
        let pipe = match assemble(&l.config, &metrics) {
            Ok(p) => p,
            Err(errors) => {
                for e in errors {
                    eprintln!("{}: {e}", l.file.display());
                }
                return ExitCode::FAILURE;
            }
        };
        views.push(PipeView {
            name: l.config.name.clone(),
            enabled: l.config.enabled,
            source_kind: match l.config.source {
                SourceConfig::Rabbitmq(_) => "rabbitmq",
            },
            source: pipe.source.describe(),
            target_kind: match l.config.target {
                TargetConfig::Http(_) => "http",
                TargetConfig::Rabbitmq(_) => "rabbitmq",
            },
            target: pipe.sink.describe(),
            revision: l.revision.clone(),
            status: pipe.status.clone(),
            metrics: pipe.metrics.clone(),
        });
        if l.config.enabled {
            pipes.push(pipe);
        } else {
            pipe.status.set_state(State::Disabled, "USER_INITIATED");
        }
    }
    let listener = match admin::bind(admin_addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {admin_addr} (--admin-addr): {e}");
            return ExitCode::FAILURE;
        }
    };
    // The admin server stays up while pipes drain, so /readyz shows them stopping.
    let admin_stop = CancellationToken::new();
    let pipes_stop = CancellationToken::new();
    let state = Arc::new(AdminState {
        registry,
        pipes: views,
    });
    let admin_task = tokio::spawn(admin::serve(listener, state, admin_stop.clone()));
    let mut running = JoinSet::new();
    for pipe in pipes {
        running.spawn(pipe.run(pipes_stop.child_token(), shutdown_timeout));
    }
    info!(pipes = loaded.len(), "sluice running");

    wait_for_signal().await;
    info!("shutting down: draining pipes");
    pipes_stop.cancel();
    while running.join_next().await.is_some() {}
    admin_stop.cancel();
    let _ = admin_task.await;
    info!("sluice stopped");
    ExitCode::SUCCESS
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
