//! Faults between Sluice and RabbitMQ, and between Sluice and its HTTP target, injected by
//! the fault proxy (`sluice_tests::proxy`) or by the function itself. Every test counts every
//! message at the function: none lost, duplicates counted and printed.

use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::{Answer, Function};
use sluice_tests::process::Sluice;
use sluice_tests::proxy::FaultProxy;
use sluice_tests::{unique, wait_for};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// RabbitMQ's address, from the test URL.
fn rabbit_addr() -> SocketAddr {
    let u = url();
    let host_port = u
        .split('@')
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("host:port in SLUICE_RABBITMQ_URL");
    host_port.parse().expect("an IP address and port")
}

/// The test URL, pointed at the proxy instead.
fn url_via(proxy: &FaultProxy) -> String {
    url().replace(&rabbit_addr().to_string(), &proxy.host_port())
}

fn pipe(name: &str, rabbit_url: &str, queue: &str, target_url: &str, extra: &str) -> String {
    format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {rabbit_url}\n    queues: [{queue}]\ntarget:\n  http: {{url: '{target_url}', timeout: 2s}}\nbatch: {{size: 20, window: 50ms}}\n{extra}"
    )
}

async fn queue_with(n: usize, prefix: &str) -> (Rabbit, String) {
    let rabbit = Rabbit::connect().await;
    let queue = unique(prefix);
    rabbit.queue(&queue, &[]).await;
    rabbit.publish_numbered(&queue, "m", n).await;
    (rabbit, queue)
}

/// Every message delivered, the queue empty after a clean stop; duplicates printed.
async fn assert_all_delivered(
    what: &str,
    function: &Function,
    total: usize,
    sluice: &mut Sluice,
    rabbit: &Rabbit,
    queue: &str,
) {
    wait_for(&format!("{what}: all {total} delivered"), LIMIT, || async {
        function.distinct() == total
    })
    .await;
    assert_eq!(sluice.terminate(), Some(0), "{what}: clean exit");
    assert_eq!(rabbit.ready(queue).await, 0, "{what}: queue empty");
    eprintln!(
        "{what}: {total} messages, 0 lost, {} duplicates",
        function.duplicates()
    );
    rabbit.delete(queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_target_down_longer_than_every_retry_loses_nothing() {
    let total = 200;
    let (rabbit, queue) = queue_with(total, "tdown").await;
    let function = Function::ok().await;
    let proxy = FaultProxy::start(function.addr).await;
    proxy.cut();
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url(),
        &queue,
        &format!("http://{}/", proxy.host_port()),
        "retry: {max_attempts: 3, backoff: {initial: 100ms, max: 1s}}\n",
    ));
    // Far more calls than retry.max_attempts allows, and nothing given up.
    wait_for("many calls to the unreachable target", LIMIT, || async {
        sluice.connection_errors(&name, "target").await >= 12.0
    })
    .await;
    let (status, body) = sluice.get("/readyz").await.expect("readyz");
    assert_eq!(status, 503, "not ready while the target is unreachable");
    assert!(body.contains(&name), "{body}");
    let (_, pipes) = sluice.get(&format!("/pipes/{name}")).await.expect("pipe");
    assert!(pipes.contains("Target unreachable"), "{pipes}");
    for destination in ["broker", "dead_letter"] {
        let given_up = sluice.dead_lettered(&name, destination).await;
        assert_eq!(given_up, 0.0, "nothing given up to {destination}");
    }
    assert_eq!(
        sluice
            .pipe_metric("sluice_target_messages_total", &name, "outcome=\"failed\"")
            .await,
        0.0,
        "an unreachable target is not a failed attempt"
    );
    proxy.heal();
    wait_for("ready again", LIMIT, || async { sluice.ready().await }).await;
    assert_all_delivered(
        "target down",
        &function,
        total,
        &mut sluice,
        &rabbit,
        &queue,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_429_with_an_absurd_retry_after_is_capped_and_the_pipe_goes_on() {
    let total = 60;
    let (rabbit, queue) = queue_with(total, "t429").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let function = Function::start_answering(0, Duration::ZERO, move |_| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            Answer {
                status: 429,
                headers: vec![("retry-after", u64::MAX.to_string())],
                body: String::new(),
            }
        } else {
            Answer {
                status: 200,
                headers: Vec::new(),
                body: String::new(),
            }
        }
    })
    .await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url(),
        &queue,
        &function.url(),
        "retry: {backoff: {initial: 100ms, max: 2s}}\n",
    ));
    wait_for("all delivered after the throttle", LIMIT, || async {
        function.distinct() == total
    })
    .await;
    assert_eq!(
        sluice
            .pipe_metric(
                "sluice_target_requests_total",
                &name,
                "outcome=\"throttled\""
            )
            .await,
        1.0
    );
    assert_eq!(
        sluice
            .pipe_metric("sluice_pipe_restarts_total", &name, "")
            .await,
        0.0
    );
    assert!(sluice.ready().await);
    assert_all_delivered("429", &function, total, &mut sluice, &rabbit, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_5xx_storm_and_slow_answers_lose_nothing() {
    let total = 200;
    let (rabbit, queue) = queue_with(total, "t5xx").await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    // Six calls fail with 500, the next three take longer than the 2s timeout, then all is well.
    let function = Function::start(0, move |_| match c.fetch_add(1, Ordering::SeqCst) {
        0..6 => (500, "storm".into()),
        6..9 => {
            std::thread::sleep(Duration::from_millis(2500));
            (200, String::new())
        }
        _ => (200, String::new()),
    })
    .await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url(),
        &queue,
        &function.url(),
        "retry: {max_attempts: 20, backoff: {initial: 100ms, max: 500ms}}\n",
    ));
    wait_for("all delivered after the storm", LIMIT, || async {
        function.distinct() == total
    })
    .await;
    let errors = sluice
        .pipe_metric("sluice_target_requests_total", &name, "outcome=\"error\"")
        .await;
    let timeouts = sluice
        .pipe_metric("sluice_target_requests_total", &name, "outcome=\"timeout\"")
        .await;
    assert_eq!(errors, 6.0);
    assert!(timeouts >= 1.0, "{timeouts} timeouts");
    assert_all_delivered("5xx storm", &function, total, &mut sluice, &rabbit, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_dead_letter_destination_that_refuses_for_good_hands_records_to_the_brokers_dlx() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("tdlx");
    let dlq = format!("{queue}-dlq");
    rabbit.queue(&dlq, &[]).await;
    rabbit
        .queue(
            &queue,
            &[
                ("x-dead-letter-exchange", ""),
                ("x-dead-letter-routing-key", &dlq),
            ],
        )
        .await;
    let total = 10;
    rabbit.publish_numbered(&queue, "m", total).await;
    let target = Function::start(0, |_| (500, "no".into())).await;
    let refusing = Function::start(0, |_| (400, "this destination takes nothing".into())).await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url(),
        &queue,
        &target.url(),
        &format!(
            "retry: {{max_attempts: 2, backoff: {{initial: 100ms, max: 200ms}}}}\ndead_letter:\n  http: {{url: '{}'}}\n",
            refusing.url()
        ),
    ));
    wait_for(
        "every record at the broker's dead-letter queue",
        LIMIT,
        || async { rabbit.ready(&dlq).await as usize == total },
    )
    .await;
    assert_eq!(sluice.dead_lettered(&name, "broker").await, total as f64);
    assert_eq!(sluice.terminate(), Some(0));
    assert_eq!(rabbit.ready(&queue).await, 0);
    rabbit.delete(&queue).await;
    rabbit.delete(&dlq).await;
}

