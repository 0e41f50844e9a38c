//! Order across replicas. Competing consumers spread a queue over several Sluice processes and
//! so give up its order; where order matters, each broker offers a way to keep it, and these
//! tests run three replicas on each:
//!
//! - RabbitMQ single-active-consumer queues: one replica consumes, the others stand by and
//!   take over in order when it stops;
//! - ActiveMQ exclusive consumers (`queue?consumer.exclusive=true`), the same for ActiveMQ;
//! - ActiveMQ message groups (`JMSXGroupID`): the broker pins each group to one replica and
//!   Sluice delivers each group in order, groups in parallel;
//! - SQS FIFO queues: SQS hands a message group to one receiver at a time and Sluice delivers
//!   each group in order (`tests/tests/sqs.rs`). Not run here with three replicas: moto's
//!   ReceiveMessage checks and marks a group's messages without a lock, so receives racing in its
//!   threads can take the same group at once (real SQS does not), and such a test fails on the
//!   server, not on Sluice, about one run in five.
//!
//! Every test counts every message (none lost, duplicates reported) and checks the order of
//! first deliveries per group. (The rolling restart of plain competing consumers is the
//! conformance scenario `replicas_share_the_queue_and_survive_a_rolling_restart`.)

use serde_json::Value;
use sluice_tests::broker::{self, Rabbit};
use sluice_tests::conformance::decode_data;
use sluice_tests::function::{Function, records};
use sluice_tests::process::Sluice;
use sluice_tests::stomp::{Client, activemq_port};
use sluice_tests::{jms, unique, wait_for};
use std::collections::HashMap;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// Bodies `GROUP-NNNNN` per group, in the order the function first saw them, and the number
/// of deliveries beyond the first.
fn first_seen(
    function: &Function,
    body: fn(&Value) -> String,
) -> (HashMap<String, Vec<u32>>, usize) {
    let events = function.received.lock().unwrap().events.clone();
    let mut seen = std::collections::HashSet::new();
    let mut groups: HashMap<String, Vec<u32>> = HashMap::new();
    let mut duplicates = 0;
    for e in &events {
        for r in records(e) {
            let b = body(r);
            if !seen.insert(b.clone()) {
                duplicates += 1;
                continue;
            }
            let (group, n) = b.rsplit_once('-').expect("GROUP-N bodies");
            groups
                .entry(group.to_owned())
                .or_default()
                .push(n.parse().expect("a number"));
        }
    }
    (groups, duplicates)
}

fn distinct(function: &Function, body: fn(&Value) -> String) -> usize {
    first_seen(function, body).0.values().map(Vec::len).sum()
}

/// Every group complete, each first delivered in order.
fn assert_in_order(
    what: &str,
    function: &Function,
    body: fn(&Value) -> String,
    groups: usize,
    per_group: u32,
) {
    let (seen, duplicates) = first_seen(function, body);
    assert_eq!(seen.len(), groups, "{what}: groups {:?}", seen.keys());
    for (g, order) in &seen {
        let expected: Vec<u32> = (0..per_group).collect();
        assert_eq!(
            order, &expected,
            "{what}: group {g} out of order or incomplete"
        );
    }
    eprintln!(
        "{what}: {groups} groups x {per_group} in order across 3 replicas, {duplicates} duplicates"
    );
}

fn three(pipe: &str) -> Vec<Sluice> {
    (0..3).map(|_| Sluice::start(pipe)).collect()
}

async fn acked(replicas: &[Sluice], pipe: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for r in replicas {
        out.push(r.acked(pipe).await);
    }
    out
}

fn numbered(group: &str, n: u32) -> Vec<String> {
    (0..n).map(|i| format!("{group}-{i:05}")).collect()
}

