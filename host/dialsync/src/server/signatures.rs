//! Webhook authentication: the signature schemes CRMs and webhook senders use
//! (Standard Webhooks, GitHub `X-Hub-Signature-256`, Stripe-style `t=..,v1=..`) and the
//! shared-secret headers ServiceNow business rules send (bearer token, Basic auth).
//!
//! Salesforce Outbound Messages carry no credential header at all, so their scheme
//! (`salesforce-outbound`) checks what Salesforce's security guidance names instead: the
//! message's `OrganizationId` against the configured org id(s), a secret token the admin
//! puts in the endpoint URL (path segment or `?token=`), and optionally the client's IP
//! against an allowlist of CIDRs.
//!
//! Every check runs over the exact raw body bytes and compares in constant time
//! (`Mac::verify_slice` for HMACs, `subtle` for tokens). A failed check names what was
//! wrong (missing header, malformed header, stale timestamp, no matching signature) but
//! never echoes a secret or an expected signature.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Default tolerance for signed timestamps (Standard Webhooks, Stripe): five minutes, as
/// the reference libraries use.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// A secret that never prints: `Debug` shows `***`.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How one source's webhooks (or the data-action caller) prove where they come from.
#[derive(Clone, Debug)]
pub enum WebhookAuth {
    /// `Authorization: Bearer <token>` (ServiceNow business rule with a shared token).
    Bearer {
        /// The expected token.
        token: WebhookSecret,
    },
    /// `Authorization: Basic base64(user:password)` (ServiceNow REST message credential).
    Basic {
        /// The expected user name.
        username: String,
        /// The expected password.
        password: WebhookSecret,
    },
    /// Standard Webhooks v1: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks {
        /// The HMAC key: the base64-decoded part of a `whsec_...` secret.
        key: WebhookSecret,
    },
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the raw body.
    Github {
        /// The webhook secret as UTF-8 bytes.
        secret: WebhookSecret,
    },
    /// Stripe-style `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>]` over `"{t}.{body}"`.
    Stripe {
        /// The endpoint secret used as its UTF-8 bytes (no base64 decoding).
        secret: WebhookSecret,
    },
    /// Salesforce Outbound Messages: no Authorization header; see [`OutboundCheck`].
    SalesforceOutbound(OutboundCheck),
}

/// What a Salesforce Outbound Message must satisfy (Salesforce's guidance for listeners:
/// TLS, an IP allowlist, and checking the `OrganizationId` in the message; plus a secret
/// in the endpoint URL so a stranger who knows the org id still cannot post).
#[derive(Clone, Debug)]
pub struct OutboundCheck {
    /// The token expected in the endpoint URL's last path segment or `token` query.
    pub token: WebhookSecret,
    /// Accepted org ids, in their case-sensitive 15-character form.
    pub org_ids: Vec<String>,
    /// Client address allowlist; empty allows any address.
    pub allowed_ips: Vec<ipnet::IpNet>,
}

