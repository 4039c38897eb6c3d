//! The emulated org's data, held in memory behind one mutex, and its serde dump
//! ([`StateDump`], served at `GET /_emulator/state`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::seq::IteratorRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::model::{Campaign, Contact, ContactList, DncList, NamedEntity, User, Utilization};

/// A contact plus its insertion sequence (listing order).
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub seq: u64,
    pub contact: Contact,
}

/// A contact write not yet visible to reads (eventual consistency): until `visible_at`,
/// reads see `before` (`None`: the contact did not exist).
#[derive(Clone, Debug)]
pub(crate) struct Lag {
    pub visible_at: tokio::time::Instant,
    pub before: Option<Contact>,
}

/// What a read of one contact sees.
pub(crate) enum Seen<'a> {
    /// The current state (no lag pending).
    Current,
    /// The state before a write still propagating (`None`: absent).
    Stale(Option<&'a Contact>),
}

/// All data of the emulated org.
pub(crate) struct Store {
    pub contact_lists: BTreeMap<String, ContactList>,
    pub contacts: BTreeMap<String, BTreeMap<String, Stored>>,
    pub dnc_lists: BTreeMap<String, DncList>,
    pub dnc_numbers: BTreeMap<String, BTreeMap<String, Option<DateTime<Utc>>>>,
    pub campaigns: BTreeMap<String, Campaign>,
    pub users: BTreeMap<String, User>,
    pub skills: BTreeMap<String, NamedEntity>,
    pub languages: BTreeMap<String, NamedEntity>,
    pub user_skills: BTreeMap<String, BTreeMap<String, f64>>,
    pub user_languages: BTreeMap<String, BTreeMap<String, f64>>,
    pub utilization: BTreeMap<String, Utilization>,
    /// campaign id → contact ids the dialer holds now.
    pub in_use: BTreeMap<String, BTreeSet<String>>,
    /// campaign id → contact ids the dialer has ever held (for progress).
    pub dialed: BTreeMap<String, BTreeSet<String>>,
    /// (list id, contact id) → write still propagating.
    pub lags: BTreeMap<(String, String), Lag>,
    /// list id → its bulk contact jobs, oldest first.
    pub jobs: BTreeMap<String, Vec<crate::bulk::Job>>,
    /// list id → its latest export.
    pub exports: BTreeMap<String, crate::bulk::Export>,
    next_seq: u64,
    ids: StdRng,
    dialer: StdRng,
    lag_rng: StdRng,
}

