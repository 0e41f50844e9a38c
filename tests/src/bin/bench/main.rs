//! The benchmark command (`scripts/bench.sh`): Sluice against the broker's ceiling.
//!
//! 1. Preload N messages of S bytes into a fresh queue and drain them with a bare lapin
//!    consumer in a child process (prefetch 1000, `multiple=true` ack every 250 deliveries, no
//!    other work): what RabbitMQ can deliver on this machine.
//! 2. Preload again and run the `sluice` release binary (`batch.size: 100`, `concurrency: 4`)
//!    to a local HTTP receiver that answers 200.
//!
//! For both it prints messages/s (first delivery to last acknowledgement), CPU seconds per
//! 1,000 messages and peak RSS, read from `/proc/PID`.
//!
//! `--broker sqs` measures SQS instead (`sqs.rs`): Sluice against a bare receive-delete loop
//! on the same server, in messages/s and SQS requests per message. `--broker activemq`
//! measures ActiveMQ over STOMP (`stomp.rs`) against a bare STOMP consumer; `--broker
//! openwire` ActiveMQ over OpenWire (`openwire.rs`) against ActiveMQ's own Java consumer. `--matcher`
//! measures filter patterns alone (`matcher.rs`), no broker. `--broker lambda` measures
//! `target.runtime_api` with `--workers` Rust functions against `target.http` (`lambda.rs`).
//! `--pipes N` measures N idle pipes in one process and 10 busy ones beside them, for any
//! `--broker` (`pipes.rs`). `--replicas K` measures 1..=K Sluice processes sharing one queue, for any `--broker`
//! (`replicas.rs`).

mod lambda;
mod latency;
mod matcher;
mod openwire;
mod pipes;
mod replicas;
mod run;
mod sqs;
mod stomp;

use run::{SluiceRun, median};

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sluice_tests::arg;
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::unique;
use std::time::Instant;

/// CPU seconds (user + system) and peak RSS in MiB of a process, from /proc.
pub(crate) fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (ticks / hz, hwm_kib / 1024.0)
}

/// Preload `n` persistent messages of `size` bytes.
pub(crate) async fn preload(rabbit: &Rabbit, queue: &str, n: usize, size: usize) {
    preload_mode(rabbit, queue, n, size, true).await
}

/// Preload `n` messages of `size` bytes, persistent or not (`--transient`).
async fn preload_mode(rabbit: &Rabbit, queue: &str, n: usize, size: usize, persistent: bool) {
    let mode = if persistent { 2 } else { 1 };
    rabbit.queue(queue, &[]).await;
    let pad = "x".repeat(size.saturating_sub(24));
    rabbit
        .publish_all(
            queue,
            (0..n).map(|i| {
                let body = format!("{{\"i\":{i:>10},\"p\":\"{pad}\"}}");
                (
                    BasicProperties::default()
                        .with_message_id(format!("m-{i}").into())
                        .with_delivery_mode(mode),
                    body.into_bytes(),
                )
            }),
        )
        .await;
}

