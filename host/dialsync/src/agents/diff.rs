//! What has to be written to bring one agent from its current state to the plan's: only the
//! parts that differ, as the exact request bodies. Pure functions, so the second run of a
//! plan provably computes "nothing to write".

use std::collections::BTreeMap;

use dialsync_genesys::model::MediaUtilization;
use dialsync_genesys::{
    UpdateUser, User, UserRoutingLanguage, UserRoutingLanguagePost, UserRoutingSkill,
    UserRoutingSkillPost, Utilization,
};

use super::plan::{MediaSetting, SkillsMode};
use super::resolve::{Proficiency, TargetFields, TargetSkills};

/// Proficiencies are floats on the wire; closer than this counts as equal.
const PROFICIENCY_EPSILON: f64 = 1e-6;

/// User fields to PATCH: the body without its version, and a line per changed field.
#[derive(Clone, Debug, PartialEq)]
pub struct UserChange {
    /// The PATCH body; the caller sets `version` from the GET it just made.
    pub body: UpdateUser,
    /// Human-readable changes, e.g. `title: "Agent" -> "Senior Agent"`.
    pub changes: Vec<String>,
}

/// The user-field part of the diff: `None` when the user already matches.
pub fn user_change(target: &TargetFields, current: &User) -> Option<UserChange> {
    let mut body = UpdateUser::default();
    let mut changes = Vec::new();
    let mut text =
        |name: &str, want: &Option<String>, have: Option<&str>, slot: &mut Option<String>| {
            if let Some(want) = want
                && have != Some(want.as_str())
            {
                changes.push(format!("{name}: {} -> {want:?}", shown(have)));
                *slot = Some(want.clone());
            }
        };
    text(
        "department",
        &target.department,
        current.department.as_deref(),
        &mut body.department,
    );
    text(
        "title",
        &target.title,
        current.title.as_deref(),
        &mut body.title,
    );
    let preferred = current.extra.get("preferredName").and_then(|v| v.as_str());
    text(
        "preferredName",
        &target.preferred_name,
        preferred,
        &mut body.preferred_name,
    );
    let manager = current.manager.as_ref().and_then(|m| m.id.as_deref());
    text("manager", &target.manager_id, manager, &mut body.manager);
    if let Some(want) = target.acd_auto_answer
        && current.acd_auto_answer != Some(want)
    {
        let have = current
            .acd_auto_answer
            .map_or_else(|| "(none)".to_string(), |b| b.to_string());
        changes.push(format!("acdAutoAnswer: {have} -> {want}"));
        body.acd_auto_answer = Some(want);
    }
    (!changes.is_empty()).then_some(UserChange { body, changes })
}

fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "(none)".to_string(), |s| format!("{s:?}"))
}

/// Items per `…/bulk` call: the documented maximum for languages (50); Genesys documents no
/// maximum for skills, so the same conservative size is used.
pub const PER_BULK_CALL: usize = 50;

/// A skills write, in the form that takes the fewest requests.
#[derive(Clone, Debug, PartialEq)]
pub enum SkillsWrite {
    /// `PUT …/routingskills/bulk`: the agent ends with exactly these (beyond 50, the first 50
    /// by PUT and the rest by PATCH).
    Replace(Vec<UserRoutingSkillPost>),
    /// `PATCH …/routingskills/bulk` for `upsert` (added or changed proficiency) and one
    /// `DELETE …/routingskills/{skillId}` per id in `remove`.
    Edit {
        /// Skills to add or re-rate.
        upsert: Vec<UserRoutingSkillPost>,
        /// Skill ids to take away.
        remove: Vec<String>,
    },
}

impl SkillsWrite {
    /// Requests this write takes.
    pub fn requests(&self) -> usize {
        match self {
            SkillsWrite::Replace(all) => all.len().div_ceil(PER_BULK_CALL).max(1),
            SkillsWrite::Edit { upsert, remove } => {
                upsert.len().div_ceil(PER_BULK_CALL) + remove.len()
            }
        }
    }
}

