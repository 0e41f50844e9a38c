//! What operators run Sluice with, checked with the real tools: the Kubernetes manifests
//! (kustomize, then Kubernetes' and the CRDs' schemas), the alert rules (promtool), and the
//! Grafana dashboard, whose every query a real Prometheus answers while it scrapes a Sluice
//! moving real messages. The tools come from `scripts/ops-tools.sh` (sourced by
//! `scripts/test.sh`).

use serde_json::Value;
use sluice_tests::broker::{self, Rabbit};
use sluice_tests::function::{Function, message_id, records};
use sluice_tests::process::Sluice;
use sluice_tests::prometheus::Prometheus;
use sluice_tests::{unique, wait_for};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);
const KUBERNETES_VERSION: &str = "1.37.0";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name}: scripts/test.sh sources scripts/ops-tools.sh"))
}

/// The Python of the ops tools' virtualenv (it has PyYAML and kubernetes-validate).
fn python() -> PathBuf {
    Path::new(&env("SLUICE_KUBERNETES_VALIDATE")).with_file_name("python")
}

fn kustomize(dir: &str) -> String {
    let out = Command::new("kubectl")
        .args(["kustomize", &repo(dir).display().to_string()])
        .output()
        .expect("kubectl is on the machine (kubectl kustomize builds the manifests offline)");
    assert!(
        out.status.success(),
        "{dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Run the ops tools' Python with `args`, `input` on its stdin.
fn python_with(args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(python())
        .args(args)
        .env("SLUICE_CRD_MODULES", env("SLUICE_CRD_MODULES"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to python");
    child.wait_with_output().expect("python")
}

/// Run `tests/deploy/validate.py` on a manifest stream: (success, its report).
fn validate(manifests: &str) -> (bool, String) {
    let script = repo("tests/deploy/validate.py").display().to_string();
    let out = python_with(&[&script, KUBERNETES_VERSION], manifests);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// A manifest stream as JSON documents (PyYAML does the YAML).
fn documents(manifests: &str) -> Vec<Value> {
    let to_json =
        "import json,sys,yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))";
    let out = python_with(&["-c", to_json], manifests);
    serde_json::from_slice(&out.stdout).expect("JSON documents")
}

#[test]
#[ignore = "needs the ops tools: scripts/test.sh installs them and runs it"]
fn every_kustomization_builds_and_validates() {
    for (dir, kinds) in [
        (
            "deploy/kubernetes/base",
            &[
                "Deployment",
                "Service",
                "ServiceMonitor",
                "PodDisruptionBudget",
                "NetworkPolicy",
                "ConfigMap",
            ][..],
        ),
        (
            "deploy/kubernetes/overlays/keda",
            &["ScaledObject", "Deployment"][..],
        ),
        (
            "deploy/kubernetes/overlays/hpa",
            &["HorizontalPodAutoscaler", "Deployment"][..],
        ),
        (
            "deploy/lambda-runtime-api",
            &["Deployment", "NetworkPolicy"][..],
        ),
    ] {
        let manifests = kustomize(dir);
        let (ok, report) = validate(&manifests);
        assert!(ok, "{dir}:\n{report}");
        for kind in kinds {
            assert!(
                report.contains(&format!("ok {kind}/")),
                "{dir} has no valid {kind}:\n{report}"
            );
        }
    }
}

#[test]
#[ignore = "needs the ops tools: scripts/test.sh installs them and runs it"]
fn the_validator_refuses_what_kubernetes_and_keda_would() {
    let broken = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  \
                  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    \
                  spec: {containers: [{name: c, image: i, restartPolicyy: Always}]}\n---\n\
                  apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: b}\n\
                  spec: {scaleTargetRef: {name: a}, minReplicaCount: one, triggers: []}\n---\n\
                  apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: c}\n\
                  spec: {selector: {}, endpoints: [{port: admin, interval: often}]}\n";
    let (ok, report) = validate(broken);
    assert!(!ok, "{report}");
    for name in ["Deployment/a", "ScaledObject/b", "ServiceMonitor/c"] {
        assert!(
            report.contains(&format!("INVALID {name}")),
            "{name}:\n{report}"
        );
    }
}

/// The base's settings that must agree with each other and with Sluice.
#[test]
#[ignore = "needs the ops tools: scripts/test.sh installs them and runs it"]
fn the_deployment_drains_within_its_grace_period_and_reloads_pipes_in_place() {
    let docs = documents(&kustomize("deploy/kubernetes/base"));
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let pod = &find("Deployment")["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let shutdown: u64 = args
        .iter()
        .find_map(|a| a.strip_prefix("--shutdown-timeout="))
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse().ok())
        .expect("--shutdown-timeout=Ns");
    let pause: u64 = c["lifecycle"]["preStop"]["exec"]["command"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("preStop sleep N");
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace period");
    assert!(
        grace >= pause + shutdown + 5,
        "grace {grace}s < preStop {pause}s + drain {shutdown}s + 5s"
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    for k in ["requests", "limits"] {
        assert!(c["resources"][k]["memory"].is_string(), "memory {k}");
    }
    // Hot reload: the ConfigMap keeps its name (no hash suffix, so a change does not roll the
    // pods) and is mounted as a directory (a subPath mount is never updated).
    let configmap = find("ConfigMap");
    assert_eq!(configmap["metadata"]["name"], "sluice-pipes");
    assert_eq!(pod["volumes"][0]["configMap"]["name"], "sluice-pipes");
    let mount = &c["volumeMounts"][0];
    assert!(mount.get("subPath").is_none(), "{mount}");
    assert_eq!(args.last(), mount["mountPath"].as_str().as_ref());
    // The admin port listens on every address, so it is behind the token from a Secret.
    let token = args
        .iter()
        .find_map(|a| a.strip_prefix("--admin-token-file="))
        .expect("--admin-token-file");
    let secret = docs
        .iter()
        .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == "sluice-admin")
        .expect("the sluice-admin Secret");
    assert!(secret["data"]["token"].is_string() || secret["stringData"]["token"].is_string());
    assert!(
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| token.starts_with(m["mountPath"].as_str().unwrap_or("?"))),
        "the token file is mounted"
    );
    let monitor = find("ServiceMonitor");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["authorization"]["credentials"]["name"],
        "sluice-admin"
    );
    // The pipes in the ConfigMap are valid pipes.
    let dir = std::env::temp_dir().join(unique("configmap"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in configmap["data"].as_object().unwrap() {
        std::fs::write(dir.join(name), text.as_str().unwrap()).unwrap();
    }
    let out = Command::new(sluice_tests::process::binary())
        .arg("validate")
        .arg(&dir)
        .env("RABBITMQ_PASSWORD", "x")
        .output()
        .expect("sluice validate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs the ops tools: scripts/test.sh installs them and runs it"]
fn alert_rules_check_and_pass_their_unit_tests() {
    let promtool = env("SLUICE_PROMTOOL");
    let dir = repo("deploy/prometheus");
    for args in [
        &["check", "rules", "rules.yaml"][..],
        &["test", "rules", "rules.test.yaml"][..],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every query of the dashboard, with Grafana's variables replaced: (panel title, query).
fn dashboard_queries(pipe: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("deploy/grafana/sluice.json")).expect("dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut out = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = panels.pop() {
        panels.extend(p["panels"].as_array().into_iter().flatten());
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("a PromQL expr");
            out.push((
                p["title"].as_str().unwrap_or_default().to_owned(),
                expr.replace("$pipe", pipe)
                    .replace("$__rate_interval", "5m"),
            ));
        }
    }
    out
}

/// Panels that must show more than zero once messages moved, retried and dead-lettered and a
/// pipe file was added; the rest (backlog, errors, restarts) must answer, with zeros.
const MOVING: &[&str] = &[
    "Pipe up",
    "Replicas",
    "Records in and out",
    "Delivered and failed",
    "Bytes in",
    "Target latency",
    "Batch size",
    "Target calls",
    "Message age",
    "Retries",
    "Dead letters",
    "Reloads",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ and the ops tools: scripts/test.sh starts them and runs it"]
async fn a_real_prometheus_answers_every_dashboard_query_and_fires_the_dead_letter_alert() {
    let rabbit = Rabbit::connect().await;
    let queue = unique("ops");
    rabbit.queue(&queue, &[]).await;
    // Records 7, 57, 107, ... always fail: retried once, then given up to the broker.
    let function = Function::start(0, |event| {
        let failed: Vec<Value> = records(event)
            .into_iter()
            .map(message_id)
            .filter(|id| {
                id.rsplit('-')
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n % 50 == 7)
            })
            .map(|id| serde_json::json!({"itemIdentifier": id}))
            .collect();
        (
            200,
            serde_json::json!({"batchItemFailures": failed}).to_string(),
        )
    })
    .await;
    let pipe = |name: &str, queue: &str| {
        format!(
            "name: {name}\nsource:\n  rabbitmq: {{url: '{}', queues: [{queue}]}}\n\
             filter:\n  - '{{\"data\": {{\"n\": [{{\"numeric\": [\"<\", 280]}}]}}}}'\n\
             target:\n  http: {{url: '{}', timeout: 10s}}\n\
             batch: {{size: 10, window: 50ms}}\nreport_batch_item_failures: true\n\
             retry: {{max_attempts: 2, backoff: {{initial: 100ms, max: 200ms}}}}\n",
            broker::url(),
            function.url()
        )
    };
    let sluice = Sluice::start_dir(&[("obs.yaml", &pipe("obs", &queue))]);
    let prometheus = Prometheus::start(&[&sluice.admin], &[&repo("deploy/prometheus/rules.yaml")]);
    // Counts from before the first scrape would show no rate: start once Prometheus scrapes.
    wait_for("Prometheus scraped Sluice", LIMIT, || async {
        matches!(prometheus.query("sluice_config_reloads_total").await, Ok(s) if !s.is_empty())
    })
    .await;
    rabbit.publish_numbered(&queue, &queue, 300).await;
    // 280 pass the filter, 6 of them always fail: 294 acknowledged, 6 rejected to the broker.
    wait_for("294 acknowledged and 6 given up", LIMIT, || async {
        sluice.acked("obs").await == 294.0 && sluice.dead_lettered("obs", "broker").await == 6.0
    })
    .await;
    // A pipe file added while running: a reload.
    let second = unique("ops2");
    rabbit.queue(&second, &[]).await;
    std::fs::write(sluice.dir.join("second.yaml"), pipe("second", &second)).unwrap();
    wait_for("the added pipe reloaded", LIMIT, || async {
        sluice.metric("sluice_config_reloads_total").await >= 1.0
    })
    .await;
    // Rates need samples: a few scrapes after the last count.
    wait_for("Prometheus scraped the final counts", LIMIT, || async {
        let scrapes = prometheus
            .query("count_over_time(sluice_acked_messages_total{pipe=\"obs\"}[5m])")
            .await;
        if !matches!(scrapes, Ok(s) if s.first().is_some_and(|s| s.value >= 5.0)) {
            return false;
        }
        let acked = prometheus
            .query("sluice_acked_messages_total{pipe=\"obs\"}")
            .await;
        let reloads = prometheus.query("sluice_config_reloads_total").await;
        matches!((acked, reloads), (Ok(a), Ok(r)) if a.first().is_some_and(|s| s.value == 294.0)
            && r.first().is_some_and(|s| s.value >= 1.0))
    })
    .await;

    let queries = dashboard_queries("obs");
    assert!(queries.len() >= 25, "{} queries", queries.len());
    let mut moving = std::collections::HashSet::new();
    for (title, expr) in &queries {
        let samples = prometheus
            .query(expr)
            .await
            .unwrap_or_else(|e| panic!("{title}: {expr}: {e}"));
        assert!(!samples.is_empty(), "{title}: {expr} returned no data");
        assert!(
            samples
                .iter()
                .all(|s| s.labels.get("pipe").is_none_or(|p| p == "obs")),
            "{title}: {expr} leaked other pipes: {samples:?}"
        );
        if samples.iter().any(|s| s.value > 0.0) {
            moving.insert(title.as_str());
        }
    }
    for title in MOVING {
        assert!(moving.contains(title), "panel {title} shows nothing moving");
    }
    // The pipe variable lists the pipes.
    let pipes = prometheus
        .api("/api/v1/label/pipe/values?match[]=sluice_pipe_up")
        .await
        .unwrap();
    assert!(
        pipes.as_array().unwrap().iter().any(|p| p == "obs"),
        "{pipes}"
    );

    // The rules load in a real server, and dead letters fire their alert.
    let rules = prometheus.api("/api/v1/rules").await.unwrap();
    let loaded: Vec<&Value> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(loaded.len(), 7, "{rules}");
    assert!(loaded.iter().all(|r| r["health"] == "ok"), "{rules}");
    wait_for("SluiceDeadLetters firing for obs", LIMIT, || async {
        let alerts = prometheus.api("/api/v1/alerts").await.unwrap_or_default();
        alerts["alerts"].as_array().into_iter().flatten().any(|a| {
            a["labels"]["alertname"] == "SluiceDeadLetters"
                && a["labels"]["pipe"] == "obs"
                && a["state"] == "firing"
        })
    })
    .await;
    drop(prometheus);
    rabbit.delete(&queue).await;
    rabbit.delete(&second).await;
}
