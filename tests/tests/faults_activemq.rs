//! Network faults between Sluice and ActiveMQ, over STOMP and over OpenWire, injected by the
//! fault proxy, and SIGKILL of Sluice; and a JMS correlation id too long for AMQP carried to a
//! RabbitMQ target.
//! Messages are sent over STOMP (ActiveMQ hands them to either protocol's consumers). Every
//! message is counted at the function: none lost, duplicates counted and printed.

use sluice_tests::broker::{Rabbit, url as rabbit_url};
use sluice_tests::function::Function;
use sluice_tests::jms::openwire_port;
use sluice_tests::process::Sluice;
use sluice_tests::proxy::FaultProxy;
use sluice_tests::stomp::{Client, activemq_port, left_in_activemq};
use sluice_tests::{unique, wait_for};
use std::net::SocketAddr;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(150);

#[derive(Clone, Copy)]
enum Protocol {
    Stomp,
    OpenWire,
}

impl Protocol {
    fn port(self) -> u16 {
        match self {
            Protocol::Stomp => activemq_port(),
            Protocol::OpenWire => openwire_port(),
        }
    }

    /// The source keys for a broker at `addr`.
    fn source(self, addr: &str, queue: &str) -> String {
        match self {
            Protocol::Stomp => format!(
                "  activemq:\n    protocol: stomp\n    url: stomp://{addr}\n    queues: [{queue}]\n    heart_beat: 1s\n"
            ),
            Protocol::OpenWire => format!(
                "  activemq:\n    protocol: openwire\n    url: tcp://{addr}\n    queues: [{queue}]\n"
            ),
        }
    }
}

/// A fault between Sluice and ActiveMQ, mid-stream.
async fn fault(what: &str, protocol: Protocol, inject: impl Fn(&FaultProxy)) {
    let queue = unique("afault");
    let total = 1_000;
    Client::connect(activemq_port(), None)
        .await
        .send_numbered(&queue, "m", total)
        .await;
    let broker: SocketAddr = format!("127.0.0.1:{}", protocol.port())
        .parse()
        .expect("address");
    let proxy = FaultProxy::start(broker).await;
    let function =
        Function::start_slow(0, Duration::from_millis(5), |_| (200, String::new())).await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n{}target:\n  http: {{url: '{}', timeout: 10s}}\nbatch: {{size: 20, window: 50ms}}\n",
        protocol.source(&proxy.host_port(), &queue),
        function.url()
    ));
    wait_for("a first part delivered", LIMIT, || async {
        function.distinct() >= 200
    })
    .await;
    inject(&proxy);
    wait_for("the fault noticed", LIMIT, || async {
        sluice.connection_errors(&name, "source").await >= 1.0
    })
    .await;
    let at_fault = function.distinct();
    proxy.heal();
    wait_for(&format!("{what}: all delivered"), LIMIT, || async {
        function.distinct() == total
    })
    .await;
    wait_for("ready again", LIMIT, || async { sluice.ready().await }).await;
    eprintln!(
        "{what}: {total} messages, fault after {at_fault}, 0 lost, {} duplicates",
        function.duplicates()
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    let left = left_in_activemq(&queue).await;
    assert_eq!(left, 0, "{what}: messages left in the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn stomp_black_hole_is_found_by_heart_beats() {
    fault("stomp black hole", Protocol::Stomp, FaultProxy::black_hole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn openwire_black_hole_is_found_by_the_inactivity_monitor() {
    fault(
        "openwire black hole",
        Protocol::OpenWire,
        FaultProxy::black_hole,
    )
    .await;
}

/// JMS and STOMP allow a correlation id of any length; AMQP carries at most 255 bytes in a
/// property. The record is published with the id in an `x-sluice-correlation-id` header, and
/// the rest of its batch goes through with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn a_correlation_id_too_long_for_amqp_reaches_a_rabbitmq_target() {
    let queue = unique("longcid");
    let out = unique("longcid-out");
    let rabbit = Rabbit::connect().await;
    rabbit.queue(&out, &[]).await;
    let long = "c".repeat(300);
    let messages: Vec<_> = (0..5)
        .map(|i| {
            let mut headers = vec![("message-n".to_owned(), i.to_string())];
            if i == 2 {
                headers.push(("correlation-id".to_owned(), long.clone()));
            }
            (format!("{{\"n\":{i}}}").into_bytes(), headers)
        })
        .collect();
    Client::connect(activemq_port(), None)
        .await
        .send(&queue, &messages)
        .await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n{}target:\n  rabbitmq: {{url: '{}', routing_key: {out}}}\nbatch: {{size: 10, window: 200ms}}\n",
        Protocol::Stomp.source(&format!("127.0.0.1:{}", activemq_port()), &queue),
        rabbit_url()
    ));
    wait_for("all five at the RabbitMQ queue", LIMIT, || async {
        rabbit.ready(&out).await == 5
    })
    .await;
    assert_eq!(
        sluice
            .pipe_metric("sluice_pipe_restarts_total", &name, "")
            .await,
        0.0
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    let got = rabbit.drain(&out).await;
    let carried: Vec<_> = got
        .iter()
        .filter_map(|m| {
            m.properties
                .headers()
                .as_ref()?
                .inner()
                .get("x-sluice-correlation-id")
                .cloned()
        })
        .collect();
    assert_eq!(carried.len(), 1, "the long id travels as a header");
    match &carried[0] {
        lapin::types::AMQPValue::LongString(s) => assert_eq!(s.as_bytes(), long.as_bytes()),
        other => panic!("{other:?}"),
    }
    rabbit.delete(&out).await;
}
