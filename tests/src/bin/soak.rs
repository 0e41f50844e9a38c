//! The soak command (`scripts/soak.sh`): one `sluice` process with a pipe from each broker
//! (RabbitMQ, ActiveMQ over STOMP, ActiveMQ over OpenWire, SQS) to a local function, fed at a
//! fixed rate for a chosen time while faults are injected on a schedule through fault proxies
//! in front of every broker and every function. Every few seconds it samples the process's RSS,
//! open file descriptors and threads; at the end it drains, and prints a table and the final
//! counts per pipe: sent, delivered, duplicates, lost. Exit 1 if anything was lost.
//!
//!   soak [--minutes 30] [--rate 20] [--fault-every 60] [--sample-every 10]
//!
//! `--rate` is messages per second per pipe. A command that prints figures, not a timed test.

use sluice_tests::broker::{Rabbit, url as rabbit_url};
use sluice_tests::function::Function;
use sluice_tests::jms::openwire_port;
use sluice_tests::process::Sluice;
use sluice_tests::proxy::FaultProxy;
use sluice_tests::sqs::{Sqs, endpoint as sqs_endpoint};
use sluice_tests::stomp::{Client, activemq_port};
use sluice_tests::{arg, unique};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PIPES: [&str; 4] = ["rabbitmq", "stomp", "openwire", "sqs"];

/// One pipe of the soak: its broker's proxy, its function and its function's proxy, and how
/// many messages were sent to it.
struct Lane {
    name: &'static str,
    broker: FaultProxy,
    function: Function,
    target: FaultProxy,
    sent: Arc<AtomicU64>,
}

fn addr(host_port: &str) -> SocketAddr {
    host_port.parse().expect("an IP:port")
}

/// A fault: what it is called, which lanes it hits (`None`: all targets), how long it lasts.
struct Fault {
    label: &'static str,
    lane: Option<usize>,
    inject: fn(&FaultProxy),
    lasts: Duration,
    on_target: bool,
}

