//! Settlement: contiguous runs of acked delivery tags become one `basic.ack multiple=true`.
//!
//! RabbitMQ delivers far more when acks are batched (see `shared/reference/brokers.md`: about
//! 38,000 msgs/s with multiple acks against 16,000 with one ack per message), and batches finish
//! out of order when `concurrency` > 1. Delivery tags on a channel are dense (1, 2, 3, ...), so
//! the acker keeps a *frontier*: every tag up to it is settled. Settled tags above it wait in a
//! small map; when the gap below them closes, the frontier moves up and everything acked on the
//! way goes in one frame. The source only records the highest tag delivered (an atomic store, no
//! lock per message). If a slow (retrying) record holds the frontier back while more than half
//! the prefetch window waits behind it, those acks are sent individually so RabbitMQ keeps
//! delivering.

use async_trait::async_trait;
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use sluice_core::record::DeliveryId;
use sluice_core::source::{Acker, Outcome};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::debug;

/// The channel deliveries of the current epoch arrived on, and their settlement state.
#[derive(Default)]
pub(crate) struct Tags {
    epoch: u64,
    channel: Option<Channel>,
    /// Every tag up to here is settled.
    frontier: u64,
    /// Settled tags above the frontier: `true` while their ack is still to be sent.
    settled: BTreeMap<u64, bool>,
    unsent_acks: usize,
    flush_threshold: usize,
}

/// Frames to send after a settlement, computed under the lock and sent outside it.
#[derive(Debug, Default, PartialEq)]
struct Frames {
    ack_up_to: Option<u64>,
    single_acks: Vec<u64>,
    requeue: Vec<u64>,
    reject: Vec<u64>,
}

impl Tags {
    fn settle(&mut self, settlements: &[(DeliveryId, Outcome)], delivered: u64) -> (Frames, usize) {
        let mut frames = Frames::default();
        let mut stale = 0;
        for (id, outcome) in settlements {
            let tag = id.seq;
            if id.epoch != self.epoch
                || tag <= self.frontier
                || tag > delivered
                || self.settled.contains_key(&tag)
            {
                stale += 1;
                continue;
            }
            if *outcome == Outcome::Ack && tag == self.frontier + 1 {
                // The usual case: a batch settling the next tags in order, no map needed.
                self.frontier = tag;
                frames.ack_up_to = Some(tag);
                continue;
            }
            let ack = match outcome {
                Outcome::Ack => true,
                Outcome::Retry { .. } => {
                    frames.requeue.push(tag);
                    false
                }
                Outcome::Reject => {
                    frames.reject.push(tag);
                    false
                }
            };
            self.settled.insert(tag, ack);
            self.unsent_acks += usize::from(ack);
        }
        while let Some(entry) = self.settled.first_entry() {
            if *entry.key() != self.frontier + 1 {
                break;
            }
            let (tag, unsent) = entry.remove_entry();
            self.frontier = tag;
            if unsent {
                self.unsent_acks -= 1;
                frames.ack_up_to = Some(tag);
            }
        }
        if self.unsent_acks > self.flush_threshold {
            for (tag, unsent) in self.settled.iter_mut().filter(|(_, u)| **u) {
                frames.single_acks.push(*tag);
                *unsent = false;
            }
            self.unsent_acks = 0;
        }
        (frames, stale)
    }
}

/// The settle half of [`crate::RabbitMqSource`].
#[derive(Default)]
pub(crate) struct AmqpAcker {
    tags: Mutex<Tags>,
    /// Highest delivery tag of the current epoch, written by the source without a lock.
    delivered: AtomicU64,
    /// The current epoch, 0 while there is no connection (read without the lock).
    live: AtomicU64,
}

impl AmqpAcker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tags> {
        self.tags.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection: earlier tags are stale from now on.
    pub(crate) fn new_epoch(&self, epoch: u64, channel: Channel, prefetch: u16) {
        let mut t = self.lock();
        self.delivered.store(0, Ordering::Release);
        self.live.store(epoch, Ordering::Release);
        *t = Tags {
            epoch,
            channel: Some(channel),
            flush_threshold: usize::from(prefetch / 2).max(1),
            ..Tags::default()
        };
    }

    /// The connection is gone: nothing can be settled until the next epoch.
    pub(crate) fn lost(&self) {
        let mut t = self.lock();
        self.live.store(0, Ordering::Release);
        t.channel = None;
        t.epoch = 0;
        t.settled.clear();
        t.unsent_acks = 0;
    }