/// A connection fault between Sluice and RabbitMQ, mid-stream, that the pipe must notice (a
/// lost connection).
async fn source_fault(what: &str, fault: impl Fn(&FaultProxy)) {
    source_fault_noticed(what, fault, true).await;
}

async fn source_fault_noticed(what: &str, fault: impl Fn(&FaultProxy), noticed: bool) {
    let total = 1_000;
    let (rabbit, queue) = queue_with(total, "sfault").await;
    let proxy = FaultProxy::start(rabbit_addr()).await;
    let function = Function::start(0, |_| {
        std::thread::sleep(Duration::from_millis(5));
        (200, String::new())
    })
    .await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&pipe(&name, &url_via(&proxy), &queue, &function.url(), ""));
    wait_for("a first part delivered", LIMIT, || async {
        function.distinct() >= 200
    })
    .await;
    fault(&proxy);
    let at_fault = function.distinct();
    if noticed {
        wait_for("the fault noticed", LIMIT, || async {
            sluice.connection_errors(&name, "source").await >= 1.0
        })
        .await;
    } else {
        wait_for("progress despite the fault", LIMIT, || async {
            function.distinct() >= at_fault + 200
        })
        .await;
    }
    proxy.heal();
    wait_for("ready again", LIMIT, || async { sluice.ready().await }).await;
    eprintln!("{what}: fault after {at_fault} of {total}");
    assert_all_delivered(what, &function, total, &mut sluice, &rabbit, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_black_holed_rabbitmq_connection_is_found_by_heartbeats() {
    source_fault("rabbitmq black hole", FaultProxy::black_hole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn added_latency_on_the_rabbitmq_connection_loses_nothing() {
    source_fault_noticed(
        "rabbitmq latency",
        |p| p.latency(Duration::from_millis(300)),
        false,
    )
    .await;
}
