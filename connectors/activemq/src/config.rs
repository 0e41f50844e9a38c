//! `source.activemq` and `target.activemq`: one set of keys for both protocols, chosen by
//! `protocol`, and the broker URLs ActiveMQ clients write (one URL, a list, or
//! `failover:(URL,URL)?randomize=...`). Secrets stay [`Secret`] until the moment of
//! connecting.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{ConfigError, HumanDuration, Secret};
use sluice_core::redact::redact_url;
use std::time::Duration;

/// Which wire protocol reaches ActiveMQ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// ActiveMQ's native protocol, as Lambda and JMS clients use.
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
    /// OpenWire: `tcp://HOST:61616`, `ssl://HOST:61617` (also `nio://`, `nio+ssl://`).
    /// STOMP: `stomp://HOST:61613` (also `tcp://`), `stomp+ssl://HOST:61614` (also `ssl://`).
    /// Either: a comma-separated list, or `failover:(URL,URL)` (OpenWire also takes
    /// `?randomize=true|false`, default true); brokers are tried in turn on every (re)connect.
    pub url: Secret,
    /// User name for the broker's login.
    pub username: Option<String>,
    /// Password for the broker's login (`${env:...}` or `${file:...}`).
    pub password: Option<Secret>,
    /// Queues to consume (virtual-topic consumer queues work like any queue).
    pub queues: Vec<String>,
    /// Value of `eventSourceArn` in events. Default: `arn:aws:mq:local:000000000000:broker:HOST`.
    pub event_source_arn: Option<String>,
    /// Unacknowledged messages the broker may send ahead, per queue (the consumer prefetch).
    /// Default: 2 x batch.size x concurrency.
    pub prefetch: Option<u32>,
    /// STOMP only: the `host` header (RabbitMQ's STOMP plugin takes it as the vhost).
    /// Default: the broker's host name.
    pub virtual_host: Option<String>,
    /// STOMP only: heart-beat interval asked of the broker and sent to it; a broker silent for
    /// twice its interval is taken as gone. 0s turns heart-beats off. Default 10s. (OpenWire
    /// uses ActiveMQ's inactivity monitor: 30s, a keep-alive every 10s.)
    #[serde(default = "default_heart_beat")]
    pub heart_beat: HumanDuration,
}

fn default_heart_beat() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// `target.activemq` (also usable as `dead_letter`): a confirmed send per message.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ActiveMqTargetConfig {
    /// `openwire` (default) or `stomp`.
    #[serde(default)]
    pub protocol: Protocol,
    /// As for the source.
    pub url: Secret,
    /// User name for the broker's login.
    pub username: Option<String>,
    /// Password for the broker's login (`${env:...}` or `${file:...}`).
    pub password: Option<Secret>,
    /// A queue name (`orders`). OpenWire also takes `queue://orders` and `topic://prices`;
    /// STOMP a destination such as `/queue/orders` or `/topic/prices`.
    pub destination: String,
    /// Send as persistent unless the record says otherwise. Default true.
    #[serde(default = "default_persistent")]
    pub persistent: bool,
    /// STOMP only: the `host` header. Default: the broker's host name.
    pub virtual_host: Option<String>,
    /// Reshape each record before it is sent: EventBridge Pipes' `InputTemplate` (static
    /// text, `<$.path>` placeholders into the record, `<aws.pipes.*>` variables; see the
    /// README's "Input templates"). Not allowed under `dead_letter`, which keeps records as
    /// they were.
    pub input_template: Option<String>,
}

fn default_persistent() -> bool {
    true
}

fn check_url(path: &str, protocol: Protocol, url: &Secret, errors: &mut Vec<ConfigError>) {
    if let Err(e) = Brokers::parse(url.expose(), protocol) {
        errors.push(ConfigError::new(format!("{path}.url"), e));
    }
}

fn check_stomp_only(
    path: &str,
    protocol: Protocol,
    host: &Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    if protocol == Protocol::Openwire && host.is_some() {
        errors.push(ConfigError::new(
            format!("{path}.virtual_host"),
            "found a value with protocol openwire; virtual_host is a STOMP setting",
        ));
    }
}

impl ActiveMqSourceConfig {
    /// Rules that need more than one field; errors name their place under `path`.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        check_url(path, self.protocol, &self.url, errors);
        check_stomp_only(path, self.protocol, &self.virtual_host, errors);
        if self.queues.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.queues"),
                "found an empty list, allowed one or more queue names",
            ));
        }
        for (i, q) in self.queues.iter().enumerate() {
            if let Err(e) = Queue::parse(q) {
                errors.push(ConfigError::new(format!("{path}.queues[{i}]"), e));
            }
        }
        if self.prefetch == Some(0) {
            errors.push(ConfigError::new(
                format!("{path}.prefetch"),
                "found 0, allowed 1 or more",
            ));
        }
        let hb = self.heart_beat.0;
        if !hb.is_zero() && !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&hb) {
            errors.push(ConfigError::new(
                format!("{path}.heart_beat"),
                format!("found {}, allowed 0s (off) or 100ms..10m", self.heart_beat),
            ));
        }
    }
}