impl OutboundCheck {
    /// Builds the check from the token, the org ids (15- or 18-character; an 18-character
    /// id must carry its correct checksum suffix) and the CIDRs (`13.108.0.0/14`, or a
    /// bare address meaning just that host).
    pub fn new(
        token: &str,
        org_ids: &[String],
        allowed_ips: &[String],
    ) -> Result<Self, AuthConfigError> {
        if token.len() < 16 {
            return Err(AuthConfigError(
                "the Outbound Message URL token must be at least 16 characters".into(),
            ));
        }
        if org_ids.is_empty() {
            return Err(AuthConfigError(
                "scheme \"salesforce-outbound\" needs `organization_ids`".into(),
            ));
        }
        let org_ids = org_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                salesforce_id15(id).map_err(|reason| {
                    AuthConfigError(format!("organization_ids[{i}] {id:?}: {reason}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let allowed_ips = allowed_ips
            .iter()
            .enumerate()
            .map(|(i, cidr)| {
                cidr.parse::<ipnet::IpNet>()
                    .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|e| {
                        AuthConfigError(format!("allowed_ips[{i}] {cidr:?} is not a CIDR: {e}"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            token: WebhookSecret::new(token),
            org_ids,
            allowed_ips,
        })
    }
}

/// The case-sensitive 15-character form of a Salesforce id given in its 15- or
/// 18-character form. The 18-character form's last three characters encode which of the
/// first 15 are upper case (five bits per chunk of five, leftmost character = lowest
/// bit, mapped onto `A..Z0..5`); a suffix that does not match is refused, since it means
/// the id was mistyped or its case changed.
pub fn salesforce_id15(id: &str) -> Result<String, String> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("a Salesforce id has only letters and digits".into());
    }
    match id.len() {
        15 => Ok(id.to_owned()),
        18 => {
            let (head, suffix) = id.split_at(15);
            let expected = salesforce_id_suffix(head);
            if suffix.eq_ignore_ascii_case(&expected) {
                Ok(head.to_owned())
            } else {
                Err(format!(
                    "the 18-character id's checksum suffix should be {expected}"
                ))
            }
        }
        n => Err(format!("a Salesforce id has 15 or 18 characters, not {n}")),
    }
}

fn salesforce_id_suffix(id15: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            ALPHABET[bits] as char
        })
        .collect()
}

impl WebhookAuth {
    /// The scheme's name as written in the config (`bearer`, `basic`, ...).
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Bearer { .. } => "bearer",
            Self::Basic { .. } => "basic",
            Self::StandardWebhooks { .. } => "standard-webhooks",
            Self::Github { .. } => "github",
            Self::Stripe { .. } => "stripe",
            Self::SalesforceOutbound(_) => "salesforce-outbound",
        }
    }

    /// Builds the verifier for `scheme` from the secret text (and, for Basic, the user
    /// name). A Standard Webhooks secret must be `whsec_` + base64.
    pub fn from_config(
        scheme: &str,
        secret: &str,
        username: Option<&str>,
    ) -> Result<Self, AuthConfigError> {
        if secret.is_empty() {
            return Err(AuthConfigError("the secret is empty".into()));
        }
        match scheme {
            "bearer" => Ok(Self::Bearer {
                token: WebhookSecret::new(secret),
            }),
            "basic" => {
                let username = username
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| AuthConfigError("scheme \"basic\" needs `username`".into()))?;
                Ok(Self::Basic {
                    username: username.to_owned(),
                    password: WebhookSecret::new(secret),
                })
            }
            "standard-webhooks" => {
                let encoded = secret.strip_prefix("whsec_").ok_or_else(|| {
                    AuthConfigError("a Standard Webhooks secret must start with `whsec_`".into())
                })?;
                let key = BASE64.decode(encoded).map_err(|e| {
                    AuthConfigError(format!(
                        "the Standard Webhooks secret after `whsec_` is not base64: {e}"
                    ))
                })?;
                if key.is_empty() {
                    return Err(AuthConfigError("the Standard Webhooks key is empty".into()));
                }
                Ok(Self::StandardWebhooks {
                    key: WebhookSecret::new(key),
                })
            }
            "github" => Ok(Self::Github {
                secret: WebhookSecret::new(secret),
            }),
            "stripe" => Ok(Self::Stripe {
                secret: WebhookSecret::new(secret),
            }),
            "salesforce-outbound" => Err(AuthConfigError(
                "scheme \"salesforce-outbound\" is built with `OutboundCheck::new` (it needs organization ids)".into(),
            )),
            other => Err(AuthConfigError(format!(
                "unknown scheme {other:?}; expected bearer, basic, standard-webhooks, github, stripe or salesforce-outbound"
            ))),
        }
    }
}

/// A webhook auth setting that cannot be used (the message never contains the secret).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AuthConfigError(String);

/// Why a webhook failed authentication. Maps to 401; nothing from it is stored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// A header the scheme needs is absent.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but cannot be parsed.
    #[error("malformed header `{header}`: {reason}")]
    Malformed {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The signed timestamp is outside the tolerance window.
    #[error("timestamp {timestamp} is {age_secs} s away from now (tolerance {tolerance_secs} s)")]
    StaleTimestamp {
        /// The timestamp the sender signed.
        timestamp: i64,
        /// How far it is from now, in seconds.
        age_secs: i64,
        /// The allowed distance.
        tolerance_secs: i64,
    },
    /// No signature (or token, or credential) matched.
    #[error("{0}")]
    Mismatch(&'static str),
    /// The request's origin is not allowed (Outbound Message from another org or an
    /// address outside the allowlist): 403 rather than 401, since no credential would help.
    #[error("{0}")]
    Forbidden(String),
}

impl AuthError {
    /// 403 for a refused origin, 401 for everything else.
    pub fn status(&self) -> axum::http::StatusCode {
        match self {
            Self::Forbidden(_) => axum::http::StatusCode::FORBIDDEN,
            _ => axum::http::StatusCode::UNAUTHORIZED,
        }
    }
}

/// What the request carried besides headers and body, for schemes that look at it.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The token from the endpoint URL (path segment after `/events/`, or `?token=`).
    pub url_token: Option<String>,
    /// The TCP peer's address, when the server knows it.
    pub client_ip: Option<std::net::IpAddr>,
}

