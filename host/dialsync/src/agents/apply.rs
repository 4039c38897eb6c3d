//! Applying resolved targets to the org: per agent read the current state, write only what
//! differs, and absorb version conflicts on the user PATCH by re-reading and re-applying.
//!
//! Why this beats the fetch-all-then-write-all script of seed 003: the user's version is
//! read immediately before its PATCH (one round trip of exposure instead of the whole run),
//! and a 409 is answered by a fresh GET, a fresh diff (another writer may already have set
//! what we want) and a retry after a jittered pause, a bounded number of times. Skills,
//! languages and utilization carry no version, so they are written only when they differ.
//! Every call goes through the org's one [`GenesysClient`], so the run shares the org's
//! rate budget and retry policy with everything else in the process.

use std::time::Duration;

use dialsync_genesys::{GenesysClient, GenesysError, RetryClass};
use futures::StreamExt;
use rand::Rng;

use super::diff::{self, LanguagesWrite, PER_BULK_CALL, SkillsWrite};
use super::report::{AgentOutcome, Status};
use super::resolve::Target;

/// How a run behaves.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Agents worked on at once (the client also caps requests in flight per org).
    pub concurrency: usize,
    /// Read and diff only; write nothing.
    pub dry_run: bool,
    /// PATCH attempts per user before a conflict is reported as a failure.
    pub max_conflict_attempts: u32,
    /// Backoff ceiling after the first conflict; doubled per conflict (full jitter).
    pub conflict_backoff: Duration,
    /// Largest backoff ceiling.
    pub conflict_backoff_max: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            dry_run: false,
            max_conflict_attempts: 8,
            conflict_backoff: Duration::from_millis(50),
            conflict_backoff_max: Duration::from_secs(2),
        }
    }
}

