//! `dialsync actions install`: puts dialsync's data actions into a Genesys Cloud org through
//! the API, idempotently.
//!
//! 1. Find the Web Services Data Actions integration (type `custom-rest-actions`) named
//!    `--integration-name` (default `dialsync`); create and enable it when missing.
//! 2. For each action (the [`export`](super::export) definitions, now with the real
//!    `integrationId`): no such action → create a draft and publish it; an action whose
//!    config, contract or `secure` differ → open a draft (or reuse a leftover one), PATCH it
//!    to the wanted definition and publish it; otherwise leave it alone. Actions are matched
//!    by name within dialsync's category and the integration.
//!
//! Drafts, then publish, is how Genesys's own tooling writes actions (the public Terraform
//! provider's `genesyscloud_integration_action` creates a draft and publishes it; the
//! contract of a published action can only change through a new draft). A second run of
//! the same install reads and changes nothing. With `dry_run` nothing is written and the
//! report says what would be.
//!
//! The result is a serde struct ([`InstallReport`]) so the admin console can show it.

use dialsync_genesys::model::{
    Action, Integration, PostActionInput, UpdateDraftInput, WEB_SERVICES_DATA_ACTIONS,
};
use dialsync_genesys::{GenesysClient, GenesysError};
use serde::{Deserialize, Serialize};

use super::contracts::Contract;
use super::export::{self, CATEGORY, CredentialStyle};

/// What to install.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    /// The integration's name.
    pub integration_name: String,
    /// Where Genesys Cloud reaches dialsync.
    pub base_url: String,
    /// How the integration's credential reaches dialsync.
    pub style: CredentialStyle,
    /// Read and compare only.
    pub dry_run: bool,
}

/// What happened (or, in a dry run, would happen) to one thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Created (and, for actions, published).
    Created,
    /// Changed through a draft and published.
    Updated,
    /// Already as wanted.
    Unchanged,
}

/// The integration the actions belong to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationResult {
    /// Its id (`None` in a dry run that would create it).
    pub id: Option<String>,
    /// Its name.
    pub name: String,
    /// Created, or found.
    pub outcome: Outcome,
}

/// One action's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    /// The action's name in Genesys (`dialsync <contract>`).
    pub name: String,
    /// Its id (`None` in a dry run that would create it).
    pub id: Option<String>,
    /// Created, updated or unchanged.
    pub outcome: Outcome,
    /// The published version afterwards.
    pub version: Option<i64>,
    /// What differed (`config`, `contract`, `secure`), for updates.
    pub changed: Vec<String>,
}

/// The result of `dialsync actions install` (also its `--json` output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallReport {
    /// The org (name in dialsync's config).
    pub org: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// The integration.
    pub integration: IntegrationResult,
    /// One entry per action, in contract order.
    pub actions: Vec<ActionResult>,
    /// API requests the install made.
    pub requests: u64,
}

/// Why an install stopped.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A contract breaks Genesys's rules; nothing was written.
    #[error("action {name} cannot be installed into Genesys Cloud: {problems}")]
    Contract {
        /// The contract.
        name: String,
        /// Its problems.
        problems: String,
    },
    /// Two integrations of the data-actions type carry the wanted name.
    #[error(
        "{count} Web Services Data Actions integrations are named {name:?}; rename one or pass --integration-name"
    )]
    AmbiguousIntegration {
        /// The name.
        name: String,
        /// How many.
        count: usize,
    },
    /// A Genesys call failed (what was done before it stays done; a re-run continues).
    #[error("{step}: {source}")]
    Genesys {
        /// What was being done.
        step: String,
        /// The error.
        #[source]
        source: GenesysError,
    },
}

fn step(what: impl Into<String>) -> impl FnOnce(GenesysError) -> InstallError {
    let step = what.into();
    move |source| InstallError::Genesys { step, source }
}

