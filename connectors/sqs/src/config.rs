//! `source.sqs` and `target.sqs`, and what a queue URL tells.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{BatchConfig, ConfigError, HumanDuration};
use std::time::Duration;

/// `source.sqs`: receive from one queue, standard or FIFO.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SqsSourceConfig {
    /// The queue URL, e.g. `https://sqs.us-east-1.amazonaws.com/123456789012/orders`. A name
    /// ending in `.fifo` is a FIFO queue.
    pub queue_url: String,
    /// AWS Region. Default: from the queue URL's host, else `AWS_REGION` /
    /// `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Endpoint of an SQS-compatible server, e.g. `http://127.0.0.1:4566`. Default: AWS.
    pub endpoint_url: Option<String>,
    /// Long-polling wait of each receive, 0s..20s. Default 20s.
    #[serde(default = "default_wait_time")]
    pub wait_time: HumanDuration,
    /// Visibility timeout asked for on each receive, and the step by which Sluice extends it
    /// while a record is still being delivered; 1s..12h. Default: the queue's own.
    pub visibility_timeout: Option<HumanDuration>,
    /// Receives in flight at most; Sluice adds receives while they come back full and drops
    /// back to one when the queue runs dry. Default: enough for `concurrency` batches
    /// (batch.size x concurrency / 10), at least 1, at most 20 (more only when set); 1 for
    /// FIFO queues.
    pub max_receives: Option<u32>,
}

fn default_wait_time() -> HumanDuration {
    HumanDuration(Duration::from_secs(20))
}

/// `target.sqs` (also usable as `dead_letter`): send with `SendMessageBatch`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SqsTargetConfig {
    /// The queue URL. A name ending in `.fifo` is a FIFO queue.
    pub queue_url: String,
    /// AWS Region. Default: from the queue URL's host, else the AWS environment, else
    /// `us-east-1`.
    pub region: Option<String>,
    /// Endpoint of an SQS-compatible server. Default: AWS.
    pub endpoint_url: Option<String>,
    /// FIFO queues: `MessageGroupId` for records that carry none (records from an SQS FIFO
    /// source keep their own). Required for a FIFO target unless the source is a FIFO queue.
    pub message_group_id: Option<String>,
    /// Reshape each record before it is sent: EventBridge Pipes' `InputTemplate` (static
    /// text, `<$.path>` placeholders into the record, `<aws.pipes.*>` variables; see the
    /// README's "Input templates"). Not allowed under `dead_letter`, which keeps records as
    /// they were.
    pub input_template: Option<String>,
}

/// What a queue URL says: `SCHEME://HOST/ACCOUNT/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueUrl {
    /// The URL as written.
    pub url: String,
    /// The account id in its path.
    pub account: String,
    /// The queue's name.
    pub name: String,
    /// The Region in an AWS host (`sqs.REGION.amazonaws.com`, `REGION.queue.amazonaws.com`).
    pub host_region: Option<String>,
}

impl QueueUrl {
    /// Parse `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` (or a local server's URL).
    pub fn parse(raw: &str) -> Result<QueueUrl, String> {
        let u = url::Url::parse(raw).map_err(|e| format!("found `{raw}`, not a URL: {e}"))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(format!(
                "found `{raw}`, allowed an http:// or https:// queue URL"
            ));
        }
        let host = u.host_str().unwrap_or_default().to_owned();
        let segments: Vec<&str> = u
            .path_segments()
            .map(|s| s.filter(|x| !x.is_empty()).collect())
            .unwrap_or_default();
        let [account, name] = segments[..] else {
            return Err(format!(
                "found `{raw}`, allowed a queue URL of the form https://HOST/ACCOUNT/QUEUE"
            ));
        };
        let valid_name = !name.is_empty()
            && name.len() <= 80
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
        if !valid_name {
            return Err(format!(
                "found queue name `{name}`, allowed 1..80 of [A-Za-z0-9_-] (FIFO: ending in .fifo)"
            ));
        }
        Ok(QueueUrl {
            url: raw.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
            host_region: region_of_host(&host),
        })
    }

    /// A FIFO queue (its name ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }

    /// `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`, as Lambda puts in `eventSourceARN`.
    pub fn arn(&self, region: &str) -> String {
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        format!(
            "arn:{partition}:sqs:{region}:{}:{}",
            self.account, self.name
        )
    }
}

