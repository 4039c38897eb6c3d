//! Client errors are never retried: validation errors and stale versions reach the caller
//! after exactly one request, typed, with the Genesys code and correlation id.

use dialsync_genesys::model::WritableDialerContact;
use dialsync_genesys::{AddContactsOptions, GenesysError, RetryClass, UpdateUser};

use crate::support::{SAMPLE_LIST, client, emulator, sample, settings};

const CONTACTS_ROUTE: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts";
const USER_ROUTE: &str = "/api/v2/users/{userId}";
const USER: &str = "00000000-0000-4000-8000-a9e470000001";

#[tokio::test]
async fn validation_errors_are_rejected_after_exactly_one_request() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    let bad = WritableDialerContact {
        id: Some("bad-1".into()),
        contact_list_id: SAMPLE_LIST.into(),
        data: [("noSuchColumn".to_owned(), "x".to_owned())].into(),
        ..Default::default()
    };
    let err = c
        .add_contacts(SAMPLE_LIST, &[bad], AddContactsOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, GenesysError::Rejected(_)), "{err}");
    assert_eq!(err.retry_class(), RetryClass::Rejected);
    assert_eq!(err.status(), Some(400));
    assert!(err.correlation_id().is_some());
    assert!(err.to_string().contains("noSuchColumn"), "{err}");
    assert_eq!(emu.stats().route_total("POST", CONTACTS_ROUTE), 1);
    assert_eq!(c.stats().retries, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_contact_is_none_and_unknown_list_is_rejected() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    assert_eq!(
        c.get_contact(SAMPLE_LIST, "no-such-contact").await.unwrap(),
        None
    );
    let err = c.get_contact_list("no-such-list").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.code(), Some("not.found"));
    assert_eq!(c.stats().retries, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn stale_version_is_a_conflict_after_one_request() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    let user = c.get_user(USER).await.unwrap();
    let version = user.version.expect("users carry a version");
    let stale = UpdateUser {
        version: version - 1,
        title: Some("Lead".into()),
        ..Default::default()
    };
    let err = c.patch_user(USER, &stale).await.unwrap_err();
    assert!(matches!(err, GenesysError::Conflict(_)), "{err}");
    assert_eq!(err.retry_class(), RetryClass::Conflict);
    assert_eq!(err.status(), Some(409));
    assert_eq!(emu.stats().route_total("PATCH", USER_ROUTE), 1);
    assert_eq!(c.stats().conflicts, 1);

    let fresh = UpdateUser {
        version,
        title: Some("Lead".into()),
        ..Default::default()
    };
    let updated = c.patch_user(USER, &fresh).await.unwrap();
    assert_eq!(updated.version, Some(version + 1));
    assert_eq!(updated.title.as_deref(), Some("Lead"));
    emu.shutdown().await;
}