fn schedule() -> Vec<Fault> {
    let f = |label, lane, inject: fn(&FaultProxy), secs, on_target| Fault {
        label,
        lane,
        inject,
        lasts: Duration::from_secs(secs),
        on_target,
    };
    vec![
        f("cut rabbitmq", Some(0), FaultProxy::cut, 10, false),
        f(
            "black hole stomp",
            Some(1),
            FaultProxy::black_hole,
            15,
            false,
        ),
        f(
            "reset openwire",
            Some(2),
            FaultProxy::reset_mid_frame,
            1,
            false,
        ),
        f("cut sqs", Some(3), FaultProxy::cut, 10, false),
        f("cut every target", None, FaultProxy::cut, 20, true),
        f(
            "black hole rabbitmq",
            Some(0),
            FaultProxy::black_hole,
            30,
            false,
        ),
        f("cut openwire", Some(2), FaultProxy::cut, 10, false),
        f(
            "reset stomp",
            Some(1),
            FaultProxy::reset_mid_frame,
            1,
            false,
        ),
    ]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |name: &str, default: &str| -> u64 {
        arg(&args, name, default)
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a whole number"))
    };
    let minutes = num("--minutes", "30");
    let rate = num("--rate", "20").max(1);
    let fault_every = Duration::from_secs(num("--fault-every", "60").max(5));
    let sample_every = Duration::from_secs(num("--sample-every", "10").max(1));

    let rabbit = Rabbit::connect().await;
    let sqs = Sqs::connect().await;
    let rmq_queue = unique("soak");
    rabbit.queue(&rmq_queue, &[]).await;
    let stomp_queue = unique("soak-stomp");
    let ow_queue = unique("soak-ow");
    let sqs_url = sqs.queue(&unique("soak"), &[]).await;
    let rabbit_host = rabbit_url()
        .split('@')
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("host:port in SLUICE_RABBITMQ_URL")
        .to_owned();
    let sqs_host = sqs_endpoint().trim_start_matches("http://").to_owned();
    let upstreams = [
        addr(&rabbit_host),
        addr(&format!("127.0.0.1:{}", activemq_port())),
        addr(&format!("127.0.0.1:{}", openwire_port())),
        addr(sqs_host.trim_end_matches('/')),
    ];
    let mut lanes = Vec::new();
    for (name, upstream) in PIPES.iter().zip(upstreams) {
        let function = Function::ok().await;
        lanes.push(Lane {
            name,
            broker: FaultProxy::start(upstream).await,
            target: FaultProxy::start(function.addr).await,
            function,
            sent: Arc::new(AtomicU64::new(0)),
        });
    }
    let target = |i: usize| format!("http://{}/", lanes[i].target.host_port());
    let via = |i: usize| lanes[i].broker.host_port();
    let pipes = [
        format!(
            "name: soak-rabbitmq\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{rmq_queue}]\ntarget:\n  http: {{url: '{}', timeout: 5s}}\nbatch: {{size: 20, window: 100ms}}\n",
            rabbit_url().replace(&rabbit_host, &via(0)),
            target(0)
        ),
        format!(
            "name: soak-stomp\nsource:\n  activemq:\n    protocol: stomp\n    url: stomp://{}\n    queues: [{stomp_queue}]\n    heart_beat: 2s\ntarget:\n  http: {{url: '{}', timeout: 5s}}\nbatch: {{size: 20, window: 100ms}}\n",
            via(1),
            target(1)
        ),
        format!(
            "name: soak-openwire\nsource:\n  activemq:\n    url: tcp://{}\n    queues: [{ow_queue}]\ntarget:\n  http: {{url: '{}', timeout: 5s}}\nbatch: {{size: 20, window: 100ms}}\n",
            via(2),
            target(2)
        ),
        format!(
            "name: soak-sqs\nsource:\n  sqs:\n    queue_url: {sqs_url}\n    endpoint_url: http://{}\ntarget:\n  http: {{url: '{}', timeout: 5s}}\n",
            via(3),
            target(3)
        ),
    ];
    let mut sluice = Sluice::start(&pipes.join("---\n"));
    let pid = sluice.child.id();
    println!(
        "soak: {minutes} min, {rate} msg/s per pipe, a fault every {}s, sluice pid {pid}",
        fault_every.as_secs()
    );

    // Producers: one task per pipe, a burst of `rate` messages every second.
    let run_until = Instant::now() + Duration::from_secs(minutes * 60);
    let mut producers = Vec::new();
    {
        let sent = lanes[0].sent.clone();
        let queue = rmq_queue.clone();
        producers.push(tokio::spawn(async move {
            let rabbit = Rabbit::connect().await;
            every_second(run_until, |tick| {
                let (rabbit, queue, sent) = (&rabbit, &queue, &sent);
                async move {
                    let base = tick * rate;
                    rabbit
                        .publish_all(
                            queue,
                            (base..base + rate).map(|n| {
                                (
                                    lapin::BasicProperties::default()
                                        .with_message_id(format!("r-{n}").into()),
                                    format!("{{\"n\":{n}}}").into_bytes(),
                                )
                            }),
                        )
                        .await;
                    sent.fetch_add(rate, Ordering::Relaxed);
                }
            })
            .await;
        }));
    }
    for (lane, queue) in [(1usize, stomp_queue.clone()), (2, ow_queue.clone())] {
        let sent = lanes[lane].sent.clone();
        producers.push(tokio::spawn(async move {
            let mut client = Client::connect(activemq_port(), None).await;
            let mut tick = 0u64;
            while Instant::now() < run_until {
                let started = Instant::now();
                client
                    .send_numbered(&queue, &format!("t{tick}"), rate as usize)
                    .await;
                sent.fetch_add(rate, Ordering::Relaxed);
                tick += 1;
                tokio::time::sleep(Duration::from_secs(1).saturating_sub(started.elapsed())).await;
            }
        }));
    }
    {
        let sent = lanes[3].sent.clone();
        let url = sqs_url.clone();
        producers.push(tokio::spawn(async move {
            let sqs = Sqs::connect().await;
            every_second(run_until, |tick| {
                let (sqs, url, sent) = (&sqs, &url, &sent);
                async move {
                    let bodies: Vec<String> = (0..rate).map(|n| format!("s-{tick}-{n}")).collect();
                    sqs.send(url, &bodies, None).await;
                    sent.fetch_add(rate, Ordering::Relaxed);
                }
            })
            .await;
        }));
    }

    // Faults on a schedule, samples on another, until the time is up.
    let faults = schedule();
    let started = Instant::now();
    let mut next_fault = started + fault_every;
    let mut next_sample = started;
    let mut active: Option<(usize, Instant)> = None;
    let mut fault_n = 0usize;
    println!(
        "{:>6} {:>8} {:>5} {:>7} {:>9} {:>9} {:>5}  {:<27}  fault",
        "min",
        "rss_mib",
        "fds",
        "threads",
        "sent",
        "delivered",
        "dups",
        "behind (rmq stomp ow sqs)"
    );
    while Instant::now() < run_until {
        let now = Instant::now();
        if let Some((i, until)) = active
            && now >= until
        {
            heal(&lanes, &faults[i]);
            active = None;
        }
        if active.is_none() && now >= next_fault {
            let i = fault_n % faults.len();
            fault_n += 1;
            apply(&lanes, &faults[i]);
            active = Some((i, now + faults[i].lasts));
            next_fault = now + fault_every;
        }
        if now >= next_sample {
            sample(pid, started, &lanes, active.map(|(i, _)| faults[i].label));
            next_sample = now + sample_every;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Some((i, _)) = active {
        heal(&lanes, &faults[i]);
    }
    for p in producers {
        let _ = p.await;
    }

    // Drain: everything sent must arrive. A slow server (moto's receives take longer as its
    // queue grows) may take a while: wait as long as deliveries still progress, up to a
    // minute without progress.
    let mut progress_at = Instant::now();
    let mut seen = 0usize;
    while progress_at.elapsed() < Duration::from_secs(60)
        && lanes
            .iter()
            .any(|l| (l.function.distinct() as u64) < l.sent.load(Ordering::Relaxed))
    {
        let now: usize = lanes.iter().map(|l| l.function.distinct()).sum();
        if now > seen {
            seen = now;
            progress_at = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sample(pid, started, &lanes, Some("drained"));
    if lanes
        .iter()
        .any(|l| (l.function.distinct() as u64) < l.sent.load(Ordering::Relaxed))
    {
        // Not drained: what each pipe says, before it stops.
        if let Some((_, pipes)) = sluice.get("/pipes").await {
            println!("not drained; /pipes: {pipes}");
        }
        if let Some((_, metrics)) = sluice.get("/metrics").await {
            for l in metrics.lines().filter(|l| l.contains("soak-sqs")) {
                println!("{l}");
            }
        }
    }
    let code = sluice.terminate();
    println!();
    println!(
        "{:<10} {:>9} {:>9} {:>10} {:>6}",
        "pipe", "sent", "delivered", "duplicates", "lost"
    );
    let mut lost_total = 0u64;
    for l in &lanes {
        let sent = l.sent.load(Ordering::Relaxed);
        let delivered = l.function.distinct() as u64;
        let lost = sent.saturating_sub(delivered);
        lost_total += lost;
        println!(
            "{:<10} {sent:>9} {delivered:>9} {:>10} {lost:>6}",
            l.name,
            l.function.duplicates()
        );
    }
    println!("sluice exit code on SIGTERM: {code:?}; faults injected: {fault_n}");
    rabbit.delete(&rmq_queue).await;
    if lost_total > 0 || code != Some(0) {
        std::process::exit(1);
    }
}

/// Run `step(n)` once a second (n = 0, 1, ...) until `until`.
async fn every_second<F, Fut>(until: Instant, mut step: F)
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = 0u64;
    while Instant::now() < until {
        let started = Instant::now();
        step(tick).await;
        tick += 1;
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(started.elapsed())).await;
    }
}

fn proxies<'a>(lanes: &'a [Lane], f: &Fault) -> Vec<&'a FaultProxy> {
    let pick = |l: &'a Lane| if f.on_target { &l.target } else { &l.broker };
    match f.lane {
        Some(i) => vec![pick(&lanes[i])],
        None => lanes.iter().map(pick).collect(),
    }
}