    /// Record a delivery before it enters the pipe.
    pub(crate) fn delivered(&self, tag: u64) {
        self.delivered.fetch_max(tag, Ordering::Release);
    }
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn settle(&self, settlements: &[(DeliveryId, Outcome)]) -> usize {
        let (frames, stale, channel) = {
            let delivered = self.delivered.load(Ordering::Acquire);
            let mut t = self.lock();
            let (frames, stale) = t.settle(settlements, delivered);
            (frames, stale, t.channel.clone())
        };
        let Some(ch) = channel else {
            return settlements.len();
        };
        // Errors mean the channel is gone: the broker requeues everything unacknowledged and
        // the source reconnects; nothing to do here.
        for tag in &frames.requeue {
            let _ = ch
                .basic_nack(
                    *tag,
                    BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    },
                )
                .await;
        }
        for tag in &frames.reject {
            let _ = ch
                .basic_reject(*tag, BasicRejectOptions { requeue: false })
                .await;
        }
        if let Some(tag) = frames.ack_up_to {
            let _ = ch.basic_ack(tag, BasicAckOptions { multiple: true }).await;
        }
        for tag in &frames.single_acks {
            let _ = ch
                .basic_ack(*tag, BasicAckOptions { multiple: false })
                .await;
        }
        if stale > 0 {
            debug!(stale, "skipped settlements from an earlier connection");
        }
        stale
    }

    fn live_epoch(&self) -> Option<u64> {
        Some(self.live.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(threshold: usize) -> Tags {
        Tags {
            epoch: 2,
            flush_threshold: threshold,
            ..Tags::default()
        }
    }

    fn ack(seq: u64) -> (DeliveryId, Outcome) {
        (DeliveryId { epoch: 2, seq }, Outcome::Ack)
    }

    fn reject(seq: u64) -> (DeliveryId, Outcome) {
        (DeliveryId { epoch: 2, seq }, Outcome::Reject)
    }

    #[test]
    fn contiguous_acks_become_one_multiple_ack() {
        let mut t = tags(100);
        // The second batch finishes first: nothing can be acked yet.
        let (f, _) = t.settle(&[ack(4), ack(5), ack(6)], 6);
        assert_eq!(f.ack_up_to, None);
        let (f, _) = t.settle(&[ack(1), ack(2), ack(3)], 6);
        assert_eq!(f.ack_up_to, Some(6));
        assert!(t.settled.is_empty());
        assert_eq!(t.frontier, 6);
    }

    #[test]
    fn a_held_tag_stops_the_run_and_requeue_or_reject_unblock_it() {
        let mut t = tags(100);
        let (f, _) = t.settle(&[ack(1), ack(3), ack(4)], 4);
        assert_eq!(f.ack_up_to, Some(1));
        let (f, _) = t.settle(&[reject(2)], 4);
        assert_eq!(f.reject, vec![2]);
        assert_eq!(f.ack_up_to, Some(4));
        // A run that ends in a reject acks up to the last ack in it.
        let (f, _) = t.settle(&[ack(5), reject(6)], 6);
        assert_eq!((f.ack_up_to, f.reject), (Some(5), vec![6]));
    }

    #[test]
    fn stale_epochs_unknown_and_repeated_tags_are_skipped() {
        let mut t = tags(100);
        let (f, stale) = t.settle(
            &[(DeliveryId { epoch: 1, seq: 1 }, Outcome::Ack), ack(9)],
            1,
        );
        assert_eq!(stale, 2);
        assert_eq!(f, Frames::default());
        let (_, stale) = t.settle(&[ack(1), ack(1)], 1);
        assert_eq!(stale, 1, "settling twice is idempotent");
        let (_, stale) = t.settle(&[ack(1)], 1);
        assert_eq!(stale, 1, "below the frontier");
    }

    #[test]
    fn many_acks_behind_a_held_tag_are_flushed_individually() {
        let mut t = tags(2);
        let (f, _) = t.settle(&[ack(2), ack(3)], 4);
        assert!(f.single_acks.is_empty());
        let (f, _) = t.settle(&[ack(4)], 4);
        assert_eq!(f.single_acks, vec![2, 3, 4]);
        // When the held tag settles, the frontier passes the flushed ones without acking again.
        let (f, _) = t.settle(&[ack(1)], 4);
        assert_eq!(f.ack_up_to, Some(1));
        assert_eq!(t.frontier, 4);
    }
}
