//! The broker restart scenario of the conformance suite, for every source whose broker can
//! restart without losing its queues (moto keeps SQS queues in memory, so SQS is not here).
//! A test binary of its own: a restart drops every connection of every test beside it, so the
//! tests here take turns.

use sluice_tests::conformance::{ActiveMqOpenWire, ActiveMqStomp, RabbitMq, scenarios};
use tokio::sync::Mutex;

static TURN: Mutex<()> = Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the brokers: scripts/test.sh starts them and runs it"]
async fn rabbitmq_broker_restart_loses_nothing() {
    let _turn = TURN.lock().await;
    scenarios::broker_restart_loses_nothing(&RabbitMq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the brokers: scripts/test.sh starts them and runs it"]
async fn activemq_stomp_broker_restart_loses_nothing() {
    let _turn = TURN.lock().await;
    scenarios::broker_restart_loses_nothing(&ActiveMqStomp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the brokers: scripts/test.sh starts them and runs it"]
async fn activemq_openwire_broker_restart_loses_nothing() {
    let _turn = TURN.lock().await;
    scenarios::broker_restart_loses_nothing(&ActiveMqOpenWire).await;
}
