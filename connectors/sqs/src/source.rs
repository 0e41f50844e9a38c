//! The SQS source: long-polling receives, as many in parallel as the backlog keeps full.

use crate::acker::SqsAcker;
use crate::config::{QueueUrl, SqsSourceConfig, resolve_region};
use crate::connection::{self, Endpoint};
use crate::error::{ErrorClass, SqsError};
use crate::event::{self, QueueFields};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use sluice_core::backoff;
use sluice_core::record::Record;
use sluice_core::source::{Acker, Outcome, Source, SourceContext, forward};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often the queue's attributes (backlog, redrive policy) are read again.
const ATTRIBUTES_INTERVAL: Duration = Duration::from_secs(5);
/// Messages per receive (SQS's limit).
const PER_RECEIVE: i32 = 10;

pub struct SqsSource {
    url: QueueUrl,
    endpoint: Endpoint,
    fields: QueueFields,
    wait_secs: i32,
    visibility: Option<u64>,
    max_receives: usize,
    acker: Arc<SqsAcker>,
    seq: AtomicU64,
    display: String,
}

/// The queue attributes Sluice uses.
struct QueueInfo {
    backlog: i64,
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
        Ok(SqsSource {
            fields: QueueFields {
                arn: url.arn(&region),
                region: region.clone(),
            },
            endpoint: Endpoint {
                region,
                endpoint_url: cfg.endpoint_url.clone(),
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
            display: format!("sqs {}", url.url),
            url,
        })
    }

