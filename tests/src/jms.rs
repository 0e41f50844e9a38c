//! ActiveMQ's own Java client, for the OpenWire tests: `tests/java/Jms.java` (compiled once
//! per test process with the jars the Debian package ships) and the `activemq producer` tool.
//! Brokers: the shared one (`scripts/activemq.sh`, OpenWire port `SLUICE_ACTIVEMQ_PORT`,
//! default 61616) and private ones the fault tests start.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

const JARS: &str = "/usr/share/activemq/lib/*";

pub fn openwire_port() -> u16 {
    std::env::var("SLUICE_ACTIVEMQ_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(61616)
}

pub fn openwire_url() -> String {
    format!("tcp://127.0.0.1:{}", openwire_port())
}

fn classes() -> &'static PathBuf {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sluice-jms-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the classes");
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/java/Jms.java");
        let out = Command::new("javac")
            .args(["-nowarn", "-cp", JARS, "-d"])
            .arg(&dir)
            .arg(source)
            .output()
            .expect("javac runs (scripts/activemq.sh installs a JDK)");
        assert!(
            out.status.success(),
            "javac failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn java(args: &[&str]) -> String {
    let cp = format!("{}:{JARS}", classes().display());
    let out = Command::new("java")
        .args(["-cp", &cp, "Jms"])
        .args(args)
        .output()
        .expect("java runs");
    assert!(
        out.status.success(),
        "java Jms {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `count` text messages `PREFIX-i` with a `test` property, then `PREFIX-full ...` (every JMS
/// header and a property of each primitive type, non-persistent, priority 7) and a bytes
/// message `00 01 02 ff 78`.
pub async fn produce(url: &str, queue: &str, count: usize, prefix: &str) {
    let (url, queue, prefix) = (url.to_owned(), queue.to_owned(), prefix.to_owned());
    tokio::task::spawn_blocking(move || {
        java(&["produce", &url, &queue, &count.to_string(), &prefix]);
    })
    .await
    .expect("the producer thread");
}

/// Read up to `max` messages (acknowledging them), stopping when none came for `wait_ms`.
/// One JSON object per message: `id`, `class` (text/bytes), `text` or `base64`, `persistent`,
/// `priority`, `correlationId`, `type`, `replyTo`, `redelivered`, `props` (`Type:value`).
pub async fn consume(
    url: &str,
    queue: &str,
    max: usize,
    wait_ms: u64,
    selector: Option<&str>,
) -> Vec<Value> {
    let (url, queue) = (url.to_owned(), queue.to_owned());
    let selector = selector.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let (max, wait) = (max.to_string(), wait_ms.to_string());
        let mut args = vec!["consume", &url, &queue, &max, &wait];
        if let Some(s) = &selector {
            args.push(s);
        }
        java(&args)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    })
    .await
    .expect("the consumer thread")
}

/// ActiveMQ's own command-line producer: `count` text messages `test message: i`.
pub async fn cli_producer(url: &str, queue: &str, count: usize) {
    let (url, queue) = (url.to_owned(), queue.to_owned());
    tokio::task::spawn_blocking(move || {
        let out = Command::new("activemq")
            .args(["producer", "--brokerUrl", &url, "--destination"])
            .arg(format!("queue://{queue}"))
            .args(["--messageCount", &count.to_string()])
            .output()
            .expect("activemq producer runs");
        assert!(
            out.status.success(),
            "activemq producer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await
    .expect("the producer thread");
}
