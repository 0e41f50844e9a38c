//! Every official Lambda library reads every event Sluice sends, with every field.
//!
//! For each source (RabbitMQ, ActiveMQ over STOMP and over OpenWire, SQS standard and FIFO),
//! messages with every property set (and some with none) go through real pipes in each
//! `format` (lambda, pipes, cloudevents) to test functions; what the functions received is
//! decoded by:
//! - Rust `aws_lambda_events` (`SqsEvent`, `ActiveMqEvent`, `RabbitMqEvent`): decoded,
//!   re-encoded, and every value Sluice set found again at its place (a key the type does not
//!   know is dropped by serde, so it shows up here as missing);
//! - the golden shapes of AWS's captured events (aws-lambda-go `events/testdata`);
//! - Python: Powertools data classes, its Pydantic parser (SQS), the CloudEvents SDK;
//! - TypeScript: `@types/aws-lambda` (`tsc --strict`) and the Powertools parser's zod schema.
//!
//! Neither `@types/aws-lambda` nor either Powertools parser has types for `aws:mq` or
//! `aws:rmq` events; those are read by the Rust types, the Python data classes and the golden
//! shapes.

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::MessageAttributeValue;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::Function;
use sluice_tests::lambda_libs::{
    Capture, FORMATS, check_with_python, check_with_typescript, golden_shapes,
};
use sluice_tests::process::Sluice;
use sluice_tests::stomp::{Client, activemq_port};
use sluice_tests::{jms, sqs, unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// One pipe per format, each from its own queue (`queues[i]`) to its own function; waits until
/// every pipe acknowledged `count` records, then saves what the functions got.
async fn capture_formats(
    capture: &Capture,
    source: &str,
    queues: &[String; 3],
    count: usize,
    pipe: impl Fn(&str, &str, &str, &str) -> String,
) {
    let mut functions = Vec::new();
    let mut names = Vec::new();
    let mut docs = Vec::new();
    for (queue, format) in queues.iter().zip(FORMATS) {
        let function = Function::ok().await;
        let name = unique("p").to_lowercase();
        docs.push(pipe(&name, queue, &function.url(), format));
        names.push(name);
        functions.push(function);
    }
    let mut sluice = Sluice::start(&docs.join("---\n"));
    for name in &names {
        wait_for(
            &format!("{count} records acknowledged by {name}"),
            LIMIT,
            || async { sluice.acked(name).await == count as f64 },
        )
        .await;
    }
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    for (function, format) in functions.iter().zip(FORMATS) {
        assert!(capture.save(source, format, function) > 0, "{format}");
    }
}

/// Every non-null value of `sent` is at the same place in `back`.
fn same_values(path: &str, sent: &Value, back: &Value) -> Result<(), String> {
    match sent {
        Value::Null => Ok(()),
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            same_values(
                &format!("{path}.{k}"),
                v,
                back.get(k).unwrap_or(&Value::Null),
            )
        }),
        Value::Array(a) => a.iter().enumerate().try_for_each(|(i, v)| {
            same_values(
                &format!("{path}[{i}]"),
                v,
                back.get(i).unwrap_or(&Value::Null),
            )
        }),
        _ if sent == back => Ok(()),
        _ => Err(format!("{path}: sent {sent}, the Rust type gives {back}")),
    }
}

/// Decode `event` with the official Rust type `T`, encode it again, and find every value.
fn rust_intact<T: DeserializeOwned + Serialize>(what: &str, event: &Value) {
    let decoded: T = serde_json::from_value(event.clone())
        .unwrap_or_else(|e| panic!("{what}: aws_lambda_events refused the event: {e}\n{event}"));
    let back = serde_json::to_value(&decoded).expect("encode");
    if let Err(e) = same_values(what, event, &back) {
        panic!("{e}");
    }
}

/// The Lambda event of `source` holding `records` of a pipes or cloudevents batch.
fn as_lambda_event(source: &str, records: Vec<Value>, head: (Value, Value)) -> Value {
    if source == "sqs" {
        return json!({ "Records": records });
    }
    let stripped: Vec<Value> = records
        .into_iter()
        .map(|mut r| {
            if let Some(o) = r.as_object_mut() {
                o.remove("eventSource");
                o.remove("eventSourceArn");
            }
            r
        })
        .collect();
    let list = if source == "mq" {
        json!({ "messages": stripped })
    } else {
        json!({ "rmqMessagesByQueue": { "queue::/": stripped } })
    };
    let mut event = json!({ "eventSource": head.0, "eventSourceArn": head.1 });
    if let (Some(e), Some(l)) = (event.as_object_mut(), list.as_object()) {
        e.extend(l.clone());
    }
    event
}

