//! `--replicas K`: throughput of 1, 2, ... K Sluice processes consuming one preloaded queue
//! as competing consumers (the same pipe, `batch.size: 100` (SQS: its defaults), the source's
//! default concurrency), all delivering to one receiver. Every replica shares the machine's two cores
//! with the broker, so the figures show how the bridge scales out on one box, not on a
//! cluster; rounds alternate the replica counts and the medians are compared.

use super::run::{SluiceRun, median};
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::jms::openwire_url;
use sluice_tests::sqs::{Sqs, child_env, endpoint};
use sluice_tests::stomp::activemq_port;
use sluice_tests::unique;

/// Preload `n` messages for `broker`: the pipe's `source:` body, the receiver's per-record
/// marker, and the environment sluice needs.
async fn prepare(
    broker: &str,
    n: usize,
    size: usize,
) -> (String, &'static [u8], Vec<(&'static str, String)>) {
    let mut env = vec![("SLUICE_LOG", "warn,lapin=off".to_owned())];
    match broker {
        "sqs" => {
            let queue = super::sqs::preload(&Sqs::connect().await, n).await;
            env.extend(child_env());
            let source = format!(
                "  sqs: {{queue_url: '{queue}', endpoint_url: '{}'}}\n",
                endpoint()
            );
            (source, b"\"receiptHandle\"", env)
        }
        "activemq" | "openwire" => {
            let queue = super::stomp::preload(n, size).await;
            let source = if broker == "activemq" {
                format!(
                    "  activemq:\n    protocol: stomp\n    url: stomp://127.0.0.1:{}\n    queues: [{queue}]\n",
                    activemq_port()
                )
            } else {
                format!(
                    "  activemq:\n    url: {}\n    queues: [{queue}]\n",
                    openwire_url()
                )
            };
            (source, b"\"messageID\"", env)
        }
        _ => {
            let queue = unique("bench-replicas");
            super::preload(&Rabbit::connect().await, &queue, n, size).await;
            let source = format!("  rabbitmq:\n    url: {}\n    queues: [{queue}]\n", url());
            (source, b"\"basicProperties\"", env)
        }
    }
}

pub(crate) async fn run(broker: &str, n: usize, size: usize, max: usize, rounds: usize) {
    println!(
        "{broker}: {n} messages of {size} bytes preloaded per run, 1..={max} replicas, {rounds} rounds"
    );
    // SQS keeps its defaults (10 a batch; more would need a window).
    let batch = if broker == "sqs" {
        ""
    } else {
        "batch: {size: 100}\n"
    };
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); max];
    for round in 1..=rounds {
        for k in 1..=max {
            let (source, marker, env) = prepare(broker, n, size).await;
            let run = SluiceRun::start_replicas(
                marker,
                |port| {
                    format!(
                        "name: bench\nsource:\n{source}target:\n  http: {{url: 'http://127.0.0.1:{port}/'}}\n{batch}"
                    )
                },
                &env,
                k,
            )
            .await;
            let secs = run.wait_for(n).await;
            let (cpu, rss) = run.usage();
            run.stop();
            println!(
                "{round}: {k} replica(s) {:>8.0} msgs/s {:>7.3} CPU s/1000 msgs (all replicas) {:>6.1} MiB peak RSS (largest)",
                n as f64 / secs,
                cpu / n as f64 * 1000.0,
                rss
            );
            rates[k - 1].push(n as f64 / secs);
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    let one = medians[0];
    println!(
        "median: {}",
        medians
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{} replica(s) {r:.0} msgs/s ({:.2}x)", i + 1, r / one))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