/// Applies every target with bounded concurrency; `on_done` is called as each agent
/// finishes (for progress). Outcomes come back in plan order. Never panics on API errors:
/// they end up in the agent's outcome.
pub async fn apply(
    client: &GenesysClient,
    targets: &[Target],
    options: &ApplyOptions,
    on_done: impl Fn(&AgentOutcome),
) -> Vec<AgentOutcome> {
    let mut outcomes: Vec<(usize, AgentOutcome)> =
        futures::stream::iter(targets.iter().enumerate())
            .map(|(i, target)| async move { (i, apply_one(client, target, options).await) })
            .buffer_unordered(options.concurrency.max(1))
            .inspect(|(_, outcome)| on_done(outcome))
            .collect()
            .await;
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// One agent: the user PATCH loop and the routing writes run side by side.
async fn apply_one(
    client: &GenesysClient,
    target: &Target,
    options: &ApplyOptions,
) -> AgentOutcome {
    let mut outcome = AgentOutcome::new(target);
    let (user, routing) = futures::join!(
        user_part(client, target, options),
        routing_part(client, target, options.dry_run)
    );
    for part in [user, routing] {
        outcome.requests += part.requests;
        outcome.patch_attempts += part.patch_attempts;
        outcome.conflicts_absorbed += part.conflicts;
        outcome.changes.extend(part.changes);
        outcome.errors.extend(part.errors);
        outcome.wrote |= part.wrote;
    }
    outcome.status = if !outcome.errors.is_empty() {
        Status::Failed
    } else if outcome.changes.is_empty() {
        Status::Unchanged
    } else if options.dry_run {
        Status::Planned
    } else {
        Status::Applied
    };
    outcome
}

/// What one part of an agent's work did.
#[derive(Default)]
struct Part {
    requests: u32,
    patch_attempts: u32,
    conflicts: u32,
    changes: Vec<String>,
    errors: Vec<String>,
    wrote: bool,
}

impl Part {
    fn fail(&mut self, what: &str, err: &GenesysError) {
        self.errors.push(format!("{what}: {err}"));
    }
}

/// GET the user → diff → PATCH with that version; on 409 back off, re-read, re-diff, retry.
async fn user_part(client: &GenesysClient, target: &Target, options: &ApplyOptions) -> Part {
    let mut part = Part::default();
    if target.fields.is_empty() {
        return part;
    }
    let id = target.user_id.as_str();
    loop {
        part.requests += 1;
        let current = match client.get_user(id).await {
            Ok(u) => u,
            Err(e) => {
                part.fail("read user", &e);
                return part;
            }
        };
        let Some(change) = diff::user_change(&target.fields, &current) else {
            // Already as planned (possibly because the writer we collided with set it).
            return part;
        };
        if options.dry_run {
            part.changes = change.changes;
            return part;
        }
        let Some(version) = current.version else {
            part.errors
                .push("read user: Genesys returned no version for the user".into());
            return part;
        };
        let body = dialsync_genesys::UpdateUser {
            version,
            ..change.body
        };
        part.requests += 1;
        part.patch_attempts += 1;
        match client.patch_user(id, &body).await {
            Ok(_) => {
                part.changes = change.changes;
                part.wrote = true;
                return part;
            }
            Err(e) if e.retry_class() == RetryClass::Conflict => {
                if part.patch_attempts >= options.max_conflict_attempts {
                    part.errors.push(format!(
                        "update user: still conflicting after {} attempts (the user's version \
                         keeps changing): {e}",
                        part.patch_attempts
                    ));
                    return part;
                }
                part.conflicts += 1;
                tokio::time::sleep(conflict_pause(options, part.conflicts)).await;
            }
            Err(e) => {
                part.fail("update user", &e);
                return part;
            }
        }
    }
}

/// Full-jitter pause after the `n`th conflict: uniform in [0, min(max, base·2^(n-1))].
fn conflict_pause(options: &ApplyOptions, n: u32) -> Duration {
    let ceiling = options
        .conflict_backoff
        .saturating_mul(1u32 << (n.saturating_sub(1)).min(16))
        .min(options.conflict_backoff_max);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// Skills, languages and utilization: read what the plan manages, write what differs.
async fn routing_part(client: &GenesysClient, target: &Target, dry_run: bool) -> Part {
    let mut part = Part::default();
    let id = target.user_id.as_str();
    if let Some(want) = &target.skills {
        part.requests += 1;
        match client.get_user_routing_skills(id).await {
            Ok(current) => {
                if let Some((write, changes)) = diff::skills_write(want, &current) {
                    part.changes.extend(changes);
                    if !dry_run {
                        write_skills(client, id, write, &mut part).await;
                    }
                }
            }
            Err(e) => part.fail("read skills", &e),
        }
    }
    if let Some(want) = &target.languages {
        part.requests += 1;
        match client.get_user_routing_languages(id).await {
            Ok(current) => {
                if let Some((write, changes)) =
                    diff::languages_write(want, target.languages_mode, &current)
                {
                    part.changes.extend(changes);
                    if !dry_run {
                        write_languages(client, id, write, &mut part).await;
                    }
                }
            }
            Err(e) => part.fail("read languages", &e),
        }
    }
    if let Some(want) = &target.utilization {
        part.requests += 1;
        match client.get_user_utilization(id).await {
            Ok(current) => {
                if let Some((body, changes)) = diff::utilization_write(want, &current) {
                    part.changes.extend(changes);
                    if !dry_run {
                        part.requests += 1;
                        part.wrote = true;
                        if let Err(e) = client.put_user_utilization(id, &body).await {
                            part.fail("update utilization", &e);
                        }
                    }
                }
            }
            Err(e) => part.fail("read utilization", &e),
        }
    }
    part
}

/// Writes skills: a replacing PUT (beyond [`PER_BULK_CALL`], the first chunk by PUT and
/// the rest by PATCH), or PATCHes of the added/changed ones and a DELETE per removed one.
/// Stops at the first failure.
async fn write_skills(client: &GenesysClient, id: &str, write: SkillsWrite, part: &mut Part) {
    part.wrote = true;
    match write {
        SkillsWrite::Replace(skills) => {
            if skills.is_empty() {
                part.requests += 1;
                if let Err(e) = client.put_user_routing_skills(id, &[]).await {
                    part.fail("update skills", &e);
                }
                return;
            }
            for (i, chunk) in skills.chunks(PER_BULK_CALL).enumerate() {
                part.requests += 1;
                let result = if i == 0 {
                    client.put_user_routing_skills(id, chunk).await
                } else {
                    client.patch_user_routing_skills(id, chunk).await
                };
                if let Err(e) = result {
                    part.fail("update skills", &e);
                    return;
                }
            }
        }
        SkillsWrite::Edit { upsert, remove } => {
            for chunk in upsert.chunks(PER_BULK_CALL) {
                part.requests += 1;
                if let Err(e) = client.patch_user_routing_skills(id, chunk).await {
                    part.fail("update skills", &e);
                    return;
                }
            }
            for skill in remove {
                part.requests += 1;
                if let Err(e) = client.delete_user_routing_skill(id, &skill).await {
                    part.fail(&format!("remove skill {skill}"), &e);
                    return;
                }
            }
        }
    }
}

/// Writes languages: PATCHes of the added/changed ones (the client splits them into calls
/// of the documented maximum, 50), then a DELETE per removed one. Stops at the first failure.
async fn write_languages(client: &GenesysClient, id: &str, write: LanguagesWrite, part: &mut Part) {
    part.wrote = true;
    if !write.upsert.is_empty() {
        part.requests +=
            u32::try_from(write.upsert.len().div_ceil(PER_BULK_CALL)).unwrap_or(u32::MAX);
        if let Err(e) = client.patch_user_routing_languages(id, &write.upsert).await {
            part.fail("update languages", &e);
            return;
        }
    }
    for language in write.remove {
        part.requests += 1;
        if let Err(e) = client.delete_user_routing_language(id, &language).await {
            part.fail(&format!("remove language {language}"), &e);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_pause_is_full_jitter_under_a_doubling_capped_ceiling() {
        let options = ApplyOptions {
            conflict_backoff: Duration::from_millis(50),
            conflict_backoff_max: Duration::from_millis(300),
            ..ApplyOptions::default()
        };
        for (n, ceiling) in [(1, 50), (2, 100), (3, 200), (4, 300), (30, 300)] {
            let pauses: Vec<Duration> = (0..200).map(|_| conflict_pause(&options, n)).collect();
            assert!(
                pauses.iter().all(|p| *p <= Duration::from_millis(ceiling)),
                "n={n}"
            );
            assert!(pauses.iter().any(|p| *p != pauses[0]), "n={n}: jittered");
        }
    }
}
