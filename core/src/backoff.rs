//! Capped exponential backoff with jitter, for retries and reconnects.

use std::time::Duration;

/// Delay before attempt `attempt + 1` (attempt counts from 1): `initial * 2^(attempt-1)`
/// capped at `max`, then "equal jitter": half fixed, half random. The fixed half keeps
/// retries from hammering a target; the random half spreads out many pipes retrying at once.
pub fn delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let base = initial.saturating_mul(1u32 << exp).min(max);
    let half = base / 2;
    half + half.mul_f64(fastrand::f64())
}

/// Reconnect backoff for broker and target connections: 100ms doubling to 30s.
pub fn reconnect_delay(failures: u32) -> Duration {
    delay(
        Duration::from_millis(100),
        Duration::from_secs(30),
        failures,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_is_capped() {
        let i = Duration::from_secs(1);
        let m = Duration::from_secs(10);
        for _ in 0..100 {
            let d1 = delay(i, m, 1);
            assert!(d1 >= Duration::from_millis(500) && d1 <= i, "{d1:?}");
            let d3 = delay(i, m, 3);
            assert!(
                d3 >= Duration::from_secs(2) && d3 <= Duration::from_secs(4),
                "{d3:?}"
            );
            let d9 = delay(i, m, 9);
            assert!(d9 >= Duration::from_secs(5) && d9 <= m, "{d9:?}");
            assert!(delay(i, m, u32::MAX) <= m);
        }
    }
}
