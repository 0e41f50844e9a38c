//! `rate_limit`: at most N records per second to the target, spread evenly.
//!
//! One schedule per pipe, shared by its concurrent batches (a virtual clock, as in GCRA): a
//! batch of `n` records may start at the pipe's next free instant, which then moves on by
//! `n / N` seconds. No burst allowance: after an idle spell the first batch goes at once and
//! the next waits its share, so the target never gets a second's worth in one go unless one
//! batch is that big (the bridge keeps batches to a tenth of a second's worth).

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A pipe's shared rate limit.
#[derive(Debug)]
pub struct RateLimiter {
    per_record: Duration,
    next_free: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// At most `per_second` records a second (at least 1).
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            per_record: Duration::from_secs(1) / per_second.max(1),
            next_free: Mutex::new(None),
        }
    }

    /// The largest batch that keeps the flow smooth: a tenth of a second's worth, at least 1.
    pub fn batch_cap(per_second: u32) -> usize {
        (per_second as usize).div_ceil(10).max(1)
    }

    /// Wait until `records` more may go, and book them.
    pub async fn acquire(&self, records: usize) {
        let start = self.book(records, Instant::now());
        tokio::time::sleep_until(start).await;
    }

    /// When a batch of `records` asked for at `now` may start; moves the schedule on.
    fn book(&self, records: usize, now: Instant) -> Instant {
        let cost = self
            .per_record
            .saturating_mul(u32::try_from(records).unwrap_or(u32::MAX));
        let mut next = match self.next_free.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let start = next.map_or(now, |n| n.max(now));
        *next = Some(start + cost);
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_spaced_by_their_share_of_a_second() {
        let l = RateLimiter::new(100);
        let t0 = Instant::now();
        assert_eq!(l.book(10, t0), t0);
        assert_eq!(l.book(10, t0), t0 + Duration::from_millis(100));
        assert_eq!(l.book(5, t0), t0 + Duration::from_millis(200));
        // After an idle spell nothing is saved up.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(l.book(10, later), later);
        assert_eq!(l.book(1, later), later + Duration::from_millis(100));
    }

    #[test]
    fn batch_cap_is_a_tenth_of_a_second() {
        assert_eq!(RateLimiter::batch_cap(500), 50);
        assert_eq!(RateLimiter::batch_cap(5), 1);
        assert_eq!(RateLimiter::batch_cap(15), 2);
    }
}
