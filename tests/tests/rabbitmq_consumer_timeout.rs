//! RabbitMQ's `consumer_timeout` hit by records Sluice holds while its target is down: the
//! broker closes the channel, Sluice reconnects, the records come back and are delivered once
//! the target answers; their old settlements are counted as stale. A test binary of its own,
//! because the timeout is a broker-wide setting that would disturb other tests.

use sluice_tests::broker::{Rabbit, node, url};
use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::proxy::FaultProxy;
use sluice_tests::{unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);

fn set_consumer_timeout(ms: u64) {
    let status = std::process::Command::new("rabbitmqctl")
        .args(["-n", &node(), "eval"])
        .arg(format!(
            "application:set_env(rabbit, consumer_timeout, {ms})."
        ))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("rabbitmqctl");
    assert!(status.success(), "rabbitmqctl eval failed");
}

/// Puts RabbitMQ's default back however the test ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        set_consumer_timeout(30 * 60 * 1000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn records_held_past_the_consumer_timeout_come_back_and_are_delivered() {
    set_consumer_timeout(3_000);
    let _restore = Restore;
    let rabbit = Rabbit::connect().await;
    let queue = unique("ctimeout");
    rabbit.queue(&queue, &[]).await;
    let total = 20;
    rabbit.publish_numbered(&queue, "m", total).await;
    let function = Function::ok().await;
    let proxy = FaultProxy::start(function.addr).await;
    proxy.cut();
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http: {{url: 'http://{}/'}}\nbatch: {{size: 10, window: 50ms}}\nretry: {{backoff: {{initial: 100ms, max: 1s}}}}\n",
        url(),
        proxy.host_port()
    ));
    wait_for(
        "the broker closed the channel of the held records",
        LIMIT,
        || async { sluice.connection_errors(&name, "source").await >= 1.0 },
    )
    .await;
    proxy.heal();
    wait_for("all delivered", LIMIT, || async {
        function.distinct() == total
    })
    .await;
    let stale = sluice
        .pipe_metric("sluice_stale_settlements_total", &name, "")
        .await;
    eprintln!(
        "consumer_timeout: {total} messages, 0 lost, {} duplicates, {stale} stale settlements",
        function.duplicates()
    );
    assert_eq!(sluice.dead_lettered(&name, "broker").await, 0.0);
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert_eq!(rabbit.ready(&queue).await, 0);
    rabbit.delete(&queue).await;
}
