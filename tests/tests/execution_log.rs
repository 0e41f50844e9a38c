//! Per-pipe execution logs (`log.level`, `log.include_payload`) end to end: real RabbitMQ, an
//! HTTP function that fails some batches, the lines read back from the process's JSON log.

use serde_json::Value;
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::{Function, message_id, records};
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::time::Duration;

const SECRET: &str = "s3cr3t-token-value";

fn pipe(name: &str, queue: &str, function: &str, log: &str) -> String {
    format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http:\n    url: {function}\n    headers: {{Authorization: 'Bearer ${{env:EXEC_LOG_TOKEN}}'}}\nfilter:\n  - data: {{n: [{{numeric: ['<', 20]}}]}}\nbatch: {{size: 5, window: 50ms}}\nretry: {{max_attempts: 2, backoff: {{initial: 10ms, max: 20ms}}}}\n{log}",
        url()
    )
}

/// The execution-log lines of one pipe: (step, fields).
fn steps(logs: &str, pipe: &str) -> Vec<(String, Value)> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "sluice::execution" && l["fields"]["pipe"] == pipe)
        .map(|l| {
            (
                l["fields"]["step"].as_str().unwrap_or("").to_owned(),
                l["fields"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn each_step_is_logged_at_the_pipes_level_with_payloads_only_when_asked() {
    let rabbit = Rabbit::connect().await;
    // A function that fails every batch holding message m-7.
    let function = Function::start(0, |event| {
        if records(event).iter().any(|r| message_id(r) == "m-7") {
            (500, "boom".into())
        } else {
            (200, String::new())
        }
    })
    .await;
    let (q_info, q_error) = (unique("xlog-i"), unique("xlog-e"));
    let (info, error) = (unique("xi").to_lowercase(), unique("xe").to_lowercase());
    for q in [&q_info, &q_error] {
        rabbit.queue(q, &[]).await;
        // 20 pass the filter (n < 20), 5 are filtered out.
        rabbit.publish_numbered(q, "m", 25).await;
    }
    let sluice = Sluice::start_dir_env(
        &[
            (
                "info.yaml",
                &pipe(
                    &info,
                    &q_info,
                    &function.url(),
                    "log: {level: trace, include_payload: true}\n",
                ),
            ),
            ("error.yaml", &pipe(&error, &q_error, &function.url(), "")),
        ],
        &[("SLUICE_LOG_FORMAT", "json"), ("EXEC_LOG_TOKEN", SECRET)],
    );
    for (name, q) in [(&info, &q_info), (&error, &q_error)] {
        wait_for("every message settled", Duration::from_secs(60), || async {
            sluice.acked(name).await + sluice.dead_lettered(name, "broker").await == 25.0
                && rabbit.ready(q).await == 0
        })
        .await;
    }
    let logs = sluice.logs();
    assert!(!logs.contains(SECRET), "a secret reached the log");

    let traced = steps(&logs, &info);
    let named = |step: &str| {
        traced
            .iter()
            .filter(|(s, _)| s == step)
            .map(|(_, f)| f)
            .collect::<Vec<_>>()
    };
    let sum = |step: &str| {
        named(step)
            .iter()
            .map(|f| f["records"].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let names: Vec<&str> = traced.iter().map(|(s, _)| s.as_str()).collect();
    // Retries are held inside Sluice: nothing is received twice.
    assert_eq!(sum("received"), 25, "{names:?}");
    assert_eq!(sum("filtered"), 5);
    // m-7 fails twice (max_attempts 2), then goes to the broker's dead-letter path.
    assert!(named("target_failed").len() >= 2);
    assert!(named("target_failed").iter().all(
        |f| f["log_level"] == "ERROR" && f["error"].as_str().is_some_and(|e| e.contains("500"))
    ));
    assert_eq!(named("dead_lettered").len(), 1);
    assert_eq!(named("dead_lettered")[0]["destination"], "broker");
    assert!(!named("retried").is_empty());
    assert!(!named("target_started").is_empty());
    assert!(
        named("target_started")
            .iter()
            .all(|f| f["log_level"] == "TRACE" && f["batch"].as_u64().is_some())
    );
    // Every successful call started first, with the same batch id, and carried its records.
    for ok in named("target_succeeded") {
        assert!(
            named("target_started")
                .iter()
                .any(|s| s["batch"] == ok["batch"])
        );
        let payload: Value = serde_json::from_str(ok["payload"].as_str().unwrap()).unwrap();
        assert_eq!(
            payload.as_array().unwrap().len() as u64,
            ok["records"].as_u64().unwrap()
        );
    }
    assert!(
        named("target_failed")
            .iter()
            .all(|f| f.get("payload").is_none())
    );

    // The default level (error): failures only, no payloads.
    let quiet = steps(&logs, &error);
    let kinds: std::collections::BTreeSet<&str> = quiet.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        kinds,
        ["dead_lettered", "target_failed"].into_iter().collect(),
        "{:?}",
        quiet.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
}
