//! SQS fault tests and SQS as a target, through the real `sluice` binary and a real
//! SQS-compatible server (moto): given-up records (redrive policy, `dead_letter`), a killed
//! sluice, FIFO to FIFO. Every message is counted.

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use serde_json::{Value, json};
use sluice_tests::function::{Function, message_id, records};
use sluice_tests::process::Sluice;
use sluice_tests::sqs::{
    LIMIT, Sqs, accepted_bodies, assert_drained, assert_empty, bodies, endpoint, name, pipe,
    pipe_parallel, queue_with_visibility,
};
use sluice_tests::{unique, wait_for};
use std::collections::HashMap;
use std::time::Duration;

/// A function that reports every record whose body is `poison` in `batchItemFailures`.
async fn poison_function() -> Function {
    Function::start(0, |event| {
        let failures: Vec<Value> = records(event)
            .iter()
            .filter(|r| r["body"] == json!("poison"))
            .map(|r| json!({"itemIdentifier": message_id(r)}))
            .collect();
        (200, json!({"batchItemFailures": failures}).to_string())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_up_records_are_left_to_the_queues_redrive_policy() {
    let sqs = Sqs::connect().await;
    let dlq = sqs.queue(&unique("redrive-dlq"), &[]).await;
    let policy =
        json!({"deadLetterTargetArn": sqs.arn(&dlq).await, "maxReceiveCount": 3}).to_string();
    let url = sqs
        .queue(
            &unique("redrive"),
            &[(QueueAttributeName::RedrivePolicy, policy)],
        )
        .await;
    let mut sent = bodies("m", 20);
    sent.push("poison".into());
    sqs.send(&url, &sent, None).await;
    let function = poison_function().await;
    let name = name();
    // max_attempts is the queue's maxReceiveCount here, whatever the pipe says.
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url,
        &function.url(),
        "batch: {size: 10, window: 1s}\nreport_batch_item_failures: true\nretry: {max_attempts: 10, backoff: {initial: 1s, max: 1s}}\n",
    ));
    wait_for("the poison given up to the broker", LIMIT, || async {
        sluice
            .pipe_metric(
                "sluice_dead_lettered_messages_total",
                &name,
                "destination=\"broker\"",
            )
            .await
            == 1.0
    })
    .await;
    wait_for("the poison in the dead-letter queue", LIMIT, || async {
        sqs.depth(&dlq).await.0 == 1
    })
    .await;
    let moved = sqs.drain(&dlq).await;
    assert_eq!(moved[0].body(), Some("poison"));
    assert_eq!(
        accepted_bodies(&function)
            .iter()
            .filter(|b| *b == "poison")
            .count(),
        3,
        "delivered maxReceiveCount times"
    );
    assert_eq!(function.distinct(), 21);
    assert_eq!(sluice.acked(&name).await, 20.0);
    assert_drained(&sqs, &url, &mut sluice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_to_another_queue_after_max_attempts() {
    let sqs = Sqs::connect().await;
    let url = sqs.queue(&unique("dl-src"), &[]).await;
    let dlq = sqs.queue(&unique("dl-dst"), &[]).await;
    let mut sent = bodies("m", 10);
    sent.push("poison".into());
    sqs.send(&url, &sent, None).await;
    let function = Function::start(0, |event| {
        if records(event).iter().any(|r| r["body"] == json!("poison")) {
            (500, "boom".into())
        } else {
            (200, String::new())
        }
    })
    .await;
    let name = name();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url,
        &function.url(),
        &format!(
            "batch: {{size: 1}}\nretry: {{max_attempts: 2, backoff: {{initial: 1s, max: 1s}}}}\ndead_letter:\n  sqs: {{queue_url: {dlq}, endpoint_url: {}}}\n",
            endpoint()
        ),
    ));
    wait_for("the poison in the dead-letter queue", LIMIT, || async {
        sqs.depth(&dlq).await.0 == 1
    })
    .await;
    wait_for("everything deleted at the source", LIMIT, || async {
        sluice.acked(&name).await == 11.0
    })
    .await;
    let moved = sqs.drain(&dlq).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].body(), Some("poison"));
    let attrs = moved[0].message_attributes().unwrap();
    assert_eq!(attrs["x-sluice-attempts"].string_value(), Some("2"));
    assert!(
        attrs["x-sluice-error"]
            .string_value()
            .unwrap()
            .contains("500")
    );
    assert_eq!(
        sluice
            .pipe_metric(
                "sluice_dead_lettered_messages_total",
                &name,
                "destination=\"dead_letter\""
            )
            .await,
        1.0
    );
    assert_eq!(function.distinct(), 10);
    assert_drained(&sqs, &url, &mut sluice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_loses_nothing() {
    let sqs = Sqs::connect().await;
    let url = queue_with_visibility(&sqs, "kill", 3).await;
    let total = 300;
    sqs.send(&url, &bodies("m", total), None).await;
    let function =
        Function::start_slow(0, Duration::from_millis(50), |_| (200, String::new())).await;
    let name = name();
    let mut sluice = Sluice::start(&pipe_parallel(
        &name,
        &url,
        &function.url(),
        "batch: {size: 10}\nconcurrency: 2\n",
    ));
    wait_for("a first part delivered", LIMIT, || async {
        function.distinct() >= 60
    })
    .await;
    sluice.kill();
    let at_kill = function.distinct();
    assert!(
        at_kill < total,
        "the kill landed mid-stream ({at_kill} of {total})"
    );
    sluice.restart();
    wait_for(
        "every message delivered after the restart",
        LIMIT,
        || async { function.distinct() == total },
    )
    .await;
    assert_empty(&sqs, &url).await;
    eprintln!(
        "sqs sigkill: {total} messages, {at_kill} delivered before the kill, {} duplicates after restart",
        function.duplicates()
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert_eq!(function.distinct(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_to_fifo_carries_groups_attributes_and_order() {
    let sqs = Sqs::connect().await;
    let src = sqs.queue(&format!("{}.fifo", unique("from")), &[]).await;
    let dst = sqs.queue(&format!("{}.fifo", unique("to")), &[]).await;
    for g in ["a", "b"] {
        sqs.send(&src, &bodies(g, 15), Some(g)).await;
    }
    let name = name();
    let yaml = format!(
        "name: {name}\nsource:\n  sqs: {{queue_url: {src}, endpoint_url: {e}}}\ntarget:\n  sqs: {{queue_url: {dst}, endpoint_url: {e}}}\n",
        e = endpoint()
    );
    let mut sluice = Sluice::start(&yaml);
    wait_for("30 moved", LIMIT, || async {
        sluice.acked(&name).await == 30.0
    })
    .await;
    assert_empty(&sqs, &src).await;
    let mut per_group: HashMap<String, Vec<String>> = HashMap::new();
    // A FIFO queue hands out one group's messages only after the previous ones are gone.
    loop {
        let got = sqs.drain(&dst).await;
        if got.is_empty() {
            break;
        }
        for m in &got {
            let attrs = m.attributes().unwrap();
            let group = attrs[&MessageSystemAttributeName::MessageGroupId].clone();
            assert_eq!(
                attrs[&MessageSystemAttributeName::MessageDeduplicationId],
                m.body().unwrap(),
                "the source's deduplication id carried over"
            );
            per_group
                .entry(group)
                .or_default()
                .push(m.body().unwrap().to_owned());
        }
        let entries: Vec<_> = got
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap())
                    .build()
                    .unwrap()
            })
            .collect();
        sqs.client
            .delete_message_batch()
            .queue_url(&dst)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
    }
    for g in ["a", "b"] {
        assert_eq!(
            per_group[g],
            bodies(g, 15),
            "group {g} in order at the target"
        );
    }
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_poison_is_left_to_the_redrive_policy_and_its_group_moves_on() {
    let sqs = Sqs::connect().await;
    let dlq = sqs
        .queue(&format!("{}.fifo", unique("fifo-dlq")), &[])
        .await;
    let policy =
        json!({"deadLetterTargetArn": sqs.arn(&dlq).await, "maxReceiveCount": 2}).to_string();
    let url = sqs
        .queue(
            &format!("{}.fifo", unique("fifo-redrive")),
            &[(QueueAttributeName::RedrivePolicy, policy)],
        )
        .await;
    let sent: Vec<String> = ["m0", "poison", "m2", "m3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    sqs.send(&url, &sent, Some("g")).await;
    let function = poison_function().await;
    let name = name();
    let mut sluice = Sluice::start(
        &pipe(
            &name,
            &url,
            &function.url(),
            "report_batch_item_failures: true\nretry: {backoff: {initial: 1s, max: 1s}}\n",
        )
        // moto decides which groups are busy when a long poll starts: short polls let it see the
        // group free again sooner.
        .replace("    endpoint_url:", "    wait_time: 1s\n    endpoint_url:"),
    );
    wait_for("the poison in the dead-letter queue", LIMIT, || async {
        sqs.depth(&dlq).await.0 == 1
    })
    .await;
    wait_for("the rest of the group deleted", LIMIT, || async {
        sluice.acked(&name).await == 3.0
    })
    .await;
    assert_eq!(sqs.drain(&dlq).await[0].body(), Some("poison"));
    assert_eq!(
        sluice
            .pipe_metric(
                "sluice_dead_lettered_messages_total",
                &name,
                "destination=\"broker\""
            )
            .await,
        1.0
    );
    let bodies = accepted_bodies(&function);
    assert_eq!(
        bodies.iter().filter(|b| *b == "poison").count(),
        2,
        "delivered maxReceiveCount times: {bodies:?}"
    );
    assert_drained(&sqs, &url, &mut sluice).await;
}
