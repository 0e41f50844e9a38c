//! `input_template` end to end: real RabbitMQ in, an HTTP function or a RabbitMQ queue out,
//! every message counted.

use serde_json::{Value, json};
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn an_http_function_gets_each_record_reshaped_by_the_template() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("tpl");
    rabbit.queue(&queue, &[]).await;
    let mut bodies: Vec<(String, String)> = (0..60)
        .map(|i| {
            (
                format!("m-{i}"),
                json!({"n": i, "customer": {"id": format!("c{i}"), "tags": ["a", "b"]}})
                    .to_string(),
            )
        })
        .collect();
    bodies.push(("plain".into(), "not json <at all>".into()));
    rabbit.publish_with_ids(&queue, bodies).await;
    let function = Function::ok().await;
    let name = unique("tpl").to_lowercase();
    let pipe = format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http:\n    url: {}\n    input_template: |\n      {{\n        \"messageId\": <$.basicProperties.messageId>,\n        \"n\": <$.data.n>,\n        \"who\": \"customer <$.data.customer.id> of <aws.pipes.pipe-name>\",\n        \"tags\": <$.data.customer.tags>,\n        \"second\": <$.data.customer['tags'][1]>,\n        \"source\": <aws.pipes.source-arn>,\n        \"original\": <aws.pipes.event.json>\n      }}\nbatch: {{size: 10, window: 50ms}}\n",
        url(),
        function.url()
    );
    let _sluice = Sluice::start(&pipe);
    wait_for("all 61 reshaped records", LIMIT, || async {
        function.distinct() == 61
    })
    .await;
    let duplicates = function.duplicates();
    let events = function.received.lock().unwrap().events.clone();
    let mut seen = 0;
    for event in &events {
        let items = event
            .as_array()
            .expect("a templated batch is a bare JSON array");
        for item in items {
            seen += 1;
            let id = item["messageId"].as_str().unwrap();
            if id == "plain" {
                assert_eq!(item["n"], Value::Null, "{item}");
                assert_eq!(item["who"], format!("customer  of {name}"));
                // Not JSON: `data` stays base64, as Pipes leaves it.
                assert_eq!(item["original"]["data"], "bm90IGpzb24gPGF0IGFsbD4=");
                continue;
            }
            let n: u64 = id.trim_start_matches("m-").parse().unwrap();
            assert_eq!(item["n"], n, "{item}");
            assert_eq!(item["who"], format!("customer c{n} of {name}"));
            assert_eq!(item["tags"], json!(["a", "b"]));
            assert_eq!(item["second"], "b");
            assert_eq!(item["original"]["data"]["n"], n);
            assert_eq!(item["original"]["eventSource"], "aws:rmq");
            assert_eq!(item["source"], item["original"]["eventSourceArn"]);
            assert!(item["source"].as_str().is_some_and(|s| !s.is_empty()));
        }
    }
    assert_eq!(seen, 61 + duplicates);
    wait_for("the queue to be empty", LIMIT, || async {
        rabbit.ready(&queue).await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_broker_target_gets_the_template_output_as_the_message_body() {
    let rabbit = Rabbit::connect().await;
    let from = unique("tpl-in");
    let to = unique("tpl-out");
    rabbit.queue(&from, &[]).await;
    rabbit.queue(&to, &[]).await;
    let bodies: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("m-{i}"),
                json!({"id": i, "who": format!("ann \"{i}\"")}).to_string(),
            )
        })
        .collect();
    rabbit.publish_with_ids(&from, bodies).await;
    let name = unique("tplq").to_lowercase();
    let pipe = format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {u}\n    queues: [{from}]\ntarget:\n  rabbitmq:\n    url: {u}\n    exchange: ''\n    routing_key: {to}\n    input_template: 'order <$.data.id> for <$.data.who> (<$.basicProperties.messageId>)'\n",
        u = url()
    );
    let sluice = Sluice::start(&pipe);
    wait_for("all 40 acknowledged at the source", LIMIT, || async {
        sluice.acked(&name).await >= 40.0 && rabbit.ready(&from).await == 0
    })
    .await;
    let got = rabbit.drain(&to).await;
    let mut bodies: Vec<String> = got
        .iter()
        .map(|g| String::from_utf8(g.body.clone()).unwrap())
        .collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 40, "duplicates or losses: {}", got.len());
    for i in 0..40 {
        let want = format!("order {i} for ann \"{i}\" (m-{i})");
        assert!(bodies.contains(&want), "missing {want:?}");
    }
    for g in &got {
        assert_eq!(
            g.properties.content_type().as_ref().map(|c| c.as_str()),
            Some("text/plain")
        );
        // The source's properties are carried over.
        assert!(g.properties.message_id().is_some());
    }
}
