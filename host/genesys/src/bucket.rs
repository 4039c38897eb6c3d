//! The org's request pacing: a token bucket in its GCRA form ("theoretical arrival time").
//!
//! Written by hand (≈30 lines) rather than taken from `governor` because it must run on
//! tokio's clock (so tests with a paused clock are exact) and be held shut until a point in
//! time when Genesys answers 429 — neither of which governor's clocks allow. Integer
//! nanosecond arithmetic keeps every wait exact.

use std::time::Duration;

use tokio::time::Instant;

/// Paces requests so that no 60 s window holds more than `per_minute` of them (the way
/// Genesys counts), allowing `burst` back-to-back requests after idleness: the steady rate is
/// `per_minute − (burst − 1)` so a burst plus a minute of steady pacing still fits the window.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    /// Time one request "costs": 60 s / per_minute.
    interval: Duration,
    /// How far ahead of schedule a request may go: interval × (burst − 1).
    tolerance: Duration,
    /// Theoretical arrival time of the next request; `None` when never used.
    tat: Option<Instant>,
}

impl TokenBucket {
    /// A bucket for `per_minute` requests (≥ 1) with bursts of `burst` (1 ..= per_minute).
    pub(crate) fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = per_minute.max(1);
        let burst = burst.clamp(1, per_minute);
        let steady = u64::from(per_minute - (burst - 1));
        // Rounded up so the steady pace never exceeds the rate.
        let interval = Duration::from_nanos(60_000_000_000u64.div_ceil(steady));
        Self {
            interval,
            tolerance: interval * (burst - 1),
            tat: None,
        }
    }

    /// Takes one request slot at `now`, or says how long to wait before asking again.
    pub(crate) fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        let tat = self.tat.map_or(now, |t| t.max(now));
        let earliest = tat.checked_sub(self.tolerance).unwrap_or(now);
        if earliest > now {
            return Err(earliest - now);
        }
        self.tat = Some(tat + self.interval);
        Ok(())
    }

    /// Lets nothing through before `until`, and no saved-up burst right after it: the first
    /// request goes at `until`, the rest at the steady pace.
    pub(crate) fn hold_until(&mut self, until: Instant) {
        let held = until + self.tolerance;
        self.tat = Some(self.tat.map_or(held, |t| t.max(held)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_at_exact_interval_after_burst() {
        let mut b = TokenBucket::new(302, 3); // steady 300/min = 200 ms, burst 3
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.try_acquire(t0), Ok(()));
        }
        assert_eq!(b.try_acquire(t0), Err(Duration::from_millis(200)));
        let t1 = t0 + Duration::from_millis(200);
        assert_eq!(b.try_acquire(t1), Ok(()));
        assert_eq!(b.try_acquire(t1), Err(Duration::from_millis(200)));
        assert_eq!(
            b.try_acquire(t1 + Duration::from_millis(150)),
            Err(Duration::from_millis(50))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_refills_only_up_to_burst() {
        let mut b = TokenBucket::new(61, 2); // steady 60/min = 1 s
        let t0 = Instant::now();
        b.try_acquire(t0).unwrap();
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.try_acquire(later), Ok(()));
        assert_eq!(b.try_acquire(later), Ok(()));
        assert_eq!(b.try_acquire(later), Err(Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn hold_until_blocks_then_allows_one_then_paces() {
        let mut b = TokenBucket::new(6099, 100); // steady 6000/min = 10 ms, burst 100
        let t0 = Instant::now();
        b.hold_until(t0 + Duration::from_secs(7));
        assert_eq!(b.try_acquire(t0), Err(Duration::from_secs(7)));
        let t7 = t0 + Duration::from_secs(7);
        assert_eq!(b.try_acquire(t7), Ok(()));
        assert_eq!(b.try_acquire(t7), Err(Duration::from_millis(10)));
        // A shorter hold never shortens a longer one.
        b.hold_until(t0 + Duration::from_secs(1));
        assert_eq!(b.try_acquire(t7), Err(Duration::from_millis(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn no_sixty_second_window_exceeds_the_rate() {
        for (per_minute, burst) in [(300, 5), (6000, 100), (7, 7), (1, 1), (300, 1)] {
            let mut b = TokenBucket::new(per_minute, burst);
            let t0 = Instant::now();
            let mut now = t0;
            let mut sent = 0u32;
            while now < t0 + Duration::from_secs(60) {
                match b.try_acquire(now) {
                    Ok(()) => sent += 1,
                    Err(wait) => now += wait,
                }
            }
            assert_eq!(sent, per_minute, "{per_minute}/min burst {burst}");
        }
    }
}