impl ActiveMqTargetConfig {
    /// Rules that need more than one field; errors name their place under `path`.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        check_url(path, self.protocol, &self.url, errors);
        check_stomp_only(path, self.protocol, &self.virtual_host, errors);
        if self.destination.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.destination"),
                "found an empty name, allowed a queue name or a destination",
            ));
        }
    }
}

/// A queue to consume, from its entry in `queues`: a name, optionally with ActiveMQ's
/// destination options as a JMS client writes them (`orders?consumer.exclusive=true`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Queue {
    /// The queue's name, without options.
    pub name: String,
    /// `consumer.exclusive=true`: the broker gives the whole queue to one consumer at a time
    /// (the others stand by and take over when it goes), so one replica consumes, in order.
    pub exclusive: bool,
}

impl Queue {
    /// Parse an entry of `queues`; unknown options are errors, not silently ignored.
    pub(crate) fn parse(entry: &str) -> Result<Queue, String> {
        let (name, options) = entry.split_once('?').unwrap_or((entry, ""));
        if name.is_empty() {
            return Err("found an empty queue name".into());
        }
        let mut queue = Queue {
            name: name.to_owned(),
            exclusive: false,
        };
        for option in options.split('&').filter(|o| !o.is_empty()) {
            match option.split_once('=') {
                Some(("consumer.exclusive", v)) => {
                    queue.exclusive = v.parse().map_err(|_| {
                        format!("found consumer.exclusive={v}, allowed true or false")
                    })?;
                }
                _ => {
                    return Err(format!(
                        "found the destination option `{option}`, allowed consumer.exclusive=true|false"
                    ));
                }
            }
        }
        Ok(queue)
    }
}

/// One broker address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// The scheme it is shown with (`stomp+ssl`, `tcp`, ...).
    scheme: &'static str,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Brokers and the order they are tried in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Brokers {
    pub endpoints: Vec<Endpoint>,
    /// `failover:(...)?randomize=` (OpenWire): ActiveMQ's default is true, so that clients
    /// spread over the brokers. Sluice then starts at a random broker and goes round the list
    /// from there. STOMP clients have no such option: brokers are tried in the order given.
    pub randomize: bool,
}

/// URL schemes of each protocol, whether they mean TLS, and the default (plain, TLS) ports.
fn schemes(protocol: Protocol) -> (&'static [(&'static str, bool)], (u16, u16)) {
    match protocol {
        Protocol::Openwire => (
            &[
                ("tcp", false),
                ("ssl", true),
                ("nio", false),
                ("nio+ssl", true),
                ("tls", true),
            ],
            (61616, 61617),
        ),
        Protocol::Stomp => (
            &[
                ("stomp", false),
                ("stomp+ssl", true),
                ("tcp", false),
                ("ssl", true),
                ("stomp+tls", true),
            ],
            (61613, 61614),
        ),
    }
}

impl Brokers {
    /// Parse `url` for `protocol`. OpenWire failover options other than `randomize` are
    /// refused: Sluice reconnects forever with its own capped backoff, and a silently ignored
    /// option would mislead. STOMP has no failover options of its own; they are not acted on.
    pub(crate) fn parse(url: &str, protocol: Protocol) -> Result<Brokers, String> {
        let (urls, options) = broker_list(url)?;
        let openwire = protocol == Protocol::Openwire;
        let mut randomize = openwire && url.trim_start().starts_with("failover:");
        for (k, v) in options.into_iter().filter(|_| openwire) {
            match (k, v) {
                ("randomize", "true") => randomize = true,
                ("randomize", "false") => randomize = false,
                ("randomize", other) => {
                    return Err(format!("randomize={other}, allowed true or false"));
                }
                (other, _) => {
                    return Err(format!(
                        "failover option `{other}` is not supported (allowed: randomize); sluice reconnects with its own capped backoff"
                    ));
                }
            }
        }
        let (schemes, ports) = schemes(protocol);
        let mut endpoints = Vec::with_capacity(urls.len());
        for part in urls {
            if openwire && part.contains('?') {
                return Err(format!(
                    "`{}`: transport options are not supported",
                    redact_url(part)
                ));
            }
            endpoints.push(endpoint(part, schemes, ports)?);
        }
        Ok(Brokers {
            endpoints,
            randomize,
        })
    }

    /// Where round-robin over the brokers starts: a random broker with `randomize`, else the
    /// first.
    pub(crate) fn start(&self) -> usize {
        if self.randomize {
            fastrand::usize(..self.endpoints.len())
        } else {
            0
        }
    }

    /// The broker a connection attempt goes to: round the list from `start`.
    pub(crate) fn pick(&self, start: usize, attempt: usize) -> &Endpoint {
        &self.endpoints[(start + attempt) % self.endpoints.len()]
    }

