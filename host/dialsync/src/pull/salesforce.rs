//! Salesforce REST client: a client-credentials token (which names the `instance_url`
//! to call), one record by Id, and the incremental sweep.
//!
//! Sources: developer.salesforce.com REST API guide `resources_queryall.htm` (deleted
//! records with `IsDeleted = true`; `nextRecordsUrl` paging until `done`),
//! `resources_sobject_retrieve.htm`, the `Sforce-Query-Options: batchSize` header, and
//! the OAuth 2.0 client-credentials flow (connected app with "Enable Client Credentials
//! Flow" and a run-as user).
//!
//! The sweep runs `queryAll` for `SELECT <fields> FROM <object> WHERE SystemModstamp >=
//! <T> ORDER BY SystemModstamp, Id` (`SystemModstamp` also moves on system changes,
//! unlike `LastModifiedDate`) and follows `nextRecordsUrl`; the position after each page
//! is its last row's `SystemModstamp`. The `>=` re-reads the boundary instant, so a
//! change in the same millisecond as the last sweep's end is not missed.

use serde_json::Value;

use super::http::{self, CrmError};
use super::ingest::IngestCounts;
use super::settings::{PullConfig, SALESFORCE_FIELDS};

struct Session {
    token: String,
    instance_url: String,
    org_id: Option<String>,
}

/// An OAuth session: what the Pub/Sub API's metadata needs.
#[derive(Clone)]
pub struct Identity {
    /// The access token.
    pub token: String,
    /// The `instance_url` of the token answer.
    pub instance_url: String,
    /// The org id, from the token answer's identity URL `id`
    /// (`https://login.salesforce.com/id/<org id>/<user id>`).
    pub org_id: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("instance_url", &self.instance_url)
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

/// A client for one Salesforce org and object.
pub struct SalesforceClient {
    http: reqwest::Client,
    login_url: String,
    form: Vec<(String, String)>,
    /// The object read (`Contact`, `Lead`).
    pub object: String,
    fields: Vec<String>,
    version: String,
    page_size: u32,
    session: tokio::sync::Mutex<Option<Session>>,
}

impl std::fmt::Debug for SalesforceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceClient")
            .field("login_url", &self.login_url)
            .field("object", &self.object)
            .finish_non_exhaustive()
    }
}

