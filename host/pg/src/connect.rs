//! `[store] url` and `password_env` → a connection pool.
//!
//! The password comes only from the environment variable `password_env` names (like every
//! other secret of dialsync); a URL that carries one is refused, so it never sits in a
//! config file or shows up where the URL is printed. [`PgSettings`]' `Debug` names the
//! variable, never its value.

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::{PgError, Pool};

/// Where the PostgreSQL store is and how to log in.
#[derive(Clone)]
pub struct PgSettings {
    /// `postgres://user@host:port/database[?options]`, without a password.
    pub url: String,
    /// The password (read from `password_env` by the caller), if the server wants one.
    pub password: Option<String>,
    /// Connections in the pool. Default 8.
    pub pool_size: usize,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl PgSettings {
    /// Settings for `url` with no password and the default pool size.
    pub fn new(url: impl Into<String>) -> Self {
        PgSettings {
            url: url.into(),
            password: None,
            pool_size: 8,
        }
    }

    /// Checks the URL: `postgres://` or `postgresql://`, no password in it, no TLS demand
    /// (connections are plain TCP: use a private network or a local TLS tunnel).
    pub fn config(&self) -> Result<tokio_postgres::Config, PgError> {
        let parsed = url::Url::parse(&self.url)
            .map_err(|e| PgError::Config(format!("url: not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(PgError::Config(format!(
                "url: scheme `{}` is not postgres:// or postgresql://",
                parsed.scheme()
            )));
        }
        if parsed.password().is_some() {
            return Err(PgError::Config(
                "url: holds a password; put it in the environment variable named by \
                 `password_env` instead"
                    .into(),
            ));
        }
        let mut config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| PgError::Config(format!("url: {e}")))?;
        if matches!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        ) {
            return Err(PgError::Config(
                "url: sslmode=require is not supported (dialsync connects without TLS); \
                 reach the server over a private network or a local TLS tunnel"
                    .into(),
            ));
        }
        if let Some(password) = &self.password {
            config.password(password);
        }
        if config.get_application_name().is_none() {
            config.application_name("dialsync");
        }
        Ok(config)
    }
}

/// A pool of connections to the store (connections are opened lazily; call
/// [`crate::migrate`] or run a query to find out whether the server is reachable).
pub fn connect(settings: &PgSettings) -> Result<Pool, PgError> {
    let manager = Manager::from_config(
        settings.config()?,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(settings.pool_size.max(1))
        .build()
        .map_err(|e| PgError::Config(format!("connection pool: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_refused_and_never_printed() {
        let s = PgSettings::new("postgres://app:hunter2@db.internal/dialsync");
        let e = s.config().unwrap_err().to_string();
        assert!(e.contains("password_env"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let mut ok = PgSettings::new("postgres://app@db.internal/dialsync");
        ok.password = Some("hunter2".into());
        assert!(!format!("{ok:?}").contains("hunter2"));
        assert!(ok.config().is_ok());
    }

    #[test]
    fn other_schemes_and_tls_demands_are_refused() {
        let e = PgSettings::new("mysql://db/x").config().unwrap_err();
        assert!(e.to_string().contains("scheme"), "{e}");
        let e = PgSettings::new("postgres://db/x?sslmode=require")
            .config()
            .unwrap_err();
        assert!(e.to_string().contains("sslmode"), "{e}");
    }
}
