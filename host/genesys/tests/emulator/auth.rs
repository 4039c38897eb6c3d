//! OAuth: one token fetch shared by concurrent callers, proactive refresh before expiry,
//! recovery when the server expires tokens early (refresh once, retry once), a second 401
//! returned rather than retried, refused credentials.

use std::time::Duration;

use dialsync_emulator::EmulatorConfig;
use dialsync_genesys::{GenesysError, RetryClass, Secret};

use crate::support::{SAMPLE_LIST, client, emulator, sample, settings};

const LIST_ROUTE: &str = "/api/v2/outbound/contactlists/{contactListId}";

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    let mut handles = Vec::new();
    for _ in 0..20 {
        let c = c.clone();
        handles.push(tokio::spawn(async move {
            c.get_contact_list(SAMPLE_LIST).await
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    assert_eq!(c.stats().token_fetches, 1);
    assert_eq!(emu.stats().count("GET", LIST_ROUTE, 200), 20);
    emu.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn short_lived_tokens_are_refreshed_before_they_expire() {
    // 10 s tokens; 120 s of requests at 2/s.
    let emu = emulator(EmulatorConfig {
        token_ttl: Duration::from_secs(10),
        ..sample()
    })
    .await;
    let mut s = settings(&emu);
    s.requests_per_minute = 120;
    let c = client(s);
    for _ in 0..240 {
        c.get_contact_list(SAMPLE_LIST).await.unwrap();
    }
    let server = emu.stats();
    assert_eq!(server.count("GET", LIST_ROUTE, 200), 240);
    assert_eq!(
        server.status_total(401),
        0,
        "refreshed ahead of expiry, never sent a dead token"
    );
    // Refreshed every 9 s (90 % of 10 s) over ~120 s.
    let fetches = c.stats().token_fetches;
    assert!((13..=15).contains(&fetches), "{fetches} token fetches");
    emu.shutdown().await;
}

#[tokio::test]
async fn tokens_expired_server_side_are_refreshed_once_and_the_call_retried_once() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    for _ in 0..3 {
        c.get_contact_list(SAMPLE_LIST).await.unwrap();
    }
    assert_eq!(c.stats().token_fetches, 1);

    // The server drops the client's 24 h token early.
    assert_eq!(emu.expire_tokens(), 1);
    let list = c.get_contact_list(SAMPLE_LIST).await.unwrap();
    assert_eq!(list.id.as_deref(), Some(SAMPLE_LIST));

    let stats = c.stats();
    assert_eq!(stats.unauthorized_refreshes, 1);
    assert_eq!(stats.token_fetches, 2, "the first token, then one refresh");
    assert_eq!(stats.retries, 1, "the call was retried once");
    let server = emu.stats();
    assert_eq!(server.count("GET", LIST_ROUTE, 401), 1);
    assert_eq!(server.count("GET", LIST_ROUTE, 200), 4);
    assert_eq!(server.count("POST", "/oauth/token", 200), 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_once() {
    // Tokens that are dead on arrival: every API call answers 401.
    let emu = emulator(EmulatorConfig {
        token_ttl: Duration::ZERO,
        ..sample()
    })
    .await;
    let c = client(settings(&emu));
    let err = c.get_contact_list(SAMPLE_LIST).await.unwrap_err();
    assert!(matches!(err, GenesysError::Unauthorized(_)), "{err}");
    assert_eq!(err.retry_class(), RetryClass::Unauthorized);
    assert_eq!(err.code(), Some("bad.credentials"));
    assert!(err.correlation_id().is_some());
    let stats = c.stats();
    assert_eq!(stats.token_fetches, 2, "first token, then one refresh");
    assert_eq!(stats.unauthorized_refreshes, 2);
    assert_eq!(
        emu.stats().count("GET", LIST_ROUTE, 401),
        2,
        "tried, refreshed, retried once"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn refused_credentials_are_unauthorized_and_not_retried() {
    let emu = emulator(sample()).await;
    let mut s = settings(&emu);
    s.client_secret = Secret::new("wrong-secret");
    let c = client(s);
    let err = c.ensure_token().await.unwrap_err();
    assert_eq!(err.retry_class(), RetryClass::Unauthorized);
    assert_eq!(err.code(), Some("invalid_client"));
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wrong-secret"), "secret leaked: {text}");
    assert_eq!(
        emu.stats().status_total(401),
        1,
        "one token request, not retried"
    );
    emu.shutdown().await;
}
