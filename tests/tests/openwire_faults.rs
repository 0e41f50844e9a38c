//! OpenWire faults, each on brokers of its own: failover between two brokers, a broker
//! restarted mid-stream, SIGKILL of sluice mid-stream, and credentials the broker refuses; and
//! OpenWire over TLS, which needs a broker with a certificate.
//! Every message is counted: none lost, duplicates reported.

use base64::Engine;
use sluice_tests::function::{Function, records};
use sluice_tests::jms::{self, PrivateBroker};
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::collections::HashSet;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);

fn pipe(name: &str, url: &str, queue: &str, function_url: &str, login: &str) -> String {
    format!(
        "name: {name}\nsource:\n  activemq:\n    url: {url}\n    queues: [{queue}]\n{login}target:\n  http:\n    url: {function_url}\n    timeout: 10s\nbatch: {{size: 20, window: 50ms}}\n"
    )
}

/// Distinct bodies the function accepted that start with `prefix`.
fn accepted(function: &Function, prefix: &str) -> usize {
    let events = function.received.lock().unwrap().events.clone();
    let bodies: HashSet<String> = events
        .iter()
        .flat_map(|e| {
            records(e)
                .into_iter()
                .map(|r| {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(r["data"].as_str().unwrap_or(""))
                        .unwrap_or_default();
                    String::from_utf8_lossy(&raw).into_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    bodies.iter().filter(|b| b.starts_with(prefix)).count()
}

/// Records the function accepted, duplicates included.
fn delivered(function: &Function) -> usize {
    let events = function.received.lock().unwrap().events.clone();
    events.iter().map(|e| records(e).len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn failover_between_two_brokers_loses_nothing() {
    let (one, two) = (PrivateBroker::start(None), PrivateBroker::start(None));
    let queue = unique("fo");
    let (a, b) = (unique("a"), unique("b"));
    let per_broker = 1_000;
    jms::produce_plain(&one.url(), &queue, per_broker, &a).await;
    jms::produce_plain(&two.url(), &queue, per_broker, &b).await;
    // 100 records per 100 ms (5 batches of 20 in flight): the kill comes mid-stream.
    let function =
        Function::start_slow(0, Duration::from_millis(100), |_| (200, String::new())).await;
    let name = unique("p").to_lowercase();
    let url = format!("failover:({},{})?randomize=false", one.url(), two.url());
    let mut sluice = Sluice::start(&pipe(&name, &url, &queue, &function.url(), ""));
    wait_for("a first part from the first broker", LIMIT, || async {
        accepted(&function, &a) >= 100
    })
    .await;
    one.kill();
    eprintln!(
        "failover: first broker killed after {} of its messages",
        accepted(&function, &a)
    );
    wait_for("every message of the second broker", LIMIT, || async {
        accepted(&function, &b) == per_broker
    })
    .await;
    // The second broker's acks are written before it goes (an ack lost with it would be a
    // redelivery there, which this test could not see).
    wait_for("every delivery settled", LIMIT, || async {
        let settled = sluice.acked(&name).await
            + sluice
                .pipe_metric("sluice_stale_settlements_total", &name, "")
                .await;
        settled == delivered(&function) as f64
    })
    .await;
    one.restart();
    two.stop();
    // A SIGKILLed broker may lose acks it had not stored yet: those messages come back and
    // are delivered again (counted as duplicates). A marker sent after the restart queues
    // behind them, so once it arrives they have all been dispatched.
    let marker = unique("marker");
    jms::produce_plain(&one.url(), &queue, 1, &marker).await;
    wait_for(
        "the rest of the first broker's, after failing back",
        LIMIT,
        || async { accepted(&function, &a) == per_broker && accepted(&function, &marker) == 1 },
    )
    .await;
    eprintln!(
        "failover: {} messages, {} duplicate deliveries",
        2 * per_broker,
        function.duplicates()
    );
    assert_eq!(function.distinct(), 2 * per_broker + 1);
    // A clean shutdown settles everything delivered; anything left unacknowledged would be
    // back on its queue.
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert!(
        jms::consume(&one.url(), &queue, 10, 500, None)
            .await
            .is_empty(),
        "every delivery was acknowledged"
    );
    two.restart();
    assert!(
        jms::consume(&two.url(), &queue, 10, 500, None)
            .await
            .is_empty(),
        "the second broker's messages were acknowledged before it stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn refused_credentials_then_a_broker_restart_and_a_sigkill_lose_nothing() {
    let broker = PrivateBroker::start(Some("sluice:secret"));
    let producer_url = format!("{}?jms.userName=sluice&jms.password=secret", broker.url());
    let queue = unique("rs");
    let prefix = unique("m");
    let total = 2_000;
    jms::produce_plain(&producer_url, &queue, total, &prefix).await;
    let function =
        Function::start_slow(0, Duration::from_millis(10), |_| (200, String::new())).await;

    // A wrong password: reported as an authentication error, nothing consumed.
    let name = unique("p").to_lowercase();
    let wrong = "    username: sluice\n    password: wrong\n";
    let mut refused = Sluice::start(&pipe(&name, &broker.url(), &queue, &function.url(), wrong));
    wait_for(
        "the pipe reports the refused credentials",
        LIMIT,
        || async {
            match refused.get(&format!("/pipes/{name}")).await {
                Some((200, body)) => body.contains("EVENT_SOURCE_AUTHN_ERROR"),
                _ => false,
            }
        },
    )
    .await;
    assert!(!refused.ready().await, "not ready while refused");
    assert_eq!(refused.terminate(), Some(0), "{}", refused.logs());
    assert_eq!(accepted(&function, &prefix), 0);

    let right = "    username: sluice\n    password: secret\n";
    let config = pipe(&name, &broker.url(), &queue, &function.url(), right);
    let mut sluice = Sluice::start(&config);
    wait_for("a first part delivered", LIMIT, || async {
        accepted(&function, &prefix) >= 300
    })
    .await;
    broker.stop();
    eprintln!(
        "restart: broker stopped after {}",
        accepted(&function, &prefix)
    );
    broker.restart();
    wait_for("more after the restart", LIMIT, || async {
        accepted(&function, &prefix) >= 1_000
    })
    .await;
    sluice.kill();
    eprintln!(
        "restart: sluice killed after {}",
        accepted(&function, &prefix)
    );
    sluice.restart();
    wait_for("every message", LIMIT, || async {
        accepted(&function, &prefix) == total
    })
    .await;
    eprintln!(
        "restart and kill: {total} messages, {} duplicate deliveries",
        function.duplicates()
    );
    assert_eq!(function.distinct(), total);
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert!(
        jms::consume(&producer_url, &queue, 10, 500, None)
            .await
            .is_empty(),
        "every delivery was acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn ssl_urls_connect_over_tls_and_an_untrusted_certificate_is_refused() {
    let broker = PrivateBroker::start_tls();
    let ssl_port = broker.ssl_port.expect("a TLS port");
    let queue = unique("tls");
    let prefix = unique("t");
    jms::produce_plain(&broker.url(), &queue, 100, &prefix).await;
    let function = Function::ok().await;
    let url = format!("ssl://localhost:{ssl_port}");

    // Without the broker's certificate among the trusted roots: no connection, nothing lost.
    let name = unique("p").to_lowercase();
    let pipe = pipe(&name, &url, &queue, &function.url(), "");
    let untrusted_roots = std::env::temp_dir().join(unique("no-roots.pem"));
    std::fs::write(&untrusted_roots, "").unwrap();
    let mut refused = Sluice::start_env(
        &pipe,
        &[("SSL_CERT_FILE", untrusted_roots.to_str().unwrap())],
    );
    wait_for("the TLS failure reported", LIMIT, || async {
        refused.logs().contains("openwire connection failed")
    })
    .await;
    assert!(!refused.ready().await);
    assert!(
        refused.logs().contains("invalid peer certificate"),
        "{}",
        refused.logs()
    );
    assert_eq!(refused.terminate(), Some(0), "{}", refused.logs());
    assert_eq!(accepted(&function, &prefix), 0);

    let certificate = broker.certificate();
    let mut sluice = Sluice::start_env(&pipe, &[("SSL_CERT_FILE", certificate.to_str().unwrap())]);
    wait_for("every message over TLS", LIMIT, || async {
        accepted(&function, &prefix) == 100
    })
    .await;
    assert_eq!(function.duplicates(), 0);
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert!(
        jms::consume(&broker.url(), &queue, 10, 500, None)
            .await
            .is_empty()
    );
}
