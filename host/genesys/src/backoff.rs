//! Backoff for transient failures: exponential ceilings (`base × 2^(n−1)`, capped at
//! `max_delay`) with full jitter (a uniform pick in `[0, ceiling]`, AWS "Exponential Backoff
//! and Jitter"). The jitter source is injectable so tests see exact waits.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::settings::RetryPolicy;

/// The backoff ceiling before retry number `retry` (1-based).
pub(crate) fn ceiling(policy: &RetryPolicy, retry: u32) -> Duration {
    let shift = retry.saturating_sub(1).min(32);
    let grown = policy
        .base_delay
        .checked_mul(1u32 << shift.min(31))
        .unwrap_or(policy.max_delay);
    grown.min(policy.max_delay)
}

/// Picks the actual wait under a ceiling.
pub(crate) trait Jitter: Send {
    /// A wait in `[0, ceiling]`.
    fn pick(&mut self, ceiling: Duration) -> Duration;
}

/// Uniform full jitter from a small RNG (seedable for reproducible runs).
pub(crate) struct FullJitter(SmallRng);

impl FullJitter {
    /// Seeded from the OS.
    pub(crate) fn from_os() -> Self {
        Self(SmallRng::from_os_rng())
    }

    /// Seeded for reproducible waits.
    pub(crate) fn seeded(seed: u64) -> Self {
        Self(SmallRng::seed_from_u64(seed))
    }
}

impl Jitter for FullJitter {
    fn pick(&mut self, ceiling: Duration) -> Duration {
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.0.random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_then_cap() {
        let p = RetryPolicy::default(); // 500 ms base, 30 s cap
        let got: Vec<_> = (1..=8).map(|n| ceiling(&p, n)).collect();
        let ms = |v: u64| Duration::from_millis(v);
        assert_eq!(
            got,
            vec![
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                ms(16000),
                ms(30000),
                ms(30000)
            ]
        );
        assert_eq!(
            ceiling(&p, 200),
            ms(30000),
            "huge retry numbers do not overflow"
        );
    }

    #[test]
    fn seeded_full_jitter_is_reproducible_and_within_ceiling() {
        let p = RetryPolicy::default();
        let mut a = FullJitter::seeded(7);
        let mut b = FullJitter::seeded(7);
        let mut distinct = std::collections::BTreeSet::new();
        for n in 1..=50 {
            let c = ceiling(&p, n);
            let x = a.pick(c);
            assert_eq!(x, b.pick(c));
            assert!(x <= c, "{x:?} > {c:?}");
            distinct.insert(x);
        }
        assert!(distinct.len() > 40, "jitter spreads waits");
        assert_eq!(FullJitter::seeded(1).pick(Duration::ZERO), Duration::ZERO);
    }
}
