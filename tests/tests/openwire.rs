//! ActiveMQ over OpenWire → HTTP function (and → ActiveMQ), through the real `sluice` binary,
//! a real ActiveMQ and ActiveMQ's own Java client, counting every message. Failover, broker
//! restarts, SIGKILL and credentials are in `openwire_faults.rs`.

use base64::Engine;
use serde_json::{Value, json};
use sluice_tests::function::{Function, records};
use sluice_tests::jms::{self, openwire_url};
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn pipe(name: &str, queue: &str, target: &str, extra: &str) -> String {
    format!(
        "name: {name}\nsource:\n  activemq:\n    url: failover:({})?randomize=false\n    queues: [{queue}]\n{extra}target:\n{target}",
        openwire_url()
    )
}

fn http(url: &str) -> String {
    format!("  http:\n    url: {url}\n    timeout: 10s\n")
}

fn name() -> String {
    unique("p").to_lowercase()
}

fn decode(data: &Value) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(data.as_str().unwrap_or(""))
        .unwrap_or_default();
    String::from_utf8_lossy(&raw).into_owned()
}

/// Every record the function accepted, by decoded body.
fn by_body(function: &Function) -> HashMap<String, Vec<Value>> {
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    for e in function.received.lock().unwrap().events.iter() {
        for r in records(e) {
            out.entry(decode(&r["data"])).or_default().push(r.clone());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn messages_from_activemqs_java_client_arrive_once_with_every_jms_field() {
    let queue = unique("ow");
    let prefix = unique("jms");
    jms::produce(&openwire_url(), &queue, 300, &prefix).await;
    jms::cli_producer(&openwire_url(), &queue, 50).await;
    let total = 300 + 2 + 50;
    let function = Function::ok().await;
    let name = name();
    let mut sluice = Sluice::start(&pipe(&name, &queue, &http(&function.url()), ""));
    wait_for("every message acknowledged", LIMIT, || async {
        sluice.acked(&name).await == total as f64
    })
    .await;
    let got = by_body(&function);
    for i in 0..300 {
        assert!(got.contains_key(&format!("{prefix}-{i}")), "{prefix}-{i}");
    }
    for i in 0..50 {
        assert!(got.contains_key(&format!("test message: {i}")), "cli {i}");
    }
    eprintln!(
        "openwire: {total} messages, {} duplicate deliveries",
        function.duplicates()
    );
    assert_eq!(function.distinct(), total, "one messageID per message");
    assert_eq!(function.duplicates(), 0, "no redelivery without a fault");

    let full_body = format!("{prefix}-full \u{e9}\u{20ac}\u{1F600}");
    let full = &got[&full_body][0];
    let raw = function
        .raw_containing(&format!("\"messageID\":{}", full["messageID"]))
        .unwrap();
    let text = &raw[raw
        .find(&format!("\"messageID\":{}", full["messageID"]))
        .unwrap()..];
    let keys = [
        "messageID",
        "messageType",
        "deliveryMode",
        "replyTo",
        "type",
        "expiration",
        "priority",
        "correlationID",
        "redelivered",
        "destination",
        "data",
        "timestamp",
        "brokerInTime",
        "brokerOutTime",
        "properties",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).expect(k))
        .collect();
    assert!(positions.is_sorted(), "Lambda's field order: {text}");
    assert_eq!(
        full.as_object().unwrap().len(),
        keys.len(),
        "no other fields"
    );
    let id = full["messageID"].as_str().unwrap();
    assert!(
        id.starts_with("ID:") && id.split(':').count() >= 5,
        "a JMS message id: {id}"
    );
    assert_eq!(full["messageType"], json!("jms/text-message"));
    assert_eq!(full["deliveryMode"], json!(1), "sent NON_PERSISTENT");
    assert_eq!(full["replyTo"], json!("queue://replies"));
    assert_eq!(full["type"], json!("order.created"));
    assert_eq!(full["priority"], json!(7));
    assert_eq!(full["correlationID"], json!("corr-1"));
    assert_eq!(full["redelivered"], json!(false));
    assert_eq!(full["destination"], json!({"physicalName": queue}));
    let timestamp = full["timestamp"].as_u64().unwrap();
    let expiration = full["expiration"].as_u64().unwrap();
    assert_eq!(
        expiration,
        timestamp + 600_000,
        "JMSExpiration: sent with a 600s TTL"
    );
    let broker_in = full["brokerInTime"].as_u64().unwrap();
    let broker_out = full["brokerOutTime"].as_u64().unwrap();
    assert!(timestamp <= broker_in && broker_in <= broker_out, "{full}");
    assert_eq!(
        full["properties"],
        json!({
            "test": prefix, "flag": "true", "b": "-7", "s": "300", "i": "70000",
            "l": "1099511627776", "f": "1.5", "d": "2.25", "str": "caf\u{e9}"
        })
    );
    let bytes = got
        .values()
        .flatten()
        .find(|r| r["messageType"] == json!("jms/bytes-message"))
        .expect("the bytes message");
    assert_eq!(bytes["data"], json!("AAEC/3g="), "00 01 02 ff 78");
    assert_eq!(bytes["deliveryMode"], json!(2));
    assert_eq!(bytes["expiration"], json!(0));
    assert_eq!(
        bytes["properties"],
        json!({"test": format!("{prefix}-bytes")})
    );
    let plain = &got[&format!("{prefix}-7")][0];
    assert_eq!(plain["replyTo"], Value::Null);
    assert_eq!(plain["correlationID"], Value::Null);
    assert_eq!(plain["type"], Value::Null);

    assert!(
        jms::consume(&openwire_url(), &queue, 10, 500, None)
            .await
            .is_empty(),
        "every message was acknowledged at the broker"
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn messages_sluice_sends_are_read_back_by_the_java_consumer() {
    let (from, to) = (unique("owsrc"), unique("owdst"));
    let prefix = unique("fwd");
    jms::produce(&openwire_url(), &from, 40, &prefix).await;
    let name = name();
    let target = format!(
        "  activemq:\n    url: {}\n    destination: {to}\n",
        openwire_url()
    );
    let mut sluice = Sluice::start(&pipe(
        &name,
        &from,
        &target,
        "batch: {size: 10, window: 50ms}\n",
    ));
    wait_for("every message forwarded", LIMIT, || async {
        sluice.acked(&name).await == 42.0
    })
    .await;
    let out = jms::consume(&openwire_url(), &to, 100, 2_000, None).await;
    assert_eq!(out.len(), 42, "{out:?}");
    let text = |t: &str| out.iter().find(|m| m["text"] == json!(t));
    for i in 0..40 {
        let m = text(&format!("{prefix}-{i}")).unwrap_or_else(|| panic!("{prefix}-{i}"));
        assert_eq!(m["class"], json!("text"));
        assert_eq!(m["persistent"], json!("true"), "persistent by default");
        assert_eq!(m["props"]["test"], json!(format!("String:{prefix}")));
    }
    let full = text(&format!("{prefix}-full \u{e9}\u{20ac}\u{1F600}")).expect("the full message");
    assert_eq!(
        full["persistent"],
        json!("false"),
        "carried over from the source"
    );
    assert_eq!(full["priority"], json!("7"));
    assert_eq!(full["correlationId"], json!("corr-1"));
    assert_eq!(full["type"], json!("order.created"));
    assert_eq!(full["replyTo"], json!("queue://replies"));
    // Integer types widen to long and float to double on the way (Sluice's header model).
    assert_eq!(
        full["props"],
        json!({
            "b": "Long:-7", "d": "Double:2.25", "f": "Double:1.5", "flag": "Boolean:true",
            "i": "Long:70000", "l": "Long:1099511627776", "s": "Long:300",
            "str": "String:caf\u{e9}", "test": format!("String:{prefix}")
        })
    );
    let bytes = out
        .iter()
        .find(|m| m["class"] == json!("bytes"))
        .expect("a bytes message");
    assert_eq!(bytes["base64"], json!("AAEC/3g="));
    assert!(
        jms::consume(&openwire_url(), &from, 10, 500, None)
            .await
            .is_empty()
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}

/// A function that fails every batch holding `poison`, counting the deliveries of it.
async fn failing_on(poison: String) -> (Function, Arc<Mutex<usize>>) {
    let deliveries = Arc::new(Mutex::new(0));
    let seen = deliveries.clone();
    let function = Function::start(0, move |event| {
        let hit = records(event).iter().any(|r| decode(&r["data"]) == poison);
        if hit {
            *seen.lock().unwrap() += 1;
            (500, "boom".into())
        } else {
            (200, String::new())
        }
    })
    .await;
    (function, deliveries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn six_deliveries_then_a_poison_ack_puts_the_message_in_activemq_dlq() {
    let queue = unique("owpoison");
    let prefix = unique("dlq");
    jms::produce(&openwire_url(), &queue, 10, &prefix).await;
    let poison = format!("{prefix}-3");
    let (function, deliveries) = failing_on(poison.clone()).await;
    let name = name();
    // retry.max_attempts stays at its default, 6: Lambda's 1 + maximumRedeliveries 5.
    let mut sluice = Sluice::start(&pipe(
        &name,
        &queue,
        &http(&function.url()),
        "batch: {size: 1}\nretry: {backoff: {initial: 50ms, max: 100ms}}\n",
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
    wait_for("the others acknowledged", LIMIT, || async {
        sluice.acked(&name).await == 11.0
    })
    .await;
    assert_eq!(*deliveries.lock().unwrap(), 6, "six deliveries in all");
    let selector = format!("test = '{prefix}'");
    let dlq = jms::consume(&openwire_url(), "ActiveMQ.DLQ", 10, 3_000, Some(&selector)).await;
    assert_eq!(dlq.len(), 1, "{dlq:?}");
    assert_eq!(dlq[0]["text"], json!(poison));
    let cause = dlq[0]["props"]["dlqDeliveryFailureCause"]
        .as_str()
        .unwrap_or("");
    assert!(
        cause.contains("sluice"),
        "the poison cause is recorded: {cause}"
    );
    assert!(
        jms::consume(&openwire_url(), &queue, 10, 500, None)
            .await
            .is_empty()
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}
