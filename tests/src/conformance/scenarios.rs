//! The scenarios, each against any [`Broker`]. Every one counts every message at the
//! function (by body): none lost, duplicates counted and reported, and the broker's queue empty
//! at the end.

use super::brokers::{decode_data, until_empty};
use super::{Broker, Queue};
use crate::function::{Function, message_id, records};
use crate::process::Sluice;
use crate::proxy::FaultProxy;
use crate::{unique, wait_for};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// Run sluice on a pipe from `queue` (through `via` when given) to `function`; `extra` is
/// appended (batch, retry, dead_letter...). Returns the pipe's name and the process.
fn start(
    broker: &dyn Broker,
    queue: &Queue,
    via: Option<&str>,
    function: &Function,
    extra: &str,
) -> (String, Sluice) {
    let name = unique("p").to_lowercase();
    let pipe = format!(
        "name: {name}\n{}target:\n  http:\n    url: {}\n    timeout: 30s\n{extra}",
        broker.source(queue, via),
        function.url()
    );
    (name, Sluice::start(&pipe))
}

fn numbered(queue: &Queue, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{}-{i:05}", queue.tag)).collect()
}

/// Deliveries per body, as the function saw them (accepted or not).
fn seen(function: &Function, broker: &dyn Broker) -> HashMap<String, usize> {
    let events = function.received.lock().unwrap().events.clone();
    let mut counts = HashMap::new();
    for e in &events {
        for r in records(e) {
            *counts.entry(broker.body(r)).or_insert(0) += 1;
        }
    }
    counts
}

/// Distinct bodies of `expected` the function has seen.
fn distinct(function: &Function, broker: &dyn Broker, expected: &[String]) -> usize {
    let counts = seen(function, broker);
    expected.iter().filter(|b| counts.contains_key(*b)).count()
}

/// Deliveries beyond the first, over `expected`.
fn duplicates(function: &Function, broker: &dyn Broker, expected: &[String]) -> usize {
    let counts = seen(function, broker);
    expected
        .iter()
        .map(|b| counts.get(b).copied().unwrap_or(0).saturating_sub(1))
        .sum()
}

async fn all_arrive(function: &Function, broker: &dyn Broker, bodies: &[String]) {
    wait_for(
        &format!("{} messages at the function", bodies.len()),
        LIMIT,
        || async { distinct(function, broker, bodies) == bodies.len() },
    )
    .await;
}

/// SIGTERM: sluice drains and exits 0, and the broker has nothing left.
async fn finish(broker: &dyn Broker, queue: &Queue, sluice: &mut Sluice) {
    assert_eq!(
        sluice.terminate(),
        Some(0),
        "exit on SIGTERM:\n{}",
        sluice.logs()
    );
    until_empty(broker, queue).await;
}

async fn metric(sluice: &Sluice, metric: &str, name: &str, labels: &str) -> f64 {
    sluice.pipe_metric(metric, name, labels).await
}

/// Nothing fails: every message arrives once, is acknowledged once, and the queue empties.
pub async fn delivers_exactly_once(broker: &dyn Broker) {
    let queue = broker.queue(false).await;
    let bodies = numbered(&queue, 500);
    broker.publish(&queue, &bodies).await;
    let function = Function::ok().await;
    let (name, mut sluice) = start(
        broker,
        &queue,
        None,
        &function,
        "batch: {size: 10, window: 100ms}\n",
    );
    all_arrive(&function, broker, &bodies).await;
    wait_for("500 acks", LIMIT, || async {
        metric(&sluice, "sluice_acked_messages_total", &name, "").await == 500.0
    })
    .await;
    assert_eq!(duplicates(&function, broker, &bodies), 0);
    assert_eq!(
        metric(&sluice, "sluice_source_messages_total", &name, "").await,
        500.0
    );
    finish(broker, &queue, &mut sluice).await;
}