fn region_of_host(host: &str) -> Option<String> {
    let parts: Vec<&str> = host.split('.').collect();
    match parts[..] {
        ["sqs", region, "amazonaws", ..] => Some(region.to_owned()),
        [region, "queue", "amazonaws", ..] => Some(region.to_owned()),
        ["queue", "amazonaws", "com"] => Some("us-east-1".to_owned()),
        _ => None,
    }
}

/// The Region to sign with and to put in events: configured, else the URL's, else the
/// environment's, else `us-east-1` (what an SQS-compatible server is usually happy with).
pub fn resolve_region(configured: Option<&str>, url: &QueueUrl) -> String {
    configured
        .map(str::to_owned)
        .or_else(|| url.host_region.clone())
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .or_else(|| {
            std::env::var("AWS_DEFAULT_REGION")
                .ok()
                .filter(|r| !r.is_empty())
        })
        .unwrap_or_else(|| "us-east-1".to_owned())
}

fn check_url(path: &str, raw: &str, errors: &mut Vec<ConfigError>) -> Option<QueueUrl> {
    match QueueUrl::parse(raw) {
        Ok(u) => Some(u),
        Err(e) => {
            errors.push(ConfigError::new(format!("{path}.queue_url"), e));
            None
        }
    }
}

fn check_endpoint(path: &str, endpoint: &Option<String>, errors: &mut Vec<ConfigError>) {
    if let Some(e) = endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        errors.push(ConfigError::new(
            format!("{path}.endpoint_url"),
            format!("found `{e}`, allowed an http:// or https:// URL"),
        ));
    }
}

impl SqsSourceConfig {
    /// A FIFO queue: records of one message group go in order.
    pub fn is_fifo(&self) -> bool {
        QueueUrl::parse(&self.queue_url).is_ok_and(|u| u.is_fifo())
    }

    /// The rules of Lambda's SQS event source mappings, plus the keys' own ranges.
    pub fn validate(&self, path: &str, batch: &BatchConfig, errors: &mut Vec<ConfigError>) {
        check_endpoint(path, &self.endpoint_url, errors);
        if self.wait_time.0 > Duration::from_secs(20) {
            errors.push(ConfigError::new(
                format!("{path}.wait_time"),
                format!("found {}, allowed 0s..20s", self.wait_time),
            ));
        }
        if let Some(v) = self.visibility_timeout
            && !(Duration::from_secs(1)..=Duration::from_secs(12 * 3600)).contains(&v.0)
        {
            errors.push(ConfigError::new(
                format!("{path}.visibility_timeout"),
                format!("found {v}, allowed 1s..12h"),
            ));
        }
        if let Some(n) = self.max_receives
            && !(1..=50).contains(&n)
        {
            errors.push(ConfigError::new(
                format!("{path}.max_receives"),
                format!("found {n}, allowed 1..50"),
            ));
        }
        let Some(url) = check_url(path, &self.queue_url, errors) else {
            return;
        };
        let window = batch.window.map_or(Duration::ZERO, |w| w.0);
        match batch.size {
            Some(size) if url.is_fifo() && size > 10 => errors.push(ConfigError::new(
                "batch.size",
                format!("found {size}, allowed 1..10 for an SQS FIFO queue"),
            )),
            Some(size) if size > 10 && window < Duration::from_secs(1) => {
                errors.push(ConfigError::new(
                    "batch.window",
                    format!(
                        "found {}, allowed at least 1s when batch.size is over 10 for SQS (found {size})",
                        batch.window.map_or("0s (the default)".to_owned(), |w| w.to_string())
                    ),
                ))
            }
            _ => {}
        }
        if url.is_fifo() && !window.is_zero() {
            errors.push(ConfigError::new(
                "batch.window",
                "found a batching window, which SQS FIFO queues do not support: remove it",
            ));
        }
    }
}

