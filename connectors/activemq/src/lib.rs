//! sluice-activemq: ActiveMQ as a source and a target, over either of its protocols:
//! OpenWire (its native protocol, as Lambda's JMS client uses; the default) or STOMP 1.2
//! (`protocol: stomp`; also RabbitMQ's STOMP plugin and any STOMP 1.2 broker).
//!
//! Layout:
//! - `config.rs`: the `source.activemq` / `target.activemq` keys, their validation, and broker
//!   URLs (one URL, a list, `failover:(URL,URL)?randomize=`);
//! - `connection.rs`: TCP or TLS (rustls on ring, the system's roots) for both protocols;
//! - `event.rs`: Lambda's `aws:mq` shape and record, filled by both protocols;
//! - `acker.rs`: one acker for both (epoch table, shared writer, beats, goodbye);
//! - `mux.rs`: a connection shared by several sources, a session each, for both protocols
//!   (each protocol's `pool.rs` says how its frames find their session);
//! - `error.rs`: both protocols' errors classified in one place;
//! - `stomp/`, `openwire/`: each protocol's codec, handshake, source (a session for core's
//!   driver), settlement and sink; the connector impls below pick one by `protocol`.
//!
//! Secrets stay `Secret` until the moment a protocol writes them in its login frame.
//!
//! # Outcomes at the broker
//!
//! | runner outcome | OpenWire | STOMP |
//! |---|---|---|
//! | `Ack` (delivered, filtered, dead-lettered by Sluice) | `MessageAck` of type individual (4) | `ACK id:<ack>` |
//! | a failed delivery | nothing yet: Sluice holds it unacknowledged and retries it after the backoff | the same |
//! | `Reject` (given up after `retry.max_attempts`, no `dead_letter`) | `MessageAck` of type poison (1) with a cause: ActiveMQ moves the message to its dead-letter queue (`ActiveMQ.DLQ` by default) with `dlqDeliveryFailureCause` set | `NACK id:<ack> requeue:false`: a poison ack, ActiveMQ moves it to `ActiveMQ.DLQ` (RabbitMQ's plugin: rejected without requeue, so a dead-letter exchange takes it) |
//! | `Retry` (only at shutdown: records Sluice still held) | nothing: when the pipe's session is removed (`RemoveInfo`) the broker redelivers them, redelivery counter raised | nothing: the broker redelivers them when the pipe unsubscribes |
//! | stale (session or connection gone) | nothing: the broker already redelivers it | the same |
//! | a consumer the broker refuses (`ExceptionResponse`, not authorized) | the pipe's session is removed and opened again after its backoff; the other pipes on the connection read on | the same for an ERROR answering the pipe's SUBSCRIBE receipt; the pipe then takes a connection of its own (a STOMP broker may close a connection after an ERROR) |
//!
//! Why retries are Sluice's: Lambda consumes ActiveMQ with a JMS client whose redelivery
//! policy runs in the client (the seeds give `maximumRedeliveries` 5, so six deliveries) and
//! ends in a poison ack. Sluice's `retry.max_attempts` (default 6) plays that policy, with
//! backoff, and the poison ack ends it in the same place. A stock ActiveMQ has no broker-side
//! redelivery, so a poison ack goes straight to the DLQ.
//!
//! # Connections
//!
//! Sources that name the same brokers with the same credentials (and, over STOMP, virtual
//! host and heart-beat) share connections: at most 4, a new one for every 16 pipes until
//! then, each pipe with its own session (`mux.rs`). Targets keep a connection each.
//!
//! Brokers are tried in turn on every reconnect: from a random one when OpenWire's
//! `randomize` is true (ActiveMQ's default for `failover:`), in the order given for STOMP.
//! Core's session driver reconnects with capped backoff; a connection on which the broker
//! stayed silent (STOMP: twice the negotiated heart-beat; OpenWire: the negotiated inactivity
//! duration) ends, with the sessions of every pipe on it. Acks of an old session are skipped
//! as stale.
//!
//! # Example
//!
//! ```yaml
//! name: orders
//! source:
//!   activemq:
//!     url: failover:(ssl://b-1.mq.us-east-1.amazonaws.com:61617,ssl://b-2.mq.us-east-1.amazonaws.com:61617)?randomize=true
//!     username: app
//!     password: ${file:/var/run/secrets/activemq/password}
//!     queues: [orders]
//! target:
//!   http: {url: http://orders-fn.internal:8080/}
//! ```

mod acker;
mod config;
mod connection;
mod error;
mod event;
mod mux;
mod openwire;
mod stats;
pub mod stomp;

pub use config::{ActiveMqSourceConfig, ActiveMqTargetConfig, Protocol};
pub use error::{OpenWireError, StompError};

use sluice_core::config::ConfigError;
use sluice_core::connector::{
    BuiltSource, Defaults, SinkConnector, SinkContext, Sizing, SourceConnector,
};
use sluice_core::event::EventShape;
use sluice_core::session::Driven;
use sluice_core::sink::Sink;
use std::sync::Arc;
use std::time::Duration;

/// The ActiveMQ connector, as the bridge builds it.
pub struct ActiveMq;

impl SourceConnector for ActiveMq {
    type Config = ActiveMqSourceConfig;
    /// Lambda's defaults for Amazon MQ: batches of 100 within 500ms; several batches in flight,
    /// since acks are individual and need no order.
    const DEFAULTS: Defaults = Defaults {
        batch_size: 100,
        window: Duration::from_millis(500),
        concurrency: 5,
    };
    const SHAPE: EventShape = event::SHAPE;

    fn build_source(
        cfg: &ActiveMqSourceConfig,
        _pipe: &str,
        sizing: Sizing,
    ) -> Result<BuiltSource, Vec<ConfigError>> {
        // Room for the batches in flight and as many again arriving.
        let prefetch = sizing.in_flight().saturating_mul(2);
        let url_error = |e| vec![ConfigError::new("source.activemq.url", e)];
        let (source, host): (Arc<dyn sluice_core::Source>, String) = match cfg.protocol {
            Protocol::Openwire => {
                let s = openwire::OpenWireSource::new(cfg, prefetch).map_err(url_error)?;
                let host = s.host().to_owned();
                (Arc::new(Driven(s)), host)
            }
            Protocol::Stomp => {
                let s = stomp::StompSource::new(cfg, prefetch).map_err(url_error)?;
                let host = s.host().to_owned();
                (Arc::new(Driven(s)), host)
            }
        };
        Ok(BuiltSource {
            source,
            event_source_arn: cfg
                .event_source_arn
                .clone()
                .unwrap_or_else(|| event::default_arn(&host)),
            // Message groups (`JMSXGroupID`) stay in order inside Sluice as they do at the
            // broker; records without a group are not held back by anything.
            ordered: true,
        })
    }
}

impl SinkConnector for ActiveMq {
    type Config = ActiveMqTargetConfig;

    fn build_sink(
        cfg: &ActiveMqTargetConfig,
        ctx: &SinkContext<'_>,
    ) -> Result<Arc<dyn Sink>, Vec<ConfigError>> {
        let url_error = |e| vec![ConfigError::new(format!("{}.activemq.url", ctx.path), e)];
        Ok(match cfg.protocol {
            Protocol::Openwire => Arc::new(openwire::OpenWireSink::new(cfg).map_err(url_error)?),
            Protocol::Stomp => Arc::new(stomp::StompSink::new(cfg).map_err(url_error)?),
        })
    }
}