/// Every captured event of `source`, in every format, as a Lambda event.
fn lambda_events(capture: &Capture, source: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for format in FORMATS {
        for event in capture.events(source, format) {
            let lambda = match format {
                "lambda" => event,
                "pipes" => {
                    let records = event.as_array().expect("pipes: an array").clone();
                    let head = (
                        records[0]["eventSource"].clone(),
                        records[0]["eventSourceArn"].clone(),
                    );
                    as_lambda_event(source, records, head)
                }
                _ => {
                    let elements = event.as_array().expect("cloudevents: an array");
                    let ty = elements[0]["type"].as_str().unwrap_or("");
                    let head = (
                        json!(ty.trim_end_matches(".message")),
                        elements[0]["source"].clone(),
                    );
                    let records = elements.iter().map(|e| e["data"].clone()).collect();
                    as_lambda_event(source, records, head)
                }
            };
            out.push((format!("{source}.{format}"), lambda));
        }
    }
    out
}

/// Records of a Lambda event of `source`.
fn records_of(source: &str, event: &Value) -> Vec<Value> {
    match source {
        "sqs" => event["Records"].as_array().cloned().unwrap_or_default(),
        "mq" => event["messages"].as_array().cloned().unwrap_or_default(),
        _ => sluice_tests::function::rmq_records(event)
            .into_iter()
            .cloned()
            .collect(),
    }
}

