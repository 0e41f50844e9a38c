//! Filters and enrichment through the real `sluice` binary and a real RabbitMQ, counting every
//! message: what passes reaches the target (enriched), what does not is acknowledged and
//! counted, nothing is left in the queue.

use serde_json::{Value, json};
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn pipe(name: &str, queue: &str, target: &str, extra: &str) -> String {
    format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http:\n    url: {target}\n    timeout: 5s\nbatch: {{size: 20, window: 50ms}}\n{extra}",
        url()
    )
}

/// An enrichment function: one `{"messageId", "enriched", "n"}` per record it is given (the
/// batch arrives as a bare JSON array of `aws:rmq` records).
fn enrich_each(batch: &Value) -> (u16, String) {
    let out: Vec<Value> = batch
        .as_array()
        .map(|records| {
            records
                .iter()
                .map(|r| {
                    json!({
                        "messageId": r["basicProperties"]["messageId"],
                        "enriched": true,
                        "eventSource": r["eventSource"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    (200, Value::Array(out).to_string())
}

async fn publish_orders(rabbit: &Rabbit, queue: &str) {
    // 300 JSON orders (every third is an "order"), and 5 bodies that are not JSON.
    let json_bodies = (0..300).map(|i| {
        let kind = if i % 3 == 0 { "order" } else { "other" };
        (
            format!("m-{i}"),
            json!({"n": i, "type": kind, "total": i}).to_string(),
        )
    });
    let plain = (0..5).map(|k| (format!("plain-{k}"), format!("plain-{k}")));
    rabbit
        .publish_with_ids(queue, json_bodies.chain(plain))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn filtered_records_are_acknowledged_and_the_rest_arrive_enriched() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("filter");
    rabbit.queue(&queue, &[]).await;
    publish_orders(&rabbit, &queue).await;
    let enricher = Function::start(0, enrich_each).await;
    let function = Function::ok().await;
    let name = unique("f").to_lowercase();
    let extra = format!(
        "filter:\n  - data: {{type: [order], total: [{{numeric: ['>=', 30]}}]}}\n  - '{{\"data\": [\"plain-2\"]}}'\nenrichment:\n  http: {{url: '{}', timeout: 5s}}\n",
        enricher.url()
    );
    let mut sluice = Sluice::start(&pipe(&name, &queue, &function.url(), &extra));
    // Orders 30, 33, ..., 297 (90 of them) and the plain body "plain-2".
    let expected: Vec<String> = (30..300)
        .step_by(3)
        .map(|i| format!("m-{i}"))
        .chain(["plain-2".to_owned()])
        .collect();
    wait_for("91 records at the target", LIMIT, || async {
        function.distinct() >= 91
    })
    .await;
    wait_for("305 acknowledgements", LIMIT, || async {
        sluice.acked(&name).await == 305.0
    })
    .await;
    for id in &expected {
        assert!(function.count(id) >= 1, "{id} reached the target");
    }
    assert_eq!(function.distinct(), 91, "nothing else passed the filter");
    let filtered = sluice
        .pipe_metric("sluice_filtered_messages_total", &name, "")
        .await;
    assert_eq!(filtered, 214.0);
    // Every record the target got is the enrichment's answer, not the source record.
    for event in &function.received.lock().unwrap().events {
        for r in sluice_tests::function::records(event) {
            assert_eq!(r["enriched"], true, "{r}");
            assert_eq!(r["eventSource"], "aws:rmq");
        }
    }
    assert!(
        sluice
            .pipe_metric(
                "sluice_enrichment_requests_total",
                &name,
                "outcome=\"success\""
            )
            .await
            >= 1.0
    );
    println!("duplicates at the target: {}", function.duplicates());
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert_eq!(rabbit.ready(&queue).await, 0, "nothing left in the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn an_enrichment_that_answers_nothing_skips_the_target() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("skip");
    rabbit.queue(&queue, &[]).await;
    rabbit.publish_numbered(&queue, "m", 40).await;
    let enricher = Function::start(0, |_| (200, "{}".to_owned())).await;
    let function = Function::ok().await;
    let name = unique("s").to_lowercase();
    let extra = format!("enrichment:\n  http: {{url: '{}'}}\n", enricher.url());
    let mut sluice = Sluice::start(&pipe(&name, &queue, &function.url(), &extra));
    wait_for("40 acknowledgements", LIMIT, || async {
        sluice.acked(&name).await == 40.0
    })
    .await;
    let enriched_batches = enricher.received.lock().unwrap().events.len();
    assert!(enriched_batches >= 2, "batches of 20 were enriched");
    assert!(
        function.received.lock().unwrap().events.is_empty(),
        "the target was never called"
    );
    assert_eq!(
        sluice
            .pipe_metric(
                "sluice_enrichment_requests_total",
                &name,
                "outcome=\"empty\""
            )
            .await,
        enriched_batches as f64
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert_eq!(rabbit.ready(&queue).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn an_enrichment_that_answers_garbage_fails_the_batch_which_is_retried() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("garbage");
    rabbit.queue(&queue, &[]).await;
    rabbit.publish_numbered(&queue, "m", 50).await;
    // The first two calls answer HTML; later ones enrich.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let enricher = Function::start(0, move |batch| {
        if c.fetch_add(1, Ordering::SeqCst) < 2 {
            (200, "<html>oops</html>".to_owned())
        } else {
            enrich_each(batch)
        }
    })
    .await;
    let function = Function::ok().await;
    let name = unique("g").to_lowercase();
    let extra = format!(
        "enrichment:\n  http: {{url: '{}'}}\nretry: {{max_attempts: 5, backoff: {{initial: 10ms, max: 50ms}}}}\n",
        enricher.url()
    );
    let mut sluice = Sluice::start(&pipe(&name, &queue, &function.url(), &extra));
    wait_for("50 records at the target", LIMIT, || async {
        function.distinct() == 50
    })
    .await;
    wait_for("50 acknowledgements", LIMIT, || async {
        sluice.acked(&name).await == 50.0
    })
    .await;
    assert_eq!(
        sluice
            .pipe_metric(
                "sluice_enrichment_requests_total",
                &name,
                "outcome=\"error\""
            )
            .await,
        2.0
    );
    assert!(sluice.logs().contains("enrichment answer is not JSON"));
    assert!(
        sluice
            .pipe_metric("sluice_retried_messages_total", &name, "")
            .await
            >= 1.0
    );
    println!("duplicates at the target: {}", function.duplicates());
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert_eq!(rabbit.ready(&queue).await, 0);
}
