//! `bench --broker activemq`: Sluice against a bare STOMP consumer on the same ActiveMQ.
//!
//! Both drain N preloaded (non-persistent) messages of S bytes from a fresh queue. The bare
//! consumer subscribes with `client-individual` acks and a prefetch of 1000 and ACKs every
//! message without waiting, doing nothing else. Sluice runs an `activemq` (STOMP) source with
//! its defaults (batch 100, concurrency 5) to a local HTTP receiver that answers 200. The
//! broker's CPU per 1,000 messages is read from its JVM.

use super::run::{SluiceRun, report};
use super::usage;
use futures_util::{SinkExt, StreamExt};
use sluice_activemq::stomp::codec::{Frame, Item, Out, StompCodec};
use sluice_tests::stomp::{Client, activemq_port};
use sluice_tests::unique;
use std::time::Instant;
use tokio_util::codec::Framed;

pub(crate) struct Figures {
    pub(crate) secs: f64,
    pub(crate) broker_cpu: f64,
    pub(crate) process: Option<(f64, f64)>,
}

pub(crate) fn broker_cpu() -> f64 {
    let pid = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/activemq.sh"
    ))
    .arg("pid")
    .output()
    .ok()
    .and_then(|o| String::from_utf8(o.stdout).ok())
    .and_then(|s| s.trim().parse::<u32>().ok());
    pid.map_or(0.0, |p| usage(p).0)
}

pub(crate) fn line(name: &str, n: usize, f: &Figures) {
    let process = f.process.map_or(String::new(), |(cpu, rss)| {
        format!(
            "   {:.3} CPU s/1000 msgs {rss:.1} MiB peak RSS",
            cpu / n as f64 * 1000.0
        )
    });
    println!(
        "{name:<28} {:>7.0} msgs/s   broker {:.3} CPU s/1000 msgs ({n} msgs in {:.2}s){process}",
        n as f64 / f.secs,
        f.broker_cpu / n as f64 * 1000.0,
        f.secs
    );
}

pub(crate) async fn preload(n: usize, size: usize) -> String {
    let queue = unique("bench");
    let mut client = Client::connect(activemq_port(), None).await;
    let body = vec![b'x'; size];
    let headers = vec![("persistent".to_owned(), "false".to_owned())];
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let messages: Vec<_> = chunk
            .iter()
            .map(|_| (body.clone(), headers.clone()))
            .collect();
        client.send(&queue, &messages).await;
    }
    queue
}

async fn bare(n: usize, size: usize) -> Figures {
    let queue = preload(n, size).await;
    let before = broker_cpu();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", activemq_port()))
        .await
        .expect("connect");
    let mut conn = Framed::new(tcp, StompCodec::default());
    conn.send(Out::Frame(
        Frame::new("CONNECT")
            .header("accept-version", "1.2")
            .header("host", "localhost"),
    ))
    .await
    .expect("connect frame");
    let _ = conn.next().await;
    conn.send(Out::Frame(
        Frame::new("SUBSCRIBE")
            .header("id", "0")
            .header("destination", format!("/queue/{queue}"))
            .header("ack", "client-individual")
            .header("activemq.prefetchSize", "1000"),
    ))
    .await
    .expect("subscribe");
    let mut seen = 0;
    let mut first = None;
    while seen < n {
        match conn.next().await {
            Some(Ok(Item::Frame(f))) if f.command == "MESSAGE" => {
                first.get_or_insert_with(Instant::now);
                seen += 1;
                let ack = f.get("ack").unwrap_or_default().to_owned();
                conn.feed(Out::Frame(Frame::new("ACK").header("id", ack)))
                    .await
                    .expect("ack");
                if seen % 100 == 0 || seen == n {
                    conn.flush().await.expect("flush");
                }
            }
            Some(Ok(_)) => {}
            other => panic!("bare consumer: {other:?}"),
        }
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    let _ = conn.send(Out::Frame(Frame::new("DISCONNECT"))).await;
    Figures {
        secs,
        broker_cpu: broker_cpu() - before,
        process: None,
    }
}

async fn sluice(n: usize, size: usize) -> Figures {
    sluice_with(n, size, |queue| {
        format!(
            "  activemq:\n    protocol: stomp\n    url: stomp://127.0.0.1:{}\n    queues: [{queue}]\n",
            activemq_port()
        )
    })
    .await
}

/// Preload a queue and drain it with `sluice` (defaults) whose source is `source(queue)`.
pub(crate) async fn sluice_with(
    n: usize,
    size: usize,
    source: impl FnOnce(&str) -> String,
) -> Figures {
    let queue = preload(n, size).await;
    let source = source(&queue);
    let before = broker_cpu();
    let run = SluiceRun::start(
        b"\"messageID\"",
        |port| format!(
            "name: bench\nsource:\n{source}target:\n  http: {{url: 'http://127.0.0.1:{port}/'}}\n"
        ),
        &[("SLUICE_LOG", "warn".into())],
    )
    .await;
    let secs = run.wait_for(n).await;
    let process = run.usage();
    let broker = broker_cpu() - before;
    run.stop();
    Figures {
        secs,
        broker_cpu: broker,
        process: Some(process),
    }
}

pub(crate) async fn run(n: usize, size: usize, rounds: usize) {
    println!(
        "ActiveMQ STOMP at 127.0.0.1:{}, {n} messages of {size} bytes preloaded per run, {rounds} rounds alternating",
        activemq_port()
    );
    let (mut bare_rates, mut sluice_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let b = bare(n, size).await;
        line(&format!("{round}: bare stomp consumer"), n, &b);
        let s = sluice(n, size).await;
        line(&format!("{round}: sluice (defaults)"), n, &s);
        bare_rates.push(n as f64 / b.secs);
        sluice_rates.push(n as f64 / s.secs);
    }
    report("bare consumer", bare_rates, sluice_rates);
}
