//! SQS helpers for tests and the benchmark: a client for the local server (moto, started by
//! `scripts/sqs.sh`), queues with random names, sending, counting.

use crate::function::{Function, records};
use crate::process::Sluice;
use crate::{unique, wait_for};
use aws_config::BehaviorVersion;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{Credentials, Region};
use aws_sdk_sqs::types::{
    Message, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::collections::HashMap;
use std::time::Duration;

/// The SQS server: `SLUICE_SQS_URL`, default the moto server of `scripts/sqs.sh`.
pub fn endpoint() -> String {
    std::env::var("SLUICE_SQS_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// Environment for a `sluice` child: static test credentials (moto needs signed requests but
/// checks no keys) and no instance-metadata lookups, so nothing leaves loopback.
pub fn child_env() -> Vec<(&'static str, String)> {
    let keep = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_owned());
    vec![
        ("AWS_ACCESS_KEY_ID", keep("AWS_ACCESS_KEY_ID", "test")),
        (
            "AWS_SECRET_ACCESS_KEY",
            keep("AWS_SECRET_ACCESS_KEY", "test"),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

/// A test's own SQS client for the local server.
pub struct Sqs {
    /// The client.
    pub client: Client,
}

impl Sqs {
    /// A client for the local server, with test credentials.
    pub async fn connect() -> Sqs {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .endpoint_url(endpoint())
            .load()
            .await;
        Sqs {
            client: Client::new(&config),
        }
    }

    /// Create a queue (a name ending in `.fifo` makes a FIFO queue); returns its URL.
    pub async fn queue(&self, name: &str, attributes: &[(QueueAttributeName, String)]) -> String {
        let mut attrs: HashMap<QueueAttributeName, String> = attributes.iter().cloned().collect();
        if name.ends_with(".fifo") {
            attrs.insert(QueueAttributeName::FifoQueue, "true".into());
        }
        self.client
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attrs))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url")
    }

    /// The queue's ARN.
    pub async fn arn(&self, url: &str) -> String {
        self.attribute(url, QueueAttributeName::QueueArn).await
    }

    async fn attribute(&self, url: &str, name: QueueAttributeName) -> String {
        self.client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(name.clone())
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&name))
            .unwrap_or_default()
    }

    /// Messages in the queue, visible and in flight.
    pub async fn depth(&self, url: &str) -> (u64, u64) {
        let visible = self
            .attribute(url, QueueAttributeName::ApproximateNumberOfMessages)
            .await;
        let hidden = self
            .attribute(
                url,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            )
            .await;
        (visible.parse().unwrap_or(0), hidden.parse().unwrap_or(0))
    }

    /// Send bodies, ten per call; FIFO queues get `group` as message group and the body as
    /// deduplication id.
    pub async fn send(&self, url: &str, bodies: &[String], group: Option<&str>) {
        for (c, chunk) in bodies.chunks(10).enumerate() {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let mut e = SendMessageBatchRequestEntry::builder()
                        .id(format!("{c}-{i}"))
                        .message_body(b);
                    if let Some(g) = group {
                        e = e.message_group_id(g).message_deduplication_id(b);
                    }
                    e.build().expect("entry")
                })
                .collect();
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("send");
            assert!(out.failed.is_empty(), "send failed: {:?}", out.failed);
        }
    }

    /// Receive everything visible now (short waits until a receive comes back empty).
    pub async fn drain(&self, url: &str) -> Vec<Message> {
        let mut all = Vec::new();
        loop {
            let got = self
                .client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                return all;
            }
            all.extend(got);
        }
    }
}

/// Numbered bodies `prefix-000000`...
pub fn bodies(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:06}")).collect()
}

// Helpers for the pipe tests.

/// How long a test waits for anything.
pub const LIMIT: Duration = Duration::from_secs(120);

/// A pipe from the queue at `url` to `function_url`; `extra` is appended.
///
/// One receive at a time: moto's receives are not atomic, so two running at once now and
/// then hand out the same message twice. Tests that count deliveries exactly would see
/// those duplicates; `pipe_parallel` keeps Sluice's own default.
pub fn pipe(name: &str, url: &str, function_url: &str, extra: &str) -> String {
    pipe_parallel(name, url, function_url, extra).replace(
        "    endpoint_url:",
        "    max_receives: 1\n    endpoint_url:",
    )
}

/// A pipe with Sluice's default number of parallel receives.
pub fn pipe_parallel(name: &str, url: &str, function_url: &str, extra: &str) -> String {
    format!(
        "name: {name}\nsource:\n  sqs:\n    queue_url: {url}\n    endpoint_url: {}\ntarget:\n  http:\n    url: {function_url}\n    timeout: 30s\n{extra}",
        endpoint()
    )
}

/// A pipe name no other test uses.
pub fn name() -> String {
    unique("p").to_lowercase()
}

/// Bodies a function accepted, per delivery, in the order it saw them.
pub fn accepted_bodies(function: &Function) -> Vec<String> {
    let events = function.received.lock().unwrap().events.clone();
    events
        .iter()
        .flat_map(|e| {
            records(e)
                .into_iter()
                .map(|r| r["body"].as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The queue is empty, and sluice exits 0 on SIGTERM.
pub async fn assert_drained(sqs: &Sqs, url: &str, sluice: &mut Sluice) {
    assert_empty(sqs, url).await;
    assert_eq!(sluice.terminate(), Some(0), "{}", sluice.logs());
}

/// A standard queue with this visibility timeout.
pub async fn queue_with_visibility(sqs: &Sqs, prefix: &str, seconds: u32) -> String {
    sqs.queue(
        &unique(prefix),
        &[(QueueAttributeName::VisibilityTimeout, seconds.to_string())],
    )
    .await
}

/// Wait until the queue holds nothing, visible or not.
pub async fn assert_empty(sqs: &Sqs, url: &str) {
    wait_for("the queue is empty", LIMIT, || async {
        sqs.depth(url).await == (0, 0)
    })
    .await;
}
