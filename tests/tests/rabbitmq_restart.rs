//! RabbitMQ restarted mid-stream: the pipe reconnects by itself and loses nothing. A test
//! binary of its own, because restarting the broker drops every test's connections.

use sluice_tests::broker::{Rabbit, rabbitmqctl, url};
use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipe_reconnects_after_a_broker_restart_and_loses_nothing() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("restart");
    rabbit.queue(&queue, &[]).await;
    let total = 3_000;
    rabbit.publish_numbered(&queue, "m", total).await;
    drop(rabbit);
    let function = Function::start(0, |_| {
        std::thread::sleep(Duration::from_millis(10));
        (200, String::new())
    })
    .await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http: {{url: '{}'}}\nbatch: {{size: 20, window: 50ms}}\n",
        url(),
        function.url()
    ));
    wait_for("a first part delivered", LIMIT, || async {
        function.distinct() >= 300
    })
    .await;
    rabbitmqctl(&["stop_app"]);
    let at_stop = function.distinct();
    rabbitmqctl(&["start_app"]);
    assert!(
        at_stop < total,
        "the restart landed mid-stream ({at_stop} of {total})"
    );
    wait_for(
        "every message delivered after the restart",
        LIMIT,
        || async { function.distinct() == total },
    )
    .await;
    let rabbit = Rabbit::connect().await;
    wait_for("the queue drained", LIMIT, || async {
        rabbit.ready(&queue).await == 0
    })
    .await;
    let errors = sluice.connection_errors(&name, "source").await;
    assert!(errors >= 1.0, "the lost connection was counted");
    wait_for("ready again", LIMIT, || async { sluice.ready().await }).await;
    eprintln!(
        "broker restart: {total} messages, {at_stop} before the restart, {} duplicates, {} stale settlements",
        function.duplicates(),
        sluice
            .pipe_metric("sluice_stale_settlements_total", &name, "")
            .await
    );
    assert_eq!(sluice.terminate(), Some(0));
    assert_eq!(rabbit.ready(&queue).await, 0);
    rabbit.delete(&queue).await;
}
