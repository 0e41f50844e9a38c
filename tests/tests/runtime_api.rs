//! `target.runtime_api`: unchanged Lambda handlers under the official runtime interface
//! clients pull their batches from Sluice. Python's `awslambdaric` running a Powertools-based
//! handler, Node's `aws-lambda-ric` running an ES module handler, and Rust's `lambda_runtime`
//! running a function built on `aws_lambda_events`; every
//! message counted, including when a worker is killed while it holds a batch.

use lapin::BasicProperties;
use serde_json::Value;
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::lambda_libs::{Capture, Worker, function_log};
use sluice_tests::process::Sluice;
use sluice_tests::{free_port, sqs, unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn runtime_api_target(port: u16, extra: &str) -> String {
    format!(
        "target:\n  runtime_api:\n    listen: 127.0.0.1:{port}\n    timeout: 60s\nreport_batch_item_failures: true\nretry: {{backoff: {{initial: 100ms, max: 1s}}}}\n{extra}"
    )
}

/// Runtime clients exit when the API refuses them (a Deployment restarts them); wait until
/// Sluice listens.
async fn listening(port: u16) {
    wait_for("the Runtime API listening", LIMIT, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
}

async fn details(sluice: &Sluice, pipe: &str) -> Value {
    let (_, body) = sluice
        .get(&format!("/pipes/{pipe}"))
        .await
        .unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    v["target"]["details"].clone()
}

/// `total` messages `m-0`... with JSON bodies, except the bodies `special` gives by index.
async fn publish(rabbit: &Rabbit, queue: &str, total: usize, special: &[(usize, &str)]) {
    rabbit.queue(queue, &[]).await;
    let messages = (0..total).map(|i| {
        let body = special
            .iter()
            .find(|(at, _)| *at == i)
            .map_or_else(|| format!("{{\"n\":{i}}}"), |(_, b)| (*b).to_owned());
        (
            BasicProperties::default().with_message_id(format!("m-{i}").into()),
            body.into_bytes(),
        )
    });
    rabbit.publish_all(queue, messages).await;
}

/// A RabbitMQ pipe from `queue` to the Runtime API on `port` with invocation `timeout`.
fn rabbit_pipe(name: &str, queue: &str, port: u16, timeout: &str, extra: &str) -> String {
    let target =
        runtime_api_target(port, extra).replace("timeout: 60s", &format!("timeout: {timeout}"));
    format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\n{target}",
        url()
    )
}

/// A RabbitMQ queue preloaded by [`publish`], a pipe from it to the Runtime API (batches of
/// 10, concurrency 2) listening, and where the test function logs.
struct Run {
    rabbit: Rabbit,
    queue: String,
    name: String,
    sluice: Sluice,
    log: std::path::PathBuf,
    api: String,
    _capture: Capture,
}

impl Run {
    async fn start(prefix: &str, total: usize, special: &[(usize, &str)], timeout: &str) -> Run {
        let rabbit = Rabbit::connect().await;
        let queue = unique(prefix);
        publish(&rabbit, &queue, total, special).await;
        let port = free_port();
        let name = unique("p").to_lowercase();
        let batching = "batch: {size: 10, window: 50ms}\nconcurrency: 2\n";
        let sluice = Sluice::start(&rabbit_pipe(&name, &queue, port, timeout, batching));
        let capture = Capture::new(prefix);
        listening(port).await;
        Run {
            rabbit,
            queue,
            name,
            sluice,
            log: capture.dir.join("function.log"),
            api: format!("127.0.0.1:{port}"),
            _capture: capture,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and awslambdaric: scripts/test.sh installs and starts them"]
async fn python_handlers_under_awslambdaric_get_every_message_even_when_a_worker_is_killed() {
    let total = 300;
    // Both workers share 127.0.0.1, so the killed one's batch ends at its deadline (a pod
    // of its own would have lost all its connections and failed it at once): keep it short.
    let special = [(7, "fail-once"), (150, "hold-once")];
    let Run {
        rabbit,
        queue,
        name,
        mut sluice,
        log,
        api,
        _capture,
    } = Run::start("rt-py", total, &special, "5s").await;
    let mut workers = vec![
        Worker::python(&api, "py_handler.handler", &log),
        Worker::python(&api, "py_handler.handler", &log),
    ];
    // The worker holding m-150 sleeps; kill it while it holds the batch.
    wait_for("a worker holds m-150", LIMIT, || async {
        function_log(&log).1.iter().any(|l| l.starts_with("HOLD "))
    })
    .await;
    let (_, lines) = function_log(&log);
    let pid: u32 = lines
        .iter()
        .find_map(|l| l.strip_prefix("HOLD "))
        .and_then(|p| p.trim().parse().ok())
        .expect("HOLD pid");
    let held = workers
        .iter()
        .position(|w| w.child.id() == pid)
        .expect("the holding worker is ours");
    let mut killed = workers.remove(held);
    killed.child.kill().expect("kill the worker");
    let _ = killed.child.wait();
    wait_for(
        "every message delivered and acknowledged",
        LIMIT,
        || async {
            function_log(&log).0.len() == total && sluice.acked(&name).await == total as f64
        },
    )
    .await;
    let (per_id, lines) = function_log(&log);
    for i in 0..total {
        assert!(per_id.contains_key(&format!("m-{i}")), "m-{i} delivered");
    }
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!("runtime_api (awslambdaric): {total} messages, {duplicates} duplicate deliveries");
    assert!(
        sluice
            .pipe_metric("sluice_retried_messages_total", &name, "")
            .await
            >= 2.0,
        "m-7 (reported failed) and the killed worker's batch were retried"
    );
    let arn = format!("arn:aws:lambda:local:000000000000:function:{name}");
    for ctx in lines.iter().filter(|l| l.starts_with("CTX ")) {
        let parts: Vec<&str> = ctx.split(' ').collect();
        assert_eq!(parts.len(), 4, "{ctx}");
        assert_eq!(parts[1].len(), 36, "a request id: {ctx}");
        assert_eq!(parts[2], arn, "context.invoked_function_arn");
        let remaining: u64 = parts[3].parse().expect("remaining ms");
        assert!(
            remaining > 0 && remaining <= 5_000,
            "deadline from timeout: {ctx}"
        );
    }
    let d = details(&sluice, &name).await;
    assert!(d["workers"].as_u64() >= Some(1), "{d}");
    let ended =
        d["workers_lost"].as_u64().unwrap_or(0) + d["deadlines_missed"].as_u64().unwrap_or(0);
    assert!(ended >= 1, "the killed worker's batch: {d}");
    assert!(d["responses"].as_u64() >= Some(30), "{d}");
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert_eq!(rabbit.ready(&queue).await, 0);
}

/// 100 SQS messages, one of them `fail-once`, through the Runtime API to two workers made by
/// `worker`: every message delivered, the reported failure retried, the queue left empty.
async fn sqs_to_two_workers(prefix: &str, worker: impl Fn(&str, &std::path::Path) -> Worker) {
    let client = sqs::Sqs::connect().await;
    let queue = client.queue(&unique(prefix), &[]).await;
    let mut bodies = sqs::bodies("m", 100);
    bodies[42] = "fail-once".into();
    client.send(&queue, &bodies, None).await;
    let port = free_port();
    let name = sqs::name();
    let pipe = sqs::pipe(&name, &queue, "http://unused", "");
    let source = pipe.split("target:").next().expect("source part");
    let mut sluice = Sluice::start(&format!(
        "{source}{}",
        runtime_api_target(port, "batch: {size: 10}\nconcurrency: 2\n")
    ));
    let capture = Capture::new(prefix);
    let log = capture.dir.join("function.log");
    let api = format!("127.0.0.1:{port}");
    listening(port).await;
    let _workers = [worker(&api, &log), worker(&api, &log)];
    wait_for("every message acknowledged", LIMIT, || async {
        sluice.acked(&name).await == 100.0
    })
    .await;
    let (per_id, _) = function_log(&log);
    assert_eq!(per_id.len(), 100, "one line per message id");
    assert!(
        sluice
            .pipe_metric("sluice_retried_messages_total", &name, "")
            .await
            >= 1.0,
        "the record the handler reported failed was retried"
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    sqs::assert_empty(&client, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server: scripts/test.sh starts it and builds sluice-lambda-fn"]
async fn a_rust_function_under_lambda_runtime_gets_every_message_with_partial_failures() {
    sqs_to_two_workers("rt-rust", Worker::rust).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server and aws-lambda-ric: scripts/test.sh installs and starts them"]
async fn a_node_handler_under_aws_lambda_ric_gets_every_message_with_partial_failures() {
    sqs_to_two_workers("rt-node", |api, log| {
        Worker::node(api, "js_handler.handler", log)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and awslambdaric: scripts/test.sh installs and starts them"]
async fn a_handler_that_cannot_load_is_reported_as_an_init_error() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("rt-init");
    rabbit.queue(&queue, &[]).await;
    let port = free_port();
    let name = unique("p").to_lowercase();
    let sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\n{}",
        url(),
        runtime_api_target(port, "")
    ));
    let capture = Capture::new("rt-init");
    let log = capture.dir.join("function.log");
    listening(port).await;
    let _worker = Worker::python(&format!("127.0.0.1:{port}"), "no_such_module.handler", &log);
    wait_for("init_error in /pipes", LIMIT, || async {
        details(&sluice, &name).await["init_error"].is_string()
    })
    .await;
    let d = details(&sluice, &name).await;
    assert!(
        d["init_error"]
            .as_str()
            .unwrap_or("")
            .contains("no_such_module"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and awslambdaric: scripts/test.sh installs and starts them"]
async fn an_error_report_and_a_missed_deadline_fail_the_batch_and_it_is_retried() {
    let total = 40;
    let special = [(3, "raise-once"), (25, "slow-once")];
    let Run {
        rabbit,
        queue,
        name,
        mut sluice,
        log,
        api,
        _capture,
    } = Run::start("rt-err", total, &special, "2s").await;
    // Three workers: the one that overslept may leave when its late answer is refused.
    let _workers: Vec<Worker> = (0..3)
        .map(|_| Worker::python(&api, "py_handler.handler", &log))
        .collect();
    wait_for(
        "every message delivered and acknowledged",
        LIMIT,
        || async {
            function_log(&log).0.len() == total && sluice.acked(&name).await == total as f64
        },
    )
    .await;
    let d = details(&sluice, &name).await;
    assert!(d["function_errors"].as_u64() >= Some(1), "raise-once: {d}");
    assert!(d["deadlines_missed"].as_u64() >= Some(1), "slow-once: {d}");
    assert!(
        sluice
            .pipe_metric("sluice_target_requests_total", &name, "outcome=\"timeout\"")
            .await
            >= 1.0,
        "a missed deadline is a timeout"
    );
    assert!(
        sluice
            .pipe_metric("sluice_target_requests_total", &name, "outcome=\"error\"")
            .await
            >= 1.0,
        "an error report fails the batch"
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert_eq!(rabbit.ready(&queue).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and awslambdaric: scripts/test.sh installs and starts them"]
async fn a_changed_runtime_api_pipe_serves_again_on_the_same_address() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("rt-reload");
    rabbit.queue(&queue, &[]).await;
    let port = free_port();
    let name = unique("p").to_lowercase();
    let pipe = |window: &str| {
        format!(
            "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\n{}",
            url(),
            runtime_api_target(port, &format!("batch: {{size: 10, window: {window}}}\n"))
        )
    };
    let sluice = Sluice::start_dir(&[("pipe.yaml", &pipe("50ms"))]);
    let capture = Capture::new("rt-reload");
    let log = capture.dir.join("function.log");
    let api = format!("127.0.0.1:{port}");
    let publish = |from: usize| {
        (from..from + 20).map(|i| {
            (
                BasicProperties::default().with_message_id(format!("m-{i}").into()),
                format!("{{\"n\":{i}}}").into_bytes(),
            )
        })
    };
    listening(port).await;
    let worker = Worker::python(&api, "py_handler.handler", &log);
    rabbit.publish_all(&queue, publish(0)).await;
    wait_for("the first 20 delivered", LIMIT, || async {
        function_log(&log).0.len() == 20
    })
    .await;
    let before = details(&sluice, &name).await;
    std::fs::write(sluice.dir.join("pipe.yaml"), pipe("60ms")).expect("change the pipe");
    // The old pipe drains and lets go of the port; its worker loses its connection and exits,
    // as a pod's container would before Kubernetes restarts it.
    wait_for("the changed pipe running", LIMIT, || async {
        let (_, body) = sluice
            .get(&format!("/pipes/{name}"))
            .await
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        v["target"]["details"]["invocations"] == 0 && v["state"] == "Enabled"
    })
    .await;
    drop(worker);
    listening(port).await;
    let _worker = Worker::python(&api, "py_handler.handler", &log);
    rabbit.publish_all(&queue, publish(20)).await;
    wait_for("the next 20 delivered by the new pipe", LIMIT, || async {
        function_log(&log).0.len() == 40
    })
    .await;
    assert!(before["invocations"].as_u64() >= Some(2), "{before}");
}
