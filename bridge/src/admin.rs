//! The admin server: `/metrics`, `/healthz`, `/readyz`, `/pipes`, `/pipes/NAME`.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use serde::Serialize;
use sluice_core::metrics::PipeMetrics;
use sluice_core::redact::redact;
use sluice_core::status::PipeStatus;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What `/pipes` shows of one pipe.
pub(crate) struct PipeView {
    pub name: String,
    pub enabled: bool,
    pub source_kind: &'static str,
    pub source: String,
    pub target_kind: &'static str,
    pub target: String,
    pub revision: String,
    pub status: Arc<PipeStatus>,
    pub metrics: PipeMetrics,
}

pub(crate) struct AdminState {
    pub registry: Registry,
    /// Replaced whole by the supervisor when pipes are added, removed or restarted.
    pub pipes: std::sync::RwLock<Vec<Arc<PipeView>>>,
}

impl AdminState {
    fn pipes(&self) -> Vec<Arc<PipeView>> {
        self.pipes.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Serialize)]
struct Endpoint<'a> {
    kind: &'a str,
    address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Counters {
    received: u64,
    received_bytes: u64,
    filtered: u64,
    delivered: u64,
    failed: u64,
    acked: u64,
    retried: u64,
    dead_lettered: u64,
    dropped: u64,
}

#[derive(Serialize)]
struct PipeJson<'a> {
    name: &'a str,
    enabled: bool,
    state: sluice_core::status::State,
    state_transition_reason: String,
    last_processing_result: String,
    connected: bool,
    source: Endpoint<'a>,
    target: Endpoint<'a>,
    config_revision: &'a str,
    counters: Counters,
}

fn pipe_json(p: &PipeView) -> PipeJson<'_> {
    let s = p.status.snapshot();
    let m = &p.metrics;
    PipeJson {
        name: &p.name,
        enabled: p.enabled,
        state: s.state,
        state_transition_reason: redact(&s.state_transition_reason.to_string()).into_owned(),
        last_processing_result: redact(&s.last_processing_result.to_string()).into_owned(),
        connected: s.connected,
        source: Endpoint {
            kind: p.source_kind,
            address: &p.source,
            details: None,
        },
        target: Endpoint {
            kind: p.target_kind,
            address: &p.target,
            details: p.status.target_details(),
        },
        config_revision: &p.revision,
        counters: Counters {
            received: m.source_messages.get(),
            received_bytes: m.source_bytes.get(),
            filtered: m.filtered.get(),
            delivered: m.delivered.get(),
            failed: m.failed.get(),
            acked: m.acked.get(),
            retried: m.retried.get(),
            dead_lettered: m.dead_lettered.get() + m.broker_dead_lettered.get(),
            dropped: m.dropped_oversize.get(),
        },
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn json(status: StatusCode, v: &impl Serialize) -> Response<Full<Bytes>> {
    respond(
        status,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

fn handle(state: &AdminState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut out = String::new();
            if prometheus_client::encoding::text::encode(&mut out, &state.registry).is_err() {
                return respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "encoding failed\n",
                );
            }
            respond(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                out,
            )
        }
        "/healthz" => respond(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" => {
            let pipes = state.pipes();
            let not_ready: Vec<&str> = pipes
                .iter()
                .filter(|p| p.enabled && !p.status.ready())
                .map(|p| p.name.as_str())
                .collect();
            if not_ready.is_empty() {
                json(StatusCode::OK, &serde_json::json!({"ready": true}))
            } else {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"ready": false, "not_ready": not_ready}),
                )
            }
        }
        "/pipes" => json(
            StatusCode::OK,
            &state
                .pipes()
                .iter()
                .map(|p| pipe_json(p))
                .collect::<Vec<_>>(),
        ),
        path => match path.strip_prefix("/pipes/") {
            Some(name) => match state.pipes().iter().find(|p| p.name == name) {
                Some(p) => json(StatusCode::OK, &pipe_json(p)),
                None => json(
                    StatusCode::NOT_FOUND,
                    &serde_json::json!({"error": format!("no pipe named {name:?}")}),
                ),
            },
            None => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        },
    }
}

/// Bind now (so a busy port fails start-up), serve until `stop`.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Connections served at once; past it, new ones wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// Longest wait for a request's headers (a client that never sends them is dropped).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest life of one connection, idle keep-alive included; clients reconnect.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// Pause after a failed accept (out of file descriptors): no busy loop, and the error is
/// logged at most once per pause.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

pub(crate) async fn serve(listener: TcpListener, state: Arc<AdminState>, stop: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "admin server listening");
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "admin accept failed; pausing");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let resp = handle(&state, &req);
                async move { Ok::<_, std::convert::Infallible>(resp) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
        });
    }
}
