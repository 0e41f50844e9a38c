//! The OpenWire source's and target's settings (the bridge reads them from `source.activemq`
//! and `target.activemq` with `protocol: openwire`, the default), and broker URLs.

use sluice_core::config::{broker_address, broker_list, redact_url};

/// URL schemes and whether they mean TLS.
const SCHEMES: &[(&str, bool)] = &[
    ("tcp", false),
    ("ssl", true),
    ("nio", false),
    ("nio+ssl", true),
    ("tls", true),
];

/// What the OpenWire source needs.
#[derive(Clone, Debug)]
pub struct OpenWireSourceConfig {
    /// `tcp://HOST:PORT`, `ssl://HOST:PORT` (also `nio://`, `nio+ssl://`), a comma-separated
    /// list, or `failover:(URL,URL)?randomize=true|false`.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Queues to consume: `orders` or `queue://orders`.
    pub queues: Vec<String>,
    /// Consumer prefetch per queue; None: the pipe's default.
    pub prefetch: Option<u32>,
}

/// What the OpenWire target needs.
#[derive(Clone, Debug)]
pub struct OpenWireTargetConfig {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `orders` (a queue), `queue://orders` or `topic://prices`.
    pub destination: String,
    /// Send as persistent unless the record says otherwise.
    pub persistent: bool,
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
        let scheme = if self.tls { "ssl" } else { "tcp" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Brokers and the order they are tried in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Brokers {
    pub endpoints: Vec<Endpoint>,
    /// `failover:(...)?randomize=`: ActiveMQ's default is true, so that clients spread over
    /// the brokers. Sluice then starts at a random broker and goes round the list from there.
    pub randomize: bool,
}

impl Brokers {
    /// Where round-robin over the brokers starts: a random broker with `randomize`, else the
    /// first.
    pub fn start(&self) -> usize {
        if self.randomize {
            fastrand::usize(..self.endpoints.len())
        } else {
            0
        }
    }
}

/// Parse `url`. Failover options other than `randomize` are refused: Sluice reconnects forever
/// with its own capped backoff, and a silently ignored option would mislead.
pub fn brokers(url: &str) -> Result<Brokers, String> {
    let (urls, options) = broker_list(url)?;
    let failover = url.trim_start().starts_with("failover:");
    let mut randomize = failover;
    for (k, v) in options {
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
    let mut endpoints = Vec::with_capacity(urls.len());
    for part in urls {
        if part.contains('?') {
            return Err(format!(
                "`{}`: transport options are not supported",
                redact_url(part)
            ));
        }
        let a = broker_address(part, SCHEMES, (61616, 61617))?;
        endpoints.push(Endpoint {
            host: a.host,
            port: a.port,
            tls: a.tls,
        });
    }
    Ok(Brokers {
        endpoints,
        randomize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_urls_as_amazon_mq_gives_them() {
        let b = brokers(
            "failover:(ssl://b-1.mq.example:61617,ssl://b-2.mq.example:61617)?randomize=false",
        )
        .unwrap();
        assert!(!b.randomize);
        assert_eq!(b.endpoints.len(), 2);
        assert_eq!(b.endpoints[1].to_string(), "ssl://b-2.mq.example:61617");
        let b = brokers("failover:(tcp://a,nio://b:7)").unwrap();
        assert!(b.randomize, "ActiveMQ randomizes by default");
        assert_eq!(b.endpoints[0].port, 61616);
        assert_eq!(b.endpoints[1].port, 7);
        let b = brokers("ssl://h").unwrap();
        assert!(!b.randomize);
        assert_eq!(b.endpoints[0].port, 61617);
        for bad in [
            "amqp://h",
            "failover:()",
            "failover:(tcp://a)?maxReconnectAttempts=0",
            "failover:(tcp://a)?randomize=maybe",
            "tcp://h?wireFormat.maxInactivityDuration=0",
            "failover:(tcp://a",
        ] {
            assert!(brokers(bad).is_err(), "{bad}");
        }
    }
}
