//! Connections shared by the pipes that name the same brokers with the same credentials, on
//! core's [`sluice_core::pool`] (which says how leases spread and what a fault does).
//!
//! RabbitMQ recommends few long-lived connections with a channel per consumer: every
//! connection costs the broker a process and file descriptors, and lapin a thread. So a pipe
//! leases a connection and opens its own channels on it; 1,000 pipes on one broker use at
//! most [`MAX_CONNECTIONS`] (4) connections for consuming and as many for publishing.
//! Consuming and publishing never share a connection: RabbitMQ blocks a publishing
//! connection under a memory or disk alarm, and a consumer on it would stall too. A refusal
//! about one queue (404, 403 on a queue) closes only that pipe's channel.

use crate::connection;
use crate::error::AmqpError;
use lapin::Connection;
use lapin::uri::AMQPUri;
use sluice_core::pool::{self, Pool, Shared};
use std::sync::{Arc, LazyLock};

/// Pipes on one connection before the pool opens the next (until [`MAX_CONNECTIONS`]), so
/// that a few busy pipes do not all wait on one connection's I/O thread.
const SPREAD: usize = 16;
/// Most connections per endpoint and role; past it, pipes join the least used. lapin gives
/// each connection an I/O thread and 8 MiB of buffers (32 frames each way at RabbitMQ's
/// 128 KiB `frame_max`, which Sluice keeps: a smaller one would make a message with large
/// headers undeliverable), so connections are the largest cost of many pipes.
pub(crate) const MAX_CONNECTIONS: usize = 4;

/// What the pipes do on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// Sources' consumers.
    Consume,
    /// Targets' and dead-letter destinations' publishers.
    Publish,
}

/// The role and every URI in full (credentials, vhost, options): only pipes that would open
/// exactly the same connection share one.
type Key = (Role, String);

/// A shared connection and the node it reached.
pub(crate) struct Pooled {
    conn: Connection,
    node: String,
}

impl Shared for Pooled {
    fn is_open(&self) -> bool {
        self.conn.status().connected()
    }
}

static POOL: LazyLock<Pool<Key, Pooled, AmqpError>> =
    LazyLock::new(|| Pool::new(SPREAD, MAX_CONNECTIONS));

/// A pipe's share of a connection; the connection closes when its last lease is closed.
pub(crate) struct Lease(pool::Lease<Key, Pooled, AmqpError>);

/// Lease a connection to one of `uris` for `role`; `attempt` picks the node when a new
/// connection has to be opened. Cancel-safe.
pub(crate) async fn lease(
    role: Role,
    uris: &[AMQPUri],
    attempt: usize,
) -> Result<Lease, AmqpError> {
    let key = (role, format!("{uris:?}"));
    let lease = POOL
        .lease(key, |number| async move {
            let role = match role {
                Role::Consume => "consume",
                Role::Publish => "publish",
            };
            let name = format!("sluice/{role}/{number}");
            let conn = connection::connect(uris, attempt, &name).await?;
            let node = connection::node_name(&uris[attempt % uris.len()]);
            Ok(Arc::new(Pooled { conn, node }))
        })
        .await?;
    Ok(Lease(lease))
}

impl Lease {
    /// The shared connection, to open channels on.
    pub(crate) fn connection(&self) -> &Connection {
        &self.0.connection().conn
    }

    /// `host:port/vhost` of the node it is connected to.
    pub(crate) fn node(&self) -> &str {
        &self.0.connection().node
    }

    /// Give the lease back; the last pipe on the connection closes it with `reason`.
    /// Close the lease's channels first.
    pub(crate) async fn close(self, reason: &str) {
        if let Some(last) = self.0.release()
            && let Ok(last) = Arc::try_unwrap(last)
        {
            sluice_core::source::bounded(last.conn.close(200, reason.into())).await;
        }
    }
}

/// Connections the pool holds for `role` (for tests).
#[cfg(test)]
fn count(role: Role) -> usize {
    POOL.connections(|(r, _)| *r == role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lease_on_a_refused_endpoint_is_an_error_and_leaves_no_connection() {
        // Nothing listens on port 1: the connect is refused at once.
        let uris: Vec<AMQPUri> = vec!["amqp://u:p@127.0.0.1:1/%2f".parse().expect("uri")];
        let e = lease(Role::Publish, &uris, 0).await.err().expect("refused");
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
        assert_eq!(count(Role::Publish), 0);
    }
}
