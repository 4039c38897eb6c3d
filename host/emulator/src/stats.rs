//! Request counters by method, route template and status (`GET /_emulator/stats`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Route name recorded for requests that matched no route.
pub const UNMATCHED: &str = "<unmatched>";

/// One counter: requests with this method, route template and status.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RouteCount {
    /// HTTP method.
    pub method: String,
    /// Route template, e.g. `/api/v2/outbound/contactlists/{contactListId}/contacts`.
    pub route: String,
    /// Response status.
    pub status: u16,
    /// Requests.
    pub count: u64,
}

/// Counters of all API and OAuth requests (control-API requests are not counted).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// All requests.
    pub total: u64,
    /// Requests by status.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests by `"METHOD route"`.
    pub by_route: BTreeMap<String, u64>,
    /// Every (method, route, status) counter.
    pub routes: Vec<RouteCount>,
    /// Dropped connections injected.
    pub dropped: u64,
    /// Writes applied and then answered 500 by injection.
    pub applied_then_error: u64,
    /// 429s answered because the caller went over a rate limit (per token or per client):
    /// the caller's own over-sending, unlike the injected bursts also counted under 429.
    #[serde(default)]
    pub over_limit: u64,
}

impl Stats {
    /// Requests with this method, route template and status.
    pub fn count(&self, method: &str, route: &str, status: u16) -> u64 {
        self.routes
            .iter()
            .filter(|r| {
                r.method.eq_ignore_ascii_case(method) && r.route == route && r.status == status
            })
            .map(|r| r.count)
            .sum()
    }
    /// Requests with this method and route template, any status.
    pub fn route_total(&self, method: &str, route: &str) -> u64 {
        self.routes
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.route == route)
            .map(|r| r.count)
            .sum()
    }
    /// Requests answered with this status.
    pub fn status_total(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

/// The live counters.
#[derive(Default)]
pub(crate) struct Recorder {
    counts: BTreeMap<(String, String, u16), u64>,
    pub dropped: u64,
    pub applied_then_error: u64,
    pub over_limit: u64,
}

impl Recorder {
    pub fn record(&mut self, method: &str, route: &str, status: u16) {
        *self
            .counts
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> Stats {
        let mut s = Stats {
            dropped: self.dropped,
            applied_then_error: self.applied_then_error,
            over_limit: self.over_limit,
            ..Default::default()
        };
        for ((m, r, st), c) in &self.counts {
            s.total += c;
            *s.by_status.entry(*st).or_default() += c;
            *s.by_route.entry(format!("{m} {r}")).or_default() += c;
            s.routes.push(RouteCount {
                method: m.clone(),
                route: r.clone(),
                status: *st,
                count: *c,
            });
        }
        s
    }
}