impl SqsTargetConfig {
    /// `source_fifo`: the pipe's source is an SQS FIFO queue, whose records carry a group.
    pub fn validate(&self, path: &str, source_fifo: bool, errors: &mut Vec<ConfigError>) {
        check_endpoint(path, &self.endpoint_url, errors);
        let Some(url) = check_url(path, &self.queue_url, errors) else {
            return;
        };
        if url.is_fifo() && self.message_group_id.is_none() && !source_fifo {
            errors.push(ConfigError::new(
                format!("{path}.message_group_id"),
                "missing: a FIFO target needs a message group id when the source is not an SQS FIFO queue",
            ));
        }
        if let Some(g) = &self.message_group_id
            && (g.is_empty() || g.len() > 128 || !g.bytes().all(|c| c.is_ascii_graphic()))
        {
            errors.push(ConfigError::new(
                format!("{path}.message_group_id"),
                "found an invalid id, allowed 1..128 printable ASCII characters",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls() {
        let u =
            QueueUrl::parse("https://sqs.us-east-2.amazonaws.com/123456789012/my-queue").unwrap();
        assert_eq!(u.host_region.as_deref(), Some("us-east-2"));
        assert_eq!(
            u.arn("us-east-2"),
            "arn:aws:sqs:us-east-2:123456789012:my-queue"
        );
        assert!(!u.is_fifo());
        let u = QueueUrl::parse("http://127.0.0.1:4566/123456789012/fifo.fifo").unwrap();
        assert!(u.is_fifo());
        assert_eq!(u.host_region, None);
        assert_eq!(
            u.arn("cn-north-1"),
            "arn:aws-cn:sqs:cn-north-1:123456789012:fifo.fifo"
        );
        for bad in [
            "sqs.us-east-1.amazonaws.com/1/q",
            "https://sqs.us-east-1.amazonaws.com/q",
            "ftp://h/1/q",
            "https://h/1/q w",
        ] {
            assert!(QueueUrl::parse(bad).is_err(), "{bad}");
        }
    }

    fn batch(size: Option<u32>, window: Option<u64>) -> BatchConfig {
        BatchConfig {
            size,
            window: window.map(|s| HumanDuration(Duration::from_secs(s))),
            ..BatchConfig::default()
        }
    }

    fn problems(url: &str, b: BatchConfig) -> Vec<String> {
        let cfg = SqsSourceConfig {
            queue_url: url.into(),
            region: None,
            endpoint_url: None,
            wait_time: default_wait_time(),
            visibility_timeout: None,
            max_receives: None,
        };
        let mut errors = Vec::new();
        cfg.validate("source.sqs", &b, &mut errors);
        errors.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn lambda_batch_rules() {
        let std_q = "http://127.0.0.1:4566/123456789012/q";
        let fifo = "http://127.0.0.1:4566/123456789012/q.fifo";
        assert!(problems(std_q, batch(Some(10), None)).is_empty());
        assert!(problems(std_q, batch(Some(11), Some(1))).is_empty());
        let e = problems(std_q, batch(Some(11), None));
        assert!(
            e[0].contains("at least 1s when batch.size is over 10"),
            "{e:?}"
        );
        let e = problems(fifo, batch(Some(11), None));
        assert!(e[0].contains("1..10 for an SQS FIFO queue"), "{e:?}");
        let e = problems(fifo, batch(Some(5), Some(5)));
        assert!(e[0].contains("FIFO queues do not support"), "{e:?}");
        assert!(problems(fifo, batch(Some(10), Some(0))).is_empty());
    }
}