/// What a successful check learned about the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verified {
    /// The sender's delivery id, stable across its retries (`webhook-id`,
    /// `X-GitHub-Delivery`, or an `Idempotency-Key` header), used for dedup.
    pub delivery_id: Option<String>,
}

/// Checks `headers` and the raw `body` against `auth`. `now` is the current Unix time in
/// seconds; `tolerance_secs` bounds the signed timestamp's age (both directions for
/// Standard Webhooks, as its spec asks; only the past for Stripe, as stripe-python does).
pub fn verify(
    auth: &WebhookAuth,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<Verified, AuthError> {
    verify_request(
        auth,
        headers,
        body,
        &RequestMeta::default(),
        now,
        tolerance_secs,
    )
}

/// [`verify`] with what the request carried outside headers and body (URL token, client
/// address), which the `salesforce-outbound` scheme needs.
pub fn verify_request(
    auth: &WebhookAuth,
    headers: &HeaderMap,
    body: &[u8],
    meta: &RequestMeta,
    now: i64,
    tolerance_secs: i64,
) -> Result<Verified, AuthError> {
    let idempotency_key = header_str(headers, "idempotency-key")?.map(str::to_owned);
    match auth {
        WebhookAuth::Bearer { token } => {
            let value = header_str(headers, "authorization")?
                .ok_or(AuthError::MissingHeader("Authorization"))?;
            let given = strip_prefix_ci(value, "Bearer ").ok_or(AuthError::Malformed {
                header: "Authorization",
                reason: "expected `Bearer <token>`".into(),
            })?;
            if bool::from(given.trim().as_bytes().ct_eq(token.bytes())) {
                Ok(Verified {
                    delivery_id: idempotency_key,
                })
            } else {
                Err(AuthError::Mismatch("the bearer token does not match"))
            }
        }
        WebhookAuth::Basic { username, password } => {
            let value = header_str(headers, "authorization")?
                .ok_or(AuthError::MissingHeader("Authorization"))?;
            let encoded = strip_prefix_ci(value, "Basic ").ok_or(AuthError::Malformed {
                header: "Authorization",
                reason: "expected `Basic <base64(user:password)>`".into(),
            })?;
            let decoded = BASE64
                .decode(encoded.trim())
                .map_err(|_| AuthError::Malformed {
                    header: "Authorization",
                    reason: "the Basic credential is not base64".into(),
                })?;
            let sep = decoded
                .iter()
                .position(|&b| b == b':')
                .ok_or(AuthError::Malformed {
                    header: "Authorization",
                    reason: "the Basic credential has no `:`".into(),
                })?;
            let (user, pass) = (&decoded[..sep], &decoded[sep + 1..]);
            // Evaluate both comparisons so timing does not reveal which one failed.
            let ok = user.ct_eq(username.as_bytes()) & pass.ct_eq(password.bytes());
            if bool::from(ok) {
                Ok(Verified {
                    delivery_id: idempotency_key,
                })
            } else {
                Err(AuthError::Mismatch("the Basic credentials do not match"))
            }
        }
        WebhookAuth::StandardWebhooks { key } => {
            verify_standard_webhooks(key, headers, body, now, tolerance_secs)
        }
        WebhookAuth::Github { secret } => {
            let value = header_str(headers, "x-hub-signature-256")?
                .ok_or(AuthError::MissingHeader("X-Hub-Signature-256"))?;
            let hex_sig = value.strip_prefix("sha256=").ok_or(AuthError::Malformed {
                header: "X-Hub-Signature-256",
                reason: "expected `sha256=<hex>`".into(),
            })?;
            let sig = hex::decode(hex_sig).map_err(|_| AuthError::Malformed {
                header: "X-Hub-Signature-256",
                reason: "the signature is not hex".into(),
            })?;
            let mut mac = hmac_with(secret.bytes());
            mac.update(body);
            mac.verify_slice(&sig)
                .map_err(|_| AuthError::Mismatch("X-Hub-Signature-256 does not match the body"))?;
            let delivery = header_str(headers, "x-github-delivery")?.map(str::to_owned);
            Ok(Verified {
                delivery_id: delivery.or(idempotency_key),
            })
        }
        WebhookAuth::Stripe { secret } => {
            verify_stripe(secret, headers, body, now, tolerance_secs)?;
            Ok(Verified {
                delivery_id: idempotency_key,
            })
        }
        WebhookAuth::SalesforceOutbound(check) => {
            verify_outbound(check, body, meta)?;
            // Outbound Messages are deduplicated per notification `Id`.
            Ok(Verified { delivery_id: None })
        }
    }
}

/// Address first (cheapest, and says nothing about the token), then the URL token in
/// constant time, then the message's `OrganizationId`.
fn verify_outbound(
    check: &OutboundCheck,
    body: &[u8],
    meta: &RequestMeta,
) -> Result<(), AuthError> {
    if !check.allowed_ips.is_empty() {
        let ip = meta.client_ip.ok_or_else(|| {
            AuthError::Forbidden("the client address is unknown and an IP allowlist is set".into())
        })?;
        // An IPv4 client seen through an IPv6 socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        if !check.allowed_ips.iter().any(|net| net.contains(&ip)) {
            return Err(AuthError::Forbidden(format!(
                "client address {ip} is not in the source's allowed_ips"
            )));
        }
    }
    let given = meta.url_token.as_deref().ok_or(AuthError::Mismatch(
        "the endpoint URL carries no token (…/events/<token> or ?token=)",
    ))?;
    if !bool::from(given.as_bytes().ct_eq(check.token.bytes())) {
        return Err(AuthError::Mismatch("the endpoint URL token does not match"));
    }
    let org = outbound_organization_id(body)?;
    let org15 = salesforce_id15(&org).map_err(|reason| AuthError::Malformed {
        header: "OrganizationId",
        reason: format!("{org:?}: {reason}"),
    })?;
    if check.org_ids.iter().any(|id| id == &org15) {
        Ok(())
    } else {
        Err(AuthError::Forbidden(format!(
            "OrganizationId {org} is not one of the source's organization_ids"
        )))
    }
}

