//! SQS-specific fault tests and SQS as a target, through the real `sluice` binary and a real
//! SQS-compatible server (moto): FIFO to FIFO, a FIFO poison left to the redrive policy. Given-up
//! records, a killed sluice and network faults are in the conformance suite. Every message is
//! counted.

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use serde_json::{Value, json};
use sluice_tests::function::{Function, message_id, records};
use sluice_tests::process::Sluice;
use sluice_tests::sqs::{
    LIMIT, Sqs, accepted_bodies, assert_drained, assert_empty, bodies, endpoint, name, pipe,
};
use sluice_tests::{unique, wait_for};
use std::collections::HashMap;

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
#[ignore = "needs the SQS server (moto): scripts/test.sh starts it and runs this"]
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
#[ignore = "needs the SQS server (moto): scripts/test.sh starts it and runs this"]
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
