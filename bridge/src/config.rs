//! The pipe document: one YAML document per pipe (section 2 of the contract).
//!
//! Connector settings live in their connectors; this file holds the top level, the choice of
//! connector (externally tagged enums: `source: {rabbitmq: {...}}`) and cross-field rules.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_activemq::{ActiveMqSourceConfig, ActiveMqTargetConfig};
use sluice_amqp::{RabbitMqSourceConfig, RabbitMqTargetConfig};
use sluice_core::config::{BatchConfig, ConfigError, LogConfig, RetryConfig, validate_common};
use sluice_core::pattern::Pattern;
use sluice_core::redact::redact_url;
use sluice_http::{EnrichmentConfig, HttpTargetConfig, LambdaTargetConfig, RuntimeApiConfig};
use sluice_sqs::{SqsSourceConfig, SqsTargetConfig};

/// One pipe: source → (filter → enrichment) → target.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct PipeConfig {
    /// Unique name across all files: `[a-z0-9][a-z0-9-]{0,62}`.
    pub name: String,
    /// `false`: validated and listed, but not consuming. Default true.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Where records come from: exactly one of the kinds.
    pub source: SourceConfig,
    /// Event patterns (EventBridge syntax), each a YAML mapping or a JSON string; a record
    /// goes on if any matches, else it is acknowledged and counted as filtered. Patterns see
    /// the record in its Lambda shape, with `body` (SQS) or `data` (ActiveMQ, RabbitMQ) as the
    /// decoded JSON body.
    pub filter: Option<Vec<PatternSource>>,
    /// Called once per batch, after the filter and before the target; its answer replaces
    /// the batch (EventBridge Pipes semantics).
    pub enrichment: Option<EnrichmentConfig>,
    /// Where batches go: exactly one of the kinds.
    pub target: TargetConfig,
    /// When a batch is sent.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Batches in flight at once, 1..1000. Default 1 for RabbitMQ (Lambda's limit for
    /// RabbitMQ event source mappings), 5 for ActiveMQ (Lambda's limit) and for SQS (Lambda's
    /// starting concurrency).
    /// For SQS FIFO queues, batches of one message group never overlap.
    pub concurrency: Option<u32>,
    /// Honour `batchItemFailures` in target responses. Default false.
    #[serde(default)]
    pub report_batch_item_failures: bool,
    /// Retries of failed records.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Where given-up records go (any target kind). Default: the broker's own dead-letter path.
    pub dead_letter: Option<TargetConfig>,
    /// At most this many records a second to the target, 1..1000000, spread evenly and shared
    /// by the pipe's concurrent batches; batches then hold at most a tenth of a second's worth.
    /// Default: no limit.
    pub rate_limit: Option<u32>,
    /// The pipe's execution log (EventBridge Pipes' log configuration).
    #[serde(default)]
    pub log: LogConfig,
    /// What happens to records no filter pattern matches: `ack` (default: acknowledged and
    /// gone, as in Lambda and Pipes) or `dead_letter` (sent to `dead_letter`, which must be
    /// set; a selective redrive moves what matches and parks the rest).
    #[serde(default)]
    pub on_filtered: OnFiltered,
}

/// `on_filtered`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnFiltered {
    /// Acknowledge at the source.
    #[default]
    Ack,
    /// Send to the pipe's `dead_letter` destination.
    DeadLetter,
}

/// One filter pattern: a mapping, or the JSON text of one.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub(crate) struct PatternSource(serde_json::Value);