/// One consumer at a time (single active consumer, exclusive consumer): while the first third
/// arrives exactly one replica has acknowledged anything; it is stopped, another takes over,
/// and everything arrives in order. The function takes 50ms a batch, so the first replica is
/// far from done (about a second of work left) when it is stopped.
async fn one_active_replica_then_failover(
    what: &str,
    name: &str,
    pipe: &str,
    function: &Function,
    total: u32,
) {
    let mut replicas = three(pipe);
    wait_for("a third delivered", LIMIT, || async {
        distinct(function, decode_data) >= total as usize / 3
    })
    .await;
    let before = acked(&replicas, name).await;
    let active: Vec<usize> = (0..3).filter(|i| before[*i] > 0.0).collect();
    assert_eq!(
        active.len(),
        1,
        "{what}: one replica consumes at a time: {before:?}"
    );
    let first = active[0];
    assert_eq!(
        replicas[first].terminate(),
        Some(0),
        "{}",
        replicas[first].logs()
    );
    wait_for("every message delivered", LIMIT, || async {
        distinct(function, decode_data) == total as usize
    })
    .await;
    let after = acked(&replicas, name).await;
    let took_over = (0..3).filter(|i| *i != first && after[*i] > 0.0).count();
    assert_eq!(took_over, 1, "{what}: one standby took over: {after:?}");
    assert_in_order(what, function, decode_data, 1, total);
    for (i, r) in replicas.iter_mut().enumerate() {
        if i != first {
            assert_eq!(r.terminate(), Some(0), "{}", r.logs());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn rabbitmq_single_active_consumer_keeps_order_across_replicas() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("sac");
    rabbit.single_active_queue(&queue).await;
    let total = 300;
    rabbit
        .publish_all(
            &queue,
            numbered("a", total)
                .into_iter()
                .map(|b| (Default::default(), b.into_bytes())),
        )
        .await;
    let function =
        Function::start_slow(0, Duration::from_millis(50), |_| (200, String::new())).await;
    let name = unique("sac").to_lowercase();
    let pipe = format!(
        "name: {name}\nsource:\n  rabbitmq: {{url: '{}', queues: [{queue}]}}\n\
         target:\n  http: {{url: '{}'}}\nbatch: {{size: 10, window: 10ms}}\nconcurrency: 1\n",
        broker::url(),
        function.url()
    );
    one_active_replica_then_failover(
        "rabbitmq single active consumer",
        &name,
        &pipe,
        &function,
        total,
    )
    .await;
    assert_eq!(rabbit.ready(&queue).await, 0);
    rabbit.delete(&queue).await;
}

fn activemq_source(protocol: &str, queue: &str) -> String {
    let url = match protocol {
        "stomp" => format!("stomp://127.0.0.1:{}", activemq_port()),
        _ => format!("tcp://127.0.0.1:{}", jms::openwire_port()),
    };
    format!(
        "source:\n  activemq:\n    protocol: {protocol}\n    url: {url}\n    queues: ['{queue}']\n"
    )
}

async fn send_stomp(queue: &str, messages: Vec<(String, Option<String>)>) {
    let mut client = Client::connect(activemq_port(), None).await;
    let messages: Vec<_> = messages
        .into_iter()
        .map(|(body, group)| {
            let headers = group
                .map(|g| vec![("JMSXGroupID".to_owned(), g)])
                .unwrap_or_default();
            (body.into_bytes(), headers)
        })
        .collect();
    for chunk in messages.chunks(200) {
        client.send(queue, chunk).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn activemq_exclusive_consumer_keeps_order_across_replicas() {
    for protocol in ["stomp", "openwire"] {
        let queue = unique("excl");
        let total = 300;
        send_stomp(
            &queue,
            numbered("a", total)
                .into_iter()
                .map(|b| (b, None))
                .collect(),
        )
        .await;
        let function =
            Function::start_slow(0, Duration::from_millis(50), |_| (200, String::new())).await;
        let name = unique("excl").to_lowercase();
        let pipe = format!(
            "name: {name}\n{}target:\n  http: {{url: '{}'}}\nbatch: {{size: 10, window: 10ms}}\nconcurrency: 1\n",
            activemq_source(protocol, &format!("{queue}?consumer.exclusive=true")),
            function.url()
        );
        let what = format!("activemq {protocol} exclusive consumer");
        one_active_replica_then_failover(&what, &name, &pipe, &function, total).await;
        wait_for("the queue is empty", LIMIT, || async {
            sluice_tests::stomp::left_in_activemq(&queue).await == 0
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn activemq_message_groups_stay_in_order_across_replicas() {
    for protocol in ["openwire", "stomp"] {
        let queue = unique("groups");
        let (groups, per_group) = (6, 50);
        // Interleaved: g0-0, g1-0, ..., g5-0, g0-1, ...
        let messages = (0..per_group)
            .flat_map(|i| (0..groups).map(move |g| (format!("g{g}-{i:05}"), Some(format!("g{g}")))))
            .collect();
        let function =
            Function::start_slow(0, Duration::from_millis(5), |_| (200, String::new())).await;
        let name = unique("groups").to_lowercase();
        // OpenWire shows each message's group: with the default concurrency (5) Sluice
        // delivers groups in parallel, each in order. ActiveMQ's STOMP frames do not carry
        // the group (JMSXGroupID is a JMS field, not a property), so over STOMP the broker's
        // per-consumer order is kept with one batch at a time.
        let concurrency = if protocol == "stomp" {
            "concurrency: 1\n"
        } else {
            ""
        };
        let pipe = format!(
            "name: {name}\n{}target:\n  http: {{url: '{}'}}\nbatch: {{size: 5, window: 10ms}}\n{concurrency}",
            activemq_source(protocol, &queue),
            function.url()
        );
        // All three subscribed before the first message: the broker then hands the groups
        // out round robin as their first messages arrive, and pins each to its replica.
        let mut replicas = three(&pipe);
        wait_for("three replicas consuming", LIMIT, || async {
            let mut ready = true;
            for r in &replicas {
                ready &= r.ready().await;
            }
            ready
        })
        .await;
        send_stomp(&queue, messages).await;
        wait_for("every message delivered", LIMIT, || async {
            distinct(&function, decode_data) == (groups * per_group) as usize
        })
        .await;
        let what = format!("activemq {protocol} message groups");
        assert_in_order(&what, &function, decode_data, groups as usize, per_group);
        let spread = acked(&replicas, &name).await;
        eprintln!("{what}: acknowledged per replica {spread:?}");
        assert!(
            spread.iter().filter(|n| **n > 0.0).count() >= 2,
            "{what}: the groups went to one replica: {spread:?}"
        );
        for r in &mut replicas {
            assert_eq!(r.terminate(), Some(0), "{}", r.logs());
        }
        wait_for("the queue is empty", LIMIT, || async {
            sluice_tests::stomp::left_in_activemq(&queue).await == 0
        })
        .await;
    }
}
