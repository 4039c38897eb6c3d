//! What a demo run found, as one serialisable report (`dialsync demo --json`) and as the
//! human-readable summary the command prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::org::Faults;
use crate::sync::Outcome;

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The emulator seed.
    pub seed: u64,
    /// Fault settings used.
    pub faults: Faults,
    /// The journal file.
    pub db: String,
    /// Records per delivered page.
    pub page_size: usize,
    /// Wall-clock seconds the run took.
    pub elapsed_seconds: f64,
    /// One entry per CRM.
    pub sources: Vec<SourceReport>,
    /// Genesys traffic of the whole org.
    pub traffic: Traffic,
    /// Contact lists and DNC list as the emulator holds them at the end.
    pub state: FinalState,
    /// Commands to try next.
    pub try_next: Vec<String>,
}

/// One CRM's import.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// Source / plugin name.
    pub name: String,
    /// Plugin version.
    pub plugin_version: String,
    /// Sample file.
    pub file: String,
    /// Contact list id.
    pub list_id: String,
    /// Records read.
    pub records: u64,
    /// Changes the plugin produced and the journal accepted.
    pub changes_accepted: u64,
    /// Accepted changes that reached a terminal outcome.
    pub changes_finished: u64,
    /// Outcome → count (journaled changes, plus plugin-level skips and rejects per record).
    pub outcomes: BTreeMap<String, u64>,
    /// Examples of every outcome other than `applied`.
    pub examples: Vec<Example>,
}

/// One record's non-applied outcome and why.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// The outcome.
    pub outcome: String,
    /// Position of the record in the sample file (0-based) and its page.
    pub record: usize,
    /// Delivery page (from 1).
    pub page: usize,
    /// externalId, when the record got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The field at fault (rejections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why.
    pub reason: String,
}

/// Genesys traffic as the emulator counted it, plus the client's view.
#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    /// All API and OAuth requests.
    pub requests: u64,
    /// `"METHOD route"` → status → count.
    pub by_route: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Add-contacts calls that succeeded (batches written).
    pub contact_batches: u64,
    /// DNC-list updates that succeeded.
    pub dnc_updates: u64,
    /// 429 answers (all absorbed: waited out and retried).
    pub rate_limited_429: u64,
    /// 5xx answers (all retried).
    pub server_errors_5xx: u64,
    /// Writes the emulator applied and then answered 500 (retried idempotently).
    pub applied_then_500: u64,
    /// Tokens issued: the first plus refreshes.
    pub tokens_issued: u64,
    /// 409 answers from the dialer's lock (the contacts were parked and retried).
    pub conflicts_409: u64,
    /// Retries the client made.
    pub client_retries: u64,
}

/// The end state.
#[derive(Debug, Clone, Serialize)]
pub struct FinalState {
    /// Per contact list.
    pub lists: Vec<ListState>,
    /// Numbers on the demo DNC list.
    pub dnc_numbers: u64,
    /// Records checked by reading their contact through the API (written ones must match,
    /// never-written ones must be absent).
    pub read_back: u64,
    /// Of those, how many differed from what the journal says was written.
    pub read_back_mismatches: Vec<String>,
    /// Accepted changes without a terminal outcome (must be 0).
    pub lost: u64,
    /// Dead letters left (replayable).
    pub dead_letters: u64,
}

/// One contact list at the end.
#[derive(Debug, Clone, Serialize)]
pub struct ListState {
    /// Source.
    pub source: String,
    /// List id.
    pub list_id: String,
    /// Contacts in the list.
    pub contacts: u64,
    /// Distinct externalIds among them.
    pub distinct_external_ids: u64,
    /// Contacts minus distinct externalIds (must be 0).
    pub duplicates: u64,
    /// Contacts marked uncallable (do-not-call and soft-deleted records).
    pub uncallable: u64,
}

impl DemoReport {
    /// Whether every check passed: nothing lost, no duplicates, read-back matches.
    pub fn healthy(&self) -> bool {
        self.state.lost == 0
            && self.state.read_back_mismatches.is_empty()
            && self.state.lists.iter().all(|l| l.duplicates == 0)
    }

