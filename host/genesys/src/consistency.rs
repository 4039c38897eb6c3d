//! Read-after-write tolerance. Genesys Cloud is eventually consistent: a contact read right
//! after this client wrote it may 404, and one read right after this client deleted it may
//! still be there. Genesys's own tooling re-reads in exactly that case: the public Terraform
//! provider wraps every read that follows its own create in `WithRetriesForRead`
//! (genesyscloud/util/resource_retries.go; a 404 is a `RetryableError` until a timeout) and
//! polls after a delete until the GET 404s.
//!
//! The client remembers which contacts it wrote or deleted in the last
//! [`OrgSettings::read_after_write`](crate::OrgSettings::read_after_write) and, for those
//! only, re-reads a surprising answer with a short doubling pause until the window ends. A
//! 404 for a contact this client did not just write is answered at once, with one request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// First pause before a re-read; doubled per re-read up to [`MAX_PAUSE`].
pub(crate) const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause between re-reads.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(1);
/// Entries kept before expired ones are swept (amortised: a sweep per this many inserts).
const SWEEP_AT: usize = 10_000;

/// What this client last did to a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wrote {
    /// Created or updated it: it should be readable.
    Present,
    /// Deleted it: it should be gone.
    Deleted,
}

/// Contacts written in the last window, keyed by (list id, contact id).
#[derive(Default)]
pub(crate) struct RecentWrites {
    entries: Mutex<HashMap<(String, String), (Instant, Wrote)>>,
}

impl RecentWrites {
    /// Notes writes of `ids` in `list_id` (a no-op when the window is zero).
    pub fn note<'a>(
        &self,
        list_id: &str,
        ids: impl IntoIterator<Item = &'a str>,
        wrote: Wrote,
        window: Duration,
    ) {
        if window.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, (at, _)| now.duration_since(*at) < window);
        }
        for id in ids {
            entries.insert((list_id.to_owned(), id.to_owned()), (now, wrote));
        }
    }

    /// What this client did to the contact within the window, and when the window ends.
    pub fn expected(&self, list_id: &str, id: &str, window: Duration) -> Option<(Wrote, Instant)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (at, wrote) = entries.get(&(list_id.to_owned(), id.to_owned()))?;
        let end = *at + window;
        (Instant::now() < end).then_some((*wrote, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn writes_are_remembered_for_the_window_only() {
        let r = RecentWrites::default();
        let w = Duration::from_secs(10);
        r.note("l", ["a", "b"], Wrote::Present, w);
        r.note("l", ["b"], Wrote::Deleted, w);
        r.note("l", ["z"], Wrote::Present, Duration::ZERO);
        assert_eq!(r.expected("l", "a", w).map(|e| e.0), Some(Wrote::Present));
        assert_eq!(r.expected("l", "b", w).map(|e| e.0), Some(Wrote::Deleted));
        assert_eq!(r.expected("l", "z", w), None, "window 0 remembers nothing");
        assert_eq!(r.expected("m", "a", w), None, "keyed by list too");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(r.expected("l", "a", w), None);
    }
}