/// Installs `contracts` as data actions of the org behind `client`.
pub async fn install(
    client: &GenesysClient,
    contracts: &[Contract],
    options: &InstallOptions,
) -> Result<InstallReport, InstallError> {
    for c in contracts {
        let problems = super::contracts::genesys_rule_violations(c);
        if !problems.is_empty() {
            return Err(InstallError::Contract {
                name: c.name.clone(),
                problems: problems.join("; "),
            });
        }
    }
    let before = client.stats().total_responses();
    let integration = find_or_create_integration(client, options).await?;
    let mut actions = Vec::with_capacity(contracts.len());
    let (published, drafts) = match &integration.id {
        Some(_) => (
            client
                .list_actions(CATEGORY)
                .await
                .map_err(step("list data actions"))?,
            client
                .list_action_drafts(CATEGORY)
                .await
                .map_err(step("list data action drafts"))?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    for contract in contracts {
        let want = wanted(contract, integration.id.as_deref().unwrap_or(""), options);
        let result = install_one(client, &want, &published, &drafts, options.dry_run).await?;
        actions.push(result);
    }
    Ok(InstallReport {
        org: client.org().to_owned(),
        dry_run: options.dry_run,
        integration,
        actions,
        requests: client.stats().total_responses().saturating_sub(before),
    })
}

async fn find_or_create_integration(
    client: &GenesysClient,
    options: &InstallOptions,
) -> Result<IntegrationResult, InstallError> {
    let all = client
        .list_integrations()
        .await
        .map_err(step("list integrations"))?;
    let matching: Vec<&Integration> = all
        .iter()
        .filter(|i| {
            i.name.as_deref() == Some(options.integration_name.as_str())
                && i.integration_type.as_ref().and_then(|t| t.id.as_deref())
                    == Some(WEB_SERVICES_DATA_ACTIONS)
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(IntegrationResult {
            id: Some(one.id.clone()),
            name: options.integration_name.clone(),
            outcome: Outcome::Unchanged,
        }),
        [] if options.dry_run => Ok(IntegrationResult {
            id: None,
            name: options.integration_name.clone(),
            outcome: Outcome::Created,
        }),
        [] => {
            let created = client
                .create_integration(&options.integration_name, WEB_SERVICES_DATA_ACTIONS)
                .await
                .map_err(step("create the Web Services Data Actions integration"))?;
            client
                .set_integration_state(&created.id, "ENABLED")
                .await
                .map_err(step("enable the integration"))?;
            Ok(IntegrationResult {
                id: Some(created.id),
                name: options.integration_name.clone(),
                outcome: Outcome::Created,
            })
        }
        many => Err(InstallError::AmbiguousIntegration {
            name: options.integration_name.clone(),
            count: many.len(),
        }),
    }
}

/// The wanted `PostActionInput` of a contract on integration `integration_id`.
fn wanted(contract: &Contract, integration_id: &str, options: &InstallOptions) -> PostActionInput {
    let v = export::post_action_input(contract, &options.base_url, options.style, integration_id);
    PostActionInput {
        category: CATEGORY.to_owned(),
        name: v["name"].as_str().unwrap_or_default().to_owned(),
        integration_id: integration_id.to_owned(),
        config: v["config"].clone(),
        contract: v["contract"].clone(),
        secure: v["secure"].as_bool().unwrap_or(false),
    }
}

/// The parts of `have` that differ from `want` (the contract as `ActionContractInput`).
fn differences(want: &PostActionInput, have: &Action) -> Vec<String> {
    let mut out = Vec::new();
    if have.config.as_ref() != Some(&want.config) {
        out.push("config".to_owned());
    }
    let contract_in = have.contract.as_ref().map(|c| {
        serde_json::json!({
            "input": {"inputSchema": c["input"]["inputSchema"]},
            "output": {"successSchema": c["output"]["successSchema"]},
        })
    });
    if contract_in.as_ref() != Some(&want.contract) {
        out.push("contract".to_owned());
    }
    if have.secure.unwrap_or(false) != want.secure {
        out.push("secure".to_owned());
    }
    out
}

fn ours<'a>(list: &'a [Action], want: &PostActionInput) -> Option<&'a Action> {
    list.iter().find(|a| {
        a.name == want.name && a.integration_id.as_deref() == Some(want.integration_id.as_str())
    })
}

async fn install_one(
    client: &GenesysClient,
    want: &PostActionInput,
    published: &[Action],
    drafts: &[Action],
    dry_run: bool,
) -> Result<ActionResult, InstallError> {
    let name = want.name.clone();
    let existing = ours(published, want);
    let leftover = ours(drafts, want);
    let current = match existing {
        Some(a) => Some(
            client
                .get_action(&a.id)
                .await
                .map_err(step(format!("read action {name}")))?,
        ),
        None => None,
    };
    let changed = match &current {
        Some(a) => differences(want, a),
        None => vec!["config".into(), "contract".into()],
    };
    if current.is_some() && changed.is_empty() {
        // A leftover draft of an unchanged action is left for its author.
        return Ok(ActionResult {
            name,
            id: current.as_ref().map(|a| a.id.clone()),
            outcome: Outcome::Unchanged,
            version: current.and_then(|a| a.version),
            changed: Vec::new(),
        });
    }
    let outcome = if current.is_some() {
        Outcome::Updated
    } else {
        Outcome::Created
    };
    let id = current.as_ref().or(leftover).map(|a| a.id.clone());
    if dry_run {
        return Ok(ActionResult {
            name,
            id,
            outcome,
            version: current.and_then(|a| a.version),
            changed: if outcome == Outcome::Updated {
                changed
            } else {
                Vec::new()
            },
        });
    }
    // The draft to publish: a leftover one (from an interrupted run or an admin), a new one
    // from the published action, or a new action's draft.
    let draft = match (leftover, &current) {
        (Some(d), _) => client
            .get_action_draft(&d.id)
            .await
            .map_err(step(format!("read the draft of {name}")))?,
        (None, Some(a)) => client
            .create_draft_from_action(&a.id)
            .await
            .map_err(step(format!("open a draft of {name}")))?,
        (None, None) => client
            .create_action_draft(want)
            .await
            .map_err(step(format!("create a draft of {name}")))?,
    };
    let draft = if differences(want, &draft).is_empty() {
        draft
    } else {
        let update = UpdateDraftInput {
            category: want.category.clone(),
            name: want.name.clone(),
            config: want.config.clone(),
            contract: want.contract.clone(),
            secure: want.secure,
            version: draft.version.unwrap_or(1),
        };
        client
            .patch_action_draft(&draft.id, &update)
            .await
            .map_err(step(format!("update the draft of {name}")))?
    };
    let done = client
        .publish_action_draft(&draft.id, draft.version.unwrap_or(1))
        .await
        .map_err(step(format!("publish {name}")))?;
    Ok(ActionResult {
        name,
        id: Some(done.id),
        outcome,
        version: done.version,
        changed: if outcome == Outcome::Updated {
            changed
        } else {
            Vec::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::contracts::builtins;

    #[test]
    fn differences_name_each_part_and_nothing_when_equal() {
        let options = InstallOptions {
            integration_name: "dialsync".into(),
            base_url: "https://dialsync.example.com".into(),
            style: CredentialStyle::Bearer,
            dry_run: false,
        };
        let want = wanted(&builtins()[0], "int-1", &options);
        let mut have = Action {
            id: "a1".into(),
            name: want.name.clone(),
            integration_id: Some("int-1".into()),
            config: Some(want.config.clone()),
            contract: Some(want.contract.clone()),
            secure: Some(false),
            ..Action::default()
        };
        assert!(differences(&want, &have).is_empty());
        have.config.as_mut().unwrap()["timeoutSeconds"] = serde_json::json!(5);
        have.secure = Some(true);
        assert_eq!(differences(&want, &have), vec!["config", "secure"]);
        assert_eq!(want.config["timeoutSeconds"], 60);
    }
}
