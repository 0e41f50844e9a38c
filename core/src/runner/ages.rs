//! Ages of the records the pipe holds, for `sluice_oldest_message_age_seconds`.

use crate::record::{DeliveryId, Record, now_ms};
use std::collections::BTreeSet;

/// Records held by the pipe, ordered by the time their age counts from. A record is inserted
/// on receipt and removed on settlement: O(log n) each.
#[derive(Default)]
pub(super) struct Ages {
    held: BTreeSet<(u64, DeliveryId)>,
    last_received_ms: Option<u64>,
}

impl Ages {
    pub(super) fn insert(&mut self, r: &Record) {
        let born = r.born_ms();
        self.held.insert((born, r.id));
        self.last_received_ms = Some(born);
    }

    pub(super) fn remove(&mut self, r: &Record) {
        self.held.remove(&(r.born_ms(), r.id));
    }

    /// Age of the oldest record held, else of the last one received.
    pub(super) fn oldest_age_seconds(&self) -> f64 {
        let born = self.held.first().map(|(t, _)| *t).or(self.last_received_ms);
        born.map(|b| now_ms().saturating_sub(b) as f64 / 1000.0)
            .unwrap_or(0.0)
    }
}
