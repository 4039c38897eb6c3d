//! Issue 13 on the client side: per-item routing deletes, read-after-write tolerance of an
//! eventually consistent org (both ways), bulk contact jobs with polling, export and import
//! status.

use std::collections::BTreeMap;
use std::time::Duration;

use dialsync_emulator::EmulatorConfig;
use dialsync_genesys::model::{
    ContactPhoneNumberColumn, UserRoutingLanguagePost, WritableDialerContact,
};
use dialsync_genesys::{AddContactsOptions, ContactList, GenesysError};
use serde_json::json;

use crate::support::{SAMPLE_LIST, client, emulator, sample, settings};

const USER: &str = "00000000-0000-4000-8000-a9e470000001";
const ENGLISH: &str = "00000000-0000-4000-8000-1a9900000000";
const SPANISH: &str = "00000000-0000-4000-8000-1a9900000001";
/// The sample org gives agent 1 French as well.
const FRENCH: &str = "00000000-0000-4000-8000-1a9900000002";

fn contact(id: &str) -> WritableDialerContact {
    contact_in(SAMPLE_LIST, id)
}

fn contact_in(list: &str, id: &str) -> WritableDialerContact {
    WritableDialerContact {
        id: Some(id.into()),
        contact_list_id: list.into(),
        data: [
            ("externalId".to_owned(), format!("X_{id}")),
            ("mobilePhone".to_owned(), "+14155550123".to_owned()),
        ]
        .into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn languages_and_skills_are_removed_one_by_one_and_a_repeat_is_harmless() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    c.patch_user_routing_languages(
        USER,
        &[UserRoutingLanguagePost {
            id: SPANISH.into(),
            proficiency: 2.0,
        }],
    )
    .await
    .unwrap();
    c.delete_user_routing_language(USER, SPANISH).await.unwrap();
    c.delete_user_routing_language(USER, SPANISH)
        .await
        .expect("already gone counts as removed");
    let langs: Vec<String> = c
        .get_user_routing_languages(USER)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(langs, [ENGLISH, FRENCH]);
    let skill = c.get_user_routing_skills(USER).await.unwrap()[0].id.clone();
    c.delete_user_routing_skill(USER, &skill).await.unwrap();
    assert!(
        !c.get_user_routing_skills(USER)
            .await
            .unwrap()
            .iter()
            .any(|s| s.id == skill)
    );
    let stats = emu.stats();
    assert_eq!(
        stats.route_total(
            "DELETE",
            "/api/v2/users/{userId}/routinglanguages/{languageId}"
        ),
        2
    );
    assert_eq!(
        stats.count(
            "DELETE",
            "/api/v2/users/{userId}/routingskills/{skillId}",
            200
        ),
        1
    );
    emu.shutdown().await;
}

fn lagging() -> EmulatorConfig {
    EmulatorConfig {
        consistency_delay: Duration::from_millis(300)..=Duration::from_millis(300),
        ..sample()
    }
}

#[tokio::test]
async fn without_tolerance_a_lagging_org_hides_a_fresh_write() {
    let emu = emulator(lagging()).await;
    let mut s = settings(&emu);
    s.read_after_write = Duration::ZERO;
    let c = client(s);
    c.add_contacts(
        SAMPLE_LIST,
        &[contact("ec-1")],
        AddContactsOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        c.get_contact(SAMPLE_LIST, "ec-1").await.unwrap(),
        None,
        "the emulator lags and this client does not re-read"
    );
    c.delete_contact(SAMPLE_LIST, "ec-1").await.ok();
    emu.shutdown().await;
}

#[tokio::test]
async fn the_client_re_reads_its_own_fresh_writes_and_deletes_within_the_window() {
    let emu = emulator(lagging()).await;
    let c = client(settings(&emu));
    let one = "/api/v2/outbound/contactlists/{contactListId}/contacts/{contactId}";
    c.add_contacts(
        SAMPLE_LIST,
        &[contact("ec-2")],
        AddContactsOptions::default(),
    )
    .await
    .unwrap();
    let got = c.get_contact(SAMPLE_LIST, "ec-2").await.unwrap();
    assert_eq!(got.and_then(|g| g.id).as_deref(), Some("ec-2"));
    let stats = emu.stats();
    assert!(
        stats.count("GET", one, 404) >= 1,
        "the first read missed: {stats:?}"
    );
    assert_eq!(stats.count("GET", one, 200), 1);

    c.delete_contact(SAMPLE_LIST, "ec-2").await.unwrap();
    assert_eq!(c.get_contact(SAMPLE_LIST, "ec-2").await.unwrap(), None);
    assert!(
        emu.stats().count("GET", one, 200) >= 2,
        "the deleted contact lingered first"
    );

    // A contact this client never wrote: one request, no re-reading.
    let before = emu.stats().route_total("GET", one);
    assert_eq!(
        c.get_contact(SAMPLE_LIST, "never-written").await.unwrap(),
        None
    );
    assert_eq!(emu.stats().route_total("GET", one) - before, 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_strongly_consistent_org_costs_the_tolerant_client_nothing() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    c.add_contacts(
        SAMPLE_LIST,
        &[contact("sc-1")],
        AddContactsOptions::default(),
    )
    .await
    .unwrap();
    assert!(c.get_contact(SAMPLE_LIST, "sc-1").await.unwrap().is_some());
    c.delete_contact(SAMPLE_LIST, "sc-1").await.unwrap();
    assert!(c.get_contact(SAMPLE_LIST, "sc-1").await.unwrap().is_none());
    let one = "/api/v2/outbound/contactlists/{contactListId}/contacts/{contactId}";
    assert_eq!(emu.stats().route_total("GET", one), 2, "one read each");
    emu.shutdown().await;
}

#[tokio::test]
async fn bulk_jobs_remove_and_update_with_polling_and_export_reads_the_list_back() {
    let emu = emulator(EmulatorConfig {
        bulk_job_records_per_sec: 2000.0,
        ..sample()
    })
    .await;
    let c = client(settings(&emu));
    // A list of its own: no campaign's dialer holds its contacts (a bulk delete skips those).
    let list = c
        .create_contact_list(&ContactList {
            name: Some("bulk".into()),
            column_names: vec!["externalId".into(), "mobilePhone".into()],
            phone_columns: vec![ContactPhoneNumberColumn {
                column_name: "mobilePhone".into(),
                kind: Some("cell".into()),
                callable_time_column: None,
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .id
        .unwrap();
    let list = list.as_str();
    let ids: Vec<String> = (0..1500).map(|i| format!("bk-{i}")).collect();
    let contacts: Vec<WritableDialerContact> = ids.iter().map(|id| contact_in(list, id)).collect();
    for chunk in contacts.chunks(1000) {
        c.add_contacts(list, chunk, AddContactsOptions::default())
            .await
            .unwrap();
    }
    let soft: Vec<String> = ids[..10].to_vec();
    let fields = json!({"callable": false}).as_object().unwrap().clone();
    let out = c
        .bulk_update_contacts(list, &soft, &fields, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!((out.jobs, out.records), (1, 10));

    let externals: Vec<String> = ids[10..].iter().map(|id| format!("X_{id}")).collect();
    let out = c
        .bulk_remove_by_column(list, "externalId", &externals, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!((out.jobs, out.records), (2, 1490), "1000 values per job");
    let stats = emu.stats();
    let job = "/api/v2/outbound/contactlists/{contactListId}/contacts/bulk/jobs/{jobId}";
    assert!(
        stats.count("GET", job, 200) >= 2,
        "jobs were polled: {stats:?}"
    );

    let rows = c
        .export_contact_list(list, Duration::from_secs(30))
        .await
        .unwrap();
    let ours: BTreeMap<&str, &BTreeMap<String, String>> = rows
        .iter()
        .filter(|r| r["inin-outbound-id"].starts_with("bk-"))
        .map(|r| (r["inin-outbound-id"].as_str(), r))
        .collect();
    assert_eq!(ours.len(), 10, "only the soft-deleted ones are left");
    assert!(ours.values().all(|r| r["ContactCallable"] == "false"));
    let status = c.get_import_status(list).await.unwrap();
    assert_eq!(status.percent_complete, Some(100));

    // A job still running at the time limit is an error that says it may finish.
    emu.patch_config(&dialsync_emulator::ConfigPatch {
        bulk_job_records_per_sec: Some(1.0),
        ..Default::default()
    })
    .unwrap();
    let err = c
        .bulk_remove_by_column(
            list,
            "externalId",
            &["X_bk-0".into(), "X_bk-1".into(), "X_bk-2".into()],
            Duration::from_millis(600),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GenesysError::Job {
                timed_out: true,
                ..
            }
        ),
        "{err}"
    );
    emu.shutdown().await;
}
