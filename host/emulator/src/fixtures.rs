//! Fixtures: org data loaded at start (`EmulatorConfig::fixtures`, `--fixtures FILE`) or at
//! run time (`POST /_emulator/fixtures`), and the built-in sample org (`--sample-org`).
//!
//! Format (JSON, camelCase; every `id` optional — generated from the seed when absent;
//! loading upserts by id, so loading twice is harmless):
//! ```json
//! {
//!   "skills":    [{"id": "skill-sales", "name": "Sales"}],
//!   "languages": [{"name": "English"}],
//!   "contactLists": [{
//!     "id": "list-1", "name": "CRM contacts",
//!     "columnNames": ["externalId", "firstName", "mobilePhone"],
//!     "phoneColumns": [{"columnName": "mobilePhone", "type": "cell"}],
//!     "contacts": [{"id": "c1", "data": {"externalId": "A1", "firstName": "Ann", "mobilePhone": "+14155550100"}}]
//!   }],
//!   "dncLists": [{"id": "dnc-1", "name": "Internal DNC", "phoneNumbers": ["+14155550199"]}],
//!   "campaigns": [{"id": "camp-1", "name": "Renewals", "contactListId": "list-1",
//!                  "campaignStatus": "on", "dncListIds": ["dnc-1"], "outboundLineCount": 3}],
//!   "users": [{"id": "u1", "name": "Ann Agent", "email": "ann@example.com",
//!              "skills": {"Sales": 4}, "languages": {"English": 5},
//!              "utilization": {"call": {"maximumCapacity": 1}}}]
//! }
//! ```
//! Skill and language references in `users` may be names or ids. A full example is in
//! `host/emulator/fixtures/example.json`.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{
    Campaign, Contact, ContactList, DncList, EntityRef, MediaUtilization, NamedEntity, PhoneColumn,
    User, Utilization,
};
use crate::store::Store;

/// Org data to load.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixtures {
    /// Routing skills.
    #[serde(default)]
    pub skills: Vec<FixtureNamed>,
    /// Routing languages.
    #[serde(default)]
    pub languages: Vec<FixtureNamed>,
    /// Contact lists (with optional contacts).
    #[serde(default)]
    pub contact_lists: Vec<FixtureContactList>,
    /// DNC lists.
    #[serde(default)]
    pub dnc_lists: Vec<FixtureDncList>,
    /// Campaigns.
    #[serde(default)]
    pub campaigns: Vec<FixtureCampaign>,
    /// Users (agents).
    #[serde(default)]
    pub users: Vec<FixtureUser>,
}

/// A skill or language.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureNamed {
    /// Id (generated when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    pub name: String,
}

/// A contact list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureContactList {
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Columns.
    pub column_names: Vec<String>,
    /// Phone columns.
    #[serde(default)]
    pub phone_columns: Vec<PhoneColumn>,
    /// Contacts.
    #[serde(default)]
    pub contacts: Vec<FixtureContact>,
}

/// A contact.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureContact {
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// Column values.
    pub data: BTreeMap<String, String>,
    /// Callable (default true).
    #[serde(default)]
    pub callable: Option<bool>,
}

/// A DNC list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureDncList {
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Numbers.
    #[serde(default)]
    pub phone_numbers: Vec<String>,
}

/// A campaign.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureCampaign {
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// The contact list's id (or name).
    pub contact_list_id: String,
    /// `on`, `off`, ... (default `off`).
    #[serde(default)]
    pub campaign_status: Option<String>,
    /// DNC list ids (or names).
    #[serde(default)]
    pub dnc_list_ids: Vec<String>,
    /// Lines (contacts held at once by the simulated dialer).
    #[serde(default)]
    pub outbound_line_count: Option<u32>,
    /// Dialing mode (default `preview`).
    #[serde(default)]
    pub dialing_mode: Option<String>,
}

