//! Connecting to one of several nodes.

use crate::error::AmqpError;
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};
use sluice_core::config::redact_url;

/// Connect to node number `attempt` (mod the list), so that successive attempts walk the
/// cluster's nodes in turn.
pub(crate) async fn connect(
    uris: &[AMQPUri],
    attempt: usize,
    name: &str,
) -> Result<Connection, AmqpError> {
    let uri = uris[attempt % uris.len()].clone();
    let node = node_name(&uri);
    let props = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect_uri(uri, props)
        .await
        .map_err(|source| AmqpError::Connect { node, source })
}

/// `host:port/vhost`, never the credentials.
pub(crate) fn node_name(uri: &AMQPUri) -> String {
    redact_url(&format!(
        "{}:{}/{}",
        uri.authority.host, uri.authority.port, uri.vhost
    ))
}