    /// The human-readable summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "dialsync demo — seed {}, faults {}, journal {}",
            self.seed,
            if self.faults.enabled { "on" } else { "off" },
            self.db
        );
        if self.faults.enabled {
            let f = &self.faults;
            let _ = writeln!(
                w,
                "  emulated org: latency {}–{} ms, {:.0}% 503s, {:.0}% applied-then-500, {:.0}% 429 bursts, \
                 dialer 409s at {:.0}% on held contacts, tokens live {} s",
                f.latency_ms[0],
                f.latency_ms[1],
                f.error_rate * 100.0,
                f.applied_then_error_rate * 100.0,
                f.burst_429_rate * 100.0,
                f.dialer_lock_rate * 100.0,
                f.token_ttl_secs
            );
        }
        let _ = writeln!(
            w,
            "  records delivered in pages of {}; each page synced before the next\n",
            self.page_size
        );
        for s in &self.sources {
            render_source(w, s);
        }
        render_traffic(w, &self.traffic);
        render_state(w, &self.state);
        let _ = writeln!(w, "\nTry next:");
        for cmd in &self.try_next {
            let _ = writeln!(w, "  {cmd}");
        }
        let _ = writeln!(w, "\nfinished in {:.1} s", self.elapsed_seconds);
        out
    }
}

fn render_source(w: &mut String, s: &SourceReport) {
    let _ = writeln!(
        w,
        "== {} (plugin {} {}) — {} records from {} → list {}",
        s.name, s.name, s.plugin_version, s.records, s.file, s.list_id
    );
    for outcome in Outcome::ALL {
        let n = s.outcomes.get(outcome.as_str()).copied().unwrap_or(0);
        let _ = writeln!(w, "   {:<14} {:>4}", outcome.as_str(), n);
    }
    let _ = writeln!(
        w,
        "   ({} changes accepted, {} finished)",
        s.changes_accepted, s.changes_finished
    );
    for e in &s.examples {
        let who = e.external_id.as_deref().unwrap_or("(no externalId)");
        let field = e
            .field
            .as_deref()
            .filter(|f| !f.is_empty())
            .map(|f| format!(" {f}:"))
            .unwrap_or_default();
        let _ = writeln!(
            w,
            "   {:<13} record {:>2} (page {}) {}:{} {}",
            e.outcome, e.record, e.page, who, field, e.reason
        );
    }
    let _ = writeln!(w);
}

fn render_traffic(w: &mut String, t: &Traffic) {
    let _ = writeln!(w, "== Genesys traffic ({} requests)", t.requests);
    for (route, statuses) in &t.by_route {
        let counts: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        let _ = writeln!(w, "   {route:<72} {}", counts.join(" "));
    }
    let _ = writeln!(
        w,
        "   {} contact batches written, {} DNC updates; absorbed: {} × 429 (waited out), \
         {} × 5xx ({} after the write was applied) retried, {} × 409 dialer locks parked and retried; \
         {} tokens issued (1 + {} refreshes); {} client retries",
        t.contact_batches,
        t.dnc_updates,
        t.rate_limited_429,
        t.server_errors_5xx,
        t.applied_then_500,
        t.conflicts_409,
        t.tokens_issued,
        t.tokens_issued.saturating_sub(1),
        t.client_retries
    );
    let _ = writeln!(w);
}

fn render_state(w: &mut String, s: &FinalState) {
    let _ = writeln!(w, "== Final state in Genesys");
    for l in &s.lists {
        let _ = writeln!(
            w,
            "   {:<22} {:>3} contacts, {:>3} distinct externalIds, {} duplicates, {} uncallable",
            l.list_id, l.contacts, l.distinct_external_ids, l.duplicates, l.uncallable
        );
    }
    let _ = writeln!(w, "   {} numbers on the DNC list", s.dnc_numbers);
    let _ = writeln!(
        w,
        "   {} records checked by reading their contact back through the API: {} differ from the journal",
        s.read_back,
        s.read_back_mismatches.len()
    );
    for m in &s.read_back_mismatches {
        let _ = writeln!(w, "     {m}");
    }
    let _ = writeln!(
        w,
        "   {} accepted changes without an outcome, {} dead letters",
        s.lost, s.dead_letters
    );
}
