//! `source.activemq` and `target.activemq`: one set of keys for two connectors, chosen by
//! `protocol`. The keys live here, in the bridge, because they pick between connectors; each
//! connector gets its own settings struct.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{ConfigError, HumanDuration, Secret};
use sluice_openwire::{OpenWireSourceConfig, OpenWireTargetConfig};
use sluice_stomp::{StompSourceConfig, StompTargetConfig};
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
    pub username: Option<String>,
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
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A queue name (`orders`). OpenWire also takes `queue://orders` and `topic://prices`;
    /// STOMP a destination such as `/queue/orders` or `/topic/prices`.
    pub destination: String,
    /// Send as persistent unless the record says otherwise. Default true.
    #[serde(default = "default_persistent")]
    pub persistent: bool,
    /// STOMP only: the `host` header. Default: the broker's host name.
    pub virtual_host: Option<String>,
}

fn default_persistent() -> bool {
    true
}

fn exposed(secret: &Option<Secret>) -> Option<String> {
    secret.as_ref().map(|p| p.expose().to_owned())
}

fn check_url(path: &str, protocol: Protocol, url: &Secret, errors: &mut Vec<ConfigError>) {
    let parsed = match protocol {
        Protocol::Openwire => sluice_openwire::config::brokers(url.expose()).map(|_| ()),
        Protocol::Stomp => sluice_stomp::config::endpoints(url.expose()).map(|_| ()),
    };
    if let Err(e) = parsed {
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
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        check_url(path, self.protocol, &self.url, errors);
        check_stomp_only(path, self.protocol, &self.virtual_host, errors);
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
        let hb = self.heart_beat.0;
        if !hb.is_zero() && !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&hb) {
            errors.push(ConfigError::new(
                format!("{path}.heart_beat"),
                format!("found {}, allowed 0s (off) or 100ms..10m", self.heart_beat),
            ));
        }
    }

    pub fn stomp(&self) -> StompSourceConfig {
        StompSourceConfig {
            url: self.url.expose().to_owned(),
            username: self.username.clone(),
            password: exposed(&self.password),
            queues: self.queues.clone(),
            prefetch: self.prefetch,
            virtual_host: self.virtual_host.clone(),
            heart_beat: self.heart_beat.0,
        }
    }

    pub fn openwire(&self) -> OpenWireSourceConfig {
        OpenWireSourceConfig {
            url: self.url.expose().to_owned(),
            username: self.username.clone(),
            password: exposed(&self.password),
            queues: self.queues.clone(),
            prefetch: self.prefetch,
        }
    }
}

impl ActiveMqTargetConfig {
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

    pub fn stomp(&self) -> StompTargetConfig {
        StompTargetConfig {
            url: self.url.expose().to_owned(),
            username: self.username.clone(),
            password: exposed(&self.password),
            destination: self.destination.clone(),
            persistent: self.persistent,
            virtual_host: self.virtual_host.clone(),
        }
    }

    pub fn openwire(&self) -> OpenWireTargetConfig {
        OpenWireTargetConfig {
            url: self.url.expose().to_owned(),
            username: self.username.clone(),
            password: exposed(&self.password),
            destination: self.destination.clone(),
            persistent: self.persistent,
        }
    }
}
