//! Transient failures (503s, dropped connections, timeouts, applied-then-500) are retried
//! with backoff and succeed; retried upserts do not duplicate contacts.

use std::time::Duration;

use dialsync_emulator::EmulatorConfig;
use dialsync_genesys::model::WritableDialerContact;
use dialsync_genesys::{AddContactsOptions, GenesysError, RetryClass};

use crate::support::{SAMPLE_LIST, client, emulator, sample, settings};

const LIST_ROUTE: &str = "/api/v2/outbound/contactlists/{contactListId}";
const CONTACTS_ROUTE: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts";

#[tokio::test]
async fn server_errors_are_retried_and_succeed() {
    let emu = emulator(EmulatorConfig {
        error_rate: 0.3,
        seed: 7,
        ..sample()
    })
    .await;
    let mut s = settings(&emu);
    s.retry.max_attempts = 10;
    let c = client(s);
    for _ in 0..40 {
        c.get_contact_list(SAMPLE_LIST).await.unwrap();
    }
    let server = emu.stats();
    let injected = server.count("GET", LIST_ROUTE, 503);
    assert!(injected > 0);
    assert_eq!(server.count("GET", LIST_ROUTE, 200), 40);
    let stats = c.stats();
    assert_eq!(stats.requests_by_status.get(&503), Some(&injected));
    assert_eq!(stats.retries, injected, "one retry per 503");
    emu.shutdown().await;
}

#[tokio::test]
async fn timeouts_and_dropped_connections_are_retried() {
    let emu = emulator(EmulatorConfig {
        drop_rate: 0.25,
        drop_hang: Duration::from_millis(400),
        seed: 3,
        ..sample()
    })
    .await;
    let mut s = settings(&emu);
    s.request_timeout = Duration::from_millis(150);
    s.retry.max_attempts = 10;
    let c = client(s);
    for _ in 0..20 {
        c.get_contact_list(SAMPLE_LIST).await.unwrap();
    }
    let stats = c.stats();
    assert!(stats.transport_errors > 0, "some requests timed out");
    assert_eq!(stats.retries, stats.transport_errors);
    assert_eq!(emu.stats().count("GET", LIST_ROUTE, 200), 20);
    emu.shutdown().await;
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_max_attempts() {
    let emu = emulator(EmulatorConfig {
        error_rate: 1.0,
        ..sample()
    })
    .await;
    let mut s = settings(&emu);
    s.retry.max_attempts = 4;
    let c = client(s);
    let err = c.get_contact_list(SAMPLE_LIST).await.unwrap_err();
    assert_eq!(err.retry_class(), RetryClass::Transient);
    assert_eq!(err.status(), Some(503));
    assert!(
        matches!(err, GenesysError::Server { attempts: 4, .. }),
        "{err}"
    );
    assert_eq!(emu.stats().count("GET", LIST_ROUTE, 503), 4);
    emu.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_cuts_retries_short() {
    let emu = emulator(EmulatorConfig {
        error_rate: 1.0,
        ..sample()
    })
    .await;
    let mut s = settings(&emu);
    s.retry.max_attempts = 1000;
    s.retry.base_delay = Duration::from_millis(50);
    s.retry.max_delay = Duration::from_millis(50);
    s.retry.max_elapsed = Duration::from_millis(300);
    let c = client(s);
    c.ensure_token().await.unwrap();
    let start = tokio::time::Instant::now();
    let err = c.get_contact_list(SAMPLE_LIST).await.unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(err.retry_class(), RetryClass::Transient);
    assert!(
        elapsed <= Duration::from_millis(300),
        "never waits past max_elapsed: {elapsed:?}"
    );
    let attempts = emu.stats().count("GET", LIST_ROUTE, 503);
    assert!((2..1000).contains(&attempts), "{attempts} attempts");
    assert!(matches!(err, GenesysError::Server { attempts: n, .. } if u64::from(n) == attempts));
    emu.shutdown().await;
}

#[tokio::test]
async fn applied_then_500_retries_the_upsert_without_duplicates() {
    let emu = emulator(EmulatorConfig {
        applied_then_error_rate: 0.5,
        seed: 11,
        ..sample()
    })
    .await;
    let mut s = settings(&emu);
    s.retry.max_attempts = 20;
    let c = client(s);
    for batch in 0..10 {
        let contacts: Vec<_> = (0..10)
            .map(|i| WritableDialerContact {
                id: Some(format!("retry-{batch}-{i}")),
                contact_list_id: SAMPLE_LIST.into(),
                data: [("externalId".to_owned(), format!("R{batch}_{i}"))].into(),
                ..Default::default()
            })
            .collect();
        let out = c
            .add_contacts(SAMPLE_LIST, &contacts, AddContactsOptions::default())
            .await
            .unwrap();
        assert_eq!(out.len(), 10);
    }
    let server = emu.stats();
    assert!(server.applied_then_error > 0);
    assert_eq!(server.count("POST", CONTACTS_ROUTE, 200), 10);
    let state = emu.state();
    let list = state
        .contact_lists
        .iter()
        .find(|l| l.list.id == SAMPLE_LIST)
        .unwrap();
    let ours = list
        .contacts
        .iter()
        .filter(|c| c.id.starts_with("retry-"))
        .count();
    assert_eq!(ours, 100, "each contact exactly once");
    emu.shutdown().await;
}