/// A bare lapin consumer of `queue` with `prefetch`, on a connection of its own.
pub(crate) async fn consume(queue: &str, prefetch: u16) -> (Connection, lapin::Consumer) {
    let conn = Connection::connect(&url(), ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_qos(prefetch, BasicQosOptions::default())
        .await
        .expect("qos");
    let consumer = ch
        .basic_consume(
            queue.into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    (conn, consumer)
}

/// Child-process mode: consume `count` messages as fast as the broker allows, print a result line.
async fn bare_consumer(queue: &str, count: u64) {
    let (conn, mut consumer) = consume(queue, 1000).await;
    let mut seen = 0u64;
    let mut first = None;
    while let Some(d) = consumer.next().await {
        let d = d.expect("delivery");
        first.get_or_insert_with(Instant::now);
        seen += 1;
        if seen.is_multiple_of(250) || seen == count {
            d.acker
                .ack(BasicAckOptions { multiple: true })
                .await
                .expect("ack");
        }
        if seen == count {
            break;
        }
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    let _ = conn.close(200, "done".into()).await;
    // Its own CPU and peak RSS, read before exiting: sampling from outside can miss a short run.
    let (cpu, rss) = usage(std::process::id());
    println!("{secs} {cpu} {rss}");
}

struct Figures {
    secs: f64,
    cpu: f64,
    rss: f64,
    /// CPU seconds the broker spent in the same phase.
    broker_cpu: f64,
}

/// The pid of the RabbitMQ node (its Erlang VM), to account for the broker's CPU: of the
/// `beam.smp` processes (CLI tools run short-lived ones too), the one that used most CPU.
fn broker_pid() -> Option<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-f", "beam.smp"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .max_by(|a, b| usage(*a).0.total_cmp(&usage(*b).0))
}

fn broker_cpu() -> f64 {
    broker_pid().map_or(0.0, |p| usage(p).0)
}

fn line(name: &str, n: usize, f: &Figures) {
    println!(
        "{name:<30} {:>7.0} msgs/s {:>7.3} CPU s/1000 msgs {:>6.1} MiB peak RSS   broker {:.3} CPU s/1000 msgs   ({n} msgs in {:.2}s)",
        n as f64 / f.secs,
        f.cpu / n as f64 * 1000.0,
        f.rss,
        f.broker_cpu / n as f64 * 1000.0,
        f.secs
    );
}

async fn ceiling(rabbit: &Rabbit, n: usize, size: usize, persistent: bool) -> Figures {
    let queue = unique("bench-bare");
    preload_mode(rabbit, &queue, n, size, persistent).await;
    let broker_before = broker_cpu();
    let child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["bare", "--queue", &queue, "--count", &n.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn bare consumer");
    let out = child.wait_with_output().expect("bare consumer");
    let figures: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let (secs, cpu, rss) = match figures[..] {
        [secs, cpu, rss] => (secs, cpu, rss),
        _ => panic!("the bare consumer printed no figures"),
    };
    let broker_cpu = broker_cpu() - broker_before;
    rabbit.delete(&queue).await;
    Figures {
        secs,
        cpu,
        rss,
        broker_cpu,
    }
}

async fn sluice(
    rabbit: &Rabbit,
    n: usize,
    size: usize,
    persistent: bool,
    prefetch: Option<String>,
) -> Figures {
    let queue = unique("bench-sluice");
    preload_mode(rabbit, &queue, n, size, persistent).await;
    let broker_before = broker_cpu();
    let prefetch = prefetch
        .map(|p| format!("    prefetch: {p}\n"))
        .unwrap_or_default();
    let run = SluiceRun::start(
        b"\"basicProperties\"",
        |port| format!(
            "name: bench\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\n{prefetch}target:\n  http: {{url: 'http://127.0.0.1:{port}/'}}\nbatch: {{size: 100}}\nconcurrency: 4\n",
            url()
        ),
        &[("SLUICE_LOG", "warn,lapin=off".into())],
    )
    .await;
    let secs = run.wait_for(n).await;
    let (cpu, rss) = run.usage();
    let broker_cpu = broker_cpu() - broker_before;
    run.stop();
    rabbit.delete(&queue).await;
    Figures {
        secs,
        cpu,
        rss,
        broker_cpu,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("bare") {
        let count = arg(&args, "--count", "0").parse().expect("--count");
        bare_consumer(&arg(&args, "--queue", ""), count).await;
        return;
    }
    if args.iter().any(|a| a == "--latency") {
        let rates: Vec<usize> = arg(&args, "--rates", "1000,10000")
            .split(',')
            .map(|r| r.trim().parse().expect("--rates"))
            .collect();
        let secs = arg(&args, "--seconds", "10").parse().expect("--seconds");
        latency::run(&rates, secs).await;
        return;
    }
    if args.iter().any(|a| a == "--matcher") {
        matcher::run();
        return;
    }
    let broker = arg(&args, "--broker", "rabbitmq");
    if args.iter().any(|a| a == "--pipes") {
        let pipes = arg(&args, "--pipes", "1000").parse().expect("--pipes");
        let busy = arg(&args, "--busy", "10").parse().expect("--busy");
        let messages = arg(&args, "--messages", "5000")
            .parse()
            .expect("--messages");
        pipes::run(&broker, pipes, busy, messages).await;
        return;
    }
    if args.iter().any(|a| a == "--replicas") {
        let n = arg(
            &args,
            "--messages",
            if broker == "sqs" { "500" } else { "50000" },
        )
        .parse()
        .expect("--messages");
        let size = arg(&args, "--size", "1024").parse().expect("--size");
        let rounds = arg(&args, "--rounds", "3").parse().expect("--rounds");
        let max = arg(&args, "--replicas", "3").parse().expect("--replicas");
        replicas::run(&broker, n, size, max, rounds).await;
        return;
    }
    if broker == "activemq" || broker == "openwire" {
        let n = arg(&args, "--messages", "50000")
            .parse()
            .expect("--messages");
        let size = arg(&args, "--size", "1024").parse().expect("--size");
        let rounds = arg(&args, "--rounds", "3").parse().expect("--rounds");
        if broker == "openwire" {
            openwire::run(n, size, rounds).await;
        } else {
            stomp::run(n, size, rounds).await;
        }
        return;
    }
    if broker == "lambda" {
        let n = arg(&args, "--messages", "50000")
            .parse()
            .expect("--messages");
        let size = arg(&args, "--size", "1024").parse().expect("--size");
        let rounds = arg(&args, "--rounds", "3").parse().expect("--rounds");
        let workers = arg(&args, "--workers", "4").parse().expect("--workers");
        lambda::run(n, size, rounds, workers).await;
        return;
    }
    if arg(&args, "--broker", "rabbitmq") == "sqs" {
        let n = arg(&args, "--messages", "500").parse().expect("--messages");
        let rounds = arg(&args, "--rounds", "3").parse().expect("--rounds");
        sqs::run(n, rounds).await;
        return;
    }
    let n: usize = arg(&args, "--messages", "200000")
        .parse()
        .expect("--messages");
    let size: usize = arg(&args, "--size", "1024").parse().expect("--size");
    let rounds: usize = arg(&args, "--rounds", "3").parse().expect("--rounds");
    let prefetch = args
        .iter()
        .any(|a| a == "--prefetch")
        .then(|| arg(&args, "--prefetch", ""));
    let transient = args.iter().any(|a| a == "--transient");
    let rabbit = Rabbit::connect().await;
    println!(
        "RabbitMQ at {}, {n} {} messages of {size} bytes preloaded per run, {rounds} rounds alternating",
        url().replace("guest:guest@", ""),
        if transient { "transient" } else { "persistent" }
    );
    // The broker shares the machine with both consumers, so single runs vary by 10-20 %:
    // alternate the two and compare medians.
    let mut ratios = Vec::new();
    let (mut bare_rates, mut sluice_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let bare = ceiling(&rabbit, n, size, !transient).await;
        line(&format!("{round}: bare lapin (ceiling)"), n, &bare);
        let s = sluice(&rabbit, n, size, !transient, prefetch.clone()).await;
        line(&format!("{round}: sluice (batch 100, c=4)"), n, &s);
        bare_rates.push(n as f64 / bare.secs);
        sluice_rates.push(n as f64 / s.secs);
        ratios.push(bare.secs / s.secs);
    }
    println!(
        "median: ceiling {:.0} msgs/s, sluice {:.0} msgs/s, sluice/ceiling {:.0} % (rounds: {})",
        median(bare_rates),
        median(sluice_rates),
        median(ratios.clone()) * 100.0,
        ratios
            .iter()
            .map(|r| format!("{:.0} %", r * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