/// A languages write: `PATCH …/routinglanguages/bulk` for `upsert` (50 per call) and one
/// `DELETE …/routinglanguages/{languageId}` per id in `remove` (Genesys has no replacing PUT
/// for languages).
#[derive(Clone, Debug, PartialEq)]
pub struct LanguagesWrite {
    /// Languages to add or re-rate.
    pub upsert: Vec<UserRoutingLanguagePost>,
    /// Language ids to take away.
    pub remove: Vec<String>,
}

impl LanguagesWrite {
    /// Requests this write takes.
    pub fn requests(&self) -> usize {
        self.upsert.len().div_ceil(PER_BULK_CALL) + self.remove.len()
    }
}

/// What differs between the wanted and current proficiencies: (id → wanted for those
/// added or changed, ids held but not wanted, a line per change).
struct Delta {
    upsert: BTreeMap<String, Proficiency>,
    remove: Vec<String>,
    changes: Vec<String>,
}

fn delta(
    what: &str,
    mode: SkillsMode,
    target: &BTreeMap<String, Proficiency>,
    have: &BTreeMap<&str, (Option<&str>, f64)>,
) -> Delta {
    let mut changes = proficiency_changes(what, target, |id| have.get(id).map(|(_, p)| *p));
    let upsert: BTreeMap<String, Proficiency> = target
        .iter()
        .filter(|(id, want)| !same(have.get(id.as_str()).map(|(_, p)| *p), want.proficiency))
        .map(|(id, want)| (id.clone(), want.clone()))
        .collect();
    let mut remove = Vec::new();
    if mode == SkillsMode::Replace {
        for (id, (name, p)) in have {
            if !target.contains_key(*id) {
                changes.push(format!("{what} {}: {p} -> removed", name.unwrap_or(id)));
                remove.push((*id).to_owned());
            }
        }
    }
    Delta {
        upsert,
        remove,
        changes,
    }
}

/// The skills part of the diff, with a line per change; `None` when nothing differs.
/// In replace mode the agent ends with exactly the wanted skills, by whichever of a
/// replacing `PUT …/bulk` or `PATCH` of the differing ones plus one `DELETE` per removed
/// skill takes fewer requests (the PUT on a tie: it is one atomic write).
pub fn skills_write(
    target: &TargetSkills,
    current: &[UserRoutingSkill],
) -> Option<(SkillsWrite, Vec<String>)> {
    let have: BTreeMap<&str, (Option<&str>, f64)> = current
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                (s.name.as_deref(), s.proficiency.unwrap_or(0.0)),
            )
        })
        .collect();
    let d = delta("skill", target.mode, &target.skills, &have);
    if d.changes.is_empty() {
        return None;
    }
    let skill = |id, p| UserRoutingSkillPost { id, proficiency: p };
    let edit = SkillsWrite::Edit {
        upsert: posts(&d.upsert, skill),
        remove: d.remove,
    };
    if target.mode == SkillsMode::Add {
        return Some((edit, d.changes));
    }
    let replace = SkillsWrite::Replace(posts(&target.skills, skill));
    let write = if replace.requests() <= edit.requests() {
        replace
    } else {
        edit
    };
    Some((write, d.changes))
}

/// The languages part of the diff, with a line per change; `None` when nothing differs.
/// In replace mode languages the plan does not list are removed.
pub fn languages_write(
    target: &BTreeMap<String, Proficiency>,
    mode: SkillsMode,
    current: &[UserRoutingLanguage],
) -> Option<(LanguagesWrite, Vec<String>)> {
    let have: BTreeMap<&str, (Option<&str>, f64)> = current
        .iter()
        .map(|l| {
            (
                l.id.as_str(),
                (l.name.as_deref(), l.proficiency.unwrap_or(0.0)),
            )
        })
        .collect();
    let d = delta("language", mode, target, &have);
    (!d.changes.is_empty()).then(|| {
        let write = LanguagesWrite {
            upsert: posts(&d.upsert, |id, p| UserRoutingLanguagePost {
                id,
                proficiency: p,
            }),
            remove: d.remove,
        };
        (write, d.changes)
    })
}

fn same(have: Option<f64>, want: f64) -> bool {
    have.is_some_and(|h| (h - want).abs() < PROFICIENCY_EPSILON)
}

