//! The STOMP source's and target's settings (the bridge reads them from `source.activemq` and
//! `target.activemq` with `protocol: stomp`), and broker URLs.

use sluice_core::config::{broker_address, broker_list};
use std::time::Duration;

/// What the STOMP source needs (the bridge builds it from `source.activemq` with
/// `protocol: stomp`).
#[derive(Clone, Debug)]
pub struct StompSourceConfig {
    /// `stomp://HOST:PORT` (also `tcp://`), `stomp+ssl://` (also `ssl://`), a comma-separated
    /// list, or `failover:(URL,URL)`: tried in turn on every (re)connect.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub queues: Vec<String>,
    /// `activemq.prefetchSize` per queue; None: the pipe's default.
    pub prefetch: Option<u32>,
    /// STOMP `host` header (RabbitMQ's STOMP plugin takes it as the vhost). Default: the
    /// broker's host name.
    pub virtual_host: Option<String>,
    /// Heart-beat interval asked of the broker and sent to it; zero for none.
    pub heart_beat: Duration,
}

/// What the STOMP target needs.
#[derive(Clone, Debug)]
pub struct StompTargetConfig {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Queue name (`orders`), or a STOMP destination (`/queue/orders`, `/topic/x`).
    pub destination: String,
    /// Send as persistent unless the record says otherwise.
    pub persistent: bool,
    pub virtual_host: Option<String>,
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
    // Failover options (randomize and others) are not acted on over STOMP: brokers are tried
    // in the order given.
    let (urls, _options) = broker_list(url)?;
    urls.into_iter()
        .map(|part| {
            let a = broker_address(part, SCHEMES, (61613, 61614))?;
            Ok(Endpoint {
                host: a.host,
                port: a.port,
                tls: a.tls,
            })
        })
        .collect()
}

/// URL schemes and whether they mean TLS.
const SCHEMES: &[(&str, bool)] = &[
    ("stomp", false),
    ("stomp+ssl", true),
    ("tcp", false),
    ("ssl", true),
    ("stomp+tls", true),
];

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
