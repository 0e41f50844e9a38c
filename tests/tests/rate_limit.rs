//! `rate_limit` end to end: real RabbitMQ in, an HTTP function out; arrivals at the function
//! never exceed the limit in any one-second window, however many batches run at once.

use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::{Function, records};
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn records_reach_the_target_at_most_at_the_rate_shared_by_concurrent_batches() {
    const RATE: usize = 40;
    const MESSAGES: usize = 160;
    let rabbit = Rabbit::connect().await;
    let queue = unique("rate");
    rabbit.queue(&queue, &[]).await;
    rabbit.publish_numbered(&queue, "m", MESSAGES).await;
    let function = Function::ok().await;
    let name = unique("rate").to_lowercase();
    let pipe = format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\n    prefetch: 200\ntarget:\n  http:\n    url: {}\nbatch: {{size: 100, window: 10ms}}\nconcurrency: 4\nrate_limit: {RATE}\n",
        url(),
        function.url()
    );
    let sluice = Sluice::start(&pipe);
    wait_for(
        "every message delivered",
        Duration::from_secs(120),
        || async { function.distinct() == MESSAGES },
    )
    .await;
    let (arrivals, sizes): (Vec<_>, Vec<_>) = {
        let r = function.received.lock().unwrap();
        r.arrived
            .iter()
            .zip(&r.events)
            .map(|(at, e)| (*at, records(e).len()))
            .unzip()
    };
    // Batches hold a tenth of a second's worth at most: no burst of a second's worth at once.
    let cap = RATE.div_ceil(10);
    assert!(sizes.iter().all(|&n| n <= cap), "batch sizes {sizes:?}");
    // In any window of one second starting at an arrival: at most the rate, plus one batch
    // for a call that started inside the window and arrived at its edge.
    for (i, start) in arrivals.iter().enumerate() {
        let in_window: usize = arrivals
            .iter()
            .zip(&sizes)
            .filter(|(at, _)| **at >= *start && at.duration_since(*start) < Duration::from_secs(1))
            .map(|(_, n)| n)
            .sum();
        assert!(
            in_window <= RATE + cap,
            "{in_window} records in the second after arrival {i}"
        );
    }
    let first = arrivals.iter().min().unwrap();
    let last = arrivals.iter().max().unwrap();
    eprintln!(
        "{MESSAGES} records at rate {RATE}/s took {:?} (batches of {cap})",
        last.duration_since(*first)
    );
    wait_for(
        "every message acknowledged",
        Duration::from_secs(30),
        || async {
            sluice.acked(&name).await == MESSAGES as f64 && rabbit.ready(&queue).await == 0
        },
    )
    .await;
    assert_eq!(function.duplicates(), 0);
}
