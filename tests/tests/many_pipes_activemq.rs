//! Many ActiveMQ pipes in one process, on a broker of the test's own that refuses one of them
//! its queue: the pipes share a few connections, the refusal stays with the refused pipe, and
//! every message of the others arrives once.

use base64::Engine;
use sluice_tests::function::{Function, records};
use sluice_tests::jms::PrivateBroker;
use sluice_tests::process::Sluice;
use sluice_tests::stomp::Client;
use sluice_tests::{unique, wait_for};
use std::collections::HashMap;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);
const PIPES: usize = 20;
const EACH: usize = 10;

/// Messages the function accepted, per body prefix (the queue's name), duplicates included.
fn per_queue(function: &Function) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in &function.received.lock().unwrap().events {
        for r in records(event) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(r["data"].as_str().unwrap_or(""))
                .unwrap_or_default();
            let body = String::from_utf8_lossy(&raw).into_owned();
            let queue = body
                .rsplit_once('-')
                .map_or(body.clone(), |(q, _)| q.into());
            *counts.entry(queue).or_default() += 1;
        }
    }
    counts
}

/// `PIPES` pipes on readable queues and one on a queue the broker refuses them, over
/// `protocol` (`openwire` or `stomp`).
async fn pipes_share_connections_and_a_refused_queue_stays_with_its_pipe(protocol: &str) {
    let broker = PrivateBroker::start_readable("sluice:secret", "allowed.>");
    let (scheme, port) = match protocol {
        "openwire" => ("tcp", broker.port),
        _ => ("stomp", broker.stomp_port),
    };
    let function = Function::ok().await;
    let run = unique("share").to_lowercase();
    let allowed: Vec<String> = (0..PIPES).map(|i| format!("allowed.{run}{i}")).collect();
    let denied = format!("denied.{run}");
    let files: Vec<(String, String)> = allowed
        .iter()
        .chain([&denied])
        .map(|q| {
            let name = q.replace('.', "-");
            (
                format!("{name}.yaml"),
                format!(
                    "name: {name}\nsource:\n  activemq:\n    protocol: {protocol}\n    url: {scheme}://127.0.0.1:{port}\n    queues: [{q}]\n    username: sluice\n    password: secret\ntarget:\n  http: {{url: {}}}\nbatch: {{size: 10, window: 0ms}}\n",
                    function.url()
                ),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, y)| (n.as_str(), y.as_str()))
        .collect();
    let mut sluice = Sluice::start_dir(&files);
    let refused = denied.replace('.', "-");
    wait_for("the refused pipe reports it", LIMIT, || async {
        match sluice.get(&format!("/pipes/{refused}")).await {
            Some((200, body)) => body.contains("EVENT_SOURCE_AUTHZ_ERROR"),
            _ => false,
        }
    })
    .await;

    let mut producer =
        Client::connect(broker.stomp_port, Some(("sluice", "secret", "localhost"))).await;
    for q in &allowed {
        producer.send_numbered(q, q, EACH).await;
    }
    wait_for("every message of the readable queues", LIMIT, || async {
        function.distinct() == PIPES * EACH
    })
    .await;
    // 16 pipes per connection before the next opens: 21 pipes → 2 connections. Over STOMP a
    // refused pipe moves to a connection of its own (a STOMP broker may close a connection
    // after an ERROR), open while it tries again.
    let connections = sluice.connections_to(port);
    let expected = if protocol == "stomp" { 2..=3 } else { 2..=2 };
    assert!(
        expected.contains(&connections),
        "{connections} connections: {}",
        sluice.logs()
    );
    let counts = per_queue(&function);
    assert!(
        allowed.iter().all(|q| counts.get(q) == Some(&EACH)),
        "{EACH} from every readable queue, once: {counts:?}"
    );
    assert_eq!(function.duplicates(), 0, "nothing failed, so nothing twice");
    for q in &allowed {
        assert_eq!(
            sluice
                .connection_errors(&q.replace('.', "-"), "source")
                .await,
            0.0,
            "pipe {q} was not disturbed by the refused pipe"
        );
    }
    assert!(sluice.connection_errors(&refused, "source").await >= 1.0);
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh installs it and runs this"]
async fn openwire_pipes_share_connections_and_a_refused_queue_stays_with_its_pipe() {
    pipes_share_connections_and_a_refused_queue_stays_with_its_pipe("openwire").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh installs it and runs this"]
async fn stomp_pipes_share_connections_and_a_refused_queue_stays_with_its_pipe() {
    pipes_share_connections_and_a_refused_queue_stays_with_its_pipe("stomp").await;
}
