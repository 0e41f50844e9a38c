//! The command line as users call it: `validate`, `schema`, exit codes and error lines.

use std::path::PathBuf;
use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("RABBITMQ_PASSWORD", "x")
        .env("SLUICE_RABBITMQ_PORT", "5672")
        .env("SLUICE_FUNCTION_PORT", "8080")
        .env("FN_TOKEN", "t")
        .output()
        .expect("run sluice")
}

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

#[test]
fn every_example_pipe_in_the_repository_validates() {
    for dir in ["examples", "deploy/kubernetes/pipes"] {
        let path = repo(dir);
        if !std::path::Path::new(&path).exists() {
            continue;
        }
        let out = sluice(&["validate", &path]);
        assert!(
            out.status.success(),
            "{dir}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn invalid_files_exit_1_with_one_located_line_per_problem() {
    let dir = std::env::temp_dir().join(format!("sluice-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "name: Bad_Name\nsource:\n  rabbitmq:\n    url: amqp://u:${env:SLUICE_CLI_TEST_PASSWORD}@h/%2f\n    queues: [q]\ntarget:\n  http: {url: 'http://127.0.0.1:1/', timeout: 30 seconds}\n",
    )
    .unwrap();
    let out = sluice(&["validate", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let f = file.display().to_string();
    assert_eq!(
        stderr.trim_end(),
        format!(
            "{f}:4:10: environment variable SLUICE_CLI_TEST_PASSWORD is not set (${{env:SLUICE_CLI_TEST_PASSWORD}})"
        )
    );
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("${env:SLUICE_CLI_TEST_PASSWORD}", "p"),
    )
    .unwrap();
    let out = sluice(&["validate", &file.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "{f}:7:47: target.http.timeout: `30 seconds` has unknown unit ` seconds` (use ms, s, m or h)"
        )
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn schema_is_json_and_describes_the_pipe_keys() {
    let out = sluice(&["schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let props = schema["properties"].as_object().expect("properties");
    for key in [
        "name",
        "enabled",
        "source",
        "target",
        "batch",
        "concurrency",
        "retry",
        "dead_letter",
        "report_batch_item_failures",
    ] {
        assert!(props.contains_key(key), "{key}");
    }
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
}
