//! Helpers for `scripts/demo.sh`: a sample function that prints what it receives, and a
//! publisher.
//!
//! ```text
//! sluice-demo function --port 8080        # answers 200; fails records whose body has "fail"
//! sluice-demo publish --queue orders --count 20
//! ```

use base64::Engine;
use serde_json::{Value, json};
use sluice_tests::arg;
use sluice_tests::broker::Rabbit;
use sluice_tests::function::{Function, message_id, rmq_records};

/// Decode a record's base64 `data` for printing.
fn body(record: &Value) -> String {
    let data = record["data"].as_str().unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("function") => {
            let port: u16 = arg(&args, "--port", "8080").parse().expect("--port");
            let f = Function::start(port, |event| {
                let records = rmq_records(event);
                println!("function: batch of {} record(s)", records.len());
                let mut failures = Vec::new();
                for r in records {
                    let text = body(r);
                    let failing = text.contains("fail");
                    println!(
                        "  {} redelivered={} data={text}{}",
                        message_id(r),
                        r["redelivered"],
                        if failing {
                            "  -> reported as failed"
                        } else {
                            ""
                        }
                    );
                    if failing {
                        failures.push(json!({"itemIdentifier": message_id(r)}));
                    }
                }
                (200, json!({"batchItemFailures": failures}).to_string())
            })
            .await;
            println!("function: listening on {}", f.url());
            std::future::pending::<()>().await;
        }
        Some("publish") => {
            let queue = arg(&args, "--queue", "orders");
            let count: usize = arg(&args, "--count", "10").parse().expect("--count");
            let rabbit = Rabbit::connect().await;
            rabbit.queue(&queue, &[]).await;
            rabbit.queue(&format!("{queue}-dlq"), &[]).await;
            let messages = (0..count).map(|i| {
                let kind = if i == 3 { "fail" } else { "order" };
                (
                    lapin::BasicProperties::default()
                        .with_message_id(format!("order-{i}").into())
                        .with_content_type("application/json".into()),
                    format!("{{\"type\":\"{kind}\",\"id\":{i},\"total\":{}}}", 10 * i).into_bytes(),
                )
            });
            rabbit.publish_all(&queue, messages).await;
            println!("publish: {count} messages to {queue} (order-3 will fail every time)");
        }
        Some("dead-letters") => {
            let queue = arg(&args, "--queue", "orders-dlq");
            let rabbit = Rabbit::connect().await;
            for m in rabbit.drain(&queue).await {
                let headers = m.properties.headers().clone().unwrap_or_default();
                println!(
                    "dead letter: {} attempts={:?} body={}",
                    m.properties
                        .message_id()
                        .as_ref()
                        .map(|s| s.as_str())
                        .unwrap_or("-"),
                    headers.inner().get("x-sluice-attempts"),
                    String::from_utf8_lossy(&m.body)
                );
            }
        }
        _ => {
            eprintln!(
                "usage: sluice-demo function --port P | publish --queue Q --count N | dead-letters --queue Q"
            );
            std::process::exit(2);
        }
    }
}
