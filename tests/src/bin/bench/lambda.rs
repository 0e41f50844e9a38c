//! `--broker lambda`: the cost of the Runtime API path. The same preloaded RabbitMQ queue goes
//! to (1) an HTTP receiver that answers 200 (`target.http`), and (2) `target.runtime_api` with
//! `--workers` processes of `sluice-lambda-fn` (a `lambda_runtime` function decoding every
//! event with `aws_lambda_events`) polling it. Both with `batch.size: 100`, `concurrency: 4`;
//! messages/s from start to the last acknowledgement, and Sluice's CPU and peak RSS.

use super::preload;
use super::run::{acked, median};
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::process::binary;
use sluice_tests::{free_port, unique};
use std::time::{Duration, Instant};

struct Run {
    secs: f64,
    cpu: f64,
    rss: f64,
}

/// Run `sluice` on `target` (YAML under `target:`) with `workers` function processes polling
/// `runtime_port` when it is set.
async fn one(
    rabbit: &Rabbit,
    n: usize,
    size: usize,
    target: &str,
    workers: usize,
    runtime_port: Option<u16>,
) -> Run {
    let queue = unique("bench-lambda");
    preload(rabbit, &queue, n, size).await;
    let dir = std::env::temp_dir().join(unique("bench-lambda"));
    std::fs::create_dir_all(&dir).expect("dir");
    let pipe = dir.join("bench.yaml");
    std::fs::write(
        &pipe,
        format!(
            "name: bench\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n{target}batch: {{size: 100}}\nconcurrency: 4\n",
            url()
        ),
    )
    .expect("pipe");
    let admin = format!("127.0.0.1:{}", free_port());
    let start = Instant::now();
    let mut child = std::process::Command::new(binary())
        .args(["run", "--admin-addr", &admin])
        .arg(&pipe)
        .env("SLUICE_LOG", "warn,lapin=off")
        .spawn()
        .expect("spawn sluice");
    let mut fns = Vec::new();
    if let Some(port) = runtime_port {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let function = binary().with_file_name("sluice-lambda-fn");
        for _ in 0..workers {
            fns.push(
                std::process::Command::new(&function)
                    .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
                    .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                    .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
                    .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
                    .env("SLUICE_FN_LOG", "/dev/null")
                    .spawn()
                    .expect("spawn sluice-lambda-fn (cargo build --release -p sluice-lambda-fn)"),
            );
        }
    }
    while acked(&admin).await < n as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let (cpu, rss) = super::usage(child.id());
    let _ = std::process::Command::new("kill")
        .args(["-s", "TERM", "--", &child.id().to_string()])
        .status();
    let _ = child.wait();
    for mut f in fns {
        let _ = f.kill();
        let _ = f.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    rabbit.delete(&queue).await;
    Run { secs, cpu, rss }
}

fn line(name: &str, n: usize, r: &Run) {
    println!(
        "{name:<34} {:>7.0} msgs/s {:>7.3} sluice CPU s/1000 msgs {:>6.1} MiB peak RSS  ({n} msgs in {:.2}s)",
        n as f64 / r.secs,
        r.cpu / n as f64 * 1000.0,
        r.rss,
        r.secs
    );
}

pub(crate) async fn run(n: usize, size: usize, rounds: usize, workers: usize) {
    let rabbit = Rabbit::connect().await;
    println!(
        "RabbitMQ → function, {n} messages of {size} bytes per run, {workers} runtime_api workers, {rounds} rounds"
    );
    let (mut http, mut runtime) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // The HTTP receiver: a sink that answers 200 at once.
        let port = super::run::sink_port().await;
        let h = one(
            &rabbit,
            n,
            size,
            &format!("  http: {{url: 'http://127.0.0.1:{port}/'}}\n"),
            0,
            None,
        )
        .await;
        line(&format!("{round}: target.http (receiver)"), n, &h);
        let api = free_port();
        let r = one(
            &rabbit,
            n,
            size,
            &format!("  runtime_api: {{listen: '127.0.0.1:{api}'}}\n"),
            workers,
            Some(api),
        )
        .await;
        line(
            &format!("{round}: target.runtime_api ({workers} fn)"),
            n,
            &r,
        );
        http.push(n as f64 / h.secs);
        runtime.push(n as f64 / r.secs);
    }
    let (h, r) = (median(http), median(runtime));
    println!(
        "median: http {h:.0} msgs/s, runtime_api {r:.0} msgs/s, runtime_api/http {:.0} %",
        r / h * 100.0
    );
}
