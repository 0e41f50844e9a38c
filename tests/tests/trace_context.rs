//! Trace context across Sluice: a producer's W3C `traceparent` (an AMQP header) or X-Ray
//! `AWSTraceHeader` (an SQS system attribute) arrives at the function as request headers, and
//! continues onto broker targets, through real RabbitMQ and the SQS server.

use aws_sdk_sqs::types::{MessageSystemAttributeNameForSends, MessageSystemAttributeValue};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::sqs::{Sqs, endpoint};
use sluice_tests::{unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const XRAY: &str = "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1";

fn header(f: &Function, i: usize, name: &str) -> Option<String> {
    let r = f.received.lock().unwrap();
    r.headers
        .get(i)?
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and the SQS server: scripts/test.sh starts them and runs this"]
async fn a_producers_trace_reaches_the_function_and_the_next_broker() {
    let rabbit = Rabbit::connect().await;
    let sqs = Sqs::connect().await;
    let (to_fn, to_sqs) = (unique("trace-fn"), unique("trace-sqs"));
    rabbit.queue(&to_fn, &[]).await;
    rabbit.queue(&to_sqs, &[]).await;
    let next = sqs.queue(&unique("trace-next"), &[]).await;
    let mut headers = FieldTable::default();
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(LongString::from(TRACEPARENT)),
    );
    headers.insert(
        "tracestate".into(),
        AMQPValue::LongString(LongString::from("vendor=abc")),
    );
    for q in [&to_fn, &to_sqs] {
        rabbit
            .publish_all(
                q,
                [(
                    BasicProperties::default()
                        .with_message_id("traced".into())
                        .with_headers(headers.clone()),
                    b"{\"k\":1}".to_vec(),
                )],
            )
            .await;
    }
    let function = Function::ok().await;
    let fn_pipe = format!(
        "name: trace-fn\nsource:\n  rabbitmq:\n    url: {u}\n    queues: [{to_fn}]\ntarget:\n  http: {{url: '{}'}}\n",
        function.url(),
        u = url()
    );
    let sqs_pipe = format!(
        "name: trace-sqs\nsource:\n  rabbitmq:\n    url: {u}\n    queues: [{to_sqs}]\ntarget:\n  sqs: {{queue_url: '{next}', endpoint_url: '{}'}}\n",
        endpoint(),
        u = url()
    );
    let _sluice = Sluice::start_dir(&[("fn.yaml", &fn_pipe), ("sqs.yaml", &sqs_pipe)]);
    wait_for("the traced message at the function", LIMIT, || async {
        function.distinct() == 1
    })
    .await;
    assert_eq!(
        header(&function, 0, "traceparent").as_deref(),
        Some(TRACEPARENT)
    );
    assert_eq!(
        header(&function, 0, "tracestate").as_deref(),
        Some("vendor=abc")
    );
    assert_eq!(
        header(&function, 0, "x-amzn-trace-id").as_deref(),
        Some(XRAY)
    );
    // At the next queue: the W3C headers as message attributes. (Sluice also sets the X-Ray
    // header as the `AWSTraceHeader` system attribute, which Lambda reads; moto's
    // SendMessageBatch drops system attributes, so the SQS sink's unit tests check that.)
    wait_for("the traced message at the next queue", LIMIT, || {
        let (sqs, next) = (&sqs, &next);
        async move { sqs.depth(next).await.0 == 1 }
    })
    .await;
    let got = sqs.drain(&next).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    let message_attrs = m.message_attributes.clone().unwrap_or_default();
    assert_eq!(
        message_attrs
            .get("traceparent")
            .and_then(|v| v.string_value()),
        Some(TRACEPARENT)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server: scripts/test.sh starts it and runs this"]
async fn an_sqs_aws_trace_header_reaches_the_function_as_w3c_and_xray_headers() {
    let sqs = Sqs::connect().await;
    let queue = sqs.queue(&unique("xray"), &[]).await;
    sqs.client
        .send_message()
        .queue_url(&queue)
        .message_body("{\"k\":1}")
        .message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(XRAY)
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("send");
    let function = Function::ok().await;
    let pipe = format!(
        "name: xray\nsource:\n  sqs:\n    queue_url: {queue}\n    max_receives: 1\n    endpoint_url: {}\ntarget:\n  http: {{url: '{}'}}\n",
        endpoint(),
        function.url()
    );
    let _sluice = Sluice::start(&pipe);
    wait_for("the traced message at the function", LIMIT, || async {
        function.distinct() == 1
    })
    .await;
    assert_eq!(
        header(&function, 0, "x-amzn-trace-id").as_deref(),
        Some(XRAY)
    );
    let traceparent = header(&function, 0, "traceparent").unwrap_or_default();
    assert!(traceparent.contains(TRACE_ID), "{traceparent}");
    // The event itself keeps AWSTraceHeader in `attributes`, as Lambda's does.
    let events = function.received.lock().unwrap().events.clone();
    assert_eq!(
        events[0]["Records"][0]["attributes"]["AWSTraceHeader"],
        XRAY
    );
}
