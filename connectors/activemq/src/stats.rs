//! The backlog of ActiveMQ queues, from the broker's statistics plugin.
//!
//! Why the plugin: it is the one statistics source Amazon MQ offers (`statisticsBrokerPlugin`
//! is among its supported broker plugins; Jolokia and the REST API are not exposed there), and
//! it answers on the connection Sluice already has, over either protocol: a message sent to
//! `ActiveMQ.Statistics.Destination.QUEUE` with a reply-to gets a map message back with the
//! queue's `size` (messages not yet acknowledged, dispatched or not) and `inflightCount`
//! (dispatched to consumers, not acknowledged yet). The backlog is their difference: what waits
//! at the broker, as RabbitMQ's message count and SQS's `ApproximateNumberOfMessages` count it;
//! what the replicas hold is their `sluice_source_inflight_messages`.
//!
//! The source asks every [`sluice_core::session::BACKLOG_INTERVAL`] and reports the last
//! answers; replies travel on a temporary queue of the source's own connection, so they vanish
//! with it. Requests are non-persistent and expire after [`REQUEST_TTL`], so a broker without
//! the plugin (where the request is just a message on a queue nobody reads) keeps nothing;
//! after [`GIVE_UP_AFTER`] unanswered rounds the source stops asking on that connection and
//! says so once. Over STOMP the reply is a map message, which ActiveMQ converts with
//! `transformation: jms-map-json` (XStream and Jettison, in the broker distribution's
//! `lib/optional`).

use std::time::Duration;
use tracing::warn;

/// The statistics plugin's destination prefix.
const PREFIX: &str = "ActiveMQ.Statistics.Destination.";

/// How long a request may wait at the broker.
pub(crate) const REQUEST_TTL: Duration = Duration::from_secs(30);

/// Rounds without any answer before a connection stops asking.
const GIVE_UP_AFTER: u32 = 3;

/// The statistics destination of a queue (a plain queue name, not a STOMP path).
pub(crate) fn request_queue(queue: &str) -> String {
    format!("{PREFIX}{queue}")
}

/// One connection's view of its queues' statistics.
#[derive(Debug)]
pub(crate) struct Statistics {
    /// Queue names as the broker spells them in `destinationName` (`queue://NAME`).
    names: Vec<String>,
    /// The last backlog of each queue.
    backlog: Vec<Option<u64>>,
    /// Rounds asked since the last answer.
    unanswered: u32,
}

impl Statistics {
    /// For these queues (plain names).
    pub(crate) fn new<'a>(queues: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<String> = queues.into_iter().map(|q| format!("queue://{q}")).collect();
        Statistics {
            backlog: vec![None; names.len()],
            names,
            unanswered: 0,
        }
    }

    /// Whether to ask again this round; false once the broker never answered.
    pub(crate) fn ask(&mut self) -> bool {
        if self.unanswered >= GIVE_UP_AFTER {
            return false;
        }
        self.unanswered += 1;
        if self.unanswered == GIVE_UP_AFTER {
            warn!(
                "the broker did not answer {GIVE_UP_AFTER} statistics requests: the backlog of \
                 ActiveMQ queues stays unknown on this connection (enable statisticsBrokerPlugin; \
                 over STOMP the broker also needs XStream and Jettison for jms-map-json)"
            );
        }
        true
    }

    /// An answer: `destinationName`, `size` and `inflightCount` of one queue.
    pub(crate) fn answer(&mut self, destination: &str, size: i64, inflight: i64) {
        self.unanswered = 0;
        if let Some(i) = self.names.iter().position(|n| n == destination) {
            self.backlog[i] = Some(size.saturating_sub(inflight).max(0) as u64);
        }
    }

    /// The backlog of all queues, once every queue has answered.
    pub(crate) fn backlog(&self) -> Option<u64> {
        self.backlog.iter().copied().sum()
    }
}

/// The fields of a statistics reply that Sluice reads.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Reply {
    pub destination: String,
    pub size: i64,
    pub inflight: i64,
}

impl Reply {
    /// The reply as ActiveMQ's `jms-map-json` transformation writes a map message:
    /// `{"map":{"entry":[{"string":"size","long":9},{"string":["destinationName","queue://q"]},...]}}`
    /// (a string value shares the `string` key with its name; a lone entry is not in a list).
    pub(crate) fn from_json(body: &[u8]) -> Option<Reply> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let entries = match v.get("map")?.get("entry")? {
            serde_json::Value::Array(a) => a.clone(),
            one => vec![one.clone()],
        };
        let mut reply = Reply::default();
        let mut seen = 0;
        for e in &entries {
            match e.get("string")? {
                serde_json::Value::Array(kv)
                    if kv.first().and_then(|k| k.as_str()) == Some("destinationName") =>
                {
                    reply.destination = kv.get(1)?.as_str()?.to_owned();
                    seen += 1;
                }
                serde_json::Value::String(k) => {
                    let n = || e.get("long").or_else(|| e.get("int"))?.as_i64();
                    match k.as_str() {
                        "size" => reply.size = n()?,
                        "inflightCount" => reply.inflight = n()?,
                        _ => continue,
                    }
                    seen += 1;
                }
                _ => {}
            }
        }
        (seen == 3).then_some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_json_the_broker_sends() {
        let body = br#"{"map":{"entry":[{"string":"dequeueCount","long":0},{"string":["brokerId","ID:x"]},{"string":"inflightCount","long":3},{"string":"size","long":9},{"string":["destinationName","queue:\/\/orders"]},{"string":"memoryPercentUsage","int":0}]}}"#;
        assert_eq!(
            Reply::from_json(body),
            Some(Reply {
                destination: "queue://orders".into(),
                size: 9,
                inflight: 3
            })
        );
    }

    #[test]
    fn a_reply_without_the_fields_is_no_answer() {
        for body in [
            &b"not json"[..],
            br#"{"map":{"entry":{"string":"size","long":1}}}"#,
            br#"{"map":{"entry":[{"string":"size","long":"x"}]}}"#,
            br#"{"list":[]}"#,
        ] {
            assert_eq!(
                Reply::from_json(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn backlog_is_known_once_every_queue_answered() {
        let mut s = Statistics::new(["a", "b"]);
        assert!(s.ask());
        s.answer("queue://a", 10, 4);
        assert_eq!(s.backlog(), None);
        s.answer("queue://b", 2, 5);
        assert_eq!(
            s.backlog(),
            Some(6),
            "b's in-flight above its size counts 0"
        );
        s.answer("queue://other", 100, 0);
        assert_eq!(s.backlog(), Some(6));
    }

    #[test]
    fn stops_asking_a_broker_that_never_answers() {
        let mut s = Statistics::new(["a"]);
        assert!(s.ask() && s.ask() && s.ask());
        assert!(!s.ask());
        let mut s = Statistics::new(["a"]);
        assert!(s.ask() && s.ask());
        s.answer("queue://a", 1, 0);
        assert!(s.ask() && s.ask() && s.ask());
    }
}
