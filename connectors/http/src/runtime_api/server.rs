//! The Lambda Runtime API (`/2018-06-01/runtime/...`) over HTTP/1.1, as runtime interface
//! clients call it: `GET invocation/next` (a long poll), `POST invocation/ID/response`,
//! `POST invocation/ID/error`, `POST init/error`.

use super::invocations::{Ended, Invocations, Peer};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

const PREFIX: &str = "/2018-06-01/runtime/";

/// Lambda's limit on a synchronous response; a larger one is a function error.
const MAX_RESPONSE: usize = 6 * 1024 * 1024;

/// How long a failed bind waits before it is tried again.
const REBIND: Duration = Duration::from_secs(2);

/// What the sink reads of the server: the bind error while it cannot listen.
#[derive(Default)]
pub(crate) struct Listening {
    pub error: std::sync::Mutex<Option<String>>,
}

/// Serve until `stop`; a failed bind is logged, reported through `listening`, and retried.
pub(crate) async fn serve(
    addr: SocketAddr,
    function_arn: String,
    inv: Arc<Invocations>,
    listening: Arc<Listening>,
    stop: CancellationToken,
) {
    let listener = loop {
        match TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                warn!(%addr, error = %e, "cannot listen for the Lambda Runtime API; trying again");
                *listening.error.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("cannot listen on {addr}: {e}"));
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(REBIND) => {}
                }
            }
        }
    };
    *listening.error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    info!(%addr, "serving the Lambda Runtime API");
    let arn: Arc<str> = function_arn.into();
    let connections = AtomicU64::new(0);
    loop {
        let (stream, remote) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accepting a Runtime API connection");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let peer = Peer {
            connection: connections.fetch_add(1, Ordering::Relaxed),
            host: remote.ip(),
        };
        inv.connection_opened(peer);
        let (inv, arn, stop) = (inv.clone(), arn.clone(), stop.clone());
        tokio::spawn(async move {
            let svc = service_fn(|req| route(req, peer, inv.clone(), arn.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
            inv.connection_closed(peer);
        });
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

const ACCEPTED: &str = r#"{"status":"OK"}"#;
const UNKNOWN_ID: &str = r#"{"errorMessage":"no invocation with this request id is open (unknown, or already ended by its deadline)","errorType":"InvalidRequestID"}"#;
const NOT_FOUND: &str =
    r#"{"errorMessage":"not a Lambda Runtime API path","errorType":"NotFound"}"#;
const TOO_LARGE: &str =
    r#"{"errorMessage":"response larger than 6 MB","errorType":"RequestEntityTooLarge"}"#;

async fn route(
    req: Request<Incoming>,
    peer: Peer,
    inv: Arc<Invocations>,
    arn: Arc<str>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(reply(StatusCode::NOT_FOUND, NOT_FOUND));
    };
    let method = req.method().clone();
    Ok(match (method, rest) {
        (Method::GET, "invocation/next") => next(peer, &inv, &arn).await,
        (Method::POST, "init/error") => {
            let what = error_summary(&req_error_type(&req), &body(req).await.unwrap_or_default());
            warn!(error = %what, "the function failed to initialise");
            inv.init_error(what);
            reply(StatusCode::ACCEPTED, ACCEPTED)
        }
        (Method::POST, rest) => match rest
            .strip_prefix("invocation/")
            .and_then(|r| r.rsplit_once('/'))
        {
            Some((id, "response")) => {
                let id = id.to_owned();
                match body(req).await {
                    Some(b) => settle(
                        &inv,
                        &id,
                        Ended::Response(b),
                        (StatusCode::ACCEPTED, ACCEPTED),
                    ),
                    None => settle(
                        &inv,
                        &id,
                        Ended::FunctionError("response larger than 6 MB".into()),
                        (StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE),
                    ),
                }
            }
            Some((id, "error")) => {
                let id = id.to_owned();
                let error_type = req_error_type(&req);
                let what = error_summary(&error_type, &body(req).await.unwrap_or_default());
                settle(
                    &inv,
                    &id,
                    Ended::FunctionError(what),
                    (StatusCode::ACCEPTED, ACCEPTED),
                )
            }
            _ => reply(StatusCode::NOT_FOUND, NOT_FOUND),
        },
        _ => reply(StatusCode::NOT_FOUND, NOT_FOUND),
    })
}

/// End invocation `id` as `how` and answer the worker `answer`, or 400 when no such
/// invocation is open.
fn settle(
    inv: &Invocations,
    id: &str,
    how: Ended,
    answer: (StatusCode, &'static str),
) -> Response<Full<Bytes>> {
    if inv.end(id, how) {
        reply(answer.0, answer.1)
    } else {
        reply(StatusCode::BAD_REQUEST, UNKNOWN_ID)
    }
}

/// The request body, or `None` if it is larger than Lambda allows.
async fn body(req: Request<Incoming>) -> Option<Bytes> {
    Limited::new(req.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

fn req_error_type(req: &Request<Incoming>) -> String {
    req.headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// `errorType: errorMessage` from an error report (its JSON body, else its header), cut short:
/// it goes into logs and `/pipes`, never into a metric label.
fn error_summary(header_type: &str, body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let ty = v["errorType"].as_str().unwrap_or(header_type);
    let msg = v["errorMessage"].as_str().unwrap_or("");
    let mut s = match (ty.is_empty(), msg.is_empty()) {
        (true, true) => "function error".to_owned(),
        (false, true) => ty.to_owned(),
        (true, false) => msg.to_owned(),
        (false, false) => format!("{ty}: {msg}"),
    };
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

async fn next(peer: Peer, inv: &Arc<Invocations>, arn: &str) -> Response<Full<Bytes>> {
    let handed = inv.next(peer).await;
    // The deadline: a worker that has not answered by then fails its batch.
    let (deadline_inv, id) = (inv.clone(), handed.request_id.clone());
    let timeout = inv.timeout();
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        deadline_inv.end(&id, Ended::Deadline);
    });
    let mut r = Response::new(Full::new(handed.body));
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = header::HeaderValue::try_from(value) {
            h.insert(name, v);
        }
    };
    set("content-type", "application/json");
    set("lambda-runtime-aws-request-id", &handed.request_id);
    set(
        "lambda-runtime-deadline-ms",
        &handed.deadline_ms.to_string(),
    );
    set("lambda-runtime-invoked-function-arn", arn);
    set("lambda-runtime-trace-id", &handed.trace_id);
    r
}

#[cfg(test)]
mod tests {
    use super::error_summary;

    #[test]
    fn error_reports_are_summarised_from_body_or_header() {
        let body = br#"{"errorMessage":"boom","errorType":"ValueError","stackTrace":[]}"#;
        assert_eq!(error_summary("", body), "ValueError: boom");
        assert_eq!(
            error_summary("Runtime.Unknown", b"not json"),
            "Runtime.Unknown"
        );
        assert_eq!(error_summary("", b""), "function error");
        let long = format!(r#"{{"errorMessage":"{}"}}"#, "é".repeat(400));
        assert!(error_summary("", long.as_bytes()).chars().count() <= 301);
    }
}
