//! A Lambda function as a team writes one: `lambda_runtime` and the official event types of
//! `aws_lambda_events`, nothing of Sluice. Sluice's tests run it unchanged under the Runtime API
//! (`target.runtime_api`) and behind `cargo lambda watch`'s Invoke API (`target.lambda`).
//!
//! It decodes the event with the official type for its `eventSource` (a decode error fails the
//! invocation, as it would on AWS), appends one line per record to the file named by
//! `SLUICE_FN_LOG` (`ID REQUEST_ID`), and reports as failed, through the official
//! `SqsBatchResponse`, each record whose body contains `fail-once` the first time it sees it
//! (a marker file next to the log remembers).

use aws_lambda_events::event::activemq::ActiveMqEvent;
use aws_lambda_events::event::rabbitmq::RabbitMqEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use base64::Engine;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use std::io::Write;

/// `(id, body)` of every record, decoded with the official types.
fn records(event: Value) -> Result<Vec<(String, String)>, Error> {
    let b64 = |d: Option<String>| {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(d.unwrap_or_default())
            .unwrap_or_default();
        String::from_utf8_lossy(&raw).into_owned()
    };
    Ok(match event.get("eventSource").and_then(Value::as_str) {
        Some("aws:rmq") => {
            let e: RabbitMqEvent = serde_json::from_value(event)?;
            e.messages_by_queue
                .into_values()
                .flatten()
                .map(|m| {
                    (
                        m.basic_properties.message_id.unwrap_or_default(),
                        b64(m.data),
                    )
                })
                .collect()
        }
        Some("aws:mq") => {
            let e: ActiveMqEvent = serde_json::from_value(event)?;
            e.messages
                .into_iter()
                .map(|m| (m.message_id.unwrap_or_default(), b64(m.data)))
                .collect()
        }
        _ => {
            let e: SqsEvent = serde_json::from_value(event)?;
            e.records
                .into_iter()
                .map(|m| (m.message_id.unwrap_or_default(), m.body.unwrap_or_default()))
                .collect()
        }
    })
}

async fn handle(event: LambdaEvent<Value>) -> Result<SqsBatchResponse, Error> {
    let request_id = event.context.request_id.clone();
    let log = std::env::var("SLUICE_FN_LOG")?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let mut response = SqsBatchResponse::default();
    for (id, body) in records(event.payload)? {
        if body.contains("fail-once") {
            let marker = format!("{log}.{id}.failed");
            if std::fs::metadata(&marker).is_err() {
                std::fs::write(&marker, b"")?;
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
                continue;
            }
        }
        writeln!(out, "{id} {request_id}")?;
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
