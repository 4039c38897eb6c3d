//! Background user-version churn: at `version_churn_per_sec`, random users' versions are
//! bumped (as WFM, presence and admin edits do on a real org), so clients must handle 409
//! on `PATCH /api/v2/users/{id}` by re-reading. Seeded; runs on tokio time (pausable).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::app::AppState;

const TICK: Duration = Duration::from_millis(100);

/// Runs until aborted.
pub(crate) async fn run(sh: AppState) {
    let mut rng = StdRng::seed_from_u64(sh.config().seed ^ 0xC4_0124);
    let mut owed = 0.0f64;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let rate = sh.config().version_churn_per_sec;
        if rate <= 0.0 {
            owed = 0.0;
            continue;
        }
        owed += rate * TICK.as_secs_f64();
        let n = owed.floor() as usize;
        owed -= n as f64;
        if n == 0 {
            continue;
        }
        let mut store = sh.store();
        let len = store.users.len();
        if len == 0 {
            continue;
        }
        for _ in 0..n {
            let i = rng.random_range(0..len);
            if let Some(u) = store.users.values_mut().nth(i) {
                u.version += 1;
            }
        }
    }
}