/// A user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureUser {
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Starting version (default 1).
    #[serde(default)]
    pub version: Option<i64>,
    /// Department.
    #[serde(default)]
    pub department: Option<String>,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Skill name or id → proficiency 0–5.
    #[serde(default)]
    pub skills: BTreeMap<String, f64>,
    /// Language name or id → proficiency 0–5.
    #[serde(default)]
    pub languages: BTreeMap<String, f64>,
    /// Agent-level utilization (media type → settings).
    #[serde(default)]
    pub utilization: Option<BTreeMap<String, MediaUtilization>>,
}

/// Why fixtures could not be loaded (names the item and field).
#[derive(Debug, thiserror::Error)]
#[error("fixtures: {0}")]
pub struct FixtureError(pub String);

fn named_ref(map: &BTreeMap<String, NamedEntity>, key: &str) -> Option<String> {
    if map.contains_key(key) {
        return Some(key.to_string());
    }
    map.values()
        .find(|e| e.name.eq_ignore_ascii_case(key))
        .map(|e| e.id.clone())
}

impl Fixtures {
    /// Checks the fixtures against themselves and `store` without changing anything, then loads.
    pub(crate) fn load_into(&self, store: &mut Store) -> Result<(), FixtureError> {
        // Validate first so a bad file changes nothing.
        let mut skill_names: Vec<String> = store
            .skills
            .values()
            .map(|s| s.name.to_lowercase())
            .collect();
        skill_names.extend(store.skills.keys().cloned());
        skill_names.extend(
            self.skills
                .iter()
                .flat_map(|s| [s.name.to_lowercase()].into_iter().chain(s.id.clone())),
        );
        let mut lang_names: Vec<String> = store
            .languages
            .values()
            .map(|s| s.name.to_lowercase())
            .collect();
        lang_names.extend(store.languages.keys().cloned());
        lang_names.extend(
            self.languages
                .iter()
                .flat_map(|s| [s.name.to_lowercase()].into_iter().chain(s.id.clone())),
        );
        for (i, l) in self.contact_lists.iter().enumerate() {
            for p in &l.phone_columns {
                if !l.column_names.contains(&p.column_name) {
                    return Err(FixtureError(format!(
                        "contactLists[{i}] ('{}'): phone column '{}' is not in columnNames",
                        l.name, p.column_name
                    )));
                }
            }
            for (j, c) in l.contacts.iter().enumerate() {
                if let Some(k) = c.data.keys().find(|k| !l.column_names.contains(k)) {
                    return Err(FixtureError(format!(
                        "contactLists[{i}].contacts[{j}].data: unknown column '{k}'"
                    )));
                }
            }
        }
        for (i, u) in self.users.iter().enumerate() {
            for (k, p) in &u.skills {
                if !skill_names.contains(k) && !skill_names.contains(&k.to_lowercase()) {
                    return Err(FixtureError(format!(
                        "users[{i}] ('{}').skills: unknown skill '{k}'",
                        u.email
                    )));
                }
                if !(0.0..=5.0).contains(p) {
                    return Err(FixtureError(format!(
                        "users[{i}] ('{}').skills.{k}: proficiency {p} is not within 0–5",
                        u.email
                    )));
                }
            }
            for (k, p) in &u.languages {
                if !lang_names.contains(k) && !lang_names.contains(&k.to_lowercase()) {
                    return Err(FixtureError(format!(
                        "users[{i}] ('{}').languages: unknown language '{k}'",
                        u.email
                    )));
                }
                if !(0.0..=5.0).contains(p) {
                    return Err(FixtureError(format!(
                        "users[{i}] ('{}').languages.{k}: proficiency {p} is not within 0–5",
                        u.email
                    )));
                }
            }
        }
        let list_key =
            |store: &Store, key: &str, own: &BTreeMap<String, String>| -> Option<String> {
                own.get(key).cloned().or_else(|| {
                    if store.contact_lists.contains_key(key) {
                        Some(key.to_string())
                    } else {
                        store
                            .contact_lists
                            .values()
                            .find(|l| l.name == key)
                            .map(|l| l.id.clone())
                    }
                })
            };

        let now = Utc::now();
        for s in &self.skills {
            let id = s.id.clone().unwrap_or_else(|| store.new_id());
            let self_uri = Some(format!("/api/v2/routing/skills/{id}"));
            store.skills.insert(
                id.clone(),
                NamedEntity {
                    id,
                    name: s.name.clone(),
                    state: "active".into(),
                    self_uri,
                },
            );
        }
        for s in &self.languages {
            let id = s.id.clone().unwrap_or_else(|| store.new_id());
            let self_uri = Some(format!("/api/v2/routing/languages/{id}"));
            store.languages.insert(
                id.clone(),
                NamedEntity {
                    id,
                    name: s.name.clone(),
                    state: "active".into(),
                    self_uri,
                },
            );
        }
        let mut own_lists = BTreeMap::new();
        for l in &self.contact_lists {
            let id = l.id.clone().unwrap_or_else(|| store.new_id());
            own_lists.insert(l.name.clone(), id.clone());
            own_lists.insert(id.clone(), id.clone());
            store.contact_lists.insert(
                id.clone(),
                ContactList {
                    id: id.clone(),
                    name: l.name.clone(),
                    version: 1,
                    column_names: l.column_names.clone(),
                    phone_columns: l.phone_columns.clone(),
                    date_created: Some(now),
                    date_modified: Some(now),
                    size: None,
                    self_uri: Some(format!("/api/v2/outbound/contactlists/{id}")),
                    extra: Map::new(),
                },
            );
            store.contacts.entry(id.clone()).or_default();
            for c in &l.contacts {
                let cid = c.id.clone().unwrap_or_else(|| store.new_id());
                let seq = store.next_seq();
                let contact = Contact {
                    id: cid.clone(),
                    contact_list_id: id.clone(),
                    data: c
                        .data
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect(),
                    callable: c.callable.unwrap_or(true),
                    phone_number_status: BTreeMap::new(),
                    contactable_status: BTreeMap::new(),
                    call_records: BTreeMap::new(),
                    configuration_overrides: None,
                    date_created: Some(now),
                    self_uri: Some(format!("/api/v2/outbound/contactlists/{id}/contacts/{cid}")),
                    extra: Map::new(),
                };
                store
                    .contacts
                    .entry(id.clone())
                    .or_default()
                    .insert(cid, crate::store::Stored { seq, contact });
            }
        }
        let mut own_dnc = BTreeMap::new();
        for d in &self.dnc_lists {
            let id = d.id.clone().unwrap_or_else(|| store.new_id());
            own_dnc.insert(d.name.clone(), id.clone());
            store.dnc_lists.insert(
                id.clone(),
                DncList {
                    id: id.clone(),
                    name: d.name.clone(),
                    version: 1,
                    dnc_source_type: "rds".into(),
                    date_created: Some(now),
                    size: None,
                    self_uri: Some(format!("/api/v2/outbound/dnclists/{id}")),
                    extra: Map::new(),
                },
            );
            let numbers = store.dnc_numbers.entry(id).or_default();
            for n in &d.phone_numbers {
                numbers.insert(n.clone(), None);
            }
        }
        for (i, c) in self.campaigns.iter().enumerate() {
            let Some(list_id) = list_key(store, &c.contact_list_id, &own_lists) else {
                return Err(FixtureError(format!(
                    "campaigns[{i}] ('{}').contactListId: no contact list '{}'",
                    c.name, c.contact_list_id
                )));
            };
            let mut dnc_lists = Vec::new();
            for d in &c.dnc_list_ids {
                let id = own_dnc.get(d).cloned().or_else(|| {
                    store
                        .dnc_lists
                        .values()
                        .find(|l| &l.id == d || &l.name == d)
                        .map(|l| l.id.clone())
                });
                let Some(id) = id else {
                    return Err(FixtureError(format!(
                        "campaigns[{i}] ('{}').dncListIds: no DNC list '{d}'",
                        c.name
                    )));
                };
                dnc_lists.push(EntityRef {
                    id: id.clone(),
                    name: None,
                    self_uri: Some(format!("/api/v2/outbound/dnclists/{id}")),
                });
            }
            let id = c.id.clone().unwrap_or_else(|| store.new_id());
            let list_name = store.contact_lists.get(&list_id).map(|l| l.name.clone());
            store.campaigns.insert(
                id.clone(),
                Campaign {
                    id: id.clone(),
                    name: c.name.clone(),
                    version: 1,
                    contact_list: Some(EntityRef {
                        id: list_id.clone(),
                        name: list_name,
                        self_uri: Some(format!("/api/v2/outbound/contactlists/{list_id}")),
                    }),
                    campaign_status: Some(
                        c.campaign_status.clone().unwrap_or_else(|| "off".into()),
                    ),
                    dialing_mode: Some(c.dialing_mode.clone().unwrap_or_else(|| "preview".into())),
                    dnc_lists,
                    outbound_line_count: c.outbound_line_count,
                    self_uri: Some(format!("/api/v2/outbound/campaigns/{id}")),
                    extra: Map::new(),
                },
            );
        }
        for u in &self.users {
            let id = u.id.clone().unwrap_or_else(|| store.new_id());
            let mut extra = Map::new();
            if let Some(d) = &u.department {
                extra.insert("department".into(), Value::String(d.clone()));
            }
            if let Some(t) = &u.title {
                extra.insert("title".into(), Value::String(t.clone()));
            }
            extra.insert("username".into(), Value::String(u.email.clone()));
            extra.insert("acdAutoAnswer".into(), Value::Bool(false));
            store.users.insert(
                id.clone(),
                User {
                    id: id.clone(),
                    name: u.name.clone(),
                    email: Some(u.email.clone()),
                    state: "active".into(),
                    version: u.version.unwrap_or(1),
                    self_uri: Some(format!("/api/v2/users/{id}")),
                    extra,
                },
            );
            let skills: BTreeMap<String, f64> = u
                .skills
                .iter()
                .filter_map(|(k, p)| named_ref(&store.skills, k).map(|id| (id, *p)))
                .collect();
            let languages: BTreeMap<String, f64> = u
                .languages
                .iter()
                .filter_map(|(k, p)| named_ref(&store.languages, k).map(|id| (id, *p)))
                .collect();
            store.user_skills.insert(id.clone(), skills);
            store.user_languages.insert(id.clone(), languages);
            match &u.utilization {
                Some(m) => {
                    store.utilization.insert(
                        id,
                        Utilization {
                            utilization: m.clone(),
                            ..Default::default()
                        },
                    );
                }
                None => {
                    store.utilization.remove(&id);
                }
            }
        }
        Ok(())
    }
}

