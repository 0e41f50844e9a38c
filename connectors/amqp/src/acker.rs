//! Settlement: contiguous runs of acked delivery tags become one `basic.ack multiple=true`.
//!
//! RabbitMQ delivers far more when acks are batched (see `shared/reference/brokers.md`: about
//! 38,000 msgs/s with multiple acks against 16,000 with one ack per message), and batches finish
//! out of order when `concurrency` > 1. So the acker keeps the set of tags not yet settled; when
//! the lowest of them is settled, everything below the new lowest is acknowledged in one frame.
//! If a slow (retrying) record holds back more than half the prefetch window, the acked tags
//! above it are sent individually so that RabbitMQ keeps delivering.

use async_trait::async_trait;
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use sluice_core::record::DeliveryId;
use sluice_core::source::{Acker, Outcome};
use std::collections::BTreeSet;
use std::sync::Mutex;
use tracing::debug;

/// The channel deliveries of the current epoch arrived on, and their settlement state.
#[derive(Default)]
pub(crate) struct Tags {
    epoch: u64,
    channel: Option<Channel>,
    /// Delivered and not yet settled.
    open: BTreeSet<u64>,
    /// Settled as acked here, not yet acknowledged to the broker.
    acked: BTreeSet<u64>,
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
    fn settle(&mut self, settlements: &[(DeliveryId, Outcome)]) -> (Frames, usize) {
        let mut frames = Frames::default();
        let mut stale = 0;
        for (id, outcome) in settlements {
            if id.epoch != self.epoch || !self.open.remove(&id.seq) {
                stale += 1;
                continue;
            }
            match outcome {
                Outcome::Ack => {
                    self.acked.insert(id.seq);
                }
                Outcome::Retry { .. } => frames.requeue.push(id.seq),
                Outcome::Reject => frames.reject.push(id.seq),
            }
        }
        // Everything acked below the lowest open tag can go in one frame.
        let low = self.open.first().copied().unwrap_or(u64::MAX);
        let above = self.acked.split_off(&low);
        frames.ack_up_to = self.acked.last().copied();
        self.acked = above;
        if self.acked.len() > self.flush_threshold {
            frames.single_acks = std::mem::take(&mut self.acked).into_iter().collect();
        }
        (frames, stale)
    }
}

/// The settle half of [`crate::RabbitMqSource`].
#[derive(Default)]
pub(crate) struct AmqpAcker {
    pub(crate) tags: Mutex<Tags>,
}

impl AmqpAcker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tags> {
        self.tags.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection: earlier tags are stale from now on.
    pub(crate) fn new_epoch(&self, epoch: u64, channel: Channel, prefetch: u16) {
        let mut t = self.lock();
        *t = Tags {
            epoch,
            channel: Some(channel),
            open: BTreeSet::new(),
            acked: BTreeSet::new(),
            flush_threshold: usize::from(prefetch / 2).max(1),
        };
    }

    /// The connection is gone: nothing can be settled until the next epoch.
    pub(crate) fn lost(&self) {
        let mut t = self.lock();
        t.channel = None;
        t.open.clear();
        t.acked.clear();
    }

    /// Register a delivery before it enters the pipe.
    pub(crate) fn delivered(&self, tag: u64) {
        self.lock().open.insert(tag);
    }
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn settle(&self, settlements: &[(DeliveryId, Outcome)]) -> usize {
        let (frames, stale, channel) = {
            let mut t = self.lock();
            let (frames, stale) = t.settle(settlements);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(open: &[u64], threshold: usize) -> Tags {
        Tags {
            epoch: 2,
            channel: None,
            open: open.iter().copied().collect(),
            acked: BTreeSet::new(),
            flush_threshold: threshold,
        }
    }

    fn ack(seq: u64) -> (DeliveryId, Outcome) {
        (DeliveryId { epoch: 2, seq }, Outcome::Ack)
    }

    #[test]
    fn contiguous_acks_become_one_multiple_ack() {
        let mut t = tags(&[1, 2, 3, 4, 5, 6], 100);
        // The second batch finishes first: nothing can be acked yet.
        let (f, _) = t.settle(&[ack(4), ack(5), ack(6)]);
        assert_eq!(f.ack_up_to, None);
        let (f, _) = t.settle(&[ack(1), ack(2), ack(3)]);
        assert_eq!(f.ack_up_to, Some(6));
        assert!(t.acked.is_empty() && t.open.is_empty());
    }

    #[test]
    fn a_held_tag_stops_the_run_and_requeue_or_reject_unblock_it() {
        let mut t = tags(&[1, 2, 3, 4], 100);
        let (f, _) = t.settle(&[ack(1), ack(3), ack(4)]);
        assert_eq!(f.ack_up_to, Some(1));
        let (f, _) = t.settle(&[(DeliveryId { epoch: 2, seq: 2 }, Outcome::Reject)]);
        assert_eq!(f.reject, vec![2]);
        assert_eq!(f.ack_up_to, Some(4));
    }

    #[test]
    fn stale_epochs_and_unknown_tags_are_skipped() {
        let mut t = tags(&[1], 100);
        let (f, stale) = t.settle(&[(DeliveryId { epoch: 1, seq: 1 }, Outcome::Ack), ack(9)]);
        assert_eq!(stale, 2);
        assert_eq!(f, Frames::default());
        let (_, stale) = t.settle(&[ack(1), ack(1)]);
        assert_eq!(stale, 1, "settling twice is idempotent");
    }

    #[test]
    fn many_acks_behind_a_held_tag_are_flushed_individually() {
        let mut t = tags(&[1, 2, 3, 4], 2);
        let (f, _) = t.settle(&[ack(2), ack(3)]);
        assert!(f.single_acks.is_empty());
        let (f, _) = t.settle(&[ack(4)]);
        assert_eq!(f.single_acks, vec![2, 3, 4]);
        let (f, _) = t.settle(&[ack(1)]);
        assert_eq!(f.ack_up_to, Some(1));
    }
}
