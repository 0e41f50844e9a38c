//! Hostile input from RabbitMQ: header tables nested deeper than anyone needs (18,500 levels,
//! about what one 128 KiB AMQP frame holds), and large messages held while the target is down. Sluice neither
//! crashes nor grows without bound, and loses nothing.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::{Function, records};
use sluice_tests::process::Sluice;
use sluice_tests::proxy::FaultProxy;
use sluice_tests::{unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// A header table nested `depth` levels deep, built and later dropped on a thread with a
/// large stack (lapin writes and drops tables recursively).
fn nested(depth: usize) -> FieldTable {
    let mut table = FieldTable::default();
    table.insert("leaf".into(), AMQPValue::LongInt(1));
    for _ in 0..depth {
        let mut outer = FieldTable::default();
        outer.insert("n".into(), AMQPValue::FieldTable(table));
        table = outer;
    }
    table
}

fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("big-stack thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn deeply_nested_headers_are_cut_off_and_the_pipe_goes_on() {
    let stack = std::env::var("RUST_MIN_STACK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    assert!(
        stack >= 256 << 20,
        "publishing these tables needs RUST_MIN_STACK=268435456 (scripts/test.sh sets it)"
    );
    let queue = unique("nested");
    let q = queue.clone();
    // Publishing such a table recurses in lapin too: done on a thread of its own.
    on_big_stack(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                let rabbit = Rabbit::connect().await;
                rabbit.queue(&q, &[]).await;
                let mut messages = Vec::new();
                for (i, depth) in [0usize, 40, 2_000, 18_500].into_iter().enumerate() {
                    messages.push((
                        BasicProperties::default()
                            .with_message_id(format!("m-{i}").into())
                            .with_headers(nested(depth)),
                        format!("{{\"n\":{i}}}").into_bytes(),
                    ));
                }
                rabbit.publish_all(&q, messages).await;
            })
    });
    let function = Function::ok().await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http: {{url: '{}'}}\nbatch: {{size: 10, window: 200ms}}\n",
        url(),
        function.url()
    ));
    wait_for("all four delivered", LIMIT, || async {
        function.distinct() == 4
    })
    .await;
    let events = function.received.lock().unwrap().events.clone();
    let cut: usize = events
        .iter()
        .flat_map(records)
        .filter(|r| r.to_string().contains("(nested too deeply)"))
        .count();
    assert_eq!(cut, 3, "the three deeper than 32 levels are cut off");
    assert_eq!(
        sluice
            .pipe_metric("sluice_pipe_restarts_total", &name, "")
            .await,
        0.0
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    let rabbit = Rabbit::connect().await;
    assert_eq!(rabbit.ready(&queue).await, 0);
    rabbit.delete(&queue).await;
}

/// Peak resident memory of a process, MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn large_messages_held_while_the_target_is_down_stay_bounded_in_memory() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("big");
    rabbit.queue(&queue, &[]).await;
    let total = 300;
    let body = vec![b'x'; 1 << 20];
    rabbit
        .publish_all(
            &queue,
            (0..total).map(|i| {
                (
                    BasicProperties::default().with_message_id(format!("m-{i}").into()),
                    body.clone(),
                )
            }),
        )
        .await;
    let function = Function::ok().await;
    let proxy = FaultProxy::start(function.addr).await;
    proxy.cut();
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http: {{url: 'http://{}/'}}\nretry: {{backoff: {{initial: 100ms, max: 1s}}}}\n",
        url(),
        proxy.host_port()
    ));
    // Long after the pipe filled up: the runner's bounds and the prefetch hold the rest.
    wait_for("the target waited for many times", LIMIT, || async {
        sluice.connection_errors(&name, "target").await >= 15.0
    })
    .await;
    let held = sluice
        .pipe_metric("sluice_source_inflight_messages", &name, "")
        .await;
    let peak = peak_rss_mib(sluice.child.id());
    eprintln!(
        "1 MiB messages, target down: {held} records held by the runner, peak RSS {peak:.0} MiB"
    );
    assert!(held <= 100.0, "{held} records held by the runner");
    assert!(peak < 1024.0, "peak RSS {peak:.0} MiB");
    proxy.heal();
    wait_for("all delivered once the target is back", LIMIT, || async {
        function.distinct() == total
    })
    .await;
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert_eq!(rabbit.ready(&queue).await, 0);
    rabbit.delete(&queue).await;
}
