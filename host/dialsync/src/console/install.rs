//! Data actions in the console: run `dialsync actions install` ([`crate::server::install`])
//! as a dry run (the plan: create / update / unchanged per action) or for real (the
//! result per action, or the error naming the step and action), and keep the last dry run
//! and the last install per org in `<home>/console/actions-install.json` so a reload or
//! a restart still shows them. One install runs at a time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Console;
use super::disk;
use crate::server::error::ApiError;
use crate::server::export::CredentialStyle;
use crate::server::install::{self, InstallOptions, InstallReport};

/// The integration name `dialsync actions install` uses by default.
pub const DEFAULT_INTEGRATION_NAME: &str = "dialsync";
/// How long one install from the console may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(120);

/// One install (or dry run) and what came of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallRun {
    /// When it finished (ms since the epoch).
    pub at_ms: i64,
    /// The org (config key).
    pub org: String,
    /// The integration's name.
    pub integration_name: String,
    /// Where Genesys Cloud reaches dialsync.
    pub base_url: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// The report, when it ran through.
    pub report: Option<InstallReport>,
    /// Why it stopped, naming the step and the action (what was done before it stays done).
    pub error: Option<String>,
}

/// The last runs of one org.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgRuns {
    /// The last real install.
    pub last_install: Option<InstallRun>,
    /// The last dry run.
    pub last_dry_run: Option<InstallRun>,
}

/// The console's installs: the last runs per org, on disk.
pub struct InstallLog {
    path: PathBuf,
    runs: Mutex<BTreeMap<String, OrgRuns>>,
    /// Why the file could not be read at start (shown in the console).
    load_error: Option<String>,
    running: tokio::sync::Mutex<()>,
}

impl InstallLog {
    /// Reads `<home>/console/actions-install.json` (missing: no runs yet; unreadable: no
    /// runs, and the reason shown on the page).
    pub fn open(home: &std::path::Path) -> InstallLog {
        let path = disk::console_dir(home).join("actions-install.json");
        let (runs, load_error) = match disk::read_json(&path) {
            Ok(runs) => (runs.unwrap_or_default(), None),
            Err(e) => {
                tracing::warn!(error = %e, "the console's last data-actions installs are unreadable");
                (BTreeMap::new(), Some(e.to_string()))
            }
        };
        InstallLog {
            path,
            runs: Mutex::new(runs),
            load_error,
            running: tokio::sync::Mutex::new(()),
        }
    }

    fn snapshot(&self) -> BTreeMap<String, OrgRuns> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keeps `run` as its org's last install or dry run, on disk first.
    fn record(&self, run: InstallRun) -> Result<(), disk::DiskError> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = runs.clone();
        let org = next.entry(run.org.clone()).or_default();
        if run.dry_run {
            org.last_dry_run = Some(run);
        } else {
            org.last_install = Some(run);
        }
        disk::write_json(&self.path, &next)?;
        *runs = next;
        Ok(())
    }
}

fn credential_style(console: &Console) -> CredentialStyle {
    match &console.app.actions_auth {
        Some(a) if a.scheme() == "basic" => CredentialStyle::Basic,
        _ => CredentialStyle::Bearer,
    }
}

/// `GET /console/api/actions/install`: the orgs an install can target and each one's
/// last install and dry run.
pub async fn last(State(console): State<Arc<Console>>) -> Json<Value> {
    let orgs: Vec<&String> = {
        let mut o: Vec<&String> = console.app.clients.keys().collect();
        o.sort();
        o
    };
    Json(json!({
        "orgs": orgs,
        "defaultIntegrationName": DEFAULT_INTEGRATION_NAME,
        "runs": console.installs.snapshot(),
        "stateError": console.installs.load_error,
    }))
}

/// Body of `POST /console/api/actions/install`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstallRequest {
    /// The org (config key).
    pub org: String,
    /// The integration's name (default `dialsync`).
    #[serde(default)]
    pub integration_name: Option<String>,
    /// Where Genesys Cloud reaches dialsync.
    pub base_url: String,
    /// Compare and report only.
    pub dry_run: bool,
}

fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// `POST /console/api/actions/install`: runs the install (or dry run) and answers the
/// run — its report, or the error naming the step and action. 409 while another runs.
pub async fn run(
    State(console): State<Arc<Console>>,
    Json(req): Json<InstallRequest>,
) -> Result<Json<Value>, ApiError> {
    let Some(client) = console.app.clients.get(&req.org) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-org",
            format!("no org named {:?} in dialsync.toml", req.org),
        ));
    };
    let base_url = req.base_url.trim().to_owned();
    let parsed = url::Url::parse(&base_url)
        .map_err(|e| bad_request("bad-base-url", format!("baseUrl {base_url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad_request(
            "bad-base-url",
            format!("baseUrl {base_url:?}: must be an http or https URL"),
        ));
    }
    let integration_name = req
        .integration_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_INTEGRATION_NAME)
        .to_owned();
    let Ok(_running) = console.installs.running.try_lock() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "install-running",
            "another data-actions install is running; wait for its result",
        ));
    };
    let options = InstallOptions {
        integration_name: integration_name.clone(),
        base_url: base_url.clone(),
        style: credential_style(&console),
        dry_run: req.dry_run,
    };
    let contracts = crate::server::actions::all_contracts(&console.app);
    let outcome = tokio::time::timeout(
        INSTALL_LIMIT,
        install::install(client, &contracts, &options),
    )
    .await;
    let (report, error) = match outcome {
        Ok(Ok(report)) => (Some(report), None),
        Ok(Err(e)) => (None, Some(e.to_string())),
        Err(_) => (
            None,
            Some(format!(
                "the install did not finish within {} s; what it did stays done, run it again to continue",
                INSTALL_LIMIT.as_secs()
            )),
        ),
    };
    let run = InstallRun {
        at_ms: chrono::Utc::now().timestamp_millis(),
        org: req.org.clone(),
        integration_name,
        base_url,
        dry_run: req.dry_run,
        report,
        error,
    };
    tracing::info!(org = %run.org, dry_run = run.dry_run, ok = run.error.is_none(), "data actions install from the console");
    let saved = console.installs.record(run.clone());
    Ok(Json(json!({
        "run": run,
        "saveError": saved.err().map(|e| e.to_string()),
    })))
}
