//! `bench --pipes N [--broker B] [--busy K] [--messages M]`: many pipes in one process.
//!
//! N pipes, each on a queue of its own on one broker, all to one local HTTP receiver. Prints
//! the time from start until every pipe is up (`sluice_pipe_up`), then over 10 idle seconds:
//! RSS, CPU (% of one core), threads and TCP connections to the broker. Then K more pipes are
//! added by writing their files (hot reload) on queues preloaded with M messages each, and it
//! prints how fast those K drain while the N stay idle.

use super::run::serve;
use sluice_tests::broker::{Rabbit, port as rabbit_port, url as rabbit_url};
use sluice_tests::jms::{openwire_port, openwire_url};
use sluice_tests::process::{binary, tcp_connections};
use sluice_tests::sqs::{Sqs, bodies, endpoint};
use sluice_tests::stomp::{Client, activemq_port};
use sluice_tests::{free_port, unique};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The broker the pipes read from.
enum Broker {
    Rabbit(Box<Rabbit>),
    Stomp,
    OpenWire,
    Sqs(Sqs),
}

impl Broker {
    async fn new(name: &str) -> Broker {
        match name {
            "rabbitmq" => Broker::Rabbit(Box::new(Rabbit::connect().await)),
            "activemq" => Broker::Stomp,
            "openwire" => Broker::OpenWire,
            "sqs" => Broker::Sqs(Sqs::connect().await),
            other => panic!("--broker {other}: rabbitmq, activemq, openwire or sqs"),
        }
    }

    fn port(&self) -> u16 {
        match self {
            Broker::Rabbit(_) => rabbit_port(),
            Broker::Stomp => activemq_port(),
            Broker::OpenWire => openwire_port(),
            Broker::Sqs(_) => endpoint()
                .rsplit_once(':')
                .and_then(|(_, p)| p.trim_end_matches('/').parse().ok())
                .unwrap_or(4566),
        }
    }

    /// Create the queue if the broker needs it; what the pipe names (an SQS URL, else the name).
    async fn create(&self, queue: &str) -> String {
        match self {
            Broker::Rabbit(r) => {
                r.queue(queue, &[]).await;
                queue.to_owned()
            }
            Broker::Sqs(s) => s.queue(queue, &[]).await,
            Broker::Stomp | Broker::OpenWire => queue.to_owned(),
        }
    }

    async fn preload(&self, queue: &str, n: usize) {
        match self {
            Broker::Rabbit(r) => r.publish_numbered(queue, "m", n).await,
            Broker::Sqs(s) => s.send(queue, &bodies("m", n), None).await,
            Broker::Stomp | Broker::OpenWire => {
                Client::connect(activemq_port(), None)
                    .await
                    .send_numbered(queue, "m", n)
                    .await
            }
        }
    }

    async fn delete(&self, queue: &str) {
        match self {
            Broker::Rabbit(r) => r.delete(queue).await,
            Broker::Sqs(s) => {
                let _ = s.client.delete_queue().queue_url(queue).send().await;
            }
            // ActiveMQ forgets an empty queue without consumers by itself only if told to;
            // the benchmark's queues are left (they are empty).
            Broker::Stomp | Broker::OpenWire => {}
        }
    }

    /// The `source:` block of a pipe on `queue`.
    fn source(&self, queue: &str) -> String {
        match self {
            Broker::Rabbit(_) => format!(
                "  rabbitmq:\n    url: {}\n    queues: [{queue}]\n",
                rabbit_url()
            ),
            Broker::Stomp => format!(
                "  activemq:\n    protocol: stomp\n    url: stomp://127.0.0.1:{}\n    queues: [{queue}]\n",
                activemq_port()
            ),
            Broker::OpenWire => format!(
                "  activemq:\n    url: {}\n    queues: [{queue}]\n",
                openwire_url()
            ),
            Broker::Sqs(_) => format!(
                "  sqs:\n    queue_url: {queue}\n    endpoint_url: {}\n",
                endpoint()
            ),
        }
    }

    /// A marker every record of this broker's event carries once.
    fn marker(&self) -> &'static [u8] {
        match self {
            Broker::Rabbit(_) => b"\"basicProperties\"",
            Broker::Stomp | Broker::OpenWire => b"\"messageID\"",
            Broker::Sqs(_) => b"\"receiptHandle\"",
        }
    }
}

/// One `/proc` reading of the process: (CPU seconds, RSS MiB, threads).
fn sample(pid: u32) -> (f64, f64, usize) {
    let (cpu, _) = super::usage(pid);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (cpu, field("VmRSS:") / 1024.0, field("Threads:") as usize)
}

