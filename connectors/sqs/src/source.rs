//! The SQS source: long-polling receives, as many in parallel as the backlog keeps full, run
//! by core's session driver. A session is a run of receives on one client: it opens by
//! reading the queue's attributes (so a queue that does not exist, or credentials SQS refuses,
//! show as the pipe's reason), and ends when a call fails for a reason other than throttling.

use crate::acker::SqsAcker;
use crate::config::{QueueUrl, SqsSourceConfig, resolve_region};
use crate::connection::{self, Endpoint};
use crate::error::SqsError;
use crate::event::{self, QueueFields};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use sluice_core::record::Record;
use sluice_core::session::{Read, Session, SessionSource};
use sluice_core::source::{Acker, Outcome, SourceContext};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Messages per receive (SQS's limit).
const PER_RECEIVE: i32 = 10;

/// The SQS source: long-polling receives, run by core's session driver.
pub struct SqsSource {
    shared: Arc<Shared>,
    endpoint: Endpoint,
    client: OnceCell<Client>,
    display: String,
}

/// What the source and its sessions share.
struct Shared {
    url: QueueUrl,
    fields: QueueFields,
    wait_secs: i32,
    visibility: Option<u64>,
    max_receives: usize,
    acker: Arc<SqsAcker>,
    seq: AtomicU64,
}

/// The queue attributes Sluice uses.
struct QueueInfo {
    backlog: u64,
    visibility_secs: u64,
    max_receive_count: u32,
    dead_letter_arn: Option<String>,
}

impl SqsSource {
    /// Build from validated configuration; no I/O. `default_receives` comes from the pipe's
    /// batch size and concurrency.
    pub fn new(cfg: &SqsSourceConfig, default_receives: usize) -> Result<Self, String> {
        let url = QueueUrl::parse(&cfg.queue_url)?;
        let region = resolve_region(cfg.region.as_deref(), &url);
        let shared = Shared {
            fields: QueueFields {
                arn: url.arn(&region),
                region: region.clone(),
            },
            wait_secs: cfg.wait_time.0.as_secs() as i32,
            visibility: cfg.visibility_timeout.map(|v| v.0.as_secs()),
            // FIFO: one receive at a time unless set. Order within a group is the order of one
            // receive's messages; concurrent receives add little (SQS hands a group to one at a
            // time) and moto does not keep groups apart across concurrent receives.
            max_receives: cfg
                .max_receives
                .map_or(if url.is_fifo() { 1 } else { default_receives }, |n| {
                    n as usize
                })
                .clamp(1, 50),
            acker: Arc::new(SqsAcker::new(url.url.clone(), url.is_fifo())),
            seq: AtomicU64::new(0),
            url,
        };
        Ok(SqsSource {
            display: format!("sqs {}", shared.url.url),
            endpoint: Endpoint {
                region,
                endpoint_url: cfg.endpoint_url.clone(),
            },
            client: OnceCell::new(),
            shared: Arc::new(shared),
        })
    }

    /// The queue's ARN, as it appears in `eventSourceARN`.
    pub fn arn(&self) -> &str {
        &self.shared.fields.arn
    }

    async fn client(&self) -> Client {
        self.client
            .get_or_init(|| connection::client(&self.endpoint))
            .await
            .clone()
    }
}

impl Shared {
    async fn queue_info(&self, client: &Client) -> Result<QueueInfo, SqsError> {
        let out = client
            .get_queue_attributes()
            .queue_url(&self.url.url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| SqsError::from_sdk("GetQueueAttributes", e))?;
        let attrs = out.attributes.unwrap_or_default();
        let get = |a: QueueAttributeName| attrs.get(&a).cloned().unwrap_or_default();
        let (max_receive_count, dead_letter_arn) =
            parse_redrive(&get(QueueAttributeName::RedrivePolicy));
        let info = QueueInfo {
            backlog: get(QueueAttributeName::ApproximateNumberOfMessages)
                .parse()
                .unwrap_or(0),
            visibility_secs: get(QueueAttributeName::VisibilityTimeout)
                .parse()
                .unwrap_or(30),
            max_receive_count,
            dead_letter_arn,
        };
        self.acker.set_queue(
            self.visibility.unwrap_or(info.visibility_secs),
            info.max_receive_count,
        );
        Ok(info)
    }

    /// One receive, owning what it needs so that it outlives a dropped `next`.
    fn receive(&self, client: &Client) -> BoxFuture<'static, Received> {
        let asked_at = Instant::now();
        let mut receive = client
            .receive_message()
            .queue_url(&self.url.url)
            .max_number_of_messages(PER_RECEIVE)
            .wait_time_seconds(self.wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All");
        if let Some(v) = self.visibility {
            receive = receive.visibility_timeout(v as i32);
        }
        if self.url.is_fifo() {
            // A receive the SDK retries returns the same messages rather than hiding more.
            receive = receive.receive_request_attempt_id(attempt_id());
        }
        Box::pin(async move {
            let got = receive
                .send()
                .await
                .map_err(|e| SqsError::from_sdk("ReceiveMessage", e));
            (asked_at, got)
        })
    }

    /// Track received messages and make their records. A FIFO message given up before goes
    /// back at once, until SQS moves it.
    fn records(&self, messages: Vec<Message>, asked_at: Instant) -> Vec<Record> {
        let mut records = Vec::with_capacity(messages.len());
        for m in messages {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
            let Some(r) = event::to_record(seq, m, &self.fields) else {
                continue;
            };
            let again = self.acker.rejected_before(&r.message_id);
            self.acker
                .received(seq, r.message_id, r.receipt_handle, asked_at);
            if again {
                // Spawned: `next` must stay cancel-safe, and this settlement must happen.
                let acker = self.acker.clone();
                let id = r.record.id;
                tokio::spawn(async move { acker.settle(&[(id, Outcome::Reject)]).await });
            } else {
                records.push(r.record);
            }
        }
        records
    }
}

type Received = (Instant, Result<ReceiveMessageOutput, SqsError>);

/// A run of receives on one client.
pub struct Polling {
    shared: Arc<Shared>,
    client: Client,
    in_flight: FuturesUnordered<BoxFuture<'static, Received>>,
    /// Receives kept in flight: one more after each full receive (up to `max_receives`),
    /// back to one after an empty one.
    wanted: usize,
}

impl Polling {
    /// Let receives in flight finish briefly and hand back what they got: SQS hides what a
    /// receive returns as soon as it answers, and one still waiting after the grace found
    /// nothing to hide.
    async fn hand_back_in_flight(mut self) {
        let shared = self.shared.clone();
        let drain = async {
            while let Some((asked_at, got)) = self.in_flight.next().await {
                let Ok(out) = got else { continue };
                let records = shared.records(out.messages.unwrap_or_default(), asked_at);
                let back: Vec<_> = records
                    .iter()
                    .map(|r| {
                        (
                            r.id,
                            Outcome::Retry {
                                delay: Duration::ZERO,
                            },
                        )
                    })
                    .collect();
                shared.acker.settle(&back).await;
            }
        };
        let _ = tokio::time::timeout(STOP_GRACE, drain).await;
    }
}

#[async_trait]
impl SessionSource for SqsSource {
    type Session = Polling;

    fn kind(&self) -> &'static str {
        "sqs"
    }

    async fn start(&self, ctx: &SourceContext) {
        let client = self.client().await;
        self.shared
            .acker
            .count_errors_in(ctx.metrics.ack_errors.clone());
        self.shared.acker.start(client).await;
    }

    async fn open(&self, _attempt: usize, _epoch: u64) -> Result<(Polling, String), SqsError> {
        let client = self.client().await;
        let info = self.shared.queue_info(&client).await?;
        let visibility = self.shared.visibility.unwrap_or(info.visibility_secs);
        let peer = match &info.dead_letter_arn {
            // The queue's redrive policy decides when a record is given up.
            Some(dlq) => format!(
                "{} visibility={visibility}s max_receive_count={} dead_letter_queue={dlq}",
                self.shared.url.url, info.max_receive_count
            ),
            None => format!("{} visibility={visibility}s", self.shared.url.url),
        };
        Ok((
            Polling {
                shared: self.shared.clone(),
                client,
                in_flight: FuturesUnordered::new(),
                wanted: 1,
            },
            peer,
        ))
    }

    fn acker(&self) -> Arc<dyn Acker> {
        self.shared.acker.clone()
    }

    async fn close(&self) {
        self.shared.acker.close().await;
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}

#[async_trait]
impl Session for Polling {
    type Error = SqsError;

    // Written out: inside #[async_trait] an `async fn` would be boxed, once per message.
    #[allow(clippy::manual_async_fn)]
    fn next(&mut self) -> impl Future<Output = Result<Read, SqsError>> + Send {
        async move {
            while self.in_flight.len() < self.wanted {
                self.in_flight.push(self.shared.receive(&self.client));
            }
            let Some((asked_at, got)) = self.in_flight.next().await else {
                return Ok(Read::Alive);
            };
            let messages = got?.messages.unwrap_or_default();
            let n = messages.len();
            if n == PER_RECEIVE as usize {
                self.wanted = (self.wanted + 1).min(self.shared.max_receives);
            } else if n == 0 {
                self.wanted = 1;
            }
            Ok(Read::Records(self.shared.records(messages, asked_at)))
        }
    }

    async fn backlog(&mut self) -> Option<u64> {
        match self.shared.queue_info(&self.client).await {
            Ok(info) => Some(info.backlog),
            Err(e) => {
                tracing::warn!(error = %e, "reading the queue's attributes failed");
                None
            }
        }
    }

    async fn stop(self) {
        self.hand_back_in_flight().await;
    }

    async fn lost(self) {
        self.hand_back_in_flight().await;
    }
}

/// `(maxReceiveCount, deadLetterTargetArn)` of a `RedrivePolicy` attribute.
fn parse_redrive(policy: &str) -> (u32, Option<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(policy) else {
        return (0, None);
    };
    let count = match &v["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let arn = v["deadLetterTargetArn"].as_str().map(str::to_owned);
    match (count, arn) {
        (Some(n), Some(arn)) if n > 0 => (u32::try_from(n).unwrap_or(u32::MAX), Some(arn)),
        _ => (0, None),
    }
}

/// How long a receive in flight at shutdown may still take: one that found messages answers
/// at once, one still waiting found none.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A fresh `ReceiveRequestAttemptId` (letters and digits, at most 128).
fn attempt_id() -> String {
    (0..32).map(|_| fastrand::alphanumeric()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policies() {
        assert_eq!(
            parse_redrive(
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq","maxReceiveCount":"5"}"#
            ),
            (5, Some("arn:aws:sqs:us-east-1:1:dlq".into()))
        );
        assert_eq!(
            parse_redrive(r#"{"deadLetterTargetArn":"a","maxReceiveCount":3}"#),
            (3, Some("a".into()))
        );
        assert_eq!(parse_redrive(""), (0, None));
    }
}
