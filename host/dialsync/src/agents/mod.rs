//! `dialsync agents apply`: bulk agent updates (user fields, routing skills, languages,
//! utilization) that are idempotent and absorb version conflicts (seed 003).
//!
//! The flow: [`plan`] reads the file and finds its own problems, [`resolve`] maps users,
//! skills and languages to ids against the org (finding the rest) — nothing is written
//! unless both found none — then [`apply`] brings each agent to the plan, writing only
//! what [`diff`] says differs, and [`report`] tells what happened per agent.

pub mod apply;
pub mod diff;
pub mod plan;
pub mod report;
pub mod resolve;

use std::time::Instant;

use dialsync_genesys::{GenesysClient, GenesysError};

pub use apply::ApplyOptions;
pub use plan::{Parsed, Plan, PlanError, PlanFormat, PlanIssue};
pub use report::{AgentOutcome, RunReport, Status, Summary};
pub use resolve::{Directory, Target};

/// Why a run did not get to apply anything.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plan has problems; all of them are listed. Nothing was written.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The org's users, skills or languages could not be listed. Nothing was written.
    #[error("cannot list the org's users, skills and languages: {0}")]
    Directory(#[source] GenesysError),
}

/// Checks the plan against the org: every problem of the file and every unknown name.
/// Returns the targets only when there is no problem at all.
pub async fn prepare(client: &GenesysClient, parsed: Parsed) -> Result<Vec<Target>, RunError> {
    let directory = Directory::fetch(client)
        .await
        .map_err(RunError::Directory)?;
    let (targets, more) = resolve::resolve(&parsed.plan, &directory);
    let mut issues = parsed.issues;
    issues.extend(more);
    if issues.is_empty() {
        Ok(targets)
    } else {
        Err(PlanError::Invalid(issues).into())
    }
}

/// Checks the plan, then applies it (or, with `dry_run`, only diffs it). `on_done` sees
/// each agent as it finishes.
pub async fn run(
    client: &GenesysClient,
    parsed: Parsed,
    options: &ApplyOptions,
    on_start: impl FnOnce(usize),
    on_done: impl Fn(&AgentOutcome),
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let before = client.stats().total_responses();
    let targets = prepare(client, parsed).await?;
    let directory_requests = client.stats().total_responses().saturating_sub(before);
    on_start(targets.len());
    let agents = apply::apply(client, &targets, options, on_done).await;
    let mut summary = Summary::of(&agents);
    summary.directory_requests = directory_requests;
    summary.elapsed_ms = started.elapsed().as_millis();
    Ok(RunReport {
        dry_run: options.dry_run,
        plan_issues: Vec::new(),
        summary,
        agents,
    })
}