fn apply(lanes: &[Lane], f: &Fault) {
    for p in proxies(lanes, f) {
        (f.inject)(p);
    }
}

fn heal(lanes: &[Lane], f: &Fault) {
    for p in proxies(lanes, f) {
        p.heal();
    }
}

/// One row: elapsed minutes, RSS, open fds, threads, totals, the fault in force.
fn sample(pid: u32, started: Instant, lanes: &[Lane], fault: Option<&str>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let sent: u64 = lanes.iter().map(|l| l.sent.load(Ordering::Relaxed)).sum();
    let delivered: usize = lanes.iter().map(|l| l.function.distinct()).sum();
    let dups: usize = lanes.iter().map(|l| l.function.duplicates()).sum();
    let behind: Vec<String> = lanes
        .iter()
        .map(|l| (l.sent.load(Ordering::Relaxed) as i64 - l.function.distinct() as i64).to_string())
        .collect();
    println!(
        "{:>6.1} {:>8.1} {fds:>5} {:>7} {sent:>9} {delivered:>9} {dups:>5}  {:<27}  {}",
        started.elapsed().as_secs_f64() / 60.0,
        field("VmRSS:") as f64 / 1024.0,
        field("Threads:"),
        behind.join(" "),
        fault.unwrap_or("-")
    );
}
