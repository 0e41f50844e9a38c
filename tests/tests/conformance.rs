//! The conformance suite: every scenario of `sluice_tests::conformance::scenarios` for every
//! source. A new connector adds one `Broker` and one line below. The broker restart scenario
//! is in `conformance_restart.rs`, a test binary of its own, because a restart drops every
//! connection of every test running beside it.

macro_rules! conformance {
    ($module:ident, $broker:expr) => {
        mod $module {
            use sluice_tests::conformance::scenarios;
            #[allow(unused_imports)]
            use sluice_tests::conformance::*;

            macro_rules! scenario {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    #[ignore = "needs the brokers: scripts/test.sh starts them and runs it"]
                    async fn $name() {
                        scenarios::$name(&$broker).await;
                    }
                };
            }

            scenario!(delivers_exactly_once);
            scenario!(partial_failure_retries_only_the_failed);
            scenario!(retry_then_dead_letter_target);
            scenario!(retry_then_broker_dead_letter);
            scenario!(oversize_goes_to_the_dead_letter_path);
            scenario!(filter_acknowledges_what_it_drops);
            scenario!(sigkill_then_restart_loses_nothing);
            scenario!(drain_on_sigterm);
            scenario!(network_cut_loses_nothing);
            scenario!(reset_mid_frame_loses_nothing);
            scenario!(stale_acks_after_a_reconnect_are_skipped);
            scenario!(reports_backlog_inflight_and_age);
            scenario!(replicas_share_the_queue_and_survive_a_rolling_restart);
        }
    };
}

conformance!(rabbitmq, RabbitMq);
conformance!(activemq_stomp, ActiveMqStomp);
conformance!(activemq_openwire, ActiveMqOpenWire);
conformance!(sqs, SqsStandard);
