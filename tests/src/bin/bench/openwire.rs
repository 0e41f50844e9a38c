//! `bench --broker openwire`: Sluice's OpenWire source against ActiveMQ's own Java consumer
//! (`activemq consumer`, auto-acknowledge, one thread) on the same broker.
//!
//! Both drain N preloaded non-persistent messages of S bytes from a fresh queue. The Java
//! consumer's time is its command's wall time minus the same command's time for one message
//! (JVM start-up and connecting, measured each round). Sluice runs an `activemq` source with
//! its defaults (OpenWire, batch 100, concurrency 5) to a local HTTP receiver that answers 200.

use super::run::report;
use super::stomp::{Figures, broker_cpu, line, preload, sluice_with};
use sluice_tests::jms::openwire_url;
use std::time::Instant;

/// Wall seconds of `activemq consumer` reading `n` messages of `queue`.
fn java_consumer(queue: &str, n: usize) -> f64 {
    let started = Instant::now();
    let out = std::process::Command::new("activemq")
        .args(["consumer", "--brokerUrl", &openwire_url(), "--destination"])
        .arg(format!("queue://{queue}"))
        .args(["--messageCount", &n.to_string()])
        .output()
        .expect("activemq consumer runs");
    assert!(out.status.success(), "activemq consumer failed");
    started.elapsed().as_secs_f64()
}

async fn java(n: usize, size: usize) -> Figures {
    let one = preload(1, size).await;
    let startup = java_consumer(&one, 1);
    let queue = preload(n, size).await;
    let before = broker_cpu();
    let total = java_consumer(&queue, n);
    Figures {
        secs: (total - startup).max(0.001),
        broker_cpu: broker_cpu() - before,
        process: None,
    }
}

async fn sluice(n: usize, size: usize) -> Figures {
    sluice_with(n, size, |queue| {
        format!(
            "  activemq:\n    url: {}\n    queues: [{queue}]\n",
            openwire_url()
        )
    })
    .await
}

pub(crate) async fn run(n: usize, size: usize, rounds: usize) {
    println!(
        "ActiveMQ OpenWire at {}, {n} messages of {size} bytes preloaded per run, {rounds} rounds alternating",
        openwire_url()
    );
    let (mut java_rates, mut sluice_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let j = java(n, size).await;
        line(&format!("{round}: activemq consumer"), n, &j);
        let s = sluice(n, size).await;
        line(&format!("{round}: sluice openwire"), n, &s);
        java_rates.push(n as f64 / j.secs);
        sluice_rates.push(n as f64 / s.secs);
    }
    report("activemq consumer", java_rates, sluice_rates);
}
