//! `source.activemq` and `target.activemq` (with `protocol: stomp`), and broker URLs.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{ConfigError, HumanDuration, Secret, redact_url};
use std::time::Duration;

/// Which wire protocol reaches ActiveMQ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// ActiveMQ's native protocol (what Lambda uses). Not in this version yet.
    #[default]
    Openwire,
    /// STOMP 1.2: ActiveMQ, RabbitMQ's STOMP plugin, any STOMP 1.2 broker.
    Stomp,
}

/// `source.activemq`: consume one or more queues.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ActiveMqSourceConfig {
    /// `openwire` (default) or `stomp`.
    #[serde(default)]
    pub protocol: Protocol,
    /// `stomp://HOST:PORT` (also `tcp://`), `stomp+ssl://` (also `ssl://`), a comma-separated
    /// list, or `failover:(URL,URL)`: tried in turn on every (re)connect.
    pub url: Secret,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Queues to consume (virtual-topic consumer queues work like any queue).
    pub queues: Vec<String>,
    /// Value of `eventSourceArn` in events. Default: `arn:aws:mq:local:000000000000:broker:HOST`.
    pub event_source_arn: Option<String>,
    /// Unacknowledged messages the broker may send ahead (`activemq.prefetchSize`), per queue.
    /// Default: 2 x batch.size x concurrency.
    pub prefetch: Option<u32>,
    /// STOMP `host` header (RabbitMQ's STOMP plugin takes it as the vhost). Default: the
    /// broker's host name.
    pub virtual_host: Option<String>,
    /// Heart-beat interval asked of the broker and sent to it; a broker silent for twice its
    /// interval is taken as gone and the connection replaced. 0s turns heart-beats off.
    /// Default 10s.
    #[serde(default = "default_heart_beat")]
    pub heart_beat: HumanDuration,
}

fn default_heart_beat() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// `target.activemq` (also usable as `dead_letter`): SEND with a receipt per message.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ActiveMqTargetConfig {
    /// `openwire` (default) or `stomp`.
    #[serde(default)]
    pub protocol: Protocol,
    /// As for the source.
    pub url: Secret,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Queue name (`orders`), or a STOMP destination (`/queue/orders`, `/topic/x`).
    pub destination: String,
    /// Send as persistent unless the record says otherwise. Default true.
    #[serde(default = "default_persistent")]
    pub persistent: bool,
    /// STOMP `host` header. Default: the broker's host name.
    pub virtual_host: Option<String>,
}

fn default_persistent() -> bool {
    true
}

/// One broker address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "stomp+ssl" } else { "stomp" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Parse `url`: one URL, a comma-separated list, or `failover:(a,b)?options`.
pub fn endpoints(url: &str) -> Result<Vec<Endpoint>, String> {
    let inner = match url.strip_prefix("failover:") {
        Some(rest) => {
            let rest = rest.split('?').next().unwrap_or_default();
            rest.strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or(rest)
        }
        None => url,
    };
    let mut out = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let u = url::Url::parse(part).map_err(|e| format!("`{}`: {e}", redact_url(part)))?;
        let tls = match u.scheme() {
            "stomp" | "tcp" => false,
            "stomp+ssl" | "ssl" | "stomp+tls" => true,
            other => {
                return Err(format!(
                    "`{}`: scheme {other}, allowed stomp://, stomp+ssl://, tcp://, ssl:// or failover:(...)",
                    redact_url(part)
                ));
            }
        };
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("`{}`: no host", redact_url(part)))?;
        out.push(Endpoint {
            host: host.trim_matches(['[', ']']).to_owned(),
            port: u.port().unwrap_or(if tls { 61614 } else { 61613 }),
            tls,
        });
    }
    if out.is_empty() {
        return Err("no broker address".into());
    }
    Ok(out)
}

fn check_protocol(path: &str, p: Protocol, errors: &mut Vec<ConfigError>) {
    if p == Protocol::Openwire {
        errors.push(ConfigError::new(
            format!("{path}.protocol"),
            "found openwire (the default), which this version of sluice does not speak yet; allowed: stomp",
        ));
    }
}

fn check_url(path: &str, url: &Secret, errors: &mut Vec<ConfigError>) {
    if let Err(e) = endpoints(url.expose()) {
        errors.push(ConfigError::new(format!("{path}.url"), e));
    }
}

impl ActiveMqSourceConfig {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        check_protocol(path, self.protocol, errors);
        check_url(path, &self.url, errors);
        if self.queues.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.queues"),
                "found an empty list, allowed one or more queue names",
            ));
        }
        if self.prefetch == Some(0) {
            errors.push(ConfigError::new(
                format!("{path}.prefetch"),
                "found 0, allowed 1 or more",
            ));
        }
    }
}

impl ActiveMqTargetConfig {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        check_protocol(path, self.protocol, errors);
        check_url(path, &self.url, errors);
        if self.destination.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.destination"),
                "found an empty name, allowed a queue name or a /queue/ or /topic/ destination",
            ));
        }
    }
}

/// A queue name as a STOMP destination.
pub fn destination(name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/queue/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let e =
            endpoints("failover:(stomp+ssl://b-1.example:61614,ssl://b-2.example)?randomize=false")
                .unwrap();
        assert_eq!(
            e,
            vec![
                Endpoint {
                    host: "b-1.example".into(),
                    port: 61614,
                    tls: true
                },
                Endpoint {
                    host: "b-2.example".into(),
                    port: 61614,
                    tls: true
                },
            ]
        );
        let e = endpoints("stomp://127.0.0.1:61613, tcp://h2").unwrap();
        assert_eq!(
            e[1],
            Endpoint {
                host: "h2".into(),
                port: 61613,
                tls: false
            }
        );
        assert!(endpoints("amqp://h").is_err());
        assert!(endpoints("failover:()").is_err());
    }
}