impl Store {
    /// An empty org whose random choices derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            contact_lists: BTreeMap::new(),
            contacts: BTreeMap::new(),
            dnc_lists: BTreeMap::new(),
            dnc_numbers: BTreeMap::new(),
            campaigns: BTreeMap::new(),
            users: BTreeMap::new(),
            skills: BTreeMap::new(),
            languages: BTreeMap::new(),
            user_skills: BTreeMap::new(),
            user_languages: BTreeMap::new(),
            utilization: BTreeMap::new(),
            in_use: BTreeMap::new(),
            dialed: BTreeMap::new(),
            lags: BTreeMap::new(),
            jobs: BTreeMap::new(),
            exports: BTreeMap::new(),
            next_seq: 0,
            ids: StdRng::seed_from_u64(seed),
            dialer: StdRng::seed_from_u64(seed ^ 0xD1A1_E5D1_A1E5),
            lag_rng: StdRng::seed_from_u64(seed ^ 0x001A_66ED),
        }
    }

    /// A new id (a UUID drawn from the seeded generator, so runs are reproducible).
    pub fn new_id(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.ids.random())
            .into_uuid()
            .to_string()
    }

    /// Next listing sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Records a contact write under eventual consistency: reads keep seeing `before` (the
    /// state before the first write still propagating) for a delay drawn from `delay`.
    /// Nothing is recorded when the range is zero.
    pub fn note_write(
        &mut self,
        list_id: &str,
        contact_id: &str,
        before: Option<Contact>,
        delay: &std::ops::RangeInclusive<std::time::Duration>,
    ) {
        let (lo, hi) = (*delay.start(), *delay.end());
        if hi.is_zero() {
            return;
        }
        let now = tokio::time::Instant::now();
        self.lags.retain(|_, l| l.visible_at > now);
        let d = lo + hi.saturating_sub(lo).mul_f64(self.lag_rng.random());
        let lag = self
            .lags
            .entry((list_id.to_owned(), contact_id.to_owned()))
            .or_insert(Lag {
                visible_at: now,
                before,
            });
        lag.visible_at = lag.visible_at.max(now + d);
    }

    /// What a read of this contact sees now.
    pub fn seen(&self, list_id: &str, contact_id: &str) -> Seen<'_> {
        match self.lags.get(&(list_id.to_owned(), contact_id.to_owned())) {
            Some(l) if l.visible_at > tokio::time::Instant::now() => Seen::Stale(l.before.as_ref()),
            _ => Seen::Current,
        }
    }

    /// Whether any running campaign's dialer holds this contact.
    pub fn is_in_use(&self, list_id: &str, contact_id: &str) -> bool {
        self.campaigns.values().any(|c| {
            c.contact_list.as_ref().is_some_and(|r| r.id == list_id)
                && self
                    .in_use
                    .get(&c.id)
                    .is_some_and(|s| s.contains(contact_id))
        })
    }

    /// Contact ids of a list currently in use by some campaign.
    pub fn in_use_of_list(&self, list_id: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for c in self.campaigns.values() {
            if c.contact_list.as_ref().is_some_and(|r| r.id == list_id)
                && let Some(s) = self.in_use.get(&c.id)
            {
                out.extend(s.iter().cloned());
            }
        }
        out
    }

    /// Advances the simulated dialer one step: every running campaign releases the contacts
    /// it holds and picks up to `outboundLineCount` (default 5) dialable contacts of its list
    /// (callable, and with at least one phone number that is not on the campaign's DNC lists).
    pub fn dialer_tick(&mut self) {
        let campaign_ids: Vec<String> = self.campaigns.keys().cloned().collect();
        for cid in campaign_ids {
            let campaign = &self.campaigns[&cid];
            let running = campaign.campaign_status.as_deref() == Some("on");
            let Some(list_id) = campaign.contact_list.as_ref().map(|r| r.id.clone()) else {
                self.in_use.remove(&cid);
                continue;
            };
            if !running {
                self.in_use.remove(&cid);
                continue;
            }
            let lines = campaign.outbound_line_count.unwrap_or(5) as usize;
            let dnc: BTreeSet<&String> = campaign
                .dnc_lists
                .iter()
                .filter_map(|r| self.dnc_numbers.get(&r.id))
                .flat_map(|m| m.keys())
                .collect();
            let phone_cols: Vec<&String> = self
                .contact_lists
                .get(&list_id)
                .map(|l| l.phone_columns.iter().map(|p| &p.column_name).collect())
                .unwrap_or_default();
            let candidates = self
                .contacts
                .get(&list_id)
                .into_iter()
                .flat_map(|m| m.values())
                .filter(|s| {
                    s.contact.callable
                        && phone_cols.iter().any(|col| {
                            s.contact
                                .data
                                .get(*col)
                                .and_then(|v| v.as_str())
                                .is_some_and(|n| !n.is_empty() && !dnc.contains(&n.to_string()))
                        })
                });
            let picked: BTreeSet<String> = candidates
                .map(|s| s.contact.id.clone())
                .choose_multiple(&mut self.dialer, lines)
                .into_iter()
                .collect();
            self.dialed
                .entry(cid.clone())
                .or_default()
                .extend(picked.iter().cloned());
            self.in_use.insert(cid, picked);
        }
    }

    /// The serde dump of everything.
    pub fn dump(&self) -> StateDump {
        StateDump {
            contact_lists: self
                .contact_lists
                .values()
                .map(|l| {
                    let mut contacts: Vec<&Stored> = self
                        .contacts
                        .get(&l.id)
                        .into_iter()
                        .flat_map(|m| m.values())
                        .collect();
                    contacts.sort_by_key(|s| s.seq);
                    ContactListDump {
                        list: l.clone(),
                        contacts: contacts.into_iter().map(|s| s.contact.clone()).collect(),
                        in_use: self.in_use_of_list(&l.id).into_iter().collect(),
                    }
                })
                .collect(),
            dnc_lists: self
                .dnc_lists
                .values()
                .map(|d| DncListDump {
                    list: d.clone(),
                    phone_numbers: self
                        .dnc_numbers
                        .get(&d.id)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default(),
                })
                .collect(),
            campaigns: self.campaigns.values().cloned().collect(),
            users: self
                .users
                .values()
                .map(|u| UserDump {
                    user: u.clone(),
                    skills: self.user_skills.get(&u.id).cloned().unwrap_or_default(),
                    languages: self.user_languages.get(&u.id).cloned().unwrap_or_default(),
                    utilization: self.utilization.get(&u.id).cloned(),
                })
                .collect(),
            skills: self.skills.values().cloned().collect(),
            languages: self.languages.values().cloned().collect(),
        }
    }
}

/// Everything the emulator holds, for assertions (`GET /_emulator/state`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StateDump {
    /// Contact lists with their contacts (in insertion order) and the ids in use.
    pub contact_lists: Vec<ContactListDump>,
    /// DNC lists with their numbers.
    pub dnc_lists: Vec<DncListDump>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Users with their routing skills/languages (id → proficiency) and utilization.
    pub users: Vec<UserDump>,
    /// Routing skills.
    pub skills: Vec<NamedEntity>,
    /// Routing languages.
    pub languages: Vec<NamedEntity>,
}

/// One contact list in a [`StateDump`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContactListDump {
    /// The list.
    pub list: ContactList,
    /// Its contacts, oldest first.
    pub contacts: Vec<Contact>,
    /// Contact ids the simulated dialer holds right now.
    pub in_use: Vec<String>,
}

/// One DNC list in a [`StateDump`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DncListDump {
    /// The list.
    pub list: DncList,
    /// Its numbers, sorted.
    pub phone_numbers: Vec<String>,
}

/// One user in a [`StateDump`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserDump {
    /// The user.
    pub user: User,
    /// Skill id → proficiency.
    pub skills: BTreeMap<String, f64>,
    /// Language id → proficiency.
    pub languages: BTreeMap<String, f64>,
    /// Agent-level utilization, if set.
    pub utilization: Option<Utilization>,
}

impl StateDump {
    /// The contact list with this id.
    pub fn contact_list(&self, id: &str) -> Option<&ContactListDump> {
        self.contact_lists.iter().find(|l| l.list.id == id)
    }
    /// The contact list with this name.
    pub fn contact_list_named(&self, name: &str) -> Option<&ContactListDump> {
        self.contact_lists.iter().find(|l| l.list.name == name)
    }
    /// A contact of a list.
    pub fn contact(&self, list_id: &str, contact_id: &str) -> Option<&Contact> {
        self.contact_list(list_id)?
            .contacts
            .iter()
            .find(|c| c.id == contact_id)
    }
    /// The user with this id.
    pub fn user(&self, id: &str) -> Option<&UserDump> {
        self.users.iter().find(|u| u.user.id == id)
    }
    /// The DNC list with this id.
    pub fn dnc_list(&self, id: &str) -> Option<&DncListDump> {
        self.dnc_lists.iter().find(|d| d.list.id == id)
    }
}
