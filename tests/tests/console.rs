//! The admin token, enable and disable, and the console, over HTTP. (The console in a real
//! browser is `console_browser.rs`.)

use sluice_tests::broker::{self, Rabbit};
use sluice_tests::function::Function;
use sluice_tests::process::{Sluice, binary};
use sluice_tests::{free_port, http_request, unique, wait_for};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn sqs_pipe(name: &str, function: &Function) -> String {
    // An SQS pipe needs no broker to be listed; only the admin server is under test.
    format!(
        "name: {name}\nsource:\n  sqs:\n    queue_url: http://127.0.0.1:1/000000000000/q\n    endpoint_url: http://127.0.0.1:1\ntarget:\n  http: {{url: '{}'}}\n",
        function.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_guards_every_endpoint_but_the_probes_and_the_page_shell() {
    let function = Function::ok().await;
    let name = unique("p").to_lowercase();
    let pipe = sqs_pipe(&name, &function).replace(
        "target:\n  http: {url: '",
        "target:\n  http: {headers: {Authorization: 'Bearer ${env:FN_SECRET}'}, url: '",
    );
    let sluice = Sluice::start_env(
        &pipe,
        &[("SLUICE_ADMIN_TOKEN", "t0ken-1"), ("FN_SECRET", "hunter2")],
    );
    let admin = sluice.admin.clone();
    wait_for("admin up", LIMIT, || async {
        sluice.get("/healthz").await.is_some()
    })
    .await;
    let status = |method: &'static str, path: String, auth: Option<&'static str>| {
        let admin = admin.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
            http_request(&admin, method, &path, &headers)
                .await
                .map(|(s, _)| s)
        }
    };
    let guarded = [
        ("GET", "/metrics".to_owned()),
        ("GET", "/pipes".to_owned()),
        ("GET", format!("/pipes/{name}")),
        ("GET", "/console/history".to_owned()),
        ("POST", format!("/pipes/{name}/disable")),
    ];
    for (method, path) in &guarded {
        assert_eq!(
            status(method, path.clone(), None).await,
            Some(401),
            "{method} {path} without a token"
        );
        assert_eq!(
            status(method, path.clone(), Some("Bearer t0ken-2")).await,
            Some(401),
            "{method} {path} with a wrong token"
        );
        assert_eq!(
            status(method, path.clone(), Some("t0ken-1")).await,
            Some(401),
            "{method} {path} without the Bearer scheme"
        );
    }
    for (method, path) in &guarded[..4] {
        assert_eq!(
            status(method, path.clone(), Some("Bearer t0ken-1")).await,
            Some(200),
            "{method} {path}"
        );
    }
    // The pipe's document for the console: secrets as written, never their values.
    let (code, config) = http_request(
        &admin,
        "GET",
        &format!("/pipes/{name}/config"),
        &[("Authorization", "Bearer t0ken-1")],
    )
    .await
    .expect("config answered");
    assert_eq!(code, 200, "{config}");
    assert!(
        config.contains("${env:FN_SECRET}") && !config.contains("hunter2"),
        "{config}"
    );
    assert_eq!(
        status("GET", format!("/pipes/{name}/config"), None).await,
        Some(401)
    );
    for path in ["/healthz", "/", "/console.js", "/console.css"] {
        assert_eq!(
            status("GET", path.to_owned(), None).await,
            Some(200),
            "{path} is open"
        );
    }
    assert!(matches!(
        status("GET", "/readyz".to_owned(), None).await,
        Some(200 | 503)
    ));
}

#[test]
fn a_non_loopback_admin_address_needs_a_token_or_admin_insecure() {
    let function_url = "http://127.0.0.1:9/";
    let dir = std::env::temp_dir().join(unique("insecure"));
    std::fs::create_dir_all(&dir).unwrap();
    let pipe = dir.join("p.yaml");
    std::fs::write(
        &pipe,
        format!("name: p\nsource:\n  sqs:\n    queue_url: http://127.0.0.1:1/000000000000/q\n    endpoint_url: http://127.0.0.1:1\ntarget:\n  http: {{url: '{function_url}'}}\n"),
    )
    .unwrap();
    let addr = format!("0.0.0.0:{}", free_port());
    let out = std::process::Command::new(binary())
        .args(["run", "--admin-addr", &addr])
        .arg(&pipe)
        .env_remove("SLUICE_ADMIN_TOKEN")
        .output()
        .expect("sluice");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("--admin-insecure"),
        "{stderr}"
    );
    // An empty token file is an error too, not an open API.
    let empty = dir.join("token");
    std::fs::write(&empty, "\n").unwrap();
    let out = std::process::Command::new(binary())
        .args(["run", "--admin-addr", &addr, "--admin-token-file"])
        .arg(&empty)
        .arg(&pipe)
        .output()
        .expect("sluice");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: scripts/test.sh starts it and runs this"]
async fn disable_drains_and_stops_consuming_enable_resumes_and_a_changed_file_resets_it() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("toggle");
    rabbit.queue(&queue, &[]).await;
    let function = Function::ok().await;
    let name = unique("p").to_lowercase();
    let pipe = |extra: &str| {
        format!(
            "name: {name}\nsource:\n  rabbitmq: {{url: '{}', queues: [{queue}]}}\ntarget:\n  http: {{url: '{}'}}\nbatch: {{size: 10, window: 20ms}}\n{extra}",
            broker::url(),
            function.url()
        )
    };
    let sluice = Sluice::start_dir(&[("a.yaml", &pipe(""))]);
    let state = || async {
        let body = sluice
            .get(&format!("/pipes/{name}"))
            .await
            .map(|(_, b)| b)
            .unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let post = |action: &'static str| {
        let (admin, path) = (sluice.admin.clone(), format!("/pipes/{name}/{action}"));
        async move { http_request(&admin, "POST", &path, &[]).await }
    };
    wait_for("Enabled", LIMIT, || async { state().await == "Enabled" }).await;
    rabbit.publish_numbered(&queue, "a", 50).await;
    wait_for("50 delivered", LIMIT, || async {
        sluice.acked(&name).await == 50.0
    })
    .await;

    let (code, body) = post("disable").await.expect("disable answered");
    assert_eq!(code, 202, "{body}");
    assert!(
        body.contains("\"Disabling\"") || body.contains("\"Disabled\""),
        "{body}"
    );
    wait_for("Disabled", LIMIT, || async { state().await == "Disabled" }).await;
    assert_eq!(
        rabbit.consumers(&queue).await,
        0,
        "a disabled pipe has no consumer"
    );
    assert_eq!(
        sluice.get("/readyz").await.map(|(s, _)| s),
        Some(200),
        "a disabled pipe is not unready"
    );
    rabbit.publish_numbered(&queue, "b", 30).await;
    assert_eq!(
        rabbit.ready(&queue).await,
        30,
        "the queue grows while disabled"
    );

    // Another pipe file changing leaves the choice alone.
    let other = Function::ok().await;
    let second = unique("toggle2");
    rabbit.queue(&second, &[]).await;
    std::fs::write(
        sluice.dir.join("b.yaml"),
        format!(
            "name: {name}-2\nsource:\n  rabbitmq: {{url: '{}', queues: [{second}]}}\ntarget:\n  http: {{url: '{}'}}\n",
            broker::url(),
            other.url()
        ),
    )
    .unwrap();
    wait_for("the second pipe added", LIMIT, || async {
        sluice
            .get(&format!("/pipes/{name}-2"))
            .await
            .is_some_and(|(s, _)| s == 200)
    })
    .await;
    assert_eq!(state().await, "Disabled");
    assert_eq!(rabbit.consumers(&queue).await, 0);

    let (code, _) = post("enable").await.expect("enable answered");
    assert_eq!(code, 202);
    wait_for("80 delivered", LIMIT, || async {
        sluice.acked(&name).await == 80.0
    })
    .await;
    assert_eq!(state().await, "Enabled");

    // Disabled again, then the pipe's own file changes: the file's `enabled` wins.
    post("disable").await.expect("disable answered");
    wait_for("Disabled", LIMIT, || async { state().await == "Disabled" }).await;
    std::fs::write(sluice.dir.join("a.yaml"), pipe("concurrency: 2\n")).unwrap();
    wait_for("Enabled from the changed file", LIMIT, || async {
        state().await == "Enabled"
    })
    .await;
    wait_for("consuming again", LIMIT, || async {
        rabbit.consumers(&queue).await == 1
    })
    .await;
    rabbit.delete(&queue).await;
    rabbit.delete(&second).await;
}
