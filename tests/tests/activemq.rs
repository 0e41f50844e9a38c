//! ActiveMQ over STOMP → HTTP function, through the real `sluice` binary and a real ActiveMQ
//! (and RabbitMQ's STOMP plugin), counting every message. Broker restarts and a frozen broker
//! are in `activemq_faults.rs`.

use serde_json::{Value, json};
use sluice_tests::function::{Function, records};
use sluice_tests::process::Sluice;
use sluice_tests::stomp::{Client, activemq_port, rabbitmq_port};
use sluice_tests::{unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn pipe(name: &str, port: u16, queue: &str, function_url: &str, extra: &str) -> String {
    format!(
        "name: {name}\nsource:\n  activemq:\n    protocol: stomp\n    url: stomp://127.0.0.1:{port}\n    queues: [{queue}]\n    heart_beat: 2s\n{extra}target:\n  http:\n    url: {function_url}\n    timeout: 10s\n"
    )
}

fn name() -> String {
    unique("p").to_lowercase()
}

/// Bodies the function accepted, decoded from `data`.
fn bodies(function: &Function) -> Vec<String> {
    use base64::Engine;
    let events = function.received.lock().unwrap().events.clone();
    events
        .iter()
        .flat_map(|e| {
            records(e)
                .into_iter()
                .map(|r| {
                    let data = r["data"].as_str().unwrap_or("");
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .unwrap_or_default();
                    String::from_utf8_lossy(&raw).into_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn record_with_body(function: &Function, body: &str) -> Value {
    use base64::Engine;
    record_with_data(
        function,
        &base64::engine::general_purpose::STANDARD.encode(body),
    )
}

fn record_with_data(function: &Function, data: &str) -> Value {
    let events = function.received.lock().unwrap().events.clone();
    events
        .iter()
        .flat_map(|e| records(e).into_iter().cloned().collect::<Vec<_>>())
        .find(|r| r["data"] == json!(data))
        .unwrap_or_else(|| panic!("no record with data {data}: {:?}", bodies(function)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ and RabbitMQ's STOMP plugin: scripts/test.sh starts them and runs this"]
async fn messages_arrive_once_as_lambda_aws_mq_events() {
    let queue = unique("amq");
    let mut client = Client::connect(activemq_port(), None).await;
    client.send_numbered(&queue, "m", 1_000).await;
    client
        .send(
            &queue,
            &[
                (
                    b"ABC:AAAA".to_vec(),
                    vec![
                        ("correlation-id".into(), "myJMSCoID".into()),
                        ("type".into(), "order".into()),
                        ("reply-to".into(), "/queue/replies".into()),
                        ("priority".into(), "7".into()),
                        ("myCustomProperty".into(), "value".into()),
                    ],
                ),
                (
                    vec![0x2d, 0x06, 0x86, 0x43, 0xcd, 0x92, 0xe3, 0xc9],
                    vec![("content-length".into(), "8".into())],
                ),
            ],
        )
        .await;
    let function = Function::ok().await;
    let name = name();
    let mut sluice = Sluice::start(&pipe(&name, activemq_port(), &queue, &function.url(), ""));
    wait_for("1,002 messages at the function", LIMIT, || async {
        function.distinct() == 1_002
    })
    .await;
    wait_for("1,002 acks", LIMIT, || async {
        sluice.acked(&name).await == 1_002.0
    })
    .await;
    assert_eq!(function.duplicates(), 0);
    let events = function.received.lock().unwrap().events.clone();
    for e in &events {
        assert_eq!(e["eventSource"], json!("aws:mq"));
        assert_eq!(
            e["eventSourceArn"],
            json!("arn:aws:mq:local:000000000000:broker:127.0.0.1")
        );
        assert!(records(e).len() <= 100, "batch.size default 100");
    }
    let text = record_with_body(&function, "ABC:AAAA");
    let keys: Vec<&String> = text.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 15, "{keys:?}");
    assert_eq!(text["messageType"], json!("jms/text-message"));
    assert_eq!(text["data"], json!("QUJDOkFBQUE="));
    assert_eq!(text["deliveryMode"], json!(2));
    assert_eq!(text["correlationID"], json!("myJMSCoID"));
    assert_eq!(text["type"], json!("order"));
    assert_eq!(text["replyTo"], json!("/queue/replies"));
    assert_eq!(text["priority"], json!(7));
    assert_eq!(text["redelivered"], json!(false));
    assert_eq!(text["destination"], json!({"physicalName": queue}));
    assert_eq!(text["properties"], json!({"myCustomProperty": "value"}));
    assert!(text["messageID"].as_str().unwrap().starts_with("ID:"));
    assert!(text["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(
        text["expiration"].is_u64(),
        "a number, as the libraries read it"
    );
    let bytes = record_with_data(&function, "LQaGQ82S48k=");
    assert_eq!(bytes["messageType"], json!("jms/bytes-message"));
    assert_eq!(bytes["data"], json!("LQaGQ82S48k="));
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    let left = client.drain(&queue, Duration::from_millis(500)).await;
    assert!(left.is_empty(), "every message was acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ and RabbitMQ's STOMP plugin: scripts/test.sh starts them and runs this"]
async fn messages_from_activemqs_own_java_client_arrive_with_their_fields() {
    let queue = unique("java");
    let status = std::process::Command::new("activemq")
        .args([
            "producer",
            "--brokerUrl",
            &format!(
                "tcp://127.0.0.1:{}",
                std::env::var("SLUICE_ACTIVEMQ_PORT").unwrap_or_else(|_| "61616".into())
            ),
            "--destination",
            &format!("queue://{queue}"),
            "--messageCount",
            "10",
            "--message",
            "hello-from-java",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run activemq producer");
    assert!(status.success());
    let function = Function::ok().await;
    let name = name();
    let mut sluice = Sluice::start(&pipe(&name, activemq_port(), &queue, &function.url(), ""));
    wait_for("10 messages", LIMIT, || async { function.distinct() == 10 }).await;
    let r = record_with_body(&function, "hello-from-java");
    assert_eq!(r["messageType"], json!("jms/text-message"));
    assert_eq!(
        r["deliveryMode"],
        json!(2),
        "the producer sends persistent messages"
    );
    assert_eq!(r["destination"]["physicalName"], json!(queue));
    assert!(r["messageID"].as_str().unwrap().starts_with("ID:"));
    assert!(r["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    wait_for("10 acks", LIMIT, || async {
        sluice.acked(&name).await == 10.0
    })
    .await;
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ and RabbitMQ's STOMP plugin: scripts/test.sh starts them and runs this"]
async fn the_same_pipe_runs_against_rabbitmqs_stomp_plugin_and_to_an_activemq_target() {
    let queue = unique("rstomp");
    let out = unique("out");
    let mut rabbit = Client::connect(rabbitmq_port(), Some(("guest", "guest", "/"))).await;
    rabbit.send_numbered(&queue, "m", 200).await;
    let name = name();
    let yaml = format!(
        "name: {name}\nsource:\n  activemq:\n    protocol: stomp\n    url: stomp://127.0.0.1:{}\n    username: guest\n    password: guest\n    virtual_host: /\n    queues: [{queue}]\ntarget:\n  activemq:\n    protocol: stomp\n    url: stomp://127.0.0.1:{}\n    destination: {out}\n",
        rabbitmq_port(),
        activemq_port()
    );
    let mut sluice = Sluice::start(&yaml);
    wait_for("200 moved", LIMIT, || async {
        sluice.acked(&name).await == 200.0
    })
    .await;
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    let mut amq = Client::connect(activemq_port(), None).await;
    let moved = amq.drain(&out, Duration::from_millis(500)).await;
    let mut got: Vec<String> = moved
        .iter()
        .map(|f| String::from_utf8_lossy(&f.body).into_owned())
        .collect();
    // Five batches in flight at once (ActiveMQ's default concurrency): once each, any order.
    got.sort();
    let want: Vec<String> = (0..200).map(|i| format!("m-{i:06}")).collect();
    assert_eq!(got, want, "moved once each");
    assert!(
        rabbit
            .drain(&queue, Duration::from_millis(500))
            .await
            .is_empty()
    );
}
