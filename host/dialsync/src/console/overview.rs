//! `GET /console/api/overview`: per source and per org — changes accepted, applied,
//! rejected and dead-lettered over the last hour and day (hourly, for the chart), queue
//! depth, the last error, and per org the rate-budget use and the token state.
//!
//! Rate-budget use is measured, not configured: the org client's request counter is
//! sampled at every overview request, and the requests of the last minute (or of the
//! time since the first sample, when the console has been open for less) are compared
//! with the org's `requests_per_minute`.
//!
//! `hourly` series are `[accepted, applied, rejected, deadLettered, other]` rows, oldest
//! hour first, the last one being the last 60 minutes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use dialsync_genesys::TokenState;
use serde_json::{Value, json};

use super::Console;
use super::data::{Counts, HOURS, LastError, SourceActivity};
use crate::server::error::ApiError;

/// How far back rate samples are kept.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Request-counter samples per org.
#[derive(Default)]
pub struct RateSampler {
    samples: Mutex<HashMap<String, VecDeque<(Instant, u64)>>>,
}

impl RateSampler {
    /// Records `total` requests for `org` now; returns the measured requests per minute
    /// and the seconds it was measured over (`None` on the first sample).
    pub fn sample(&self, org: &str, total: u64) -> Option<(f64, f64)> {
        self.sample_at(org, total, Instant::now())
    }

    fn sample_at(&self, org: &str, total: u64, now: Instant) -> Option<(f64, f64)> {
        let mut all = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let q = all.entry(org.to_owned()).or_default();
        while q.len() > 1
            && q.get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= RATE_WINDOW)
        {
            q.pop_front();
        }
        q.push_back((now, total));
        let (t0, n0) = *q.front()?;
        let secs = now.duration_since(t0).as_secs_f64();
        (secs >= 1.0).then(|| (total.saturating_sub(n0) as f64 * 60.0 / secs, secs))
    }
}

fn sum(hourly: &[Counts], last: usize) -> Counts {
    let mut c = Counts::default();
    for h in &hourly[hourly.len().saturating_sub(last)..] {
        c.add(h);
    }
    c
}

/// One org's sums over its sources.
struct OrgTotals<'a> {
    sources: Vec<&'a str>,
    hourly: Vec<Counts>,
    queue: u64,
    last_error: Option<LastError>,
    letters: u64,
}

impl Default for OrgTotals<'_> {
    fn default() -> Self {
        OrgTotals {
            sources: Vec::new(),
            hourly: vec![Counts::default(); HOURS],
            queue: 0,
            last_error: None,
            letters: 0,
        }
    }
}

/// Hourly counts as `[accepted, applied, rejected, deadLettered, other]` rows.
fn compact(hourly: &[Counts]) -> Vec<[u64; 5]> {
    hourly.iter().map(Counts::as_array).collect()
}

fn token(state: TokenState) -> Value {
    match state {
        TokenState::Missing => json!({"state": "missing"}),
        TokenState::Valid { refresh_in } => {
            json!({"state": "valid", "refreshInSecs": refresh_in.as_secs()})
        }
        TokenState::Due => json!({"state": "due"}),
        TokenState::Fetching => json!({"state": "fetching"}),
    }
}

fn newest(a: Option<LastError>, b: &Option<LastError>) -> Option<LastError> {
    match (a, b) {
        (Some(a), Some(b)) if b.at_ms > a.at_ms => Some(b.clone()),
        (Some(a), _) => Some(a),
        (None, b) => b.clone(),
    }
}

/// Builds the overview.
pub async fn overview(State(console): State<Arc<Console>>) -> Result<Json<Value>, ApiError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let activity = console
        .data
        .activity(now_ms)
        .await
        .map_err(|e| ApiError::unavailable("journal-unavailable", e.to_string()))?;
    let dead_letters = console
        .app
        .engine
        .dead_letters()
        .await
        .map_err(|e| ApiError::unavailable("journal-unavailable", e.to_string()))?;
    let mut open_letters: HashMap<&str, u64> = HashMap::new();
    for d in &dead_letters {
        *open_letters.entry(d.source.as_str()).or_default() += 1;
    }
    let empty = SourceActivity::default();
    let mut sources = Vec::new();
    let mut orgs: BTreeMap<&str, OrgTotals> = BTreeMap::new();
    for (name, src) in &console.app.sources {
        let a = activity.get(name).unwrap_or(&empty);
        let slot = src.plugin();
        let letters = open_letters.get(name.as_str()).copied().unwrap_or(0);
        sources.push(json!({
            "name": name,
            "org": src.org,
            "listId": src.list_id,
            "plugin": {"id": slot.plugin.info().id(), "reference": slot.reference, "sha256": slot.plugin.sha256()},
            "lastHour": sum(&a.hourly, 1),
            "lastDay": sum(&a.hourly, HOURS),
            "hourly": compact(&a.hourly),
            "queue": a.queue,
            "openDeadLetters": letters,
            "lastError": a.last_error,
        }));
        let o = orgs.entry(src.org.as_str()).or_default();
        o.sources.push(name);
        for (acc, h) in o.hourly.iter_mut().zip(&a.hourly) {
            acc.add(h);
        }
        o.queue += a.queue;
        o.last_error = newest(o.last_error.take(), &a.last_error);
        o.letters += letters;
    }
    let orgs: Vec<Value> = orgs
        .into_iter()
        .map(|(org, o)| {
            let client = console.app.clients.get(org);
            let rate = client.map(|c| {
                let stats = c.stats();
                let total = stats.total_responses() + stats.transport_errors;
                let measured = console.rates.sample(org, total);
                json!({
                    "limitPerMinute": c.settings().requests_per_minute,
                    "usedPerMinute": measured.map(|m| m.0.round()),
                    "measuredOverSecs": measured.map(|m| m.1.round()),
                    "requests": total,
                    "rateLimited": stats.rate_limited,
                    "retries": stats.retries,
                    "conflicts": stats.conflicts,
                    "transportErrors": stats.transport_errors,
                })
            });
            json!({
                "name": org,
                "sources": o.sources,
                "lastHour": sum(&o.hourly, 1),
                "lastDay": sum(&o.hourly, HOURS),
                "hourly": compact(&o.hourly),
                "queue": o.queue,
                "openDeadLetters": o.letters,
                "lastError": o.last_error,
                "rate": rate,
                "token": client.map(|c| token(c.token_state())),
            })
        })
        .collect();
    Ok(Json(json!({
        "generatedAtMs": now_ms,
        "sources": sources,
        "orgs": orgs,
        "openDeadLetters": dead_letters.len(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_measured_over_the_last_minute() {
        let s = RateSampler::default();
        let t0 = Instant::now();
        assert_eq!(s.sample_at("acme", 100, t0), None);
        let (rate, secs) = s
            .sample_at("acme", 130, t0 + Duration::from_secs(30))
            .unwrap();
        assert_eq!((rate, secs), (60.0, 30.0));
        // Two minutes on, only samples of the last minute count.
        s.sample_at("acme", 160, t0 + Duration::from_secs(90));
        let (rate, secs) = s
            .sample_at("acme", 190, t0 + Duration::from_secs(120))
            .unwrap();
        assert_eq!(
            secs, 90.0,
            "the newest sample at least a minute old is the base"
        );
        assert!((rate - 40.0).abs() < 1e-9, "{rate}");
    }
}