impl SalesforceClient {
    /// Builds the client from `[sources.<source>.pull]`, reading the client secret from
    /// the environment.
    pub fn new(source: &str, cfg: &PullConfig) -> Result<Self, CrmError> {
        let key = |k: &str| format!("sources.{source}.pull.{k}");
        let client_id = cfg.client_id.clone().ok_or_else(|| CrmError::Config {
            key: key("client_id"),
            message: "is required for Salesforce (the connected app's consumer key)".into(),
        })?;
        let secret = http::secret_env(&key("client_secret_env"), cfg.client_secret_env.as_deref())?;
        let mut fields: Vec<String> = match &cfg.fields {
            Some(f) => f.clone(),
            None => SALESFORCE_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
        };
        for needed in ["Id", "SystemModstamp", "IsDeleted"] {
            if !fields.iter().any(|f| f == needed) {
                fields.push(needed.to_owned());
            }
        }
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .map_err(|e| CrmError::Config {
                    key: key("base_url"),
                    message: e.to_string(),
                })?,
            login_url: cfg.base_url.trim_end_matches('/').to_owned(),
            form: vec![
                ("grant_type".into(), "client_credentials".into()),
                ("client_id".into(), client_id),
                ("client_secret".into(), secret),
            ],
            object: cfg.object.clone().unwrap_or_else(|| "Contact".into()),
            fields,
            version: cfg.api_version.clone().unwrap_or_else(|| "v62.0".into()),
            page_size: cfg.page_size.clamp(200, 2000),
            session: tokio::sync::Mutex::new(None),
        })
    }

    /// (bearer token, instance URL), from the cache or a new token request.
    async fn session(&self, refresh: bool) -> Result<(String, String), CrmError> {
        let id = self.identity(refresh).await?;
        Ok((id.token, id.instance_url))
    }

    /// The OAuth session (cached; `refresh` asks for a new token).
    pub async fn identity(&self, refresh: bool) -> Result<Identity, CrmError> {
        let mut guard = self.session.lock().await;
        if refresh {
            *guard = None;
        }
        if let Some(s) = guard.as_ref() {
            return Ok(Identity {
                token: s.token.clone(),
                instance_url: s.instance_url.clone(),
                org_id: s.org_id.clone(),
            });
        }
        let url = format!("{}/services/oauth2/token", self.login_url);
        let resp = http::send("POST", &url, || self.http.post(&url).form(&self.form)).await?;
        let body = http::json(&url, resp).await?;
        let field = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| CrmError::Decode {
                    url: url.clone(),
                    message: format!("no `{k}` in the token answer"),
                })
        };
        let session = Session {
            token: field("access_token")?,
            instance_url: field("instance_url")?.trim_end_matches('/').to_owned(),
            org_id: body
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| id.split("/id/").nth(1))
                .and_then(|rest| rest.split('/').next())
                .filter(|org| !org.is_empty())
                .map(str::to_owned),
        };
        let out = Identity {
            token: session.token.clone(),
            instance_url: session.instance_url.clone(),
            org_id: session.org_id.clone(),
        };
        *guard = Some(session);
        Ok(out)
    }

    /// GET `path` (absolute path on the instance); an `INVALID_SESSION_ID` 401 gets a new
    /// token once.
    async fn get(&self, path: &str) -> Result<Value, CrmError> {
        let mut refreshed = false;
        loop {
            let (token, instance) = self.session(refreshed).await?;
            let url = format!("{instance}{path}");
            let batch = format!("batchSize={}", self.page_size);
            match http::send("GET", &url, || {
                self.http
                    .get(&url)
                    .bearer_auth(&token)
                    .header("Sforce-Query-Options", &batch)
            })
            .await
            {
                Ok(resp) => return http::json(&url, resp).await,
                Err(e) if e.status() == Some(401) && !refreshed => refreshed = true,
                Err(e) => return Err(e),
            }
        }
    }

    /// One record by Id with the configured fields; a deleted record (404
    /// `ENTITY_IS_DELETED`) comes back as `{Id, IsDeleted: true, SystemModstamp: now}`
    /// so the plugin removes it; an unknown Id is `None`.
    pub async fn fetch(&self, id: &str) -> Result<Option<Value>, CrmError> {
        let path = format!(
            "/services/data/{}/sobjects/{}/{}?fields={}",
            self.version,
            self.object,
            enc(id),
            enc(&self.fields.join(","))
        );
        match self.get(&path).await {
            Ok(v @ Value::Object(_)) => Ok(Some(v)),
            Ok(_) => Err(CrmError::Decode {
                url: path,
                message: "the record is not a JSON object".into(),
            }),
            Err(CrmError::Status {
                status: 404, body, ..
            }) if body.contains("ENTITY_IS_DELETED") => Ok(Some(serde_json::json!({
                "attributes": {"type": self.object},
                "Id": id,
                "IsDeleted": true,
                "SystemModstamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
            }))),
            Err(CrmError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The records with `ids` (deleted ones included, with `IsDeleted: true`), by
    /// `queryAll` with `Id IN (...)`, 200 ids per query; ids Salesforce no longer knows
    /// (purged) are absent from the answer.
    pub async fn fetch_many(&self, ids: &[String]) -> Result<Vec<Value>, CrmError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(200) {
            let list: Vec<String> = chunk
                .iter()
                .map(|id| format!("'{}'", id.replace('\\', "\\\\").replace('\'', "\\'")))
                .collect();
            let soql = format!(
                "SELECT {} FROM {} WHERE Id IN ({})",
                self.fields.join(", "),
                self.object,
                list.join(", ")
            );
            let mut path = format!("/services/data/{}/queryAll?q={}", self.version, enc(&soql));
            loop {
                let body = self.get(&path).await?;
                match body.get("records") {
                    Some(Value::Array(r)) => out.extend(r.iter().cloned()),
                    _ => {
                        return Err(CrmError::Decode {
                            url: path,
                            message: "no `records` array".into(),
                        });
                    }
                }
                match (
                    body.get("done").and_then(Value::as_bool),
                    body.get("nextRecordsUrl").and_then(Value::as_str),
                ) {
                    (Some(false), Some(next)) => path = next.to_owned(),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    /// Sweeps records changed at or after `from` (a `SystemModstamp`; None: all),
    /// handing each page to `on_page` with the position after it. Returns rows read.
    pub async fn sweep<F, Fut>(
        &self,
        from: Option<String>,
        mut on_page: F,
    ) -> Result<(usize, IngestCounts), CrmError>
    where
        F: FnMut(Vec<Value>, String) -> Fut,
        Fut: std::future::Future<Output = Result<IngestCounts, CrmError>>,
    {
        let mut counts = IngestCounts::default();
        let filter = match &from {
            Some(t) => format!(" WHERE SystemModstamp >= {}", soql_datetime(t)?),
            None => String::new(),
        };
        let soql = format!(
            "SELECT {} FROM {}{filter} ORDER BY SystemModstamp, Id",
            self.fields.join(", "),
            self.object
        );
        let mut path = format!("/services/data/{}/queryAll?q={}", self.version, enc(&soql));
        let mut read = 0;
        loop {
            let body = self.get(&path).await?;
            let rows = match body.get("records") {
                Some(Value::Array(r)) => r.clone(),
                _ => {
                    return Err(CrmError::Decode {
                        url: path,
                        message: "no `records` array".into(),
                    });
                }
            };
            if let Some(last) = rows.last() {
                let stamp = last
                    .get("SystemModstamp")
                    .and_then(Value::as_str)
                    .ok_or_else(|| CrmError::Decode {
                        url: path.clone(),
                        message: "a record has no SystemModstamp".into(),
                    })?
                    .to_owned();
                read += rows.len();
                counts += on_page(rows, stamp).await?;
            }
            match (
                body.get("done").and_then(Value::as_bool),
                body.get("nextRecordsUrl").and_then(Value::as_str),
            ) {
                (Some(false), Some(next)) => path = next.to_owned(),
                _ => return Ok((read, counts)),
            }
        }
    }
}

/// A REST datetime (`2026-10-09T12:01:57.000+0000`) as a SOQL literal
/// (`2026-10-09T12:01:57.000Z`).
fn soql_datetime(t: &str) -> Result<String, CrmError> {
    chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(t))
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        })
        .map_err(|e| CrmError::Decode {
            url: "(stored position)".into(),
            message: format!("{t:?} is not a Salesforce datetime: {e}"),
        })
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
