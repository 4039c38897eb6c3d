//! Every endpoint the client offers, against the emulator's sample org: paths, query
//! parameters and models agree with what the (SDK-faithful) emulator serves.

use dialsync_genesys::model::{
    ContactPhoneNumberColumn, MediaUtilization, UserRoutingLanguagePost, UserRoutingSkillPost,
    WritableDialerContact,
};
use dialsync_genesys::{AddContactsOptions, ContactList, ContactListingRequest, Utilization};

use crate::support::{SAMPLE_LIST, client, emulator, sample, settings};

const USER: &str = "00000000-0000-4000-8000-a9e470000002";

#[tokio::test]
async fn contacts_round_trip() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    let contact = |id: &str, ext: &str| WritableDialerContact {
        id: Some(id.into()),
        contact_list_id: SAMPLE_LIST.into(),
        data: [
            ("externalId".to_owned(), ext.to_owned()),
            ("mobilePhone".to_owned(), "+14155550123".to_owned()),
        ]
        .into(),
        ..Default::default()
    };
    let opts = AddContactsOptions {
        priority: Some(false),
        do_not_queue: Some(true),
        ..Default::default()
    };
    let added = c
        .add_contacts(
            SAMPLE_LIST,
            &[contact("rt-1", "RT_1"), contact("rt-2", "RT_2")],
            opts,
        )
        .await
        .unwrap();
    assert_eq!(
        added
            .iter()
            .map(|c| c.id.clone().unwrap())
            .collect::<Vec<_>>(),
        ["rt-1", "rt-2"]
    );

    let mut got = c
        .get_contact(SAMPLE_LIST, "rt-1")
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(got.data["externalId"], "RT_1");
    got.data.insert("firstName".into(), "Rita".into());
    let put = c.put_contact(SAMPLE_LIST, "rt-1", &got).await.unwrap();
    assert_eq!(put.data["firstName"], "Rita");

    let bulk = c
        .get_contacts_bulk(
            SAMPLE_LIST,
            &["rt-1".into(), "rt-2".into(), "missing".into()],
        )
        .await
        .unwrap();
    assert_eq!(bulk.len(), 2);

    let found = c
        .search_contacts(
            SAMPLE_LIST,
            &ContactListingRequest::column_equals("externalId", "RT_2", 25),
        )
        .await
        .unwrap();
    assert_eq!(found.entities.len(), 1);
    assert_eq!(found.entities[0].id.as_deref(), Some("rt-2"));

    c.delete_contact(SAMPLE_LIST, "rt-1").await.unwrap();
    assert_eq!(c.get_contact(SAMPLE_LIST, "rt-1").await.unwrap(), None);
    c.delete_contacts(SAMPLE_LIST, &["rt-2".into()])
        .await
        .unwrap();
    assert_eq!(c.get_contact(SAMPLE_LIST, "rt-2").await.unwrap(), None);

    let list = c.get_contact_list(SAMPLE_LIST).await.unwrap();
    assert!(list.column_names.iter().any(|n| n == "externalId"));
    assert_eq!(list.size, Some(200));
    emu.shutdown().await;
}

#[tokio::test]
async fn contact_lists_dnc_and_campaigns() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    let created = c
        .create_contact_list(&ContactList {
            name: Some("dialsync test".into()),
            column_names: vec!["externalId".into(), "phone".into()],
            phone_columns: vec![ContactPhoneNumberColumn {
                column_name: "phone".into(),
                kind: Some("cell".into()),
                callable_time_column: None,
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let id = created.id.clone().expect("server assigns an id");
    assert_eq!(
        c.get_contact_list(&id).await.unwrap().column_names,
        ["externalId", "phone"]
    );

    let state = emu.state();
    let dnc_id = state.dnc_lists[0].list.id.clone();
    c.dnc_add(&dnc_id, &["+14155550777".into()]).await.unwrap();
    assert!(
        emu.state().dnc_lists[0]
            .phone_numbers
            .contains(&"+14155550777".to_owned())
    );
    c.dnc_remove(&dnc_id, &["+14155550777".into()])
        .await
        .unwrap();
    assert!(
        !emu.state().dnc_lists[0]
            .phone_numbers
            .contains(&"+14155550777".to_owned())
    );

    let campaigns = c.list_campaigns().await.unwrap();
    assert_eq!(campaigns.len(), state.campaigns.len());
    let camp = &campaigns[0];
    assert!(camp.is_running());
    let one = c.get_campaign(camp.id.as_deref().unwrap()).await.unwrap();
    assert_eq!(
        one.contact_list.and_then(|l| l.id).as_deref(),
        Some(SAMPLE_LIST)
    );
    let progress = c
        .get_campaign_progress(camp.id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(progress.campaign.and_then(|r| r.id), camp.id);
    emu.shutdown().await;
}

#[tokio::test]
async fn users_and_routing() {
    let emu = emulator(sample()).await;
    let c = client(settings(&emu));
    let users = c.list_users().await.unwrap();
    assert_eq!(users.len(), 150, "all pages of 100");
    let skills = c.list_routing_skills().await.unwrap();
    assert_eq!(skills.len(), 8);
    let languages = c.list_routing_languages().await.unwrap();
    assert_eq!(languages.len(), 5);

    let set = vec![
        UserRoutingSkillPost {
            id: skills[0].id.clone(),
            proficiency: 3.0,
        },
        UserRoutingSkillPost {
            id: skills[1].id.clone(),
            proficiency: 5.0,
        },
    ];
    let replaced = c.put_user_routing_skills(USER, &set).await.unwrap();
    assert_eq!(replaced.len(), 2);
    let patched = c
        .patch_user_routing_skills(
            USER,
            &[UserRoutingSkillPost {
                id: skills[2].id.clone(),
                proficiency: 1.0,
            }],
        )
        .await
        .unwrap();
    assert_eq!(patched.len(), 3, "patch adds to the two");
    assert_eq!(c.get_user_routing_skills(USER).await.unwrap().len(), 3);

    let langs = c
        .patch_user_routing_languages(
            USER,
            &[UserRoutingLanguagePost {
                id: languages[2].id.clone(),
                proficiency: 4.0,
            }],
        )
        .await
        .unwrap();
    assert!(
        langs
            .iter()
            .any(|l| l.id == languages[2].id && l.proficiency == Some(4.0))
    );
    assert!(
        c.get_user_routing_languages(USER)
            .await
            .unwrap()
            .iter()
            .any(|l| l.id == languages[2].id)
    );

    let utilization = Utilization {
        utilization: Some(
            [(
                "call".to_owned(),
                MediaUtilization {
                    maximum_capacity: Some(1),
                    interruptable_media_types: Some(vec![]),
                    include_non_acd: Some(false),
                },
            )]
            .into(),
        ),
        ..Default::default()
    };
    let put = c.put_user_utilization(USER, &utilization).await.unwrap();
    assert_eq!(
        put.utilization.as_ref().unwrap()["call"].maximum_capacity,
        Some(1)
    );
    let got = c.get_user_utilization(USER).await.unwrap();
    assert_eq!(got.level.as_deref(), Some("Agent"));
    emu.shutdown().await;
}
