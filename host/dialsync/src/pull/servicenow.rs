//! ServiceNow Table API client: Basic auth or an OAuth password-grant token from
//! `/oauth_token.do`, one record by sys_id, and the incremental sweep.
//!
//! The sweep reads `sys_updated_on` order with keyset paging on (`sys_updated_on`,
//! `sys_id`), because offsets shift while records change (ServiceNow/ServiceNowDocs
//! `c_TableAPI.md`: `sysparm_query`, `sysparm_fields`, `sysparm_limit`; `sys_updated_on`
//! is UTC with one-second resolution):
//! 1. the boundary second of the stored position is read again in full
//!    (`sys_updated_on=T^ORDERBYsys_id`, then `...^sys_id>LAST`), so a record changed
//!    within the same second after the last sweep is not missed;
//! 2. then `sys_updated_on>T^ORDERBYsys_updated_on^ORDERBYsys_id` one page at a time,
//!    each page's last row becoming (T, LAST), draining that second with step 1's query
//!    before moving past it — so a page boundary inside one second loses nothing.
//!
//! The same sweep over `sys_audit_delete` (`tablename=<table>`, keyed on
//! `sys_created_on`) finds deleted records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::{self, CrmError};
use super::ingest::IngestCounts;
use super::settings::{PullConfig, SERVICENOW_FIELDS, ServiceNowAuth};

/// Fields read from `sys_audit_delete`.
const AUDIT_FIELDS: &str = "sys_id,tablename,documentkey,sys_created_on";

/// A keyset position: the last durable row's timestamp and sys_id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    pub at: String,
    /// The row's sys_id.
    pub sys_id: String,
}

enum Auth {
    Basic {
        username: String,
        password: String,
    },
    Oauth {
        token_url: String,
        form: Vec<(String, String)>,
        token: tokio::sync::Mutex<Option<String>>,
    },
}

/// A client for one ServiceNow instance and table.
pub struct ServiceNowClient {
    http: reqwest::Client,
    base: String,
    /// The table read.
    pub table: String,
    fields: String,
    page_size: u32,
    auth: Auth,
}

impl std::fmt::Debug for ServiceNowClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceNowClient")
            .field("base", &self.base)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// One stream of a sweep: a table and its timestamp field.
#[derive(Clone, Copy)]
pub struct Stream<'a> {
    /// Table name.
    pub table: &'a str,
    /// Its change timestamp field.
    pub ts_field: &'a str,
    /// Extra `^`-joined filter (e.g. `tablename=customer_contact`).
    pub filter: Option<&'a str>,
    /// `sysparm_fields`.
    pub fields: &'a str,
}

