//! ActiveMQ faults: a broker that stops answering (SIGSTOP) found out by heart-beats. A
//! separate test binary, because it takes the broker away from every test beside it. (The
//! broker restart is in the conformance suite, `conformance_restart.rs`.)

use sluice_tests::function::Function;
use sluice_tests::jms;
use sluice_tests::process::Sluice;
use sluice_tests::stomp::{Client, activemq_port};
use sluice_tests::{unique, wait_for};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn pipe(name: &str, queue: &str, function_url: &str) -> String {
    format!(
        "name: {name}\nsource:\n  activemq:\n    protocol: stomp\n    url: stomp://127.0.0.1:{}\n    queues: [{queue}]\n    heart_beat: 1s\ntarget:\n  http:\n    url: {function_url}\n    timeout: 10s\nbatch: {{size: 50, window: 50ms}}\n",
        activemq_port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ActiveMQ: scripts/test.sh starts it and runs this"]
async fn a_broker_that_stops_answering_is_found_by_heart_beats() {
    let queue = unique("frozen");
    let mut client = Client::connect(activemq_port(), None).await;
    client.send_numbered(&queue, "a", 50).await;
    drop(client);
    let function = Function::ok().await;
    let name = unique("p").to_lowercase();
    let mut sluice = Sluice::start(&pipe(&name, &queue, &function.url()));
    wait_for("the first 50", LIMIT, || async {
        function.distinct() == 50
    })
    .await;
    let pid = jms::shared_broker("pid");
    let signal = |s: &str| Command::new("kill").args([s, &pid]).status().expect("kill");
    signal("-STOP");
    // The TCP connection stays up; only the missing heart-beats tell.
    wait_for("the silence noticed", Duration::from_secs(30), || async {
        !sluice.ready().await
    })
    .await;
    signal("-CONT");
    let mut client = Client::connect(activemq_port(), None).await;
    client.send_numbered(&queue, "b", 50).await;
    wait_for("all 100 after the broker woke", LIMIT, || async {
        function.distinct() == 100
    })
    .await;
    wait_for("ready again", LIMIT, || async { sluice.ready().await }).await;
    assert!(
        sluice.logs().contains("heart-beats missed"),
        "{}",
        sluice.logs()
    );
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
    assert!(
        client
            .drain(&queue, Duration::from_millis(500))
            .await
            .is_empty()
    );
}
