//! The four sources as [`Broker`]s: RabbitMQ (AMQP), ActiveMQ over STOMP and over OpenWire,
//! and SQS (moto).

use super::{Broker, Queue};
use crate::broker::{Rabbit, rabbitmqctl, url as rabbit_url};
use crate::sqs::{Sqs, endpoint as sqs_endpoint};
use crate::stomp::{Client, activemq_port};
use crate::{jms, unique, wait_for};
use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use base64::Engine;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

/// The body of a record whose `data` is base64 (Lambda's `aws:mq` and `aws:rmq` records).
pub fn decode_data(record: &Value) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(record["data"].as_str().unwrap_or(""))
        .unwrap_or_default();
    String::from_utf8_lossy(&raw).into_owned()
}

fn host_port(url: &str) -> SocketAddr {
    let u = url::Url::parse(url).expect("a broker URL");
    let host = u.host_str().expect("a host");
    let port = u.port_or_known_default().expect("a port");
    format!("{host}:{port}").parse().expect("an IP address")
}

/// RabbitMQ over AMQP 0-9-1 (the shared node of `scripts/rabbitmq.sh`).
pub struct RabbitMq;

#[async_trait]
impl Broker for RabbitMq {
    fn kind(&self) -> &'static str {
        "rabbitmq"
    }

    /// With `dead_letter`, the queue's dead-letter exchange routes rejected messages to a
    /// queue of their own.
    async fn queue(&self, dead_letter: bool) -> Queue {
        let rabbit = Rabbit::connect().await;
        let name = unique("conf");
        let dlq = dead_letter.then(|| format!("{name}-dlq"));
        match &dlq {
            Some(d) => {
                rabbit.queue(d, &[]).await;
                rabbit
                    .queue(
                        &name,
                        &[
                            ("x-dead-letter-exchange", ""),
                            ("x-dead-letter-routing-key", d),
                        ],
                    )
                    .await;
            }
            None => rabbit.queue(&name, &[]).await,
        }
        Queue {
            tag: name.clone(),
            name,
            dead_letter: dlq,
        }
    }

    fn source(&self, queue: &Queue, via: Option<&str>) -> String {
        let mut url = rabbit_url();
        if let Some(proxy) = via {
            url = url.replace(&host_port(&url).to_string(), proxy);
        }
        format!(
            "source:\n  rabbitmq:\n    url: {url}\n    queues: [{}]\n",
            queue.name
        )
    }

    async fn publish(&self, queue: &Queue, bodies: &[String]) {
        let rabbit = Rabbit::connect().await;
        let messages: Vec<_> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                // The body is the message id, unless too long for an AMQP short string.
                let id = if b.len() <= 200 {
                    b.clone()
                } else {
                    format!("{}-long-{i}", queue.tag)
                };
                (
                    lapin::BasicProperties::default().with_message_id(id.into()),
                    b.clone().into_bytes(),
                )
            })
            .collect();
        rabbit.publish_all(&queue.name, messages).await;
    }

    /// Ready messages: asked once no consumer holds any, that is everything left.
    async fn left(&self, queue: &Queue) -> u64 {
        u64::from(Rabbit::connect().await.ready(&queue.name).await)
    }

    async fn broker_dead_lettered(&self, queue: &Queue, expected: usize) -> Vec<String> {
        let Some(dlq) = &queue.dead_letter else {
            return Vec::new();
        };
        let rabbit = Rabbit::connect().await;
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while got.len() < expected {
                for m in rabbit.drain(dlq).await {
                    got.push(String::from_utf8_lossy(&m.body).into_owned());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        got
    }

    fn addr(&self) -> SocketAddr {
        host_port(&rabbit_url())
    }

    fn body(&self, record: &Value) -> String {
        decode_data(record)
    }

    async fn restart(&self) {
        rabbitmqctl(&["stop_app"]);
        rabbitmqctl(&["start_app"]);
    }
}

/// ActiveMQ (the shared broker of `scripts/activemq.sh`), published to over STOMP; `protocol`
/// is what Sluice consumes with.
struct ActiveMq {
    protocol: &'static str,
}

/// ActiveMQ consumed over STOMP.
pub struct ActiveMqStomp;
/// ActiveMQ consumed over OpenWire.
pub struct ActiveMqOpenWire;

impl ActiveMq {
    fn source(&self, queue: &Queue, via: Option<&str>) -> String {
        let (scheme, port) = match self.protocol {
            "stomp" => ("stomp", activemq_port()),
            _ => ("tcp", jms::openwire_port()),
        };
        let at = via.map_or_else(|| format!("127.0.0.1:{port}"), str::to_owned);
        let heart_beat = if self.protocol == "stomp" {
            "    heart_beat: 1s\n"
        } else {
            ""
        };
        format!(
            "source:\n  activemq:\n    protocol: {}\n    url: {scheme}://{at}\n    queues: [{}]\n{heart_beat}",
            self.protocol, queue.name
        )
    }

    fn addr(&self) -> SocketAddr {
        let port = match self.protocol {
            "stomp" => activemq_port(),
            _ => jms::openwire_port(),
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// ActiveMQ's shared parts: queues are created by the first send; rejected messages go to
/// `ActiveMQ.DLQ`, where this test's are picked out by their `test` property.
macro_rules! activemq_broker {
    ($t:ty, $protocol:literal) => {
        #[async_trait]
        impl Broker for $t {
            fn kind(&self) -> &'static str {
                concat!("activemq-", $protocol)
            }

            async fn queue(&self, _dead_letter: bool) -> Queue {
                let name = unique("conf");
                Queue {
                    tag: name.replace('-', "_"),
                    name,
                    dead_letter: Some("ActiveMQ.DLQ".into()),
                }
            }

            fn source(&self, queue: &Queue, via: Option<&str>) -> String {
                ActiveMq {
                    protocol: $protocol,
                }
                .source(queue, via)
            }

            async fn publish(&self, queue: &Queue, bodies: &[String]) {
                let mut client = Client::connect(activemq_port(), None).await;
                let messages: Vec<_> = bodies
                    .iter()
                    .map(|b| {
                        (
                            b.clone().into_bytes(),
                            vec![("test".to_owned(), queue.tag.clone())],
                        )
                    })
                    .collect();
                for chunk in messages.chunks(500) {
                    client.send(&queue.name, chunk).await;
                }
            }

            async fn left(&self, queue: &Queue) -> u64 {
                jms::queue_size(&jms::openwire_url(), &queue.name).await
            }

            async fn broker_dead_lettered(&self, queue: &Queue, expected: usize) -> Vec<String> {
                let selector = format!("test = '{}'", queue.tag);
                jms::consume(
                    &jms::openwire_url(),
                    "ActiveMQ.DLQ",
                    expected,
                    5_000,
                    Some(&selector),
                )
                .await
                .iter()
                .map(|m| m["text"].as_str().unwrap_or("").to_owned())
                .collect()
            }

            fn addr(&self) -> SocketAddr {
                ActiveMq {
                    protocol: $protocol,
                }
                .addr()
            }

            fn body(&self, record: &Value) -> String {
                decode_data(record)
            }

            async fn restart(&self) {
                jms::shared_broker("stop");
                jms::shared_broker("start");
            }
        }
    };
}

activemq_broker!(ActiveMqStomp, "stomp");
activemq_broker!(ActiveMqOpenWire, "openwire");

/// A standard SQS queue on moto. Moto keeps queues in memory, so it has no restart that keeps
/// them: the restart scenario does not run for SQS.
pub struct SqsStandard;

/// Deliveries after which SQS moves a message to the queue's dead-letter queue.
const MAX_RECEIVE_COUNT: u32 = 2;

#[async_trait]
impl Broker for SqsStandard {
    fn kind(&self) -> &'static str {
        "sqs"
    }

    fn body_key(&self) -> &'static str {
        "body"
    }

    fn settles_by_connection(&self) -> bool {
        false
    }

    fn notices_every_reset(&self) -> bool {
        false
    }

    /// With `dead_letter`, a redrive policy moves a message to a queue of its own after
    /// [`MAX_RECEIVE_COUNT`] receives.
    async fn queue(&self, dead_letter: bool) -> Queue {
        let sqs = Sqs::connect().await;
        let name = unique("conf");
        let mut attributes = vec![(QueueAttributeName::VisibilityTimeout, "5".to_owned())];
        let dlq = if dead_letter {
            let dlq = sqs.queue(&format!("{name}-dlq"), &[]).await;
            let policy = serde_json::json!({
                "deadLetterTargetArn": sqs.arn(&dlq).await,
                "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
            });
            attributes.push((QueueAttributeName::RedrivePolicy, policy.to_string()));
            Some(dlq)
        } else {
            None
        };
        Queue {
            name: sqs.queue(&name, &attributes).await,
            dead_letter: dlq,
            tag: name,
        }
    }

    /// One receive at a time: moto's receives are not atomic, and two at once now and then
    /// hand out one message twice.
    fn source(&self, queue: &Queue, via: Option<&str>) -> String {
        let endpoint = match via {
            Some(proxy) => format!("http://{proxy}"),
            None => sqs_endpoint(),
        };
        format!(
            "source:\n  sqs:\n    queue_url: {}\n    endpoint_url: {endpoint}\n    max_receives: 1\n",
            queue.name
        )
    }

    async fn publish(&self, queue: &Queue, bodies: &[String]) {
        Sqs::connect().await.send(&queue.name, bodies, None).await;
    }

    async fn left(&self, queue: &Queue) -> u64 {
        let (visible, hidden) = Sqs::connect().await.depth(&queue.name).await;
        visible + hidden
    }

    async fn broker_dead_lettered(&self, queue: &Queue, expected: usize) -> Vec<String> {
        let Some(dlq) = &queue.dead_letter else {
            return Vec::new();
        };
        let sqs = Sqs::connect().await;
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while got.len() < expected {
                for m in sqs.drain(dlq).await {
                    got.push(m.body.unwrap_or_default());
                }
            }
        })
        .await;
        got
    }

    fn addr(&self) -> SocketAddr {
        host_port(&sqs_endpoint())
    }

    fn body(&self, record: &Value) -> String {
        record["body"].as_str().unwrap_or("").to_owned()
    }

    async fn restart(&self) {
        panic!("moto keeps queues in memory: SQS has no restart scenario");
    }
}

/// Wait until the broker counts nothing left in `queue`.
pub(super) async fn until_empty(broker: &dyn Broker, queue: &Queue) {
    wait_for(
        &format!("{} queue {} empty", broker.kind(), queue.name),
        Duration::from_secs(60),
        || async { broker.left(queue).await == 0 },
    )
    .await;
}
