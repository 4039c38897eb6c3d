//! Re-reading records through the Salesforce REST API when a change event carries no
//! usable values (`GAP_*`, `UNDELETE`, an UPDATE sent as a diff) or none at all
//! (`GAP_OVERFLOW`), rate-limited per Salesforce org.
//!
//! The limiter is hand-written (a next-free-slot per org, a few lines) rather than a
//! crate such as `governor` because it must run on tokio's clock, so tests with a
//! paused clock see the spacing without waiting; it is shared by every source of one
//! org in the process (the org's API request allowance is per org, not per source).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::pull::CrmError;
use crate::pull::salesforce::SalesforceClient;

/// One org's next free request slot.
type Slot = Arc<tokio::sync::Mutex<Option<Instant>>>;

/// Next free request slot per org id.
static SLOTS: LazyLock<Mutex<HashMap<String, Slot>>> = LazyLock::new(Default::default);

/// Waits for `org`'s next request slot at `per_second` requests per second.
pub async fn acquire(org: &str, per_second: f64) {
    let slot = {
        let mut slots = SLOTS.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(org.to_owned()).or_default().clone()
    };
    let mut next = slot.lock().await;
    let now = Instant::now();
    let at = next.map_or(now, |n| n.max(now));
    *next = Some(at + Duration::from_secs_f64(1.0 / per_second));
    drop(next);
    tokio::time::sleep_until(at).await;
}

/// The records `ids` as REST records for the plugin: found ones as Salesforce answers
/// them (a deleted one with `IsDeleted: true`, so the plugin removes it); for a
/// `GAP_DELETE` (`deleted`), an id Salesforce no longer knows at all (purged from the
/// Recycle Bin) becomes `{Id, IsDeleted: true, SystemModstamp: commit time}`. Other
/// unknown ids are logged and left out.
pub async fn records(
    client: &SalesforceClient,
    org: &str,
    per_second: f64,
    ids: &[String],
    deleted: bool,
    commit_ms: i64,
) -> Result<Vec<Value>, CrmError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(200) {
        acquire(org, per_second).await;
        let found = client.fetch_many(chunk).await?;
        let known = |id: &String| {
            found.iter().any(|r| {
                r.get("Id")
                    .and_then(Value::as_str)
                    .is_some_and(|f| f == id || f.get(..15) == id.get(..15))
            })
        };
        for id in chunk.iter().filter(|id| !known(id)) {
            if deleted {
                let stamp = chrono::DateTime::from_timestamp_millis(commit_ms)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
                    .to_string();
                out.push(json!({
                    "attributes": {"type": client.object},
                    "Id": id,
                    "IsDeleted": true,
                    "SystemModstamp": stamp,
                }));
            } else {
                tracing::warn!(
                    id,
                    object = %client.object,
                    "a change event names a record Salesforce does not return; nothing to apply"
                );
            }
        }
        out.extend(found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_orgs_requests_are_spaced_and_other_orgs_are_not_held_up() {
        let start = Instant::now();
        for _ in 0..5 {
            acquire("00Dtestorg-a", 2.0).await;
        }
        // 5 requests at 2/s: the first at once, then every 500 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(2000));
        let other = Instant::now();
        acquire("00Dtestorg-b", 2.0).await;
        assert_eq!(other.elapsed(), Duration::ZERO);
    }
}
