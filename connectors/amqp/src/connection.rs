//! Connecting to one of several nodes.

use crate::error::AmqpError;
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};
use sluice_core::config::redact_url;
use std::time::Duration;

/// Longest wait for a connection to open (TCP, TLS, AMQP handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Heart-beat asked for when the URL names none (`?heartbeat=N` overrides): RabbitMQ's own
/// default of 60s would leave a black-holed connection unnoticed for two minutes.
const DEFAULT_HEARTBEAT_SECS: u16 = 10;

/// Connect to node number `attempt` (mod the list), so that successive attempts walk the
/// cluster's nodes in turn.
pub(crate) async fn connect(
    uris: &[AMQPUri],
    attempt: usize,
    name: &str,
) -> Result<Connection, AmqpError> {
    let mut uri = uris[attempt % uris.len()].clone();
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(DEFAULT_HEARTBEAT_SECS);
    }
    let node = node_name(&uri);
    let props = ConnectionProperties::default().with_connection_name(name.into());
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, props)).await {
        Ok(r) => r.map_err(|source| AmqpError::Connect { node, source }),
        Err(_) => Err(AmqpError::ConnectTimeout {
            node,
            after: CONNECT_TIMEOUT,
        }),
    }
}

/// `host:port/vhost`, never the credentials.
pub(crate) fn node_name(uri: &AMQPUri) -> String {
    redact_url(&format!(
        "{}:{}/{}",
        uri.authority.host, uri.authority.port, uri.vhost
    ))
}