/// Sum of a metric over the pipes whose name starts with `prefix`.
async fn sum(admin: &str, metric: &str, prefix: &str) -> f64 {
    let text = sluice_tests::http_get(admin, "/metrics")
        .await
        .map(|(_, t)| t)
        .unwrap_or_default();
    let head = format!("{metric}{{pipe=\"{prefix}");
    text.lines()
        .filter(|l| l.starts_with(&head))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn write_pipe(dir: &Path, name: &str, source: &str, port: u16) {
    let yaml = format!(
        "name: {name}\nsource:\n{source}target:\n  http: {{url: 'http://127.0.0.1:{port}/'}}\n"
    );
    // Written aside and renamed, so the watcher never reads half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, yaml).expect("pipe file");
    std::fs::rename(&tmp, dir.join(format!("{name}.yaml"))).expect("rename");
}

pub(crate) async fn run(broker: &str, pipes: usize, busy: usize, messages: usize) {
    let b = Broker::new(broker).await;
    let run = unique("pipes").to_lowercase();
    println!(
        "{pipes} {broker} pipes in one process (1 queue each), then {busy} more busy pipes with {messages} messages each"
    );
    let count = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let port = {
        let (count, first, marker) = (count.clone(), first.clone(), b.marker());
        serve(Arc::new(move |body: &[u8]| {
            first.lock().unwrap().get_or_insert_with(Instant::now);
            let n = memchr::memmem::find_iter(body, marker).count();
            count.fetch_add(n as u64, Ordering::Relaxed);
        }))
        .await
    };
    let dir = std::env::temp_dir().join(&run);
    std::fs::create_dir_all(&dir).expect("dir");
    let mut queues = Vec::new();
    for i in 0..pipes {
        let q = b.create(&format!("{run}-idle-{i}")).await;
        write_pipe(&dir, &format!("idle-{i}"), &b.source(&q), port);
        queues.push(q);
    }
    let mut busy_queues = Vec::new();
    for i in 0..busy {
        let q = b.create(&format!("{run}-busy-{i}")).await;
        b.preload(&q, messages).await;
        busy_queues.push(q);
    }

    let admin = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let mut child = std::process::Command::new(binary())
        .args(["run", "--admin-addr", &admin])
        .arg(&dir)
        .env("SLUICE_LOG", "warn,lapin=off")
        .envs(sluice_tests::sqs::child_env())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sluice");
    let pid = child.id();
    let limit = Duration::from_secs(300);
    loop {
        let up = sum(&admin, "sluice_pipe_up", "idle-").await;
        if up as usize >= pipes {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "only {up} of {pipes} pipes up after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = started.elapsed().as_secs_f64();
    let (cpu_ready, rss_ready, _) = sample(pid);
    println!(
        "start-up: all {pipes} pipes up in {ready:.2}s ({cpu_ready:.2} CPU s, {rss_ready:.1} MiB RSS then)"
    );
    // Settle, then measure 10 idle seconds.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu0, _, _) = sample(pid);
    let idle = Duration::from_secs(10);
    tokio::time::sleep(idle).await;
    let (cpu1, rss, threads) = sample(pid);
    let connections = tcp_connections(pid, b.port());
    println!(
        "idle: {rss:.1} MiB RSS, {:.2} % of a core, {threads} threads, {connections} connections to the broker",
        (cpu1 - cpu0) / idle.as_secs_f64() * 100.0
    );

    if busy > 0 {
        let (cpu_before, _, _) = sample(pid);
        for (i, q) in busy_queues.iter().enumerate() {
            write_pipe(&dir, &format!("busy-{i}"), &b.source(q), port);
        }
        let total = (busy * messages) as f64;
        let done = loop {
            if count.load(Ordering::Relaxed) as f64 >= total
                && sum(&admin, "sluice_acked_messages_total", "busy-").await >= total
            {
                break Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let secs = (done - first.lock().unwrap().expect("a first request")).as_secs_f64();
        let (cpu_after, rss_busy, threads_busy) = sample(pid);
        println!(
            "busy: {busy} pipes drained {total:.0} msgs at {:.0} msgs/s ({:.3} CPU s/1000 msgs, {rss_busy:.1} MiB RSS, {threads_busy} threads, {} connections)",
            total / secs,
            (cpu_after - cpu_before) / total * 1000.0,
            tcp_connections(pid, b.port())
        );
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    for q in queues.iter().chain(&busy_queues) {
        b.delete(q).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
