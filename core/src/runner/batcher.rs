//! Filling batches: records in order of arrival until `batch.size` records, `batch.max_bytes`
//! of event, or `batch.window` after the first, whichever comes first. The batcher only
//! groups; what arrives is counted once, where it arrives (`Runner::on_records`).

use crate::event::{BatchSizer, Envelope};
use crate::record::Record;
use std::time::Duration;
use tokio::time::Instant;

/// The batch being filled.
pub(super) struct Batcher {
    envelope: Envelope,
    /// Records per batch: `batch.size`, within what the target takes per call.
    cap: usize,
    max_bytes: usize,
    window: Duration,
    pending: Vec<Record>,
    sizer: BatchSizer,
    deadline: Option<Instant>,
}

/// What adding a record gave.
pub(super) enum Added {
    /// It is in the batch being filled; `closed` is the batch it closed first, if any.
    Pending { closed: Option<Vec<Record>> },
    /// Larger than `batch.max_bytes` on its own: it can never be sent, and comes back.
    Oversize(Box<Record>),
}

impl Batcher {
    pub(super) fn new(envelope: Envelope, cap: usize, max_bytes: usize, window: Duration) -> Self {
        Batcher {
            envelope,
            cap,
            max_bytes,
            window,
            pending: Vec::with_capacity(cap),
            sizer: BatchSizer::default(),
            deadline: None,
        }
    }

    pub(super) fn cap(&self) -> usize {
        self.cap
    }

    /// Room left in the batch being filled.
    pub(super) fn room(&self) -> usize {
        self.cap - self.pending.len()
    }

    /// When the batch being filled is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Records of the batch being filled.
    pub(super) fn pending(&self) -> &[Record] {
        &self.pending
    }

    /// Add a record. A batch that is full afterwards stays here until [`Batcher::full`] is
    /// asked; one the record would overflow in bytes is closed first and returned.
    pub(super) fn add(&mut self, record: Record) -> Added {
        if self.sizer.alone(&self.envelope, &record) > self.max_bytes {
            return Added::Oversize(Box::new(record));
        }
        let closed = if !self.pending.is_empty()
            && self.sizer.with(&self.envelope, &record) > self.max_bytes
        {
            self.close()
        } else {
            None
        };
        self.sizer.add(&self.envelope, &record);
        self.pending.push(record);
        if self.pending.len() == 1 {
            self.deadline = Some(Instant::now() + self.window);
        }
        Added::Pending { closed }
    }

    /// Whether the batch being filled should go now: full, or its window is over.
    pub(super) fn full(&self) -> bool {
        self.pending.len() >= self.cap
            || (!self.window.is_zero() && self.deadline.is_some_and(|d| Instant::now() >= d))
    }

    /// Close the batch being filled, if it has records.
    pub(super) fn close(&mut self) -> Option<Vec<Record>> {
        self.deadline = None;
        if self.pending.is_empty() {
            return None;
        }
        self.sizer.clear();
        Some(std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(self.cap),
        ))
    }

    /// Take the waiting records `take` picks, keeping the others in order.
    pub(super) fn take_if(&mut self, take: impl Fn(&Record) -> bool) -> Vec<Record> {
        if !self.pending.iter().any(&take) {
            return Vec::new();
        }
        let (out, keep): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(take);
        self.pending = keep;
        self.sizer.clear();
        for r in &self.pending {
            self.sizer.add(&self.envelope, r);
        }
        if self.pending.is_empty() {
            self.deadline = None;
        }
        out
    }

    /// Everything waiting, for the drain.
    pub(super) fn take_all(&mut self) -> Vec<Record> {
        self.deadline = None;
        self.sizer.clear();
        std::mem::take(&mut self.pending)
    }
}
