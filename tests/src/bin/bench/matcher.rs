//! `--matcher`: how fast filter patterns evaluate, on one core, without a broker.
//!
//! A realistic SQS record (Lambda's `aws:sqs` shape, a 400-byte JSON order as the body) is
//! flattened once, then matched against 1, 10 and 100 patterns of three fields each (a string,
//! a numeric range and a prefix, all inside the body). Printed: pattern evaluations per second
//! with the event already flattened, and records per second for the whole filter (flatten the
//! record with its decoded body, then try every pattern, as a pipe does).

use sluice_core::pattern::{Filter, FlatEvent, Pattern, PatternSet};
use sluice_core::record::{DeliveryId, Record};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn record() -> Record {
    let body = serde_json::json!({
        "orderId": "7c1b4e9e-0f1a-4d7e-9a51-2f4c3b8d9e10",
        "type": "order",
        "status": "created",
        "region": "eu-west-1",
        "total": 249.5,
        "currency": "EUR",
        "customer": {"id": "c-1029", "tier": "gold", "ip": "10.1.2.3"},
        "items": [
            {"sku": "A-100", "qty": 2, "price": 99.75},
            {"sku": "B-220", "qty": 1, "price": 50.0}
        ],
        "createdAt": "2026-11-22T10:15:00Z"
    })
    .to_string();
    let event = serde_json::json!({
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185"
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
        "awsRegion": "us-east-2"
    })
    .to_string();
    Record::new(
        DeliveryId { epoch: 0, seq: 0 },
        event.into_bytes().into(),
        body.into_bytes().into(),
    )
}

/// `n` three-field patterns; only the last one matches the record.
fn patterns(n: usize) -> Vec<Pattern> {
    (0..n)
        .map(|i| {
            let kind = if i + 1 == n { "order".to_owned() } else { format!("kind-{i}") };
            Pattern::parse(&format!(
                r#"{{"body": {{"type": ["{kind}"], "total": [{{"numeric": [">", {}, "<=", 1000]}}], "region": [{{"prefix": "eu-"}}]}}}}"#,
                i % 200
            ))
            .expect("benchmark pattern")
        })
        .collect()
}

/// Run `f` repeatedly for about `for_at_least`; calls per second.
fn rate(for_at_least: Duration, mut f: impl FnMut() -> usize) -> f64 {
    let started = Instant::now();
    let mut done = 0usize;
    while started.elapsed() < for_at_least {
        for _ in 0..1000 {
            done += f();
        }
    }
    done as f64 / started.elapsed().as_secs_f64()
}

pub(crate) fn run() {
    let record = record();
    let span = Duration::from_secs(2);
    println!(
        "matcher benchmark: one core, an SQS record of {} bytes with a {}-byte JSON body",
        record.event.len(),
        record.body.len()
    );
    for n in [1, 10, 100] {
        let ps = patterns(n);
        let filter = Filter::new(ps.clone(), &sluice_sqs::event::SHAPE);
        let mut flat = FlatEvent::new();
        assert!(
            filter.accepts(&record, &mut flat),
            "the last pattern matches"
        );
        // Evaluations with the record already flattened.
        let set = PatternSet::new(&ps);
        set.load_record(&mut flat, &record.event, "body", &record.body)
            .expect("the record's event is JSON");
        let evals = rate(span, || {
            let mut hits = 0;
            for i in 0..set.len() {
                hits += usize::from(set.matches(i, &mut flat));
            }
            black_box(hits);
            set.len()
        });
        // The whole filter per record: flatten (decoding the body) and try every pattern.
        let records = rate(span, || {
            usize::from(filter.accepts(black_box(&record), &mut flat))
        });
        println!(
            "{n:>3} patterns: {:>12.0} pattern evaluations/s   {:>10.0} records/s through the filter (flatten + match)",
            evals, records
        );
    }
}
