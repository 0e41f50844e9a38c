//! Many pipes on one broker in one process: they share a few connections, and a fault in one
//! pipe's channel stays with that pipe.

use sluice_tests::broker::{Rabbit, port as rabbit_port, url};
use sluice_tests::function::{Function, message_id, rmq_records};
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::collections::HashMap;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn forty_rabbitmq_pipes_share_three_connections_and_a_deleted_queue_stays_with_its_pipe() {
    const PIPES: usize = 40;
    const EACH: usize = 10;
    let rabbit = Rabbit::connect().await;
    let function = Function::ok().await;
    let run = unique("share").to_lowercase();
    let queues: Vec<String> = (0..PIPES).map(|i| format!("{run}-{i}")).collect();
    let mut files = Vec::new();
    for q in &queues {
        rabbit.queue(q, &[]).await;
        files.push((
            format!("{q}.yaml"),
            format!(
                "name: {q}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{q}]\ntarget:\n  http: {{url: {}}}\nbatch: {{size: 10, window: 0ms}}\n",
                url(),
                function.url()
            ),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, y)| (n.as_str(), y.as_str()))
        .collect();
    let mut sluice = Sluice::start_dir(&files);
    for q in &queues {
        wait_for("every pipe consuming", LIMIT, || async {
            rabbit.consumers(q).await == 1
        })
        .await;
    }
    // 16 pipes per connection before the next opens: 40 pipes → 3 connections.
    let port = rabbit_port();
    assert_eq!(sluice.connections_to(port), 3, "{}", sluice.logs());

    // The broker cancels the first pipe's consumer and refuses its queue from now on.
    let (lost, others) = queues.split_first().expect("pipes");
    rabbit.delete(lost).await;
    wait_for("the deleted queue's pipe to notice", LIMIT, || async {
        sluice.connection_errors(lost, "source").await >= 1.0
    })
    .await;
    for q in others {
        rabbit.publish_numbered(q, q, EACH).await;
    }
    wait_for("every message of the other pipes", LIMIT, || async {
        function.distinct() == others.len() * EACH
    })
    .await;
    assert_eq!(function.duplicates(), 0, "nothing failed, so nothing twice");
    for q in others {
        assert_eq!(
            sluice.connection_errors(q, "source").await,
            0.0,
            "pipe {q} was not disturbed by another pipe's channel"
        );
    }
    assert_eq!(
        sluice.connections_to(port),
        3,
        "the shared connections stayed"
    );

    // Once the queue is back, its pipe consumes again on a shared connection.
    rabbit.queue(lost, &[]).await;
    rabbit.publish_numbered(lost, lost, EACH).await;
    wait_for("the recovered pipe's messages", LIMIT, || async {
        function.distinct() == PIPES * EACH
    })
    .await;
    let mut per_queue: HashMap<String, usize> = HashMap::new();
    for event in &function.received.lock().unwrap().events {
        for r in rmq_records(event) {
            let id = message_id(r);
            let queue = id
                .rsplit_once('-')
                .map_or(id.clone(), |(q, _)| q.to_owned());
            *per_queue.entry(queue).or_default() += 1;
        }
    }
    assert!(
        queues.iter().all(|q| per_queue.get(q) == Some(&EACH)),
        "{EACH} from every queue: {per_queue:?}"
    );
    assert_eq!(function.duplicates(), 0);
    assert!(sluice.connections_to(port) <= 3);
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    for q in &queues {
        assert_eq!(rabbit.ready(q).await, 0);
        rabbit.delete(q).await;
    }
}
