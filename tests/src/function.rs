//! A test HTTP function: it stands in for the user's code, records every event it receives,
//! and answers as the test scripts it.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// How the function answers one event: a status, headers and a body.
pub type Behaviour = dyn Fn(&Value) -> Answer + Send + Sync;

/// One answer of the function.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: String,
}

#[derive(Default)]
/// What the function received.
pub struct Received {
    /// Every event, as parsed JSON.
    pub events: Vec<Value>,
    /// Deliveries per message id.
    pub per_id: HashMap<String, usize>,
    /// Every event as the bytes received (field order is not kept by `Value`).
    pub raw: Vec<Bytes>,
    /// The request headers of every event.
    pub headers: Vec<http::HeaderMap>,
    /// When every event arrived.
    pub arrived: Vec<std::time::Instant>,
}

/// A running test function.
pub struct Function {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Everything it received.
    pub received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

/// The records of a Lambda `aws:rmq` event, in order.
pub fn rmq_records(event: &Value) -> Vec<&Value> {
    event["rmqMessagesByQueue"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_array).flatten().collect())
        .unwrap_or_default()
}

/// The records of an event of any source: `Records` (SQS), `messages` (ActiveMQ), or
/// `rmqMessagesByQueue` (RabbitMQ).
pub fn records(event: &Value) -> Vec<&Value> {
    // A bare array: `format: pipes`, or records reshaped by an input template.
    if let Some(items) = event.as_array() {
        return items.iter().collect();
    }
    if let Some(r) = event["Records"].as_array() {
        return r.iter().collect();
    }
    if let Some(m) = event["messages"].as_array() {
        return m.iter().collect();
    }
    rmq_records(event)
}

/// The id a record is known by: `messageId` (SQS), `messageID` (ActiveMQ), or
/// `basicProperties.messageId` (RabbitMQ).
pub fn message_id(record: &Value) -> String {
    let id = record["messageId"]
        .as_str()
        .or_else(|| record["messageID"].as_str())
        .or_else(|| record["basicProperties"]["messageId"].as_str());
    id.unwrap_or("").to_owned()
}

impl Function {
    /// Start on a free port (or `port`), answering with `behaviour`.
    pub async fn start(
        port: u16,
        behaviour: impl Fn(&Value) -> (u16, String) + Send + Sync + 'static,
    ) -> Function {
        Function::start_slow(port, std::time::Duration::ZERO, behaviour).await
    }

    /// Like [`Function::start`], taking `delay` over every answer (a slow function).
    pub async fn start_slow(
        port: u16,
        delay: std::time::Duration,
        behaviour: impl Fn(&Value) -> (u16, String) + Send + Sync + 'static,
    ) -> Function {
        Function::start_answering(port, delay, move |e| {
            let (status, body) = behaviour(e);
            Answer {
                status,
                headers: Vec::new(),
                body,
            }
        })
        .await
    }

    /// The most general form: answers with headers too.
    pub async fn start_answering(
        port: u16,
        delay: std::time::Duration,
        behaviour: impl Fn(&Value) -> Answer + Send + Sync + 'static,
    ) -> Function {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind function");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Received::default()));
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let rec = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let rec = rec.clone();
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let rec = rec.clone();
                        let behaviour = behaviour.clone();
                        async move {
                            let arrived = std::time::Instant::now();
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            tokio::time::sleep(delay).await;
                            let Answer {
                                status,
                                headers,
                                body: answer,
                            } = behaviour(&event);
                            if (200..300).contains(&status) {
                                let mut r = rec.lock().unwrap();
                                for record in records(&event) {
                                    *r.per_id.entry(message_id(record)).or_default() += 1;
                                }
                                r.events.push(event);
                                r.raw.push(body.clone());
                                r.headers.push(parts.headers);
                                r.arrived.push(arrived);
                            }
                            let mut resp = Response::new(Full::new(Bytes::from(answer)));
                            *resp.status_mut() =
                                StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                            for (k, v) in headers {
                                if let Ok(v) = http::HeaderValue::try_from(v) {
                                    resp.headers_mut().insert(k, v);
                                }
                            }
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Function {
            addr,
            received,
            task,
        }
    }

    /// A function that accepts everything.
    pub async fn ok() -> Function {
        Function::start(0, |_| (200, String::new())).await
    }

    /// Its URL, for a pipe's `target.http.url`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The first accepted event whose bytes contain `needle`, as text.
    pub fn raw_containing(&self, needle: &str) -> Option<String> {
        self.received
            .lock()
            .unwrap()
            .raw
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .find(|t| t.contains(needle))
    }

    /// Distinct message ids accepted so far.
    pub fn distinct(&self) -> usize {
        self.received.lock().unwrap().per_id.len()
    }

    /// Accepted deliveries beyond the first of each message.
    pub fn duplicates(&self) -> usize {
        self.received
            .lock()
            .unwrap()
            .per_id
            .values()
            .map(|n| n - 1)
            .sum()
    }

    /// Deliveries of the record with message id `id`.
    pub fn count(&self, id: &str) -> usize {
        self.received
            .lock()
            .unwrap()
            .per_id
            .get(id)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Function {
    /// The function's server lives as long as the test holds it.
    fn drop(&mut self) {
        self.task.abort();
    }
}
