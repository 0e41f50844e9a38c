//! `--latency`: publish-to-function time per message at a fixed publish rate, for Sluice with
//! `batch.window` 0 and 100ms, beside a baseline: a bare lapin consumer that POSTs what is
//! ready (up to 100) to the same receiver over a kept-alive connection and acknowledges after
//! the answer. Each message's id carries its publish time; the receiver takes the difference
//! on arrival (same host, same clock).

use super::run::{SluiceRun, serve};
use futures_util::{FutureExt, StreamExt};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::unique;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MARK: &[u8] = b"\"messageId\":\"t-";

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A receiver recording, for every message id `t-MICROS` in a body, now − MICROS.
async fn latency_receiver() -> (u16, Arc<Mutex<Vec<u64>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let port = serve(Arc::new(move |body: &[u8]| {
        let now = now_us();
        let mut got = s.lock().unwrap();
        let mut rest = body;
        while let Some(i) = rest.windows(MARK.len()).position(|w| w == MARK) {
            rest = &rest[i + MARK.len()..];
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            if let Some(t) = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse::<u64>().ok())
            {
                got.push(now.saturating_sub(t));
            }
        }
    }))
    .await;
    (port, seen)
}

/// Publish `n` transient messages to `queue` at `rate` a second, each with id `t-MICROS`.
async fn publish_at(queue: &str, n: usize, rate: usize) {
    let conn = Connection::connect(&url(), ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let body = vec![b'x'; 1024];
    let start = Instant::now();
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let props = BasicProperties::default()
            .with_message_id(format!("t-{}", now_us()).into())
            .with_delivery_mode(1);
        // Without publisher confirms the confirmation resolves at once; nothing to wait for.
        let _confirm = ch
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &body,
                props,
            )
            .await
            .expect("publish");
    }
    let _ = conn.close(200, "done".into()).await;
}

/// The baseline: consume, POST what is ready (up to 100) with the ids in the same form Sluice's
/// events have them, acknowledge after the answer.
async fn baseline(queue: String, port: u16, n: usize) {
    let (conn, mut consumer) = super::consume(&queue, 400).await;
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: http::Uri = format!("http://127.0.0.1:{port}/").parse().expect("uri");
    let mut done = 0;
    while done < n {
        let Some(Ok(first)) = consumer.next().await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < 100 {
            match consumer.next().now_or_never() {
                Some(Some(Ok(d))) => batch.push(d),
                _ => break,
            }
        }
        let mut body = Vec::with_capacity(batch.len() * 40 + 2);
        body.push(b'[');
        for (i, d) in batch.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"messageId\":\"");
            body.extend_from_slice(
                d.properties
                    .message_id()
                    .as_ref()
                    .map_or("", |s| s.as_str())
                    .as_bytes(),
            );
            body.extend_from_slice(b"\"}");
        }
        body.push(b']');
        let req = http::Request::post(uri.clone())
            .body(Full::new(body.into()))
            .expect("request");
        let _ = client.request(req).await.expect("post");
        if let Some(last) = batch.last() {
            last.acker
                .ack(BasicAckOptions { multiple: true })
                .await
                .expect("ack");
        }
        done += batch.len();
    }
    let _ = conn.close(200, "done".into()).await;
}

fn percentiles(mut v: Vec<u64>) -> String {
    v.sort_unstable();
    let at = |q: f64| {
        v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    format!(
        "p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms",
        at(0.5),
        at(0.99),
        at(0.999)
    )
}

/// One measured run: `consumer` starts consuming `queue` toward the receiver on `port`.
async fn measure(
    rabbit: &Rabbit,
    rate: usize,
    secs: usize,
    label: &str,
    consumer: impl FnOnce(String, u16, usize) -> Box<dyn FnOnce() + Send>,
) {
    let n = rate * secs;
    let queue = unique("bench-latency");
    rabbit.queue(&queue, &[]).await;
    let (port, seen) = latency_receiver().await;
    let stop = consumer(queue.clone(), port, n);
    // Let the consumer attach before the clock starts.
    sluice_tests::wait_for(
        "a consumer on the queue",
        Duration::from_secs(30),
        || async { rabbit.consumers(&queue).await > 0 },
    )
    .await;
    publish_at(&queue, n, rate).await;
    sluice_tests::wait_for(
        "every message at the receiver",
        Duration::from_secs(120),
        || async { seen.lock().unwrap().len() >= n },
    )
    .await;
    stop();
    let got = std::mem::take(&mut *seen.lock().unwrap());
    println!(
        "{rate:>6}/s {label:<28} {}   ({} msgs)",
        percentiles(got),
        n
    );
    rabbit.delete(&queue).await;
}

/// Run the latency benchmark.
pub(crate) async fn run(rates: &[usize], secs: usize) {
    let rabbit = Rabbit::connect().await;
    println!(
        "RabbitMQ at {}, 1 KiB transient messages published at a fixed rate for {secs} s; publish-to-function time",
        url().replace("guest:guest@", "")
    );
    for &rate in rates {
        measure(
            &rabbit,
            rate,
            secs,
            "baseline (lapin + POST)",
            |queue, port, n| {
                let task = tokio::spawn(baseline(queue, port, n));
                Box::new(move || task.abort())
            },
        )
        .await;
        for window in ["0ms", "100ms"] {
            measure(&rabbit, rate, secs, &format!("sluice window {window}"), |queue, port, _| {
                let yaml = format!(
                    "name: bench\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http: {{url: 'http://127.0.0.1:{port}/'}}\nbatch: {{size: 100, window: {window}}}\nconcurrency: 4\n",
                    url()
                );
                let run = SluiceRun::spawn(&yaml, &[("SLUICE_LOG", "warn,lapin=off".into())], 1);
                Box::new(move || run.stop())
            })
            .await;
        }
    }
}
