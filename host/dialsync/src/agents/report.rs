//! What a run did, per agent and in total: the JSON report (`--report out.json`), the
//! summary table and the per-agent diff lines printed by `--dry-run`.

use std::fmt::Write as _;

use serde::Serialize;

use super::plan::PlanIssue;
use super::resolve::Target;

/// How one agent ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Differences were written.
    Applied,
    /// Already as planned; nothing written.
    Unchanged,
    /// Dry run: these differences would be written.
    Planned,
    /// Something could not be read or written; see `errors`.
    Failed,
}

/// One agent's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentOutcome {
    /// Where the entry is in the plan.
    pub location: String,
    /// The agent as the plan names it.
    pub user: String,
    /// Genesys user id.
    pub user_id: String,
    /// How it ended.
    pub status: Status,
    /// One line per difference (written, or to write in a dry run).
    pub changes: Vec<String>,
    /// Why it failed (each names the step: read user, update skills, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// User PATCH attempts.
    pub patch_attempts: u32,
    /// 409s answered by re-reading and re-applying.
    pub conflicts_absorbed: u32,
    /// API calls made for this agent (client-internal 429/5xx retries not included).
    pub requests: u32,
    /// Whether anything was written (also true for a failed agent with partial writes).
    pub wrote: bool,
}

impl AgentOutcome {
    /// A blank outcome for a target.
    pub fn new(target: &Target) -> Self {
        Self {
            location: target.location.clone(),
            user: target.user.clone(),
            user_id: target.user_id.clone(),
            status: Status::Unchanged,
            changes: Vec::new(),
            errors: Vec::new(),
            patch_attempts: 0,
            conflicts_absorbed: 0,
            requests: 0,
            wrote: false,
        }
    }
}

/// Totals of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Agents in the plan.
    pub agents: usize,
    /// Agents written.
    pub applied: usize,
    /// Agents already as planned.
    pub unchanged: usize,
    /// Agents that would be written (dry run).
    pub planned: usize,
    /// Agents that failed.
    pub failed: usize,
    /// 409s absorbed across the run.
    pub conflicts_absorbed: u32,
    /// API calls made for the agents.
    pub requests: u32,
    /// Directory listing calls (users, skills, languages), counted as HTTP answers.
    pub directory_requests: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u128,
}

impl Summary {
    /// Totals over outcomes.
    pub fn of(outcomes: &[AgentOutcome]) -> Self {
        let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
        Self {
            agents: outcomes.len(),
            applied: count(Status::Applied),
            unchanged: count(Status::Unchanged),
            planned: count(Status::Planned),
            failed: count(Status::Failed),
            conflicts_absorbed: outcomes.iter().map(|o| o.conflicts_absorbed).sum(),
            requests: outcomes.iter().map(|o| o.requests).sum(),
            ..Self::default()
        }
    }

    /// The summary as an aligned table.
    pub fn table(&self) -> String {
        let rows: [(&str, String); 8] = [
            ("agents", self.agents.to_string()),
            ("applied", self.applied.to_string()),
            ("unchanged", self.unchanged.to_string()),
            ("planned (dry run)", self.planned.to_string()),
            ("failed", self.failed.to_string()),
            ("409s absorbed", self.conflicts_absorbed.to_string()),
            (
                "requests",
                format!("{} (+{} directory)", self.requests, self.directory_requests),
            ),
            (
                "elapsed",
                format!("{:.1}s", self.elapsed_ms as f64 / 1000.0),
            ),
        ];
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "  {k:<18} {v:>12}");
        }
        out
    }
}

/// The `--report` document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Plan problems (a run with problems writes nothing and has no agents).
    pub plan_issues: Vec<PlanIssue>,
    /// Totals.
    pub summary: Summary,
    /// One per agent, in plan order.
    pub agents: Vec<AgentOutcome>,
}

/// One line for an agent as it finishes (plain progress and dry-run output).
pub fn outcome_line(o: &AgentOutcome) -> String {
    let status = match o.status {
        Status::Applied => "applied",
        Status::Unchanged => "unchanged",
        Status::Planned => "would change",
        Status::Failed => "FAILED",
    };
    let mut line = format!("{} {} ({}): {status}", o.location, o.user, o.user_id);
    if o.conflicts_absorbed > 0 {
        let _ = write!(line, ", {} conflict(s) absorbed", o.conflicts_absorbed);
    }
    for c in &o.changes {
        let _ = write!(line, "\n    {c}");
    }
    for e in &o.errors {
        let _ = write!(line, "\n    error: {e}");
    }
    line
}
