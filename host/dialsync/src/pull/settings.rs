//! `[sources.NAME.pull]`: where and how a source's records are read back from the CRM
//! (by `dialsync pull`, the `serve` schedule, and to complete thin webhooks). Secrets
//! are named by environment variable only, as everywhere in the config.

use serde::Deserialize;

/// Which CRM API a pull reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullKind {
    /// ServiceNow Table API.
    Servicenow,
    /// Salesforce REST API.
    Salesforce,
}

/// ServiceNow authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceNowAuth {
    /// `Authorization: Basic` with `username` and the password from `password_env`.
    #[default]
    Basic,
    /// OAuth password grant at `/oauth_token.do` (`client_id`, `client_secret_env`,
    /// `username`, `password_env`).
    Oauth,
}

/// `[sources.NAME.pull]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// Which API.
    pub kind: PullKind,
    /// ServiceNow: the instance URL (`https://acme.service-now.com`). Salesforce: the
    /// login URL the token is requested from (`https://login.salesforce.com` or the My
    /// Domain URL); API calls go to the `instance_url` the token answer names.
    pub base_url: String,
    /// ServiceNow table (default `customer_contact`).
    #[serde(default)]
    pub table: Option<String>,
    /// Salesforce object (default `Contact`).
    #[serde(default)]
    pub object: Option<String>,
    /// Fields to read (default: the fields the bundled plugin maps).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// ServiceNow auth scheme.
    #[serde(default)]
    pub auth: ServiceNowAuth,
    /// ServiceNow user.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable with the ServiceNow user's password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// OAuth client id (ServiceNow Application Registry / Salesforce connected app).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Environment variable with the OAuth client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Salesforce REST API version (default `v62.0`).
    #[serde(default)]
    pub api_version: Option<String>,
    /// Records per page (ServiceNow `sysparm_limit`; Salesforce `batchSize`, 200..=2000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// `dialsync serve` sweeps the source this often; without it, only `dialsync pull`
    /// (and thin-webhook completion) read the source.
    #[serde(default)]
    pub interval_secs: Option<u64>,
}

fn default_page_size() -> u32 {
    1000
}

/// ServiceNow fields the bundled plugin maps.
pub const SERVICENOW_FIELDS: &[&str] = &[
    "sys_id",
    "sys_updated_on",
    "sys_class_name",
    "first_name",
    "last_name",
    "email",
    "title",
    "time_zone",
    "preferred_language",
    "user_name",
    "phone",
    "mobile_phone",
    "home_phone",
    "active",
    "country",
    "account",
    "company",
];

/// Salesforce fields the bundled plugin maps (Contact).
pub const SALESFORCE_FIELDS: &[&str] = &[
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "Title",
    "Phone",
    "MobilePhone",
    "HomePhone",
    "MailingCountryCode",
    "DoNotCall",
    "IsDeleted",
    "LastModifiedDate",
    "SystemModstamp",
];
