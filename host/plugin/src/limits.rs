//! Resource limits applied to every plugin call.

use std::time::Duration;

/// Resource limits for one plugin call (one `map` batch or one `action`).
///
/// A guest exceeding any of them gets a per-record failure naming the limit;
/// the host and later calls are unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wasm fuel (roughly instructions) granted per input record; a batch of
    /// `n` records gets `fuel_per_record * (n + 1)` (one record's worth of
    /// slack for per-call overhead).
    pub fuel_per_record: u64,
    /// Cap on the guest's linear memory, in bytes.
    pub max_memory_bytes: usize,
    /// Wall-clock deadline for one call, including host calls it makes.
    pub deadline: Duration,
    /// Cap on the total size of the strings a call returns, in bytes.
    pub max_output_bytes: usize,
    /// Cap on the number of records re-run one by one after a batch fails, so a
    /// batch full of hostile records costs bounded work.
    pub max_isolation_reruns: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_record: 50_000_000,
            max_memory_bytes: 64 << 20,
            deadline: Duration::from_secs(10),
            max_output_bytes: 4 << 20,
            max_isolation_reruns: 256,
        }
    }
}
