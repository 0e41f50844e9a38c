//! `target.lambda`: batches go through the Lambda Invoke API (SigV4-signed, `RequestResponse`)
//! to a real Invoke endpoint, `cargo lambda watch`, serving a Rust function built on
//! `lambda_runtime` that decodes every event with the official `aws_lambda_events` types and
//! reports partial failures with the official `SqsBatchResponse`.

use lapin::BasicProperties;
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::lambda_libs::{Capture, InvokeEndpoint, function_log};
use sluice_tests::process::Sluice;
use sluice_tests::{jms, unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

fn lambda_target(endpoint: &InvokeEndpoint) -> String {
    format!(
        "target:\n  lambda:\n    function_name: sluice-lambda-fn\n    region: us-east-1\n    endpoint_url: {}\n    timeout: 60s\nreport_batch_item_failures: true\nretry: {{backoff: {{initial: 100ms, max: 1s}}}}\nbatch: {{size: 20, window: 50ms}}\n",
        endpoint.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and cargo-lambda: scripts/test.sh installs and starts them"]
async fn rabbitmq_batches_reach_a_rust_lambda_through_the_invoke_api() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("lambda-rmq");
    rabbit.queue(&queue, &[]).await;
    let total = 200;
    rabbit
        .publish_all(
            &queue,
            (0..total).map(|i| {
                let body = if i == 11 {
                    "fail-once".into()
                } else {
                    format!("{{\"n\":{i}}}")
                };
                (
                    BasicProperties::default().with_message_id(format!("m-{i}").into()),
                    body.into_bytes(),
                )
            }),
        )
        .await;
    let capture = Capture::new("lambda-rmq");
    let log = capture.dir.join("function.log");
    let endpoint = InvokeEndpoint::start(&log, &capture.dir);
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\n{}",
        url(),
        lambda_target(&endpoint)
    ));
    // The first batches wait (unreachable, not attempts) while cargo lambda builds and starts.
    wait_for("every message acknowledged", LIMIT, || async {
        sluice.acked(&name).await == total as f64
    })
    .await;
    let (per_id, _) = function_log(&log);
    for i in 0..total {
        assert!(per_id.contains_key(&format!("m-{i}")), "m-{i} delivered");
    }
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!("lambda target: {total} messages, {duplicates} duplicate deliveries");
    assert!(
        sluice
            .pipe_metric("sluice_retried_messages_total", &name, "")
            .await
            >= 1.0,
        "m-11, reported in SqsBatchResponse, was retried"
    );
    assert_eq!(
        sluice
            .pipe_metric("sluice_target_messages_total", &name, "outcome=\"failed\"")
            .await,
        1.0,
        "only m-11 failed, once"
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert_eq!(rabbit.ready(&queue).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ and cargo-lambda: scripts/test.sh installs and starts them"]
async fn activemq_events_decode_with_the_official_rust_type_behind_the_invoke_api() {
    let queue = unique("lambda-ow");
    let url = jms::openwire_url();
    // 20 text messages, one with every JMS header and property type, and a bytes message.
    jms::produce(&url, &queue, 20, "m").await;
    let capture = Capture::new("lambda-ow");
    let log = capture.dir.join("function.log");
    let endpoint = InvokeEndpoint::start(&log, &capture.dir);
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n  activemq:\n    url: {url}\n    queues: [{queue}]\n{}",
        lambda_target(&endpoint)
    ));
    wait_for("every message acknowledged", LIMIT, || async {
        sluice.acked(&name).await == 22.0
    })
    .await;
    assert_eq!(
        function_log(&log).0.len(),
        22,
        "ActiveMqEvent decoded every record"
    );
    assert_eq!(
        sluice
            .pipe_metric("sluice_target_messages_total", &name, "outcome=\"failed\"")
            .await,
        0.0,
        "no decode failure"
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}
