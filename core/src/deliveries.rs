//! The epoch table of a source whose broker receipts are not numbers Sluice can compute (a
//! string ack id, a broker-assigned message id): what settling each delivery of the live connection
//! needs, keyed by the sequence number in its [`DeliveryId`]. A delivery of an earlier
//! connection is stale: the broker already gives it out again.

use crate::record::DeliveryId;
use crate::source::Outcome;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Unsettled deliveries of the live connection.
#[derive(Debug)]
pub struct Deliveries<T> {
    pending: Mutex<HashMap<u64, T>>,
    /// The live epoch; moved out of every connection's range when the connection is lost.
    epoch: AtomicU64,
    seq: AtomicU64,
}

impl<T> Default for Deliveries<T> {
    fn default() -> Self {
        Deliveries {
            pending: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            seq: AtomicU64::new(0),
        }
    }
}

/// Connection epochs are counted from 1; a lost one is moved above every epoch a driver
/// will ever hand out.
const LOST: u64 = 1 << 62;

impl<T> Deliveries<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, T>> {
        // A poisoned lock only means a panic elsewhere; the map is still usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection: earlier deliveries are stale from now on.
    pub fn new_epoch(&self, epoch: u64) {
        self.lock().clear();
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// The connection is gone: nothing of it can be settled any more.
    pub fn lost(&self) {
        self.epoch.fetch_or(LOST, Ordering::Relaxed);
        self.lock().clear();
    }

    /// The epoch settlements are accepted for (see `Acker::live_epoch`).
    pub fn live_epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Whether `epoch` is still the live one (for tasks that run while a connection lasts).
    pub fn is_live(&self, epoch: u64) -> bool {
        self.live_epoch() == epoch
    }

    /// Remember a delivery of `epoch`; returns its id.
    pub fn delivered(&self, epoch: u64, receipt: T) -> DeliveryId {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(seq, receipt);
        DeliveryId { epoch, seq }
    }

    /// Take the receipts of `settlements` that belong to the live connection, each with its
    /// outcome, in order. Returns them and how many were stale.
    pub fn take(&self, settlements: &[(DeliveryId, Outcome)]) -> (Vec<(T, Outcome)>, usize) {
        let epoch = self.live_epoch();
        let mut live = Vec::with_capacity(settlements.len());
        let mut stale = 0;
        let mut pending = self.lock();
        for (id, outcome) in settlements {
            match (id.epoch == epoch)
                .then(|| pending.remove(&id.seq))
                .flatten()
            {
                Some(receipt) => live.push((receipt, *outcome)),
                None => stale += 1,
            }
        }
        (live, stale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_each_delivery_once_and_skips_other_connections() {
        let d = Deliveries::default();
        d.new_epoch(1);
        let a = d.delivered(1, "a");
        let b = d.delivered(1, "b");
        let (live, stale) = d.take(&[(a, Outcome::Ack), (a, Outcome::Ack)]);
        assert_eq!((live, stale), (vec![("a", Outcome::Ack)], 1));
        d.lost();
        assert!(!d.is_live(1));
        let (live, stale) = d.take(&[(b, Outcome::Reject)]);
        assert_eq!((live.len(), stale), (0, 1));
        d.new_epoch(2);
        let c = d.delivered(2, "c");
        assert_eq!(d.take(&[(b, Outcome::Ack), (c, Outcome::Ack)]).1, 1);
    }
}
