//! SQS → HTTP function through the real `sluice` binary and a real SQS-compatible server
//! (moto), counting every message: delivery, event shape, partial batches, FIFO order, visibility.

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use serde_json::json;
use sluice_tests::function::{Function, message_id, records};
use sluice_tests::process::Sluice;
use sluice_tests::sqs::{
    LIMIT, Sqs, accepted_bodies, assert_drained, assert_empty, bodies, endpoint, name, pipe,
    pipe_parallel, queue_with_visibility,
};
use sluice_tests::{unique, wait_for};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server (moto): scripts/test.sh starts it and runs this"]
async fn standard_queue_delivers_every_message_once_as_lambda_events() {
    let sqs = Sqs::connect().await;
    let url = sqs.queue(&unique("std"), &[]).await;
    // moto's calls slow down with the queue's depth (each one walks every message), so the
    // tests keep queues small; throughput is for the benchmark.
    let total = 200;
    sqs.send(&url, &bodies("m", total), None).await;
    // One message with attributes of each type, to check the record field by field.
    let attr = |t: &str, v: &str| {
        let b = MessageAttributeValue::builder().data_type(t);
        if t == "Binary" {
            b.binary_value(aws_sdk_sqs::primitives::Blob::new(v.as_bytes().to_vec()))
        } else {
            b.string_value(v)
        }
        .build()
        .unwrap()
    };
    sqs.client
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("seed")
                .message_body("Test message.")
                .message_attributes("myAttribute", attr("String", "myValue"))
                .message_attributes("count", attr("Number", "42"))
                .message_attributes("raw", attr("Binary", "abc"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let function = Function::ok().await;
    let name = name();
    let mut sluice = Sluice::start(&pipe_parallel(
        &name,
        &url,
        &function.url(),
        "batch: {size: 100, window: 1s}\n",
    ));
    wait_for("201 distinct messages at the function", LIMIT, || async {
        function.distinct() == total + 1
    })
    .await;
    // SQS standard queues deliver at least once: a second copy is possible (moto hands one
    // out twice now and then when receives run concurrently). Every copy delivered is deleted.
    wait_for("a delete per delivery", LIMIT, || async {
        sluice.acked(&name).await == (total + 1 + function.duplicates()) as f64
    })
    .await;
    eprintln!(
        "sqs standard: {} messages, {} duplicate deliveries",
        total + 1,
        function.duplicates()
    );
    assert_empty(&sqs, &url).await;

    let events = function.received.lock().unwrap().events.clone();
    for e in &events {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["Records"], "an SQS event holds only Records");
        assert!(records(e).len() <= 100);
    }
    let seed = events
        .iter()
        .flat_map(|e| records(e))
        .find(|r| r["body"] == json!("Test message."))
        .expect("the seed record")
        .clone();
    // Field order as Lambda's, read off the bytes the function received.
    let raw = function
        .raw_containing("Test message.")
        .expect("the seed event");
    // The seed record itself: the `{"messageId"` that opens the record holding its body.
    let body_at = raw.find(r#""body":"Test message.""#).unwrap();
    let seed_text = &raw[raw[..body_at].rfind(r#"{"messageId""#).unwrap()..];
    let positions: Vec<usize> = [
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ]
    .iter()
    .map(|k| seed_text.find(&format!("\"{k}\":")).expect(k))
    .collect();
    assert!(
        positions.is_sorted(),
        "fields in Lambda's order: {seed_text}"
    );
    assert_eq!(seed.as_object().unwrap().len(), 10, "no other fields");
    let md5 = seed["md5OfMessageAttributes"].as_str().unwrap_or("");
    assert!(
        md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()),
        "the seed has an attribute, so its digest is there (as in AWS's captured event): {md5}"
    );
    assert_eq!(seed["md5OfBody"], json!("e4e68fb7bd0e697a0ae8f1bb342846b3"));
    assert_eq!(seed["eventSource"], json!("aws:sqs"));
    assert_eq!(seed["eventSourceARN"], json!(sqs.arn(&url).await));
    assert_eq!(seed["awsRegion"], json!("us-east-1"));
    let attributes = seed["attributes"].as_object().unwrap();
    // "1" on a first delivery; a duplicate (see above) carries a higher count.
    let count = attributes["ApproximateReceiveCount"]
        .as_str()
        .expect("a string");
    assert!(count.parse::<u32>().unwrap() >= 1, "{count}");
    for key in ["SentTimestamp", "ApproximateFirstReceiveTimestamp"] {
        let v = attributes[key].as_str().expect("a string");
        assert!(v.parse::<u64>().unwrap() > 1_600_000_000_000, "{key}: {v}");
    }
    assert!(attributes["SenderId"].is_string());
    assert!(
        !attributes.contains_key("MessageGroupId"),
        "FIFO fields only on FIFO queues"
    );
    assert_eq!(
        seed["messageAttributes"],
        json!({
            "count": {"stringValue": "42", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
            "myAttribute": {"stringValue": "myValue", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "raw": {"binaryValue": "YWJj", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        })
    );
    assert!(
        seed["receiptHandle"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    let ages = sluice
        .pipe_metric("sluice_message_age_seconds_count", &name, "")
        .await;
    assert_eq!(
        ages,
        (total + 1 + function.duplicates()) as f64,
        "an age observed per acknowledged record, duplicates included"
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}

/// What a function answers on a batch's first delivery, and how many deliveries each of
/// id1..id5 then gets.
struct Rule {
    label: &'static str,
    answer: fn(&HashMap<String, String>) -> String,
    deliveries: [usize; 5],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server (moto): scripts/test.sh starts it and runs this"]
async fn partial_batch_responses_follow_every_lambda_rule() {
    let once = [1; 5];
    let twice = [2; 5];
    let rules = [
        Rule {
            label: "empty list",
            answer: |_| r#"{"batchItemFailures":[]}"#.into(),
            deliveries: once,
        },
        Rule {
            label: "null list",
            answer: |_| r#"{"batchItemFailures":null}"#.into(),
            deliveries: once,
        },
        Rule {
            label: "empty object",
            answer: |_| "{}".into(),
            deliveries: once,
        },
        Rule {
            label: "empty body",
            answer: |_| String::new(),
            deliveries: once,
        },
        Rule {
            label: "id2 and id4",
            answer: |ids| {
                json!({"batchItemFailures": [{"itemIdentifier": ids["id2"]}, {"itemIdentifier": ids["id4"]}]}).to_string()
            },
            deliveries: [1, 2, 1, 2, 1],
        },
        Rule {
            label: "unknown id",
            answer: |_| r#"{"batchItemFailures":[{"itemIdentifier":"nope"}]}"#.into(),
            deliveries: twice,
        },
        Rule {
            label: "empty id",
            answer: |_| r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#.into(),
            deliveries: twice,
        },
        Rule {
            label: "null id",
            answer: |_| r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#.into(),
            deliveries: twice,
        },
        Rule {
            label: "bad key",
            answer: |ids| json!({"batchItemFailures": [{"itemIdentifer": ids["id2"]}]}).to_string(),
            deliveries: twice,
        },
        Rule {
            label: "malformed",
            answer: |_| "{not json".into(),
            deliveries: twice,
        },
    ];
    let sqs = Sqs::connect().await;
    let five: Vec<String> = (1..=5).map(|i| format!("id{i}")).collect();
    let mut cases = Vec::new();
    let mut files = Vec::new();
    for rule in &rules {
        let url = sqs.queue(&unique("rule"), &[]).await;
        sqs.send(&url, &five, None).await;
        let answered = Arc::new(Mutex::new(false));
        let a = answered.clone();
        let answer = rule.answer;
        let function = Function::start(0, move |event| {
            let ids: HashMap<String, String> = records(event)
                .iter()
                .map(|r| (r["body"].as_str().unwrap().to_owned(), message_id(r)))
                .collect();
            let mut first = a.lock().unwrap();
            if *first {
                return (200, String::new());
            }
            *first = true;
            (200, answer(&ids))
        })
        .await;
        let name = name();
        files.push((
            format!("{name}.yaml"),
            pipe(
                &name,
                &url,
                &function.url(),
                "batch: {size: 5, window: 2s}\nreport_batch_item_failures: true\nretry: {backoff: {initial: 1s, max: 1s}}\n",
            ),
        ));
        cases.push((rule, url, function, name));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, y)| (n.as_str(), y.as_str()))
        .collect();
    let mut sluice = Sluice::start_dir(&files);
    for (rule, url, function, name) in &cases {
        let expected: usize = rule.deliveries.iter().sum();
        wait_for(rule.label, LIMIT, || async {
            function
                .received
                .lock()
                .unwrap()
                .events
                .iter()
                .map(|e| records(e).len())
                .sum::<usize>()
                == expected
                && sluice.acked(name).await == 5.0
        })
        .await;
        let mut counts = HashMap::new();
        for b in accepted_bodies(function) {
            *counts.entry(b).or_insert(0) += 1;
        }
        for (i, want) in rule.deliveries.iter().enumerate() {
            assert_eq!(
                counts[&format!("id{}", i + 1)],
                *want,
                "{}: id{}",
                rule.label,
                i + 1
            );
        }
        assert_empty(&sqs, url).await;
    }
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server (moto): scripts/test.sh starts it and runs this"]
async fn fifo_keeps_order_per_group_under_failures() {
    let sqs = Sqs::connect().await;
    let url = sqs.queue(&format!("{}.fifo", unique("fifo")), &[]).await;
    let groups = ["g0", "g1", "g2", "g3"];
    let per_group = 30;
    for g in groups {
        sqs.send(&url, &bodies(g, per_group), Some(g)).await;
    }
    // Every seventh message fails on its first delivery. Like a Lambda function for FIFO
    // queues, the function stops a group at its first failure and reports the rest of it;
    // it notes, per group, the records it processed, in order.
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let processed: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let (s, p) = (seen.clone(), processed.clone());
    let function = Function::start(0, move |event| {
        let mut seen = s.lock().unwrap();
        let mut processed = p.lock().unwrap();
        let mut stopped = HashSet::new();
        let mut failures = Vec::new();
        for r in records(event) {
            let body = r["body"].as_str().unwrap().to_owned();
            let group = r["attributes"]["MessageGroupId"]
                .as_str()
                .unwrap()
                .to_owned();
            let n: usize = body.rsplit('-').next().unwrap().parse().unwrap();
            if stopped.contains(&group) || (n % 7 == 3 && seen.insert(body.clone())) {
                stopped.insert(group);
                failures.push(json!({"itemIdentifier": message_id(r)}));
            } else {
                processed.entry(group).or_default().push(body);
            }
        }
        (200, json!({"batchItemFailures": failures}).to_string())
    })
    .await;
    let name = name();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url,
        &function.url(),
        "concurrency: 4\nreport_batch_item_failures: true\nretry: {max_attempts: 5, backoff: {initial: 1s, max: 1s}}\n",
    ));
    let total = groups.len() * per_group;
    wait_for("every message deleted", LIMIT, || async {
        sluice.acked(&name).await == total as f64
    })
    .await;
    let processed = processed.lock().unwrap().clone();
    for g in groups {
        assert_eq!(
            processed[g],
            bodies(g, per_group),
            "group {g} processed in order, once each"
        );
    }
    let retried = sluice
        .pipe_metric("sluice_retried_messages_total", &name, "")
        .await;
    assert!(
        retried >= (groups.len() * per_group / 7) as f64,
        "failures were retried: {retried}"
    );
    assert_drained(&sqs, &url, &mut sluice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server (moto): scripts/test.sh starts it and runs this"]
async fn a_slow_function_outlasting_the_visibility_timeout_causes_no_duplicate() {
    let sqs = Sqs::connect().await;
    let url = queue_with_visibility(&sqs, "slow", 2).await;
    sqs.send(&url, &bodies("m", 5), None).await;
    // Each call takes three visibility timeouts.
    let function = Function::start_slow(0, Duration::from_secs(6), |_| (200, String::new())).await;
    let name = name();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url,
        &function.url(),
        "batch: {size: 5, window: 1s}\n",
    ));
    wait_for("5 deletes", LIMIT, || async {
        sluice.acked(&name).await == 5.0
    })
    .await;
    assert_eq!(function.distinct(), 5);
    assert_eq!(
        function.duplicates(),
        0,
        "visibility was extended while the function worked"
    );
    assert_drained(&sqs, &url, &mut sluice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server (moto): scripts/test.sh starts it and runs this"]
async fn a_queue_that_does_not_exist_is_reported_and_not_ready() {
    let missing = format!("{}/123456789012/{}", endpoint(), unique("missing"));
    let function = Function::ok().await;
    let name = name();
    let mut sluice = Sluice::start(&pipe(&name, &missing, &function.url(), ""));
    wait_for("the pipe reports the missing queue", LIMIT, || async {
        match sluice.get(&format!("/pipes/{name}")).await {
            Some((200, body)) => body.contains("ESM_CONFIG_NOT_VALID"),
            _ => false,
        }
    })
    .await;
    assert!(!sluice.ready().await, "not ready without its queue");
    assert!(
        sluice.logs().contains("QueueDoesNotExist") || sluice.logs().contains("NonExistentQueue"),
        "{}",
        sluice.logs()
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}
