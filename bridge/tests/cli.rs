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
        .env("SLUICE_SQS_URL", "http://127.0.0.1:4566")
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
    for dir in [
        "examples",
        "deploy/kubernetes/base/pipes",
        "deploy/lambda-runtime-api/pipes",
    ] {
        let path = repo(dir);
        assert!(std::path::Path::new(&path).is_dir(), "{dir} is missing");
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

#[test]
fn sqs_pipes_are_held_to_lambdas_batch_rules() {
    let dir = std::env::temp_dir().join(format!("sluice-cli-sqs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pipe = |queue: &str, rest: &str| {
        format!(
            "name: s\nsource:\n  sqs: {{queue_url: 'https://sqs.us-east-1.amazonaws.com/123456789012/{queue}'}}\ntarget:\n  http: {{url: 'http://127.0.0.1:1/'}}\n{rest}"
        )
    };
    let cases = [
        (pipe("q", "batch: {size: 11}\n"), Some("batch.window: found 0s (the default), allowed at least 1s when batch.size is over 10 for SQS (found 11)")),
        (pipe("q", "batch: {size: 11, window: 1s}\n"), None),
        (pipe("q", "batch: {size: 10001, window: 1s}\n"), Some("batch.size: found 10001, allowed 1..10000")),
        (pipe("q", "batch: {window: 301s}\n"), Some("batch.window: found 301s, allowed 0s..300s")),
        (pipe("q.fifo", "batch: {size: 11}\n"), Some("batch.size: found 11, allowed 1..10 for an SQS FIFO queue")),
        (pipe("q.fifo", "batch: {window: 5s}\n"), Some("batch.window: found a batching window, which SQS FIFO queues do not support: remove it")),
        (pipe("q.fifo", ""), None),
        (
            pipe("q", "target:\n  sqs: {queue_url: 'https://sqs.us-east-1.amazonaws.com/123456789012/out.fifo'}\n")
                .replace("target:\n  http: {url: 'http://127.0.0.1:1/'}\n", ""),
            Some("target.sqs.message_group_id: missing: a FIFO target needs a message group id when the source is not an SQS FIFO queue"),
        ),
        (pipe("q", "").replace("https://sqs.us-east-1.amazonaws.com/123456789012/q", "https://sqs.us-east-1.amazonaws.com/q"), Some("source.sqs.queue_url: found")),
    ];
    for (i, (yaml, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("case{i}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let out = sluice(&["validate", &file.display().to_string()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match expected {
            None => assert!(out.status.success(), "case {i}: {stderr}"),
            Some(message) => {
                assert_eq!(out.status.code(), Some(1), "case {i}");
                assert!(stderr.contains(message), "case {i}: {stderr}");
            }
        }
    }
}

#[test]
fn activemq_pipes_take_openwire_or_stomp_urls() {
    let dir = std::env::temp_dir().join(format!("sluice-cli-amq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pipe = |source: &str| {
        format!(
            "name: a\nsource:\n  activemq:\n{source}    queues: [q]\ntarget:\n  http: {{url: 'http://127.0.0.1:1/'}}\n"
        )
    };
    let cases = [
        (pipe("    url: tcp://127.0.0.1:61616\n"), None),
        (
            pipe("    url: failover:(ssl://b-1:61617,ssl://b-2:61617)?randomize=true\n"),
            None,
        ),
        (
            pipe("    url: failover:(tcp://a,tcp://b)?maxReconnectAttempts=0\n"),
            Some("source.activemq.url: failover option `maxReconnectAttempts` is not supported"),
        ),
        (
            pipe("    url: stomp://127.0.0.1:61613\n"),
            Some("source.activemq.url: `stomp://127.0.0.1:61613`: scheme stomp, allowed tcp://"),
        ),
        (
            pipe("    url: tcp://h\n    virtual_host: v\n"),
            Some("source.activemq.virtual_host: found a value with protocol openwire"),
        ),
        (
            pipe("    protocol: stomp\n    url: amqp://h\n"),
            Some("source.activemq.url: `amqp://h`: scheme amqp"),
        ),
        (
            pipe("    protocol: stomp\n    url: failover:(stomp://a:61613,stomp+ssl://b:61614)\n"),
            None,
        ),
    ];
    for (i, (yaml, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("case{i}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let out = sluice(&["validate", &file.display().to_string()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match expected {
            None => assert!(out.status.success(), "case {i}: {stderr}"),
            Some(message) => {
                assert_eq!(out.status.code(), Some(1), "case {i}");
                assert!(stderr.contains(message), "case {i}: {stderr}");
            }
        }
    }
}

/// `validate` on one file's text, with extra environment; (exit code, stderr).
fn validate_text(name: &str, text: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("sluice-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.yaml");
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(["validate", &file.display().to_string()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run sluice");
    let _ = std::fs::remove_dir_all(dir);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const RABBIT_TO_HTTP: &str = "name: p\nsource:\n  rabbitmq:\n    url: URL\n    queues: [q]\ntarget:\n  http: {url: 'http://127.0.0.1:1/'}\n";

#[test]
fn secrets_with_url_delimiters_are_never_printed() {
    for pw in ["pa/ss-wörd", "pa?ss=1&x", "pa#ss", "p@ss:w/o?r#d"] {
        // A URL that fails validation (wrong scheme) so that validate prints it.
        let text = RABBIT_TO_HTTP.replace("URL", "http://app:${env:SLUICE_T_PW}@rabbit:5672/%2f");
        let (code, stderr) = validate_text("pw", &text, &[("SLUICE_T_PW", pw)]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("app:***@"), "{stderr}");
        assert!(!stderr.contains(pw), "{pw} printed: {stderr}");
        // A secret in the query string, or as the whole URL.
        let text = RABBIT_TO_HTTP.replace("URL", "'http://rabbit/%2f?token=${env:SLUICE_T_PW}'");
        let (_, stderr) = validate_text("pw", &text, &[("SLUICE_T_PW", pw)]);
        assert!(!stderr.contains(pw), "{pw} printed: {stderr}");
        assert!(stderr.contains("token=***"), "{stderr}");
    }
}

#[test]
fn over_long_amqp_names_and_absurd_durations_are_refused_by_validate() {
    let long = "x".repeat(256);
    let text = format!(
        "name: p\nsource:\n  rabbitmq:\n    url: amqp://u:p@h/%2f\n    queues: [q]\ntarget:\n  rabbitmq: {{url: 'amqp://u:p@h/%2f', exchange: {long}, routing_key: {long}}}\n"
    );
    let (code, stderr) = validate_text("long", &text, &[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("target.rabbitmq.exchange: found 256 bytes, allowed 0..255"),
        "{stderr}"
    );
    assert!(
        stderr.contains("target.rabbitmq.routing_key: found 256 bytes"),
        "{stderr}"
    );
    let text = format!("{RABBIT_TO_HTTP}retry:\n  backoff: {{max: 18446744073709551615s}}\n")
        .replace("URL", "amqp://u:p@h/%2f");
    let (code, stderr) = validate_text("long", &text, &[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("retry.backoff.max: `18446744073709551615s` is too large"),
        "{stderr}"
    );
    let text = "name: p\nsource:\n  rabbitmq:\n    url: amqp://u:p@h/%2f\n    queues: [q]\ntarget:\n  http: {url: 'http://127.0.0.1:1/'}\nretry:\n  backoff: {initial: 2h, max: 3h}\n";
    let (code, stderr) = validate_text("long", text, &[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("retry.backoff.initial: found 2h, allowed at most 1h"),
        "{stderr}"
    );
}

#[test]
fn deeply_nested_yaml_and_patterns_get_an_error_not_a_crash() {
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let (code, stderr) = validate_text("deep", &format!("name: p\nx: {deep}\n"), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("p.yaml:"), "{stderr}");
    let pattern = format!("{}[1]{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let text =
        format!("{RABBIT_TO_HTTP}filter:\n  - '{pattern}'\n").replace("URL", "amqp://u:p@h/%2f");
    let (code, stderr) = validate_text("deep", &text, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("filter[0]"), "{stderr}");
}

#[test]
fn lambda_and_runtime_api_targets_are_validated() {
    let pipe = |target: &str, rest: &str| {
        format!(
            "name: l\nsource:\n  rabbitmq: {{url: 'amqp://127.0.0.1:1/%2f', queues: [q]}}\ntarget:\n{target}{rest}"
        )
    };
    let lambda = |keys: &str| format!("  lambda: {{{keys}}}\n");
    let cases = [
        (
            pipe(&lambda("function_name: orders-fn, region: us-east-1"), ""),
            None,
        ),
        (
            pipe(
                &lambda("function_name: 'arn:aws:lambda:eu-west-1:123456789012:function:f:live'"),
                "",
            ),
            None,
        ),
        (
            pipe(
                &lambda("function_name: 'orders-fn:live', qualifier: '7'"),
                "",
            ),
            Some("target.lambda.qualifier: function_name already names a version or alias"),
        ),
        (
            pipe(&lambda("function_name: 'a/b'"), ""),
            Some("target.lambda.function_name: found `a/b`"),
        ),
        (
            pipe(&lambda("function_name: f, endpoint_url: 'ftp://x'"), ""),
            Some("target.lambda.endpoint_url: found `ftp://x`"),
        ),
        (
            pipe(&lambda("function_name: f"), "batch: {max_bytes: 7MiB}\n"),
            Some("batch.max_bytes: found 7340032, allowed at most 6MiB with target.lambda"),
        ),
        (
            pipe(
                "  runtime_api: {listen: '0.0.0.0:9001', timeout: 10s}\n",
                "",
            ),
            None,
        ),
        (
            pipe("  runtime_api: {listen: 'localhost:9001'}\n", ""),
            Some("target.runtime_api.listen: found `localhost:9001`"),
        ),
        (
            pipe(
                "  runtime_api: {listen: '0.0.0.0:9001', timeout: 20m}\n",
                "",
            ),
            Some("target.runtime_api.timeout: found 20m"),
        ),
    ];
    for (i, (yaml, expected)) in cases.iter().enumerate() {
        let (code, stderr) = validate_text(&format!("lambda{i}"), yaml, &[]);
        match expected {
            None => assert_eq!(code, Some(0), "case {i}: {stderr}"),
            Some(message) => {
                assert_eq!(code, Some(1), "case {i}");
                assert!(stderr.contains(message), "case {i}: {stderr}");
            }
        }
    }
}

#[test]
fn invalid_input_templates_and_rate_limits_are_refused_with_a_location() {
    let base = "name: p\nsource:\n  rabbitmq:\n    url: amqp://u:p@h/%2f\n    queues: [q]\n";
    let cases = [
        (
            format!(
                "{base}target:\n  http:\n    url: 'http://127.0.0.1:1/'\n    input_template: '{{\"a\": <$.data.x}}'\n"
            ),
            "p.yaml:9:21: target.http.input_template: invalid template: a placeholder < is not closed by > (line 1, column 7 of the template)",
        ),
        (
            format!(
                "{base}target:\n  sqs:\n    queue_url: 'http://127.0.0.1:1/000000000000/q'\n    input_template: |\n      {{\n        \"a\": 1\n        \"b\": <$.data>\n      }}\n"
            ),
            "target.sqs.input_template: invalid template: the template is not valid JSON: expected `,` or `}` (line 3, column 3 of the template)",
        ),
        (
            format!(
                "{base}target:\n  http:\n    url: 'http://127.0.0.1:1/'\n    input_template: 'x <aws.pipes.nope>'\n"
            ),
            "unknown variable <aws.pipes.nope>",
        ),
        (
            format!(
                "{base}target:\n  http: {{url: 'http://127.0.0.1:1/'}}\ndead_letter:\n  http: {{url: 'http://127.0.0.1:1/', input_template: 'x'}}\n"
            ),
            "dead_letter.http.input_template: found a template, allowed none",
        ),
        (
            format!("{base}target:\n  http: {{url: 'http://127.0.0.1:1/'}}\nrate_limit: 0\n"),
            "rate_limit: found 0, allowed 1..1000000",
        ),
        (
            format!(
                "{base}target:\n  http: {{url: 'http://127.0.0.1:1/'}}\nlog: {{level: debug}}\n"
            ),
            "log.level",
        ),
    ];
    for (i, (text, message)) in cases.iter().enumerate() {
        let (code, stderr) = validate_text("tpl", text, &[]);
        assert_eq!(code, Some(1), "case {i}: {stderr}");
        assert!(stderr.contains(message), "case {i}: {stderr}");
    }
    let ok = format!(
        "{base}target:\n  http:\n    url: 'http://127.0.0.1:1/'\n    input_template: |\n      {{\"id\": <$.basicProperties.messageId>, \"n\": \"n=<$.data.n>\", \"e\": <aws.pipes.event.json>}}\nrate_limit: 50\nlog: {{level: trace, include_payload: true}}\n"
    );
    let (code, stderr) = validate_text("tpl", &ok, &[]);
    assert_eq!(code, Some(0), "{stderr}");
}
