//! sluice-tests: integration tests against real brokers, fault tests, and the benchmark.
//!
//! The brokers are started by `scripts/` (see `scripts/test.sh`); tests find them through
//! environment variables with localhost defaults:
//! - `SLUICE_RABBITMQ_URL` (default `amqp://guest:guest@127.0.0.1:5673/%2f`)
//! - `SLUICE_RABBITMQ_NODE` (default `sluice-5673@localhost`, for restarting the broker)
//! - `SLUICE_SQS_URL` (default `http://127.0.0.1:4566`, the moto server)
//!
//! Every test uses its own random queue names, runs the real `sluice` binary as a child
//! process, and counts every message at the function: none lost, duplicates counted.
//!
//! Layout: `broker.rs` (RabbitMQ helpers), `sqs.rs` (SQS helpers), `function.rs` (a test HTTP
//! function standing in for the user's code), `process.rs` (the `sluice` child process and its
//! admin endpoints), `proxy.rs` (a TCP fault proxy: cut, black hole, reset, latency),
//! `conformance/` (the scenarios every connector runs, through one `Broker` trait),
//! `lambda_libs.rs` (the official Lambda libraries of other languages, run on captured events).

pub mod broker;
pub mod browser;
pub mod conformance;
pub mod function;
pub mod jms;
pub mod lambda_libs;
pub mod process;
pub mod prometheus;
pub mod proxy;
pub mod sqs;
pub mod stomp;

use std::future::Future;
use std::time::Duration;

/// Poll `cond` until it holds, failing after `limit` with `what`. This waits on a condition,
/// not for a fixed time: the poll interval only bounds how soon a change is seen.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The value after `--name` in a command line, or `default`.
pub fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// GET `path` from `addr` (`host:port`) over plain HTTP/1.1: (status, body), `None` when the
/// server cannot be reached or answers nothing HTTP.
pub async fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    http_request(addr, "GET", path, &[]).await
}

/// Any request without a body, with extra `headers`: (status, body).
pub async fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    http_request_with_body(addr, method, path, headers, "").await
}

/// Any request with a `body` (and `headers`, such as its content type): (status, body).
pub async fn http_request_with_body(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    read_response(&mut s).await
}

/// Read one HTTP/1.1 response: (status, body). The body ends at its `Content-Length`, at the
/// last chunk, or when the server closes (some servers keep the connection open despite
/// `Connection: close`, so the end is not left to the close).
pub async fn read_response(s: &mut tokio::net::TcpStream) -> Option<(u16, String)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let body = &buf[end + 4..];
            let complete = match length {
                Some(n) => body.len() >= n,
                None => head.contains("transfer-encoding: chunked") && body.ends_with(b"0\r\n\r\n"),
            };
            if complete {
                break;
            }
        }
        match s.read(&mut chunk).await.ok()? {
            0 => break,
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Some((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    ))
}

/// Undo `Transfer-Encoding: chunked`; a body that is not chunks comes back as it is.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return body.to_owned();
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_owned();
        };
        if n == 0 {
            return out;
        }
        let Some(chunk) = after.get(..n) else {
            return body.to_owned();
        };
        out.push_str(chunk);
        rest = after.get(n + 2..).unwrap_or("");
    }
}
