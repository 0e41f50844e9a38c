//! `sluice import` on the AWS documentation's own examples (`tests/import/`): every input
//! becomes pipe YAML that `sluice validate` accepts once the listed placeholders are set, with
//! what has no equivalent listed rather than dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/import")
        .join(name)
}

/// `sluice import FILE`: (exit code, stdout, stderr).
fn import(name: &str) -> (Option<i32>, String, String) {
    let out = sluice()
        .arg("import")
        .arg(fixture(name))
        .output()
        .expect("run sluice");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Validate imported YAML with the example values it lists for its placeholders.
fn assert_validates(name: &str, yaml: &str) {
    let dir = std::env::temp_dir().join(format!("sluice-import-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("imported.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut cmd = sluice();
    cmd.arg("validate").arg(&file);
    for line in yaml.lines() {
        if let Some((var, value)) = line
            .strip_prefix("#   export ")
            .and_then(|l| l.split_once('='))
        {
            cmd.env(var, value.trim_matches('\''));
        }
    }
    let out = cmd.output().expect("run sluice validate");
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        out.status.success(),
        "{name}: {}\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn imported(name: &str) -> String {
    let (code, yaml, stderr) = import(name);
    assert_eq!(code, Some(0), "{name}: {stderr}");
    assert_validates(name, &yaml);
    yaml
}

#[test]
fn an_activemq_mapping_from_the_lambda_guide() {
    let y = imported("mq-create-event-source-mapping.json");
    assert!(y.contains("  activemq:\n"), "{y}");
    assert!(y.contains("queues: [\"ExampleQueue\"]"), "{y}");
    assert!(y.contains("  size: 100"), "{y}");
    // The secret and the broker become placeholders that say what they stand for.
    assert!(y.contains("ExampleMQBrokerUserPassword-xPBMTt"), "{y}");
    assert!(y.contains("password: \"${env:SLUICE_"), "{y}");
    assert!(y.contains("lambda: {function_name: \"arn:aws:lambda:us-east-1:12345678901:function:MQ-Example-Function\"}"), "{y}");
    assert!(y.contains("UUID: state, not configuration"), "{y}");
    // `get-event-source-mapping` names no queue: a placeholder, not a guess.
    let y = imported("mq-get-event-source-mapping.json");
    assert!(
        y.contains("queues: [\"${env:SLUICE_MQ_EXAMPLE_FUNCTION_QUEUE}\"]"),
        "{y}"
    );
    assert!(y.contains("  size: 2"), "{y}");
}

#[test]
fn a_rabbitmq_mapping_is_told_by_its_virtual_host() {
    let y = imported("rabbitmq-create-event-source-mapping.json");
    assert!(y.contains("  rabbitmq:\n"), "{y}");
    assert!(y.contains("vhost: \"/\""), "{y}");
}

#[test]
fn sqs_mappings_keep_filters_verbatim_and_every_setting() {
    let y = imported("sqs-list-event-source-mappings.json");
    let pipes: Vec<&str> = y.split("\n---\n").collect();
    assert_eq!(pipes.len(), 2, "{y}");
    let (a, b) = (pipes[0], pipes[1]);
    assert!(a.contains("name: my-function-my-queue\n"), "{a}");
    assert!(
        a.contains("queue_url: \"https://sqs.us-east-2.amazonaws.com/123456789012/my-queue\""),
        "{a}"
    );
    assert!(
        a.contains(r#"- "{ \"body\" : { \"RequestCode\" : [ \"BBBB\" ] } }""#),
        "{a}"
    );
    assert!(a.contains("concurrency: 5"), "{a}");
    assert!(a.contains("report_batch_item_failures: true"), "{a}");
    assert!(a.contains("  size: 10\n  window: 0s"), "{a}");
    assert!(b.contains("name: my-function-my-queue-2\n"), "{b}");
    assert!(b.contains("enabled: false"), "{b}");
    assert!(b.contains(r#"{ \"numeric\": [ \">\", 9999 ] }"#), "{b}");
    assert!(b.contains("dead_letter:\n  sqs:\n    queue_url: \"https://sqs.us-east-2.amazonaws.com/123456789012/my-dlq\""), "{b}");
    assert!(
        b.contains("MaximumRetryAttempts = 2: a stream setting"),
        "{b}"
    );
}

#[test]
fn a_pipe_from_describe_pipe() {
    let y = imported("describe-pipe.json");
    assert!(y.contains("name: demo-pipe"), "{y}");
    assert!(y.contains("log:\n  level: error"), "{y}");
    assert!(y.contains("standing in for the target arn:aws:logs"), "{y}");
    assert!(y.contains("RoleArn = "), "{y}");
}

#[test]
fn cloudformation_and_sam_templates_with_short_form_intrinsics() {
    let y = imported("cfn-pipe.yaml");
    assert!(y.contains("name: pipecfnexample"), "{y}");
    assert!(
        y.contains(r#"input_template: "{\"id\": <$.messageId>, \"order\": <$.body>, \"pipe\": <aws.pipes.pipe-name>}\n""#),
        "{y}"
    );
    assert!(
        y.contains("# the function arn:aws:lambda:REGION:ACCOUNT:function:TargetFunction"),
        "{y}"
    );
    assert!(y.contains("enrichment:\n  http:"), "{y}");
    assert!(y.contains("window: 5s"), "{y}");
    let y = imported("cfn-event-source-mappings.json");
    assert_eq!(y.matches("\nname: ").count(), 2, "{y}");
    let y = imported("sam-template.yaml");
    let pipes: Vec<&str> = y.split("\n---\n").collect();
    assert_eq!(pipes.len(), 2, "{y}");
    let sqs = pipes.iter().find(|p| p.contains("SAM SQS event")).unwrap();
    assert!(
        sqs.contains("the URL of the queue {\"Fn::GetAtt\":[\"MySqsQueue\",\"Arn\"]}"),
        "{sqs}"
    );
    assert!(
        sqs.contains("enabled: false") && sqs.contains("concurrency: 10"),
        "{sqs}"
    );
    let mq = pipes.iter().find(|p| p.contains("SAM MQ event")).unwrap();
    assert!(mq.contains("queues: [\"MyQueue\"]"), "{mq}");
}

#[test]
fn a_source_sluice_cannot_read_is_an_error_and_the_rest_still_comes_out() {
    let (code, _, stderr) = import("docdb-create-event-source-mapping.json");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("arn:aws:rds:us-west-2:123456789012:cluster:privatecluster7de2-epzcyvu4pjoy: Sluice reads SQS queues and Amazon MQ"), "{stderr}");
    let out = sluice()
        .arg("import")
        .arg(fixture("docdb-create-event-source-mapping.json"))
        .arg(fixture("describe-pipe.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: demo-pipe"));
    let (code, _, stderr) = import("README.md");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("README.md"), "{stderr}");
}
