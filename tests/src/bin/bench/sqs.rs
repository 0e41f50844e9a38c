//! `bench --broker sqs`: Sluice against a bare receive-delete loop on the same SQS server.
//!
//! Both drain N preloaded messages of a fresh standard queue. The bare loop runs 5 receives
//! at once (as many as Sluice's default for `batch.size: 10`, `concurrency: 5`), each taking
//! 10 messages with a long poll and deleting them with one `DeleteMessageBatch`, doing nothing
//! else. Sluice runs its SQS defaults to a local HTTP receiver that answers 200.
//!
//! Requests are counted at the server: the lines moto's log gains during the phase (one per
//! HTTP request), so both sides are counted the same way, attribute reads included.

use super::run::{SluiceRun, report};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use sluice_tests::sqs::{Sqs, bodies, child_env, endpoint};
use sluice_tests::unique;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const LOOPS: usize = 5;

/// moto's request log, written by `scripts/sqs.sh`.
fn server_requests() -> usize {
    let dir = std::env::var("SLUICE_RUN_DIR").unwrap_or_else(|_| "/tmp/sluice-run".into());
    let port = std::env::var("SLUICE_SQS_PORT").unwrap_or_else(|_| "4566".into());
    std::fs::read_to_string(format!("{dir}/moto-{port}.log"))
        .map(|t| t.lines().filter(|l| l.contains("\"POST ")).count())
        .unwrap_or(0)
}

struct Figures {
    secs: f64,
    requests: usize,
    /// Sluice's CPU seconds and peak RSS (MiB); none for the in-process bare loop.
    process: Option<(f64, f64)>,
}

fn line(name: &str, n: usize, f: &Figures) {
    let process = f.process.map_or(String::new(), |(cpu, rss)| {
        format!(
            "   {:.3} CPU s/1000 msgs {rss:.1} MiB peak RSS",
            cpu / n as f64 * 1000.0
        )
    });
    println!(
        "{name:<28} {:>6.0} msgs/s {:>5.2} requests/msg ({n} msgs in {:.2}s){process}",
        n as f64 / f.secs,
        f.requests as f64 / n as f64,
        f.secs
    );
}

pub(crate) async fn preload(sqs: &Sqs, n: usize) -> String {
    let url = sqs.queue(&unique("bench"), &[]).await;
    sqs.send(&url, &bodies("m", n), None).await;
    url
}

async fn bare(sqs: &Sqs, n: usize) -> Figures {
    let url = preload(sqs, n).await;
    let before = server_requests();
    let received = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..LOOPS {
        let (client, url, received) = (sqs.client.clone(), url.clone(), received.clone());
        loops.spawn(async move {
            while received.load(Ordering::Relaxed) < n as u64 {
                let got = client
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .expect("receive")
                    .messages
                    .unwrap_or_default();
                if got.is_empty() {
                    continue;
                }
                received.fetch_add(got.len() as u64, Ordering::Relaxed);
                let entries = got
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                            .expect("entry")
                    })
                    .collect();
                client
                    .delete_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("delete");
            }
        });
    }
    while loops.join_next().await.is_some() {}
    Figures {
        secs: start.elapsed().as_secs_f64(),
        requests: server_requests() - before,
        process: None,
    }
}

async fn sluice(sqs: &Sqs, n: usize) -> Figures {
    let url = preload(sqs, n).await;
    let before = server_requests();
    let mut env = child_env();
    env.push(("SLUICE_LOG", "warn".into()));
    let run = SluiceRun::start(
        b"\"receiptHandle\"",
        |port| format!(
            "name: bench\nsource:\n  sqs: {{queue_url: '{url}', endpoint_url: '{}'}}\ntarget:\n  http: {{url: 'http://127.0.0.1:{port}/'}}\n",
            endpoint()
        ),
        &env,
    )
    .await;
    let secs = run.wait_for(n).await;
    // Deletes are sent after the acknowledgement is counted: let them reach the server.
    let drained = async {
        while sqs.depth(&url).await != (0, 0) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), drained).await;
    let process = run.usage();
    let requests = server_requests() - before;
    run.stop();
    Figures {
        secs,
        requests,
        process: Some(process),
    }
}

pub(crate) async fn run(n: usize, rounds: usize) {
    let sqs = Sqs::connect().await;
    println!(
        "SQS server at {}, {n} messages preloaded per run, {rounds} rounds alternating",
        endpoint()
    );
    let (mut bare_rates, mut sluice_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let b = bare(&sqs, n).await;
        line(&format!("{round}: bare loop (x{LOOPS})"), n, &b);
        let s = sluice(&sqs, n).await;
        line(&format!("{round}: sluice (defaults)"), n, &s);
        bare_rates.push(n as f64 / b.secs);
        sluice_rates.push(n as f64 / s.secs);
    }
    report("bare loop", bare_rates, sluice_rates);
}