    /// The queue's ARN, as it appears in `eventSourceARN`.
    pub fn arn(&self) -> &str {
        &self.fields.arn
    }

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
        Ok(QueueInfo {
            backlog: get(QueueAttributeName::ApproximateNumberOfMessages)
                .parse()
                .unwrap_or(0),
            visibility_secs: get(QueueAttributeName::VisibilityTimeout)
                .parse()
                .unwrap_or(30),
            max_receive_count,
            dead_letter_arn,
        })
    }

    fn apply(&self, info: &QueueInfo, ctx: &SourceContext) {
        ctx.metrics.backlog.set(info.backlog);
        self.acker.set_queue(
            self.visibility.unwrap_or(info.visibility_secs),
            info.max_receive_count,
        );
    }

    /// Read the queue until it answers; false if stopped first.
    async fn connect(
        &self,
        client: &Client,
        ctx: &SourceContext,
        stop: &CancellationToken,
    ) -> bool {
        let mut failures = 0;
        loop {
            let info = tokio::select! {
                _ = stop.cancelled() => return false,
                i = self.queue_info(client) => i,
            };
            match info {
                Ok(info) => {
                    self.apply(&info, ctx);
                    ctx.status.set_connected(true);
                    ctx.status.set_reason("USER_INITIATED");
                    let visibility = self.visibility.unwrap_or(info.visibility_secs);
                    match &info.dead_letter_arn {
                        Some(dlq) => {
                            info!(queue = %self.url.url, visibility, max_receive_count = info.max_receive_count, dead_letter_queue = %dlq, "receiving; the queue's redrive policy decides when a record is given up")
                        }
                        None => info!(queue = %self.url.url, visibility, "receiving"),
                    }
                    return true;
                }
                Err(e) => {
                    failures += 1;
                    if !self.wait_after(&e, failures, ctx, stop).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Report a failed call and wait before the next; false if stopped meanwhile.
    async fn wait_after(
        &self,
        e: &SqsError,
        failures: u32,
        ctx: &SourceContext,
        stop: &CancellationToken,
    ) -> bool {
        ctx.metrics.source_conn_errors.inc();
        if e.class != ErrorClass::Throttled {
            ctx.status.set_connected(false);
            ctx.status.set_reason(e.class.reason());
        }
        let delay = backoff::reconnect_delay(failures);
        warn!(error = %e, reason = e.class.reason(), retry_in = ?delay, "sqs call failed");
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }

    /// Messages received while stopping: tracked and made visible again at once.
    async fn hand_back(&self, messages: Vec<aws_sdk_sqs::types::Message>, asked_at: Instant) {
        let mut back = Vec::with_capacity(messages.len());
        for m in messages {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(r) = event::to_record(seq, m, &self.fields) {
                self.acker
                    .received(seq, r.message_id, r.receipt_handle, asked_at);
                back.push((
                    r.record.id,
                    Outcome::Retry {
                        delay: Duration::ZERO,
                    },
                ));
            }
        }
        self.acker.settle(&back).await;
    }

    /// One receiving loop. Loop `i` runs while fewer than `i + 1` receives are wanted.
    async fn poll(
        &self,
        i: usize,
        client: Client,
        wanted: Arc<watch::Sender<usize>>,
        out: mpsc::Sender<Record>,
        ctx: SourceContext,
        stop: CancellationToken,
    ) {
        let mut wanted_rx = wanted.subscribe();
        let mut failures = 0;
        loop {
            if i >= *wanted_rx.borrow_and_update() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = wanted_rx.changed() => continue,
                }
            }
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
            let send = receive.send();
            tokio::pin!(send);
            let received = tokio::select! {
                r = &mut send => r,
                _ = stop.cancelled() => {
                    // SQS hides what a receive returns as soon as it answers: a receive in
                    // flight is let finish briefly, and what it got is handed back at once.
                    // One still waiting after the grace found nothing to hide.
                    if let Ok(Ok(got)) = tokio::time::timeout(STOP_GRACE, send).await {
                        self.hand_back(got.messages.unwrap_or_default(), asked_at).await;
                    }
                    return;
                }
            };
            let messages = match received {
                Ok(out) => {
                    if failures > 0 {
                        ctx.status.set_connected(true);
                        ctx.status.set_reason("USER_INITIATED");
                    }
                    failures = 0;
                    out.messages.unwrap_or_default()
                }
                Err(e) => {
                    failures += 1;
                    let e = SqsError::from_sdk("ReceiveMessage", e);
                    if !self.wait_after(&e, failures, &ctx, &stop).await {
                        return;
                    }
                    continue;
                }
            };
            let n = messages.len();
            let max = self.max_receives;
            if n == PER_RECEIVE as usize {
                wanted.send_if_modified(|w| (*w < max).then(|| *w += 1).is_some());
            } else if n == 0 {
                wanted.send_if_modified(|w| (*w > 1).then(|| *w = 1).is_some());
            }
            let mut records = Vec::with_capacity(n);
            for m in messages {
                let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(r) = event::to_record(seq, m, &self.fields) {
                    let again = self.acker.rejected_before(&r.message_id);
                    self.acker
                        .received(seq, r.message_id, r.receipt_handle, asked_at);
                    if again {
                        // Given up before: back at once, until SQS moves it.
                        self.acker.settle(&[(r.record.id, Outcome::Reject)]).await;
                    } else {
                        records.push(r.record);
                    }
                }
            }
            let ids: Vec<_> = records.iter().map(|r| r.id).collect();
            for (i, r) in records.into_iter().enumerate() {
                if !forward(&out, r, &stop).await {
                    // Stopped with records in hand (this one included): give them back now.
                    let back: Vec<_> = ids[i..]
                        .iter()
                        .map(|id| {
                            (
                                *id,
                                Outcome::Retry {
                                    delay: Duration::ZERO,
                                },
                            )
                        })
                        .collect();
                    self.acker.settle(&back).await;
                    return;
                }
            }
        }
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

#[async_trait]
impl Source for SqsSource {
    async fn run(&self, out: mpsc::Sender<Record>, ctx: SourceContext, stop: CancellationToken) {
        let client = connection::client(&self.endpoint).await;
        if !self.connect(&client, &ctx, &stop).await {
            return;
        }
        self.acker.count_errors_in(ctx.metrics.ack_errors.clone());
        self.acker.start(client.clone()).await;
        let wanted = Arc::new(watch::Sender::new(1usize));
        // The loops borrow `self`, so they run on this task rather than spawned: they spend
        // their time waiting on SQS, not computing.
        let mut loops = Vec::new();
        for i in 0..self.max_receives {
            loops.push(self.poll(
                i,
                client.clone(),
                wanted.clone(),
                out.clone(),
                ctx.clone(),
                stop.clone(),
            ));
        }
        drop(out);
        let all = futures_util::future::join_all(loops);
        let attributes = async {
            let mut tick = tokio::time::interval(ATTRIBUTES_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                match self.queue_info(&client).await {
                    Ok(info) => self.apply(&info, &ctx),
                    Err(e) => warn!(error = %e, "reading the queue's attributes failed"),
                }
            }
        };
        tokio::select! {
            _ = all => {}
            _ = attributes => {}
        }
    }

    fn acker(&self) -> Arc<dyn Acker> {
        self.acker.clone()
    }

    async fn close(&self) {
        self.acker.close().await;
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
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
