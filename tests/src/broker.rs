//! RabbitMQ helpers for tests: queues, publishing, reading back, restarting the node.

use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// The RabbitMQ URL tests use (`SLUICE_RABBITMQ_URL`).
pub fn url() -> String {
    std::env::var("SLUICE_RABBITMQ_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5673/%2f".into())
}

/// The AMQP port of [`url`].
pub fn port() -> u16 {
    let u = url();
    let authority = u.split('@').next_back().unwrap_or(&u);
    let host_port = authority.split('/').next().unwrap_or(authority);
    host_port
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(5672)
}

/// The RabbitMQ node tests restart (`SLUICE_RABBITMQ_NODE`).
pub fn node() -> String {
    std::env::var("SLUICE_RABBITMQ_NODE").unwrap_or_else(|_| "sluice-5673@localhost".into())
}

/// A test's own connection to RabbitMQ, with publisher confirms.
pub struct Rabbit {
    /// The connection.
    pub conn: Connection,
    /// A channel in confirm mode.
    pub ch: Channel,
}

/// A message as read back from a queue.
pub struct Got {
    /// The body.
    pub body: Vec<u8>,
    /// Its properties.
    pub properties: BasicProperties,
}

impl Rabbit {
    /// Connect, or fail the test saying how to start the broker.
    pub async fn connect() -> Rabbit {
        let conn = Connection::connect(&url(), ConnectionProperties::default())
            .await
            .expect("RabbitMQ is not reachable: start it with scripts/rabbitmq.sh start");
        let ch = conn.create_channel().await.expect("channel");
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        Rabbit { conn, ch }
    }

    /// A durable queue; `args` e.g. `x-dead-letter-exchange`.
    pub async fn queue(&self, name: &str, args: &[(&str, &str)]) {
        let mut table = FieldTable::default();
        for (k, v) in args {
            table.insert((*k).into(), AMQPValue::LongString((*v).into()));
        }
        self.declare(name, table).await;
    }

    /// A durable single-active-consumer queue: the broker delivers to one consumer at a time,
    /// and hands the queue to the next when that one goes.
    pub async fn single_active_queue(&self, name: &str) {
        let mut table = FieldTable::default();
        table.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        self.declare(name, table).await;
    }

    async fn declare(&self, name: &str, args: FieldTable) {
        self.ch
            .queue_declare(
                name.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await
            .expect("declare queue");
    }

    /// Delete a queue, if it is there.
    pub async fn delete(&self, name: &str) {
        let _ = self
            .ch
            .queue_delete(name.into(), QueueDeleteOptions::default())
            .await;
    }

    /// Publish messages (persistent unless their properties say otherwise) and wait for every
    /// confirm.
    pub async fn publish_all(
        &self,
        queue: &str,
        messages: impl IntoIterator<Item = (BasicProperties, Vec<u8>)>,
    ) {
        let mut confirms = Vec::new();
        for (props, body) in messages {
            confirms.push(
                self.ch
                    .basic_publish(
                        "".into(),
                        queue.into(),
                        BasicPublishOptions::default(),
                        &body,
                        // Persistent unless the caller chose (a benchmark of transient messages).
                        match props.delivery_mode() {
                            Some(_) => props,
                            None => props.with_delivery_mode(2),
                        },
                    )
                    .await
                    .expect("publish"),
            );
            if confirms.len() >= 1000 {
                for c in confirms.drain(..) {
                    assert!(c.await.expect("confirm").is_ack());
                }
            }
        }
        for c in confirms {
            assert!(c.await.expect("confirm").is_ack());
        }
    }

    /// Messages given as (message id, body).
    pub async fn publish_with_ids(
        &self,
        queue: &str,
        messages: impl IntoIterator<Item = (String, String)>,
    ) {
        self.publish_all(
            queue,
            messages.into_iter().map(|(id, body)| {
                (
                    BasicProperties::default().with_message_id(id.into()),
                    body.into_bytes(),
                )
            }),
        )
        .await;
    }

    /// `n` JSON messages with message ids `{prefix}-{i}`.
    pub async fn publish_numbered(&self, queue: &str, prefix: &str, n: usize) {
        self.publish_all(
            queue,
            (0..n).map(|i| {
                (
                    BasicProperties::default()
                        .with_message_id(format!("{prefix}-{i}").into())
                        .with_content_type("application/json".into()),
                    format!("{{\"n\":{i}}}").into_bytes(),
                )
            }),
        )
        .await;
    }

    /// Messages ready in the queue (not counting unacknowledged ones).
    pub async fn ready(&self, queue: &str) -> u32 {
        self.counts(queue).await.0
    }

    /// Consumers subscribed to the queue now.
    pub async fn consumers(&self, queue: &str) -> u32 {
        self.counts(queue).await.1
    }

    /// (ready messages, consumers), from a passive declare.
    async fn counts(&self, queue: &str) -> (u32, u32) {
        let q = self
            .ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("passive declare");
        (q.message_count(), q.consumer_count())
    }

    /// Take every ready message from a queue.
    pub async fn drain(&self, queue: &str) -> Vec<Got> {
        let mut out = Vec::new();
        while let Some(m) = self
            .ch
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .expect("basic.get")
        {
            m.delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
            out.push(Got {
                body: m.delivery.data,
                properties: m.delivery.properties,
            });
        }
        out
    }
}

/// Run `rabbitmqctl -n NODE <args>` (used to drop every connection: `stop_app`/`start_app`).
pub fn rabbitmqctl(args: &[&str]) {
    let status = std::process::Command::new("rabbitmqctl")
        .arg("-n")
        .arg(node())
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("rabbitmqctl");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}