/// Two records reported in `batchItemFailures` once: only they are delivered again.
pub async fn partial_failure_retries_only_the_failed(broker: &dyn Broker) {
    let queue = broker.queue(false).await;
    let bodies = numbered(&queue, 20);
    let failing: HashSet<String> = [bodies[3].clone(), bodies[7].clone()].into();
    let failed_once = Arc::new(Mutex::new(HashSet::new()));
    let (body_of, f) = (broker_body(broker), failed_once.clone());
    let function = Function::start(0, move |event| {
        let mut failures = Vec::new();
        for r in records(event) {
            let body = body_of(r);
            if failing.contains(&body) && f.lock().unwrap().insert(body) {
                failures.push(json!({"itemIdentifier": message_id(r)}));
            }
        }
        (200, json!({"batchItemFailures": failures}).to_string())
    })
    .await;
    broker.publish(&queue, &bodies).await;
    let (name, mut sluice) = start(
        broker,
        &queue,
        None,
        &function,
        "batch: {size: 20, window: 1s}\nreport_batch_item_failures: true\nretry: {max_attempts: 3, backoff: {initial: 100ms, max: 1s}}\n",
    );
    all_arrive(&function, broker, &bodies).await;
    wait_for("the two failed records delivered again", LIMIT, || async {
        let counts = seen(&function, broker);
        counts.get(&bodies[3]) == Some(&2) && counts.get(&bodies[7]) == Some(&2)
    })
    .await;
    let counts = seen(&function, broker);
    for (i, b) in bodies.iter().enumerate() {
        let expected = if i == 3 || i == 7 { 2 } else { 1 };
        assert_eq!(counts.get(b), Some(&expected), "{b}");
    }
    assert_eq!(
        metric(&sluice, "sluice_retried_messages_total", &name, "").await,
        2.0
    );
    finish(broker, &queue, &mut sluice).await;
}

/// The body extractor of a broker, for a function's answer closure.
fn broker_body(broker: &dyn Broker) -> impl Fn(&Value) -> String + Send + Sync + 'static {
    let key = broker.body_key();
    move |r: &Value| match key {
        "body" => r["body"].as_str().unwrap_or("").to_owned(),
        _ => decode_data(r),
    }
}

/// A function that fails every batch holding `poison` (reporting only it when `partial`).
async fn failing_on(broker: &dyn Broker, poison: String) -> Function {
    let body_of = broker_body(broker);
    Function::start(0, move |event| {
        let failures: Vec<Value> = records(event)
            .into_iter()
            .filter(|r| body_of(r) == poison)
            .map(|r| json!({"itemIdentifier": message_id(r)}))
            .collect();
        (200, json!({"batchItemFailures": failures}).to_string())
    })
    .await
}

/// A record that always fails is retried `retry.max_attempts` times, then goes to Sluice's
/// `dead_letter` destination; the rest are delivered.
pub async fn retry_then_dead_letter_target(broker: &dyn Broker) {
    let queue = broker.queue(false).await;
    let bodies = numbered(&queue, 30);
    let poison = bodies[11].clone();
    let function = failing_on(broker, poison.clone()).await;
    let dead_letters = Function::ok().await;
    broker.publish(&queue, &bodies).await;
    let extra = format!(
        "batch: {{size: 10, window: 200ms}}\nreport_batch_item_failures: true\nretry: {{max_attempts: 3, backoff: {{initial: 100ms, max: 500ms}}}}\ndead_letter:\n  http:\n    url: {}\n",
        dead_letters.url()
    );
    let (name, mut sluice) = start(broker, &queue, None, &function, &extra);
    all_arrive(&function, broker, &bodies).await;
    wait_for("the poison at the dead-letter function", LIMIT, || async {
        seen(&dead_letters, broker).contains_key(&poison)
    })
    .await;
    assert_eq!(
        seen(&function, broker).get(&poison),
        Some(&3),
        "three attempts, then the dead-letter destination"
    );
    assert_eq!(seen(&dead_letters, broker).len(), 1, "only the poison");
    assert_eq!(sluice.dead_lettered(&name, "dead_letter").await, 1.0);
    finish(broker, &queue, &mut sluice).await;
}

