//! Network faults on an SQS pipe's target, injected by the fault proxy. Faults between Sluice
//! and the SQS server (a cut, a reset mid-answer) are in the conformance suite
//! (`conformance.rs`). Every message is counted at the function: none lost, duplicates counted
//! and printed.

use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::proxy::FaultProxy;
use sluice_tests::sqs::{LIMIT, Sqs, assert_drained, bodies, name, pipe};
use sluice_tests::{unique, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS server (moto): scripts/test.sh starts it and runs this"]
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
