//! `sluice run --until-empty` as a redrive: a dead-letter queue as the source, the original
//! queue as the target, for every broker kind; the process exits 0 by itself once the source is
//! empty and prints what moved; every message is counted at the original queue.

use serde_json::json;
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::jms::{consume, openwire_url, produce_plain, queue_size};
use sluice_tests::process::run_until_empty;
use sluice_tests::sqs::{Sqs, bodies};
use sluice_tests::unique;
use std::collections::BTreeSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_rabbitmq_dead_letter_queue_is_moved_back_and_the_run_ends_by_itself() {
    let rabbit = Rabbit::connect().await;
    let (dlq, original) = (unique("dlq"), unique("orig"));
    rabbit.queue(&dlq, &[]).await;
    rabbit.queue(&original, &[]).await;
    rabbit.publish_numbered(&dlq, "m", 300).await;
    let pipe = format!(
        "name: redrive\nsource:\n  rabbitmq:\n    url: {u}\n    queues: [{dlq}]\ntarget:\n  rabbitmq: {{url: '{u}', exchange: '', routing_key: {original}}}\n",
        u = url()
    );
    let done = run_until_empty(&pipe, LIMIT).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stdout
            .contains("redrive: received 300, delivered 300, filtered 0"),
        "{}",
        done.stdout
    );
    assert_eq!(rabbit.ready(&dlq).await, 0);
    let moved = rabbit.drain(&original).await;
    let ids: BTreeSet<String> = moved
        .iter()
        .filter_map(|m| m.properties.message_id().as_ref().map(|s| s.to_string()))
        .collect();
    assert_eq!(ids.len(), 300, "lost messages");
    eprintln!("duplicates: {}", moved.len() - ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_selective_gentle_redrive_moves_what_matches_and_parks_the_rest() {
    let rabbit = Rabbit::connect().await;
    let (dlq, original, parked) = (unique("dlq"), unique("orig"), unique("park"));
    for q in [&dlq, &original, &parked] {
        rabbit.queue(q, &[]).await;
    }
    let messages = (0..100).map(|i| {
        (
            format!("m-{i}"),
            json!({"n": i, "fixed": i % 2 == 0}).to_string(),
        )
    });
    rabbit.publish_with_ids(&dlq, messages).await;
    let pipe = format!(
        "name: selective\nsource:\n  rabbitmq:\n    url: {u}\n    queues: [{dlq}]\nfilter:\n  - data: {{fixed: [true]}}\non_filtered: dead_letter\nrate_limit: 50\ntarget:\n  rabbitmq: {{url: '{u}', exchange: '', routing_key: {original}}}\ndead_letter:\n  rabbitmq: {{url: '{u}', exchange: '', routing_key: {parked}}}\n",
        u = url()
    );
    let started = std::time::Instant::now();
    let done = run_until_empty(&pipe, LIMIT).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stdout
            .contains("selective: received 100, delivered 50, filtered 50, dead-lettered 50"),
        "{}",
        done.stdout
    );
    assert_eq!(rabbit.ready(&dlq).await, 0);
    let ids = |got: Vec<sluice_tests::broker::Got>| -> BTreeSet<u32> {
        got.iter()
            .filter_map(|m| m.properties.message_id().as_ref())
            .filter_map(|id| id.as_str().trim_start_matches("m-").parse().ok())
            .collect()
    };
    let moved = ids(rabbit.drain(&original).await);
    let kept = ids(rabbit.drain(&parked).await);
    assert_eq!(moved, (0..100).step_by(2).collect());
    assert_eq!(kept, (1..100).step_by(2).collect());
    // 50 records at 50/s: about a second of target calls, not one burst.
    eprintln!("selective redrive took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn an_activemq_dead_letter_queue_is_moved_back() {
    let (dlq, original) = (unique("DLQ.orders"), unique("orders"));
    produce_plain(&openwire_url(), &dlq, 100, "m").await;
    let pipe = format!(
        "name: amq-redrive\nsource:\n  activemq:\n    url: {u}\n    queues: [{dlq}]\ntarget:\n  activemq: {{url: '{u}', destination: {original}}}\n",
        u = openwire_url()
    );
    let done = run_until_empty(&pipe, LIMIT).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stdout
            .contains("amq-redrive: received 100, delivered 100"),
        "{}",
        done.stdout
    );
    assert_eq!(queue_size(&openwire_url(), &dlq).await, 0);
    let moved = consume(&openwire_url(), &original, 1000, 2000, None).await;
    let texts: BTreeSet<String> = moved
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(texts.len(), 100, "lost messages: {texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server: scripts/test.sh starts it and runs this"]
async fn an_sqs_dead_letter_queue_is_moved_back() {
    let sqs = Sqs::connect().await;
    let dlq = sqs.queue(&unique("dlq"), &[]).await;
    let original = sqs.queue(&unique("orig"), &[]).await;
    sqs.send(&dlq, &bodies("m", 30), None).await;
    let pipe = format!(
        "name: sqs-redrive\nsource:\n  sqs:\n    queue_url: {dlq}\n    max_receives: 1\n    endpoint_url: {e}\ntarget:\n  sqs: {{queue_url: '{original}', endpoint_url: '{e}'}}\n",
        e = sluice_tests::sqs::endpoint()
    );
    let done = run_until_empty(&pipe, LIMIT).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stdout
            .contains("sqs-redrive: received 30, delivered 30"),
        "{}",
        done.stdout
    );
    assert_eq!(sqs.depth(&dlq).await, (0, 0));
    let moved: BTreeSet<String> = sqs
        .drain(&original)
        .await
        .into_iter()
        .filter_map(|m| m.body)
        .collect();
    assert_eq!(moved, bodies("m", 30).into_iter().collect());
}