/// Without a `dead_letter` destination, a record that always fails ends in the broker's own
/// dead-letter path (a poison ack, a reject without requeue, or SQS's redrive policy).
pub async fn retry_then_broker_dead_letter(broker: &dyn Broker) {
    let queue = broker.queue(true).await;
    let bodies = numbered(&queue, 30);
    let poison = bodies[5].clone();
    let function = failing_on(broker, poison.clone()).await;
    broker.publish(&queue, &bodies).await;
    let (_, mut sluice) = start(
        broker,
        &queue,
        None,
        &function,
        "batch: {size: 10, window: 200ms}\nreport_batch_item_failures: true\nretry: {max_attempts: 2, backoff: {initial: 100ms, max: 500ms}}\n",
    );
    all_arrive(&function, broker, &bodies).await;
    let dead = broker.broker_dead_lettered(&queue, 1).await;
    assert_eq!(dead, vec![poison.clone()], "the poison, and only it");
    assert!(seen(&function, broker)[&poison] >= 2);
    finish(broker, &queue, &mut sluice).await;
}

/// A record larger than `batch.max_bytes` on its own is never sent: it takes the broker's
/// dead-letter path at once, counted as dropped; the others are delivered.
pub async fn oversize_goes_to_the_dead_letter_path(broker: &dyn Broker) {
    let queue = broker.queue(true).await;
    let mut bodies = numbered(&queue, 20);
    let big = format!("{}-big-{}", queue.tag, "x".repeat(8 * 1024));
    broker.publish(&queue, &bodies[..10]).await;
    broker.publish(&queue, std::slice::from_ref(&big)).await;
    broker.publish(&queue, &bodies[10..]).await;
    let function = Function::ok().await;
    let (name, mut sluice) = start(
        broker,
        &queue,
        None,
        &function,
        "batch: {size: 10, window: 200ms, max_bytes: 4KiB}\n",
    );
    all_arrive(&function, broker, &bodies).await;
    assert_eq!(
        broker.broker_dead_lettered(&queue, 1).await,
        vec![big.clone()]
    );
    assert!(!seen(&function, broker).contains_key(&big));
    assert!(
        metric(
            &sluice,
            "sluice_dropped_messages_total",
            &name,
            "reason=\"oversize\""
        )
        .await
            >= 1.0
    );
    bodies.push(big);
    finish(broker, &queue, &mut sluice).await;
}

/// A filter passes matching records; the rest are acknowledged, counted, and never sent.
pub async fn filter_acknowledges_what_it_drops(broker: &dyn Broker) {
    let queue = broker.queue(false).await;
    let all: Vec<String> = (0..40)
        .map(|i| {
            let kind = if i % 4 == 0 { "keep" } else { "drop" };
            json!({"kind": kind, "n": i, "q": queue.tag}).to_string()
        })
        .collect();
    let kept: Vec<String> = all.iter().step_by(4).cloned().collect();
    broker.publish(&queue, &all).await;
    let function = Function::ok().await;
    let extra = format!(
        "filter:\n  - {{\"{}\": {{\"kind\": [\"keep\"]}}}}\nbatch: {{size: 10, window: 100ms}}\n",
        broker.body_key()
    );
    let (name, mut sluice) = start(broker, &queue, None, &function, &extra);
    all_arrive(&function, broker, &kept).await;
    wait_for("30 filtered", LIMIT, || async {
        metric(&sluice, "sluice_filtered_messages_total", &name, "").await == 30.0
    })
    .await;
    assert_eq!(
        seen(&function, broker).len(),
        kept.len(),
        "only kept records"
    );
    finish(broker, &queue, &mut sluice).await;
}

/// A pipe streaming `n` messages into a function that takes `per_batch` over each batch, once
/// `first` of them have arrived: the moment a fault scenario strikes.
struct Streaming {
    queue: Queue,
    bodies: Vec<String>,
    function: Function,
    name: String,
    sluice: Sluice,
}