fn proficiency_changes(
    what: &str,
    target: &BTreeMap<String, Proficiency>,
    have: impl Fn(&str) -> Option<f64>,
) -> Vec<String> {
    target
        .iter()
        .filter_map(|(id, want)| {
            let current = have(id);
            (!same(current, want.proficiency)).then(|| match current {
                Some(p) => format!("{what} {}: {p} -> {}", want.name, want.proficiency),
                None => format!("{what} {}: added at {}", want.name, want.proficiency),
            })
        })
        .collect()
}

fn posts<T>(items: &BTreeMap<String, Proficiency>, make: impl Fn(String, f64) -> T) -> Vec<T> {
    items
        .iter()
        .map(|(id, p)| make(id.clone(), p.proficiency))
        .collect()
}

/// The utilization part of the diff: the PUT body and a line per change; `None` when every
/// planned media type already has the planned values.
///
/// A PUT resets every media type it leaves out to the org default, so when the agent
/// already has agent-level settings the body carries them all (planned ones overridden);
/// when the agent is on the org default only the planned types are sent.
pub fn utilization_write(
    target: &BTreeMap<String, MediaSetting>,
    current: &Utilization,
) -> Option<(Utilization, Vec<String>)> {
    let empty = BTreeMap::new();
    let have = current.utilization.as_ref().unwrap_or(&empty);
    let mut changes = Vec::new();
    let mut planned = BTreeMap::new();
    for (media, want) in target {
        let now = have.get(media).cloned().unwrap_or_default();
        let next = overlay(&now, want);
        if !same_media(&now, &next) {
            changes.push(format!(
                "utilization {media}: {} -> {}",
                media_text(&now),
                media_text(&next)
            ));
        }
        planned.insert(media.clone(), next);
    }
    if changes.is_empty() {
        return None;
    }
    let agent_level = current.level.as_deref() != Some("Organization");
    let mut body = Utilization::default();
    let mut utilization = if agent_level {
        have.clone()
    } else {
        BTreeMap::new()
    };
    utilization.extend(planned);
    body.utilization = Some(utilization);
    if agent_level {
        body.label_utilizations = current.label_utilizations.clone();
        body.max_inbound_calls = current.max_inbound_calls;
    }
    Some((body, changes))
}

fn overlay(now: &MediaUtilization, want: &MediaSetting) -> MediaUtilization {
    MediaUtilization {
        maximum_capacity: want.maximum_capacity.or(now.maximum_capacity),
        interruptable_media_types: want
            .interruptable_media_types
            .clone()
            .or_else(|| now.interruptable_media_types.clone()),
        include_non_acd: want.include_non_acd.or(now.include_non_acd),
    }
}

/// Equal as Genesys means it: interruptable types are a set, absent lists are empty, absent
/// includeNonAcd is false.
fn same_media(a: &MediaUtilization, b: &MediaUtilization) -> bool {
    let set = |m: &MediaUtilization| {
        let mut v = m.interruptable_media_types.clone().unwrap_or_default();
        v.sort();
        v.dedup();
        v
    };
    a.maximum_capacity == b.maximum_capacity
        && set(a) == set(b)
        && a.include_non_acd.unwrap_or(false) == b.include_non_acd.unwrap_or(false)
}