/// The `notifications/OrganizationId` of an Outbound Message.
fn outbound_organization_id(body: &[u8]) -> Result<String, AuthError> {
    let malformed = |reason: String| AuthError::Malformed {
        header: "OrganizationId",
        reason,
    };
    let text = std::str::from_utf8(body)
        .map_err(|_| malformed("the body is not a UTF-8 SOAP Outbound Message".into()))?;
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| malformed(format!("the body is not well-formed XML: {e}")))?;
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "notifications")
        .and_then(|n| {
            n.children()
                .find(|c| c.is_element() && c.tag_name().name() == "OrganizationId")
        })
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("the message has no notifications/OrganizationId".into()))
}

fn verify_standard_webhooks(
    key: &WebhookSecret,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<Verified, AuthError> {
    let id = header_str(headers, "webhook-id")?.ok_or(AuthError::MissingHeader("webhook-id"))?;
    let ts_text = header_str(headers, "webhook-timestamp")?
        .ok_or(AuthError::MissingHeader("webhook-timestamp"))?;
    let sigs = header_str(headers, "webhook-signature")?
        .ok_or(AuthError::MissingHeader("webhook-signature"))?;
    if id.is_empty() || id.contains('.') {
        return Err(AuthError::Malformed {
            header: "webhook-id",
            reason: "must be non-empty and must not contain `.`".into(),
        });
    }
    let timestamp: i64 = ts_text.trim().parse().map_err(|_| AuthError::Malformed {
        header: "webhook-timestamp",
        reason: "expected integer Unix seconds".into(),
    })?;
    let age = (now - timestamp).abs();
    if age > tolerance_secs {
        return Err(AuthError::StaleTimestamp {
            timestamp,
            age_secs: age,
            tolerance_secs,
        });
    }
    let mut mac = hmac_with(key.bytes());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts_text.as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut saw_v1 = false;
    for entry in sigs.split(' ').filter(|s| !s.is_empty()) {
        let Some(encoded) = entry.strip_prefix("v1,") else {
            // Other versions (e.g. `v1a` ed25519) may appear in the header; only the
            // HMAC scheme is configured here.
            continue;
        };
        saw_v1 = true;
        let Ok(sig) = BASE64.decode(encoded) else {
            continue;
        };
        if mac.clone().verify_slice(&sig).is_ok() {
            return Ok(Verified {
                delivery_id: Some(id.to_owned()),
            });
        }
    }
    if saw_v1 {
        Err(AuthError::Mismatch(
            "no `v1` webhook-signature matches the body",
        ))
    } else {
        Err(AuthError::Malformed {
            header: "webhook-signature",
            reason: "no `v1,<base64>` signature present".into(),
        })
    }
}

fn verify_stripe(
    secret: &WebhookSecret,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), AuthError> {
    let value = header_str(headers, "stripe-signature")?
        .ok_or(AuthError::MissingHeader("Stripe-Signature"))?;
    let mut timestamp: Option<&str> = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let Some((k, v)) = item.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => timestamp = Some(v),
            "v1" => v1.push(v),
            _ => {}
        }
    }
    let ts_text = timestamp.ok_or(AuthError::Malformed {
        header: "Stripe-Signature",
        reason: "no `t=` timestamp".into(),
    })?;
    if v1.is_empty() {
        return Err(AuthError::Malformed {
            header: "Stripe-Signature",
            reason: "no `v1=` signature".into(),
        });
    }
    let ts: i64 = ts_text.parse().map_err(|_| AuthError::Malformed {
        header: "Stripe-Signature",
        reason: "`t=` is not integer Unix seconds".into(),
    })?;
    if ts < now - tolerance_secs {
        return Err(AuthError::StaleTimestamp {
            timestamp: ts,
            age_secs: now - ts,
            tolerance_secs,
        });
    }
    let mut mac = hmac_with(secret.bytes());
    mac.update(ts_text.as_bytes());
    mac.update(b".");
    mac.update(body);
    for candidate in v1 {
        if let Ok(sig) = hex::decode(candidate)
            && mac.clone().verify_slice(&sig).is_ok()
        {
            return Ok(());
        }
    }
    Err(AuthError::Mismatch(
        "no `v1` Stripe-Signature matches the body",
    ))
}