async fn streaming(
    broker: &dyn Broker,
    n: usize,
    per_batch: Duration,
    via: Option<&str>,
    first: usize,
) -> Streaming {
    let queue = broker.queue(false).await;
    let bodies = numbered(&queue, n);
    broker.publish(&queue, &bodies).await;
    let function = Function::start_slow(0, per_batch, |_| (200, String::new())).await;
    let (name, sluice) = start(
        broker,
        &queue,
        via,
        &function,
        "batch: {size: 10, window: 50ms}\n",
    );
    wait_for("a first part delivered", LIMIT, || async {
        distinct(&function, broker, &bodies) >= first
    })
    .await;
    Streaming {
        queue,
        bodies,
        function,
        name,
        sluice,
    }
}

impl Streaming {
    /// Everything arrived after the fault struck at `at_fault` delivered; the count is shown.
    async fn all_arrived(&self, broker: &dyn Broker, what: &str, at_fault: usize) {
        all_arrive(&self.function, broker, &self.bodies).await;
        assert!(at_fault < self.bodies.len(), "{what} struck mid-stream");
        eprintln!(
            "{} {what}: after {at_fault} of {}, {} duplicates",
            broker.kind(),
            self.bodies.len(),
            duplicates(&self.function, broker, &self.bodies)
        );
    }
}

/// SIGKILL mid-stream, then a new process: everything arrives, nothing is left.
pub async fn sigkill_then_restart_loses_nothing(broker: &dyn Broker) {
    let mut run = streaming(broker, 400, Duration::from_millis(20), None, 100).await;
    run.sluice.kill();
    let at_kill = distinct(&run.function, broker, &run.bodies);
    run.sluice.restart();
    run.all_arrived(broker, "SIGKILL", at_kill).await;
    finish(broker, &run.queue, &mut run.sluice).await;
}

/// SIGTERM with batches in flight: they finish and are acknowledged, the rest goes back, and
/// a new process delivers it without a single duplicate.
pub async fn drain_on_sigterm(broker: &dyn Broker) {
    let queue = broker.queue(false).await;
    let bodies = numbered(&queue, 200);
    broker.publish(&queue, &bodies).await;
    let function =
        Function::start_slow(0, Duration::from_millis(300), |_| (200, String::new())).await;
    let (_, mut sluice) = start(
        broker,
        &queue,
        None,
        &function,
        "batch: {size: 10, window: 50ms}\nconcurrency: 2\n",
    );
    wait_for("a first part delivered", LIMIT, || async {
        distinct(&function, broker, &bodies) >= 20
    })
    .await;
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    let at_stop = distinct(&function, broker, &bodies);
    assert!(at_stop < bodies.len(), "stopped mid-stream");
    sluice.restart();
    all_arrive(&function, broker, &bodies).await;
    assert_eq!(
        duplicates(&function, broker, &bodies),
        0,
        "what was delivered before SIGTERM was acknowledged"
    );
    finish(broker, &queue, &mut sluice).await;
}

/// A fault on the source connection (through a proxy) while records flow: healed, nothing
/// lost. With `noticed`, the fault must show as a source connection error first (a reset
/// HTTP call may be retried inside the SQS client without Sluice seeing it).
async fn source_fault(broker: &dyn Broker, what: &str, fault: impl Fn(&FaultProxy), noticed: bool) {
    let proxy = FaultProxy::start(broker.addr()).await;
    let via = proxy.host_port();
    let mut run = streaming(broker, 400, Duration::from_millis(5), Some(&via), 100).await;
    fault(&proxy);
    let at_fault = distinct(&run.function, broker, &run.bodies);
    if noticed {
        wait_for("the fault noticed", LIMIT, || async {
            run.sluice.connection_errors(&run.name, "source").await >= 1.0
        })
        .await;
    }
    proxy.heal();
    run.all_arrived(broker, what, at_fault).await;
    wait_for("ready again", LIMIT, || async { run.sluice.ready().await }).await;
    finish(broker, &run.queue, &mut run.sluice).await;
}