impl ServiceNowClient {
    /// Builds the client from `[sources.<source>.pull]`, reading secrets from the
    /// environment.
    pub fn new(source: &str, cfg: &PullConfig) -> Result<Self, CrmError> {
        let key = |k: &str| format!("sources.{source}.pull.{k}");
        let username = cfg.username.clone().ok_or_else(|| CrmError::Config {
            key: key("username"),
            message: "is required for ServiceNow".into(),
        })?;
        let password = http::secret_env(&key("password_env"), cfg.password_env.as_deref())?;
        let base = cfg.base_url.trim_end_matches('/').to_owned();
        let auth = match cfg.auth {
            ServiceNowAuth::Basic => Auth::Basic { username, password },
            ServiceNowAuth::Oauth => {
                let client_id = cfg.client_id.clone().ok_or_else(|| CrmError::Config {
                    key: key("client_id"),
                    message: "is required for auth = \"oauth\"".into(),
                })?;
                let secret =
                    http::secret_env(&key("client_secret_env"), cfg.client_secret_env.as_deref())?;
                Auth::Oauth {
                    token_url: format!("{base}/oauth_token.do"),
                    form: vec![
                        ("grant_type".into(), "password".into()),
                        ("client_id".into(), client_id),
                        ("client_secret".into(), secret),
                        ("username".into(), username),
                        ("password".into(), password),
                    ],
                    token: tokio::sync::Mutex::new(None),
                }
            }
        };
        let fields = match &cfg.fields {
            Some(f) => f.join(","),
            None => SERVICENOW_FIELDS.join(","),
        };
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .map_err(|e| CrmError::Config {
                    key: key("base_url"),
                    message: e.to_string(),
                })?,
            base,
            table: cfg
                .table
                .clone()
                .unwrap_or_else(|| "customer_contact".into()),
            fields,
            page_size: cfg.page_size.clamp(1, 10_000),
            auth,
        })
    }

    /// The records stream of the configured table.
    pub fn records_stream(&self) -> Stream<'_> {
        Stream {
            table: &self.table,
            ts_field: "sys_updated_on",
            filter: None,
            fields: &self.fields,
        }
    }

    /// The `sys_audit_delete` filter for the configured table.
    pub fn audit_filter(&self) -> String {
        format!("tablename={}", self.table)
    }

    /// The `sys_audit_delete` stream (with `filter` from [`Self::audit_filter`]).
    pub fn audit_stream<'a>(&'a self, filter: &'a str) -> Stream<'a> {
        Stream {
            table: "sys_audit_delete",
            ts_field: "sys_created_on",
            filter: Some(filter),
            fields: AUDIT_FIELDS,
        }
    }

    async fn authorization(&self, refresh: bool) -> Result<String, CrmError> {
        match &self.auth {
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                Ok(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                ))
            }
            Auth::Oauth {
                token_url,
                form,
                token,
            } => {
                let mut guard = token.lock().await;
                if refresh {
                    *guard = None;
                }
                if let Some(t) = guard.as_ref() {
                    return Ok(format!("Bearer {t}"));
                }
                let resp =
                    http::send("POST", token_url, || self.http.post(token_url).form(form)).await?;
                let body = http::json(token_url, resp).await?;
                let t = body
                    .get("access_token")
                    .and_then(Value::as_str)
                    .ok_or_else(|| CrmError::Decode {
                        url: token_url.clone(),
                        message: "no access_token in the token answer".into(),
                    })?
                    .to_owned();
                *guard = Some(t.clone());
                Ok(format!("Bearer {t}"))
            }
        }
    }

    /// GET `url` with auth; a 401 with an OAuth token fetches a new token once.
    async fn get(&self, url: &str) -> Result<Value, CrmError> {
        let mut refreshed = false;
        loop {
            let auth = self.authorization(refreshed).await?;
            match http::send("GET", url, || {
                self.http
                    .get(url)
                    .header("Accept", "application/json")
                    .header("Authorization", &auth)
            })
            .await
            {
                Ok(resp) => return http::json(url, resp).await,
                Err(e)
                    if e.status() == Some(401)
                        && !refreshed
                        && matches!(self.auth, Auth::Oauth { .. }) =>
                {
                    refreshed = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One record by sys_id (`GET /api/now/table/{table}/{sys_id}`); `None` when the
    /// instance answers 404 (deleted, or hidden by an ACL).
    pub async fn fetch(&self, sys_id: &str) -> Result<Option<Value>, CrmError> {
        let url = format!(
            "{}/api/now/table/{}/{}?sysparm_fields={}",
            self.base,
            self.table,
            enc(sys_id),
            enc(&self.fields)
        );
        match self.get(&url).await {
            Ok(body) => match body.get("result") {
                Some(r @ Value::Object(_)) => Ok(Some(r.clone())),
                _ => Err(CrmError::Decode {
                    url,
                    message: "no `result` object".into(),
                }),
            },
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn page(&self, stream: Stream<'_>, query: &str) -> Result<Vec<Value>, CrmError> {
        let query = match stream.filter {
            Some(f) => format!("{f}^{query}"),
            None => query.to_owned(),
        };
        let url = format!(
            "{}/api/now/table/{}?sysparm_query={}&sysparm_fields={}&sysparm_limit={}&sysparm_no_count=true",
            self.base,
            stream.table,
            enc(&query),
            enc(stream.fields),
            self.page_size
        );
        let body = self.get(&url).await?;
        match body.get("result") {
            Some(Value::Array(rows)) => Ok(rows.clone()),
            _ => Err(CrmError::Decode {
                url,
                message: "no `result` array".into(),
            }),
        }
    }

    /// Sweeps `stream` from `from` (None: from the beginning), handing each page to
    /// `on_page` with the position after it; `on_page` must make the rows durable and
    /// then store the position. Returns the rows read and `on_page`'s counts summed.
    pub async fn sweep<F, Fut>(
        &self,
        stream: Stream<'_>,
        from: Option<Position>,
        mut on_page: F,
    ) -> Result<(usize, IngestCounts), CrmError>
    where
        F: FnMut(Vec<Value>, Position) -> Fut,
        Fut: std::future::Future<Output = Result<IngestCounts, CrmError>>,
    {
        let mut counts = IngestCounts::default();
        let ts = stream.ts_field;
        let mut read = 0;
        // (T, LAST) and whether the second T still has to be drained past LAST.
        let mut pos = from.map(|p| Position {
            at: p.at,
            sys_id: String::new(),
        });
        loop {
            if let Some(p) = pos.clone() {
                // Drain second T past LAST.
                let mut last = p.sys_id.clone();
                loop {
                    let q = if last.is_empty() {
                        format!("{ts}={}^ORDERBYsys_id", p.at)
                    } else {
                        format!("{ts}={}^sys_id>{last}^ORDERBYsys_id", p.at)
                    };
                    let rows = self.page(stream, &q).await?;
                    let n = rows.len();
                    if n == 0 {
                        break;
                    }
                    last = row_text(&rows[n - 1], "sys_id", stream)?;
                    read += n;
                    counts += on_page(
                        rows,
                        Position {
                            at: p.at.clone(),
                            sys_id: last.clone(),
                        },
                    )
                    .await?;
                    if n < self.page_size as usize {
                        break;
                    }
                }
            }
            let q = match &pos {
                Some(p) => format!("{ts}>{}^ORDERBY{ts}^ORDERBYsys_id", p.at),
                None => format!("ORDERBY{ts}^ORDERBYsys_id"),
            };
            let rows = self.page(stream, &q).await?;
            let n = rows.len();
            if n == 0 {
                return Ok((read, counts));
            }
            let next = Position {
                at: row_text(&rows[n - 1], ts, stream)?,
                sys_id: row_text(&rows[n - 1], "sys_id", stream)?,
            };
            read += n;
            counts += on_page(rows, next.clone()).await?;
            pos = Some(next);
        }
    }
}

fn row_text(row: &Value, field: &str, stream: Stream<'_>) -> Result<String, CrmError> {
    let v = row.get(field);
    v.and_then(Value::as_str)
        .or_else(|| v.and_then(|v| v.get("value")).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| CrmError::Decode {
            url: format!("table {}", stream.table),
            message: format!("a row has no `{field}` (it must be in sysparm_fields)"),
        })
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