/// Columns of the sample org's generic contact list.
pub const SAMPLE_COLUMNS: [&str; 8] = [
    "externalId",
    "firstName",
    "lastName",
    "email",
    "mobilePhone",
    "homePhone",
    "workPhone",
    "accountName",
];

/// The built-in sample org: 150 agents with skills, languages and utilization; 8 skills;
/// 5 languages; a generic contact list ("Sample contacts", columns [`SAMPLE_COLUMNS`], 200
/// contacts, `mobilePhone`/`homePhone`/`workPhone` as phone columns); an internal DNC list
/// holding two of its numbers; and a running campaign ("Sample campaign", 5 lines) on the
/// list. Plugin-specific lists are added with fixtures on top (columns are the plugins').
/// Deterministic: same output on every call.
pub fn sample_org() -> Fixtures {
    const SKILLS: [&str; 8] = [
        "Sales",
        "Support",
        "Billing",
        "Renewals",
        "Collections",
        "Retention",
        "Technical",
        "VIP",
    ];
    const LANGS: [&str; 5] = ["English", "Spanish", "French", "German", "Portuguese"];
    const FIRST: [&str; 15] = [
        "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Isla", "Jonas", "Keira",
        "Luis", "Maya", "Nikhil", "Olivia",
    ];
    const LAST: [&str; 10] = [
        "Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova",
        "Jensen",
    ];
    const DEPTS: [&str; 4] = ["Sales", "Customer Care", "Billing", "Collections"];
    let skills = SKILLS
        .iter()
        .enumerate()
        .map(|(i, n)| FixtureNamed {
            id: Some(format!("00000000-0000-4000-8000-5b11100000{i:02}")),
            name: n.to_string(),
        })
        .collect();
    let languages = LANGS
        .iter()
        .enumerate()
        .map(|(i, n)| FixtureNamed {
            id: Some(format!("00000000-0000-4000-8000-1a9900000{i:03}")),
            name: n.to_string(),
        })
        .collect();
    let users = (0..150usize)
        .map(|i| {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len()) % LAST.len()];
            let mut skills = BTreeMap::new();
            skills.insert(SKILLS[i % SKILLS.len()].to_string(), ((i % 5) + 1) as f64);
            skills.insert(
                SKILLS[(i * 3 + 1) % SKILLS.len()].to_string(),
                ((i % 3) + 2) as f64,
            );
            let mut languages = BTreeMap::new();
            languages.insert("English".to_string(), 5.0);
            if i % 4 == 1 {
                languages.insert(LANGS[1 + i % 4].to_string(), ((i % 5) + 1) as f64);
            }
            let mut util = BTreeMap::new();
            util.insert(
                "call".to_string(),
                MediaUtilization {
                    maximum_capacity: 1,
                    interruptable_media_types: vec![],
                    include_non_acd: false,
                },
            );
            util.insert(
                "chat".to_string(),
                MediaUtilization {
                    maximum_capacity: 2 + (i % 3) as u32,
                    interruptable_media_types: vec!["call".into()],
                    include_non_acd: false,
                },
            );
            FixtureUser {
                id: Some(format!("00000000-0000-4000-8000-a9e470000{i:03}")),
                name: format!("{first} {last}"),
                email: format!(
                    "{}.{}{}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    i
                ),
                version: Some(1),
                department: Some(DEPTS[i % DEPTS.len()].to_string()),
                title: Some("Agent".into()),
                skills,
                languages,
                utilization: (i % 2 == 0).then_some(util),
            }
        })
        .collect();
    let phone = |i: usize, base: usize| format!("+1415555{:04}", (base + i) % 10_000);
    let contacts = (0..200usize)
        .map(|i| {
            let mut data = BTreeMap::new();
            data.insert("externalId".to_string(), format!("SAMPLE_{i:04}"));
            data.insert("firstName".to_string(), FIRST[i % FIRST.len()].to_string());
            data.insert("lastName".to_string(), LAST[i % LAST.len()].to_string());
            data.insert("email".to_string(), format!("customer{i}@example.org"));
            data.insert("mobilePhone".to_string(), phone(i, 1000));
            data.insert(
                "homePhone".to_string(),
                if i % 3 == 0 {
                    phone(i, 3000)
                } else {
                    String::new()
                },
            );
            data.insert("workPhone".to_string(), String::new());
            data.insert("accountName".to_string(), format!("Account {}", i / 4));
            FixtureContact {
                id: Some(format!("sample-contact-{i:04}")),
                data,
                callable: None,
            }
        })
        .collect();
    let list_id = "00000000-0000-4000-8000-c0171157000a".to_string();
    let dnc_id = "00000000-0000-4000-8000-d0c000000001".to_string();
    Fixtures {
        skills,
        languages,
        contact_lists: vec![FixtureContactList {
            id: Some(list_id.clone()),
            name: "Sample contacts".into(),
            column_names: SAMPLE_COLUMNS.iter().map(|s| s.to_string()).collect(),
            phone_columns: ["mobilePhone", "homePhone", "workPhone"]
                .iter()
                .zip(["cell", "home", "work"])
                .map(|(c, t)| PhoneColumn {
                    column_name: c.to_string(),
                    kind: Some(t.into()),
                    callable_time_column: None,
                })
                .collect(),
            contacts,
        }],
        dnc_lists: vec![FixtureDncList {
            id: Some(dnc_id.clone()),
            name: "Internal DNC".into(),
            phone_numbers: vec![phone(0, 1000), phone(1, 1000)],
        }],
        campaigns: vec![FixtureCampaign {
            id: Some("00000000-0000-4000-8000-ca3a10000001".into()),
            name: "Sample campaign".into(),
            contact_list_id: list_id,
            campaign_status: Some("on".into()),
            dnc_list_ids: vec![dnc_id],
            outbound_line_count: Some(5),
            dialing_mode: Some("progressive".into()),
        }],
        users,
    }
}
