//! Network faults between Sluice and the SQS server (moto), injected by the fault proxy: a cut
//! mid-stream (receives and deletes fail, then resume) and a reset mid-answer. Every message
//! is counted at the function: none lost, duplicates counted and printed.

use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::proxy::FaultProxy;
use sluice_tests::sqs::{LIMIT, Sqs, assert_drained, bodies, endpoint, name, pipe};
use sluice_tests::{unique, wait_for};
use std::net::SocketAddr;
use std::time::Duration;

/// `lasting`: the fault lasts until healed, and the pipe must report it meanwhile.
async fn fault(what: &str, lasting: bool, inject: impl Fn(&FaultProxy)) {
    let sqs = Sqs::connect().await;
    let url = sqs.queue(&unique("sfault"), &[]).await;
    let total = 300;
    sqs.send(&url, &bodies("m", total), None).await;
    let server: SocketAddr = endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("SLUICE_SQS_URL is http://IP:PORT");
    let proxy = FaultProxy::start(server).await;
    let function =
        Function::start_slow(0, Duration::from_millis(20), |_| (200, String::new())).await;
    let name = name();
    let mut sluice = Sluice::start(
        &pipe(&name, &url, &function.url(), "batch: {size: 10}\n").replace(
            &format!("endpoint_url: {}", endpoint()),
            &format!("endpoint_url: http://{}", proxy.host_port()),
        ),
    );
    wait_for("a first part delivered", LIMIT, || async {
        function.distinct() >= 50
    })
    .await;
    inject(&proxy);
    if lasting {
        wait_for("the fault reported", LIMIT, || async {
            !sluice.ready().await
        })
        .await;
    }
    let at_fault = function.distinct();
    proxy.heal();
    wait_for(&format!("{what}: all delivered"), LIMIT, || async {
        function.distinct() == total
    })
    .await;
    wait_for("ready again", LIMIT, || async { sluice.ready().await }).await;
    eprintln!(
        "{what}: {total} messages, fault after {at_fault}, 0 lost, {} duplicates, {} failed settlements",
        function.duplicates(),
        sluice
            .pipe_metric("sluice_ack_errors_total", &name, "")
            .await
    );
    assert_drained(&sqs, &url, &mut sluice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_network_cut_loses_nothing() {
    fault("sqs cut", true, FaultProxy::cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_reset_mid_answer_loses_nothing() {
    fault("sqs reset", false, FaultProxy::reset_mid_frame).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_to_a_target_down_for_a_while_loses_nothing() {
    let sqs = Sqs::connect().await;
    let url = sqs.queue(&unique("tdown"), &[]).await;
    let total = 300;
    sqs.send(&url, &bodies("m", total), None).await;
    let function = Function::ok().await;
    let proxy = FaultProxy::start(function.addr).await;
    let name = name();
    let mut sluice = Sluice::start(&pipe(
        &name,
        &url,
        &format!("http://{}/", proxy.host_port()),
        "batch: {size: 10}\n",
    ));
    wait_for("a first part delivered", LIMIT, || async {
        function.distinct() >= 50
    })
    .await;
    proxy.cut();
    wait_for("the target waited for", LIMIT, || async {
        sluice.connection_errors(&name, "target").await >= 10.0
    })
    .await;
    proxy.heal();
    wait_for("all delivered", LIMIT, || async {
        function.distinct() == total
    })
    .await;
    eprintln!(
        "sqs, target down: {total} messages, 0 lost, {} duplicates",
        function.duplicates()
    );
    assert_drained(&sqs, &url, &mut sluice).await;
}