impl PatternSource {
    /// Compile; the error says what and where (inside a JSON string pattern).
    pub(crate) fn compile(&self) -> Result<Pattern, String> {
        match &self.0 {
            serde_json::Value::String(text) => Pattern::parse(text).map_err(|e| e.to_string()),
            serde_json::Value::Object(map) => {
                let text = serde_json::to_string(map).unwrap_or_default();
                Pattern::parse(&text).map_err(|e| e.message)
            }
            other => Err(format!(
                "found {}, allowed a pattern as a mapping or as a JSON string",
                match other {
                    serde_json::Value::Array(_) => "a list",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            )),
        }
    }
}

fn default_enabled() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) enum SourceConfig {
    /// RabbitMQ over AMQP 0-9-1.
    Rabbitmq(RabbitMqSourceConfig),
    /// ActiveMQ over OpenWire (or any STOMP 1.2 broker with `protocol: stomp`).
    Activemq(ActiveMqSourceConfig),
    /// An Amazon SQS queue (or an SQS-compatible server), standard or FIFO.
    Sqs(SqsSourceConfig),
}

impl SourceConfig {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Rabbitmq(_) => "rabbitmq",
            SourceConfig::Activemq(_) => "activemq",
            SourceConfig::Sqs(_) => "sqs",
        }
    }

    /// An SQS FIFO queue: records carry a message group and keep its order.
    pub(crate) fn is_sqs_fifo(&self) -> bool {
        match self {
            SourceConfig::Sqs(c) => c.is_fifo(),
            SourceConfig::Rabbitmq(_) | SourceConfig::Activemq(_) => false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) enum TargetConfig {
    /// An HTTP function.
    Http(HttpTargetConfig),
    /// A function behind the AWS Lambda Invoke API.
    Lambda(LambdaTargetConfig),
    /// Serve the Lambda Runtime API: unchanged Lambda function code polls it for batches.
    RuntimeApi(RuntimeApiConfig),
    /// A RabbitMQ exchange, with publisher confirms.
    Rabbitmq(RabbitMqTargetConfig),
    /// An SQS queue, with `SendMessageBatch`.
    Sqs(SqsTargetConfig),
    /// An ActiveMQ destination: a synchronous send (OpenWire) or a receipt (STOMP) per message.
    Activemq(ActiveMqTargetConfig),
}

impl TargetConfig {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            TargetConfig::Http(_) => "http",
            TargetConfig::Lambda(_) => "lambda",
            TargetConfig::RuntimeApi(_) => "runtime_api",
            TargetConfig::Rabbitmq(_) => "rabbitmq",
            TargetConfig::Sqs(_) => "sqs",
            TargetConfig::Activemq(_) => "activemq",
        }
    }

    /// Its `input_template`, if any.
    pub(crate) fn input_template(&self) -> Option<&str> {
        match self {
            TargetConfig::Http(c) => c.input_template.as_deref(),
            TargetConfig::Lambda(c) => c.input_template.as_deref(),
            TargetConfig::RuntimeApi(c) => c.input_template.as_deref(),
            TargetConfig::Rabbitmq(c) => c.input_template.as_deref(),
            TargetConfig::Sqs(c) => c.input_template.as_deref(),
            TargetConfig::Activemq(c) => c.input_template.as_deref(),
        }
    }

    /// `<aws.pipes.target-arn>`: a function's name or ARN as configured, an SQS queue's ARN,
    /// else the redacted address (and destination) of the target.
    pub(crate) fn arn(&self) -> String {
        match self {
            TargetConfig::Http(c) => redact_url(c.url.expose()),
            TargetConfig::Lambda(c) => match &c.qualifier {
                Some(q) => format!("{}:{q}", c.function_name),
                None => c.function_name.clone(),
            },
            TargetConfig::RuntimeApi(c) => c
                .function_arn
                .clone()
                .unwrap_or_else(|| format!("runtime-api://{}", c.listen)),
            TargetConfig::Rabbitmq(c) => {
                let url = c.url.iter().chain(&c.urls).next();
                format!(
                    "{}/{}",
                    url.map(|u| redact_url(u.expose())).unwrap_or_default(),
                    c.exchange
                )
            }
            TargetConfig::Sqs(c) => match sluice_sqs::QueueUrl::parse(&c.queue_url) {
                Ok(q) => {
                    let region = c.region.clone().or(q.host_region.clone());
                    q.arn(region.as_deref().unwrap_or("us-east-1"))
                }
                Err(_) => c.queue_url.clone(),
            },
            TargetConfig::Activemq(c) => {
                format!("{}/{}", redact_url(c.url.expose()), c.destination)
            }
        }
    }

    fn validate(&self, path: &str, source: &SourceConfig, errors: &mut Vec<ConfigError>) {
        let path = format!("{path}.{}", self.kind());
        if let Some(t) = self.input_template() {
            if path.starts_with("dead_letter") {
                errors.push(ConfigError::new(
                    format!("{path}.input_template"),
                    "found a template, allowed none: a dead letter keeps the record as it was",
                ));
            } else if let Err(e) = sluice_core::template::Template::compile(t) {
                errors.push(ConfigError::new(
                    format!("{path}.input_template"),
                    format!("invalid template: {e}"),
                ));
            }
        }
        match self {
            TargetConfig::Http(c) => c.validate(&path, errors),
            TargetConfig::Lambda(c) => c.validate(&path, errors),
            TargetConfig::RuntimeApi(c) => c.validate(&path, errors),
            TargetConfig::Rabbitmq(c) => c.validate(&path, errors),
            TargetConfig::Sqs(c) => c.validate(&path, source.is_sqs_fifo(), errors),
            TargetConfig::Activemq(c) => c.validate(&path, errors),
        }
    }
}

