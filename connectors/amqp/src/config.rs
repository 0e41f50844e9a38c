//! `source.rabbitmq` and `target.rabbitmq`.

use lapin::uri::AMQPUri;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{ConfigError, Secret, redact_url};

/// `source.rabbitmq`: consume one or more queues.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RabbitMqSourceConfig {
    /// `amqp://` or `amqps://` URL with credentials (PLAIN), host, port and vhost
    /// (`%2f` is `/`).
    pub url: Option<Secret>,
    /// Alternative to `url`: cluster nodes, tried in turn on every (re)connect.
    #[serde(default)]
    pub urls: Vec<Secret>,
    /// Virtual host. Default: the URL's vhost, else `/`.
    pub vhost: Option<String>,
    /// Queues to consume; one or more.
    pub queues: Vec<String>,
    /// Unacknowledged deliveries RabbitMQ may send ahead, per queue. Default:
    /// 2 x batch.size x concurrency (at most 65535), so that batches keep flowing while others
    /// are in flight.
    pub prefetch: Option<u16>,
    /// Value of `eventSourceArn` in events. Default: `arn:aws:mq:local:000000000000:broker:HOST`.
    pub event_source_arn: Option<String>,
}

/// `target.rabbitmq` (also usable as `dead_letter`): publish with publisher confirms.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RabbitMqTargetConfig {
    /// `amqp://` or `amqps://` URL.
    pub url: Option<Secret>,
    /// Alternative to `url`: cluster nodes, tried in turn.
    #[serde(default)]
    pub urls: Vec<Secret>,
    /// Virtual host. Default: the URL's vhost, else `/`.
    pub vhost: Option<String>,
    /// Exchange to publish to. Default `""`, the default exchange (routing key = queue name).
    #[serde(default)]
    pub exchange: String,
    /// Routing key. Default `""`.
    #[serde(default)]
    pub routing_key: String,
    /// Publish as persistent (delivery mode 2) unless the record says otherwise. Default true.
    #[serde(default = "default_persistent")]
    pub persistent: bool,
    /// Reshape each record before it is sent: EventBridge Pipes' `InputTemplate` (static
    /// text, `<$.path>` placeholders into the record, `<aws.pipes.*>` variables; see the
    /// README's "Input templates"). Not allowed under `dead_letter`, which keeps records as
    /// they were.
    pub input_template: Option<String>,
}

fn default_persistent() -> bool {
    true
}

/// Parse `url`/`urls` into broker URIs with the vhost applied.
pub(crate) fn uris(
    url: &Option<Secret>,
    urls: &[Secret],
    vhost: &Option<String>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<AMQPUri> {
    let list: Vec<(String, &Secret)> = match (url, urls.is_empty()) {
        (Some(u), true) => vec![(format!("{path}.url"), u)],
        (None, false) => urls
            .iter()
            .enumerate()
            .map(|(i, u)| (format!("{path}.urls[{i}]"), u))
            .collect(),
        (Some(_), false) => {
            errors.push(ConfigError::new(
                path,
                "found both url and urls, allowed one of them",
            ));
            return Vec::new();
        }
        (None, true) => {
            errors.push(ConfigError::new(
                format!("{path}.url"),
                "missing, allowed an amqp:// or amqps:// URL (or urls)",
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (p, u) in list {
        let raw = u.expose();
        if !(raw.starts_with("amqp://") || raw.starts_with("amqps://")) {
            errors.push(ConfigError::new(
                p,
                format!(
                    "found `{}`, allowed an amqp:// or amqps:// URL",
                    redact_url(raw)
                ),
            ));
            continue;
        }
        match raw.parse::<AMQPUri>() {
            Ok(mut uri) => {
                if let Some(v) = vhost {
                    uri.vhost = v.clone();
                }
                // AMQP carries the vhost as a short string.
                if uri.vhost.len() > SHORT_STRING_MAX {
                    errors.push(ConfigError::new(
                        if vhost.is_some() {
                            format!("{path}.vhost")
                        } else {
                            p
                        },
                        format!(
                            "found a vhost of {} bytes, allowed at most {SHORT_STRING_MAX}",
                            uri.vhost.len()
                        ),
                    ));
                    continue;
                }
                out.push(uri);
            }
            Err(e) => errors.push(ConfigError::new(
                p,
                format!("found `{}`, not a valid AMQP URL: {e}", redact_url(raw)),
            )),
        }
    }
    out
}

/// The longest AMQP short string (queue, exchange, routing key, vhost, property values).
pub const SHORT_STRING_MAX: usize = 255;

/// A name AMQP carries as a short string: at most 255 bytes.
fn check_short(path: String, value: &str, allow_empty: bool, errors: &mut Vec<ConfigError>) {
    if (value.is_empty() && !allow_empty) || value.len() > SHORT_STRING_MAX {
        errors.push(ConfigError::new(
            path,
            format!(
                "found {} bytes, allowed {}..{SHORT_STRING_MAX}",
                value.len(),
                u8::from(!allow_empty)
            ),
        ));
    }
}

/// The first URL, redacted, for display.
pub(crate) fn display(url: &Option<Secret>, urls: &[Secret]) -> String {
    url.iter()
        .chain(urls)
        .map(|u| redact_url(u.expose()))
        .collect::<Vec<_>>()
        .join(",")
}

impl RabbitMqSourceConfig {
    /// Rules that need more than one field; errors name their place under `path`.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        uris(&self.url, &self.urls, &self.vhost, path, errors);
        if self.queues.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.queues"),
                "found an empty list, allowed one or more queue names",
            ));
        }
        for (i, q) in self.queues.iter().enumerate() {
            check_short(format!("{path}.queues[{i}]"), q, false, errors);
        }
        if self.prefetch == Some(0) {
            errors.push(ConfigError::new(
                format!("{path}.prefetch"),
                "found 0 (unlimited), allowed 1..65535",
            ));
        }
    }
}

impl RabbitMqTargetConfig {
    /// Rules that need more than one field; errors name their place under `path`.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        uris(&self.url, &self.urls, &self.vhost, path, errors);
        if self.exchange.is_empty() && self.routing_key.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.routing_key"),
                "missing: with the default exchange the routing key is the queue name",
            ));
        }
        check_short(format!("{path}.exchange"), &self.exchange, true, errors);
        check_short(
            format!("{path}.routing_key"),
            &self.routing_key,
            true,
            errors,
        );
    }
}
