//! Lambda event source mappings and EventBridge Pipes (API JSON or CloudFormation
//! properties, which use the same names) → [`Draft`]s.

use super::draft::{Draft, Placeholder, Source, Target, Value, env_var, pipe_name};
use serde_json::{Map, Value as Json};

/// A value from the input: text, or something only known after deployment (a CloudFormation
/// `Ref`/`Fn::GetAtt`/`Fn::Sub`), described for the user.
#[derive(Clone, Debug)]
pub(super) enum Given {
    Text(String),
    Unknown(String),
}

pub(super) fn given(v: &Json) -> Option<Given> {
    match v {
        Json::String(s) => Some(Given::Text(s.clone())),
        Json::Number(n) => Some(Given::Text(n.to_string())),
        Json::Bool(b) => Some(Given::Text(b.to_string())),
        Json::Object(m)
            if m.len() == 1 && m.keys().any(|k| k == "Ref" || k.starts_with("Fn::")) =>
        {
            Some(Given::Unknown(v.to_string()))
        }
        _ => None,
    }
}

/// The resource a `Ref` or `Fn::GetAtt` names, for naming pipes.
fn referenced(v: &Json) -> Option<String> {
    let m = v.as_object()?;
    if let Some(r) = m.get("Ref").and_then(Json::as_str) {
        return Some(r.to_owned());
    }
    match m.get("Fn::GetAtt")? {
        Json::Array(a) => a.first()?.as_str().map(str::to_owned),
        Json::String(s) => s.split('.').next().map(str::to_owned),
        _ => None,
    }
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE...` split.
struct Arn<'a> {
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: Vec<&'a str>,
}

fn arn(s: &str) -> Option<Arn<'_>> {
    let mut p = s.split(':');
    if p.next()? != "arn" {
        return None;
    }
    let _partition = p.next()?;
    Some(Arn {
        service: p.next()?,
        region: p.next()?,
        account: p.next()?,
        resource: p.collect(),
    })
}

/// A queue URL from an SQS ARN (the URL SQS gives that queue).
fn sqs_url(a: &Arn<'_>) -> String {
    format!(
        "https://sqs.{}.amazonaws.com/{}/{}",
        a.region,
        a.account,
        a.resource.join(":")
    )
}

fn function_short_name(v: &Json) -> String {
    match given(v) {
        Some(Given::Text(t)) => match arn(&t) {
            Some(a) if a.service == "lambda" => {
                a.resource.get(1).copied().unwrap_or("function").to_owned()
            }
            _ => t.split(':').next().unwrap_or(&t).to_owned(),
        },
        _ => referenced(v).unwrap_or_else(|| "function".into()),
    }
}

fn placeholder(pipe: &str, role: &str, note: String, example: &str) -> Value {
    Value::Env(Placeholder {
        var: env_var(pipe, role),
        note,
        example: example.to_owned(),
    })
}

/// The function a mapping or pipe calls, as a target.
fn function_target(pipe: &str, function: &Json) -> Target {
    let aws_name = match given(function) {
        Some(Given::Text(t)) => t,
        Some(Given::Unknown(u)) => u,
        None => "(not given)".into(),
    };
    Target::Function {
        url: placeholder(
            pipe,
            "FUNCTION_URL",
            format!("where the function {aws_name} is served over HTTP now"),
            "http://orders-fn.internal:8080/",
        ),
        aws_name,
    }
}

/// An SQS source from a queue's ARN (its URL is known) or a reference (a placeholder); `None`
/// for an ARN of anything else.
fn sqs_source(pipe: &str, queue: &Given) -> Option<Source> {
    match queue {
        Given::Text(t) => {
            let a = arn(t).filter(|a| a.service == "sqs")?;
            Some(Source::Sqs {
                queue_url: Value::Text(sqs_url(&a)),
                region: Some(a.region.to_owned()),
            })
        }
        Given::Unknown(u) => Some(Source::Sqs {
            queue_url: placeholder(
                pipe,
                "QUEUE_URL",
                format!("the URL of the queue {u}"),
                "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
            ),
            region: None,
        }),
    }
}

/// Which broker an MQ source is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Broker {
    ActiveMq,
    RabbitMq,
}

fn mq_source(
    pipe: &str,
    broker: Broker,
    broker_arn: &Given,
    queues: Vec<Value>,
    secret: Option<&Given>,
    vhost: Option<String>,
) -> Source {
    let (region, id) = match broker_arn {
        Given::Text(t) => match arn(t) {
            Some(a) => (
                a.region.to_owned(),
                a.resource.get(2).copied().unwrap_or("b-ID").to_owned(),
            ),
            None => ("us-east-1".into(), "b-ID".into()),
        },
        Given::Unknown(_) => ("us-east-1".into(), "b-ID".into()),
    };
    let what = match broker_arn {
        Given::Text(t) | Given::Unknown(t) => t.clone(),
    };
    let secret_note = match secret {
        Some(Given::Text(s) | Given::Unknown(s)) => format!(" (stored in Secrets Manager as {s})"),
        None => String::new(),
    };
    match broker {
        Broker::ActiveMq => Source::ActiveMq {
            url: placeholder(
                pipe,
                "BROKER_URL",
                format!("the OpenWire endpoint(s) of the broker {what}"),
                &format!(
                    "failover:(ssl://{id}-1.mq.{region}.amazonaws.com:61617,ssl://{id}-2.mq.{region}.amazonaws.com:61617)"
                ),
            ),
            username: Some(placeholder(
                pipe,
                "BROKER_USERNAME",
                format!("the broker user{secret_note}"),
                "app",
            )),
            password: Some(placeholder(
                pipe,
                "BROKER_PASSWORD",
                format!("that user's password{secret_note}"),
                "change-me",
            )),
            queues,
        },
        Broker::RabbitMq => Source::RabbitMq {
            url: placeholder(
                pipe,
                "BROKER_URL",
                format!(
                    "the AMQP URL of the broker {what}, with the user and password{secret_note}"
                ),
                &format!("amqps://app:change-me@{id}.mq.{region}.amazonaws.com:5671"),
            ),
            vhost,
            queues,
        },
    }
}

/// Keys of the APIs' answers that describe state, not configuration.
const STATUS_KEYS: &[&str] = &[
    "UUID",
    "LastModified",
    "LastProcessingResult",
    "StateTransitionReason",
    "EventSourceMappingArn",
    "Arn",
    "CurrentState",
    "StateReason",
    "CreationTime",
    "LastModifiedTime",
    "ResponseMetadata",
];

fn note_rest(draft: &mut Draft, m: &Map<String, Json>, handled: &[&str]) {
    let mut status = Vec::new();
    for (k, v) in m {
        if handled.contains(&k.as_str()) {
            continue;
        }
        if STATUS_KEYS.contains(&k.as_str()) {
            status.push(k.as_str());
            continue;
        }
        let why = match k.as_str() {
            "RoleArn" => "IAM has no part here: Sluice uses the broker's own credentials",
            "Tags" => "tags are AWS resource metadata",
            "KMSKeyArn" | "SecretsManagerKmsKeyId" => "encryption keys of AWS-managed settings",
            "MetricsConfig" => "Sluice always exports its metrics at /metrics",
            "MaximumRetryAttempts"
            | "MaximumRecordAgeInSeconds"
            | "BisectBatchOnFunctionError"
            | "ParallelizationFactor"
            | "StartingPosition"
            | "StartingPositionTimestamp"
            | "TumblingWindowInSeconds"
            | "Topics" => "a stream setting; queues have no equivalent",
            "ProvisionedPollerConfig" => {
                "Sluice sizes its consumers from batch.size and concurrency"
            }
            _ => "no equivalent in Sluice",
        };
        draft.notes.push(format!("{k} = {}: {why}", short(v)));
    }
    if !status.is_empty() {
        draft
            .notes
            .push(format!("{}: state, not configuration", status.join(", ")));
    }
}

fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}...", &s[..s.floor_char_boundary(117)])
    } else {
        s
    }
}

fn filters(v: Option<&Json>) -> Vec<String> {
    v.and_then(|f| f.get("Filters"))
        .and_then(Json::as_array)
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f.get("Pattern"))
                .map(|p| match p {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn number(v: Option<&Json>) -> Option<u64> {
    match v? {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// One event source mapping (`get-event-source-mapping`, an element of
/// `list-event-source-mappings`, or `AWS::Lambda::EventSourceMapping` properties).
pub(super) fn from_esm(m: &Map<String, Json>, origin: String) -> Result<Draft, String> {
    let source_arn = m
        .get("EventSourceArn")
        .and_then(given)
        .ok_or("EventSourceArn is missing")?;
    let function = m
        .get("FunctionArn")
        .or_else(|| m.get("FunctionName"))
        .cloned()
        .unwrap_or(Json::Null);
    let access: Vec<(&str, Given)> = m
        .get("SourceAccessConfigurations")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| Some((c.get("Type")?.as_str()?, given(c.get("URI")?)?)))
                .collect()
        })
        .unwrap_or_default();
    let find = |t: &str| access.iter().find(|(k, _)| *k == t).map(|(_, v)| v);
    let queue_names: Vec<String> = m
        .get("Queues")
        .and_then(Json::as_array)
        .map(|q| {
            q.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let kind = match &source_arn {
        Given::Text(t) => match arn(t).map(|a| a.service) {
            Some("sqs") => "sqs",
            Some("mq") => "mq",
            _ => {
                return Err(format!(
                    "event source {t}: Sluice reads SQS queues and Amazon MQ (ActiveMQ, RabbitMQ) \
                     queues; this mapping is not converted"
                ));
            }
        },
        Given::Unknown(_) if !queue_names.is_empty() || !access.is_empty() => "mq",
        Given::Unknown(_) => "sqs",
    };
    let base = match kind {
        "sqs" => match &source_arn {
            Given::Text(t) => arn(t).and_then(|a| a.resource.first().map(|q| q.to_string())),
            Given::Unknown(_) => m.get("EventSourceArn").and_then(referenced),
        },
        _ => queue_names.first().cloned(),
    };
    let name = pipe_name(&format!(
        "{}-{}",
        function_short_name(&function),
        base.unwrap_or_default()
    ));
    let source = if kind == "sqs" {
        sqs_source(&name, &source_arn).ok_or("EventSourceArn is not an SQS queue's ARN")?
    } else {
        let broker = if find("VIRTUAL_HOST").is_some() {
            Broker::RabbitMq
        } else {
            Broker::ActiveMq
        };
        let queues = if queue_names.is_empty() {
            vec![placeholder(
                &name,
                "QUEUE",
                "the queue to read (the input names none)".into(),
                "orders",
            )]
        } else {
            queue_names.iter().cloned().map(Value::Text).collect()
        };
        let vhost = match find("VIRTUAL_HOST") {
            Some(Given::Text(v)) => Some(v.clone()),
            _ => None,
        };
        mq_source(
            &name,
            broker,
            &source_arn,
            queues,
            find("BASIC_AUTH"),
            vhost,
        )
    };
    let mut d = Draft::new(
        name.clone(),
        origin,
        source,
        function_target(&name, &function),
    );
    if kind == "mq" && find("VIRTUAL_HOST").is_none() {
        d.notes.push("the input does not say which broker engine: read as ActiveMQ (a RabbitMQ mapping names a VIRTUAL_HOST); for RabbitMQ use source.rabbitmq".into());
    }
    d.batch_size = number(m.get("BatchSize"));
    d.window_secs = number(m.get("MaximumBatchingWindowInSeconds"));
    d.concurrency = number(
        m.get("ScalingConfig")
            .and_then(|s| s.get("MaximumConcurrency")),
    );
    d.filters = filters(m.get("FilterCriteria"));
    d.report_batch_item_failures = m
        .get("FunctionResponseTypes")
        .and_then(Json::as_array)
        .is_some_and(|t| t.iter().any(|x| x == "ReportBatchItemFailures"));
    d.enabled = !(m.get("Enabled") == Some(&Json::Bool(false))
        || matches!(
            m.get("State").and_then(Json::as_str),
            Some("Disabled" | "Disabling")
        ));
    if let Some(dest) = m
        .get("DestinationConfig")
        .and_then(|c| c.get("OnFailure"))
        .and_then(|o| o.get("Destination"))
    {
        match given(dest) {
            Some(Given::Text(t)) if arn(&t).is_some_and(|a| a.service == "sqs") => {
                d.dead_letter = arn(&t).map(|a| Value::Text(sqs_url(&a)));
            }
            other => d.notes.push(format!(
                "DestinationConfig.OnFailure = {}: Sluice dead-letters to a queue (dead_letter); set one",
                other.map_or_else(|| short(dest), |g| match g { Given::Text(t) | Given::Unknown(t) => t })
            )),
        }
    }
    if kind == "sqs" {
        d.notes.push("retries: the queue's redrive policy (maxReceiveCount) decides, as with Lambda; Sluice honours it".into());
    }
    note_rest(
        &mut d,
        m,
        &[
            "EventSourceArn",
            "FunctionArn",
            "FunctionName",
            "SourceAccessConfigurations",
            "Queues",
            "BatchSize",
            "MaximumBatchingWindowInSeconds",
            "ScalingConfig",
            "FilterCriteria",
            "FunctionResponseTypes",
            "Enabled",
            "State",
            "DestinationConfig",
        ],
    );
    Ok(d)
}

/// One pipe (`describe-pipe`, or `AWS::Pipes::Pipe` properties); `logical` names it when the
/// input does not.
pub(super) fn from_pipe(
    m: &Map<String, Json>,
    origin: String,
    logical: &str,
) -> Result<Draft, String> {
    let name = pipe_name(m.get("Name").and_then(Json::as_str).unwrap_or(logical));
    let source_arn = m.get("Source").and_then(given).ok_or("Source is missing")?;
    let sp = m.get("SourceParameters").cloned().unwrap_or(Json::Null);
    let broker = [
        ("ActiveMQBrokerParameters", Broker::ActiveMq),
        ("RabbitMQBrokerParameters", Broker::RabbitMq),
    ]
    .into_iter()
    .find_map(|(key, broker)| sp.get(key).map(|p| (broker, p)));
    let (source, params) = if let Some((broker, p)) = broker {
        let queues = vec![p.get("QueueName").and_then(Json::as_str).map_or_else(
            || placeholder(&name, "QUEUE", "the queue to read".into(), "orders"),
            |q| Value::Text(q.to_owned()),
        )];
        let secret = p
            .get("Credentials")
            .and_then(|c| c.get("BasicAuth"))
            .and_then(given);
        let vhost = p
            .get("VirtualHost")
            .and_then(Json::as_str)
            .map(str::to_owned);
        let source = mq_source(&name, broker, &source_arn, queues, secret.as_ref(), vhost);
        (source, p.clone())
    } else {
        let source = sqs_source(&name, &source_arn).ok_or_else(|| {
            format!(
                "pipe {name}: source {}: Sluice reads SQS queues and Amazon MQ (ActiveMQ, \
                 RabbitMQ) queues; this pipe is not converted",
                match &source_arn {
                    Given::Text(t) | Given::Unknown(t) => t,
                }
            )
        })?;
        (
            source,
            sp.get("SqsQueueParameters").cloned().unwrap_or(Json::Null),
        )
    };
    let target_json = m.get("Target").cloned().unwrap_or(Json::Null);
    let tp = m.get("TargetParameters").cloned().unwrap_or(Json::Null);
    let target = match given(&target_json) {
        Some(Given::Text(t)) if arn(&t).is_some_and(|a| a.service == "lambda") => {
            function_target(&name, &target_json)
        }
        Some(Given::Text(t)) if arn(&t).is_some_and(|a| a.service == "sqs") => Target::Sqs {
            queue_url: Value::Text(arn(&t).map(|a| sqs_url(&a)).unwrap_or_default()),
            group_id: tp
                .get("SqsQueueParameters")
                .and_then(|s| s.get("MessageGroupId"))
                .and_then(Json::as_str)
                .map(str::to_owned),
        },
        other => {
            let what = other.map_or_else(
                || "(not given)".into(),
                |g| match g {
                    Given::Text(t) | Given::Unknown(t) => t,
                },
            );
            Target::Http {
                url: placeholder(
                    &name,
                    "TARGET_URL",
                    format!("an HTTP endpoint standing in for the target {what}"),
                    "http://target.internal:8080/",
                ),
            }
        }
    };
    let mut d = Draft::new(name.clone(), origin, source, target);
    d.batch_size = number(params.get("BatchSize"));
    d.window_secs = number(params.get("MaximumBatchingWindowInSeconds"));
    d.filters = filters(sp.get("FilterCriteria"));
    d.input_template = tp
        .get("InputTemplate")
        .and_then(Json::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    d.enabled = m.get("DesiredState").and_then(Json::as_str) != Some("STOPPED");
    if let Some(e) = m.get("Enrichment").and_then(given) {
        let what = match e {
            Given::Text(t) | Given::Unknown(t) => t,
        };
        if !what.is_empty() {
            d.enrichment = Some(placeholder(
                &name,
                "ENRICHMENT_URL",
                format!("an HTTP endpoint doing what {what} does"),
                "http://enricher.internal:8080/",
            ));
        }
    }
    if let Some(t) = m
        .get("EnrichmentParameters")
        .and_then(|p| p.get("InputTemplate"))
    {
        d.notes.push(format!("EnrichmentParameters.InputTemplate = {}: Sluice sends the enrichment the records as they are", short(t)));
    }
    if let Some(l) = m.get("LogConfiguration") {
        d.log_level = l
            .get("Level")
            .and_then(Json::as_str)
            .map(str::to_ascii_lowercase);
        d.include_payload = l
            .get("IncludeExecutionData")
            .and_then(Json::as_array)
            .is_some_and(|a| !a.is_empty());
        d.notes.push(
            "LogConfiguration destinations: Sluice writes execution logs to its own log (stderr)"
                .into(),
        );
    }
    if let Some(lp) = tp.get("LambdaFunctionParameters")
        && lp.get("InvocationType").and_then(Json::as_str) == Some("FIRE_AND_FORGET")
    {
        d.notes.push("InvocationType FIRE_AND_FORGET: Sluice waits for the function's answer before acknowledging".into());
    }
    if let Some(p) = params
        .get("DeadLetterConfig")
        .and_then(|c| c.get("Arn"))
        .and_then(given)
    {
        match p {
            Given::Text(t) if arn(&t).is_some_and(|a| a.service == "sqs") => {
                d.dead_letter = arn(&t).map(|a| Value::Text(sqs_url(&a)))
            }
            Given::Text(t) | Given::Unknown(t) => d
                .notes
                .push(format!("DeadLetterConfig {t}: set dead_letter to a queue")),
        }
    }
    note_rest(
        &mut d,
        m,
        &[
            "Name",
            "Source",
            "SourceParameters",
            "Target",
            "TargetParameters",
            "Enrichment",
            "EnrichmentParameters",
            "DesiredState",
            "LogConfiguration",
            "Description",
        ],
    );
    Ok(d)
}