fn media_text(m: &MediaUtilization) -> String {
    format!(
        "capacity {} interruptable [{}] nonAcd {}",
        m.maximum_capacity
            .map_or_else(|| "-".to_string(), |c| c.to_string()),
        m.interruptable_media_types
            .clone()
            .unwrap_or_default()
            .join(","),
        m.include_non_acd.unwrap_or(false)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialsync_genesys::model::DomainEntityRef;

    fn prof(name: &str, p: f64) -> Proficiency {
        Proficiency {
            name: name.into(),
            proficiency: p,
        }
    }

    fn skill(id: &str, p: f64) -> UserRoutingSkill {
        UserRoutingSkill {
            id: id.into(),
            name: Some(id.to_uppercase()),
            proficiency: Some(p),
            ..Default::default()
        }
    }

    #[test]
    fn user_fields_only_differing_ones_are_patched() {
        let current = User {
            id: "u1".into(),
            department: Some("Sales".into()),
            title: Some("Agent".into()),
            manager: Some(DomainEntityRef::id("m1")),
            ..User::default()
        };
        let same = TargetFields {
            department: Some("Sales".into()),
            manager_id: Some("m1".into()),
            ..Default::default()
        };
        assert_eq!(user_change(&same, &current), None);
        let want = TargetFields {
            department: Some("Sales".into()),
            title: Some("Senior Agent".into()),
            acd_auto_answer: Some(true),
            ..Default::default()
        };
        let change = user_change(&want, &current).unwrap();
        assert_eq!(change.body.department, None);
        assert_eq!(change.body.title.as_deref(), Some("Senior Agent"));
        assert_eq!(change.body.acd_auto_answer, Some(true));
        assert_eq!(change.changes.len(), 2, "{:?}", change.changes);
    }

    #[test]
    fn replace_skills_writes_all_when_any_differs_and_nothing_when_equal() {
        let target = TargetSkills {
            mode: SkillsMode::Replace,
            skills: BTreeMap::from([("s1".into(), prof("Sales", 4.0))]),
        };
        assert_eq!(skills_write(&target, &[skill("s1", 4.0)]), None);
        let (write, changes) =
            skills_write(&target, &[skill("s1", 4.0), skill("s2", 1.0)]).unwrap();
        assert_eq!(
            write,
            SkillsWrite::Replace(vec![UserRoutingSkillPost {
                id: "s1".into(),
                proficiency: 4.0
            }])
        );
        assert_eq!(changes, vec!["skill S2: 1 -> removed".to_string()]);
    }

    #[test]
    fn add_skills_and_languages_send_only_the_differing_entries() {
        let target = TargetSkills {
            mode: SkillsMode::Add,
            skills: BTreeMap::from([
                ("s1".into(), prof("Sales", 4.0)),
                ("s2".into(), prof("Billing", 2.0)),
            ]),
        };
        let (write, _) = skills_write(&target, &[skill("s1", 4.0), skill("s9", 1.0)]).unwrap();
        assert_eq!(
            write,
            SkillsWrite::Edit {
                upsert: vec![UserRoutingSkillPost {
                    id: "s2".into(),
                    proficiency: 2.0
                }],
                remove: vec![]
            }
        );

        let langs = BTreeMap::from([
            ("l1".into(), prof("English", 5.0)),
            ("l2".into(), prof("Spanish", 3.0)),
        ]);
        let current = [UserRoutingLanguage {
            id: "l1".into(),
            proficiency: Some(5.0),
            ..Default::default()
        }];
        let (body, changes) = languages_write(&langs, SkillsMode::Replace, &current).unwrap();
        assert_eq!(
            body.upsert,
            vec![UserRoutingLanguagePost {
                id: "l2".into(),
                proficiency: 3.0
            }]
        );
        assert!(body.remove.is_empty());
        assert_eq!(changes, vec!["language Spanish: added at 3".to_string()]);
        let all = [
            current[0].clone(),
            UserRoutingLanguage {
                id: "l2".into(),
                proficiency: Some(3.0),
                ..Default::default()
            },
        ];
        assert_eq!(languages_write(&langs, SkillsMode::Replace, &all), None);
    }

    fn lang(id: &str, p: f64) -> UserRoutingLanguage {
        UserRoutingLanguage {
            id: id.into(),
            name: Some(id.to_uppercase()),
            proficiency: Some(p),
            ..Default::default()
        }
    }

    #[test]
    fn exact_languages_add_change_and_remove_in_the_fewest_requests() {
        let want = BTreeMap::from([
            ("l1".into(), prof("English", 5.0)),
            ("l2".into(), prof("Spanish", 2.0)),
        ]);
        // l1 unchanged, l2 re-rated, l3 not wanted: removed.
        let current = [lang("l1", 5.0), lang("l2", 4.0), lang("l3", 1.0)];
        let (w, changes) = languages_write(&want, SkillsMode::Replace, &current).unwrap();
        assert_eq!(w.upsert.len(), 1);
        assert_eq!(w.upsert[0].id, "l2");
        assert_eq!(w.remove, vec!["l3".to_string()]);
        assert_eq!(w.requests(), 2);
        assert!(
            changes.contains(&"language L3: 1 -> removed".to_string()),
            "{changes:?}"
        );
        // Only a removal: one DELETE, no PATCH.
        let (w, _) = languages_write(
            &want,
            SkillsMode::Replace,
            &[lang("l1", 5.0), lang("l2", 2.0), lang("l9", 3.0)],
        )
        .unwrap();
        assert_eq!((w.upsert.len(), w.remove.len(), w.requests()), (0, 1, 1));
        // Add mode never removes.
        assert_eq!(
            languages_write(
                &want,
                SkillsMode::Add,
                &[lang("l1", 5.0), lang("l2", 2.0), lang("l9", 3.0)]
            ),
            None
        );
    }

    #[test]
    fn replacing_skills_picks_put_or_patch_plus_deletes_by_request_count() {
        let many: BTreeMap<String, Proficiency> = (0..60)
            .map(|i| (format!("s{i:02}"), prof(&format!("S{i}"), 3.0)))
            .collect();
        let target = TargetSkills {
            mode: SkillsMode::Replace,
            skills: many.clone(),
        };
        // 60 wanted, all held, one extra: PUT would take 2 calls, one DELETE takes 1.
        let mut current: Vec<UserRoutingSkill> = many.keys().map(|id| skill(id, 3.0)).collect();
        current.push(skill("x", 1.0));
        let (w, _) = skills_write(&target, &current).unwrap();
        assert_eq!(
            w,
            SkillsWrite::Edit {
                upsert: vec![],
                remove: vec!["x".into()]
            }
        );
        assert_eq!(w.requests(), 1);
        // 2 wanted, 3 to remove: one PUT beats a PATCH and three DELETEs.
        let small = TargetSkills {
            mode: SkillsMode::Replace,
            skills: BTreeMap::from([("a".into(), prof("A", 1.0)), ("b".into(), prof("B", 2.0))]),
        };
        let (w, _) = skills_write(
            &small,
            &[
                skill("a", 5.0),
                skill("c", 1.0),
                skill("d", 1.0),
                skill("e", 1.0),
            ],
        )
        .unwrap();
        assert!(
            matches!(w, SkillsWrite::Replace(ref all) if all.len() == 2),
            "{w:?}"
        );
        assert_eq!(w.requests(), 1);
        // Removing everything: one PUT of nothing.
        let none = TargetSkills {
            mode: SkillsMode::Replace,
            skills: BTreeMap::new(),
        };
        let (w, _) = skills_write(&none, &[skill("a", 5.0), skill("b", 1.0)]).unwrap();
        assert_eq!(w, SkillsWrite::Replace(vec![]));
        assert_eq!(w.requests(), 1);
    }

    #[test]
    fn utilization_overlays_planned_fields_and_keeps_agent_level_others() {
        let current = Utilization {
            utilization: Some(BTreeMap::from([
                (
                    "call".into(),
                    MediaUtilization {
                        maximum_capacity: Some(1),
                        interruptable_media_types: Some(vec!["email".into(), "chat".into()]),
                        include_non_acd: Some(false),
                    },
                ),
                (
                    "chat".into(),
                    MediaUtilization {
                        maximum_capacity: Some(2),
                        ..Default::default()
                    },
                ),
            ])),
            level: Some("Agent".into()),
            ..Default::default()
        };
        let same = BTreeMap::from([(
            "call".into(),
            MediaSetting {
                maximum_capacity: Some(1),
                interruptable_media_types: Some(vec!["chat".into(), "email".into()]),
                include_non_acd: None,
            },
        )]);
        assert_eq!(utilization_write(&same, &current), None);
        let want = BTreeMap::from([(
            "email".into(),
            MediaSetting {
                maximum_capacity: Some(3),
                ..Default::default()
            },
        )]);
        let (body, changes) = utilization_write(&want, &current).unwrap();
        let u = body.utilization.unwrap();
        assert_eq!(u.len(), 3, "agent-level call and chat are kept: {u:?}");
        assert_eq!(u["email"].maximum_capacity, Some(3));
        assert_eq!(changes.len(), 1);

        let org = Utilization {
            level: Some("Organization".into()),
            ..current
        };
        let (body, _) = utilization_write(&want, &org).unwrap();
        assert_eq!(
            body.utilization.unwrap().len(),
            1,
            "org-default types are not pinned"
        );
    }
}
