//! ActiveMQ's own Java client, for the OpenWire tests: `tests/java/Jms.java` (compiled once
//! per test process with the jars the Debian package ships) and the `activemq producer` tool.
//! Brokers: the shared one (`scripts/activemq.sh`, OpenWire port `SLUICE_ACTIVEMQ_PORT`,
//! default 61616) and private ones the fault tests start.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

const JARS: &str = "/usr/share/activemq/lib/*";

/// The shared broker's OpenWire port (`SLUICE_ACTIVEMQ_PORT`).
pub fn openwire_port() -> u16 {
    std::env::var("SLUICE_ACTIVEMQ_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(61616)
}

/// The shared broker's OpenWire URL.
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
    produce_with(url, queue, count, prefix, "full").await
}

/// Only the `count` persistent text messages `PREFIX-i` (fault tests count on persistence).
pub async fn produce_plain(url: &str, queue: &str, count: usize, prefix: &str) {
    produce_with(url, queue, count, prefix, "plain").await
}

async fn produce_with(url: &str, queue: &str, count: usize, prefix: &str, mode: &'static str) {
    let (url, queue, prefix) = (url.to_owned(), queue.to_owned(), prefix.to_owned());
    tokio::task::spawn_blocking(move || {
        java(&["produce", &url, &queue, &count.to_string(), &prefix, mode]);
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

/// Messages in a queue (stored, dispatched ones included until acknowledged), from the
/// broker's statistics plugin: what is left, without a quiet period.
pub async fn queue_size(url: &str, queue: &str) -> u64 {
    let (url, queue) = (url.to_owned(), queue.to_owned());
    tokio::task::spawn_blocking(move || {
        let line = java(&["stats", &url, &queue]);
        let stats: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("statistics of {queue}: {e}: {line}"));
        stats["size"].as_u64().unwrap_or(u64::MAX)
    })
    .await
    .expect("the statistics thread")
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

/// A broker of the test's own (`scripts/activemq.sh` with private ports and data), for tests
/// that stop, kill or fail over brokers without disturbing the others. Stopped when dropped.
pub struct PrivateBroker {
    /// Its OpenWire port.
    pub port: u16,
    /// OpenWire over TLS, when started with [`PrivateBroker::start_tls`].
    pub ssl_port: Option<u16>,
    /// Its STOMP port.
    pub stomp_port: u16,
    run_dir: PathBuf,
    users: Option<String>,
    /// Queues (an ActiveMQ wildcard) the users may read; None: every queue.
    readable: Option<String>,
}

impl PrivateBroker {
    /// Start a fresh broker; `users` ("name:password,...") turns authentication on.
    pub fn start(users: Option<&str>) -> PrivateBroker {
        PrivateBroker::launch(users, None, None)
    }

    /// With authentication (`users`), where the users may read only the queues `readable`
    /// (an ActiveMQ wildcard, `allowed.>`) names: consuming from another is refused.
    pub fn start_readable(users: &str, readable: &str) -> PrivateBroker {
        PrivateBroker::launch(Some(users), None, Some(readable))
    }

    /// Also OpenWire over TLS, with a self-signed certificate ([`PrivateBroker::certificate`]).
    pub fn start_tls() -> PrivateBroker {
        PrivateBroker::launch(None, Some(crate::free_port()), None)
    }

    /// The broker's certificate (PEM), for clients to trust.
    pub fn certificate(&self) -> PathBuf {
        self.run_dir.join("activemq").join("broker.pem")
    }

    fn launch(users: Option<&str>, ssl_port: Option<u16>, readable: Option<&str>) -> PrivateBroker {
        let port = crate::free_port();
        let base = std::env::var("SLUICE_RUN_DIR").unwrap_or_else(|_| "/tmp/sluice-run".into());
        let run_dir = PathBuf::from(base).join(format!("activemq-{port}"));
        let _ = std::fs::remove_dir_all(&run_dir);
        let broker = PrivateBroker {
            port,
            stomp_port: crate::free_port(),
            ssl_port,
            run_dir,
            users: users.map(str::to_owned),
            readable: readable.map(str::to_owned),
        };
        broker.script("start");
        broker
    }

    /// `tcp://127.0.0.1:PORT`, with credentials for the Java client when given.
    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Start it again after a stop or kill, on the same data (persistent messages survive).
    pub fn restart(&self) {
        self.script("start");
    }

    /// A clean shutdown.
    pub fn stop(&self) {
        self.script("stop");
    }

    /// SIGKILL to the broker's JVM.
    pub fn kill(&self) {
        let pid = self.script("pid");
        let status = Command::new("kill")
            .args(["-9", &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -9 {pid}");
        // Gone only once the JVM has exited and its ports are closed.
        let path = format!("/proc/{pid}");
        while std::path::Path::new(&path).exists() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn script(&self, action: &str) -> String {
        let mut cmd = activemq_sh(action);
        cmd.env("SLUICE_RUN_DIR", &self.run_dir)
            .env("SLUICE_ACTIVEMQ_PORT", self.port.to_string())
            .env("SLUICE_ACTIVEMQ_STOMP_PORT", self.stomp_port.to_string());
        if let Some(u) = &self.users {
            cmd.env("SLUICE_ACTIVEMQ_USERS", u);
        }
        if let Some(p) = self.ssl_port {
            cmd.env("SLUICE_ACTIVEMQ_SSL_PORT", p.to_string());
        }
        if let Some(r) = &self.readable {
            cmd.env("SLUICE_ACTIVEMQ_READABLE", r);
        }
        run(cmd, action)
    }
}

/// `scripts/activemq.sh ACTION` (the caller adds the environment of a private broker).
fn activemq_sh(action: &str) -> Command {
    let mut cmd = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/activemq.sh"
    ));
    cmd.arg(action);
    cmd
}

/// Run it; its output. A failed `stop` (nothing to stop) is not an error.
fn run(mut cmd: Command, action: &str) -> String {
    let out = cmd.output().expect("run scripts/activemq.sh");
    assert!(
        out.status.success() || action == "stop",
        "activemq.sh {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `scripts/activemq.sh ACTION` on the shared broker (`stop`, `start`, `pid`).
pub fn shared_broker(action: &str) -> String {
    run(activemq_sh(action), action)
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.script("stop");
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}
