//! Where an org lives: a Genesys Cloud region (API on `https://api.{region}`, OAuth on
//! `https://login.{region}/oauth/token`, as the official SDKs do) or one explicit base URL
//! serving both (the emulator).

use url::Url;

use crate::error::GenesysError;

/// Every region domain the official SDK (`PureCloudRegionHosts`, SDK 269.0.0) knows.
pub const REGIONS: &[&str] = &[
    "mypurecloud.com",
    "use2.us-gov-pure.cloud",
    "usw2.pure.cloud",
    "cac1.pure.cloud",
    "sae1.pure.cloud",
    "mxc1.pure.cloud",
    "mypurecloud.ie",
    "euw2.pure.cloud",
    "mypurecloud.de",
    "euc2.pure.cloud",
    "edee1.eusc-pure.cloud",
    "mec1.pure.cloud",
    "aps1.pure.cloud",
    "apse1.pure.cloud",
    "mypurecloud.com.au",
    "mypurecloud.jp",
    "apne2.pure.cloud",
    "apne3.pure.cloud",
];

/// The Genesys Cloud deployment an org is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A region domain such as `mypurecloud.com` or `euw2.pure.cloud` (one of [`REGIONS`];
    /// an `api.`/`login.` prefix is tolerated).
    Region(String),
    /// One base URL serving both `/api/v2/...` and `/oauth/token` (the emulator).
    BaseUrl(Url),
}

/// The resolved API base and token URL of an [`Endpoint`].
#[derive(Clone, Debug)]
pub(crate) struct ResolvedEndpoint {
    /// Base the `/api/v2/...` paths are joined to (no trailing slash in the path).
    pub api_base: Url,
    /// Full URL of the OAuth token endpoint.
    pub token_url: Url,
}

impl Endpoint {
    /// Resolves the API base and the token URL, rejecting unknown regions.
    pub(crate) fn resolve(&self) -> Result<ResolvedEndpoint, GenesysError> {
        match self {
            Endpoint::Region(region) => {
                let domain = region
                    .trim()
                    .trim_start_matches("https://")
                    .trim_start_matches("api.")
                    .trim_start_matches("login.")
                    .trim_end_matches('/');
                if !REGIONS.contains(&domain) {
                    return Err(GenesysError::Config(format!(
                        "unknown Genesys Cloud region {region:?}; expected one of: {}",
                        REGIONS.join(", ")
                    )));
                }
                let api_base = parse(&format!("https://api.{domain}/"))?;
                let token_url = parse(&format!("https://login.{domain}/oauth/token"))?;
                Ok(ResolvedEndpoint {
                    api_base,
                    token_url,
                })
            }
            Endpoint::BaseUrl(url) => {
                let mut base = url.clone();
                if !base.path().ends_with('/') {
                    let path = format!("{}/", base.path());
                    base.set_path(&path);
                }
                let token_url = base.join("oauth/token").map_err(|e| {
                    GenesysError::Config(format!("base URL {url}: cannot join /oauth/token: {e}"))
                })?;
                Ok(ResolvedEndpoint {
                    api_base: base,
                    token_url,
                })
            }
        }
    }
}

fn parse(s: &str) -> Result<Url, GenesysError> {
    Url::parse(s).map_err(|e| GenesysError::Config(format!("invalid URL {s}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_resolve_to_api_and_login_hosts() {
        for region in REGIONS {
            let r = Endpoint::Region((*region).to_owned()).resolve().unwrap();
            assert_eq!(r.api_base.as_str(), format!("https://api.{region}/"));
            assert_eq!(
                r.token_url.as_str(),
                format!("https://login.{region}/oauth/token")
            );
        }
        let r = Endpoint::Region("api.euw2.pure.cloud".into())
            .resolve()
            .unwrap();
        assert_eq!(
            r.token_url.as_str(),
            "https://login.euw2.pure.cloud/oauth/token"
        );
    }

    #[test]
    fn unknown_region_is_a_config_error_naming_it() {
        let err = Endpoint::Region("mypurecloud.example".into())
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("mypurecloud.example"), "{err}");
    }

    #[test]
    fn base_url_serves_both() {
        let url = Url::parse("http://127.0.0.1:9000").unwrap();
        let r = Endpoint::BaseUrl(url).resolve().unwrap();
        assert_eq!(r.api_base.as_str(), "http://127.0.0.1:9000/");
        assert_eq!(r.token_url.as_str(), "http://127.0.0.1:9000/oauth/token");
        let url = Url::parse("http://127.0.0.1:9000/prefix").unwrap();
        let r = Endpoint::BaseUrl(url).resolve().unwrap();
        assert_eq!(
            r.token_url.as_str(),
            "http://127.0.0.1:9000/prefix/oauth/token"
        );
    }
}
