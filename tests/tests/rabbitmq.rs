//! RabbitMQ → HTTP function through the real `sluice` binary and a real RabbitMQ, counting
//! every message. The broker restart test lives in `rabbitmq_restart.rs`, a separate test binary,
//! because it drops every connection of every test running beside it.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};
use serde_json::{Value, json};
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::{Function, message_id, rmq_records};
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// A pipe from `queue` to `function_url`; `extra` is appended (batch, retry, dead_letter...).
fn pipe(name: &str, queue: &str, function_url: &str, extra: &str) -> String {
    format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http:\n    url: {function_url}\n    timeout: 5s\n{extra}",
        url()
    )
}

async fn assert_drained(rabbit: &Rabbit, sluice: &mut Sluice, queue: &str) {
    assert_eq!(
        sluice.terminate(),
        Some(0),
        "sluice exits 0 on SIGTERM:\n{}",
        sluice.logs()
    );
    assert_eq!(
        rabbit.ready(queue).await,
        0,
        "every message was acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn ten_thousand_messages_arrive_exactly_once_as_lambda_events() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("happy");
    rabbit.queue(&queue, &[]).await;
    let function = Function::ok().await;
    // One message shaped like the seeds' example, then 10,000 numbered ones.
    let mut headers = FieldTable::default();
    headers.insert(
        "header1".into(),
        AMQPValue::LongString(LongString::from("value1")),
    );
    headers.insert(
        "header2".into(),
        AMQPValue::LongString(LongString::from("value2")),
    );
    headers.insert("numberInHeader".into(), AMQPValue::LongInt(10));
    let seed_body = br#"{"timeout":0,"data":"CZrmf0Gw8Ov4bqLQxD4E"}"#.to_vec();
    rabbit
        .publish_all(
            &queue,
            [(
                BasicProperties::default()
                    .with_content_type("text/plain".into())
                    .with_headers(headers)
                    .with_priority(34)
                    .with_expiration("60000".into())
                    .with_message_id("seed".into())
                    .with_timestamp(2021)
                    .with_user_id("guest".into()),
                seed_body,
            )],
        )
        .await;
    rabbit.publish_numbered(&queue, "m", 10_000).await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &queue,
        &function.url(),
        "batch: {size: 100, window: 100ms}\nconcurrency: 4\n",
    ));
    wait_for(
        "10,001 distinct messages at the function",
        LIMIT,
        || async { function.distinct() == 10_001 },
    )
    .await;
    wait_for("10,001 acks", LIMIT, || async {
        sluice
            .pipe_metric("sluice_acked_messages_total", &name, "")
            .await
            == 10_001.0
    })
    .await;
    assert_eq!(
        function.duplicates(),
        0,
        "nothing failed, so nothing arrives twice"
    );

    // The seed-shaped record, field by field.
    let event = function
        .received
        .lock()
        .unwrap()
        .events
        .iter()
        .find(|e| rmq_records(e).iter().any(|r| message_id(r) == "seed"))
        .expect("the seed message's event")
        .clone();
    assert_eq!(event["eventSource"], json!("aws:rmq"));
    assert_eq!(
        event["eventSourceArn"],
        json!("arn:aws:mq:local:000000000000:broker:127.0.0.1")
    );
    let by_queue = event["rmqMessagesByQueue"].as_object().unwrap();
    assert_eq!(
        by_queue.keys().collect::<Vec<_>>(),
        vec![&format!("{queue}::/")]
    );
    let record = rmq_records(&event)
        .into_iter()
        .find(|r| message_id(r) == "seed")
        .unwrap()
        .clone();
    assert_eq!(
        record,
        json!({
            "basicProperties": {
                "contentType": "text/plain",
                "contentEncoding": null,
                "headers": {
                    "header1": {"bytes": [118, 97, 108, 117, 101, 49]},
                    "header2": {"bytes": [118, 97, 108, 117, 101, 50]},
                    "numberInHeader": 10
                },
                "deliveryMode": 2,
                "priority": 34,
                "correlationId": null,
                "replyTo": null,
                "expiration": "60000",
                "messageId": "seed",
                "timestamp": "Jan 1, 1970, 12:33:41 AM",
                "type": null,
                "userId": "guest",
                "appId": null,
                "clusterId": null,
                "bodySize": 43
            },
            "redelivered": false,
            "data": "eyJ0aW1lb3V0IjowLCJkYXRhIjoiQ1pybWYwR3c4T3Y0YnFMUXhENEUifQ=="
        })
    );
    // Batches respect batch.size.
    let largest = function
        .received
        .lock()
        .unwrap()
        .events
        .iter()
        .map(|e| rmq_records(e).len())
        .max();
    assert!(largest <= Some(100), "{largest:?}");
    // Admin endpoints.
    assert!(sluice.ready().await);
    let (status, pipes) = sluice.get("/pipes").await.unwrap();
    assert_eq!(status, 200);
    let pipes: Value = serde_json::from_str(&pipes).unwrap();
    assert_eq!(pipes[0]["name"], json!(name));
    assert_eq!(pipes[0]["state"], json!("Enabled"));
    assert_eq!(pipes[0]["counters"]["delivered"], json!(10_001));
    assert!(
        !pipes[0]["source"]["address"]
            .as_str()
            .unwrap()
            .contains("guest:guest"),
        "password redacted"
    );
    assert_eq!(sluice.get("/pipes/nope").await.unwrap().0, 404);
    assert_eq!(
        sluice
            .pipe_metric("sluice_source_messages_total", &name, "")
            .await,
        10_001.0
    );
    assert_eq!(
        sluice
            .pipe_metric(
                "sluice_target_messages_total",
                &name,
                "outcome=\"delivered\""
            )
            .await,
        10_001.0
    );
    assert_drained(&rabbit, &mut sluice, &queue).await;
    rabbit.delete(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_target_that_is_down_for_a_while_loses_nothing() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("down");
    rabbit.queue(&queue, &[]).await;
    let port = sluice_tests::free_port();
    rabbit.publish_numbered(&queue, "m", 500).await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &queue,
        &format!("http://127.0.0.1:{port}/"),
        "batch: {size: 50, window: 100ms}\nretry: {max_attempts: 0, backoff: {initial: 100ms, max: 500ms}}\n",
    ));
    let errors = format!("sluice_target_requests_total{{pipe=\"{name}\",outcome=\"error\"}}");
    wait_for(
        "several failed calls while the function is down",
        LIMIT,
        || async { sluice.metric(&errors).await >= 5.0 },
    )
    .await;
    let function = Function::start(port, |_| (200, String::new())).await;
    wait_for("the backlog drains to the function", LIMIT, || async {
        function.distinct() == 500
    })
    .await;
    wait_for("500 acks", LIMIT, || async {
        sluice
            .pipe_metric("sluice_acked_messages_total", &name, "")
            .await
            == 500.0
    })
    .await;
    eprintln!(
        "target down: 500 messages, {} duplicates",
        function.duplicates()
    );
    assert!(
        sluice
            .pipe_metric(
                "sluice_connection_errors_total",
                &name,
                "component=\"target\""
            )
            .await
            >= 5.0,
        "connection refusals are counted"
    );
    assert_drained(&rabbit, &mut sluice, &queue).await;
    rabbit.delete(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn bad_input_gets_a_clear_outcome_and_loses_nothing() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("bad");
    let dlq = unique("bad-dlq");
    rabbit.queue(&queue, &[]).await;
    rabbit.queue(&dlq, &[]).await;
    // The function answers garbage (not JSON) to any batch holding a `garbage-*` message.
    let function = Function::start(0, |event| {
        if rmq_records(event)
            .iter()
            .any(|r| message_id(r).starts_with("garbage"))
        {
            (200, "<html>oops".into())
        } else {
            (200, "{}".into())
        }
    })
    .await;
    let mut messages: Vec<(BasicProperties, Vec<u8>)> = Vec::new();
    for i in 0..5 {
        // Bodies that are not JSON, not even UTF-8: delivered as base64 all the same.
        messages.push((
            BasicProperties::default().with_message_id(format!("binary-{i}").into()),
            vec![0xff, 0x00, i as u8],
        ));
        messages.push((
            BasicProperties::default().with_message_id(format!("garbage-{i}").into()),
            b"{}".to_vec(),
        ));
    }
    // One message larger than batch.max_bytes on its own.
    messages.push((
        BasicProperties::default().with_message_id("huge".into()),
        vec![b'x'; 8192],
    ));
    rabbit.publish_all(&queue, messages).await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &queue,
        &function.url(),
        &format!(
            "batch: {{size: 1, window: 0s, max_bytes: 4KiB}}\nreport_batch_item_failures: true\nretry: {{max_attempts: 2, backoff: {{initial: 50ms, max: 100ms}}}}\ndead_letter:\n  rabbitmq: {{url: '{}', routing_key: {dlq}}}\n",
            url()
        ),
    ));
    wait_for(
        "binary delivered, garbage and huge dead-lettered",
        LIMIT,
        || async {
            (0..5).all(|i| function.count(&format!("binary-{i}")) >= 1)
                && rabbit.ready(&dlq).await == 6
        },
    )
    .await;
    let received = function.received.lock().unwrap().events.clone();
    let binary = received
        .iter()
        .flat_map(rmq_records)
        .find(|r| message_id(r) == "binary-1")
        .expect("binary message delivered")
        .clone();
    assert_eq!(binary["data"], json!("/wAB"));
    let mut dead: Vec<String> = rabbit
        .drain(&dlq)
        .await
        .iter()
        .map(|m| m.properties.message_id().as_ref().unwrap().to_string())
        .collect();
    dead.sort();
    assert_eq!(
        dead,
        vec![
            "garbage-0",
            "garbage-1",
            "garbage-2",
            "garbage-3",
            "garbage-4",
            "huge"
        ]
    );
    assert_eq!(
        sluice
            .pipe_metric(
                "sluice_dropped_messages_total",
                &name,
                "reason=\"oversize\""
            )
            .await,
        1.0
    );
    for i in 0..5 {
        assert_eq!(
            function.count(&format!("garbage-{i}")),
            2,
            "answered with garbage max_attempts times"
        );
    }
    assert_drained(&rabbit, &mut sluice, &queue).await;
    rabbit.delete(&queue).await;
    rabbit.delete(&dlq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_broker_that_refuses_credentials_is_reported_and_retried() {
    let function = Function::ok().await;
    let bad_url = url().replacen("guest:guest@", "guest:wrong-password@", 1);
    assert_ne!(bad_url, url(), "the test URL carries guest credentials");
    let name = unique("p").to_lowercase();
    let yaml = format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {bad_url}\n    queues: [whatever]\ntarget:\n  http: {{url: '{}'}}\n",
        function.url()
    );
    let mut sluice = Sluice::start(&yaml);
    let errors = format!("sluice_connection_errors_total{{pipe=\"{name}\",component=\"source\"}}");
    wait_for("two refused connects", LIMIT, || async {
        sluice.metric(&errors).await >= 2.0
    })
    .await;
    let (status, body) = sluice.get("/readyz").await.unwrap();
    assert_eq!(status, 503);
    assert!(body.contains(&name), "{body}");
    let (_, pipe) = sluice.get(&format!("/pipes/{name}")).await.unwrap();
    let pipe: Value = serde_json::from_str(&pipe).unwrap();
    assert_eq!(
        pipe["state_transition_reason"],
        json!("EVENT_SOURCE_AUTHN_ERROR"),
        "{pipe}"
    );
    assert_eq!(sluice.pipe_metric("sluice_pipe_up", &name, "").await, 0.0);
    assert!(
        !sluice.logs().contains("wrong-password"),
        "the password never reaches the logs"
    );
    assert_eq!(sluice.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn sluice_run_refuses_an_invalid_pipe_file_with_its_location() {
    let mut sluice = Sluice::start(
        "name: x\nsource:\n  rabbitmq:\n    url: amqp://h/%2f\n    queues: [q]\n    prefetch: lots\ntarget:\n  http: {url: 'http://127.0.0.1:1/'}\n",
    );
    let code = sluice.child.wait().unwrap().code();
    assert_eq!(code, Some(1));
    let logs = sluice.logs();
    assert!(
        logs.contains("pipe.yaml:6:15: source.rabbitmq.prefetch: invalid type: string \"lots\""),
        "{logs}"
    );
}