/// The connection to the broker is cut (reset, refused until healed).
pub async fn network_cut_loses_nothing(broker: &dyn Broker) {
    source_fault(broker, "network cut", FaultProxy::cut, true).await;
}

/// The connection is reset halfway through a frame from the broker.
pub async fn reset_mid_frame_loses_nothing(broker: &dyn Broker) {
    let noticed = broker.notices_every_reset();
    source_fault(
        broker,
        "reset mid-frame",
        FaultProxy::reset_mid_frame,
        noticed,
    )
    .await;
}

/// A batch is in flight when the connection is lost: its acknowledgements belong to the old
/// connection and are skipped as stale (where settlements belong to a connection), and the
/// broker delivers those records again.
pub async fn stale_acks_after_a_reconnect_are_skipped(broker: &dyn Broker) {
    let queue = broker.queue(false).await;
    let bodies = numbered(&queue, 30);
    broker.publish(&queue, &bodies).await;
    let proxy = Arc::new(FaultProxy::start(broker.addr()).await);
    let in_call = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (p, flag) = (proxy.clone(), in_call.clone());
    // The first call cuts the source connection and answers only once the source has
    // connected again (a new connection through the proxy): its acks are then of an old
    // connection for certain.
    let function = Function::start(0, move |_| {
        if !flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // This answer runs on a runtime worker: tell tokio it blocks, so that the proxy's
            // tasks (woken here) run elsewhere meanwhile.
            tokio::task::block_in_place(|| {
                let before = p.connections();
                p.cut();
                std::thread::sleep(Duration::from_millis(100));
                p.heal();
                let deadline = std::time::Instant::now() + LIMIT;
                while p.connections() <= before && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        (200, String::new())
    })
    .await;
    let (name, mut sluice) = start(
        broker,
        &queue,
        Some(&proxy.host_port()),
        &function,
        "batch: {size: 10, window: 100ms}\n",
    );
    all_arrive(&function, broker, &bodies).await;
    if broker.settles_by_connection() {
        wait_for("the first batch's acks skipped as stale", LIMIT, || async {
            metric(&sluice, "sluice_stale_settlements_total", &name, "").await >= 1.0
        })
        .await;
        wait_for("the first batch delivered again", LIMIT, || async {
            duplicates(&function, broker, &bodies) >= 1
        })
        .await;
    } else {
        wait_for("every record settled", LIMIT, || async {
            metric(&sluice, "sluice_acked_messages_total", &name, "").await >= 30.0
        })
        .await;
        assert_eq!(
            metric(&sluice, "sluice_stale_settlements_total", &name, "").await,
            0.0,
            "receipts outlive connections"
        );
    }
    finish(broker, &queue, &mut sluice).await;
}

/// The broker restarts mid-stream: the source reconnects and nothing is lost.
pub async fn broker_restart_loses_nothing(broker: &dyn Broker) {
    let mut run = streaming(broker, 2_000, Duration::from_millis(20), None, 200).await;
    broker.restart().await;
    let at_restart = distinct(&run.function, broker, &run.bodies);
    run.all_arrived(broker, "restart", at_restart).await;
    wait_for("reconnected", LIMIT, || async { run.sluice.ready().await }).await;
    assert!(run.sluice.connection_errors(&run.name, "source").await >= 1.0);
    finish(broker, &run.queue, &mut run.sluice).await;
}

/// While a slow function holds batches: the broker's backlog excludes what Sluice holds, the
/// records held show as in flight, and the oldest age grows; once drained, all three read 0.
pub async fn reports_backlog_inflight_and_age(broker: &dyn Broker) {
    let queue = broker.queue(false).await;
    let bodies = numbered(&queue, 100);
    broker.publish(&queue, &bodies).await;
    let function =
        Function::start_slow(0, Duration::from_millis(700), |_| (200, String::new())).await;
    let (name, mut sluice) = start(
        broker,
        &queue,
        None,
        &function,
        "batch: {size: 5, window: 0s}\nconcurrency: 1\n",
    );
    const GAUGES: [&str; 3] = [
        "sluice_source_backlog_messages",
        "sluice_source_inflight_messages",
        "sluice_oldest_message_age_seconds",
    ];
    let held = Mutex::new(Vec::new());
    wait_for("a backlog beside what Sluice holds", LIMIT, || async {
        let g = sluice.pipe_metrics(&name, &GAUGES).await;
        let (backlog, inflight, age) = (g[0], g[1], g[2]);
        *held.lock().unwrap() = g;
        backlog > 0.0 && inflight > 0.0 && backlog + inflight <= 100.0 && age > 0.0
    })
    .await;
    eprintln!(
        "{}: backlog, in flight, oldest age while held: {:?}",
        broker.kind(),
        held.lock().unwrap()
    );
    all_arrive(&function, broker, &bodies).await;
    wait_for("backlog, in flight and age back to 0", LIMIT, || async {
        sluice.pipe_metrics(&name, &GAUGES).await == [0.0; 3]
    })
    .await;
    finish(broker, &queue, &mut sluice).await;
}

/// Three replicas of one pipe compete for the queue: each takes part, and a rolling restart
/// (SIGTERM one at a time, a new one started in its place) under a steady publisher loses
/// nothing. Duplicates are counted and reported, not failed: a drain settles what it delivered,
/// but a record handed back at shutdown may come again to another replica.
pub async fn replicas_share_the_queue_and_survive_a_rolling_restart(broker: &dyn Broker) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let queue = broker.queue(false).await;
    let function =
        Function::start_slow(0, Duration::from_millis(10), |_| (200, String::new())).await;
    let name = unique("p").to_lowercase();
    let pipe = format!(
        "name: {name}\n{}target:\n  http:\n    url: {}\n    timeout: 30s\nbatch: {{size: 10, window: 20ms}}\n",
        broker.source(&queue, None),
        function.url()
    );
    let mut replicas: Vec<Sluice> = (0..3).map(|_| Sluice::start(&pipe)).collect();
    let published = Mutex::new(Vec::new());
    let restarted = AtomicBool::new(false);
    let publisher = async {
        let mut n = 0;
        // At least 300 messages, and on until the last replica was replaced.
        while n < 300 || !restarted.load(Ordering::Relaxed) {
            let chunk: Vec<String> = (n..n + 20)
                .map(|i| format!("{}-{i:05}", queue.tag))
                .collect();
            broker.publish(&queue, &chunk).await;
            published.lock().unwrap().extend(chunk);
            n += 20;
            // Pacing, so that the load spans the restarts; nothing waits on it.
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    };
    let restarts = async {
        wait_for("every replica acknowledged messages", LIMIT, || async {
            let mut all = true;
            for r in &replicas {
                all &= r.acked(&name).await > 0.0;
            }
            all
        })
        .await;
        let mut spread = Vec::new();
        for r in &replicas {
            spread.push(r.acked(&name).await);
        }
        eprintln!(
            "{}: acknowledged by each replica before the restart: {spread:?}",
            broker.kind()
        );
        for (i, replica) in replicas.iter_mut().enumerate() {
            let logs = replica.logs();
            assert_eq!(replica.terminate(), Some(0), "replica {i} exit:\n{logs}");
            *replica = Sluice::start(&pipe);
            let new = &*replica;
            wait_for("the new replica took over work", LIMIT, || async {
                new.acked(&name).await > 0.0
            })
            .await;
        }
        restarted.store(true, Ordering::Relaxed);
    };
    tokio::join!(publisher, restarts);
    let bodies = published.into_inner().unwrap();
    all_arrive(&function, broker, &bodies).await;
    eprintln!(
        "{}: {} messages through a rolling restart of 3 replicas, {} duplicates",
        broker.kind(),
        bodies.len(),
        duplicates(&function, broker, &bodies)
    );
    for r in &mut replicas {
        assert_eq!(r.terminate(), Some(0), "exit on SIGTERM:\n{}", r.logs());
    }
    until_empty(broker, &queue).await;
}
