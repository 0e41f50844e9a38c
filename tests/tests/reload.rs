//! Pipe files changed while `sluice run` runs (section 7 of the contract): an added pipe
//! starts, a changed one restarts, an invalid change keeps the running version and is reported,
//! a removed one drains and stops; the other pipes are not touched.

use serde_json::Value;
use sluice_tests::broker::{Rabbit, url};
use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn pipe(name: &str, queue: &str, function: &str, batch: u32) -> String {
    format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http: {{url: '{function}'}}\nbatch: {{size: {batch}, window: 50ms}}\n",
        url()
    )
}

async fn pipe_json(sluice: &Sluice, name: &str) -> Option<Value> {
    match sluice.get(&format!("/pipes/{name}")).await {
        Some((200, body)) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn pipe_files_are_applied_while_running() {
    let rabbit = Rabbit::connect().await;
    let (qa, qb) = (unique("reload-a"), unique("reload-b"));
    rabbit.queue(&qa, &[]).await;
    rabbit.queue(&qb, &[]).await;
    let function = Function::ok().await;
    let (a, b) = (unique("a").to_lowercase(), unique("b").to_lowercase());
    let mut sluice = Sluice::start_dir(&[("a.yaml", &pipe(&a, &qa, &function.url(), 10))]);
    wait_for("pipe a ready", LIMIT, || async { sluice.ready().await }).await;
    rabbit.publish_numbered(&qa, "a", 5).await;
    wait_for("a's messages", LIMIT, || async { function.distinct() == 5 }).await;
    let a_revision = pipe_json(&sluice, &a).await.unwrap()["config_revision"].clone();

    // Added.
    std::fs::write(
        sluice.dir.join("b.yaml"),
        pipe(&b, &qb, &function.url(), 10),
    )
    .unwrap();
    wait_for("pipe b listed and ready", LIMIT, || async {
        pipe_json(&sluice, &b).await.is_some() && sluice.ready().await
    })
    .await;
    rabbit.publish_numbered(&qb, "b", 5).await;
    wait_for("b's messages", LIMIT, || async {
        function.distinct() == 10
    })
    .await;

    // Invalid: the running b stays, the error is counted and shown.
    std::fs::write(sluice.dir.join("b.yaml"), pipe(&b, &qb, &function.url(), 0)).unwrap();
    wait_for("the reload error counted", LIMIT, || async {
        sluice.metric("sluice_config_reload_errors_total").await == 1.0
    })
    .await;
    let shown = pipe_json(&sluice, &b).await.unwrap();
    let reason = shown["state_transition_reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.starts_with("ESM_CONFIG_NOT_VALID: ") && reason.contains("batch.size"),
        "{reason}"
    );
    rabbit.publish_numbered(&qb, "b2", 5).await;
    wait_for("b still delivering", LIMIT, || async {
        function.distinct() == 15
    })
    .await;

    // Changed: b restarts with the new settings.
    let before = pipe_json(&sluice, &b).await.unwrap()["config_revision"].clone();
    std::fs::write(sluice.dir.join("b.yaml"), pipe(&b, &qb, &function.url(), 2)).unwrap();
    wait_for("b restarted with a new revision", LIMIT, || async {
        match pipe_json(&sluice, &b).await {
            Some(p) => {
                p["config_revision"] != before && p["state"] == "Enabled" && sluice.ready().await
            }
            None => false,
        }
    })
    .await;
    rabbit.publish_numbered(&qb, "b3", 4).await;
    wait_for("b delivering after the restart", LIMIT, || async {
        function.distinct() == 19
    })
    .await;

    // Removed.
    std::fs::remove_file(sluice.dir.join("b.yaml")).unwrap();
    wait_for("b gone", LIMIT, || async {
        pipe_json(&sluice, &b).await.is_none()
    })
    .await;

    // a was never touched.
    let a_now = pipe_json(&sluice, &a).await.unwrap();
    assert_eq!(a_now["config_revision"], a_revision);
    assert_eq!(a_now["state"], "Enabled");
    let restarts_of_a = sluice
        .logs()
        .lines()
        .filter(|l| l.contains("pipe changed") && l.contains(&a))
        .count();
    assert_eq!(restarts_of_a, 0);
    assert_eq!(function.duplicates(), 0);
    assert_eq!(sluice.terminate(), Some(0));
    assert_eq!(rabbit.ready(&qa).await + rabbit.ready(&qb).await, 0);
    rabbit.delete(&qa).await;
    rabbit.delete(&qb).await;
}

/// A broken file holds back only its own pipes: another file's change still applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_broken_file_holds_back_only_the_pipes_it_defines() {
    let rabbit = Rabbit::connect().await;
    let (qa, qb) = (unique("held-a"), unique("held-b"));
    rabbit.queue(&qa, &[]).await;
    rabbit.queue(&qb, &[]).await;
    let function = Function::ok().await;
    let (a, b) = (unique("a").to_lowercase(), unique("b").to_lowercase());
    let sluice = Sluice::start_dir(&[
        ("a.yaml", &pipe(&a, &qa, &function.url(), 10)),
        ("b.yaml", &pipe(&b, &qb, &function.url(), 10)),
    ]);
    wait_for("both ready", LIMIT, || async {
        pipe_json(&sluice, &b).await.is_some() && sluice.ready().await
    })
    .await;
    let b_revision = pipe_json(&sluice, &b).await.unwrap()["config_revision"].clone();
    // b.yaml breaks (YAML that does not parse) and a.yaml changes at the same time.
    std::fs::write(sluice.dir.join("b.yaml"), "name: [unclosed\n").unwrap();
    std::fs::write(sluice.dir.join("a.yaml"), pipe(&a, &qa, &function.url(), 3)).unwrap();
    wait_for("a restarted with its change", LIMIT, || async {
        sluice
            .logs()
            .lines()
            .any(|l| l.contains("pipe changed") && l.contains(&a))
    })
    .await;
    let b_now = pipe_json(&sluice, &b).await.expect("b still runs");
    assert_eq!(b_now["config_revision"], b_revision);
    assert!(
        b_now["state_transition_reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("ESM_CONFIG_NOT_VALID"),
        "{b_now}"
    );
    rabbit.publish_numbered(&qa, "a", 5).await;
    rabbit.publish_numbered(&qb, "b", 5).await;
    wait_for("both pipes still deliver", LIMIT, || async {
        function.distinct() == 10
    })
    .await;
    rabbit.delete(&qa).await;
    rabbit.delete(&qb).await;
}

/// A `${file:...}` secret is watched: a rotated password restarts the pipe that uses it, with
/// the same revision (the revision says nothing about secrets), and its value is never shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn a_rotated_secret_file_restarts_its_pipe() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("rotate");
    rabbit.queue(&queue, &[]).await;
    let function = Function::ok().await;
    let name = unique("p").to_lowercase();
    let dir = std::env::temp_dir().join(unique("secret"));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("token");
    std::fs::write(&secret, "first-token-value\n").unwrap();
    let text = format!(
        "name: {name}\nsource:\n  rabbitmq:\n    url: {}\n    queues: [{queue}]\ntarget:\n  http:\n    url: '{}'\n    headers: {{Authorization: 'Bearer ${{file:{}}}'}}\nbatch: {{size: 10, window: 50ms}}\n",
        url(),
        function.url(),
        secret.display()
    );
    let sluice = Sluice::start_dir(&[("p.yaml", &text)]);
    wait_for("ready", LIMIT, || async { sluice.ready().await }).await;
    let revision = pipe_json(&sluice, &name).await.unwrap()["config_revision"].clone();
    std::fs::write(&secret, "second-token-value\n").unwrap();
    wait_for("the pipe restarted for its new secret", LIMIT, || async {
        sluice
            .logs()
            .lines()
            .any(|l| l.contains("pipe changed") && l.contains(&name))
    })
    .await;
    wait_for("ready again", LIMIT, || async { sluice.ready().await }).await;
    let now = pipe_json(&sluice, &name).await.unwrap();
    assert_eq!(now["config_revision"], revision);
    let (_, pipes) = sluice.get("/pipes").await.unwrap();
    for shown in [pipes, sluice.logs()] {
        assert!(!shown.contains("token-value"), "{shown}");
    }
    rabbit.publish_numbered(&queue, "m", 3).await;
    wait_for("delivered after the restart", LIMIT, || async {
        function.distinct() == 3
    })
    .await;
    rabbit.delete(&queue).await;
    let _ = std::fs::remove_dir_all(dir);
}