    /// The first broker's host, for the default `eventSourceArn`.
    pub(crate) fn host(&self) -> &str {
        &self.endpoints[0].host
    }
}

impl std::fmt::Display for Brokers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.endpoints.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Broker URLs and `failover:` options (name, value), in the order written.
type BrokerList<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);

/// Split one URL, a comma-separated list, or `failover:(URL,URL,...)?option=value&...` into
/// its URLs and failover options.
fn broker_list(url: &str) -> Result<BrokerList<'_>, String> {
    let (inner, options) = match url.trim().strip_prefix("failover:") {
        Some(rest) => {
            let (list, query) = match rest.strip_prefix('(') {
                Some(r) => {
                    let close = r
                        .find(')')
                        .ok_or("failover:( without its closing parenthesis")?;
                    (&r[..close], r[close + 1..].strip_prefix('?').unwrap_or(""))
                }
                None => rest.split_once('?').unwrap_or((rest, "")),
            };
            let mut options = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("failover option `{pair}` has no value"))?;
                options.push((k, v));
            }
            (list, options)
        }
        None => (url, Vec::new()),
    };
    let urls: Vec<&str> = inner
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if urls.is_empty() {
        return Err("no broker address".into());
    }
    Ok((urls, options))
}

/// Parse one URL of a broker list.
fn endpoint(
    part: &str,
    schemes: &'static [(&'static str, bool)],
    ports: (u16, u16),
) -> Result<Endpoint, String> {
    let shown = redact_url(part);
    let u = url::Url::parse(part).map_err(|e| format!("`{shown}`: {e}"))?;
    let Some(&(scheme, tls)) = schemes.iter().find(|(s, _)| *s == u.scheme()) else {
        let allowed: Vec<String> = schemes.iter().map(|(s, _)| format!("{s}://")).collect();
        return Err(format!(
            "`{shown}`: scheme {}, allowed {} or failover:(...)",
            u.scheme(),
            allowed.join(", ")
        ));
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("`{shown}`: no host"))?;
    Ok(Endpoint {
        host: host.trim_matches(['[', ']']).to_owned(),
        port: u.port().unwrap_or(if tls { ports.1 } else { ports.0 }),
        tls,
        scheme,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openwire_failover_urls_as_amazon_mq_gives_them() {
        let parse = |url| Brokers::parse(url, Protocol::Openwire);
        let b = parse(
            "failover:(ssl://b-1.mq.example:61617,ssl://b-2.mq.example:61617)?randomize=false",
        )
        .unwrap();
        assert!(!b.randomize);
        assert_eq!(b.endpoints.len(), 2);
        assert_eq!(b.endpoints[1].to_string(), "ssl://b-2.mq.example:61617");
        let b = parse("failover:(tcp://a,nio://b:7)").unwrap();
        assert!(b.randomize, "ActiveMQ randomizes by default");
        assert_eq!(b.endpoints[0].port, 61616);
        assert_eq!(b.endpoints[1].port, 7);
        let b = parse("ssl://h").unwrap();
        assert!(!b.randomize);
        assert_eq!(b.endpoints[0].port, 61617);
        for bad in [
            "amqp://h",
            "failover:()",
            "failover:(tcp://a)?maxReconnectAttempts=0",
            "failover:(tcp://a)?randomize=maybe",
            "tcp://h?wireFormat.maxInactivityDuration=0",
            "failover:(tcp://a",
            "stomp://h",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stomp_urls() {
        let parse = |url| Brokers::parse(url, Protocol::Stomp);
        let b = parse("failover:(stomp+ssl://b-1.example:61614,ssl://b-2.example)?randomize=false")
            .unwrap();
        assert!(!b.randomize, "brokers are tried in the order given");
        let shown: Vec<String> = b.endpoints.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["stomp+ssl://b-1.example:61614", "ssl://b-2.example:61614"]
        );
        assert!(b.endpoints.iter().all(|e| e.tls));
        let b = parse("stomp://127.0.0.1:61613, tcp://h2").unwrap();
        assert_eq!(
            (b.endpoints[1].host.as_str(), b.endpoints[1].port),
            ("h2", 61613)
        );
        assert!(!b.endpoints[1].tls);
        assert!(parse("amqp://h").is_err());
        assert!(parse("failover:()").is_err());
    }

    #[test]
    fn queue_entries_take_the_exclusive_consumer_option_only() {
        assert_eq!(
            Queue::parse("orders").unwrap(),
            Queue {
                name: "orders".into(),
                exclusive: false
            }
        );
        assert_eq!(
            Queue::parse("orders?consumer.exclusive=true").unwrap(),
            Queue {
                name: "orders".into(),
                exclusive: true
            }
        );
        for bad in [
            "?consumer.exclusive=true",
            "orders?consumer.exclusive=yes",
            "orders?consumer.prefetchSize=5",
        ] {
            assert!(Queue::parse(bad).is_err(), "{bad}");
        }
    }
}