fn hmac_with(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn header_str<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, AuthError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| AuthError::Malformed {
            header: name,
            reason: "not visible ASCII".into(),
        }),
    }
}

fn strip_prefix_ci<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// Signing helpers for senders (tests, the benchmark, and admins checking a sender's
/// setup): they produce exactly what [`verify`] accepts.
pub mod sign {
    use super::*;

    /// `sha256=<hex>` for GitHub's `X-Hub-Signature-256`.
    pub fn github(secret: &[u8], body: &[u8]) -> String {
        let mut mac = hmac_with(secret);
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// `t=<ts>,v1=<hex>` for a Stripe-style header.
    pub fn stripe(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
        let mut mac = hmac_with(secret);
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "t={timestamp},v1={}",
            hex::encode(mac.finalize().into_bytes())
        )
    }

    /// `v1,<base64>` for Standard Webhooks' `webhook-signature`, from a `whsec_` secret
    /// (an undecodable secret signs with an empty key, which no receiver accepts).
    pub fn standard_webhooks(whsec: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = BASE64
            .decode(whsec.trim_start_matches("whsec_"))
            .unwrap_or_default();
        let mut mac = hmac_with(&key);
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn github_published_vector() {
        let secret = b"It's a Secret to Everybody";
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign::github(secret, b"Hello, World!"), expected);
        let auth = WebhookAuth::from_config("github", "It's a Secret to Everybody", None).unwrap();
        let h = headers(&[
            ("x-hub-signature-256", expected),
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ]);
        let v = verify(&auth, &h, b"Hello, World!", 0, 300).unwrap();
        assert_eq!(
            v.delivery_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(
            verify(&auth, &h, b"Hello, World?", 0, 300),
            Err(AuthError::Mismatch(
                "X-Hub-Signature-256 does not match the body"
            ))
        );
        let bad = headers(&[("x-hub-signature-256", "sha1=abc")]);
        assert!(matches!(
            verify(&auth, &bad, b"Hello, World!", 0, 300),
            Err(AuthError::Malformed { .. })
        ));
    }

    #[test]
    fn standard_webhooks_spec_example_and_rotation() {
        // The example used by the Standard Webhooks reference libraries.
        let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let ts = 1614265330;
        let body = br#"{"test": 2432232314}"#;
        let sig = sign::standard_webhooks(whsec, id, ts, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let auth = WebhookAuth::from_config("standard-webhooks", whsec, None).unwrap();
        // Several signatures (secret rotation): one wrong, one right.
        let header = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {sig}");
        let ts_s = ts.to_string();
        let h = headers(&[
            ("webhook-id", id),
            ("webhook-timestamp", &ts_s),
            ("webhook-signature", &header),
        ]);
        let v = verify(&auth, &h, body, ts + 10, 300).unwrap();
        assert_eq!(v.delivery_id.as_deref(), Some(id));
        // Stale, and from the future.
        assert!(matches!(
            verify(&auth, &h, body, ts + 301, 300),
            Err(AuthError::StaleTimestamp { .. })
        ));
        assert!(matches!(
            verify(&auth, &h, body, ts - 301, 300),
            Err(AuthError::StaleTimestamp { .. })
        ));
        // Tampered body.
        assert!(matches!(
            verify(&auth, &h, b"{\"test\": 1}", ts, 300),
            Err(AuthError::Mismatch(_))
        ));
        // Missing header.
        let h2 = headers(&[("webhook-id", id), ("webhook-timestamp", &ts_s)]);
        assert_eq!(
            verify(&auth, &h2, body, ts, 300),
            Err(AuthError::MissingHeader("webhook-signature"))
        );
    }

    #[test]
    fn standard_webhooks_secret_must_be_whsec_base64() {
        assert!(WebhookAuth::from_config("standard-webhooks", "plain", None).is_err());
        assert!(WebhookAuth::from_config("standard-webhooks", "whsec_!!!", None).is_err());
    }

    #[test]
    fn stripe_several_v1_and_tolerance() {
        let secret = "whsec_test_secret";
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_700_000_000;
        let good = sign::stripe(secret.as_bytes(), now - 5, body);
        let good_sig = good.split_once(",v1=").unwrap().1;
        let header = format!(
            "t={},v1={},v1={good_sig},v0=ignored",
            now - 5,
            "00".repeat(32)
        );
        let auth = WebhookAuth::from_config("stripe", secret, None).unwrap();
        let h = headers(&[("stripe-signature", &header)]);
        assert!(verify(&auth, &h, body, now, 300).is_ok());
        assert!(matches!(
            verify(&auth, &h, body, now + 400, 300),
            Err(AuthError::StaleTimestamp { .. })
        ));
        assert!(matches!(
            verify(&auth, &h, b"{}", now, 300),
            Err(AuthError::Mismatch(_))
        ));
        let no_v1 = headers(&[("stripe-signature", "t=1")]);
        assert!(matches!(
            verify(&auth, &no_v1, body, now, 300),
            Err(AuthError::Malformed { .. })
        ));
    }

    #[test]
    fn bearer_and_basic() {
        let bearer = WebhookAuth::from_config("bearer", "tok-123", None).unwrap();
        let ok = headers(&[("authorization", "Bearer tok-123")]);
        assert!(verify(&bearer, &ok, b"", 0, 300).is_ok());
        let wrong = headers(&[("authorization", "Bearer tok-124")]);
        assert!(matches!(
            verify(&bearer, &wrong, b"", 0, 300),
            Err(AuthError::Mismatch(_))
        ));
        assert_eq!(
            verify(&bearer, &HeaderMap::new(), b"", 0, 300),
            Err(AuthError::MissingHeader("Authorization"))
        );

        let basic = WebhookAuth::from_config("basic", "s3cret", Some("snow")).unwrap();
        let cred = BASE64.encode("snow:s3cret");
        let ok = headers(&[("authorization", &format!("Basic {cred}"))]);
        assert!(verify(&basic, &ok, b"", 0, 300).is_ok());
        let cred = BASE64.encode("snow:nope");
        let wrong = headers(&[("authorization", &format!("basic {cred}"))]);
        assert!(matches!(
            verify(&basic, &wrong, b"", 0, 300),
            Err(AuthError::Mismatch(_))
        ));
        assert!(WebhookAuth::from_config("basic", "s3cret", None).is_err());
    }

    #[test]
    fn salesforce_id_forms() {
        // Vectors from amureki/salesforce_id_converter README and the ID algorithm.
        assert_eq!(
            salesforce_id15("00558000001N0KeAAK").unwrap(),
            "00558000001N0Ke"
        );
        assert_eq!(
            salesforce_id15("00558000001n0keaak").unwrap_err(),
            "the 18-character id's checksum suffix should be AAA"
        );
        assert_eq!(
            salesforce_id15("003D000000QO2vN").unwrap(),
            "003D000000QO2vN"
        );
        assert_eq!(salesforce_id_suffix("003D000000QO2vN"), "IAT");
        assert_eq!(salesforce_id_suffix("aAAAAAAAAAAAAAA"), "455");
        assert!(salesforce_id15("00D12").is_err());
        assert!(salesforce_id15("00D000000000001-").is_err());
    }

    #[test]
    fn salesforce_outbound_checks_ip_token_and_org() {
        let token = "tok-0123456789abcdef";
        let check = OutboundCheck::new(
            token,
            &["00Dn00000008y2t".into()],
            &["13.108.0.0/14".into(), "127.0.0.1".into()],
        )
        .unwrap();
        let auth = WebhookAuth::SalesforceOutbound(check);
        let body = br#"<e><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>00Dn00000008y2tEAA</OrganizationId></notifications></e>"#;
        let meta = |t: Option<&str>, ip: &str| RequestMeta {
            url_token: t.map(str::to_owned),
            client_ip: Some(ip.parse().unwrap()),
        };
        let h = HeaderMap::new();
        assert!(verify_request(&auth, &h, body, &meta(Some(token), "13.109.1.2"), 0, 300).is_ok());
        assert!(
            verify_request(
                &auth,
                &h,
                body,
                &meta(Some(token), "::ffff:127.0.0.1"),
                0,
                300
            )
            .is_ok()
        );
        let e =
            verify_request(&auth, &h, body, &meta(Some(token), "10.0.0.1"), 0, 300).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::FORBIDDEN);
        let e = verify_request(&auth, &h, body, &meta(None, "127.0.0.1"), 0, 300).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::UNAUTHORIZED);
        assert!(!e.to_string().contains(token));
        let e = verify_request(
            &auth,
            &h,
            body,
            &meta(Some("tok-0123456789abcdeF"), "127.0.0.1"),
            0,
            300,
        )
        .unwrap_err();
        assert_eq!(
            e,
            AuthError::Mismatch("the endpoint URL token does not match")
        );
        let other =
            String::from_utf8_lossy(body).replace("00Dn00000008y2tEAA", "00Dn00000008y2uEAA");
        let e = verify_request(
            &auth,
            &h,
            other.as_bytes(),
            &meta(Some(token), "127.0.0.1"),
            0,
            300,
        )
        .unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::FORBIDDEN);
        // Case matters in the 15-character form: a lower-cased id is another org.
        let lower = String::from_utf8_lossy(body).replace("00Dn00000008y2tEAA", "00dn00000008y2t");
        assert!(
            verify_request(
                &auth,
                &h,
                lower.as_bytes(),
                &meta(Some(token), "127.0.0.1"),
                0,
                300
            )
            .is_err()
        );
        assert!(OutboundCheck::new("short", &["00Dn00000008y2t".into()], &[]).is_err());
        assert!(OutboundCheck::new(token, &[], &[]).is_err());
        assert!(OutboundCheck::new(token, &["00Dn00000008y2tAAA".into()], &[]).is_err());
        assert!(
            OutboundCheck::new(token, &["00Dn00000008y2t".into()], &["1.2.3.0/99".into()]).is_err()
        );
    }

    #[test]
    fn secrets_never_print() {
        let auth = WebhookAuth::from_config("bearer", "super-secret-token", None).unwrap();
        assert!(!format!("{auth:?}").contains("super-secret"));
        let err = WebhookAuth::from_config("nope", "super-secret-token", None).unwrap_err();
        assert!(!err.to_string().contains("super-secret"));
    }
}
