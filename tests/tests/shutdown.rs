//! Shutdown is bounded: `--shutdown-timeout` bounds the whole exit even while a target never
//! answers, a second SIGTERM exits at once, and what was not delivered comes back from the
//! broker (RabbitMQ requeues it; SQS makes it visible again at once).

use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::sqs::{Sqs, bodies, name, pipe, queue_with_visibility};
use sluice_tests::{unique, wait_for};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// A function that takes far longer than any shutdown timeout.
async fn stuck() -> Function {
    Function::start_slow(0, Duration::from_secs(600), |_| (200, String::new())).await
}

fn signal(sluice: &Sluice, sig: &str) {
    Command::new("kill")
        .args([sig, &sluice.child.id().to_string()])
        .status()
        .expect("kill");
}

/// Exit code, waiting at most `LIMIT` (a failure, not a speed measurement, if it takes longer).
async fn exit_code(sluice: &mut Sluice) -> Option<i32> {
    let mut code = None;
    wait_for("sluice exited", LIMIT, || {
        let exited = sluice.child.try_wait().ok().flatten();
        if let Some(status) = exited {
            code = Some(status.code());
        }
        std::future::ready(exited.is_some())
    })
    .await;
    code.flatten()
}

/// A RabbitMQ queue of `n` messages and a sluice whose target never answers, with a batch in
/// flight (`Sluice::start` runs with `--shutdown-timeout 10s`; the target's timeout is 14m).
async fn stuck_pipe(prefix: &str, n: usize) -> (Rabbit, String, Function, Sluice) {
    let rabbit = Rabbit::connect().await;
    let queue = unique(prefix);
    rabbit.queue(&queue, &[]).await;
    rabbit.publish_numbered(&queue, "m", n).await;
    let function = stuck().await;
    let name = unique("p").to_lowercase();
    let sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http: {{url: '{}', timeout: 14m}}\nbatch: {{size: 10, window: 50ms}}\n",
        url(),
        function.url()
    ));
    wait_for("a batch in flight", LIMIT, || async {
        sluice
            .pipe_metric("sluice_inflight_batches", &name, "")
            .await
            >= 1.0
    })
    .await;
    (rabbit, queue, function, sluice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and the SQS server: scripts/test.sh starts them and runs this"]
async fn the_shutdown_timeout_bounds_the_exit_while_a_target_hangs() {
    let (rabbit, queue, _function, mut sluice) = stuck_pipe("bounded", 30).await;
    signal(&sluice, "-TERM");
    assert_eq!(exit_code(&mut sluice).await, Some(0), "{}", sluice.logs());
    assert!(
        sluice.logs().contains("shutdown timeout"),
        "{}",
        sluice.logs()
    );
    // Nothing was acknowledged: all 30 are back in the queue.
    wait_for("all 30 back in the queue", LIMIT, || async {
        rabbit.ready(&queue).await == 30
    })
    .await;
    rabbit.delete(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and the SQS server: scripts/test.sh starts them and runs this"]
async fn a_second_signal_exits_at_once() {
    let (rabbit, queue, _function, mut sluice) = stuck_pipe("second", 10).await;
    signal(&sluice, "-TERM");
    wait_for("draining", LIMIT, || async {
        sluice.logs().contains("a second signal exits at once")
    })
    .await;
    signal(&sluice, "-TERM");
    assert_eq!(exit_code(&mut sluice).await, Some(1));
    assert!(
        sluice
            .logs()
            .contains("second signal: exiting without draining"),
        "{}",
        sluice.logs()
    );
    wait_for("all 10 back in the queue", LIMIT, || async {
        rabbit.ready(&queue).await == 10
    })
    .await;
    rabbit.delete(&queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and the SQS server: scripts/test.sh starts them and runs this"]
async fn sqs_records_not_delivered_at_shutdown_are_visible_again_at_once() {
    let sqs = Sqs::connect().await;
    // A visibility timeout far longer than the test: only Sluice can make them visible.
    let url = queue_with_visibility(&sqs, "visible", 3600).await;
    sqs.send(&url, &bodies("m", 20), None).await;
    let function = stuck().await;
    let name = name();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url,
        &function.url(),
        "batch: {size: 10}\nconcurrency: 1\n",
    ));
    wait_for("a batch in flight", LIMIT, || async {
        sluice
            .pipe_metric("sluice_inflight_batches", &name, "")
            .await
            >= 1.0
    })
    .await;
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    wait_for("all 20 visible again", LIMIT, || async {
        sqs.depth(&url).await == (20, 0)
    })
    .await;
}
