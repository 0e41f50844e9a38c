//! The admin server: `/metrics`, `/healthz`, `/readyz`, `/pipes`, `/pipes/NAME`, enable and
//! disable (`POST /pipes/NAME/enable|disable`), and the console (`/`, `console.rs`).
//!
//! With an admin token, every endpoint but `/healthz`, `/readyz` and the console's static
//! shell (which holds no data: it asks for the token and sends it with every call) needs
//! `Authorization: Bearer TOKEN`, compared in constant time.

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

use crate::console;

/// What `/pipes` shows of one pipe.
pub(crate) struct PipeView {
    pub name: String,
    /// The file's `enabled`, until `POST /pipes/NAME/enable|disable` changes it.
    pub enabled: std::sync::atomic::AtomicBool,
    pub source_kind: &'static str,
    pub source: String,
    pub target_kind: &'static str,
    pub target: String,
    pub revision: String,
    pub status: Arc<PipeStatus>,
    pub metrics: PipeMetrics,
    /// The pipe document as it may be shown (`GET /pipes/NAME/config`).
    pub config: serde_json::Value,
    /// What the console draws (`console.rs`).
    pub history: std::sync::Mutex<crate::console::History>,
}

pub(crate) struct AdminState {
    pub registry: Registry,
    /// Replaced whole by the supervisor when pipes are added, removed or restarted.
    pub pipes: std::sync::RwLock<Vec<Arc<PipeView>>>,
    /// The admin token; `None`: open.
    pub token: Option<Vec<u8>>,
    /// Enable and disable requests, for the supervisor.
    pub commands: tokio::sync::mpsc::Sender<Toggle>,
}

/// `POST /pipes/NAME/enable` or `disable`, answered by the supervisor.
pub(crate) struct Toggle {
    pub name: String,
    pub enable: bool,
    /// `None`: no such pipe.
    pub reply: tokio::sync::oneshot::Sender<Option<()>>,
}

/// The admin token from `--admin-token-file` or `SLUICE_ADMIN_TOKEN` (surrounding whitespace
/// trimmed); an empty or unreadable one is an error, not an open API.
pub(crate) fn token(file: Option<&std::path::Path>) -> Result<Option<Vec<u8>>, String> {
    let raw = match file {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| format!("--admin-token-file {}: {e}", f.display()))?,
        None => match std::env::var("SLUICE_ADMIN_TOKEN") {
            Ok(t) => t,
            Err(_) => return Ok(None),
        },
    };
    let t = raw.trim();
    if t.is_empty() {
        return Err("the admin token is empty (--admin-token-file or SLUICE_ADMIN_TOKEN)".into());
    }
    Ok(Some(t.as_bytes().to_vec()))
}

/// Equal in time that depends on the lengths only, not on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request may pass: no token set, an open path, or the right bearer token.
fn authorized(state: &AdminState, req: &Request<Incoming>) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    if matches!(req.uri().path(), "/healthz" | "/readyz") || console::is_asset(req.uri().path()) {
        return true;
    }
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|given| same(given.trim_ascii(), token))
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
        enabled: p.enabled(),
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

impl PipeView {
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed)
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

fn not_found(name: &str) -> Response<Full<Bytes>> {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": format!("no pipe named {name:?}")}),
    )
}

async fn handle(state: &AdminState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if !authorized(state, req) {
        let mut r = json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": "this endpoint needs Authorization: Bearer <admin token>"}),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"sluice\""),
        );
        return r;
    }
    if req.method() == Method::POST {
        return toggle(state, req.uri().path()).await;
    }
    if req.method() != Method::GET {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET or POST only\n",
        );
    }
    if let Some(asset) = console::asset(req.uri().path()) {
        return asset;
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
                .filter(|p| p.enabled() && !p.status.ready())
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
        "/console/history" => {
            let since = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("since=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            json(StatusCode::OK, &console::histories(&state.pipes(), since))
        }
        path if path.starts_with("/pipes/") && path.ends_with("/config") => {
            let name = &path["/pipes/".len()..path.len() - "/config".len()];
            match state.pipes().iter().find(|p| p.name == name) {
                Some(p) => json(StatusCode::OK, &p.config),
                None => not_found(name),
            }
        }
        path => match path.strip_prefix("/pipes/") {
            Some(name) => match state.pipes().iter().find(|p| p.name == name) {
                Some(p) => json(StatusCode::OK, &pipe_json(p)),
                None => not_found(name),
            },
            None => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        },
    }
}

/// `POST /pipes/NAME/disable|enable`: the supervisor drains or starts the pipe; the answer is
/// 202 with the pipe as it is now (`Disabling`, `Enabling`, or already there).
async fn toggle(state: &AdminState, path: &str) -> Response<Full<Bytes>> {
    let parsed = path.strip_prefix("/pipes/").and_then(|rest| {
        rest.strip_suffix("/disable")
            .map(|n| (n, false))
            .or_else(|| rest.strip_suffix("/enable").map(|n| (n, true)))
    });
    let Some((name, enable)) = parsed else {
        return respond(StatusCode::NOT_FOUND, "text/plain", "not found\n");
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let asked = state
        .commands
        .send(Toggle {
            name: name.to_owned(),
            enable,
            reply,
        })
        .await;
    match (asked, answer.await) {
        (Ok(()), Ok(Some(()))) => match state.pipes().iter().find(|p| p.name == name) {
            Some(p) => json(StatusCode::ACCEPTED, &pipe_json(p)),
            None => not_found(name),
        },
        (Ok(()), Ok(None)) => not_found(name),
        _ => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"error": "sluice is shutting down"}),
        ),
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
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&state, &req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
        });
    }
}
