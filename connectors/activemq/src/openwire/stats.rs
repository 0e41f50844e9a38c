//! The statistics plugin over OpenWire (`crate::stats` says why and what): a temporary queue
//! for the answers, a consumer on it and a producer for the requests, all in the source's own
//! session. Every command is sent without asking for a response, so a broker
//! that refuses any of it (no rights on temporary queues) only logs a warning: consumption
//! never depends on statistics.

use crate::openwire::wire::{
    Command, ConsumerId, ConsumerInfo, Destination, Header, Message, MessageAck, MessageDispatch,
    MessageId, Primitive, ProducerId, SessionId, types,
};
use crate::stats::{self, Statistics};
use sluice_core::record::now_ms;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// Answers buffered at the broker for the statistics consumer.
const PREFETCH: i32 = 16;

pub(super) struct StatsChannel {
    statistics: Statistics,
    /// The statistics queue of each source queue.
    requests: Vec<Destination>,
    answers: Destination,
    consumer: ConsumerId,
    producer: ProducerId,
    ids: Arc<AtomicI32>,
    sequence: i64,
    /// The last answer, acknowledged with the next round.
    to_ack: Option<MessageId>,
}

impl StatsChannel {
    /// The channel for `queues`, and the commands that set it up. `consumer` is the
    /// consumer id value after the queues' consumers.
    pub(super) fn open(
        session: &SessionId,
        queues: &[Destination],
        consumer: i64,
        ids: Arc<AtomicI32>,
    ) -> (Self, Vec<Command>) {
        let answers = Destination::parse(&format!(
            "temp-queue://{}:{}",
            session.connection, session.value
        ));
        let consumer = ConsumerId {
            connection: session.connection.clone(),
            session: session.value,
            value: consumer,
        };
        let producer = ProducerId {
            connection: session.connection.clone(),
            session: session.value,
            value: 1,
        };
        let me = StatsChannel {
            statistics: Statistics::new(queues.iter().map(|q| q.name.as_str())),
            requests: queues
                .iter()
                .map(|q| Destination::parse(&stats::request_queue(&q.name)))
                .collect(),
            answers: answers.clone(),
            consumer: consumer.clone(),
            producer: producer.clone(),
            ids,
            sequence: 0,
            to_ack: None,
        };
        let setup = vec![
            Command::DestinationInfo {
                header: me.header(),
                connection_id: session.connection.clone(),
                destination: answers.clone(),
                operation: 0,
            },
            Command::ConsumerInfo(ConsumerInfo {
                header: me.header(),
                consumer_id: consumer,
                destination: Some(answers),
                prefetch_size: PREFETCH,
                dispatch_async: true,
                ..ConsumerInfo::default()
            }),
            Command::ProducerInfo(me.header(), producer, None),
        ];
        (me, setup)
    }

    fn header(&self) -> Header {
        Header {
            command_id: self.ids.fetch_add(1, Ordering::Relaxed),
            response_required: false,
        }
    }

    /// Whether a dispatch is for the statistics consumer (consumer ids of one session differ
    /// in their value: no string comparison on the per-message path).
    pub(super) fn is_ours(&self, d: &MessageDispatch) -> bool {
        d.consumer_id
            .as_ref()
            .is_some_and(|c| c.value == self.consumer.value)
    }

    /// Read an answer; a reply that is not a statistics map is acknowledged and ignored.
    pub(super) fn answer(&mut self, m: &Message) {
        self.to_ack = m.message_id.clone();
        let Ok(map) = m.map_body() else { return };
        let text = |k: &str| match map.iter().find(|(n, _)| n == k) {
            Some((_, Primitive::String(s))) => Some(s.as_str()),
            _ => None,
        };
        let number = |k: &str| match map.iter().find(|(n, _)| n == k) {
            Some((_, Primitive::Long(n))) => Some(*n),
            Some((_, Primitive::Int(n))) => Some(i64::from(*n)),
            _ => None,
        };
        if let (Some(d), Some(size), Some(inflight)) = (
            text("destinationName"),
            number("size"),
            number("inflightCount"),
        ) {
            self.statistics.answer(d, size, inflight);
        }
    }

    /// This round's commands: the last answer's ack, and new requests unless the broker
    /// never answered.
    pub(super) fn round(&mut self) -> Vec<Command> {
        let mut out = Vec::with_capacity(self.requests.len() + 1);
        if let Some(id) = self.to_ack.take() {
            out.push(Command::MessageAck(MessageAck {
                header: self.header(),
                destination: Some(self.answers.clone()),
                consumer_id: Some(self.consumer.clone()),
                ack_type: types::ack::INDIVIDUAL,
                first_message_id: Some(id.clone()),
                last_message_id: Some(id),
                message_count: 1,
                poison_cause: None,
            }));
        }
        if !self.statistics.ask() {
            return out;
        }
        let now = now_ms() as i64;
        for destination in self.requests.clone() {
            self.sequence += 1;
            out.push(Command::Message(Box::new(Message {
                header: self.header(),
                class: types::MESSAGE,
                producer_id: Some(self.producer.clone()),
                destination: Some(destination),
                message_id: Some(MessageId {
                    text_view: None,
                    producer: self.producer.clone(),
                    producer_sequence: self.sequence,
                    broker_sequence: 0,
                }),
                persistent: false,
                expiration: now + stats::REQUEST_TTL.as_millis() as i64,
                priority: 4,
                reply_to: Some(self.answers.clone()),
                timestamp: now,
                ..Message::default()
            })));
        }
        out
    }

    /// The temporary queue the answers come to, removed with the session.
    pub(super) fn temporary(&self) -> Destination {
        self.answers.clone()
    }

    /// The backlog of every queue, once all answered.
    pub(super) fn backlog(&self) -> Option<u64> {
        self.statistics.backlog()
    }
}