/// Every library and shape check over everything captured for `source`.
fn check_everything(capture: &Capture, source: &str) {
    let events = lambda_events(capture, source);
    assert!(!events.is_empty());
    for (what, event) in &events {
        match source {
            "sqs" => rust_intact::<aws_lambda_events::event::sqs::SqsEvent>(what, event),
            "mq" => rust_intact::<aws_lambda_events::event::activemq::ActiveMqEvent>(what, event),
            _ => rust_intact::<aws_lambda_events::event::rabbitmq::RabbitMqEvent>(what, event),
        }
        for record in records_of(source, event) {
            if let Err(e) = golden_shapes(source, &record) {
                panic!("{what}: {e}\n{record}");
            }
        }
    }
    let report = check_with_python(capture);
    assert_eq!(
        report.lines().filter(|l| l.starts_with("ok ")).count(),
        std::fs::read_dir(&capture.dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .count(),
        "the Python checks read every captured event"
    );
    if source == "sqs" {
        check_with_typescript(capture);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and the Lambda libraries: scripts/test.sh installs and starts them"]
async fn rabbitmq_events_are_read_intact_by_every_official_library() {
    let rabbit = Rabbit::connect().await;
    let queues = [unique("ev-rmq"), unique("ev-rmq"), unique("ev-rmq")];
    let mut headers = FieldTable::default();
    headers.insert(
        "s".into(),
        AMQPValue::LongString(LongString::from("value1")),
    );
    headers.insert("n".into(), AMQPValue::LongInt(10));
    headers.insert("big".into(), AMQPValue::LongLongInt(1 << 40));
    headers.insert("t".into(), AMQPValue::Boolean(true));
    headers.insert("f".into(), AMQPValue::Double(2.5));
    let mut list = FieldArray::default();
    list.push(AMQPValue::LongString(LongString::from("x")));
    list.push(AMQPValue::LongInt(1));
    headers.insert("list".into(), AMQPValue::FieldArray(list));
    let full = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("identity".into())
        .with_headers(headers)
        .with_priority(5)
        .with_correlation_id("corr-1".into())
        .with_reply_to("replies".into())
        .with_expiration("60000".into())
        .with_message_id("full-1".into())
        .with_timestamp(1_700_000_000)
        .with_type("order.created".into())
        .with_user_id("guest".into())
        .with_app_id("shop".into())
        .with_cluster_id("c1".into());
    for q in &queues {
        rabbit.queue(q, &[]).await;
        rabbit
            .publish_all(
                q,
                [
                    (full.clone(), br#"{"order":1}"#.to_vec()),
                    (BasicProperties::default(), b"not json \xff".to_vec()),
                ],
            )
            .await;
        rabbit.publish_numbered(q, "m", 20).await;
    }
    let capture = Capture::new("events-rmq");
    capture_formats(&capture, "rmq", &queues, 22, |name, queue, function, format| {
        format!(
            "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http:\n    url: {function}\n    format: {format}\nbatch: {{size: 10, window: 50ms}}\n",
            url()
        )
    })
    .await;
    check_everything(&capture, "rmq");
}

fn activemq_pipe(url: &str, protocol: &str) -> impl Fn(&str, &str, &str, &str) -> String {
    let (url, protocol) = (url.to_owned(), protocol.to_owned());
    move |name, queue, function, format| {
        format!(
            "name: {name}\nsource:\n  activemq:\n    protocol: {protocol}\n    url: {url}\n    queues: [{queue}]\ntarget:\n  http:\n    url: {function}\n    format: {format}\nbatch: {{size: 10, window: 50ms}}\n"
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ and the Lambda libraries: scripts/test.sh installs and starts them"]
async fn activemq_stomp_events_are_read_intact_by_every_official_library() {
    let queues = [unique("ev-stomp"), unique("ev-stomp"), unique("ev-stomp")];
    let mut client = Client::connect(activemq_port(), None).await;
    let full = vec![
        ("correlation-id".into(), "corr-1".into()),
        ("type".into(), "order".into()),
        ("reply-to".into(), "/queue/replies".into()),
        ("priority".into(), "7".into()),
        ("persistent".into(), "true".into()),
        ("expires".into(), "4102444800000".into()),
        ("myCustomProperty".into(), "value".into()),
    ];
    for q in &queues {
        client
            .send(
                q,
                &[
                    (br#"{"order":1}"#.to_vec(), full.clone()),
                    (
                        vec![0, 1, 2, 0xff],
                        vec![("content-length".into(), "4".into())],
                    ),
                ],
            )
            .await;
        client.send_numbered(q, "m", 20).await;
    }
    let capture = Capture::new("events-stomp");
    let url = format!("stomp://127.0.0.1:{}", activemq_port());
    capture_formats(&capture, "mq", &queues, 22, activemq_pipe(&url, "stomp")).await;
    check_everything(&capture, "mq");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ and the Lambda libraries: scripts/test.sh installs and starts them"]
async fn activemq_openwire_events_are_read_intact_by_every_official_library() {
    let queues = [unique("ev-ow"), unique("ev-ow"), unique("ev-ow")];
    let url = jms::openwire_url();
    for q in &queues {
        // 5 text messages, the full one (every JMS header, a property of each type) and bytes.
        jms::produce(&url, q, 5, "m").await;
    }
    let capture = Capture::new("events-openwire");
    capture_formats(&capture, "mq", &queues, 7, activemq_pipe(&url, "openwire")).await;
    check_everything(&capture, "mq");
}

async fn sqs_events(fifo: bool) {
    let client = sqs::Sqs::connect().await;
    let suffix = if fifo { ".fifo" } else { "" };
    let mut queues: [String; 3] = Default::default();
    for q in &mut queues {
        *q = client
            .queue(&format!("{}{suffix}", unique("ev-sqs")), &[])
            .await;
        let mut send = client
            .client
            .send_message()
            .queue_url(q.as_str())
            .message_body(r#"{"order":1}"#)
            .message_attributes(
                "s",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("value")
                    .build()
                    .expect("attribute"),
            )
            .message_attributes(
                "n",
                MessageAttributeValue::builder()
                    .data_type("Number.int")
                    .string_value("42")
                    .build()
                    .expect("attribute"),
            )
            .message_attributes(
                "b",
                MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(Blob::new(vec![0u8, 1, 2, 255]))
                    .build()
                    .expect("attribute"),
            );
        if fifo {
            send = send.message_group_id("g1").message_deduplication_id("full");
        }
        send.send().await.expect("send");
        client
            .send(q, &sqs::bodies("m", 20), fifo.then_some("g2"))
            .await;
    }
    let capture = Capture::new("events-sqs");
    capture_formats(
        &capture,
        "sqs",
        &queues,
        21,
        |name, queue, function, format| {
            sqs::pipe(name, queue, function, "batch: {size: 10}\n").replace(
                "    timeout: 30s\n",
                &format!("    timeout: 30s\n    format: {format}\n"),
            )
        },
    )
    .await;
    check_everything(&capture, "sqs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server and the Lambda libraries: scripts/test.sh installs and starts them"]
async fn sqs_events_are_read_intact_by_every_official_library() {
    sqs_events(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server and the Lambda libraries: scripts/test.sh installs and starts them"]
async fn sqs_fifo_events_are_read_intact_by_every_official_library() {
    sqs_events(true).await;
}
