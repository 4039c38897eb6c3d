//! Fault injection shared by the CRM emulators: a number of next requests to fail, and
//! a probability of failure drawn from a seeded generator (same seed and request
//! sequence → same faults). Faults answer before the request does anything.

use std::sync::Mutex;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What to inject; changeable at run time (`PUT /_emulator/faults`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The next this-many API requests answer `status` (then healthy again).
    pub fail_next: u32,
    /// Probability (0..=1) that an API request answers `status`.
    pub error_rate: f64,
    /// The status a fault answers (default 503).
    pub status: Option<u16>,
}

/// The fault state of one emulator.
pub(crate) struct FaultState {
    faults: Mutex<(Faults, SmallRng)>,
}

impl FaultState {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            faults: Mutex::new((Faults::default(), SmallRng::seed_from_u64(seed))),
        }
    }

    pub(crate) fn set(&self, faults: Faults) -> Result<(), String> {
        if !(0.0..=1.0).contains(&faults.error_rate) {
            return Err(format!(
                "error_rate {} is not within 0..=1",
                faults.error_rate
            ));
        }
        if let Some(s) = faults.status
            && !(400..=599).contains(&s)
        {
            return Err(format!("status {s} is not an error status"));
        }
        self.faults.lock().unwrap_or_else(|p| p.into_inner()).0 = faults;
        Ok(())
    }

    /// `Some(status)` when this request is to fail.
    pub(crate) fn draw(&self) -> Option<u16> {
        let mut guard = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let (faults, rng) = &mut *guard;
        let status = faults.status.unwrap_or(503);
        if faults.fail_next > 0 {
            faults.fail_next -= 1;
            return Some(status);
        }
        (faults.error_rate > 0.0 && rng.random_bool(faults.error_rate)).then_some(status)
    }
}