impl PipeConfig {
    /// Every rule that needs more than one field; used by `validate` and `run` alike.
    pub(crate) fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !valid_name(&self.name) {
            errors.push(ConfigError::new(
                "name",
                format!("found {:?}, allowed [a-z0-9][a-z0-9-]{{0,62}}", self.name),
            ));
        }
        validate_common(&self.batch, &self.retry, self.concurrency, &mut errors);
        match &self.source {
            SourceConfig::Rabbitmq(c) => c.validate("source.rabbitmq", &mut errors),
            SourceConfig::Sqs(c) => c.validate("source.sqs", &self.batch, &mut errors),
            SourceConfig::Activemq(c) => c.validate("source.activemq", &mut errors),
        }
        self.target.validate("target", &self.source, &mut errors);
        if matches!(self.target, TargetConfig::Lambda(_))
            && self.batch.max_bytes.0 > sluice_http::lambda::MAX_PAYLOAD
        {
            errors.push(ConfigError::new(
                "batch.max_bytes",
                format!(
                    "found {}, allowed at most 6MiB with target.lambda (Lambda's payload limit)",
                    self.batch.max_bytes.0
                ),
            ));
        }
        if let Some(d) = &self.dead_letter {
            d.validate("dead_letter", &self.source, &mut errors);
        }
        if let Some(patterns) = &self.filter {
            if patterns.is_empty() {
                errors.push(ConfigError::new(
                    "filter",
                    "found an empty list, allowed one or more patterns (leave the key out to let every record through)",
                ));
            }
            for (i, p) in patterns.iter().enumerate() {
                if let Err(e) = p.compile() {
                    errors.push(ConfigError::new(
                        format!("filter[{i}]"),
                        format!("invalid event pattern: {e}"),
                    ));
                }
            }
        }
        if let Some(EnrichmentConfig::Http(h)) = &self.enrichment {
            h.validate("enrichment.http", &mut errors);
        }
        if self.on_filtered == OnFiltered::DeadLetter && self.dead_letter.is_none() {
            errors.push(ConfigError::new(
                "on_filtered",
                "found dead_letter, allowed only with a dead_letter destination (add one, or use ack)",
            ));
        }
        if let Some(r) = self.rate_limit
            && !(1..=1_000_000).contains(&r)
        {
            errors.push(ConfigError::new(
                "rate_limit",
                format!("found {r}, allowed 1..1000000 records per second"),
            ));
        }
        errors
    }
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["orders", "a", "0-x", &"a".repeat(63)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "Orders", "a_b", &"a".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
